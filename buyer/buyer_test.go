package buyer

import (
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"pgregory.net/rapid"
)

func sid(b byte) ID { return ID{b} }

func offer(server byte, price int64, quality uint32) Offer {
	return Offer{Server: sid(server), Price: big.NewInt(price), WinCap: 2, WinPrice: big.NewInt(price), Quality: quality}
}

func demand(price int64) *Demand { return &Demand{Max: 2, Min: 1, Price: big.NewInt(price)} }

func TestDecisions(t *testing.T) {
	tests := []struct {
		name   string
		offers []Offer
		want   byte // 0: no bid
	}{
		{"cheapest wins", []Offer{offer(1, 30, 900_000), offer(2, 20, 900_000)}, 2},
		{"measured quality beats an unmeasured server at the same price", []Offer{offer(1, 20, 0), offer(2, 20, 800_000)}, 2},
		{"a good unmeasured server still beats a poor measured one", []Offer{offer(1, 20, 0), offer(2, 20, 200_000)}, 1},
		{"quality is worth paying for", []Offer{offer(1, 20, 400_000), offer(2, 30, 900_000)}, 2},
		{"above the demand's price: nowhere", []Offer{offer(1, 60, 900_000)}, 0},
		{"a quote that does not win is skipped", []Offer{{Server: sid(1), Price: big.NewInt(10), WinCap: 0, WinPrice: big.NewInt(10), Quality: 900_000}, offer(2, 40, 900_000)}, 2},
		{"no servers", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(Config{Clock: new(mclock.Simulated)})
			dec := b.Decide(demand(50), tt.offers)
			if tt.want == 0 {
				if dec.Bid {
					t.Fatalf("bid at %x, want nowhere", dec.Server[0])
				}
				return
			}
			if !dec.Bid || dec.Server != sid(tt.want) {
				t.Fatalf("bid %v at %x, want %d", dec.Bid, dec.Server[0], tt.want)
			}
		})
	}
}

// holdAt makes offers as the server where the demand stands reports them.
func holdAt(offers []Offer, at byte, held uint64) []Offer {
	out := append([]Offer{}, offers...)
	for i := range out {
		if out[i].Server == sid(at) {
			out[i].Held, out[i].Channel = held, true
		}
	}
	return out
}

func TestItSettles(t *testing.T) {
	clock := new(mclock.Simulated)
	b := New(Config{Clock: clock, ChannelCost: big.NewInt(100_000)})
	if dec := b.Decide(demand(50), []Offer{offer(1, 30, 900_000), offer(2, 31, 900_000)}); dec.Server != sid(1) {
		t.Fatal("first choice")
	}
	// Server 2 becomes a little cheaper: noise, not worth a move.
	clock.Run(10 * time.Minute)
	if dec := b.Decide(demand(50), holdAt([]Offer{offer(1, 30, 900_000), offer(2, 28, 900_000)}, 1, 2)); dec.Server != sid(1) || dec.Moved {
		t.Fatal("moved for 7 %")
	}
	// Much cheaper, but the saving over an hour (2 units × 3600 s × 3
	// wei) does not pay for a channel.
	if dec := b.Decide(demand(50), holdAt([]Offer{offer(1, 30, 900_000), offer(2, 20, 900_000)}, 1, 2)); dec.Server != sid(1) {
		t.Fatal("moved although the channel costs more than it saves")
	}
	// Much cheaper and worth the channel: it moves, once.
	if dec := b.Decide(demand(50), holdAt([]Offer{offer(1, 45, 900_000), offer(2, 20, 900_000)}, 1, 2)); dec.Server != sid(2) || !dec.Moved {
		t.Fatalf("did not move: %+v", dec)
	}
	// Right after a move it stays, even when the old server gets cheaper.
	clock.Run(time.Minute)
	if dec := b.Decide(demand(50), holdAt([]Offer{offer(1, 5, 900_000), offer(2, 20, 900_000)}, 2, 2)); dec.Server != sid(2) {
		t.Fatal("moved within its dwell time")
	}
	if b.Moves() != 1 {
		t.Fatalf("%d moves", b.Moves())
	}
}

