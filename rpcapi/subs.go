package rpcapi

import (
	"context"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/rpc"
)

// subscription is an eth_subscribe subscription: a watcher whose events
// are queued and sent to the caller by a goroutine of its own, so that the
// events goroutine never waits for a slow connection.
type subscription struct {
	mu    sync.Mutex
	queue []any
	wake  chan struct{}

	receipts func(bloom types.Bloom) bool
	onAdded  func(b *types.Block, receipts types.Receipts) []any
	onRemove func(b *types.Block, receipts types.Receipts) []any
	onTx     func(tx *types.Transaction) []any
}

func (s *subscription) push(items []any) {
	if len(items) == 0 {
		return
	}
	s.mu.Lock()
	if len(s.queue)+len(items) > maxFilterBacklog {
		drop := min(len(s.queue), len(s.queue)+len(items)-maxFilterBacklog)
		s.queue = s.queue[drop:]
	}
	s.queue = append(s.queue, items...)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscription) wantsReceipts(bloom types.Bloom) bool {
	return s.receipts != nil && s.receipts(bloom)
}

func (s *subscription) everyBlock() bool { return s.receipts != nil }

func (s *subscription) added(b *types.Block, receipts types.Receipts) {
	if s.onAdded != nil {
		s.push(s.onAdded(b, receipts))
	}
}

func (s *subscription) removed(b *types.Block, receipts types.Receipts) {
	if s.onRemove != nil {
		s.push(s.onRemove(b, receipts))
	}
}

func (s *subscription) pending(tx *types.Transaction) {
	if s.onTx != nil {
		s.push(s.onTx(tx))
	}
}

// subscribe installs s and runs its sender until the caller unsubscribes.
func (api *FilterAPI) subscribe(ctx context.Context, s *subscription) (*rpc.Subscription, error) {
	notifier, supported := rpc.NotifierFromContext(ctx)
	if !supported {
		return &rpc.Subscription{}, rpc.ErrNotificationsUnsupported
	}
	sub := notifier.CreateSubscription()
	s.wake = make(chan struct{}, 1)
	if err := api.ev.watch(sub.ID, s); err != nil {
		return nil, err
	}
	go func() {
		defer api.ev.unwatch(sub.ID)
		for {
			select {
			case <-s.wake:
				s.mu.Lock()
				items := s.queue
				s.queue = nil
				s.mu.Unlock()
				for _, it := range items {
					if err := notifier.Notify(sub.ID, it); err != nil {
						return
					}
				}
			case <-sub.Err():
				return
			}
		}
	}()
	return sub, nil
}

// NewHeads is eth_subscribe("newHeads"): the header of every block that
// joins the accepted chain, in order.
func (api *FilterAPI) NewHeads(ctx context.Context) (*rpc.Subscription, error) {
	return api.subscribe(ctx, &subscription{
		onAdded: func(b *types.Block, _ types.Receipts) []any { return []any{MarshalHeader(b.Header())} },
	})
}

// Logs is eth_subscribe("logs"): logs of new blocks that match, and,
// marked removed, those of blocks a reorg took out.
func (api *FilterAPI) Logs(ctx context.Context, crit filters.FilterCriteria) (*rpc.Subscription, error) {
	lc, err := newLogCriteria(crit)
	if err != nil {
		return nil, err
	}
	logs := func(removed bool) func(*types.Block, types.Receipts) []any {
		return func(_ *types.Block, receipts types.Receipts) []any {
			matched := lc.match(receipts, removed)
			out := make([]any, len(matched))
			for i, l := range matched {
				out[i] = l
			}
			return out
		}
	}
	return api.subscribe(ctx, &subscription{receipts: lc.wantsReceipts, onAdded: logs(false), onRemove: logs(true)})
}

// NewPendingTransactions is eth_subscribe("newPendingTransactions"): the
// transactions sent through this client, by hash or in full.
func (api *FilterAPI) NewPendingTransactions(ctx context.Context, fullTx *bool) (*rpc.Subscription, error) {
	full := fullTx != nil && *fullTx
	return api.subscribe(ctx, &subscription{
		onTx: func(tx *types.Transaction) []any {
			if full {
				return []any{NewRPCPendingTransaction(tx, api.eth.c.Head(), api.eth.c.ChainConfig())}
			}
			return []any{tx.Hash()}
		},
	})
}

// TransactionReceiptsQuery selects the receipts of a transactionReceipts
// subscription: those of the given transactions, or all when empty.
type TransactionReceiptsQuery struct {
	TransactionHashes []common.Hash `json:"transactionHashes"`
}

// TransactionReceipts is eth_subscribe("transactionReceipts"): for every
// new block, the receipts of its transactions (of the given ones only,
// when hashes are given), as eth_getTransactionReceipt gives them.
func (api *FilterAPI) TransactionReceipts(ctx context.Context, q *TransactionReceiptsQuery) (*rpc.Subscription, error) {
	var want map[common.Hash]bool
	if q != nil && len(q.TransactionHashes) > 0 {
		if len(q.TransactionHashes) > maxTxHashes {
			return nil, errExceedMaxTxHashes
		}
		want = make(map[common.Hash]bool)
		for _, h := range q.TransactionHashes {
			want[h] = true
		}
	}
	cfg := api.eth.c.ChainConfig()
	return api.subscribe(ctx, &subscription{
		receipts: func(types.Bloom) bool { return true },
		onAdded: func(b *types.Block, receipts types.Receipts) []any {
			signer := types.LatestSigner(cfg)
			var out []map[string]any
			for i, tx := range b.Transactions() {
				if i >= len(receipts) || want != nil && !want[tx.Hash()] {
					continue
				}
				out = append(out, MarshalReceipt(receipts[i], b.Hash(), b.NumberU64(), signer, tx, i))
			}
			if len(out) == 0 {
				return nil
			}
			return []any{out}
		},
	})
}
