package rpcapi

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/client"
)

// Limits of filters and subscriptions.
const (
	filterTimeout    = 5 * time.Minute // unpolled filters expire, as in geth
	maxFilters       = 10_000          // installed filters and subscriptions
	maxFilterBacklog = 100_000         // items a filter keeps until polled
	maxReorgDepth    = 128             // blocks followed back on a reorg
	maxTxHashes      = 200             // hashes of a transactionReceipts subscription
	maxPendingSent   = 10_000          // transactions sent through the client, remembered
)

var (
	errFilterNotFound    = errors.New("filter not found")
	errTooManyFilters    = errors.New("too many filters installed")
	errExceedMaxTxHashes = errors.New("exceed max number of transaction hashes allowed per transactionReceipts subscription")
)

// A watcher receives chain events: the blocks that became canonical, in
// order, and those that stopped being canonical. It is called on the
// events goroutine and must not block.
type watcher interface {
	// wantsReceipts reports whether the watcher needs the receipts of a
	// block with this bloom.
	wantsReceipts(bloom types.Bloom) bool
	// everyBlock reports whether the watcher must see every block that
	// joins the chain; one that does not (newHeads) is given only the new
	// head after a gap (a client back from the background).
	everyBlock() bool
	added(b *types.Block, receipts types.Receipts)
	removed(b *types.Block, receipts types.Receipts)
	pending(tx *types.Transaction)
}

// events follows the client's accepted chain and feeds every new
// canonical block (and, on a reorg, every removed one) to the installed
// filters and subscriptions; it also passes on the transactions sent
// through the client. It owns one goroutine, stopped by close.
type events struct {
	c   *client.Client
	log log.Logger

	mu       sync.Mutex
	watchers map[rpc.ID]watcher
	filters  map[rpc.ID]*filter
	// transactions sent through the client and not yet seen in a block, by
	// sender: the highest nonce sent plus one.
	sentNonce map[common.Address]uint64
	sentTxs   map[common.Hash]common.Address

	// canonical blocks processed, by number, for finding a reorg's fork
	// point; guarded by the events goroutine alone.
	recent map[uint64]common.Hash
	last   *types.Header

	quit chan struct{}
	done chan struct{}
}

func newEvents(c *client.Client, logger log.Logger) *events {
	ev := &events{
		c:         c,
		log:       logger,
		watchers:  make(map[rpc.ID]watcher),
		filters:   make(map[rpc.ID]*filter),
		sentNonce: make(map[common.Address]uint64),
		sentTxs:   make(map[common.Hash]common.Address),
		recent:    make(map[uint64]common.Hash),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go ev.loop()
	return ev
}

func (ev *events) close() {
	close(ev.quit)
	<-ev.done
}

func (ev *events) loop() {
	defer close(ev.done)
	heads := make(chan *types.Header, 64)
	sub := ev.c.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	expire := time.NewTicker(filterTimeout / 10)
	defer expire.Stop()
	ev.last = ev.c.Head()
	if ev.last != nil {
		ev.recent[ev.last.Number.Uint64()] = ev.last.Hash()
	}
	for {
		select {
		case h := <-heads:
			ev.newHead(h)
		case <-expire.C:
			ev.expire(time.Now())
		case <-sub.Err():
			return
		case <-ev.quit:
			return
		}
	}
}

// newHead works out which blocks joined and left the canonical chain since
// the last head and tells the watchers.
func (ev *events) newHead(h *types.Header) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var added []*types.Header
	cur := h
	// After a gap, the blocks missed are fetched only for a watcher that
	// must see each of them.
	skipGap := ev.last != nil && h.Number.Uint64() > ev.last.Number.Uint64()+gapBlocks && !ev.needEveryBlock()
	for depth := 0; ; depth++ {
		n := cur.Number.Uint64()
		if ev.last == nil || depth >= maxReorgDepth || skipGap {
			added = append(added, cur)
			break
		}
		if hash, ok := ev.recent[n]; ok && hash == cur.Hash() {
			break // the fork point
		}
		added = append(added, cur)
		if n == 0 {
			break
		}
		parent, err := ev.c.HeaderByHash(ctx, cur.ParentHash)
		if err != nil {
			ev.log.Debug("Cannot follow the new head back", "number", n-1, "err", err)
			break
		}
		cur = parent
	}
	// Blocks above the fork point left the chain.
	var removed []common.Hash
	forkAt := h.Number.Uint64() + 1
	if len(added) > 0 {
		forkAt = added[len(added)-1].Number.Uint64()
	}
	if ev.last != nil {
		for n := ev.last.Number.Uint64(); n >= forkAt; n-- {
			if hash, ok := ev.recent[n]; ok {
				removed = append(removed, hash)
				delete(ev.recent, n)
			}
			if n == 0 {
				break
			}
		}
	}
	for _, hash := range removed {
		ev.deliver(ctx, hash, true)
	}
	for i := len(added) - 1; i >= 0; i-- {
		b := added[i]
		ev.recent[b.Number.Uint64()] = b.Hash()
		ev.deliver(ctx, b.Hash(), false)
	}
	ev.last = h
	for n := range ev.recent {
		if n+maxReorgDepth < h.Number.Uint64() {
			delete(ev.recent, n)
		}
	}
}

