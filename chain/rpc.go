package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
)

// headerCacheSize is how many recent headers an RPC backend keeps.
const headerCacheSize = 4096

// pollInterval is how often heads are polled when the backend cannot push
// them (plain HTTP).
const pollInterval = 250 * time.Millisecond

// RPC is a Backend over an execution client's standard JSON-RPC (geth,
// reth, erigon, nethermind). Every answer is checked before it is
// returned.
type RPC struct {
	c            *rpc.Client
	chainID      uint64
	genesis      common.Hash
	headers      *lru.Cache[common.Hash, *types.Header]
	noRaw        atomic.Bool // the node refused debug_dbGet
	noAccessList atomic.Bool // the node has no eth_createAccessList
}

var (
	_ Backend   = (*RPC)(nil)
	_ RawReader = (*RPC)(nil)
)

// NewRPC reads the chain id and genesis of the execution client behind c.
func NewRPC(ctx context.Context, c *rpc.Client) (*RPC, error) {
	b := &RPC{c: c, headers: lru.NewCache[common.Hash, *types.Header](headerCacheSize)}
	var id hexutil.Big
	if err := c.CallContext(ctx, &id, "eth_chainId"); err != nil {
		return nil, fmt.Errorf("eth_chainId: %w", err)
	}
	if !(*big.Int)(&id).IsUint64() {
		return nil, fmt.Errorf("chain id %v out of range", (*big.Int)(&id))
	}
	b.chainID = (*big.Int)(&id).Uint64()
	genesis, err := b.header(ctx, "eth_getBlockByNumber", "0x0")
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	b.genesis = genesis.Hash()
	return b, nil
}

// ChainID implements Backend.
func (b *RPC) ChainID() uint64 { return b.chainID }

// Genesis implements Backend.
func (b *RPC) Genesis() common.Hash { return b.genesis }

// rpcHeader is a block as eth_getBlockBy* return it, with the hash the node
// claims and, when asked for, full transactions.
type rpcHeader struct {
	Hash common.Hash `json:"hash"`
}

type rpcBody struct {
	Hash         common.Hash          `json:"hash"`
	Transactions []*types.Transaction `json:"transactions"`
	Uncles       []common.Hash        `json:"uncles"`
	Withdrawals  []*types.Withdrawal  `json:"withdrawals"`
}

// header fetches a header with eth_getBlockByNumber or eth_getBlockByHash
// (without transactions) and checks that it hashes to the hash the node
// gives for it.
func (b *RPC) header(ctx context.Context, method string, block any) (*types.Header, error) {
	var raw json.RawMessage
	if err := b.c.CallContext(ctx, &raw, method, block, false); err != nil {
		return nil, err
	}
	return b.parseHeader(raw)
}

func (b *RPC) parseHeader(raw json.RawMessage) (*types.Header, error) {
	h, err := b.parseUncle(raw)
	if err != nil {
		return nil, err
	}
	b.headers.Add(h.Hash(), h)
	return h, nil
}

// parseUncle parses and checks a header like parseHeader but does not
// remember it: an uncle is not a block the node has.
func (b *RPC) parseUncle(raw json.RawMessage) (*types.Header, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, ErrNotFound
	}
	var (
		claimed rpcHeader
		h       types.Header
	)
	if err := json.Unmarshal(raw, &claimed); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBackendInvalid, err)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBackendInvalid, err)
	}
	if err := verify.Header(&h, claimed.Hash); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackendInvalid, err)
	}
	return &h, nil
}

// CurrentHeader implements Backend.
func (b *RPC) CurrentHeader(ctx context.Context) (*types.Header, error) {
	return b.header(ctx, "eth_getBlockByNumber", "latest")
}

// Finality implements Backend. A node that has no safe or finalized block
// (no consensus client has told it of one) answers with an error, which
// reads as none.
func (b *RPC) Finality(ctx context.Context) (safe, finalized *types.Header, err error) {
	if safe, err = b.tagged(ctx, "safe"); err != nil {
		return nil, nil, err
	}
	if finalized, err = b.tagged(ctx, "finalized"); err != nil {
		return nil, nil, err
	}
	return safe, finalized, nil
}

// tagged returns the header of a block tag, or nil when the node has none.
func (b *RPC) tagged(ctx context.Context, tag string) (*types.Header, error) {
	h, err := b.header(ctx, "eth_getBlockByNumber", tag)
	var rpcErr rpc.Error
	if errors.Is(err, ErrNotFound) || errors.As(err, &rpcErr) {
		return nil, nil // "safe block not found" and the like
	}
	return h, err
}

