package client

import (
	"testing"
	"time"

	"github.com/lightmarket/lightmarket/buyer"
	"github.com/lightmarket/lightmarket/protocol"
)

// TestQualityIsTheMedianRoundTrip: one slow answer among quick ones does
// not make a server look slow; a server that is slow most of the time at
// reading the state does, however quickly it answers headers and the
// beacon chain's updates from memory; round trips under qualityFloor rank
// equal.
func TestQualityIsTheMedianRoundTrip(t *testing.T) {
	ms := time.Millisecond
	q := func(d time.Duration) uint32 {
		return uint32(buyer.QualityScale * int64(qualityRef) / (int64(qualityRef) + int64(d)))
	}
	tests := []struct {
		name  string
		trips []time.Duration
		want  uint32
	}{
		{"never measured", nil, 0},
		{"one answer", []time.Duration{40 * ms}, q(40 * ms)},
		{"a slow first answer among quick ones", []time.Duration{40 * ms, 25 * ms, 30 * ms}, q(30 * ms)},
		// Below the floor round trips rank equal: the moment's noise.
		{"quick answers", []time.Duration{40 * ms, 2 * ms, 3 * ms}, q(qualityFloor)},
		{"just under the floor", []time.Duration{19 * ms}, q(qualityFloor)},
		{"slow most of the time", []time.Duration{150 * ms, 2 * ms, 160 * ms}, q(150 * ms)},
		{"the last 256 only", append(repeat(300*ms, 300), repeat(21*ms, 256)...), q(21 * ms)},
	}
	for _, tt := range tests {
		var s ServerStats
		for _, d := range tt.trips {
			// Each proof between quick answers from memory.
			s.observe(protocol.GetBlockHeadersMsg, 1*ms)
			s.observe(protocol.GetProofsMsg, d)
			s.observe(protocol.GetBeaconUpdatesMsg, 1*ms)
		}
		if got := s.quality(); got != tt.want {
			t.Errorf("%s: quality %d, want %d", tt.name, got, tt.want)
		}
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// TestRoutingFollowsStateReads: a server whose node is slow answers
// headers from memory quickly; once it has answered a state read, only
// state reads move the estimate requests are routed by, so its quick
// headers do not bring the wallet's calls back to it.
func TestRoutingFollowsStateReads(t *testing.T) {
	ms := time.Millisecond
	newPeer := func() *peer { return &peer{observed: func(protocol.Code, time.Duration) {}} }
	slow, quick := newPeer(), newPeer()
	for _, p := range []*peer{slow, quick} {
		for range 4 {
			p.observeLatency(protocol.GetBlockHeadersMsg, 1*ms)
		}
	}
	slow.observeLatency(protocol.GetProofsMsg, 600*ms)
	quick.observeLatency(protocol.GetProofsMsg, 5*ms)
	for range 100 {
		slow.observeLatency(protocol.GetBlockHeadersMsg, 1*ms)
		slow.observeLatency(protocol.GetBeaconUpdatesMsg, 1*ms)
		quick.observeLatency(protocol.GetBlockHeadersMsg, 2*ms)
	}
	if !better(quick, slow) {
		t.Fatalf("routed to the slow server: estimates %v (slow) and %v (quick)", time.Duration(slow.latency.Load()), time.Duration(quick.latency.Load()))
	}
	// Before any state read every request counts: a server is estimated
	// from the first answer it gives.
	fresh := newPeer()
	fresh.observeLatency(protocol.GetBlockHeadersMsg, 3*ms)
	if got := time.Duration(fresh.latency.Load()); got != 3*ms {
		t.Fatalf("estimate %v from its first answer of 3ms", got)
	}
}