// settledAt is a buyer that bid where offers put it first (server at) and
// then held capacity there for a minute.
func settledAt(offers []Offer, at byte) (*Buyer, *mclock.Simulated) {
	clock := new(mclock.Simulated)
	b := New(Config{Clock: clock})
	b.Decide(demand(50), offers)
	clock.Run(time.Minute)
	b.Decide(demand(50), holdAt(offers, at, 2))
	return b, clock
}

func TestLostCapacityIsSoughtElsewhere(t *testing.T) {
	b, clock := settledAt([]Offer{offer(1, 30, 900_000), offer(2, 35, 900_000)}, 1)
	clock.Run(time.Minute)
	// Outbid at 1 (holds nothing, and a new bid there would not win).
	offers := []Offer{{Server: sid(1), Price: big.NewInt(45), WinCap: 0, WinPrice: big.NewInt(60), Quality: 900_000}, offer(2, 35, 900_000)}
	dec := b.Decide(demand(50), offers)
	if dec.Server != sid(2) || !dec.Rebid || dec.Moved {
		t.Fatalf("%+v", dec)
	}
	// Nothing wins anywhere: free service, and it looks again later and
	// later.
	var waits []time.Duration
	for range 8 {
		dec := b.Decide(demand(20), offers)
		if dec.Bid {
			t.Fatal("bid although nothing wins")
		}
		waits = append(waits, time.Duration(dec.Next-clock.Now()))
	}
	if waits[0] != 5*time.Second || waits[1] != 10*time.Second || waits[7] != 5*time.Minute {
		t.Fatalf("waits %v", waits)
	}
	// Where it has a channel and the clearing price is within its own, a
	// bid waits for capacity to free up.
	offers[0].Price, offers[0].Channel = big.NewInt(15), true
	if dec := b.Decide(demand(20), offers); !dec.Bid || !dec.Standing || dec.Server != sid(1) {
		t.Fatalf("no standing bid: %+v", dec)
	}
}

func TestCapacityLostWhereABidStillWinsIsWonBackThere(t *testing.T) {
	b, clock := settledAt([]Offer{offer(1, 30, 800_000), offer(2, 36, 900_000)}, 1)
	clock.Run(5 * time.Minute)
	// Capacity at 1 is gone (its balance ran dry), but a bid there still
	// wins at 30. Server 2 is cheaper per quality by 2 %: noise, not a
	// reason to open a channel there.
	dec := b.Decide(demand(50), holdAt([]Offer{offer(1, 30, 800_000), offer(2, 33, 900_000)}, 1, 0))
	if !dec.Bid || dec.Server != sid(1) || dec.Rebid || dec.Moved {
		t.Fatalf("left for a 2 %% difference: %+v", dec)
	}
	if wait := time.Duration(dec.Next - clock.Now()); wait != 5*time.Second {
		t.Fatalf("looks again in %v, want soon", wait)
	}
	// Cheaper by more than the margin: it bids there instead.
	dec = b.Decide(demand(50), holdAt([]Offer{offer(1, 30, 800_000), offer(2, 25, 900_000)}, 1, 0))
	if dec.Server != sid(2) || !dec.Rebid || dec.Moved {
		t.Fatalf("%+v", dec)
	}
}

