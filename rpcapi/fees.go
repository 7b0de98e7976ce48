package rpcapi

import (
	"context"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/consensus/misc/eip4844"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/client"
)

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

// suggestTip asks the fee oracle for a tip at the head.
func (api *EthAPI) suggestTip(ctx context.Context) (*big.Int, *types.Header, error) {
	head, err := api.c.CurrentHead()
	if err != nil {
		return nil, nil, err
	}
	tip, err := api.oracle.SuggestTipCap(ctx, feeSource{api.c}, api.c.ChainConfig(), head)
	return tip, head, err
}

// FeeHistory is eth_feeHistory. The safe and finalized tags end at the
// blocks the trusted servers vouch for; there is no pending block.
func (api *EthAPI) FeeHistory(ctx context.Context, blockCount math.HexOrDecimal64, lastBlock rpc.BlockNumber, rewardPercentiles []float64) (*FeeHistoryResult, error) {
	head, err := api.c.CurrentHead()
	if err != nil {
		return nil, err
	}
	tagged := func(n rpc.BlockNumber) (*types.Header, error) { return api.numbered(ctx, n) }
	return api.oracle.FeeHistory(ctx, feeSource{api.c}, api.c.ChainConfig(), head, uint64(blockCount), lastBlock, rewardPercentiles, tagged)
}

// BaseFee is eth_baseFee: the base fee of the block after the head (null
// before London).
func (api *EthAPI) BaseFee() (*hexutil.Big, error) {
	head, err := api.c.CurrentHead()
	if err != nil {
		return nil, err
	}
	cfg := api.c.ChainConfig()
	if !cfg.IsLondon(new(big.Int).Add(head.Number, common.Big1)) {
		return nil, nil
	}
	return (*hexutil.Big)(eip1559.CalcBaseFee(cfg, head)), nil
}

// BlobBaseFee is eth_blobBaseFee: the blob base fee at the head (null
// before Cancun).
func (api *EthAPI) BlobBaseFee() (*hexutil.Big, error) {
	head, err := api.c.CurrentHead()
	if err != nil {
		return nil, err
	}
	if head.ExcessBlobGas == nil {
		return nil, nil
	}
	return (*hexutil.Big)(eip4844.CalcBlobFee(api.c.ChainConfig(), head)), nil
}

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
