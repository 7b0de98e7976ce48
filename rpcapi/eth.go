package rpcapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/client"
)

// maxGetProofKeys bounds the storage keys of one eth_getProof, as geth does.
const maxGetProofKeys = 1024

// errHeaderNotFound is geth's answer for state queries on unknown blocks.
var errHeaderNotFound = errors.New("header not found")

// EthAPI is the eth_ namespace, answered from verified data.
type EthAPI struct {
	c        *client.Client
	oracle   *FeeOracle
	logRange uint64 // blocks per eth_getLogs
}

// NewEthAPI creates the eth_ namespace over a light client. logRange
// bounds the blocks of one eth_getLogs (0: DefaultLogRange).
func NewEthAPI(c *client.Client, logRange uint64) *EthAPI {
	if logRange == 0 {
		logRange = DefaultLogRange
	}
	return &EthAPI{c: c, oracle: NewFeeOracle(FeeOracleConfig{}), logRange: logRange}
}

// ChainId is eth_chainId.
func (api *EthAPI) ChainId() *hexutil.Big {
	return (*hexutil.Big)(new(big.Int).SetUint64(api.c.ChainID()))
}

// BlockNumber is eth_blockNumber: the accepted head.
func (api *EthAPI) BlockNumber() (hexutil.Uint64, error) {
	h := api.c.Head()
	if h == nil {
		return 0, client.ErrNoHead
	}
	return hexutil.Uint64(h.Number.Uint64()), nil
}

// header resolves a block number or tag to a verified canonical header.
// It returns (nil, nil) when there is no such block.
func (api *EthAPI) header(ctx context.Context, number rpc.BlockNumber) (*types.Header, error) {
	head := api.c.Head()
	if head == nil {
		return nil, client.ErrNoHead
	}
	switch number {
	case rpc.LatestBlockNumber, rpc.PendingBlockNumber, rpc.SafeBlockNumber, rpc.FinalizedBlockNumber:
		return head, nil
	case rpc.EarliestBlockNumber:
		number = 0
	}
	if number < 0 {
		return nil, fmt.Errorf("block tag %d not supported", number)
	}
	h, err := api.c.HeaderByNumber(ctx, uint64(number))
	if errors.Is(err, client.ErrNotFound) {
		return nil, nil
	}
	return h, err
}

// stateHeader resolves the block of a state query; a missing block is an
// error, as in geth.
func (api *EthAPI) stateHeader(ctx context.Context, bnh *rpc.BlockNumberOrHash) (*types.Header, error) {
	if bnh == nil {
		latest := rpc.BlockNumberOrHashWithNumber(rpc.LatestBlockNumber)
		bnh = &latest
	}
	var (
		h   *types.Header
		err error
	)
	if hash, ok := bnh.Hash(); ok {
		h, err = api.c.HeaderByHash(ctx, hash)
		if err == nil && bnh.RequireCanonical {
			canon, cerr := api.c.IsCanonical(ctx, h)
			if cerr != nil {
				return nil, cerr
			}
			if !canon {
				return nil, fmt.Errorf("hash %#x is not currently canonical", hash)
			}
		}
	} else if number, ok := bnh.Number(); ok {
		h, err = api.header(ctx, number)
	} else {
		return nil, errors.New("invalid arguments; neither block nor hash specified")
	}
	if errors.Is(err, client.ErrNotFound) || (err == nil && h == nil) {
		return nil, errHeaderNotFound
	}
	return h, err
}

// GetBlockByNumber is eth_getBlockByNumber.
func (api *EthAPI) GetBlockByNumber(ctx context.Context, number rpc.BlockNumber, fullTx bool) (map[string]any, error) {
	h, err := api.header(ctx, number)
	if err != nil || h == nil {
		return nil, err
	}
	return api.block(ctx, h.Hash(), fullTx)
}

// GetBlockByHash is eth_getBlockByHash.
func (api *EthAPI) GetBlockByHash(ctx context.Context, hash common.Hash, fullTx bool) (map[string]any, error) {
	return api.block(ctx, hash, fullTx)
}

func (api *EthAPI) block(ctx context.Context, hash common.Hash, fullTx bool) (map[string]any, error) {
	b, err := api.c.Block(ctx, hash)
	if errors.Is(err, client.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return MarshalBlock(b, true, fullTx, api.c.ChainConfig()), nil
}

// GetBalance is eth_getBalance.
func (api *EthAPI) GetBalance(ctx context.Context, addr common.Address, bnh *rpc.BlockNumberOrHash) (*hexutil.Big, error) {
	st, err := api.state(ctx, addr, nil, bnh)
	if err != nil {
		return nil, err
	}
	return (*hexutil.Big)(st.Balance()), nil
}

// GetTransactionCount is eth_getTransactionCount.
func (api *EthAPI) GetTransactionCount(ctx context.Context, addr common.Address, bnh *rpc.BlockNumberOrHash) (*hexutil.Uint64, error) {
	st, err := api.state(ctx, addr, nil, bnh)
	if err != nil {
		return nil, err
	}
	n := hexutil.Uint64(st.Nonce())
	return &n, nil
}

// GetCode is eth_getCode.
func (api *EthAPI) GetCode(ctx context.Context, addr common.Address, bnh *rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	h, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return nil, err
	}
	return api.c.Code(ctx, h, addr)
}

