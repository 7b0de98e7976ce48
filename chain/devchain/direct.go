package devchain

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/triedb"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/protocol"
)

// Direct is a chain.Backend reading an in-process node's blockchain and
// state directly, without JSON-RPC in between: the server and the node
// share a process, and the node is the server's own full node. (A server in
// front of an external node uses chain.RPC, which checks every answer.)
type Direct struct {
	eth     *eth.Ethereum
	client  *rpc.Client // the node's JSON-RPC, in-process
	genesis common.Hash
}

var (
	_ chain.Backend    = (*Direct)(nil)
	_ chain.LocalState = (*Direct)(nil)
)

// StateDatabase implements chain.LocalState: the node's own state.
func (d *Direct) StateDatabase() state.Database {
	bc := d.eth.BlockChain()
	return state.NewMPTDatabase(bc.TrieDB(), bc.CodeDB())
}

// DirectBackend returns a backend that reads the chain in-process.
func (c *Chain) DirectBackend() *Direct { return NewDirect(c.eth, c.client) }

// NewDirect returns a backend reading node e, whose JSON-RPC client is
// attached in-process.
func NewDirect(e *eth.Ethereum, client *rpc.Client) *Direct {
	return &Direct{eth: e, client: client, genesis: e.BlockChain().Genesis().Hash()}
}

// ChainID implements chain.Backend.
func (d *Direct) ChainID() uint64 { return d.eth.BlockChain().Config().ChainID.Uint64() }

// Genesis implements chain.Backend.
func (d *Direct) Genesis() common.Hash { return d.genesis }

// CurrentHeader implements chain.Backend.
func (d *Direct) CurrentHeader(context.Context) (*types.Header, error) {
	return d.eth.BlockChain().CurrentHeader(), nil
}

// Finality implements chain.Backend: the simulated beacon's safe block is
// the head, its finalized block the last epoch boundary.
func (d *Direct) Finality(context.Context) (safe, finalized *types.Header, err error) {
	bc := d.eth.BlockChain()
	return bc.CurrentSafeBlock(), bc.CurrentFinalBlock(), nil
}

// Retention implements chain.Backend with what the node's own
// eth_capabilities says.
func (d *Direct) Retention(ctx context.Context) (protocol.Retention, error) {
	var caps chain.Capabilities
	if err := d.client.CallContext(ctx, &caps, "eth_capabilities"); err != nil {
		return protocol.Retention{}, err
	}
	return caps.Retention(), nil
}

// HeaderByNumber implements chain.Backend.
func (d *Direct) HeaderByNumber(_ context.Context, n uint64) (*types.Header, error) {
	if h := d.eth.BlockChain().GetHeaderByNumber(n); h != nil {
		return h, nil
	}
	return nil, chain.ErrNotFound
}

// HeaderByHash implements chain.Backend.
func (d *Direct) HeaderByHash(_ context.Context, hash common.Hash) (*types.Header, error) {
	if h := d.eth.BlockChain().GetHeaderByHash(hash); h != nil {
		return h, nil
	}
	return nil, chain.ErrNotFound
}

// Body implements chain.Backend.
func (d *Direct) Body(_ context.Context, hash common.Hash) (*types.Body, error) {
	if b := d.eth.BlockChain().GetBody(hash); b != nil {
		return b, nil
	}
	return nil, chain.ErrNotFound
}

// Receipts implements chain.Backend.
func (d *Direct) Receipts(ctx context.Context, hash common.Hash) (types.Receipts, error) {
	h, err := d.HeaderByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	rs := d.eth.BlockChain().GetReceiptsByHash(hash)
	if rs == nil && h.ReceiptHash != types.EmptyReceiptsHash {
		return nil, chain.ErrNotFound
	}
	if rs == nil {
		rs = types.Receipts{}
	}
	return rs, nil
}

// Proof implements chain.Backend. It reads the account and slots once,
// and their proofs are the nodes those reads resolved (Prover): no node is
// walked or hashed a second time.
func (d *Direct) Proof(ctx context.Context, blockHash common.Hash, addr common.Address, slots []common.Hash) (*chain.Proof, error) {
	h, err := d.HeaderByHash(ctx, blockHash)
	if err != nil {
		return nil, err
	}
	pr, err := d.Prover(h.Root)
	if err != nil {
		return nil, fmt.Errorf("%w: state of block %d: %v", chain.ErrNotFound, h.Number, err)
	}
	acct, err := pr.Account(addr)
	if err != nil {
		return nil, err
	}
	p := &chain.Proof{Account: pr.AccountProof(addr), Storage: make([][][]byte, len(slots))}
	storageRoot := types.EmptyRootHash
	if acct != nil {
		storageRoot = acct.Root
	}
	for i, slot := range slots {
		if _, err := pr.Storage(addr, storageRoot, slot); err != nil {
			return nil, err
		}
		p.Storage[i] = pr.StorageProof(addr, slot)
	}
	return p, nil
}

// Prover implements chain.LocalState: one trie per state, opened once,
// whose nodes read are the proofs (no node is hashed again).
func (d *Direct) Prover(root common.Hash) (chain.Prover, error) {
	db := d.eth.BlockChain().TrieDB()
	tr, err := trie.NewStateTrie(trie.StateTrieID(root), db)
	if err != nil {
		return nil, fmt.Errorf("%w: state %x: %v", chain.ErrNotFound, root, err)
	}
	return &prover{db: db, root: root, accounts: provenTrie{tr: tr}, storage: make(map[common.Address]*provenTrie), code: d.eth.BlockChain().ContractCodeWithPrefix}, nil
}