// Retention implements Backend from the node's eth_capabilities; a node
// that does not know the method is assumed to be a full node: state for
// the last 128 blocks, everything else from genesis.
func (b *RPC) Retention(ctx context.Context) (protocol.Retention, error) {
	var caps Capabilities
	err := b.c.CallContext(ctx, &caps, "eth_capabilities")
	var rpcErr rpc.Error
	if errors.As(err, &rpcErr) && rpcErr.ErrorCode() == -32601 {
		return FullNodeRetention, nil
	}
	if err != nil {
		return protocol.Retention{}, err
	}
	return caps.Retention(), nil
}

// HeaderByNumber implements Backend.
func (b *RPC) HeaderByNumber(ctx context.Context, number uint64) (*types.Header, error) {
	return b.header(ctx, "eth_getBlockByNumber", hexutil.EncodeUint64(number))
}

// HeaderByHash implements Backend.
func (b *RPC) HeaderByHash(ctx context.Context, hash common.Hash) (*types.Header, error) {
	if h, ok := b.headers.Get(hash); ok {
		return h, nil
	}
	h, err := b.header(ctx, "eth_getBlockByHash", hash)
	if err == nil && h.Hash() != hash {
		return nil, fmt.Errorf("%w: asked for block %x, got %x", ErrBackendInvalid, hash, h.Hash())
	}
	return h, err
}

// Body implements Backend.
func (b *RPC) Body(ctx context.Context, hash common.Hash) (*types.Body, error) {
	header, err := b.HeaderByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := b.c.CallContext(ctx, &raw, "eth_getBlockByHash", hash, true); err != nil {
		return nil, err
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, ErrNotFound
	}
	var blk rpcBody
	if err := json.Unmarshal(raw, &blk); err != nil {
		return nil, fmt.Errorf("%w: block %x: %v", ErrBackendInvalid, hash, err)
	}
	body := &types.Body{Transactions: blk.Transactions, Withdrawals: blk.Withdrawals}
	for i := range blk.Uncles {
		var raw json.RawMessage
		if err := b.c.CallContext(ctx, &raw, "eth_getUncleByBlockHashAndIndex", hash, hexutil.Uint(i)); err != nil {
			return nil, fmt.Errorf("uncle %d of %x: %w", i, hash, err)
		}
		u, err := b.parseUncle(raw)
		if err != nil {
			return nil, fmt.Errorf("uncle %d of %x: %w", i, hash, err)
		}
		body.Uncles = append(body.Uncles, u)
	}
	if header.WithdrawalsHash != nil && body.Withdrawals == nil {
		body.Withdrawals = []*types.Withdrawal{}
	}
	if err := verify.Body(header, body); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackendInvalid, err)
	}
	return body, nil
}

// Receipts implements Backend.
func (b *RPC) Receipts(ctx context.Context, hash common.Hash) (types.Receipts, error) {
	header, err := b.HeaderByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	var receipts types.Receipts
	if err := b.c.CallContext(ctx, &receipts, "eth_getBlockReceipts", hash); err != nil {
		return nil, err
	}
	if receipts == nil {
		return nil, ErrNotFound
	}
	if err := verify.Receipts(header, receipts); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackendInvalid, err)
	}
	return receipts, nil
}

type rpcProof struct {
	AccountProof []hexutil.Bytes `json:"accountProof"`
	StorageProof []struct {
		Proof []hexutil.Bytes `json:"proof"`
	} `json:"storageProof"`
}

// Proof implements Backend.
func (b *RPC) Proof(ctx context.Context, blockHash common.Hash, addr common.Address, slots []common.Hash) (*Proof, error) {
	header, err := b.HeaderByHash(ctx, blockHash)
	if err != nil {
		return nil, err
	}
	var res rpcProof
	if err := b.c.CallContext(ctx, &res, "eth_getProof", addr, slotKeys(slots), rpc.BlockNumberOrHashWithHash(blockHash, false)); err != nil {
		return nil, stateErr(err)
	}
	return checkProof(header.Root, addr, slots, &res)
}

func slotKeys(slots []common.Hash) []string {
	keys := make([]string, len(slots))
	for i, s := range slots {
		keys[i] = s.Hex()
	}
	return keys
}

