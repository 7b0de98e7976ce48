package rpcapi

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/consensus/misc/eip4844"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"
)

// FeeSource gives the fee oracle verified canonical blocks.
type FeeSource interface {
	HeaderByNumber(ctx context.Context, number uint64) (*types.Header, error)
	BlockByNumber(ctx context.Context, number uint64) (*types.Block, error)
	// ReceiptsByNumber returns receipts with derived fields (gas used).
	ReceiptsByNumber(ctx context.Context, number uint64) (types.Receipts, error)
}

// FeeOracleConfig are the oracle's parameters; zero values take the
// defaults of a geth full node (eth/ethconfig.FullNodeGPO).
type FeeOracleConfig struct {
	Blocks           int      // blocks sampled for a tip (20)
	Percentile       int      // percentile of sampled tips (60)
	MaxHeaderHistory uint64   // eth_feeHistory blocks without percentiles (1024)
	MaxBlockHistory  uint64   // eth_feeHistory blocks with percentiles (1024)
	MaxPrice         *big.Int // highest tip suggested (500 gwei)
	IgnorePrice      *big.Int // tips below are not sampled (2 wei)
	StartPrice       *big.Int // tip before any sample (geth's miner default, 0.001 gwei)
}

// Errors of eth_feeHistory, worded as geth words them.
var (
	errInvalidPercentile = errors.New("invalid reward percentile")
	errRequestBeyondHead = errors.New("request beyond head block")
)

const (
	tipSamplesPerBlock = 3   // lowest tips sampled in each block
	maxFeePercentiles  = 100 // percentiles in one eth_feeHistory
)

// FeeOracle suggests tips and answers fee history from verified blocks,
// with the same algorithm and defaults as geth's gas price oracle, so that
// eth_gasPrice, eth_maxPriorityFeePerGas and eth_feeHistory answer what a
// geth node answers for the same chain.
type FeeOracle struct {
	cfg FeeOracleConfig

	mu        sync.Mutex // one computation at a time; guards the cache
	lastHead  common.Hash
	lastPrice *big.Int
}

// NewFeeOracle creates an oracle.
func NewFeeOracle(cfg FeeOracleConfig) *FeeOracle {
	if cfg.Blocks < 1 {
		cfg.Blocks = 20
	}
	if cfg.Percentile <= 0 {
		cfg.Percentile = 60
	}
	cfg.Percentile = min(cfg.Percentile, 100)
	if cfg.MaxHeaderHistory == 0 {
		cfg.MaxHeaderHistory = 1024
	}
	if cfg.MaxBlockHistory == 0 {
		cfg.MaxBlockHistory = 1024
	}
	if cfg.MaxPrice == nil || cfg.MaxPrice.Sign() <= 0 {
		cfg.MaxPrice = big.NewInt(500 * params.GWei)
	}
	if cfg.IgnorePrice == nil || cfg.IgnorePrice.Sign() <= 0 {
		cfg.IgnorePrice = big.NewInt(2 * params.Wei)
	}
	if cfg.StartPrice == nil {
		cfg.StartPrice = big.NewInt(params.GWei / 1000)
	}
	return &FeeOracle{cfg: cfg, lastPrice: new(big.Int).Set(cfg.StartPrice)}
}

// SuggestTipCap suggests a priority fee: the configured percentile of the
// lowest tips paid in recent blocks, where a block without samples counts
// as the last suggestion. The answer is cached per head.
func (o *FeeOracle) SuggestTipCap(ctx context.Context, src FeeSource, config *params.ChainConfig, head *types.Header) (*big.Int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if head.Hash() == o.lastHead {
		return new(big.Int).Set(o.lastPrice), nil
	}
	// Geth samples Blocks blocks back from the head in parallel, and for
	// every block that gives at most one sample it fetches one more, while
	// samples plus outstanding blocks stay under twice Blocks. This walks
	// the same blocks in order.
	var (
		samples  []*big.Int
		next     = head.Number.Uint64()
		queue    []uint64
		inFlight int
	)
	for ; len(queue) < o.cfg.Blocks && next > 0; next-- {
		queue = append(queue, next)
	}
	inFlight = len(queue)
	for ; inFlight > 0; inFlight-- {
		n := queue[0]
		queue = queue[1:]
		block, err := src.BlockByNumber(ctx, n)
		if err != nil {
			return new(big.Int).Set(o.lastPrice), err
		}
		tips := o.blockTips(config, block)
		if len(tips) == 0 {
			tips = []*big.Int{o.lastPrice}
		}
		if len(tips) == 1 && len(samples)+1+(inFlight-1) < 2*o.cfg.Blocks && next > 0 {
			queue = append(queue, next)
			next--
			inFlight++
		}
		samples = append(samples, tips...)
	}
	price := o.lastPrice
	if len(samples) > 0 {
		slices.SortFunc(samples, func(a, b *big.Int) int { return a.Cmp(b) })
		price = samples[(len(samples)-1)*o.cfg.Percentile/100]
	}
	if price.Cmp(o.cfg.MaxPrice) > 0 {
		price = new(big.Int).Set(o.cfg.MaxPrice)
	}
	o.lastHead, o.lastPrice = head.Hash(), price
	return new(big.Int).Set(price), nil
}

