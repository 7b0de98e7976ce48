package client

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus/misc/eip4844"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
)

// HeaderByNumber returns the canonical header at number of the accepted
// chain, fetching and linking older headers as needed.
func (c *Client) HeaderByNumber(ctx context.Context, number uint64) (*types.Header, error) {
	for {
		c.mu.Lock()
		head := c.chain.head()
		if head == nil {
			c.mu.Unlock()
			return nil, ErrNotFound
		}
		if number > head.Number.Uint64() {
			c.mu.Unlock()
			return nil, ErrNotFound
		}
		hash, ok := c.chain.canon[number]
		var lowest *types.Header
		if !ok {
			lowest = c.chain.lowest()
		}
		c.mu.Unlock()
		if ok {
			return c.HeaderByHash(ctx, hash)
		}
		if lowest == nil {
			return nil, ErrNotFound
		}
		if hash, ok := c.hist.known(number); ok {
			// Remembered from before a restart: one request by hash.
			if h, err := c.HeaderByHash(ctx, hash); err == nil {
				return h, nil
			}
		}
		if lowest.Number.Uint64()-number > protocol.MaxHeaders {
			// More than one request of headers away: a signed history
			// section proves it with one request; failing that, the head's
			// state may hold the block's hash (EIP-2935), one request too.
			// When neither can (state or sections not served yet, say),
			// headers are linked back.
			for _, way := range []struct {
				name  string
				prove func() (*types.Header, error)
			}{
				{"history sections", func() (*types.Header, error) { return c.headerFromSections(ctx, number) }},
				{"history contract", func() (*types.Header, error) { return c.headerFromHistory(ctx, head, number) }},
			} {
				h, err := way.prove()
				switch {
				case h != nil:
					return h, nil
				case ctx.Err() != nil:
					return nil, ctx.Err()
				case err != nil:
					c.cfg.Logger.Debug("Header not proven", "from", way.name, "number", number, "err", err)
				}
			}
		}
		if err := c.extendBack(ctx, lowest, number); err != nil {
			return nil, err
		}
	}
}

// historyWindow is how many recent block hashes the EIP-2935 contract
// keeps (its ring buffer's size).
const historyWindow = 8191

