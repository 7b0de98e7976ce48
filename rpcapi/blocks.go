package rpcapi

import (
	"context"
	"errors"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/client"
)

// blockByNumber returns the canonical block with the given number or tag,
// or (nil, nil) when there is none.
func (api *EthAPI) blockByNumber(ctx context.Context, n rpc.BlockNumber) (*types.Block, error) {
	h, err := api.numbered(ctx, n)
	if h == nil || err != nil {
		return nil, err
	}
	return api.blockOf(ctx, h.Hash())
}

// blockByHash returns the block with the given hash, or (nil, nil) when no
// server has it.
func (api *EthAPI) blockByHash(ctx context.Context, hash common.Hash) (*types.Block, error) {
	return api.blockOf(ctx, hash)
}

func (api *EthAPI) blockOf(ctx context.Context, hash common.Hash) (*types.Block, error) {
	b, err := api.c.Block(ctx, hash)
	if errors.Is(err, client.ErrNotFound) {
		return nil, nil
	}
	return b, err
}

// GetBlockByNumber is eth_getBlockByNumber. There is no pending block: the
// client answers "pending" with the head.
func (api *EthAPI) GetBlockByNumber(ctx context.Context, number rpc.BlockNumber, fullTx bool) (map[string]any, error) {
	b, err := api.blockByNumber(ctx, number)
	if b == nil || err != nil {
		return nil, err
	}
	return MarshalBlock(b, true, fullTx, api.c.ChainConfig()), nil
}

// GetBlockByHash is eth_getBlockByHash.
func (api *EthAPI) GetBlockByHash(ctx context.Context, hash common.Hash, fullTx bool) (map[string]any, error) {
	b, err := api.blockByHash(ctx, hash)
	if b == nil || err != nil {
		return nil, err
	}
	return MarshalBlock(b, true, fullTx, api.c.ChainConfig()), nil
}

// GetHeaderByNumber is eth_getHeaderByNumber: null for pending, and for a
// safe or finalized block the client has none of.
func (api *EthAPI) GetHeaderByNumber(ctx context.Context, number rpc.BlockNumber) (map[string]any, error) {
	if number == rpc.PendingBlockNumber {
		return nil, nil
	}
	h, err := api.numbered(ctx, number)
	var tagErr *client.TagError
	if errors.As(err, &tagErr) {
		return nil, nil
	}
	if h == nil || err != nil {
		return nil, err
	}
	return MarshalHeader(h), nil
}

// GetHeaderByHash is eth_getHeaderByHash.
func (api *EthAPI) GetHeaderByHash(ctx context.Context, hash common.Hash) (map[string]any, error) {
	h, err := api.hashed(ctx, hash)
	if h == nil || err != nil {
		return nil, err
	}
	return MarshalHeader(h), nil
}

// GetUncleByBlockNumberAndIndex is eth_getUncleByBlockNumberAndIndex.
func (api *EthAPI) GetUncleByBlockNumberAndIndex(ctx context.Context, number rpc.BlockNumber, index hexutil.Uint) (map[string]any, error) {
	b, err := api.blockByNumber(ctx, number)
	return api.uncle(b, index), err
}

// GetUncleByBlockHashAndIndex is eth_getUncleByBlockHashAndIndex.
func (api *EthAPI) GetUncleByBlockHashAndIndex(ctx context.Context, hash common.Hash, index hexutil.Uint) (map[string]any, error) {
	b, err := api.blockByHash(ctx, hash)
	return api.uncle(b, index), err
}

func (api *EthAPI) uncle(b *types.Block, index hexutil.Uint) map[string]any {
	if b == nil || int(index) >= len(b.Uncles()) {
		return nil
	}
	return MarshalBlock(types.NewBlockWithHeader(b.Uncles()[index]), false, false, api.c.ChainConfig())
}

// GetUncleCountByBlockNumber is eth_getUncleCountByBlockNumber.
func (api *EthAPI) GetUncleCountByBlockNumber(ctx context.Context, number rpc.BlockNumber) (*hexutil.Uint, error) {
	b, err := api.blockByNumber(ctx, number)
	return count(b, len(blockUncles(b))), err
}

// GetUncleCountByBlockHash is eth_getUncleCountByBlockHash.
func (api *EthAPI) GetUncleCountByBlockHash(ctx context.Context, hash common.Hash) (*hexutil.Uint, error) {
	b, err := api.blockByHash(ctx, hash)
	return count(b, len(blockUncles(b))), err
}