// prover reads and proves keys of one state of the node's own tries.
type prover struct {
	db       *triedb.Database
	root     common.Hash
	accounts provenTrie
	storage  map[common.Address]*provenTrie
	code     func(common.Hash) []byte
}

// provenTrie is a trie and the nodes its reads resolved, by path.
type provenTrie struct {
	tr    *trie.StateTrie
	nodes map[string][]byte // nil once a read may have added nodes
	depth int               // the longest path in nodes
}

// proof returns the nodes on the path of a key read before.
func (t *provenTrie) proof(key []byte) [][]byte {
	if t.nodes == nil {
		t.nodes, t.depth = t.tr.Witness(), 0
		for path := range t.nodes {
			t.depth = max(t.depth, len(path))
		}
	}
	var (
		path  = keyNibbles(key)
		proof [][]byte
	)
	// No node lies deeper than the deepest read: a path is as long as
	// its key needs to part from the others' (about log16 of the keys,
	// plus one), not 64 nibbles.
	for i := range min(len(path), t.depth+1) {
		if n, ok := t.nodes[string(path[:i])]; ok {
			proof = append(proof, n)
		}
	}
	return proof
}

// keyNibbles splits a hashed key into its path of nibbles.
func keyNibbles(key []byte) []byte {
	path := make([]byte, 2*len(key))
	for i, b := range key {
		path[2*i], path[2*i+1] = b>>4, b&0x0f
	}
	return path
}

func (p *prover) Account(addr common.Address) (*types.StateAccount, error) {
	p.accounts.nodes = nil
	return p.accounts.tr.GetAccount(addr)
}

func (p *prover) Storage(addr common.Address, storageRoot, slot common.Hash) (common.Hash, error) {
	if storageRoot == types.EmptyRootHash {
		return common.Hash{}, nil
	}
	st := p.storage[addr]
	if st == nil {
		tr, err := trie.NewStateTrie(trie.StorageTrieID(p.root, crypto.Keccak256Hash(addr[:]), storageRoot), p.db)
		if err != nil {
			return common.Hash{}, fmt.Errorf("%w: storage of %x: %v", chain.ErrNotFound, addr, err)
		}
		st = &provenTrie{tr: tr}
		p.storage[addr] = st
	}
	st.nodes = nil
	val, err := st.tr.GetStorage(addr, slot[:])
	return common.BytesToHash(val), err
}

func (p *prover) AccountProof(addr common.Address) [][]byte {
	return p.accounts.proof(crypto.Keccak256(addr[:]))
}

func (p *prover) StorageProof(addr common.Address, slot common.Hash) [][]byte {
	st := p.storage[addr]
	if st == nil {
		return [][]byte{} // an empty storage trie
	}
	return st.proof(crypto.Keccak256(slot[:]))
}

func (p *prover) Code(codeHash common.Hash) ([]byte, error) {
	code := p.code(codeHash)
	if code == nil {
		return nil, fmt.Errorf("%w: code %x", chain.ErrNotFound, codeHash)
	}
	return code, nil
}

// Code implements chain.Backend.
func (d *Direct) Code(ctx context.Context, blockHash common.Hash, addr common.Address) ([]byte, error) {
	h, err := d.HeaderByHash(ctx, blockHash)
	if err != nil {
		return nil, err
	}
	tr, err := trie.NewStateTrie(trie.StateTrieID(h.Root), d.eth.BlockChain().TrieDB())
	if err != nil {
		return nil, fmt.Errorf("%w: state of block %d: %v", chain.ErrNotFound, h.Number, err)
	}
	acct, err := tr.GetAccount(addr)
	if err != nil {
		return nil, err
	}
	if acct == nil || common.BytesToHash(acct.CodeHash) == types.EmptyCodeHash {
		return []byte{}, nil
	}
	code := d.eth.BlockChain().ContractCodeWithPrefix(common.BytesToHash(acct.CodeHash))
	if code == nil {
		return nil, fmt.Errorf("%w: code %x", chain.ErrNotFound, acct.CodeHash)
	}
	return code, nil
}

// SendTransaction implements chain.Backend.
func (d *Direct) SendTransaction(_ context.Context, tx *types.Transaction) error {
	return d.eth.TxPool().Add([]*types.Transaction{tx}, false)[0]
}

// TxLookup implements chain.Backend.
func (d *Direct) TxLookup(_ context.Context, hash common.Hash) (*chain.TxLocation, error) {
	if entry, _ := d.eth.BlockChain().GetCanonicalTransaction(hash); entry != nil {
		return &chain.TxLocation{Status: chain.TxIncluded, BlockHash: entry.BlockHash, BlockNumber: entry.BlockIndex, Index: entry.Index}, nil
	}
	if tx := d.eth.TxPool().Get(hash); tx != nil {
		return &chain.TxLocation{Status: chain.TxPending, Tx: tx}, nil
	}
	return &chain.TxLocation{Status: chain.TxUnknown}, nil
}

// SubscribeHeads implements chain.Backend.
func (d *Direct) SubscribeHeads(ctx context.Context, ch chan<- *types.Header) (func(), error) {
	events := make(chan core.ChainHeadEvent, 16)
	sub := d.eth.BlockChain().SubscribeChainHeadEvent(events)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sub.Unsubscribe()
		for {
			select {
			case ev := <-events:
				select {
				case ch <- ev.Header:
				case <-ctx.Done():
					return
				}
			case <-sub.Err():
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}