// headerFromHistory returns the canonical header at number, verified with
// one storage proof at the verified head: since Prague the EIP-2935
// contract keeps the hashes of the last 8,191 blocks in state, so a header
// whose hash the head's state holds at number's slot is canonical. It
// returns no header when the head's state cannot say (before Prague, out
// of the window, a slot not written yet) or the servers did not prove it;
// the caller then links headers back.
func (c *Client) headerFromHistory(ctx context.Context, head *types.Header, number uint64) (*types.Header, error) {
	n := head.Number.Uint64()
	if number >= n || n-number > historyWindow || !c.cfg.ChainConfig.IsPrague(head.Number, head.Time) {
		return nil, nil
	}
	slot := common.BigToHash(new(big.Int).SetUint64(number % historyWindow))
	var header *types.Header
	err := c.do(ctx, func(ctx context.Context, p *peer) error {
		id := reqIDs.Add(1)
		req := &protocol.GetRecentHeaders{ReqID: id, Head: head.Hash(), Numbers: []uint64{number}}
		reply, err := p.request(ctx, protocol.GetRecentHeadersMsg, protocol.RecentHeadersMsg, id, req)
		if err != nil {
			return err
		}
		rh := reply.(*protocol.RecentHeaders)
		if len(rh.Headers) == 0 {
			return ErrNotFound
		}
		acct, err := verify.Account(head.Root, params.HistoryStorageAddress, rh.Proof.Account)
		if err != nil {
			return err
		}
		if acct == nil {
			return ErrNotFound // no history contract at the head: nothing to prove
		}
		if len(rh.Proof.Storage) == 0 {
			return fmt.Errorf("%w: recent header without its storage proof", verify.ErrStorageProof)
		}
		hash, err := verify.Storage(acct.Root, slot, rh.Proof.Storage[0])
		if err != nil {
			return err
		}
		if hash == (common.Hash{}) {
			return ErrNotFound // the slot is not written yet
		}
		if got := rh.Headers[0]; got.Hash() != hash {
			return fmt.Errorf("%w: header %d is %x, the head's history holds %x", verify.ErrHeaderHash, number, got.Hash(), hash)
		}
		header = rh.Headers[0]
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.chain.add(header)
	c.mu.Unlock()
	return header, nil
}

// linkBackLimit is how far below the head LinkBack links: beyond the
// blocks newer than the signed history sections (about 4,200), a log
// range of the default limit.
const linkBackLimit = 16_384

// LinkBack links the canonical chain from the head down to number, when
// number is at most linkBackLimit below the head, so that reading a range
// of recent blocks costs a request per 192 headers, not per block. The
// headers are asked for by number, up to linkFetchers requests at once,
// and linked by their parent hashes down from the lowest linked header; a
// gap (a server answered with another chain's headers) is linked again
// by walking back. Farther ranges are left to HeaderByNumber.
func (c *Client) LinkBack(ctx context.Context, number uint64) error {
	c.mu.Lock()
	head := c.chain.head()
	var lowest *types.Header
	if head != nil {
		lowest = c.chain.lowest()
	}
	c.mu.Unlock()
	if head == nil || lowest == nil || lowest.Number.Uint64() <= number || head.Number.Uint64()-number > linkBackLimit {
		return nil
	}
	top := lowest.Number.Uint64() // exclusive
	chunks := make([][]*types.Header, (top-number+protocol.MaxHeaders-1)/protocol.MaxHeaders)
	sem := make(chan struct{}, linkFetchers)
	var wg sync.WaitGroup
	for i := range chunks {
		start := number + uint64(i)*protocol.MaxHeaders
		amount := min(protocol.MaxHeaders, top-start)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.do(ctx, func(ctx context.Context, p *peer) error {
				hs, err := c.fetchHeaders(ctx, p, protocol.ByNumber(start), amount, 0, false)
				if err == nil {
					chunks[i] = hs
				}
				return err
			})
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	// Link down from lowest while the parent hashes agree.
	byNumber := make(map[uint64]*types.Header, top-number)
	for _, hs := range chunks {
		for _, h := range hs {
			byNumber[h.Number.Uint64()] = h
		}
	}
	c.mu.Lock()
	if c.chain.canon[lowest.Number.Uint64()] == lowest.Hash() {
		child := lowest
		for n := top; n > number; n-- {
			h := byNumber[n-1]
			if h == nil || h.Hash() != child.ParentHash {
				break
			}
			c.chain.link(h)
			child = h
		}
	}
	c.mu.Unlock()
	// Whatever did not link is walked, a request per 192 headers.
	for {
		c.mu.Lock()
		lowest = c.chain.lowest()
		c.mu.Unlock()
		if lowest == nil || lowest.Number.Uint64() <= number {
			return nil
		}
		if err := c.extendBack(ctx, lowest, number); err != nil {
			return err
		}
	}
}

// linkFetchers is how many header requests LinkBack has in flight.
const linkFetchers = 8

// extendBack links canonical headers below lowest down towards number.
func (c *Client) extendBack(ctx context.Context, lowest *types.Header, number uint64) error {
	amount := min(lowest.Number.Uint64()-number, protocol.MaxHeaders)
	var headers []*types.Header
	err := c.do(ctx, func(ctx context.Context, p *peer) error {
		var err error
		headers, err = c.fetchAncestors(ctx, p, lowest, amount)
		return err
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.chain.canon[lowest.Number.Uint64()] != lowest.Hash() {
		return nil // the chain moved meanwhile; the caller retries
	}
	for _, h := range headers {
		c.chain.link(h)
	}
	return nil
}

// HeaderByHash returns the verified header with the given hash. It need not
// be canonical.
func (c *Client) HeaderByHash(ctx context.Context, hash common.Hash) (*types.Header, error) {
	c.mu.Lock()
	h := c.chain.get(hash)
	c.mu.Unlock()
	if h != nil {
		return h, nil
	}
	err := c.do(ctx, func(ctx context.Context, p *peer) error {
		var err error
		h, err = c.fetchHeader(ctx, p, hash)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.chain.add(h)
	c.mu.Unlock()
	return h, nil
}

// IsCanonical reports whether header is on the accepted chain.
func (c *Client) IsCanonical(ctx context.Context, header *types.Header) (bool, error) {
	h, err := c.HeaderByNumber(ctx, header.Number.Uint64())
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return h.Hash() == header.Hash(), nil
}

// Block returns the block with the given hash, its body verified against
// its header.
func (c *Client) Block(ctx context.Context, hash common.Hash) (*types.Block, error) {
	if b, ok := c.blocks.Get(hash); ok {
		return b, nil
	}
	header, err := c.HeaderByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	var body *types.Body
	err = c.do(ctx, func(ctx context.Context, p *peer) error {
		body, err = c.fetchBody(ctx, p, header)
		return err
	})
	if err != nil {
		return nil, err
	}
	b := types.NewBlockWithHeader(header).WithBody(*body)
	c.blocks.Add(hash, b)
	return b, nil
}

// Receipts returns the receipts of the block with the given hash, verified
// against its header, with their derived fields (transaction hashes, gas
// used, log positions) filled in.
func (c *Client) Receipts(ctx context.Context, hash common.Hash) (types.Receipts, error) {
	if r, ok := c.receipts.Get(hash); ok {
		return r, nil
	}
	block, err := c.Block(ctx, hash)
	if err != nil {
		return nil, err
	}
	header := block.Header()
	var receipts types.Receipts
	err = c.do(ctx, func(ctx context.Context, p *peer) error {
		receipts, err = c.fetchReceipts(ctx, p, header, len(block.Transactions()))
		return err
	})
	if err != nil {
		return nil, err
	}
	var blobGasPrice *big.Int
	if header.ExcessBlobGas != nil {
		blobGasPrice = eip4844.CalcBlobFee(c.cfg.ChainConfig, header)
	}
	if err := receipts.DeriveFields(c.cfg.ChainConfig, hash, header.Number.Uint64(), header.Time, header.BaseFee, blobGasPrice, block.Transactions()); err != nil {
		return nil, fmt.Errorf("%w: %v", verify.ErrReceiptsRoot, err)
	}
	c.receipts.Add(hash, receipts)
	return receipts, nil
}

// AccountState is an account and some of its storage slots, proven against
// a block's state root.
type AccountState struct {
	Address common.Address
	// Account is nil when the proof shows the account does not exist.
	Account *types.StateAccount
	Proof   [][]byte
	Slots   []common.Hash // as asked
	Values  []common.Hash // proven values, one per slot
	// SlotProofs are the storage proofs, one per slot.
	SlotProofs [][][]byte
}

// Balance is the proven balance (zero for a missing account).
func (s *AccountState) Balance() *big.Int {
	if s.Account == nil {
		return new(big.Int)
	}
	return s.Account.Balance.ToBig()
}

// Nonce is the proven nonce (zero for a missing account).
func (s *AccountState) Nonce() uint64 {
	if s.Account == nil {
		return 0
	}
	return s.Account.Nonce
}

// CodeHash is the proven code hash (the empty code hash for a missing
// account).
func (s *AccountState) CodeHash() common.Hash {
	if s.Account == nil {
		return types.EmptyCodeHash
	}
	return common.BytesToHash(s.Account.CodeHash)
}

// StorageRoot is the proven storage root (the empty root for a missing
// account).
func (s *AccountState) StorageRoot() common.Hash {
	if s.Account == nil {
		return types.EmptyRootHash
	}
	return s.Account.Root
}

// State returns an account and the given storage slots in the state of the
// block with the given header, verified against its state root, with
// their proofs (as eth_getProof gives them). Verified state is cached by
// block hash, since a block's state never changes: a wallet polling a
// balance is answered without a round trip until the next block.
func (c *Client) State(ctx context.Context, header *types.Header, addr common.Address, slots []common.Hash) (*AccountState, error) {
	return c.readState(ctx, header, addr, slots, true)
}

// StateValues is State for callers that need the values only: it also
// answers from state that came in a witness, without proofs of its own.
func (c *Client) StateValues(ctx context.Context, header *types.Header, addr common.Address, slots []common.Hash) (*AccountState, error) {
	return c.readState(ctx, header, addr, slots, false)
}

func (c *Client) readState(ctx context.Context, header *types.Header, addr common.Address, slots []common.Hash, withProofs bool) (*AccountState, error) {
	if len(slots) > protocol.MaxSlotsPerProof {
		return nil, fmt.Errorf("%d storage slots asked, at most %d", len(slots), protocol.MaxSlotsPerProof)
	}
	blockHash := c.chain.hashOf(header)
	acct, haveAcct := c.state.account(blockHash, addr)
	if withProofs && acct.proof == nil {
		haveAcct = false
	}
	known := make(map[common.Hash]provenSlot, len(slots))
	var missing []common.Hash
	for _, slot := range slots {
		if v, ok := c.state.slot(blockHash, addr, slot); ok && (!withProofs || v.proof != nil) {
			known[slot] = v
		} else {
			missing = append(missing, slot)
		}
	}
	if !haveAcct || len(missing) > 0 {
		var (
			fetched []provenSlot
			err     error
		)
		if acct, fetched, err = c.fetchState(ctx, header, blockHash, addr, missing); err != nil {
			return nil, err
		}
		for i, slot := range missing {
			known[slot] = fetched[i]
		}
	}
	st := &AccountState{Address: addr, Account: acct.account, Proof: acct.proof, Slots: slots}
	for _, slot := range slots {
		st.Values = append(st.Values, known[slot].value)
		st.SlotProofs = append(st.SlotProofs, known[slot].proof)
	}
	return st, nil
}

// fetchState fetches and verifies the proof of an account and some of its
// slots, and caches what it verified. blockHash is header's (the caller
// has it; hashing a header again costs microseconds on the hot path).
func (c *Client) fetchState(ctx context.Context, header *types.Header, blockHash common.Hash, addr common.Address, slots []common.Hash) (provenAccount, []provenSlot, error) {
	var (
		acct   provenAccount
		values []provenSlot
		hashes [][]common.Hash // of the account's proof's nodes, then each slot's
	)
	c.proofFetches.Add(1)
	err := c.do(ctx, func(ctx context.Context, p *peer) error {
		proof, err := c.fetchProof(ctx, p, blockHash, addr, slots)
		if err != nil {
			return err
		}
		// The nodes are hashed once, for the check and for the cache.
		nodes, h := verify.HashNodes(proof.Account)
		a, err := verify.AccountIn(header.Root, addr, nodes)
		if err != nil {
			return err
		}
		acct = provenAccount{account: a, proof: proof.Account}
		hashes = append(hashes[:0], h)
		root := types.EmptyRootHash
		if a != nil {
			root = a.Root
		}
		values = values[:0]
		for i, slot := range slots {
			nodes, h := verify.HashNodes(proof.Storage[i])
			v, err := verify.StorageIn(root, slot, nodes)
			if err != nil {
				return err
			}
			values = append(values, provenSlot{v, proof.Storage[i]})
			hashes = append(hashes, h)
		}
		return nil
	})
	if err != nil {
		return provenAccount{}, nil, err
	}
	c.state.addNodes(acct.proof, hashes[0])
	c.state.add(accountKey(blockHash, addr), acct)
	for i, slot := range slots {
		c.state.addNodes(values[i].proof, hashes[i+1])
		c.state.add(slotKey(blockHash, addr, slot), values[i])
	}
	return acct, values, nil
}

// Code returns the code of an account in the state of the block with the
// given header, verified against the account's proven code hash.
func (c *Client) Code(ctx context.Context, header *types.Header, addr common.Address) ([]byte, error) {
	st, err := c.StateValues(ctx, header, addr, nil)
	if err != nil {
		return nil, err
	}
	codeHash := st.CodeHash()
	if codeHash == types.EmptyCodeHash {
		return []byte{}, nil
	}
	if code, ok := c.state.code(codeHash); ok {
		return code, nil
	}
	var code []byte
	c.proofFetches.Add(1)
	err = c.do(ctx, func(ctx context.Context, p *peer) error {
		code, err = c.fetchCode(ctx, p, c.chain.hashOf(header), addr, codeHash)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.state.add(codeKey(codeHash), code)
	return code, nil
}

// TxRejectedError is a server chain's refusal of a sent transaction (for
// example "nonce too low").
type TxRejectedError struct{ Reason string }

func (e *TxRejectedError) Error() string { return e.Reason }

// SendTransaction relays a signed transaction through a server.
func (c *Client) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	raw, err := tx.MarshalBinary()
	if err != nil {
		return err
	}
	var rejected *TxRejectedError
	err = c.do(ctx, func(ctx context.Context, p *peer) error {
		id := reqIDs.Add(1)
		items, err := c.fetchTxStatus(ctx, p, protocol.SendTxMsg, &protocol.SendTx{ReqID: id, Txs: [][]byte{raw}}, 1)
		if err != nil {
			return err
		}
		if items[0].Error != "" {
			rejected = &TxRejectedError{Reason: items[0].Error}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if rejected != nil {
		return rejected
	}
	return nil
}

// TxInfo is a transaction and, when it is in a block, where.
type TxInfo struct {
	Tx     *types.Transaction
	Header *types.Header // nil while pending
	Index  uint64
}

// Transaction looks a transaction up. An included transaction is checked
// against the body of its canonical block; a pending one against its hash.
// It returns (nil, nil) when no server knows the transaction.
func (c *Client) Transaction(ctx context.Context, hash common.Hash) (*TxInfo, error) {
	var info *TxInfo
	err := c.do(ctx, func(ctx context.Context, p *peer) error {
		id := reqIDs.Add(1)
		items, err := c.fetchTxStatus(ctx, p, protocol.GetTxStatusMsg, &protocol.GetTxStatus{ReqID: id, Hashes: []common.Hash{hash}}, 1)
		if err != nil {
			return err
		}
		item := items[0]
		switch item.Status {
		case protocol.TxIncluded:
			header, err := c.HeaderByNumber(ctx, item.BlockNumber)
			if errors.Is(err, ErrNotFound) || (err == nil && header.Hash() != item.BlockHash) {
				return ErrNotFound // beyond our head, or on another fork
			}
			if err != nil {
				return upstream(err)
			}
			block, err := c.Block(ctx, header.Hash())
			if err != nil {
				return upstream(err)
			}
			tx, err := verify.TxInBody(block.Body(), item.Index, hash)
			if err != nil {
				return err
			}
			info = &TxInfo{Tx: tx, Header: header, Index: item.Index}
			return nil
		case protocol.TxPending:
			tx := new(types.Transaction)
			if err := tx.UnmarshalBinary(item.Tx); err != nil || tx.Hash() != hash {
				return fmt.Errorf("%w: pending transaction does not hash to %x", verify.ErrTxInclusion, hash)
			}
			info = &TxInfo{Tx: tx}
			return nil
		}
		return ErrNotFound
	})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return info, err
}