// gapBlocks is the widest gap between two heads whose blocks the events
// fetch for watchers that need not see every block.
const gapBlocks = 16

// needEveryBlock says whether a watcher must see every block, or a sent
// transaction is still looked for in them.
func (ev *events) needEveryBlock() bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.sentTxs) > 0 {
		return true
	}
	for _, w := range ev.watchers {
		if w.everyBlock() {
			return true
		}
	}
	return false
}

// deliver hands one added or removed block to the watchers, with its
// receipts when some watcher needs them. The block's body is fetched only
// when receipts are wanted or a sent transaction is looked for: newHeads
// and block filters need the header alone.
func (ev *events) deliver(ctx context.Context, hash common.Hash, removed bool) {
	ev.mu.Lock()
	ws := make([]watcher, 0, len(ev.watchers))
	for _, w := range ev.watchers {
		ws = append(ws, w)
	}
	sent := len(ev.sentTxs)
	ev.mu.Unlock()
	if len(ws) == 0 && sent == 0 {
		return
	}
	header, err := ev.c.HeaderByHash(ctx, hash)
	if err != nil {
		ev.log.Debug("Cannot fetch header for filters", "hash", hash, "err", err)
		return
	}
	body := sent > 0
	for _, w := range ws {
		body = body || w.wantsReceipts(header.Bloom)
	}
	block := types.NewBlockWithHeader(header)
	if body {
		if block, err = ev.c.Block(ctx, hash); err != nil {
			ev.log.Debug("Cannot fetch block for filters", "hash", hash, "err", err)
			return
		}
	}
	var receipts types.Receipts
	for _, w := range ws {
		if w.wantsReceipts(block.Bloom()) {
			if receipts, err = ev.c.Receipts(ctx, hash); err != nil {
				ev.log.Debug("Cannot fetch receipts for filters", "hash", hash, "err", err)
			}
			break
		}
	}
	if !removed {
		ev.mined(block)
	}
	for _, w := range ws {
		if removed {
			w.removed(block, receipts)
		} else {
			w.added(block, receipts)
		}
	}
}

// mined forgets sent transactions that a block holds.
func (ev *events) mined(b *types.Block) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, tx := range b.Transactions() {
		delete(ev.sentTxs, tx.Hash())
	}
}

// sent records a transaction sent through the client and tells the
// pending-transaction watchers.
func (ev *events) sent(tx *types.Transaction, cfg *params.ChainConfig, head *types.Header) {
	signer := types.LatestSigner(cfg)
	from, err := types.Sender(signer, tx)
	if err != nil {
		return
	}
	ev.mu.Lock()
	if len(ev.sentTxs) < maxPendingSent {
		ev.sentTxs[tx.Hash()] = from
		ev.sentNonce[from] = max(ev.sentNonce[from], tx.Nonce()+1)
	}
	ws := make([]watcher, 0, len(ev.watchers))
	for _, w := range ev.watchers {
		ws = append(ws, w)
	}
	ev.mu.Unlock()
	for _, w := range ws {
		w.pending(tx)
	}
}

