package client

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
)

const (
	headerCacheSize = 8192 // verified headers kept by hash
	maxLinkDepth    = 128  // ancestors fetched to link an announced head
)

// maxCanon bounds the canonical numbers a client keeps linked: beyond
// it, the oldest are forgotten down to linkBackLimit below the head
// (older headers are proven by history sections or EIP-2935, or linked
// again, when asked for).
const maxCanon = 2 * linkBackLimit

// headerChain holds verified headers and the canonical chain of the
// accepted head: canon maps every number from low to the head's number to
// the canonical hash, and lowHdr (kept whatever the header cache evicts)
// is the header at low. It is guarded by Client.mu.
type headerChain struct {
	headers lru.BasicLRU[common.Hash, *types.Header]
	canon   map[uint64]common.Hash
	low     uint64
	lowHdr  *types.Header
	cur     *types.Header
	// curHash is cur's hash, readable without Client.mu: hashing a header
	// costs microseconds on every request at the head (hashOf).
	curHash atomic.Pointer[hashedHeader]
	// lastHash is the last other header hashOf hashed: a wallet that reads
	// at one block by number asks for the same header again and again.
	lastHash atomic.Pointer[hashedHeader]
}

type hashedHeader struct {
	h    *types.Header
	hash common.Hash
}

// hashOf returns h's hash, without hashing when h is the head or the
// header hashed last. Headers are never changed once made, so the same
// pointer has the same hash.
func (hc *headerChain) hashOf(h *types.Header) common.Hash {
	if c := hc.curHash.Load(); c != nil && c.h == h {
		return c.hash
	}
	if c := hc.lastHash.Load(); c != nil && c.h == h {
		return c.hash
	}
	hash := h.Hash()
	hc.lastHash.Store(&hashedHeader{h, hash})
	return hash
}

// lowest is the lowest linked canonical header (nil before a head).
func (hc *headerChain) lowest() *types.Header { return hc.lowHdr }

// link makes h canonical at its number, below or at the head, lowering
// low to it when it extends the chain down.
func (hc *headerChain) link(h *types.Header) {
	n := h.Number.Uint64()
	hc.add(h)
	hc.canon[n] = h.Hash()
	if hc.lowHdr == nil || n < hc.low {
		hc.low, hc.lowHdr = n, h
	}
}

// trim forgets the oldest canonical numbers once more than maxCanon are
// kept, down to linkBackLimit below the head; the new low is the lowest
// number left whose header is still cached.
func (hc *headerChain) trim() {
	if len(hc.canon) <= maxCanon || hc.cur == nil {
		return
	}
	top := hc.cur.Number.Uint64()
	from := top - min(top, linkBackLimit)
	for n := range hc.canon {
		if n < from {
			delete(hc.canon, n)
		}
	}
	for n := from; n <= top; n++ {
		if h := hc.get(hc.canon[n]); h != nil {
			hc.low, hc.lowHdr = n, h
			return
		}
		delete(hc.canon, n)
	}
	hc.low, hc.lowHdr = top, hc.cur
	hc.canon[top] = hc.cur.Hash()
}

func newHeaderChain() *headerChain {
	return &headerChain{
		headers: lru.NewBasicLRU[common.Hash, *types.Header](headerCacheSize),
		canon:   make(map[uint64]common.Hash),
	}
}

func (hc *headerChain) head() *types.Header { return hc.cur }

func (hc *headerChain) add(h *types.Header) { hc.headers.Add(h.Hash(), h) }

func (hc *headerChain) get(hash common.Hash) *types.Header {
	h, _ := hc.headers.Get(hash)
	return h
}

// setHead makes h the head and rewrites the canonical numbers it can link
// through known headers; when the link to the previous chain is missing the
// canonical chain restarts at h.
func (hc *headerChain) setHead(h *types.Header) {
	hc.add(h)
	n := h.Number.Uint64()
	if hc.cur != nil {
		for i := n + 1; i <= hc.cur.Number.Uint64(); i++ {
			delete(hc.canon, i)
		}
	}
	hc.cur = h
	hc.curHash.Store(&hashedHeader{h, h.Hash()})
	defer hc.trim()
	cur := h
	for {
		num := cur.Number.Uint64()
		if hash, ok := hc.canon[num]; ok && hash == cur.Hash() {
			return // joined the old canonical chain
		}
		hc.canon[num] = cur.Hash()
		if num == 0 || num <= hc.low {
			hc.low, hc.lowHdr = num, cur // num <= low: the chain now ends here
			return
		}
		parent := hc.get(cur.ParentHash)
		if parent == nil {
			// Gap: forget everything below.
			for i := range hc.canon {
				if i < num {
					delete(hc.canon, i)
				}
			}
			hc.low, hc.lowHdr = num, cur
			return
		}
		cur = parent
	}
}