// checkProof verifies the node's proof of an account and its slots
// against a state root.
func checkProof(root common.Hash, addr common.Address, slots []common.Hash, res *rpcProof) (*Proof, error) {
	if len(res.StorageProof) != len(slots) {
		return nil, fmt.Errorf("%w: %d storage proofs for %d slots", ErrBackendInvalid, len(res.StorageProof), len(slots))
	}
	p := &Proof{Account: bytesList(res.AccountProof), Storage: make([][][]byte, len(slots))}
	acct, err := verify.Account(root, addr, p.Account)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackendInvalid, err)
	}
	storageRoot := types.EmptyRootHash
	if acct != nil {
		storageRoot = acct.Root
	}
	for i, sp := range res.StorageProof {
		p.Storage[i] = bytesList(sp.Proof)
		if _, err := verify.Storage(storageRoot, slots[i], p.Storage[i]); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBackendInvalid, err)
		}
	}
	return p, nil
}

// AccessList implements Prefetcher with eth_createAccessList. The list
// of a call that fails is still the one its run touched.
func (b *RPC) AccessList(ctx context.Context, blockHash common.Hash, call json.RawMessage) (types.AccessList, error) {
	var res struct {
		AccessList types.AccessList `json:"accessList"`
	}
	if b.noAccessList.Load() {
		return nil, ErrNodeUnavailable
	}
	err := b.c.CallContext(ctx, &res, "eth_createAccessList", call, rpc.BlockNumberOrHashWithHash(blockHash, false))
	var rpcErr rpc.Error
	if errors.As(err, &rpcErr) && rpcErr.ErrorCode() == -32601 { // method not found
		b.noAccessList.Store(true)
	}
	if err != nil {
		return nil, stateErr(err)
	}
	return res.AccessList, nil
}

// Proofs implements Prefetcher with one batch of eth_getProof.
func (b *RPC) Proofs(ctx context.Context, blockHash common.Hash, list types.AccessList) []*Proof {
	out := make([]*Proof, len(list))
	header, err := b.HeaderByHash(ctx, blockHash)
	if err != nil || len(list) == 0 {
		return out
	}
	res := make([]rpcProof, len(list))
	batch := make([]rpc.BatchElem, len(list))
	for i, t := range list {
		batch[i] = rpc.BatchElem{Method: "eth_getProof", Args: []any{t.Address, slotKeys(t.StorageKeys), rpc.BlockNumberOrHashWithHash(blockHash, false)}, Result: &res[i]}
	}
	if err := b.c.BatchCallContext(ctx, batch); err != nil {
		return out
	}
	for i, t := range list {
		if batch[i].Error == nil {
			out[i], _ = checkProof(header.Root, t.Address, t.StorageKeys, &res[i])
		}
	}
	return out
}

// RawGet implements RawReader with geth's debug_dbGet, when the node
// offers it (its debug namespace is enabled); the caller checks what it
// gets by hash.
func (b *RPC) RawGet(ctx context.Context, key []byte) ([]byte, error) {
	if b.noRaw.Load() {
		return nil, ErrNodeUnavailable
	}
	var blob hexutil.Bytes
	err := b.c.CallContext(ctx, &blob, "debug_dbGet", hexutil.Encode(key))
	var rpcErr rpc.Error
	if errors.As(err, &rpcErr) && rpcErr.ErrorCode() == -32601 { // method not found
		b.noRaw.Store(true)
	}
	return blob, err
}

// Code implements Backend. The code is checked against the account's code
// hash, proven in the block's state.
func (b *RPC) Code(ctx context.Context, blockHash common.Hash, addr common.Address) ([]byte, error) {
	header, err := b.HeaderByHash(ctx, blockHash)
	if err != nil {
		return nil, err
	}
	var code hexutil.Bytes
	if err := b.c.CallContext(ctx, &code, "eth_getCode", addr, rpc.BlockNumberOrHashWithHash(blockHash, false)); err != nil {
		return nil, stateErr(err)
	}
	proof, err := b.Proof(ctx, blockHash, addr, nil)
	if err != nil {
		return nil, err
	}
	acct, _ := verify.Account(header.Root, addr, proof.Account)
	codeHash := types.EmptyCodeHash
	if acct != nil {
		codeHash = common.BytesToHash(acct.CodeHash)
	}
	if err := verify.Code(codeHash, code); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackendInvalid, err)
	}
	return code, nil
}

// SendTransaction implements Backend.
func (b *RPC) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	raw, err := tx.MarshalBinary()
	if err != nil {
		return err
	}
	return b.c.CallContext(ctx, nil, "eth_sendRawTransaction", hexutil.Bytes(raw))
}

type rpcTxLocation struct {
	BlockHash        *common.Hash    `json:"blockHash"`
	BlockNumber      *hexutil.Big    `json:"blockNumber"`
	TransactionIndex *hexutil.Uint64 `json:"transactionIndex"`
}