// pendingNonce is the next nonce of addr after the transactions it sent
// through the client that no block holds yet (0 when none).
func (ev *events) pendingNonce(addr common.Address) uint64 {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, from := range ev.sentTxs {
		if from == addr {
			return ev.sentNonce[addr]
		}
	}
	return 0
}

func (ev *events) watch(id rpc.ID, w watcher) error {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.watchers) >= maxFilters {
		return errTooManyFilters
	}
	ev.watchers[id] = w
	return nil
}

func (ev *events) unwatch(id rpc.ID) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	delete(ev.watchers, id)
	delete(ev.filters, id)
}

// expire uninstalls filters nobody polled for filterTimeout.
func (ev *events) expire(now time.Time) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for id, f := range ev.filters {
		if f.expired(now) {
			delete(ev.filters, id)
			delete(ev.watchers, id)
		}
	}
}

// logCriteria are the criteria of a log filter or subscription, checked as
// geth checks them: from and to are numbers or "latest".
type logCriteria struct {
	crit     filters.FilterCriteria
	from, to *big.Int // nil: no bound
}

func newLogCriteria(crit filters.FilterCriteria) (*logCriteria, error) {
	if err := checkCriteria(crit); err != nil {
		return nil, err
	}
	from, to := rpc.LatestBlockNumber, rpc.LatestBlockNumber
	if crit.FromBlock != nil {
		from = rpc.BlockNumber(crit.FromBlock.Int64())
	}
	if crit.ToBlock != nil {
		to = rpc.BlockNumber(crit.ToBlock.Int64())
	}
	if from == rpc.PendingBlockNumber || to == rpc.PendingBlockNumber {
		return nil, errPendingLogsUnsupported
	}
	if from == rpc.EarliestBlockNumber {
		from = 0
	}
	if to == rpc.EarliestBlockNumber {
		to = 0
	}
	lc := &logCriteria{crit: crit}
	switch {
	case from == rpc.LatestBlockNumber && to == rpc.LatestBlockNumber:
	case from >= 0 && to >= 0 && to >= from:
		lc.from, lc.to = big.NewInt(int64(from)), big.NewInt(int64(to))
	case from >= 0 && to == rpc.LatestBlockNumber:
		lc.from = big.NewInt(int64(from))
	default:
		return nil, errInvalidBlockRange
	}
	return lc, nil
}

// match returns the logs of receipts that meet the criteria.
func (lc *logCriteria) match(receipts types.Receipts, removed bool) []*types.Log {
	var out []*types.Log
	for _, r := range receipts {
		for _, l := range r.Logs {
			if lc.from != nil && lc.from.Uint64() > l.BlockNumber || lc.to != nil && lc.to.Uint64() < l.BlockNumber {
				continue
			}
			if !logMatches(l, lc.crit.Addresses, lc.crit.Topics) {
				continue
			}
			if removed {
				cp := *l
				cp.Removed = true
				l = &cp
			}
			out = append(out, l)
		}
	}
	return out
}

func (lc *logCriteria) wantsReceipts(bloom types.Bloom) bool {
	return bloomMatches(bloom, lc.crit.Addresses, lc.crit.Topics)
}

// filter is a polled filter: eth_newFilter, eth_newBlockFilter or
// eth_newPendingTransactionFilter.
type filter struct {
	mu       sync.Mutex
	kind     filterKind
	deadline time.Time
	logs     *logCriteria
	items    []any // logs, block hashes or transactions since the last poll
	fullTx   bool
}

type filterKind int

const (
	logFilter filterKind = iota
	blockFilter
	pendingTxFilter
)

func (f *filter) expired(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return now.After(f.deadline)
}

func (f *filter) push(items ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.items)+len(items) > maxFilterBacklog {
		drop := min(len(f.items), len(f.items)+len(items)-maxFilterBacklog)
		f.items = f.items[drop:]
	}
	f.items = append(f.items, items...)
}

func (f *filter) wantsReceipts(bloom types.Bloom) bool {
	return f.kind == logFilter && f.logs.wantsReceipts(bloom)
}

func (f *filter) everyBlock() bool { return f.kind == logFilter || f.kind == blockFilter }

