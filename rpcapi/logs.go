package rpcapi

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/evmcall"
)

// Limits of eth_getLogs. Every block whose bloom may match costs a body
// and receipts download, so the range is bounded (geth's own default is
// unbounded; a light client cannot afford that).
const (
	// DefaultLogRange bounds the blocks of one query read one by one:
	// every block when the filter has no address and no topic, or when
	// neither a history root nor the tail's root is had. Blocks in signed
	// sections and in the tail are searched with their bloom bits and do
	// not count.
	DefaultLogRange = 10_000
	maxLogTopics    = 4
	maxLogQuery     = 1000 // addresses, or alternatives per topic position (geth's default)
)

// The errors of log queries, as geth gives them.
var (
	errInvalidBlockRange      = &evmcall.InvalidParamsError{Message: "invalid block range params"}
	errBlockRangeIntoFuture   = &evmcall.InvalidParamsError{Message: "block range extends beyond current head block"}
	errBlockHashWithRange     = &evmcall.InvalidParamsError{Message: "can't specify fromBlock/toBlock with blockHash"}
	errPendingLogsUnsupported = &evmcall.InvalidParamsError{Message: "pending logs are not supported"}
	errUnknownBlock           = errors.New("unknown block")
	errExceedMaxTopics        = errors.New("exceed max topics")
	errExceedLogQuery         = errors.New("exceed max addresses or topics per search position")
)

// checkCriteria applies geth's limits on a filter's addresses and topics.
func checkCriteria(crit filters.FilterCriteria) error {
	if len(crit.Topics) > maxLogTopics {
		return errExceedMaxTopics
	}
	if len(crit.Addresses) > maxLogQuery {
		return errExceedLogQuery
	}
	for _, alts := range crit.Topics {
		if len(alts) > maxLogQuery {
			return errExceedLogQuery
		}
	}
	return nil
}

// GetLogs is eth_getLogs, answered from receipts verified against their
// blocks' receipts roots; header blooms skip blocks that cannot match.
func (api *EthAPI) GetLogs(ctx context.Context, crit filters.FilterCriteria) ([]*types.Log, error) {
	if err := checkCriteria(crit); err != nil {
		return nil, err
	}
	if crit.BlockHash != nil {
		if crit.FromBlock != nil || crit.ToBlock != nil {
			return nil, errBlockHashWithRange
		}
		return api.hashLogs(ctx, *crit.BlockHash, crit)
	}
	from, to := rpc.LatestBlockNumber, rpc.LatestBlockNumber
	if crit.FromBlock != nil {
		from = rpc.BlockNumber(crit.FromBlock.Int64())
	}
	if crit.ToBlock != nil {
		to = rpc.BlockNumber(crit.ToBlock.Int64())
	}
	return api.rangeLogs(ctx, from, to, crit)
}

// hashLogs returns the matching logs of one block, by hash.
func (api *EthAPI) hashLogs(ctx context.Context, hash common.Hash, crit filters.FilterCriteria) ([]*types.Log, error) {
	h, err := api.hashed(ctx, hash)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errUnknownBlock
	}
	return api.blockLogs(ctx, h, crit.Addresses, crit.Topics, []*types.Log{})
}

