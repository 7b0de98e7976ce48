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
)

// Limits of eth_getLogs. Every block whose bloom may match costs a body
// and receipts download, so the range is bounded (geth's own default is
// unbounded; a light client cannot afford that).
const (
	DefaultLogRange = 1000 // blocks per query
	maxLogTopics    = 4
	maxLogQuery     = 1000 // addresses, or alternatives per topic position (geth's default)
)

var (
	errInvalidBlockRange  = &invalidParamsError{"invalid block range params"}
	errBlockHashWithRange = &invalidParamsError{"can't specify fromBlock/toBlock with blockHash"}
	errUnknownBlock       = errors.New("unknown block")
	errExceedMaxTopics    = errors.New("exceed max topics")
	errExceedLogQuery     = errors.New("exceed max addresses or topics per search position")
)

// GetLogs is eth_getLogs, answered from receipts verified against their
// blocks' receipts roots; header blooms skip blocks that cannot match.
func (api *EthAPI) GetLogs(ctx context.Context, crit filters.FilterCriteria) ([]*types.Log, error) {
	if len(crit.Topics) > maxLogTopics {
		return nil, errExceedMaxTopics
	}
	if len(crit.Addresses) > maxLogQuery {
		return nil, errExceedLogQuery
	}
	for _, alts := range crit.Topics {
		if len(alts) > maxLogQuery {
			return nil, errExceedLogQuery
		}
	}
	out := []*types.Log{}
	if crit.BlockHash != nil {
		if crit.FromBlock != nil || crit.ToBlock != nil {
			return nil, errBlockHashWithRange
		}
		h, err := api.c.HeaderByHash(ctx, *crit.BlockHash)
		if errors.Is(err, client.ErrNotFound) {
			return nil, errUnknownBlock
		}
		if err != nil {
			return nil, err
		}
		return api.blockLogs(ctx, h, crit, out)
	}
	from, to := rpc.LatestBlockNumber, rpc.LatestBlockNumber
	if crit.FromBlock != nil {
		from = rpc.BlockNumber(crit.FromBlock.Int64())
	}
	if crit.ToBlock != nil {
		to = rpc.BlockNumber(crit.ToBlock.Int64())
	}
	if from >= 0 && to >= 0 && from > to {
		return nil, errInvalidBlockRange
	}
	first, err := api.header(ctx, from)
	if err != nil {
		return nil, err
	}
	last, err := api.header(ctx, to)
	if err != nil {
		return nil, err
	}
	if first == nil || last == nil {
		return out, nil // beyond the head: nothing yet
	}
	lo, hi := first.Number.Uint64(), last.Number.Uint64()
	if lo > hi {
		return nil, errInvalidBlockRange
	}
	if hi-lo+1 > api.logRange {
		return nil, fmt.Errorf("exceed maximum block range: %d", api.logRange)
	}
	for n := lo; n <= hi; n++ {
		h, err := api.c.HeaderByNumber(ctx, n)
		if err != nil {
			return nil, err
		}
		if out, err = api.blockLogs(ctx, h, crit, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// blockLogs appends the logs of one block that match crit, fetching its
// receipts only when the header's bloom says they may.
func (api *EthAPI) blockLogs(ctx context.Context, h *types.Header, crit filters.FilterCriteria, out []*types.Log) ([]*types.Log, error) {
	if !bloomMatches(h.Bloom, crit.Addresses, crit.Topics) {
		return out, nil
	}
	receipts, err := api.c.Receipts(ctx, h.Hash())
	if err != nil {
		return nil, err
	}
	for _, r := range receipts {
		for _, l := range r.Logs {
			if logMatches(l, crit.Addresses, crit.Topics) {
				out = append(out, l)
			}
		}
	}
	return out, nil
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
