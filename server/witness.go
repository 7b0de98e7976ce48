package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/consensus"
	"github.com/ethereum/go-ethereum/consensus/beacon"
	"github.com/ethereum/go-ethereum/consensus/ethash"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/stateless"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/triedb"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/evmcall"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
)

// DefaultWitnessTimeout bounds the run behind one witness: what the run
// read by then is sent, and the client proves the rest itself.
const DefaultWitnessTimeout = 250 * time.Millisecond

// witnessBytes bounds a witness's nodes and codes, below the message size.
const witnessBytes = 8 << 20

// witness answers GetWitness: it runs the call over the backend's state,
// recording every account, slot and code the run reads, and proves them.
func (s *Server) witness(ctx context.Context, r *protocol.GetWitness) *protocol.Witness {
	reply := &protocol.Witness{ReqID: r.ReqID}
	if s.cfg.ChainConfig == nil {
		return reply // the server cannot run calls: the client proves what it reads
	}
	// The client's parameters first: a request that cannot run costs the
	// backend nothing.
	call, err := decodeWitnessCall(r.Method, r.Params)
	if err != nil {
		s.cfg.Logger.Debug("Witness request undecodable", "method", r.Method, "err", err)
		return reply
	}
	header, err := s.cfg.Backend.HeaderByHash(ctx, r.BlockHash)
	if !s.ok(err, "witness", r.BlockHash) {
		return reply
	}
	rec := &recorder{ctx: ctx, backend: s.cfg.Backend, block: r.BlockHash, root: header.Root, accounts: make(map[common.Address]*recAccount), verified: s.codes}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WitnessTimeout)
	defer cancel()
	chainCtx := &backendChain{ctx: ctx, backend: s.cfg.Backend, config: s.cfg.ChainConfig}
	// Values come from the recorder. A backend with its state at hand also
	// lends its tries, so that the trie nodes a new state root touches
	// (eth_simulateV1's blocks) are recorded too. Without, the tries are
	// what the recorded proofs hold, and a node they lack (the sibling a
	// deletion collapses into its parent) is looked for in the backend,
	// and the run repeated.
	var (
		db    state.Database
		nodes *stateless.Witness
	)
	roots := r.Method == "eth_simulateV1" // only a simulation computes state roots
	if ls, ok := s.cfg.Backend.(chain.LocalState); ok {
		db = ls.StateDatabase()
		if rec.prover, err = ls.Prover(header.Root); err != nil {
			s.cfg.Logger.Debug("Witness state unavailable", "block", r.BlockHash, "err", err)
			return reply
		}
		if roots {
			nodes, _ = stateless.NewWitness(&types.Header{ParentHash: header.Hash(), Number: new(big.Int).Add(header.Number, common.Big1)}, chainCtx, false)
		}
	} else {
		mem := rawdb.NewMemoryDatabase()
		if roots {
			rec.db = mem
		}
		db = state.NewDatabase(triedb.NewDatabase(mem, triedb.HashDefaults), state.NewCodeDB(mem))
		if pf, ok := s.cfg.Backend.(chain.Prefetcher); ok && call.prefetchable() {
			// Half the witness's time at most: a node slow to list or
			// prove leaves the run the rest, to read one by one.
			pctx, pcancel := context.WithTimeout(ctx, s.cfg.WitnessTimeout/2)
			rec.prefetch(pctx, pf, call, header.Coinbase)
			pcancel()
		}
	}
	// The search for the nodes a state root needs, and the runs repeated
	// with them, get as long again as the first run: over a backend in
	// another process the first run can spend all of its time reading.
	searchCtx, endSearch := context.WithCancel(rec.ctx)
	defer endSearch()
	runCtx := ctx
	for range maxNodeSearches + 1 {
		statedb, err := state.NewWithReader(header.Root, db, rec)
		if err != nil {
			return reply
		}
		if nodes != nil {
			statedb.StartPrefetcher("witness", nodes)
		}
		env := &evmcall.Env{
			Config: s.cfg.ChainConfig,
			Chain:  chainCtx,
			Header: header,
			State:  statedb,
			Failed: rec.failed,
		}
		err = call.run(runCtx, env)
		if nodes != nil {
			statedb.StopPrefetcher()
		}
		missing := missingNode(err)
		if err != nil {
			s.cfg.Logger.Debug("Witness run failed", "method", r.Method, "err", err)
		}
		if missing == nil || rec.db == nil {
			break
		}
		if runCtx != searchCtx {
			runCtx = searchCtx
			stop := time.AfterFunc(s.cfg.WitnessTimeout, endSearch)
			defer stop.Stop()
		}
		blob, err := chain.TrieNode(runCtx, s.cfg.Backend, r.BlockHash, rec.owner(missing.Owner), missing.Path, missing.NodeHash)
		if err != nil {
			s.cfg.Logger.Debug("Witness trie node unavailable", "owner", missing.Owner, "path", missing.Path, "err", err)
			break
		}
		rec.addNodes([][]byte{blob})
		rec.extra = append(rec.extra, blob)
	}
	rec.fill(reply, nodes)
	return reply
}