// GetStorageAt is eth_getStorageAt.
func (api *EthAPI) GetStorageAt(ctx context.Context, addr common.Address, hexKey string, bnh *rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	key, _, err := decodeStorageKey(hexKey)
	if err != nil {
		return nil, &invalidParamsError{fmt.Sprintf("%v: %q", err, hexKey)}
	}
	st, err := api.state(ctx, addr, []common.Hash{key}, bnh)
	if err != nil {
		return nil, err
	}
	return st.Values[0][:], nil
}

// GetProof is eth_getProof: the proofs the client verified, as the node
// gave them.
func (api *EthAPI) GetProof(ctx context.Context, addr common.Address, storageKeys []string, bnh *rpc.BlockNumberOrHash) (*AccountResult, error) {
	if len(storageKeys) > maxGetProofKeys {
		return nil, &invalidParamsError{fmt.Sprintf("too many storage keys requested (max %d, got %d)", maxGetProofKeys, len(storageKeys))}
	}
	keys := make([]common.Hash, len(storageKeys))
	lengths := make([]int, len(storageKeys))
	for i, k := range storageKeys {
		var err error
		if keys[i], lengths[i], err = decodeStorageKey(k); err != nil {
			return nil, &invalidParamsError{fmt.Sprintf("%v: %q", err, k)}
		}
	}
	h, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return nil, err
	}
	// Storage proofs are fetched in chunks the protocol allows.
	var st *client.AccountState
	for start := 0; start == 0 || start < len(keys); start += maxSlotsPerRequest {
		end := min(start+maxSlotsPerRequest, len(keys))
		part, err := api.c.State(ctx, h, addr, keys[start:end])
		if err != nil {
			return nil, err
		}
		if st == nil {
			st = part
		} else {
			st.Slots = append(st.Slots, part.Slots...)
			st.Values = append(st.Values, part.Values...)
			st.SlotProofs = append(st.SlotProofs, part.SlotProofs...)
		}
	}
	return NewAccountResult(st, lengths), nil
}

const maxSlotsPerRequest = 64

func (api *EthAPI) state(ctx context.Context, addr common.Address, slots []common.Hash, bnh *rpc.BlockNumberOrHash) (*client.AccountState, error) {
	h, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return nil, err
	}
	return api.c.State(ctx, h, addr, slots)
}

// GetTransactionByHash is eth_getTransactionByHash.
func (api *EthAPI) GetTransactionByHash(ctx context.Context, hash common.Hash) (*RPCTransaction, error) {
	info, err := api.c.Transaction(ctx, hash)
	if err != nil || info == nil {
		return nil, err
	}
	cfg := api.c.ChainConfig()
	if info.Header == nil {
		return NewRPCPendingTransaction(info.Tx, api.c.Head(), cfg), nil
	}
	h := info.Header
	return NewRPCTransaction(info.Tx, h.Hash(), h.Number.Uint64(), h.Time, info.Index, h.BaseFee, cfg), nil
}

// GetTransactionReceipt is eth_getTransactionReceipt.
func (api *EthAPI) GetTransactionReceipt(ctx context.Context, hash common.Hash) (map[string]any, error) {
	info, err := api.c.Transaction(ctx, hash)
	if err != nil || info == nil || info.Header == nil {
		return nil, err
	}
	receipts, err := api.c.Receipts(ctx, info.Header.Hash())
	if err != nil {
		return nil, err
	}
	if info.Index >= uint64(len(receipts)) {
		return nil, fmt.Errorf("receipt %d missing from block %d", info.Index, info.Header.Number)
	}
	h := info.Header
	signer := types.MakeSigner(api.c.ChainConfig(), h.Number, h.Time)
	return MarshalReceipt(receipts[info.Index], h.Hash(), h.Number.Uint64(), signer, info.Tx, int(info.Index)), nil
}

// SendRawTransaction is eth_sendRawTransaction.
func (api *EthAPI) SendRawTransaction(ctx context.Context, input hexutil.Bytes) (common.Hash, error) {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(input); err != nil {
		return common.Hash{}, err
	}
	if !tx.Protected() {
		return common.Hash{}, errors.New("only replay-protected (EIP-155) transactions allowed over RPC")
	}
	if err := api.c.SendTransaction(ctx, tx); err != nil {
		return common.Hash{}, err
	}
	return tx.Hash(), nil
}

// GasPrice is eth_gasPrice: the suggested tip plus the head's base fee.
func (api *EthAPI) GasPrice(ctx context.Context) (*hexutil.Big, error) {
	tip, head, err := api.suggestTip(ctx)
	if err != nil {
		return nil, err
	}
	if head.BaseFee != nil {
		tip.Add(tip, head.BaseFee)
	}
	return (*hexutil.Big)(tip), nil
}