// blockTips returns the lowest effective tips of a block's transactions,
// ignoring tiny tips and the block producer's own transactions.
func (o *FeeOracle) blockTips(config *params.ChainConfig, block *types.Block) []*big.Int {
	txs := slices.Clone(block.Transactions())
	baseFee := new(uint256.Int)
	if block.BaseFee() != nil {
		baseFee.SetFromBig(block.BaseFee())
	}
	slices.SortFunc(txs, func(a, b *types.Transaction) int { return a.EffectiveGasTipCmp(b, baseFee) })
	signer := types.MakeSigner(config, block.Number(), block.Time())
	var tips []*big.Int
	for _, tx := range txs {
		tip, _ := tx.EffectiveGasTip(block.BaseFee())
		if tip.Cmp(o.cfg.IgnorePrice) < 0 {
			continue
		}
		if sender, err := types.Sender(signer, tx); err == nil && sender != block.Coinbase() {
			tips = append(tips, tip)
			if len(tips) >= tipSamplesPerBlock {
				break
			}
		}
	}
	return tips
}

// FeeHistoryResult is the answer of eth_feeHistory.
type FeeHistoryResult struct {
	OldestBlock      *hexutil.Big     `json:"oldestBlock"`
	Reward           [][]*hexutil.Big `json:"reward,omitempty"`
	BaseFee          []*hexutil.Big   `json:"baseFeePerGas,omitempty"`
	GasUsedRatio     []float64        `json:"gasUsedRatio"`
	BlobBaseFee      []*hexutil.Big   `json:"baseFeePerBlobGas,omitempty"`
	BlobGasUsedRatio []float64        `json:"blobGasUsedRatio,omitempty"`
}

// FeeHistory answers eth_feeHistory for blockCount blocks ending at
// lastBlock. There is no pending block: "pending" ends at the head and
// returns one block fewer, as geth does on a backend without one.
// Safe and finalized blocks come from tagged.
func (o *FeeOracle) FeeHistory(ctx context.Context, src FeeSource, config *params.ChainConfig, head *types.Header, blockCount uint64, lastBlock rpc.BlockNumber, percentiles []float64, tagged func(rpc.BlockNumber) (*types.Header, error)) (*FeeHistoryResult, error) {
	empty := &FeeHistoryResult{OldestBlock: (*hexutil.Big)(new(big.Int))}
	if blockCount < 1 {
		return empty, nil
	}
	maxBlocks := o.cfg.MaxHeaderHistory
	if len(percentiles) != 0 {
		maxBlocks = o.cfg.MaxBlockHistory
	}
	if len(percentiles) > maxFeePercentiles {
		return nil, fmt.Errorf("%w: over the query limit %d", errInvalidPercentile, maxFeePercentiles)
	}
	blockCount = min(blockCount, maxBlocks)
	for i, p := range percentiles {
		if p < 0 || p > 100 {
			return nil, fmt.Errorf("%w: %f", errInvalidPercentile, p)
		}
		if i > 0 && p <= percentiles[i-1] {
			return nil, fmt.Errorf("%w: #%d:%f >= #%d:%f", errInvalidPercentile, i-1, percentiles[i-1], i, p)
		}
	}
	headNum := head.Number.Uint64()
	if lastBlock >= 0 && uint64(lastBlock) > headNum {
		return nil, fmt.Errorf("%w: requested %d, head %d", errRequestBeyondHead, lastBlock, headNum)
	}
	end := uint64(lastBlock)
	switch lastBlock {
	case rpc.PendingBlockNumber:
		end = headNum
		blockCount--
	case rpc.LatestBlockNumber:
		end = headNum
	case rpc.SafeBlockNumber, rpc.FinalizedBlockNumber:
		h, err := tagged(lastBlock)
		if err != nil {
			return nil, err
		}
		end = h.Number.Uint64()
	case rpc.EarliestBlockNumber:
		end = 0
	}
	if blockCount == 0 {
		return empty, nil
	}
	blockCount = min(blockCount, end+1)
	oldest := end + 1 - blockCount

	res := &FeeHistoryResult{OldestBlock: (*hexutil.Big)(new(big.Int).SetUint64(oldest))}
	for n := oldest; n <= end; n++ {
		var (
			header   *types.Header
			block    *types.Block
			receipts types.Receipts
			err      error
		)
		if len(percentiles) > 0 {
			if block, err = src.BlockByNumber(ctx, n); err == nil {
				header = block.Header()
				receipts, err = src.ReceiptsByNumber(ctx, n)
			}
		} else {
			header, err = src.HeaderByNumber(ctx, n)
		}
		if err != nil {
			return nil, err
		}
		f := blockFees(config, header, block, receipts, percentiles)
		// Each block's own fees, and after the last one the fees its
		// successor will have (a block's "next" fee, which geth overwrites
		// with the following block's own).
		res.BaseFee = append(res.BaseFee, (*hexutil.Big)(f.baseFee))
		res.BlobBaseFee = append(res.BlobBaseFee, (*hexutil.Big)(f.blobBaseFee))
		if n == end {
			res.BaseFee = append(res.BaseFee, (*hexutil.Big)(f.nextBaseFee))
			res.BlobBaseFee = append(res.BlobBaseFee, (*hexutil.Big)(f.nextBlobBaseFee))
		}
		res.GasUsedRatio = append(res.GasUsedRatio, f.gasUsedRatio)
		res.BlobGasUsedRatio = append(res.BlobGasUsedRatio, f.blobGasUsedRatio)
		if len(percentiles) > 0 {
			row := make([]*hexutil.Big, len(f.reward))
			for i, r := range f.reward {
				row[i] = (*hexutil.Big)(r)
			}
			res.Reward = append(res.Reward, row)
		}
	}
	return res, nil
}