func (f *filter) added(b *types.Block, receipts types.Receipts) {
	switch f.kind {
	case blockFilter:
		f.push(b.Hash())
	case logFilter:
		for _, l := range f.logs.match(receipts, false) {
			f.push(l)
		}
	}
}

func (f *filter) removed(b *types.Block, receipts types.Receipts) {
	if f.kind == logFilter {
		for _, l := range f.logs.match(receipts, true) {
			f.push(l)
		}
	}
}

func (f *filter) pending(tx *types.Transaction) {
	if f.kind == pendingTxFilter {
		f.push(tx)
	}
}

// FilterAPI is the filter half of the eth_ namespace: polled filters and
// subscriptions to new logs, heads, pending transactions and receipts.
type FilterAPI struct {
	eth *EthAPI
	ev  *events
}

func (api *FilterAPI) install(kind filterKind, lc *logCriteria, fullTx bool) (rpc.ID, error) {
	id := rpc.NewID()
	f := &filter{kind: kind, logs: lc, fullTx: fullTx, deadline: time.Now().Add(filterTimeout)}
	if err := api.ev.watch(id, f); err != nil {
		return "", err
	}
	api.ev.mu.Lock()
	api.ev.filters[id] = f
	api.ev.mu.Unlock()
	return id, nil
}

// NewFilter is eth_newFilter: logs of new blocks that match.
func (api *FilterAPI) NewFilter(crit filters.FilterCriteria) (rpc.ID, error) {
	lc, err := newLogCriteria(crit)
	if err != nil {
		return "", err
	}
	return api.install(logFilter, lc, false)
}

// NewBlockFilter is eth_newBlockFilter: hashes of new blocks.
func (api *FilterAPI) NewBlockFilter() (rpc.ID, error) {
	return api.install(blockFilter, nil, false)
}

// NewPendingTransactionFilter is eth_newPendingTransactionFilter: the
// transactions sent through this client (the client sees no mempool).
func (api *FilterAPI) NewPendingTransactionFilter(fullTx *bool) (rpc.ID, error) {
	return api.install(pendingTxFilter, nil, fullTx != nil && *fullTx)
}

// UninstallFilter is eth_uninstallFilter.
func (api *FilterAPI) UninstallFilter(id rpc.ID) bool {
	api.ev.mu.Lock()
	_, found := api.ev.filters[id]
	api.ev.mu.Unlock()
	if found {
		api.ev.unwatch(id)
	}
	return found
}

// GetFilterChanges is eth_getFilterChanges: what happened since the last
// poll.
func (api *FilterAPI) GetFilterChanges(id rpc.ID) (any, error) {
	api.ev.mu.Lock()
	f := api.ev.filters[id]
	api.ev.mu.Unlock()
	if f == nil {
		return []any{}, errFilterNotFound
	}
	f.mu.Lock()
	items := f.items
	f.items = nil
	f.deadline = time.Now().Add(filterTimeout)
	f.mu.Unlock()
	switch f.kind {
	case blockFilter:
		hashes := make([]common.Hash, len(items))
		for i, it := range items {
			hashes[i] = it.(common.Hash)
		}
		return hashes, nil
	case pendingTxFilter:
		if f.fullTx {
			head, cfg := api.eth.c.Head(), api.eth.c.ChainConfig()
			txs := make([]*RPCTransaction, len(items))
			for i, it := range items {
				txs[i] = NewRPCPendingTransaction(it.(*types.Transaction), head, cfg)
			}
			return txs, nil
		}
		hashes := make([]common.Hash, len(items))
		for i, it := range items {
			hashes[i] = it.(*types.Transaction).Hash()
		}
		return hashes, nil
	}
	logs := make([]*types.Log, len(items))
	for i, it := range items {
		logs[i] = it.(*types.Log)
	}
	return logs, nil
}

// GetFilterLogs is eth_getFilterLogs: every log matching a log filter's
// criteria, as eth_getLogs would answer them.
func (api *FilterAPI) GetFilterLogs(ctx context.Context, id rpc.ID) ([]*types.Log, error) {
	api.ev.mu.Lock()
	f := api.ev.filters[id]
	api.ev.mu.Unlock()
	if f == nil || f.kind != logFilter {
		return nil, errFilterNotFound
	}
	return api.eth.GetLogs(ctx, f.logs.crit)
}
