package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus"
	"github.com/ethereum/go-ethereum/consensus/beacon"
	"github.com/ethereum/go-ethereum/consensus/ethash"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/triedb"
)

// ErrStateMissing says that a run over the client's cached state read
// state the client does not hold; the run is discarded, and run again
// once a witness or proofs have brought it.
var ErrStateMissing = errors.New("state not held locally")

// ProvenState is the state of one block for the EVM: a state.Reader that
// answers from verified state, fetching and verifying what it lacks on
// demand (or, offline, failing the run with ErrStateMissing).
//
// The EVM's reader interface cannot return errors for code, so a failure
// is remembered: callers must check Err after execution and discard the
// result if it is set.
type ProvenState struct {
	ctx     context.Context
	c       *Client
	header  *types.Header
	block   common.Hash // the header's hash
	offline bool

	mu      sync.Mutex
	err     error
	fetches atomic.Int64 // proofs and code fetched from servers
}

var _ state.Reader = (*ProvenState)(nil)

// ProvenState returns the verified state of the block with the given header
// and a StateDB over it for running the EVM. State the client lacks is
// fetched as the EVM reads it.
func (c *Client) ProvenState(ctx context.Context, header *types.Header) (*ProvenState, *state.StateDB, error) {
	return c.provenState(ctx, header, false)
}

// CachedState is ProvenState without fetching: the first read of state the
// client does not hold fails the run with ErrStateMissing.
func (c *Client) CachedState(ctx context.Context, header *types.Header) (*ProvenState, *state.StateDB, error) {
	return c.provenState(ctx, header, true)
}

// HoldsState reports whether the client holds any verified state of the
// block with the given hash: a run over what it holds cannot succeed
// otherwise.
func (c *Client) HoldsState(block common.Hash) bool { return c.state.holds(block) }

func (c *Client) provenState(ctx context.Context, header *types.Header, offline bool) (*ProvenState, *state.StateDB, error) {
	ps := &ProvenState{ctx: ctx, c: c, header: header, block: header.Hash(), offline: offline}
	sdb, err := state.NewWithReader(header.Root, c.stateDatabase(), ps)
	if err != nil {
		return nil, nil, err
	}
	return ps, sdb, nil
}

// stateDatabase is the state database every run of the client shares:
// values come from a run's reader; trie nodes, which only computing a new
// state root needs (eth_simulateV1), from verified proofs.
func (c *Client) stateDatabase() state.Database {
	c.stateDBOnce.Do(func() {
		nodes := rawdb.NewDatabase(&nodeStore{KeyValueStore: memorydb.New(), cache: c.state})
		c.stateDB = state.NewDatabase(triedb.NewDatabase(nodes, triedb.HashDefaults), state.NewCodeDB(nodes))
	})
	return c.stateDB
}

// nodeStore is a key-value store whose 32-byte keys are trie nodes by
// hash, read from the verified proofs the client keeps: a hash-scheme trie
// database over them opens the state of a block as far as proofs reach.
type nodeStore struct {
	ethdb.KeyValueStore
	cache *stateCache
}

func (s *nodeStore) Get(key []byte) ([]byte, error) {
	if len(key) == common.HashLength {
		if n, ok := s.cache.node(common.BytesToHash(key)); ok {
			return n, nil
		}
	}
	return s.KeyValueStore.Get(key)
}

func (s *nodeStore) Has(key []byte) (bool, error) {
	if len(key) == common.HashLength {
		if _, ok := s.cache.node(common.BytesToHash(key)); ok {
			return true, nil
		}
	}
	return s.KeyValueStore.Has(key)
}