// rangeLogs returns the matching logs of a range of canonical blocks.
// Unlike geth, tags are resolved before the range limit applies, so that
// "from block N to latest" works within the limit.
func (api *EthAPI) rangeLogs(ctx context.Context, from, to rpc.BlockNumber, crit filters.FilterCriteria) ([]*types.Log, error) {
	if from >= 0 && to >= 0 && from > to {
		return nil, errInvalidBlockRange
	}
	if from == rpc.PendingBlockNumber || to == rpc.PendingBlockNumber {
		return nil, errPendingLogsUnsupported
	}
	head, err := api.c.CurrentHead()
	if err != nil {
		return nil, err
	}
	lo, err := api.logBound(ctx, from, head)
	if err != nil {
		return nil, err
	}
	hi, err := api.logBound(ctx, to, head)
	if err != nil {
		return nil, err
	}
	// geth reads "from latest" as "from the block after all others": only
	// "to latest" can follow it.
	if lo > hi || from == rpc.LatestBlockNumber && to != rpc.LatestBlockNumber {
		return nil, errInvalidBlockRange
	}
	// Blocks in signed history sections and in the tail are searched with
	// bloom bits, at a cost that follows the matches; the range limit
	// bounds the blocks read one by one.
	next := lo
	filtered := len(crit.Addresses) > 0 || slices.ContainsFunc(crit.Topics, func(ts []common.Hash) bool { return len(ts) > 0 })
	if filtered {
		next = api.c.SectionsCover(lo, hi)
	}
	if hi >= next && hi-next > api.logRange {
		return nil, &evmcall.InvalidParamsError{Message: fmt.Sprintf("exceed maximum block range %d", api.logRange)}
	}
	if hi > head.Number.Uint64() {
		return nil, errBlockRangeIntoFuture
	}
	out := []*types.Log{}
	if next > lo {
		// The candidates' headers, bodies and receipts come in one round
		// trip; a candidate's logs are matched one by one (its bloom
		// matched bit by bit).
		_, receipts, next, err := api.c.LogBlocks(ctx, lo, hi, crit.Addresses, crit.Topics)
		if err != nil {
			return nil, err
		}
		if hi >= next && hi-next > api.logRange {
			// The tail was expected and not had.
			return nil, &evmcall.InvalidParamsError{Message: fmt.Sprintf("exceed maximum block range %d", api.logRange)}
		}
		for _, rs := range receipts {
			out = appendMatching(out, rs, crit.Addresses, crit.Topics)
		}
		lo = next
	}
	if lo <= hi {
		if err := api.c.LinkBack(ctx, lo); err != nil {
			return nil, err
		}
	}
	for n := lo; n <= hi; n++ {
		h, err := api.c.HeaderByNumber(ctx, n)
		if err != nil {
			return nil, err
		}
		if out, err = api.blockLogs(ctx, h, crit.Addresses, crit.Topics, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// logBound resolves one end of a log range as geth's filter does.
func (api *EthAPI) logBound(ctx context.Context, n rpc.BlockNumber, head *types.Header) (uint64, error) {
	switch n {
	case rpc.LatestBlockNumber:
		return head.Number.Uint64(), nil
	case rpc.EarliestBlockNumber:
		return 0, nil
	case rpc.SafeBlockNumber, rpc.FinalizedBlockNumber:
		h, err := api.numbered(ctx, n)
		var tagErr *client.TagError
		if errors.As(err, &tagErr) {
			msg := tagErr.Tag.String() + " header not found"
			if tagErr.Reason != "" {
				msg += ": " + tagErr.Reason
			}
			return 0, errors.New(msg)
		}
		if err != nil {
			return 0, err
		}
		return h.Number.Uint64(), nil
	}
	if n < 0 {
		return 0, errors.New("negative block number")
	}
	return uint64(n), nil
}

// blockLogs appends the logs of one block that match, fetching its
// receipts only when the header's bloom says they may.
func (api *EthAPI) blockLogs(ctx context.Context, h *types.Header, addrs []common.Address, topics [][]common.Hash, out []*types.Log) ([]*types.Log, error) {
	if !bloomMatches(h.Bloom, addrs, topics) {
		return out, nil
	}
	receipts, err := api.c.Receipts(ctx, h.Hash())
	if err != nil {
		return nil, err
	}
	return appendMatching(out, receipts, addrs, topics), nil
}

// appendMatching appends the logs of a block's receipts that match.
func appendMatching(out []*types.Log, receipts types.Receipts, addrs []common.Address, topics [][]common.Hash) []*types.Log {
	for _, r := range receipts {
		for _, l := range r.Logs {
			if logMatches(l, addrs, topics) {
				out = append(out, l)
			}
		}
	}
	return out
}

func bloomMatches(bloom types.Bloom, addrs []common.Address, topics [][]common.Hash) bool {
	if len(addrs) > 0 && !slices.ContainsFunc(addrs, func(a common.Address) bool { return types.BloomLookup(bloom, a) }) {
		return false
	}
	for _, alts := range topics {
		if len(alts) > 0 && !slices.ContainsFunc(alts, func(t common.Hash) bool { return types.BloomLookup(bloom, t) }) {
			return false
		}
	}
	return true
}

func logMatches(l *types.Log, addrs []common.Address, topics [][]common.Hash) bool {
	if len(addrs) > 0 && !slices.Contains(addrs, l.Address) {
		return false
	}
	if len(topics) > len(l.Topics) {
		return false
	}
	for i, alts := range topics {
		if len(alts) > 0 && !slices.Contains(alts, l.Topics[i]) {
			return false
		}
	}
	return true
}