// GetBlockTransactionCountByNumber is eth_getBlockTransactionCountByNumber.
func (api *EthAPI) GetBlockTransactionCountByNumber(ctx context.Context, number rpc.BlockNumber) (*hexutil.Uint, error) {
	b, err := api.blockByNumber(ctx, number)
	return count(b, len(blockTxs(b))), err
}

// GetBlockTransactionCountByHash is eth_getBlockTransactionCountByHash.
func (api *EthAPI) GetBlockTransactionCountByHash(ctx context.Context, hash common.Hash) (*hexutil.Uint, error) {
	b, err := api.blockByHash(ctx, hash)
	return count(b, len(blockTxs(b))), err
}

// count is n when block b exists, null otherwise.
func count(b *types.Block, n int) *hexutil.Uint {
	if b == nil {
		return nil
	}
	c := hexutil.Uint(n)
	return &c
}

func blockTxs(b *types.Block) types.Transactions {
	if b == nil {
		return nil
	}
	return b.Transactions()
}

func blockUncles(b *types.Block) []*types.Header {
	if b == nil {
		return nil
	}
	return b.Uncles()
}

// GetTransactionByBlockNumberAndIndex is
// eth_getTransactionByBlockNumberAndIndex.
func (api *EthAPI) GetTransactionByBlockNumberAndIndex(ctx context.Context, number rpc.BlockNumber, index hexutil.Uint) (*RPCTransaction, error) {
	b, err := api.blockByNumber(ctx, number)
	return api.txAt(b, index), err
}

// GetTransactionByBlockHashAndIndex is eth_getTransactionByBlockHashAndIndex.
func (api *EthAPI) GetTransactionByBlockHashAndIndex(ctx context.Context, hash common.Hash, index hexutil.Uint) (*RPCTransaction, error) {
	b, err := api.blockByHash(ctx, hash)
	return api.txAt(b, index), err
}

func (api *EthAPI) txAt(b *types.Block, index hexutil.Uint) *RPCTransaction {
	if b == nil || int(index) >= len(b.Transactions()) {
		return nil
	}
	return NewRPCTransaction(b.Transactions()[index], b.Hash(), b.NumberU64(), b.Time(), uint64(index), b.BaseFee(), api.c.ChainConfig())
}

// GetRawTransactionByBlockNumberAndIndex is
// eth_getRawTransactionByBlockNumberAndIndex: "0x" when there is no such
// transaction, as in geth.
func (api *EthAPI) GetRawTransactionByBlockNumberAndIndex(ctx context.Context, number rpc.BlockNumber, index hexutil.Uint) hexutil.Bytes {
	b, _ := api.blockByNumber(ctx, number)
	return rawTxAt(b, index)
}

// GetRawTransactionByBlockHashAndIndex is
// eth_getRawTransactionByBlockHashAndIndex.
func (api *EthAPI) GetRawTransactionByBlockHashAndIndex(ctx context.Context, hash common.Hash, index hexutil.Uint) hexutil.Bytes {
	b, _ := api.blockByHash(ctx, hash)
	return rawTxAt(b, index)
}

func rawTxAt(b *types.Block, index hexutil.Uint) hexutil.Bytes {
	if b == nil || int(index) >= len(b.Transactions()) {
		return nil
	}
	raw, _ := b.Transactions()[index].MarshalBinary()
	return raw
}

// GetBlockReceipts is eth_getBlockReceipts.
func (api *EthAPI) GetBlockReceipts(ctx context.Context, bnh rpc.BlockNumberOrHash) ([]map[string]any, error) {
	var (
		h   *types.Header
		err error
	)
	if n, ok := bnh.Number(); ok {
		if n == rpc.PendingBlockNumber {
			return nil, errors.New("pending receipts is not available")
		}
		h, err = api.numbered(ctx, n)
	} else if hash, ok := bnh.Hash(); ok {
		if h, err = api.hashed(ctx, hash); h != nil && err == nil && bnh.RequireCanonical {
			var canon bool
			if canon, err = api.c.IsCanonical(ctx, h); err == nil && !canon {
				err = errNotCanonical
			}
		}
	} else {
		return nil, errNeitherNumberNorHash
	}
	if h == nil || err != nil {
		return nil, err
	}
	block, err := api.blockOf(ctx, h.Hash())
	if block == nil || err != nil {
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