// Err is the first fetch or verification failure, if any.
func (s *ProvenState) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Fetches is how many proofs and codes were fetched from servers (cache
// misses) so far.
func (s *ProvenState) Fetches() int64 { return s.fetches.Load() }

func (s *ProvenState) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// account returns the verified account at addr (nil when absent).
func (s *ProvenState) account(addr common.Address) (*types.StateAccount, error) {
	if acct, ok := s.c.state.account(s.block, addr); ok {
		return acct.account, nil
	}
	if s.offline {
		s.fail(ErrStateMissing)
		return nil, ErrStateMissing
	}
	before := s.c.proofFetches.Load()
	st, err := s.c.StateValues(s.ctx, s.header, addr, nil)
	s.fetches.Add(s.c.proofFetches.Load() - before)
	if err != nil {
		s.fail(err)
		return nil, err
	}
	return st.Account, nil
}

// Account implements state.Reader.
func (s *ProvenState) Account(addr common.Address) (*types.StateAccount, error) {
	acct, err := s.account(addr)
	if err != nil || acct == nil {
		return nil, err
	}
	return acct.Copy(), nil
}

// Storage implements state.Reader. The slots of an account without storage
// are zero without asking.
func (s *ProvenState) Storage(addr common.Address, slot common.Hash) (common.Hash, error) {
	if v, ok := s.c.state.slot(s.block, addr, slot); ok {
		return v.value, nil
	}
	acct, err := s.account(addr)
	if err != nil {
		return common.Hash{}, err
	}
	if acct == nil || acct.Root == types.EmptyRootHash {
		return common.Hash{}, nil
	}
	if s.offline {
		s.fail(ErrStateMissing)
		return common.Hash{}, ErrStateMissing
	}
	before := s.c.proofFetches.Load()
	st, err := s.c.StateValues(s.ctx, s.header, addr, []common.Hash{slot})
	s.fetches.Add(s.c.proofFetches.Load() - before)
	if err != nil {
		s.fail(err)
		return common.Hash{}, err
	}
	return st.Values[0], nil
}

// Code implements state.Reader.
func (s *ProvenState) Code(addr common.Address, codeHash common.Hash) []byte {
	if codeHash == types.EmptyCodeHash || codeHash == (common.Hash{}) {
		return nil
	}
	if code, ok := s.c.state.code(codeHash); ok {
		return code
	}
	if s.offline {
		s.fail(ErrStateMissing)
		return nil
	}
	before := s.c.proofFetches.Load()
	code, err := s.c.Code(s.ctx, s.header, addr)
	s.fetches.Add(s.c.proofFetches.Load() - before)
	if err != nil {
		s.fail(err)
		return nil
	}
	return code
}

// Has implements state.Reader.
func (s *ProvenState) Has(addr common.Address, codeHash common.Hash) bool {
	return len(s.Code(addr, codeHash)) > 0
}

// CodeSize implements state.Reader.
func (s *ProvenState) CodeSize(addr common.Address, codeHash common.Hash) int {
	return len(s.Code(addr, codeHash))
}

// ChainContext gives the EVM verified headers for BLOCKHASH and the
// consensus engine's view of block authors. Lookups that fail return nil,
// which the EVM treats as an unknown block hash; callers check Err of the
// ProvenState they run with.
type ChainContext struct {
	ctx    context.Context
	c      *Client
	engine consensus.Engine
}

// ChainContext returns a chain context for executing at blocks of the
// accepted chain.
func (c *Client) ChainContext(ctx context.Context) *ChainContext {
	return &ChainContext{ctx: ctx, c: c, engine: beacon.New(ethash.NewFaker())}
}

// Config implements consensus.ChainHeaderReader.
func (cc *ChainContext) Config() *params.ChainConfig { return cc.c.cfg.ChainConfig }

// CurrentHeader implements consensus.ChainHeaderReader.
func (cc *ChainContext) CurrentHeader() *types.Header { return cc.c.Head() }

// GetHeader implements consensus.ChainHeaderReader.
func (cc *ChainContext) GetHeader(hash common.Hash, number uint64) *types.Header {
	h, err := cc.c.HeaderByHash(cc.ctx, hash)
	if err != nil || h.Number.Uint64() != number {
		return nil
	}
	return h
}

// GetHeaderByNumber implements consensus.ChainHeaderReader.
func (cc *ChainContext) GetHeaderByNumber(number uint64) *types.Header {
	h, err := cc.c.HeaderByNumber(cc.ctx, number)
	if err != nil {
		return nil
	}
	return h
}

// GetHeaderByHash implements consensus.ChainHeaderReader.
func (cc *ChainContext) GetHeaderByHash(hash common.Hash) *types.Header {
	h, err := cc.c.HeaderByHash(cc.ctx, hash)
	if err != nil {
		return nil
	}
	return h
}

// Engine implements core.ChainContext.
func (cc *ChainContext) Engine() consensus.Engine { return cc.engine }