// maxNodeSearches bounds how many trie nodes one witness looks for beyond
// the proofs of what its run read.
const maxNodeSearches = 16

// missingNode returns the trie node whose absence failed a run, if that is
// what failed it. (go-ethereum wraps some of these errors with %v, so the
// message is read when the type is lost.)
func missingNode(err error) *trie.MissingNodeError {
	if err == nil {
		return nil
	}
	var m *trie.MissingNodeError
	if errors.As(err, &m) {
		return m
	}
	match := missingNodeRE.FindStringSubmatch(err.Error())
	if match == nil {
		return nil
	}
	m = &trie.MissingNodeError{NodeHash: common.HexToHash(match[1]), Owner: common.HexToHash(match[2])}
	m.Path, _ = hex.DecodeString(match[3])
	return m
}

var missingNodeRE = regexp.MustCompile(`missing trie node ([0-9a-f]{64}) \(owner ([0-9a-f]{64})\) \(path ([0-9a-f]*)\)`)

// witnessCall is a witness request's call, decoded: what the server runs.
type witnessCall struct {
	method         string
	call           json.RawMessage // the call object, as sent
	args           evmcall.TransactionArgs
	overrides      *evmcall.StateOverride
	blockOverrides *evmcall.BlockOverrides
	sim            evmcall.SimOpts
}

