package client

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus"
	"github.com/ethereum/go-ethereum/consensus/beacon"
	"github.com/ethereum/go-ethereum/consensus/ethash"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/triedb"
)

// ProvenState is the state of one block for the EVM: a state.Reader that
// fetches accounts, storage slots and code on demand from servers and
// verifies each against the block's state root before the EVM sees it.
//
// The EVM's reader interface cannot return errors for code, so a failed
// fetch is remembered: callers must check Err after execution and discard
// the result if it is set.
type ProvenState struct {
	ctx    context.Context
	c      *Client
	header *types.Header

	mu      sync.Mutex
	err     error
	fetches atomic.Int64 // proofs and code fetched from servers
}

var _ state.Reader = (*ProvenState)(nil)

// ProvenState returns the verified state of the block with the given header
// and a StateDB over it for running the EVM.
func (c *Client) ProvenState(ctx context.Context, header *types.Header) (*ProvenState, *state.StateDB, error) {
	ps := &ProvenState{ctx: ctx, c: c, header: header}
	mem := rawdb.NewMemoryDatabase()
	db := state.NewDatabase(triedb.NewDatabase(mem, triedb.HashDefaults), state.NewCodeDB(mem))
	sdb, err := state.NewWithReader(header.Root, db, ps)
	if err != nil {
		return nil, nil, err
	}
	return ps, sdb, nil
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

func (s *ProvenState) state(addr common.Address, slots []common.Hash) (*AccountState, error) {
	before := s.c.proofFetches.Load()
	st, err := s.c.State(s.ctx, s.header, addr, slots)
	s.fetches.Add(s.c.proofFetches.Load() - before)
	if err != nil {
		s.fail(err)
	}
	return st, err
}

// Account implements state.Reader.
func (s *ProvenState) Account(addr common.Address) (*types.StateAccount, error) {
	st, err := s.state(addr, nil)
	if err != nil || st.Account == nil {
		return nil, err
	}
	return st.Account.Copy(), nil
}

// Storage implements state.Reader.
func (s *ProvenState) Storage(addr common.Address, slot common.Hash) (common.Hash, error) {
	st, err := s.state(addr, []common.Hash{slot})
	if err != nil {
		return common.Hash{}, err
	}
	return st.Values[0], nil
}

// Code implements state.Reader.
func (s *ProvenState) Code(addr common.Address, codeHash common.Hash) []byte {
	if codeHash == types.EmptyCodeHash || codeHash == (common.Hash{}) {
		return nil
	}
	if code, ok := s.c.codes.Get(codeHash); ok {
		return code
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