func TestQuotesOnlyWhereItCouldWin(t *testing.T) {
	clock := new(mclock.Simulated)
	b := New(Config{Clock: clock})
	asked := map[byte]int{}
	quoted := func(server byte, price, win int64) Offer {
		return Offer{Server: sid(server), Price: big.NewInt(price), Quality: 900_000, Quote: func() (uint64, *big.Int) {
			asked[server]++
			return 2, big.NewInt(win)
		}}
	}
	dec := b.Decide(demand(50), []Offer{quoted(1, 10, 12), quoted(2, 20, 20), quoted(3, 60, 60)})
	if dec.Server != sid(1) {
		t.Fatalf("%+v", dec)
	}
	// 1 won at 12, below 2's clearing price of 20: 2 was never asked; 3
	// is above the demand.
	if asked[1] != 1 || asked[2] != 0 || asked[3] != 0 {
		t.Fatalf("asked %v", asked)
	}
	// A refused quote is not asked again while the price stands.
	refuse := Offer{Server: sid(4), Price: big.NewInt(10), Quality: 900_000, Quote: func() (uint64, *big.Int) { asked[4]++; return 0, big.NewInt(70) }}
	b2 := New(Config{Clock: clock})
	b2.Decide(demand(50), []Offer{refuse})
	b2.Decide(demand(50), []Offer{refuse})
	if asked[4] != 1 {
		t.Fatalf("refused server asked %d times", asked[4])
	}
}

func TestKeep(t *testing.T) {
	b := New(Config{Clock: new(mclock.Simulated)})
	c := func(s byte, price int64, q uint32, paid bool) Candidate {
		return Candidate{Server: sid(s), Price: big.NewInt(price), Quality: q, Paid: paid}
	}
	cands := []Candidate{c(1, 10, 900_000, false), c(2, 10, 300_000, false), c(3, 50, 900_000, true), c(4, 10, 0, false), c(5, 5, 950_000, false)}
	for _, tt := range []struct {
		explore bool
		want    []ID
	}{
		// Paid first, then the best measured.
		{false, []ID{sid(3), sid(5), sid(1)}},
		// Exploring, the last place goes to the unmeasured server.
		{true, []ID{sid(3), sid(5), sid(4)}},
	} {
		got := b.Keep(cands, 3, tt.explore)
		if len(got) != 3 || got[0] != tt.want[0] || got[1] != tt.want[1] || got[2] != tt.want[2] {
			t.Fatalf("explore %v: kept %x, want %x", tt.explore, got, tt.want)
		}
	}
}

// TestNeverPaysAboveItsPriceAndMovesAtMostOncePerDwell: over any sequence
// of offers the bid stands only where it wins within the demand's price,
// and chosen moves are a dwell time apart.
func TestNeverPaysAboveItsPriceAndMovesAtMostOncePerDwell(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clock := new(mclock.Simulated)
		b := New(Config{Clock: clock, Dwell: 2 * time.Minute})
		limit := rapid.Int64Range(1, 100).Draw(t, "price")
		var lastMove mclock.AbsTime = -1
		var at ID
		var bidding bool
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			clock.Run(time.Duration(rapid.IntRange(1, 120).Draw(t, "wait")) * time.Second)
			var offers []Offer
			for s := range rapid.IntRange(0, 5).Draw(t, "servers") {
				price := rapid.Int64Range(0, 120).Draw(t, "p")
				o := Offer{Server: sid(byte(s)), Price: big.NewInt(price), WinCap: rapid.Uint64Range(0, 3).Draw(t, "cap"),
					WinPrice: big.NewInt(price + rapid.Int64Range(0, 20).Draw(t, "raise")), Quality: uint32(rapid.IntRange(0, QualityScale).Draw(t, "q"))}
				if bidding && o.Server == at {
					o.Held = rapid.Uint64Range(0, 2).Draw(t, "held")
				}
				offers = append(offers, o)
			}
			d := demand(limit)
			dec := b.Decide(d, offers)
			bidding, at = dec.Bid, dec.Server
			if !dec.Bid {
				continue
			}
			var o *Offer
			for i := range offers {
				if offers[i].Server == dec.Server {
					o = &offers[i]
				}
			}
			if o == nil || o.Price.Cmp(d.Price) > 0 {
				t.Fatalf("bids at %x, priced above %v or gone", dec.Server[0], d.Price)
			}
			if dec.Moved {
				if lastMove >= 0 && clock.Now()-lastMove < mclock.AbsTime(2*time.Minute) {
					t.Fatalf("moved twice within the dwell time")
				}
				lastMove = clock.Now()
			}
		}
	})
}