// MaxPriorityFeePerGas is eth_maxPriorityFeePerGas.
func (api *EthAPI) MaxPriorityFeePerGas(ctx context.Context) (*hexutil.Big, error) {
	tip, _, err := api.suggestTip(ctx)
	return (*hexutil.Big)(tip), err
}

// suggestTip asks the fee oracle for a tip at the accepted head.
func (api *EthAPI) suggestTip(ctx context.Context) (*big.Int, *types.Header, error) {
	head := api.c.Head()
	if head == nil {
		return nil, nil, client.ErrNoHead
	}
	tip, err := api.oracle.SuggestTipCap(ctx, feeSource{api.c}, api.c.ChainConfig(), head)
	return tip, head, err
}

// FeeHistory is eth_feeHistory.
func (api *EthAPI) FeeHistory(ctx context.Context, blockCount math.HexOrDecimal64, lastBlock rpc.BlockNumber, rewardPercentiles []float64) (*FeeHistoryResult, error) {
	head := api.c.Head()
	if head == nil {
		return nil, client.ErrNoHead
	}
	return api.oracle.FeeHistory(ctx, feeSource{api.c}, api.c.ChainConfig(), head, uint64(blockCount), lastBlock, rewardPercentiles)
}

// NewHeads is eth_subscribe("newHeads").
func (api *EthAPI) NewHeads(ctx context.Context) (*rpc.Subscription, error) {
	notifier, supported := rpc.NotifierFromContext(ctx)
	if !supported {
		return &rpc.Subscription{}, rpc.ErrNotificationsUnsupported
	}
	sub := notifier.CreateSubscription()
	go func() {
		heads := make(chan *types.Header, 16)
		s := api.c.SubscribeHeads(heads)
		defer s.Unsubscribe()
		for {
			select {
			case h := <-heads:
				notifier.Notify(sub.ID, MarshalHeader(h))
			case <-sub.Err():
				return
			case <-s.Err():
				return
			}
		}
	}()
	return sub, nil
}

// NetAPI is the net_ namespace.
type NetAPI struct{ chainID uint64 }

// Version is net_version: the network id, which for the chains lightmarket
// serves is the chain id.
func (api *NetAPI) Version() string { return strconv.FormatUint(api.chainID, 10) }

// feeSource gives the fee oracle verified blocks.
type feeSource struct{ c *client.Client }

func (s feeSource) HeaderByNumber(ctx context.Context, n uint64) (*types.Header, error) {
	return s.c.HeaderByNumber(ctx, n)
}

func (s feeSource) BlockByNumber(ctx context.Context, n uint64) (*types.Block, error) {
	h, err := s.c.HeaderByNumber(ctx, n)
	if err != nil {
		return nil, err
	}
	return s.c.Block(ctx, h.Hash())
}

func (s feeSource) ReceiptsByNumber(ctx context.Context, n uint64) (types.Receipts, error) {
	h, err := s.c.HeaderByNumber(ctx, n)
	if err != nil {
		return nil, err
	}
	return s.c.Receipts(ctx, h.Hash())
}

// decodeStorageKey parses a storage key as geth does: hex with or without
// 0x, odd length allowed, at most 32 bytes. It also returns the input's
// byte length, which decides how eth_getProof prints the key.
func decodeStorageKey(s string) (common.Hash, int, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		s = s[2:]
	}
	if len(s)%2 == 1 {
		s = "0" + s
	}
	if len(s) > 64 {
		return common.Hash{}, len(s) / 2, errors.New("storage key too long (want at most 32 bytes)")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return common.Hash{}, 0, errors.New("invalid hex in storage key")
	}
	return common.BytesToHash(b), len(b), nil
}

// invalidParamsError is the JSON-RPC "invalid params" error (-32602).
type invalidParamsError struct{ message string }

func (e *invalidParamsError) Error() string  { return e.message }
func (e *invalidParamsError) ErrorCode() int { return -32602 }

// GetBlockReceipts is eth_getBlockReceipts.
func (api *EthAPI) GetBlockReceipts(ctx context.Context, bnh rpc.BlockNumberOrHash) ([]map[string]any, error) {
	h, err := api.stateHeader(ctx, &bnh)
	if errors.Is(err, errHeaderNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	block, err := api.c.Block(ctx, h.Hash())
	if err != nil {
		return nil, err
	}
	receipts, err := api.c.Receipts(ctx, h.Hash())
	if err != nil {
		return nil, err
	}
	signer := types.MakeSigner(api.c.ChainConfig(), h.Number, h.Time)
	out := make([]map[string]any, len(receipts))
	for i, r := range receipts {
		out[i] = MarshalReceipt(r, h.Hash(), h.Number.Uint64(), signer, block.Transactions()[i], i)
	}
	return out, nil
}
