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

// witnessTimeout bounds the run behind one witness: what the run read by
// then is sent, and the client proves the rest itself.
const witnessTimeout = 250 * time.Millisecond

// witnessBytes bounds a witness's nodes and codes, below the message size.
const witnessBytes = 8 << 20

// witness answers GetWitness: it runs the call over the backend's state,
// recording every account, slot and code the run reads, and proves them.
func (s *Server) witness(ctx context.Context, r *protocol.GetWitness) *protocol.Witness {
	reply := &protocol.Witness{ReqID: r.ReqID}
	if s.cfg.ChainConfig == nil {
		return reply // the server cannot run calls: the client proves what it reads
	}
	header, err := s.cfg.Backend.HeaderByHash(ctx, r.BlockHash)
	if !s.ok(err, "witness", r.BlockHash) {
		return reply
	}
	rec := &recorder{ctx: ctx, backend: s.cfg.Backend, block: r.BlockHash, root: header.Root, accounts: make(map[common.Address]*recAccount)}
	ctx, cancel := context.WithTimeout(ctx, witnessTimeout)
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
	if ls, ok := s.cfg.Backend.(chain.LocalState); ok {
		db = ls.StateDatabase()
		nodes, _ = stateless.NewWitness(&types.Header{ParentHash: header.Hash(), Number: new(big.Int).Add(header.Number, common.Big1)}, chainCtx, false)
	} else {
		rec.db = rawdb.NewMemoryDatabase()
		db = state.NewDatabase(triedb.NewDatabase(rec.db, triedb.HashDefaults), state.NewCodeDB(rec.db))
	}
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
		err = runWitness(ctx, env, r.Method, r.Params)
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
		blob, err := chain.TrieNode(ctx, s.cfg.Backend, r.BlockHash, rec.owner(missing.Owner), missing.Path, missing.NodeHash)
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

// runWitness runs method with its JSON parameters; only what it reads
// matters, not its result.
func runWitness(ctx context.Context, env *evmcall.Env, method string, params []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(params, &raw); err != nil || len(raw) == 0 {
		return fmt.Errorf("parameters: %v", err)
	}
	var (
		args           evmcall.TransactionArgs
		overrides      *evmcall.StateOverride
		blockOverrides *evmcall.BlockOverrides
	)
	decode := func(i int, v any) error {
		if i >= len(raw) {
			return nil
		}
		return json.Unmarshal(raw[i], v)
	}
	if method == "eth_simulateV1" {
		var opts evmcall.SimOpts
		if err := decode(0, &opts); err != nil {
			return err
		}
		if err := evmcall.CheckSimOpts(opts); err != nil {
			return err
		}
		_, err := evmcall.Simulate(ctx, env, opts)
		return err
	}
	if err := errors.Join(decode(0, &args), decode(1, &overrides)); err != nil {
		return err
	}
	switch method {
	case "eth_call":
		if err := decode(2, &blockOverrides); err != nil {
			return err
		}
		_, err := evmcall.Call(ctx, env, args, overrides, blockOverrides)
		return err
	case "eth_estimateGas":
		if err := decode(2, &blockOverrides); err != nil {
			return err
		}
		_, err := evmcall.EstimateGas(ctx, env, args, overrides, blockOverrides)
		return err
	case "eth_createAccessList":
		_, err := evmcall.CreateAccessList(ctx, env, args, overrides)
		return err
	}
	return fmt.Errorf("no witness for %s", method)
}

// recorder is a state.Reader over a server's backend that remembers the
// proof of everything read, in the order it was first read.
type recorder struct {
	ctx     context.Context
	backend chain.Backend
	block   common.Hash
	root    common.Hash
	// db, when set, receives every proof node by hash: the tries of a run
	// over a backend without local state.
	db    ethdb.Database
	extra [][]byte // nodes found beyond the proofs

	mu       sync.Mutex
	order    []common.Address
	accounts map[common.Address]*recAccount
	codes    []common.Hash
	code     map[common.Hash][]byte
	err      error
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
	p, err := r.backend.Proof(r.ctx, r.block, addr, nil)
	if err != nil {
		r.fail(err)
		return nil, err
	}
	acct, err := verify.Account(r.root, addr, p.Account)
	if err != nil {
		r.fail(err)
		return nil, err
	}
	r.addNodes(p.Account)
	ra = &recAccount{account: acct, proof: p.Account, values: make(map[common.Hash]common.Hash), proofs: make(map[common.Hash][][]byte)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.accounts[addr]; old != nil {
		return old, nil
	}
	r.accounts[addr] = ra
	r.order = append(r.order, addr)
	return ra, nil
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
	p, err := r.backend.Proof(r.ctx, r.block, addr, []common.Hash{slot})
	if err != nil {
		r.fail(err)
		return common.Hash{}, err
	}
	v, err = verify.Storage(ra.account.Root, slot, p.Storage[0])
	if err != nil {
		r.fail(err)
		return common.Hash{}, err
	}
	r.addNodes(p.Storage[0])
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := ra.values[slot]; !ok {
		ra.values[slot], ra.proofs[slot] = v, p.Storage[0]
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
	code, err := r.backend.Code(r.ctx, r.block, addr)
	if err != nil {
		r.fail(err)
		return nil
	}
	if crypto.Keccak256Hash(code) != codeHash {
		r.fail(fmt.Errorf("code of %x does not hash to %x", addr, codeHash))
		return nil
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
	seen := make(map[common.Hash]bool)
	size := 0
	addNodes := func(nodes [][]byte) {
		for _, n := range nodes {
			h := crypto.Keccak256Hash(n)
			if !seen[h] {
				seen[h] = true
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
