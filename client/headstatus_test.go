package client

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/p2p/enode"
)

// CurrentHead answers from the head without building the status; it must
// refuse exactly when the status says the head is not verified, and with
// the status's reason.
func TestCurrentHeadAgreesWithHeadStatus(t *testing.T) {
	now := time.Now()
	fresh := &types.Header{Number: big.NewInt(7), Difficulty: new(big.Int), Time: uint64(now.Add(-2 * time.Second).Unix())}
	old := &types.Header{Number: big.NewInt(7), Difficulty: new(big.Int), Time: uint64(now.Add(-time.Hour).Unix())}
	for _, tt := range []struct {
		name     string
		head     *types.Header
		maxAge   time.Duration
		resuming bool
		reason   string // "" when the head is answered from
	}{
		{name: "no head", reason: "no verified head yet"},
		{name: "fresh", head: fresh, maxAge: time.Minute},
		{name: "any age", head: old},
		{name: "too old", head: old, maxAge: time.Minute, reason: "verified head 7 is 1h0m"},
		{name: "resuming", head: fresh, resuming: true, reason: "back from the background"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{
				cfg:      Config{HeadMaxAge: tt.maxAge, Fraction: 100},
				trusted:  map[enode.ID]bool{{1}: true},
				peers:    map[enode.ID]*peer{},
				stats:    map[enode.ID]*ServerStats{},
				waiting:  map[enode.ID]*peer{},
				chain:    newHeaderChain(),
				heads:    newHeadTracker(1, 100),
				resuming: tt.resuming,
			}
			if tt.head != nil {
				c.chain.setHead(tt.head)
			}
			h, err := c.CurrentHead()
			st := c.HeadStatus()
			if tt.reason == "" {
				if err != nil || h != tt.head || !st.Verified {
					t.Fatalf("CurrentHead = %v, %v; status verified %v, want the head", h, err, st.Verified)
				}
				if st.Hash != tt.head.Hash() {
					t.Errorf("status hash %x, want %x", st.Hash, tt.head.Hash())
				}
				return
			}
			var herr *HeadError
			if !errors.As(err, &herr) || h != nil || st.Verified {
				t.Fatalf("CurrentHead = %v, %v; status verified %v, want a HeadError", h, err, st.Verified)
			}
			if !strings.Contains(err.Error(), tt.reason) || !strings.Contains(st.Reason, tt.reason) {
				t.Errorf("error %q, status reason %q, want both to say %q", err, st.Reason, tt.reason)
			}
		})
	}
}

// hashOf takes the head's hash from where it was computed, the last other
// header's from where it kept it, and any other header's from the header
// itself.
func TestHashOfHead(t *testing.T) {
	hc := newHeaderChain()
	a := &types.Header{Number: big.NewInt(1), Difficulty: new(big.Int)}
	b := &types.Header{Number: big.NewInt(2), Difficulty: new(big.Int), ParentHash: a.Hash()}
	hc.setHead(a)
	hc.setHead(b)
	for _, h := range []*types.Header{a, b} {
		if got := hc.hashOf(h); got != h.Hash() {
			t.Errorf("hashOf(%d) = %x, want %x", h.Number, got, h.Hash())
		}
	}
	// A copy of the head is another header: hashed, not looked up.
	cp := types.CopyHeader(b)
	cp.Extra = []byte{1}
	if hc.hashOf(cp) != cp.Hash() {
		t.Error("hashOf of a changed copy of the head gave the head's hash")
	}
	// The last other header is kept by its pointer: asked again, it is
	// not hashed again; a changed copy of it is.
	if got := hc.hashOf(a); got != a.Hash() {
		t.Errorf("hashOf(a) = %x, want %x", got, a.Hash())
	}
	if last := hc.lastHash.Load(); last == nil || last.h != a {
		t.Fatal("hashOf did not keep the last header it hashed")
	}
	if got := hc.hashOf(a); got != a.Hash() {
		t.Errorf("hashOf(a) again = %x, want %x", got, a.Hash())
	}
	ca := types.CopyHeader(a)
	ca.Extra = []byte{2}
	if hc.hashOf(ca) != ca.Hash() {
		t.Error("hashOf of a changed copy of the last header gave its hash")
	}
}
