package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/lightmarket/lightmarket/history"
	"github.com/lightmarket/lightmarket/protocol"
)

// tails builds, signs and keeps the tails (package history) of the heads
// clients ask about. A tail is built on the first request for its head:
// the blocks since the last one are read from the backend, the rest are
// the previous tail's.
type tails struct {
	s        *Server
	built    *lru.Cache[common.Hash, *signedTail] // by head hash
	recent   map[uint64]tailBlock                 // the blocks of the last tail built
	complete *history.Section                     // the last complete section built into a tail
	asked    atomic.Int64                         // unix seconds of the last request
}

type signedTail struct {
	tail *history.Tail
	sig  []byte
}

type tailBlock struct {
	hash  common.Hash
	bloom types.Bloom
}

// keptTails is how many heads' tails are kept: clients ask as of the
// head they verified, which may be a few blocks behind the server's.
const keptTails = 8

func newTails(s *Server) *tails {
	return &tails{s: s, built: lru.NewCache[common.Hash, *signedTail](keptTails), recent: make(map[uint64]tailBlock)}
}

// get returns the signed tail as of the canonical block head (nil when the
// backend does not hold it as canonical). Builds are serialized by the
// caller's lock (historyIndex.tailMu).
func (t *tails) get(ctx context.Context, head common.Hash) (*signedTail, error) {
	if st, ok := t.built.Get(head); ok {
		return st, nil
	}
	backend := t.s.cfg.Backend
	hd, err := backend.HeaderByHash(ctx, head)
	if err != nil || hd == nil {
		return nil, nil
	}
	n := hd.Number.Uint64()
	if canon, err := backend.HeaderByNumber(ctx, n); err != nil || canon == nil || canon.Hash() != head {
		return nil, nil
	}
	start := history.TailStart(n)
	hashes := make([]common.Hash, n-start+1)
	blooms := make([]types.Bloom, n-start+1)
	low := start
	if n > start+64 {
		low = n - 64
	}
	_, near := t.recent[n-1]
	if _, behind := t.recent[low]; !near && !behind {
		// A first tail, or one far from the last: its blocks at once.
		if err := t.fill(ctx, start, n); err != nil {
			return nil, err
		}
	}
	// Back from the head by parent hash, until a block the last tail has.
	cur, i := hd, n
	for {
		hashes[i-start], blooms[i-start] = cur.Hash(), cur.Bloom
		if i == start {
			break
		}
		if b, ok := t.recent[i-1]; ok && b.hash == cur.ParentHash {
			break
		}
		parent, err := backend.HeaderByHash(ctx, cur.ParentHash)
		if err != nil || parent == nil || parent.Number.Uint64() != i-1 {
			return nil, fmt.Errorf("tail at %d: parent of block %d: %v", n, i, err)
		}
		cur, i = parent, i-1
	}
	// The last tail's blocks, linked (it was built linked), below i.
	for j := i; j > start; j-- {
		b, ok := t.recent[j-1]
		if !ok {
			return nil, fmt.Errorf("tail at %d: block %d missing", n, j-1)
		}
		hashes[j-1-start], blooms[j-1-start] = b.hash, b.bloom
	}
	tail, err := history.NewTailFrom(n, hashes, blooms, t.complete)
	if err != nil {
		return nil, err
	}
	if sec := tail.Sections[0]; sec != nil {
		t.complete = sec
	}
	sig, err := t.s.key.Sign(protocol.TailSigningHash(t.s.chainID, head, n, tail.Root()).Bytes())
	if err != nil {
		return nil, err
	}
	recent := make(map[uint64]tailBlock, len(hashes))
	for k := range hashes {
		recent[start+uint64(k)] = tailBlock{hashes[k], blooms[k]}
	}
	t.recent = recent
	st := &signedTail{tail: tail, sig: sig}
	t.built.Add(head, st)
	return st, nil
}

// fill reads the blocks from start to n into recent, a few at once, and
// checks that they link.
func (t *tails) fill(ctx context.Context, start, n uint64) error {
	headers := make([]*types.Header, n-start+1)
	var (
		wg       sync.WaitGroup
		next     atomic.Uint64
		errOnce  sync.Once
		firstErr error
	)
	next.Store(start)
	for range historyFetchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i <= n; i = next.Add(1) - 1 {
				hd, err := t.s.cfg.Backend.HeaderByNumber(ctx, i)
				if err != nil || hd == nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("tail: block %d: %v", i, err) })
					return
				}
				headers[i-start] = hd
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	recent := make(map[uint64]tailBlock, len(headers))
	for i, hd := range headers {
		if i > 0 && hd.ParentHash != headers[i-1].Hash() {
			return fmt.Errorf("tail: block %d does not link to %d: the chain moved while read", start+uint64(i), start+uint64(i)-1)
		}
		recent[start+uint64(i)] = tailBlock{hd.Hash(), hd.Bloom}
	}
	t.recent = recent
	return nil
}

// tailAskedRecently is how long after a request for a tail the server
// builds each new head's tail before it is asked for.
const tailAskedRecently = 10 * time.Minute

// headMoved builds the tail of a new head in the background when clients
// asked for tails lately, so that the first of them at this head need not
// wait for it.
func (h *historyIndex) headMovedTail(head common.Hash) {
	if time.Since(time.Unix(h.tails.asked.Load(), 0)) > tailAskedRecently {
		return
	}
	go func() {
		h.tailMu.Lock()
		defer h.tailMu.Unlock()
		if _, err := h.tails.get(h.s.ctx, head); err != nil {
			h.s.cfg.Logger.Debug("Cannot build a tail", "head", head, "err", err)
		}
	}()
}

// tail answers GetTail.
func (h *historyIndex) tail(ctx context.Context, r *protocol.GetTail) *protocol.Tail {
	out := &protocol.Tail{ReqID: r.ReqID}
	h.tails.asked.Store(time.Now().Unix())
	h.tailMu.Lock()
	st, err := h.tails.get(ctx, r.Head)
	h.tailMu.Unlock()
	if err != nil {
		h.s.cfg.Logger.Debug("Cannot build a tail", "head", r.Head, "err", err)
	}
	if st == nil {
		return out
	}
	out.Number, out.Root, out.Signature = st.tail.Head, st.tail.Root(), st.sig
	for _, ref := range r.Refs {
		p, ok := st.tail.ProveBloom(ref.Section, int(ref.Bit))
		if !ok {
			break
		}
		out.Vectors = append(out.Vectors, protocol.TailVector{Vector: p.Vector, BloomPath: p.BloomPath, HashRoot: p.HashRoot, Sibling: p.Sibling})
	}
	for _, n := range r.Numbers {
		if n > st.tail.Head || n < history.TailStart(st.tail.Head) {
			break
		}
		hd, err := h.s.cfg.Backend.HeaderByNumber(ctx, n)
		if err != nil || hd == nil {
			break
		}
		p, ok := st.tail.ProveHeader(hd)
		if !ok {
			break
		}
		out.Headers = append(out.Headers, protocol.TailHeader{Header: p.Header, HashPath: p.HashPath, BloomRoot: p.BloomRoot, Sibling: p.Sibling})
	}
	return out
}