// decodeWitnessCall decodes the JSON parameters of a witness request
// (those of method, without the block), which a client sent.
func decodeWitnessCall(method string, params []byte) (*witnessCall, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(params, &raw); err != nil {
		return nil, fmt.Errorf("parameters: %w", err)
	}
	if len(raw) == 0 {
		return nil, errors.New("no parameters")
	}
	decode := func(i int, v any) error {
		if i >= len(raw) {
			return nil
		}
		return json.Unmarshal(raw[i], v)
	}
	w := &witnessCall{method: method, call: raw[0]}
	var err error
	switch method {
	case "eth_simulateV1":
		if err = decode(0, &w.sim); err == nil {
			err = evmcall.CheckSimOpts(w.sim)
		}
	case "eth_call", "eth_estimateGas":
		err = errors.Join(decode(0, &w.args), decode(1, &w.overrides), decode(2, &w.blockOverrides))
	case "eth_createAccessList":
		err = errors.Join(decode(0, &w.args), decode(1, &w.overrides))
	default:
		err = fmt.Errorf("no witness for %s", method)
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// prefetchable reports whether the node runs the call as the witness
// does, so that its access list names what the run will read: a single
// call without overrides.
func (w *witnessCall) prefetchable() bool {
	switch w.method {
	case "eth_call", "eth_estimateGas", "eth_createAccessList":
		return w.overrides == nil && w.blockOverrides == nil
	}
	return false
}

// run runs the call; only what it reads matters, not its result.
func (w *witnessCall) run(ctx context.Context, env *evmcall.Env) error {
	var err error
	switch w.method {
	case "eth_simulateV1":
		_, err = evmcall.Simulate(ctx, env, w.sim)
	case "eth_call":
		_, err = evmcall.Call(ctx, env, w.args, w.overrides, w.blockOverrides)
	case "eth_estimateGas":
		_, err = evmcall.EstimateGas(ctx, env, w.args, w.overrides, w.blockOverrides)
	case "eth_createAccessList":
		_, err = evmcall.CreateAccessList(ctx, env, w.args, w.overrides)
	}
	return err
}

// recorder is a state.Reader over a server's backend that remembers the
// proof of everything read, in the order it was first read.
type recorder struct {
	ctx     context.Context
	backend chain.Backend
	block   common.Hash
	root    common.Hash
	// prover, when set, proves from tries the backend holds in process.
	prover   chain.Prover
	proverMu sync.Mutex
	// db, when set, receives every proof node by hash: the tries of a run
	// over a backend without local state.
	db    ethdb.Database
	extra [][]byte // nodes found beyond the proofs
	// pre holds the proofs fetched before the run (over a Prefetcher),
	// checked when the run reads them; set before the run, read only.
	pre map[common.Address]*prefetched

	mu       sync.Mutex
	order    []common.Address
	accounts map[common.Address]*recAccount
	codes    []common.Hash
	code     map[common.Hash][]byte
	err      error

	// verified holds codes read and checked against their hash by earlier
	// runs, shared by the server's runs: a code never changes under its
	// hash, and over an external node each read costs round trips.
	verified *lru.SizeConstrainedCache[common.Hash, []byte]
}

type recAccount struct {
	account *types.StateAccount
	proof   [][]byte
	slots   []common.Hash
	values  map[common.Hash]common.Hash
	proofs  map[common.Hash][][]byte
}

var _ state.Reader = (*recorder)(nil)

func (r *recorder) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

// load returns the recorded account at addr, proving it first if needed.
func (r *recorder) load(addr common.Address) (*recAccount, error) {
	r.mu.Lock()
	ra := r.accounts[addr]
	r.mu.Unlock()
	if ra != nil {
		return ra, nil
	}
	acct, proof, err := r.proveAccount(addr)
	if err != nil {
		r.fail(err)
		return nil, err
	}
	r.addNodes(proof)
	ra = &recAccount{account: acct, proof: proof, values: make(map[common.Hash]common.Hash), proofs: make(map[common.Hash][][]byte)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.accounts[addr]; old != nil {
		return old, nil
	}
	r.accounts[addr] = ra
	r.order = append(r.order, addr)
	return ra, nil
}

// prefetched is the proof of an account and of some of its slots, fetched
// before a run.
type prefetched struct {
	proof *chain.Proof
	slots map[common.Hash]int // index in proof.Storage
}

// Bounds on what a run proves ahead: the rest is read as the run asks.
const (
	maxPrefetchAccounts = 256
	maxPrefetchSlots    = 2048
)

// prefetch proves ahead, in two exchanges with the node, what the call
// will read: the accounts and slots of its access list, its sender, its
// callee and the block's coinbase (paid the fee). Whatever else the run
// reads, or what failed here, it reads one by one as before; what is here
// is checked when read, as a read's proof is.
func (r *recorder) prefetch(ctx context.Context, pf chain.Prefetcher, call *witnessCall, coinbase common.Address) {
	list, err := pf.AccessList(ctx, r.block, call.call)
	if err != nil {
		return
	}
	var from common.Address // the node's default sender
	if call.args.From != nil {
		from = *call.args.From
	}
	list = append(list, types.AccessTuple{Address: from}, types.AccessTuple{Address: coinbase})
	if call.args.To != nil {
		list = append(list, types.AccessTuple{Address: *call.args.To})
	}
	var (
		seen  = make(map[common.Address]bool)
		slots int
		ask   types.AccessList
	)
	for _, t := range list {
		if seen[t.Address] || len(ask) == maxPrefetchAccounts || slots+len(t.StorageKeys) > maxPrefetchSlots {
			continue
		}
		seen[t.Address] = true
		slots += len(t.StorageKeys)
		ask = append(ask, t)
	}
	proofs := pf.Proofs(ctx, r.block, ask)
	r.pre = make(map[common.Address]*prefetched, len(ask))
	for i, t := range ask {
		if proofs[i] == nil {
			continue
		}
		p := &prefetched{proof: proofs[i], slots: make(map[common.Hash]int, len(t.StorageKeys))}
		for j, k := range t.StorageKeys {
			p.slots[k] = j
		}
		r.pre[t.Address] = p
	}
}

// proveAccount reads and proves an account, from the backend's tries in
// process (the proof comes when the witness is filled) or through its
// Proof (whose proof it verifies to read the account).
func (r *recorder) proveAccount(addr common.Address) (*types.StateAccount, [][]byte, error) {
	if r.prover != nil {
		r.proverMu.Lock()
		defer r.proverMu.Unlock()
		acct, err := r.prover.Account(addr)
		return acct, nil, err
	}
	p := r.pre[addr].proofOf()
	if p == nil {
		var err error
		if p, err = r.backend.Proof(r.ctx, r.block, addr, nil); err != nil {
			return nil, nil, err
		}
	}
	acct, err := verify.Account(r.root, addr, p.Account)
	return acct, p.Account, err
}

// proofOf is the prefetched proof of the account, nil when not fetched.
func (p *prefetched) proofOf() *chain.Proof {
	if p == nil {
		return nil
	}
	return p.proof
}

// slotProof is the prefetched proof of a slot, nil when not fetched.
func (p *prefetched) slotProof(slot common.Hash) [][]byte {
	if p == nil {
		return nil
	}
	if i, ok := p.slots[slot]; ok {
		return p.proof.Storage[i]
	}
	return nil
}

// proveSlot reads and proves a storage slot of an account with a proven
// storage root.
func (r *recorder) proveSlot(addr common.Address, storageRoot, slot common.Hash) (common.Hash, [][]byte, error) {
	if r.prover != nil {
		r.proverMu.Lock()
		defer r.proverMu.Unlock()
		v, err := r.prover.Storage(addr, storageRoot, slot)
		return v, nil, err
	}
	proof := r.pre[addr].slotProof(slot)
	if proof == nil {
		p, err := r.backend.Proof(r.ctx, r.block, addr, []common.Hash{slot})
		if err != nil {
			return common.Hash{}, nil, err
		}
		proof = p.Storage[0]
	}
	v, err := verify.Storage(storageRoot, slot, proof)
	return v, proof, err
}

// codeCacheBytes bounds the codes a server keeps verified: a few hundred
// contracts of a typical size (the largest deployable is 24 KB).
const codeCacheBytes = 8 << 20

// readCode reads the code of an account, by its hash from the backend's
// database in process or through its Code.
func (r *recorder) readCode(addr common.Address, codeHash common.Hash) ([]byte, error) {
	if r.prover != nil {
		r.proverMu.Lock()
		defer r.proverMu.Unlock()
		return r.prover.Code(codeHash)
	}
	return r.backend.Code(r.ctx, r.block, addr)
}

// addNodes puts verified trie nodes into the run's trie database.
func (r *recorder) addNodes(nodes [][]byte) {
	if r.db == nil {
		return
	}
	for _, n := range nodes {
		r.db.Put(crypto.Keccak256(n), n)
	}
}

// owner returns the account whose storage trie has the given owner hash,
// among those the run read (nil for the account trie).
func (r *recorder) owner(owner common.Hash) *common.Address {
	if owner == (common.Hash{}) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, addr := range r.order {
		if crypto.Keccak256Hash(addr[:]) == owner {
			return &addr
		}
	}
	return nil
}

// Account implements state.Reader.
func (r *recorder) Account(addr common.Address) (*types.StateAccount, error) {
	ra, err := r.load(addr)
	if err != nil || ra.account == nil {
		return nil, err
	}
	return ra.account.Copy(), nil
}

// Storage implements state.Reader.
func (r *recorder) Storage(addr common.Address, slot common.Hash) (common.Hash, error) {
	ra, err := r.load(addr)
	if err != nil {
		return common.Hash{}, err
	}
	if ra.account == nil || ra.account.Root == types.EmptyRootHash {
		return common.Hash{}, nil
	}
	r.mu.Lock()
	v, ok := ra.values[slot]
	r.mu.Unlock()
	if ok {
		return v, nil
	}
	v, proof, err := r.proveSlot(addr, ra.account.Root, slot)
	if err != nil {
		r.fail(err)
		return common.Hash{}, err
	}
	r.addNodes(proof)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := ra.values[slot]; !ok {
		ra.values[slot], ra.proofs[slot] = v, proof
		ra.slots = append(ra.slots, slot)
	}
	return v, nil
}

// Code implements state.Reader.
func (r *recorder) Code(addr common.Address, codeHash common.Hash) []byte {
	if codeHash == types.EmptyCodeHash || codeHash == (common.Hash{}) {
		return nil
	}
	r.mu.Lock()
	code, ok := r.code[codeHash]
	r.mu.Unlock()
	if ok {
		return code
	}
	code, ok = r.verified.Get(codeHash)
	if !ok {
		var err error
		if code, err = r.readCode(addr, codeHash); err != nil {
			r.fail(err)
			return nil
		}
		if crypto.Keccak256Hash(code) != codeHash {
			r.fail(fmt.Errorf("code of %x does not hash to %x", addr, codeHash))
			return nil
		}
		r.verified.Add(codeHash, code)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.code == nil {
		r.code = make(map[common.Hash][]byte)
	}
	if _, ok := r.code[codeHash]; !ok {
		r.code[codeHash] = code
		r.codes = append(r.codes, codeHash)
	}
	return code
}

// Has implements state.Reader.
func (r *recorder) Has(addr common.Address, codeHash common.Hash) bool {
	return len(r.Code(addr, codeHash)) > 0
}

// CodeSize implements state.Reader.
func (r *recorder) CodeSize(addr common.Address, codeHash common.Hash) int {
	return len(r.Code(addr, codeHash))
}

// fill writes what was read into a witness, in the order it was read,
// and then the other trie nodes the run touched (when recorded), until the
// witness's byte budget is spent.
func (r *recorder) fill(w *protocol.Witness, touched *stateless.Witness) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.prover != nil {
		r.proverMu.Lock()
		for _, addr := range r.order {
			ra := r.accounts[addr]
			ra.proof = r.prover.AccountProof(addr)
			for _, slot := range ra.slots {
				ra.proofs[slot] = r.prover.StorageProof(addr, slot)
			}
		}
		r.proverMu.Unlock()
	}
	seen := make(map[string]bool)
	size := 0
	addNodes := func(nodes [][]byte) {
		for _, n := range nodes {
			if !seen[string(n)] {
				seen[string(n)] = true
				w.Nodes = append(w.Nodes, n)
				size += len(n)
			}
		}
	}
	slots := 0
	for _, addr := range r.order {
		if size > witnessBytes || len(w.Accounts) >= protocol.MaxWitnessAccounts {
			break
		}
		ra := r.accounts[addr]
		wa := protocol.WitnessAccount{Address: addr}
		addNodes(ra.proof)
		for _, slot := range ra.slots {
			if size > witnessBytes || slots >= protocol.MaxWitnessSlots {
				break
			}
			addNodes(ra.proofs[slot])
			wa.Slots = append(wa.Slots, slot)
			slots++
		}
		w.Accounts = append(w.Accounts, wa)
	}
	addNodes(r.extra)
	for _, h := range r.codes {
		code := r.code[h]
		if size+len(code) > witnessBytes || len(w.Codes) >= protocol.MaxWitnessCodes {
			break
		}
		w.Codes = append(w.Codes, code)
		size += len(code)
	}
	if touched == nil {
		return
	}
	for n := range touched.State {
		if size > witnessBytes || len(w.Nodes) >= protocol.MaxWitnessNodes {
			break
		}
		addNodes([][]byte{[]byte(n)})
	}
}

// backendChain gives the EVM a server backend's headers, for BLOCKHASH.
type backendChain struct {
	ctx     context.Context
	backend chain.Backend
	config  *params.ChainConfig
	engine  consensus.Engine
	once    sync.Once
}

func (bc *backendChain) Config() *params.ChainConfig { return bc.config }

func (bc *backendChain) Engine() consensus.Engine {
	bc.once.Do(func() { bc.engine = beacon.New(ethash.NewFaker()) })
	return bc.engine
}

func (bc *backendChain) CurrentHeader() *types.Header {
	h, _ := bc.backend.CurrentHeader(bc.ctx)
	return h
}

func (bc *backendChain) GetHeader(hash common.Hash, number uint64) *types.Header {
	h, err := bc.backend.HeaderByNumber(bc.ctx, number)
	if err != nil || h.Hash() != hash {
		return nil
	}
	return h
}

func (bc *backendChain) GetHeaderByNumber(number uint64) *types.Header {
	h, _ := bc.backend.HeaderByNumber(bc.ctx, number)
	return h
}

func (bc *backendChain) GetHeaderByHash(hash common.Hash) *types.Header {
	h, _ := bc.backend.HeaderByHash(bc.ctx, hash)
	return h
}
