package client

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/protocol"
)

func TestSignersNeeded(t *testing.T) {
	for _, tt := range []struct{ trusted, fraction, want int }{
		{3, 67, 2}, {3, 66, 2}, {3, 68, 3}, {3, 75, 3}, {3, 100, 3}, {3, 1, 1}, {3, 33, 1}, {3, 34, 2},
		{4, 75, 3}, {4, 76, 4}, {1, 100, 1}, {1, 1, 1}, {10, 75, 8}, {10, 74, 8}, {10, 70, 7},
	} {
		if got := signersNeeded(tt.trusted, tt.fraction); got != tt.want {
			t.Errorf("signersNeeded(%d, %d) = %d, want %d", tt.trusted, tt.fraction, got, tt.want)
		}
	}
}

// chainOf builds n linked headers on top of parent, tagged so that two
// forks from the same parent differ.
func chainOf(parent *types.Header, n int, tag byte) []*types.Header {
	var out []*types.Header
	for range n {
		h := &types.Header{Number: new(big.Int).Add(parent.Number, common.Big1), ParentHash: parent.Hash(), Difficulty: new(big.Int), Extra: []byte{tag}}
		out = append(out, h)
		parent = h
	}
	return out
}

func announce(h *types.Header) *protocol.Announce {
	return &protocol.Announce{Hash: h.Hash(), Number: h.Number.Uint64(), ParentHash: h.ParentHash}
}

func TestHeadNeedsEnoughTrustedSigners(t *testing.T) {
	genesis := &types.Header{Number: new(big.Int), Difficulty: new(big.Int)}
	main := chainOf(genesis, 10, 0)
	fork := chainOf(main[4], 8, 1) // a longer fork from block 5
	hc := newHeaderChain()
	hc.add(genesis)
	for _, h := range append(main, fork...) {
		hc.add(h)
	}
	a, b, c := enode.ID{1}, enode.ID{2}, enode.ID{3}
	tr := newHeadTracker(3, 67)

	tr.record(a, announce(fork[7]), 1) // one liar on its own fork
	if best, _ := tr.best(hc); best != nil {
		t.Fatalf("one of three moved the head to %d", best.Number)
	}
	tr.record(b, announce(main[9]), 1)
	tr.record(c, announce(main[7]), 1)
	best, support := tr.best(hc)
	if best == nil || best.Hash() != main[7].Hash() || support != 2 {
		t.Fatalf("best = %v (support %d), want block 8 of the main chain signed by 2", best.Number, support)
	}
	// Two colluding servers on the fork outvote the third.
	tr.record(b, announce(fork[6]), 2)
	best, support = tr.best(hc)
	if best == nil || best.Hash() != fork[6].Hash() || support != 2 {
		t.Fatalf("best = %v (support %d), want fork block signed by 2", best.Number, support)
	}
}

func TestHeaderChainFollowsReorg(t *testing.T) {
	genesis := &types.Header{Number: new(big.Int), Difficulty: new(big.Int)}
	main := chainOf(genesis, 10, 0)
	fork := chainOf(main[4], 3, 1)
	hc := newHeaderChain()
	hc.add(genesis)
	for _, h := range append(main, fork...) {
		hc.add(h)
	}
	hc.setHead(main[9])
	if hc.canon[10] != main[9].Hash() || hc.canon[1] != main[0].Hash() || hc.low != 0 {
		t.Fatalf("canon after main head: low %d", hc.low)
	}
	hc.setHead(fork[2]) // block 8 of the fork
	for n := uint64(9); n <= 10; n++ {
		if _, ok := hc.canon[n]; ok {
			t.Errorf("block %d still canonical after a reorg to a shorter chain", n)
		}
	}
	for i, h := range fork {
		if hc.canon[h.Number.Uint64()] != h.Hash() {
			t.Errorf("fork block %d not canonical", i)
		}
	}
	if hc.canon[5] != main[4].Hash() {
		t.Errorf("common ancestor lost")
	}
}

func TestLaterAnnouncementIsNotOverwrittenByAnEarlierOne(t *testing.T) {
	genesis := &types.Header{Number: new(big.Int), Difficulty: new(big.Int)}
	main := chainOf(genesis, 3, 0)
	tr := newHeadTracker(1, 100)
	tr.record(enode.ID{1}, announce(main[2]), 2)
	tr.record(enode.ID{1}, announce(main[1]), 1) // handled late
	if got := tr.latest[enode.ID{1}].Hash; got != main[2].Hash() {
		t.Fatalf("latest = %x, want the later announcement", got)
	}
}

