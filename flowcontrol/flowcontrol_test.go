package flowcontrol

import (
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"pgregory.net/rapid"
)

func TestClientBufferChargesRefundsAndRecharges(t *testing.T) {
	clock := new(mclock.Simulated)
	p := ParamsFor(1000) // 1000 units/ms, 6,000,000 buffer
	b := NewClientBuffer(clock, p)
	if b.Value() != 6_000_000 {
		t.Fatalf("new buffer holds %d", b.Value())
	}
	bv, err := b.Accept(4_000_000)
	if err != nil || bv != 2_000_000 {
		t.Fatalf("Accept = %d, %v", bv, err)
	}
	_, err = b.Accept(3_000_000)
	var overrun *BufferOverrunError
	if !errors.As(err, &overrun) || overrun.MaxCost != 3_000_000 || overrun.Buffer != 2_000_000 {
		t.Fatalf("overrun not refused: %v", err)
	}
	if bv := b.Done(4_000_000, 1_000_000); bv != 5_000_000 {
		t.Fatalf("refund of 3,000,000 left %d", bv)
	}
	if bv := b.Done(1_000, 5_000); bv != 5_000_000 {
		t.Fatalf("a request costing more than its maximum changed the buffer: %d", bv)
	}
	clock.Run(500 * time.Millisecond)
	if v := b.Value(); v != 5_500_000 {
		t.Fatalf("after 500 ms: %d, want 5,500,000", v)
	}
	clock.Run(time.Hour)
	if v := b.Value(); v != p.BufLimit {
		t.Fatalf("recharge passed the limit: %d", v)
	}
}

func TestCapacityRaiseAppliesAtOnceCutAfterDelay(t *testing.T) {
	clock := new(mclock.Simulated)
	b := NewClientBuffer(clock, ParamsFor(1000))
	if at := b.SetParams(ParamsFor(2000)); at != clock.Now() || b.Params().Recharge != 2000 {
		t.Fatalf("raise applies at %v, params %+v", at, b.Params())
	}
	b.Accept(12_000_000)
	at := b.SetParams(ParamsFor(500))
	if at != clock.Now()+mclock.AbsTime(LowerDelay) || b.Params().Recharge != 2000 {
		t.Fatalf("cut applied at once")
	}
	clock.Run(LowerDelay)
	if p := b.Params(); p.Recharge != 500 || b.Value() != 3_000_000 {
		t.Fatalf("after the delay: %+v, value %d (want 2 s of the old recharge, capped at the new limit)", p, b.Value())
	}
}

func TestServerBufferWaitsForRecharge(t *testing.T) {
	clock := new(mclock.Simulated)
	s := NewServerBuffer(clock, ParamsFor(1000))
	if d := s.CanSend(6_000_000); d != 0 {
		t.Fatalf("full buffer makes a full request wait %v", d)
	}
	s.Sent(1, 6_000_000)
	if d := s.CanSend(1_000_000); d != time.Second {
		t.Fatalf("wait for 1,000,000 at 1000/ms = %v, want 1s", d)
	}
	if d := s.CanSend(7_000_000); d >= 0 {
		t.Fatalf("a request above the limit must never fit, got wait %v", d)
	}
	s.Received(1, 5_000_000) // the server refunded most of it
	if v := s.Value(); v != 5_000_000 {
		t.Fatalf("estimate after the reply: %d", v)
	}
	s.Sent(2, 1_000_000)
	s.Sent(3, 1_000_000)
	s.Received(2, 4_500_000) // 3 may not have been charged yet: assume it was not
	if v := s.Value(); v != 3_500_000 {
		t.Fatalf("estimate with one request in flight: %d, want 3,500,000", v)
	}
}