// TxLookup implements Backend. An included transaction is checked against
// the body of its block.
func (b *RPC) TxLookup(ctx context.Context, txHash common.Hash) (*TxLocation, error) {
	var raw json.RawMessage
	if err := b.c.CallContext(ctx, &raw, "eth_getTransactionByHash", txHash); err != nil {
		if isIndexing(err) {
			// The node cannot tell yet (it is still indexing transactions
			// after a start): unknown for now.
			return &TxLocation{Status: TxUnknown}, nil
		}
		return nil, err
	}
	if len(raw) == 0 || string(raw) == "null" {
		return &TxLocation{Status: TxUnknown}, nil
	}
	var loc rpcTxLocation
	if err := json.Unmarshal(raw, &loc); err != nil {
		return nil, fmt.Errorf("%w: transaction %x: %v", ErrBackendInvalid, txHash, err)
	}
	if loc.BlockHash == nil {
		tx := new(types.Transaction)
		if err := tx.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("%w: pending transaction %x: %v", ErrBackendInvalid, txHash, err)
		}
		if tx.Hash() != txHash {
			return nil, fmt.Errorf("%w: pending transaction hashes to %x, want %x", ErrBackendInvalid, tx.Hash(), txHash)
		}
		return &TxLocation{Status: TxPending, Tx: tx}, nil
	}
	if loc.BlockNumber == nil || loc.TransactionIndex == nil {
		return nil, fmt.Errorf("%w: transaction %x without block number or index", ErrBackendInvalid, txHash)
	}
	body, err := b.Body(ctx, *loc.BlockHash)
	if err != nil {
		return nil, err
	}
	if _, err := verify.TxInBody(body, uint64(*loc.TransactionIndex), txHash); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackendInvalid, err)
	}
	return &TxLocation{
		Status:      TxIncluded,
		BlockHash:   *loc.BlockHash,
		BlockNumber: (*big.Int)(loc.BlockNumber).Uint64(),
		Index:       uint64(*loc.TransactionIndex),
	}, nil
}

// SubscribeHeads implements Backend: it subscribes to newHeads where the
// connection can push, and polls otherwise.
func (b *RPC) SubscribeHeads(ctx context.Context, ch chan<- *types.Header) (func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	raw := make(chan json.RawMessage, 16)
	sub, err := b.c.EthSubscribe(ctx, raw, "newHeads")
	if err != nil && !errors.Is(err, rpc.ErrNotificationsUnsupported) {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if sub != nil {
			defer sub.Unsubscribe()
			b.pushLoop(ctx, sub, raw, ch)
		} else {
			b.pollLoop(ctx, ch)
		}
	}()
	return func() { cancel(); <-done }, nil
}

func (b *RPC) pushLoop(ctx context.Context, sub *rpc.ClientSubscription, raw <-chan json.RawMessage, ch chan<- *types.Header) {
	for {
		select {
		case msg := <-raw:
			h, err := b.parseHeader(msg)
			if err != nil {
				continue // a bad notification is not served; the next head replaces it
			}
			deliver(ctx, ch, h)
		case <-sub.Err():
			// The connection dropped: fall back to polling.
			b.pollLoop(ctx, ch)
			return
		case <-ctx.Done():
			return
		}
	}
}

func (b *RPC) pollLoop(ctx context.Context, ch chan<- *types.Header) {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var last common.Hash
	for {
		select {
		case <-ticker.C:
			h, err := b.CurrentHeader(ctx)
			if err != nil || h.Hash() == last {
				continue
			}
			last = h.Hash()
			deliver(ctx, ch, h)
		case <-ctx.Done():
			return
		}
	}
}

// deliver sends h unless ctx ends first.
func deliver(ctx context.Context, ch chan<- *types.Header, h *types.Header) {
	select {
	case ch <- h:
	case <-ctx.Done():
	}
}

func bytesList(in []hexutil.Bytes) [][]byte {
	out := make([][]byte, len(in))
	for i, b := range in {
		out[i] = b
	}
	return out
}

// isIndexing reports geth's "transaction indexing is in progress" answer.
func isIndexing(err error) bool {
	var rpcErr rpc.Error
	return errors.As(err, &rpcErr) && strings.Contains(rpcErr.Error(), "indexing is in progress")
}

// stateErr maps a node's "state not available" answers to ErrNotFound.
func stateErr(err error) error {
	var rpcErr rpc.Error
	if errors.As(err, &rpcErr) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}