func TestSafeBlockNeedsTheFractionOfTrustedServers(t *testing.T) {
	genesis := &types.Header{Number: new(big.Int), Difficulty: new(big.Int)}
	main := chainOf(genesis, 10, 0)
	fork := chainOf(main[4], 3, 1)
	canon := func(r protocol.BlockRef) bool {
		for _, h := range main {
			if h.Hash() == r.Hash {
				return true
			}
		}
		return false
	}
	ref := func(h *types.Header) *protocol.BlockRef {
		return &protocol.BlockRef{Hash: h.Hash(), Number: h.Number.Uint64()}
	}
	with := func(head, safe *types.Header) *protocol.Announce {
		a := announce(head)
		if safe != nil {
			a.Safe = ref(safe)
		}
		return a
	}
	tr := newHeadTracker(3, 67) // 2 of 3
	tr.record(enode.ID{1}, with(main[9], main[8]), 1)
	if best, n := tr.tagged(safeRef, canon); best != nil || n != 1 {
		t.Fatalf("one server's safe block accepted: %v (%d vouch)", best, n)
	}
	// A second server with an older safe block: the older one is what two
	// servers vouch for (the first names a descendant of it).
	tr.record(enode.ID{2}, with(main[9], main[6]), 1)
	if best, n := tr.tagged(safeRef, canon); best == nil || best.Number != 7 || n != 2 {
		t.Fatalf("safe = %v (%d vouch), want block 7", best, n)
	}
	// A third server naming a block off the accepted chain counts for
	// nothing.
	tr.record(enode.ID{3}, with(main[9], fork[2]), 1)
	if best, _ := tr.tagged(safeRef, canon); best == nil || best.Number != 7 {
		t.Fatalf("safe = %v, want block 7 still", best)
	}
	// Servers without a safe block do not vouch.
	tr.record(enode.ID{2}, with(main[9], nil), 2)
	if best, n := tr.tagged(safeRef, canon); best != nil || n != 1 {
		t.Fatalf("safe = %v (%d vouch), want none", best, n)
	}
}

// TestCanonicalChainIsBounded: a client running for days links a head a
// block; what it keeps of the canonical chain stays bounded, contiguous,
// and its lowest header stays known after the header cache evicted it.
func TestCanonicalChainIsBounded(t *testing.T) {
	genesis := &types.Header{Number: new(big.Int), Difficulty: new(big.Int)}
	hc := newHeaderChain()
	hc.setHead(genesis)
	headers := chainOf(genesis, maxCanon+headerCacheSize+100, 1)
	for i, h := range headers {
		hc.setHead(h)
		if i == headerCacheSize+10 {
			// The header cache has evicted genesis; the chain still ends there.
			if low := hc.lowest(); low == nil || low.Hash() != genesis.Hash() || hc.low != 0 {
				t.Fatalf("lowest %v at %d after the cache evicted it, want genesis", low, hc.low)
			}
		}
	}
	if len(hc.canon) > maxCanon+1 {
		t.Fatalf("%d canonical numbers kept, want at most %d", len(hc.canon), maxCanon+1)
	}
	top := hc.head().Number.Uint64()
	low := hc.lowest()
	if low == nil || low.Number.Uint64() != hc.low || hc.canon[hc.low] != low.Hash() {
		t.Fatalf("lowest %v does not match low %d", low, hc.low)
	}
	for n := hc.low; n <= top; n++ {
		if hc.canon[n] != headers[n-1].Hash() {
			t.Fatalf("number %d: not the canonical hash", n)
		}
	}
	if hc.low == 0 || top-hc.low > maxCanon {
		t.Fatalf("low %d, head %d: not trimmed", hc.low, top)
	}
}

// The head each rule accepts: ULC the highest the trusted servers vouch
// for, beacon the sync committee's whatever they say, both the
// committee's only once they vouch for it or a descendant.
func TestHeadRules(t *testing.T) {
	genesis := &types.Header{Number: new(big.Int), Difficulty: new(big.Int)}
	main := chainOf(genesis, 6, 0)
	fork := chainOf(main[1], 4, 1)
	c := &Client{chain: newHeaderChain(), heads: newHeadTracker(2, 100), bh: &beaconHeads{}}
	for _, h := range append(append([]*types.Header{genesis}, main...), fork...) {
		c.chain.add(h)
	}
	c.heads.record(enode.ID{1}, announce(main[3]), 1)
	c.heads.record(enode.ID{2}, announce(main[3]), 1)
	for _, tt := range []struct {
		name   string
		mode   HeadsMode
		beacon *types.Header // the committee's head
		want   *types.Header // nil: none
	}{
		{"ulc", HeadsULC, nil, main[3]},
		{"beacon ahead of the servers", HeadsBeacon, main[5], main[5]},
		{"beacon on a fork the servers do not follow", HeadsBeacon, fork[3], fork[3]},
		{"both, beacon ahead: not yet", HeadsBoth, main[5], nil},
		{"both, beacon at the servers' head", HeadsBoth, main[3], main[3]},
		{"both, beacon behind the servers", HeadsBoth, main[2], main[2]},
		{"both, beacon on another fork", HeadsBoth, fork[3], nil},
		{"both, no beacon head", HeadsBoth, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.cfg.Heads = tt.mode
			c.bh.head = common.Hash{}
			if tt.mode == HeadsULC {
				saved := c.bh
				c.bh = nil
				defer func() { c.bh = saved }()
			} else if tt.beacon != nil {
				c.bh.head = tt.beacon.Hash()
			}
			got, _ := c.pickHeadLocked()
			if (got == nil) != (tt.want == nil) || got != nil && got.Hash() != tt.want.Hash() {
				t.Fatalf("head %v, want %v", got, tt.want)
			}
		})
	}
}