// TestClientNeverOverruns drives a server buffer and the client's estimate
// through random sends, services and pauses: a client that only sends what
// its estimate allows is never refused.
func TestClientNeverOverruns(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clock := new(mclock.Simulated)
		p := ParamsFor(rapid.Uint64Range(1, 10_000).Draw(t, "capacity"))
		server, client := NewClientBuffer(clock, p), NewServerBuffer(clock, p)
		type inflight struct{ id, max, real uint64 }
		var queue []inflight // accepted by the server, not yet answered
		var sentNotArrived []inflight
		next := uint64(1)
		t.Repeat(map[string]func(*rapid.T){
			"send": func(t *rapid.T) {
				maxCost := rapid.Uint64Range(1, p.BufLimit).Draw(t, "maxCost")
				if client.CanSend(maxCost) != 0 {
					t.Skip("estimate says wait")
				}
				client.Sent(next, maxCost)
				real := rapid.Uint64Range(0, maxCost).Draw(t, "realCost")
				sentNotArrived = append(sentNotArrived, inflight{next, maxCost, real})
				next++
			},
			"arrive": func(t *rapid.T) {
				if len(sentNotArrived) == 0 {
					t.Skip("nothing on the wire")
				}
				r := sentNotArrived[0]
				sentNotArrived = sentNotArrived[1:]
				if _, err := server.Accept(r.max); err != nil {
					t.Fatalf("server refused a request the client's estimate allowed: %v", err)
				}
				queue = append(queue, r)
			},
			"serve": func(t *rapid.T) {
				if len(queue) == 0 {
					t.Skip("nothing to serve")
				}
				i := rapid.IntRange(0, len(queue)-1).Draw(t, "which")
				r := queue[i]
				queue = append(queue[:i], queue[i+1:]...)
				client.Received(r.id, server.Done(r.max, r.real))
			},
			"wait": func(t *rapid.T) {
				clock.Run(time.Duration(rapid.Int64Range(0, int64(BufferTime)).Draw(t, "wait")))
			},
		})
	})
}

func TestCostTrackerLearnsTwiceTheAverage(t *testing.T) {
	tr := NewCostTracker(CostTable{2: {Base: 100, PerItem: 1000}})
	for range 19 {
		tr.Observe(2, 10, 2000) // 200 per item
	}
	if c := tr.Table()[2]; c.PerItem != 1000 {
		t.Fatalf("table changed before enough samples: %+v", c)
	}
	tr.Observe(2, 10, 2000)
	if c := tr.Table()[2]; c.PerItem != 400 || c.Base != 100 {
		t.Fatalf("learned table = %+v, want per item 400 (twice 200)", c)
	}
	for range 200 {
		tr.Observe(2, 1000, 1)
	}
	if c := tr.Table()[2]; c.PerItem != 100 {
		t.Fatalf("cost fell below the floor: %+v", c)
	}
	if max, ok := tr.Table().MaxCost(2, 3); !ok || max != 100+3*100 {
		t.Fatalf("MaxCost = %d %v", max, ok)
	}
}

// A one-off slow request (a tail built for a new head) does not make its
// type unaffordable: not as the first observation, not later.
func TestCostTrackerOutlivesOneOffs(t *testing.T) {
	for _, at := range []int{0, 7, 19, 20, 100} {
		tr := NewCostTracker(CostTable{2: {PerItem: 1000}})
		for i := range 200 {
			cost := uint64(200)
			if i == at {
				cost = 50_000_000 // 50 ms for one item
			}
			tr.Observe(2, 1, cost)
		}
		if c := tr.Table()[2]; c.PerItem > 500 {
			t.Errorf("one-off at observation %d: learned %d per item, want about 400", at, c.PerItem)
		}
	}
	// A lasting rise is learned all the same.
	tr := NewCostTracker(CostTable{2: {PerItem: 1000}})
	for range 20 {
		tr.Observe(2, 1, 200)
	}
	for range 200 {
		tr.Observe(2, 1, 20_000)
	}
	if c := tr.Table()[2]; c.PerItem < 39_000 {
		t.Errorf("lasting rise to 20000 per item: learned %d, want about 40000", c.PerItem)
	}
}