// headTracker decides which head the trusted servers vouch for: a head is
// accepted when at least need trusted servers have announced it or a
// descendant of it.
type headTracker struct {
	need   int
	latest map[enode.ID]*protocol.Announce
	seq    map[enode.ID]uint64 // arrival order of the announcement in latest
}

func newHeadTracker(trusted, fraction int) *headTracker {
	return &headTracker{need: signersNeeded(trusted, fraction), latest: make(map[enode.ID]*protocol.Announce), seq: make(map[enode.ID]uint64)}
}

// signersNeeded is the least number of trusted servers whose share of all
// trusted servers, in percent rounded to the nearest integer, reaches
// fraction: 2 of 3 servers are 67 %, so fraction 67 needs 2 and 75 needs 3.
func signersNeeded(trusted, fraction int) int {
	for s := 1; s <= trusted; s++ {
		if (200*s+trusted)/(2*trusted) >= fraction {
			return s
		}
	}
	return trusted
}

func (t *headTracker) forget(id enode.ID) {
	delete(t.latest, id)
	delete(t.seq, id)
}

// record keeps a as id's latest announcement unless a later one (by
// arrival order seq) is already recorded: announcements are handled
// concurrently and may finish out of order.
func (t *headTracker) record(id enode.ID, a *protocol.Announce, seq uint64) {
	if seq <= t.seq[id] && t.latest[id] != nil {
		return
	}
	t.latest[id], t.seq[id] = a, seq
}

// best returns the highest announced head that enough servers support, and
// how many do, judging ancestry through hc's known headers.
func (t *headTracker) best(hc *headerChain) (*types.Header, int) {
	var cands []*types.Header
	seen := make(map[common.Hash]bool)
	for _, a := range t.latest {
		if h := hc.get(a.Hash); h != nil && !seen[a.Hash] {
			seen[a.Hash] = true
			cands = append(cands, h)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Number.Cmp(cands[j].Number) > 0 })
	for _, cand := range cands {
		if support := t.support(hc, cand, cand.Hash()); support >= t.need {
			return cand, support
		}
	}
	return nil, 0
}

// tagged returns the highest block that at least need trusted servers
// vouch for as safe (or finalized, as ref picks), and how many do. A
// server vouches for block b when its latest announcement names, as its
// safe block, b or a canonical descendant of b; isCanon reports whether a
// block is on the accepted chain.
func (t *headTracker) tagged(ref func(*protocol.Announce) *protocol.BlockRef, isCanon func(protocol.BlockRef) bool) (*protocol.BlockRef, int) {
	var numbers []uint64
	for _, a := range t.latest {
		if r := ref(a); r != nil && isCanon(*r) {
			numbers = append(numbers, r.Number)
		}
	}
	if len(numbers) < t.need {
		return nil, len(numbers)
	}
	sort.Slice(numbers, func(i, j int) bool { return numbers[i] > numbers[j] })
	return &protocol.BlockRef{Number: numbers[t.need-1]}, len(numbers)
}

func safeRef(a *protocol.Announce) *protocol.BlockRef      { return a.Safe }
func finalizedRef(a *protocol.Announce) *protocol.BlockRef { return a.Finalized }

// support counts the trusted servers whose latest head is h (whose hash is
// hash) or a known descendant of it.
func (t *headTracker) support(hc *headerChain, h *types.Header, hash common.Hash) int {
	n := 0
	for _, a := range t.latest {
		if descends(hc, a.Hash, h, hash) {
			n++
		}
	}
	return n
}

// descends reports whether the header with hash is anc (whose hash is
// ancHash) or a known descendant of it.
func descends(hc *headerChain, hash common.Hash, anc *types.Header, ancHash common.Hash) bool {
	target := anc.Number.Uint64()
	for depth := 0; depth <= maxLinkDepth; depth++ {
		if hash == ancHash {
			return true
		}
		h := hc.get(hash)
		if h == nil || h.Number.Uint64() <= target {
			return false
		}
		hash = h.ParentHash
	}
	return false
}