type fees struct {
	baseFee, nextBaseFee         *big.Int
	blobBaseFee, nextBlobBaseFee *big.Int
	gasUsedRatio                 float64
	blobGasUsedRatio             float64
	reward                       []*big.Int
}

// blockFees computes one block's row of a fee history.
func blockFees(config *params.ChainConfig, h *types.Header, block *types.Block, receipts types.Receipts, percentiles []float64) fees {
	f := fees{baseFee: h.BaseFee, nextBaseFee: new(big.Int), blobBaseFee: new(big.Int), nextBlobBaseFee: new(big.Int)}
	if f.baseFee == nil {
		f.baseFee = new(big.Int)
	}
	if config.IsLondon(new(big.Int).SetUint64(h.Number.Uint64() + 1)) {
		f.nextBaseFee = eip1559.CalcBaseFee(config, h)
	}
	if h.ExcessBlobGas != nil {
		f.blobBaseFee = eip4844.CalcBlobFee(config, h)
		excess := eip4844.CalcExcessBlobGas(config, h, h.Time)
		f.nextBlobBaseFee = eip4844.CalcBlobFee(config, &types.Header{Number: h.Number, Time: h.Time, ExcessBlobGas: &excess})
	}
	f.gasUsedRatio = float64(h.GasUsed) / float64(h.GasLimit)
	if h.BlobGasUsed != nil {
		if max := eip4844.MaxBlobGasPerBlock(config, h.Time); max != 0 {
			f.blobGasUsedRatio = float64(*h.BlobGasUsed) / float64(max)
		}
	}
	if len(percentiles) == 0 {
		return f
	}
	f.reward = make([]*big.Int, len(percentiles))
	txs := block.Transactions()
	if len(txs) == 0 {
		for i := range f.reward {
			f.reward[i] = new(big.Int)
		}
		return f
	}
	type gasAndTip struct {
		gas uint64
		tip *big.Int
	}
	sorted := make([]gasAndTip, len(txs))
	for i, tx := range txs {
		tip, _ := tx.EffectiveGasTip(block.BaseFee())
		sorted[i] = gasAndTip{receipts[i].GasUsed, tip}
	}
	slices.SortStableFunc(sorted, func(a, b gasAndTip) int { return a.tip.Cmp(b.tip) })
	idx, sum := 0, sorted[0].gas
	for i, p := range percentiles {
		threshold := uint64(float64(block.GasUsed()) * p / 100)
		for sum < threshold && idx < len(sorted)-1 {
			idx++
			sum += sorted[idx].gas
		}
		f.reward[i] = sorted[idx].tip
	}
	return f
}
