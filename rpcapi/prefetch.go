package rpcapi

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/client"
)

// A dapp polls the same calls block after block (balances, allowances,
// quotes). The prefetcher remembers the calls made at the head and, when a
// new head arrives, asks for their witnesses at it from spare capacity, so
// that the next poll is answered from verified state without a round
// trip. A call that arrives while its prefetch is in flight waits for it.
const (
	prefetchWindow   = time.Minute     // calls made within are prefetched
	prefetchMax      = 16              // calls prefetched per head
	prefetchRemember = 256             // calls remembered
	prefetchTimeout  = 2 * time.Second // per witness
)

type prefetcher struct {
	c   *client.Client
	log log.Logger

	mu       sync.Mutex
	recent   map[string]*recentCall // by method and parameters
	inflight map[prefetchKey]chan struct{}

	quit chan struct{}
	done chan struct{}
}

// recentCall is a call made at the head.
type recentCall struct {
	method string
	params []byte
	used   time.Time
}

type prefetchKey struct {
	block common.Hash
	call  string // method and parameters
}

func newPrefetcher(c *client.Client, logger log.Logger) *prefetcher {
	p := &prefetcher{
		c: c, log: logger,
		recent:   make(map[string]*recentCall),
		inflight: make(map[prefetchKey]chan struct{}),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go p.loop()
	return p
}

func (p *prefetcher) close() {
	close(p.quit)
	<-p.done
}

func callID(method string, params []byte) string { return method + string(params) }

// note remembers a call made at the head.
func (p *prefetcher) note(method string, params []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := callID(method, params)
	if rc := p.recent[id]; rc != nil {
		rc.used = time.Now()
		return
	}
	if len(p.recent) >= prefetchRemember {
		p.forgetOldest()
	}
	p.recent[id] = &recentCall{method: method, params: params, used: time.Now()}
}

func (p *prefetcher) forgetOldest() {
	var oldest string
	for id, rc := range p.recent {
		if oldest == "" || rc.used.Before(p.recent[oldest].used) {
			oldest = id
		}
	}
	delete(p.recent, oldest)
}

// wait waits for the prefetch of a call at a block, if one is in flight,
// and reports whether there was one.
func (p *prefetcher) wait(ctx context.Context, block common.Hash, method string, params []byte) bool {
	p.mu.Lock()
	ch := p.inflight[prefetchKey{block, callID(method, params)}]
	p.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
	return true
}

// due lists the calls to prefetch, most recently used first.
func (p *prefetcher) due() []*recentCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	var calls []*recentCall
	for id, rc := range p.recent {
		if time.Since(rc.used) > prefetchWindow {
			delete(p.recent, id)
			continue
		}
		calls = append(calls, rc)
	}
	slices.SortFunc(calls, func(a, b *recentCall) int { return b.used.Compare(a.used) })
	return calls[:min(len(calls), prefetchMax)]
}

func (p *prefetcher) loop() {
	defer close(p.done)
	heads := make(chan *types.Header, 4)
	sub := p.c.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.quit
		cancel()
	}()
	for {
		var head *types.Header
		select {
		case head = <-heads:
		case <-p.quit:
			return
		}
		for len(heads) > 0 { // only the newest head is worth it
			head = <-heads
		}
		if !p.c.Prefetching() {
			continue // in the background, or on a metered network
		}
		for _, rc := range p.due() {
			if ctx.Err() != nil || len(heads) > 0 {
				break
			}
			if err := p.prefetch(ctx, head, rc); errors.Is(err, client.ErrBusy) {
				break // no capacity to spare: the calls will ask themselves
			}
		}
	}
}

// prefetch asks for one call's witness at a head.
func (p *prefetcher) prefetch(ctx context.Context, head *types.Header, rc *recentCall) error {
	key := prefetchKey{head.Hash(), callID(rc.method, rc.params)}
	ch := make(chan struct{})
	p.mu.Lock()
	p.inflight[key] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.inflight, key)
		p.mu.Unlock()
		close(ch)
	}()
	ctx, cancel := context.WithTimeout(ctx, prefetchTimeout)
	defer cancel()
	err := p.c.PrefetchWitness(ctx, head, rc.method, rc.params)
	if err != nil && !errors.Is(err, client.ErrBusy) {
		p.log.Debug("Prefetch failed", "method", rc.method, "err", err)
	}
	return err
}