// handleAnnounce fetches and links an announced head and moves the
// accepted head if the trusted servers now vouch for a new one.
func (c *Client) handleAnnounce(p *peer, a *protocol.Announce, seq uint64) {
	c.mu.Lock()
	if s := c.stats[p.id]; s != nil {
		s.Head = a.Number
	}
	c.mu.Unlock()
	if !p.trusted {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	_, err := c.fetchLinked(ctx, p, a.Hash, func(h *types.Header) error {
		if h.Number.Uint64() != a.Number || h.ParentHash != a.ParentHash {
			return errAnnounceMismatch(h, a)
		}
		return nil
	})
	if err != nil {
		c.announceFailed(p, err)
		return
	}
	c.mu.Lock()
	c.heads.record(p.id, a, seq)
	c.mu.Unlock()
	c.moveHead()
}

// fetchLinked makes the header with hash known, fetching it from p
// (unless known already; check, when not nil, is what else it must
// satisfy) and, after a reorg or a few missed blocks, the ancestors that
// link it to the accepted chain.
func (c *Client) fetchLinked(ctx context.Context, p *peer, hash common.Hash, check func(*types.Header) error) (*types.Header, error) {
	c.mu.Lock()
	known := c.chain.get(hash)
	cur := c.chain.head()
	c.mu.Unlock()
	if known != nil {
		return known, nil
	}
	h, err := c.fetchHeader(ctx, p, hash)
	if err == nil && check != nil {
		err = check(h)
	}
	if err != nil {
		return nil, err
	}
	number := h.Number.Uint64()
	var ancestors []*types.Header
	if cur != nil && number > 0 {
		c.mu.Lock()
		linked := c.chain.get(h.ParentHash) != nil
		c.mu.Unlock()
		if !linked && (number <= cur.Number.Uint64() || number-cur.Number.Uint64() <= resumeLinkGap) {
			// A reorg or a few blocks missed: link them. Past
			// resumeLinkGap (back from the background) the chain starts
			// again at the new head, and the headers between are proven
			// when asked for.
			depth := uint64(maxLinkDepth)
			if number > cur.Number.Uint64() && number-cur.Number.Uint64() < depth {
				depth = number - cur.Number.Uint64() + 1
			}
			depth = min(depth, number, protocol.MaxHeaders)
			if ancestors, err = c.fetchAncestors(ctx, p, h, depth); err != nil {
				return nil, err
			}
		}
	}
	c.mu.Lock()
	c.chain.add(h)
	for _, anc := range ancestors {
		c.chain.add(anc)
	}
	c.mu.Unlock()
	return h, nil
}

// pickHeadLocked is the head the configured rule accepts now, and how
// many trusted servers vouch for it: the highest head enough trusted
// servers vouch for (HeadsULC), the sync committee's latest (HeadsBeacon),
// or that one once enough trusted servers vouch for it too (HeadsBoth).
// c.mu is held.
func (c *Client) pickHeadLocked() (*types.Header, int) {
	if c.bh == nil {
		return c.heads.best(c.chain)
	}
	h := c.chain.get(c.bh.head)
	if h == nil {
		return nil, 0
	}
	support := c.heads.support(c.chain, h, c.bh.head)
	if c.cfg.Heads == HeadsBoth && support < c.heads.need {
		return nil, support
	}
	return h, support
}

// moveHead moves the accepted head to what pickHeadLocked accepts, but
// never back to its own ancestor (a trusted server going quiet is not a
// reorg).
func (c *Client) moveHead() {
	c.mu.Lock()
	best, support := c.pickHeadLocked()
	hd := c.chain.head()
	moved := false
	if best != nil {
		bestHash := best.Hash()
		moved = hd == nil || (bestHash != c.chain.hashOf(hd) && !descends(c.chain, c.chain.hashOf(hd), best, bestHash))
	}
	if moved {
		c.chain.setHead(best)
	}
	if best != nil {
		c.resuming = false
	}
	c.mu.Unlock()
	if moved {
		c.cfg.Metrics.Head.Set(float64(best.Number.Uint64()))
		c.cfg.Metrics.HeadTime.Set(float64(best.Time))
		c.cfg.Logger.Debug("New head", "number", best.Number, "hash", best.Hash(), "signers", support)
		c.headFeed.Send(best)
	}
}

func (c *Client) announceFailed(p *peer, err error) {
	if isVerifyError(err) {
		c.punish(p, err)
		return
	}
	c.recordFailure(p, err)
}

func errAnnounceMismatch(h *types.Header, a *protocol.Announce) error {
	return fmt.Errorf("%w: announced block %d with parent %x, header says %d with parent %x",
		verify.ErrHeaderHash, a.Number, a.ParentHash, h.Number, h.ParentHash)
}

func isVerifyError(err error) bool { return verify.Kind(err) != "" }
