package auction

import (
	"math/big"
	"sort"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"pgregory.net/rapid"
)

func id(n byte) ID { return ID{n} }

func unit(price int64) Demand { return Demand{Max: 1, Min: 1, Price: big.NewInt(price)} }

func newAuction(t interface{ Fatal(...any) }, sellable uint64, reserve int64) (*Auction, *mclock.Simulated) {
	clock := new(mclock.Simulated)
	a, err := New(Config{Clock: clock, Sellable: sellable, Reserve: big.NewInt(reserve), Grace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return a, clock
}

func TestTwoHighestWinAtTheHighestLosingBid(t *testing.T) {
	a, _ := newAuction(t, 2, 10)
	a.Bid(id(1), unit(30))
	a.Bid(id(2), unit(20))
	if a.Price().Int64() != 10 {
		t.Fatalf("price with capacity left = %v, want the reserve 10", a.Price())
	}
	a.Bid(id(3), unit(15))
	if a.Allocation(id(1)) != 1 || a.Allocation(id(2)) != 1 || a.Allocation(id(3)) != 0 {
		t.Fatalf("allocations %d %d %d", a.Allocation(id(1)), a.Allocation(id(2)), a.Allocation(id(3)))
	}
	if a.Price().Int64() != 15 {
		t.Fatalf("price = %v, want the highest losing bid 15", a.Price())
	}
	a.Bid(id(4), unit(5)) // below the reserve: never wins, never sets the price
	if a.Price().Int64() != 15 {
		t.Fatalf("a bid below the reserve moved the price to %v", a.Price())
	}
	if c, p := a.Quote(unit(25)); c != 1 || p.Int64() != 20 {
		t.Fatalf("quote for 25 = %d at %v, want 1 at 20 (it would push out the bid of 20)", c, p)
	}
	if c, _ := a.Quote(unit(12)); c != 0 {
		t.Fatalf("quote for 12 wins %d", c)
	}
}

func TestDisplacedWinnerKeepsCapacityForTheGracePeriod(t *testing.T) {
	a, clock := newAuction(t, 2, 0)
	a.Bid(id(1), unit(30))
	a.Bid(id(2), unit(20))
	changes, _ := a.Bid(id(3), unit(40))
	// Bidder 2 is told at once that it loses its unit in 5 s; bidder 3 gets
	// nothing until then, so no more than 2 units are ever out.
	if len(changes) != 1 || changes[0].ID != id(2) || changes[0].Capacity != 1 || changes[0].Final != 0 || changes[0].Until != clock.Now()+mclock.AbsTime(5*time.Second) {
		t.Fatalf("changes = %+v", changes)
	}
	if a.Allocation(id(3)) != 0 || a.Sold() != 2 {
		t.Fatalf("newcomer got %d, sold %d", a.Allocation(id(3)), a.Sold())
	}
	if at, ok := a.NextDeadline(); !ok || at != clock.Now()+mclock.AbsTime(5*time.Second) {
		t.Fatalf("next deadline %v %v", at, ok)
	}
	clock.Run(5 * time.Second)
	changes = a.Tick()
	if a.Allocation(id(2)) != 0 || a.Allocation(id(3)) != 1 || len(changes) != 2 {
		t.Fatalf("after the grace: %d %d, changes %+v", a.Allocation(id(2)), a.Allocation(id(3)), changes)
	}
	if a.Price().Int64() != 20 {
		t.Fatalf("price %v, want 20", a.Price())
	}
}

func TestMinimumDemandAndWithdraw(t *testing.T) {
	a, _ := newAuction(t, 10, 1)
	a.Bid(id(1), Demand{Max: 6, Min: 4, Price: big.NewInt(50)})
	a.Bid(id(2), Demand{Max: 6, Min: 5, Price: big.NewInt(40)}) // only 4 left: loses
	a.Bid(id(3), Demand{Max: 2, Min: 1, Price: big.NewInt(30)}) // below the first loser: loses too
	if a.Allocation(id(1)) != 6 || a.Allocation(id(2)) != 0 || a.Allocation(id(3)) != 0 || a.Price().Int64() != 40 {
		t.Fatalf("allocations %d %d %d at %v", a.Allocation(id(1)), a.Allocation(id(2)), a.Allocation(id(3)), a.Price())
	}
	a.Withdraw(id(1))
	if a.Allocation(id(2)) != 6 || a.Allocation(id(3)) != 2 || a.Price().Int64() != 1 {
		t.Fatalf("after withdrawal: %d %d at %v", a.Allocation(id(2)), a.Allocation(id(3)), a.Price())
	}
	if _, err := a.Bid(id(4), Demand{Max: 1, Min: 2, Price: big.NewInt(1)}); err == nil {
		t.Fatal("min above max accepted")
	}
}

func TestLoweringSellableCutsAtOnce(t *testing.T) {
	a, _ := newAuction(t, 10, 0)
	a.Bid(id(1), Demand{Max: 6, Min: 1, Price: big.NewInt(50)})
	a.Bid(id(2), Demand{Max: 4, Min: 1, Price: big.NewInt(40)})
	a.SetSellable(7)
	if a.Sold() > 7 || a.Allocation(id(1)) != 6 || a.Allocation(id(2)) != 1 {
		t.Fatalf("sold %d: %d %d", a.Sold(), a.Allocation(id(1)), a.Allocation(id(2)))
	}
}

type bidSpec struct {
	max, min uint64
	price    int64
}

func drawBids(t *rapid.T) (map[ID]*bid, uint64, *big.Int) {
	n := rapid.IntRange(0, 12).Draw(t, "n")
	bids := make(map[ID]*bid)
	for i := range n {
		max := rapid.Uint64Range(1, 10).Draw(t, "max")
		bids[id(byte(i))] = &bid{Demand: Demand{Max: max, Min: rapid.Uint64Range(1, max).Draw(t, "min"), Price: big.NewInt(rapid.Int64Range(0, 100).Draw(t, "price"))}, seq: uint64(i)}
	}
	return bids, rapid.Uint64Range(0, 40).Draw(t, "sellable"), big.NewInt(rapid.Int64Range(0, 50).Draw(t, "reserve"))
}

// TestClearingProperties: never more than sellable; every winner's bid >=
// the clearing price >= every loser's bid; the reserve is respected.
func TestClearingProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bids, sellable, reserve := drawBids(t)
		out := clear(bids, sellable, reserve)
		var sold uint64
		for id, c := range out.alloc {
			sold += c
			b := bids[id]
			if c < b.Min || c > b.Max {
				t.Fatalf("winner got %d outside [%d, %d]", c, b.Min, b.Max)
			}
			if b.Price.Cmp(out.price) < 0 {
				t.Fatalf("winner bid %v below the clearing price %v", b.Price, out.price)
			}
		}
		if sold > sellable {
			t.Fatalf("sold %d of %d", sold, sellable)
		}
		if out.price.Cmp(reserve) < 0 {
			t.Fatalf("price %v below reserve %v", out.price, reserve)
		}
		for id, b := range bids {
			if out.alloc[id] == 0 && b.Price.Cmp(out.price) > 0 && b.Price.Cmp(reserve) >= 0 {
				t.Fatalf("loser bid %v above the clearing price %v", b.Price, out.price)
			}
		}
	})
}

// TestRaisingABidNeverLowersTheAllocation (monotonicity).
func TestRaisingABidNeverLowersTheAllocation(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bids, sellable, reserve := drawBids(t)
		if len(bids) == 0 {
			t.Skip("no bids")
		}
		who := id(byte(rapid.IntRange(0, len(bids)-1).Draw(t, "who")))
		before := clear(bids, sellable, reserve).alloc[who]
		raised := *bids[who]
		raised.Price = new(big.Int).Add(raised.Price, big.NewInt(rapid.Int64Range(1, 100).Draw(t, "raise")))
		bids[who] = &raised
		if after := clear(bids, sellable, reserve).alloc[who]; after < before {
			t.Fatalf("raising the bid cut the allocation from %d to %d", before, after)
		}
	})
}

// TestUnitDemandsAreEfficient: with unit demands the winners are the
// highest bids at or above the reserve, which maximises the value served.
func TestUnitDemandsAreEfficient(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 20).Draw(t, "n")
		bids := make(map[ID]*bid)
		var prices []int64
		reserve := rapid.Int64Range(0, 30).Draw(t, "reserve")
		for i := range n {
			p := rapid.Int64Range(0, 100).Draw(t, "price")
			bids[id(byte(i))] = &bid{Demand: unit(p), seq: uint64(i)}
			if p >= reserve {
				prices = append(prices, p)
			}
		}
		sellable := rapid.Uint64Range(0, 25).Draw(t, "sellable")
		out := clear(bids, sellable, big.NewInt(reserve))
		var got int64
		for id := range out.alloc {
			got += bids[id].Price.Int64()
		}
		sort.Slice(prices, func(i, j int) bool { return prices[i] > prices[j] })
		var best int64
		for i := 0; i < len(prices) && uint64(i) < sellable; i++ {
			best += prices[i]
		}
		if got != best {
			t.Fatalf("value served %d, optimum %d", got, best)
		}
	})
}

// TestTruthfulBiddingIsBestWithUnitDemand: a bidder with unit demand and
// value v does no better with any bid b != v (utility v - price if it
// wins, 0 if not).
func TestTruthfulBiddingIsBestWithUnitDemand(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 10).Draw(t, "others")
		bids := make(map[ID]*bid)
		for i := range n {
			bids[id(byte(i+1))] = &bid{Demand: unit(rapid.Int64Range(0, 100).Draw(t, "price")), seq: uint64(i + 1)}
		}
		sellable := rapid.Uint64Range(1, 8).Draw(t, "sellable")
		reserve := big.NewInt(rapid.Int64Range(0, 20).Draw(t, "reserve"))
		value := rapid.Int64Range(0, 120).Draw(t, "value")
		utility := func(b int64) int64 {
			// The bidder bids last among equals: ties go against it, the
			// worst case for the truthful bid.
			bids[id(0)] = &bid{Demand: unit(b), seq: 1000}
			out := clear(bids, sellable, reserve)
			if out.alloc[id(0)] == 0 {
				return 0
			}
			return value - out.price.Int64()
		}
		truthful := utility(value)
		other := rapid.Int64Range(0, 150).Draw(t, "bid")
		if u := utility(other); u > truthful {
			t.Fatalf("bidding %d gives %d, bidding the true value %d gives %d", other, u, value, truthful)
		}
	})
}

// TestAuctionNeverOverAllocates drives the whole auction with grace
// periods through random bids, withdrawals, capacity changes and time.
func TestAuctionNeverOverAllocates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, clock := newAuction(t, rapid.Uint64Range(0, 30).Draw(t, "sellable"), rapid.Int64Range(0, 20).Draw(t, "reserve"))
		ids := rapid.SampledFrom([]ID{id(1), id(2), id(3), id(4), id(5), id(6)})
		t.Repeat(map[string]func(*rapid.T){
			"bid": func(t *rapid.T) {
				max := rapid.Uint64Range(1, 10).Draw(t, "max")
				a.Bid(ids.Draw(t, "id"), Demand{Max: max, Min: rapid.Uint64Range(1, max).Draw(t, "min"), Price: big.NewInt(rapid.Int64Range(0, 100).Draw(t, "price"))})
			},
			"withdraw": func(t *rapid.T) { a.Withdraw(ids.Draw(t, "id")) },
			"sellable": func(t *rapid.T) { a.SetSellable(rapid.Uint64Range(0, 30).Draw(t, "n")) },
			"time": func(t *rapid.T) {
				clock.Run(time.Duration(rapid.Int64Range(0, int64(8*time.Second)).Draw(t, "dt")))
				a.Tick()
			},
			"": func(t *rapid.T) {
				if a.Sold() > a.cfg.Sellable {
					t.Fatalf("sold %d of %d", a.Sold(), a.cfg.Sellable)
				}
				if a.Price().Cmp(a.cfg.Reserve) < 0 {
					t.Fatalf("price %v below the reserve", a.Price())
				}
				// Without running graces, everyone has exactly its target.
				if _, ok := a.NextDeadline(); !ok {
					target := clear(a.bids, a.cfg.Sellable, a.cfg.Reserve)
					for id, b := range a.bids {
						if a.Allocation(id) != target.alloc[id] {
							t.Fatalf("bidder %x (%v) holds %d, target %d", id[:1], b.Price, a.Allocation(id), target.alloc[id])
						}
					}
				}
			},
		})
	})
}

// TestQuoteIsWhatTheBidWouldWin: a quote equals clearing the bids with the
// demand added as the newest bid, through bids placed, changed and
// withdrawn.
func TestQuoteIsWhatTheBidWouldWin(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bids, sellable, reserve := drawBids(t)
		a, _ := New(Config{Clock: new(mclock.Simulated), Sellable: sellable, Reserve: reserve})
		for i := range len(bids) {
			a.Bid(id(byte(i)), bids[id(byte(i))].Demand)
		}
		if rapid.Bool().Draw(t, "withdraw") && len(bids) > 0 {
			a.Withdraw(id(0))
		}
		max := rapid.Uint64Range(1, 10).Draw(t, "qmax")
		d := Demand{Max: max, Min: rapid.Uint64Range(1, max).Draw(t, "qmin"), Price: big.NewInt(rapid.Int64Range(0, 100).Draw(t, "qprice"))}
		units, price := a.Quote(d)
		with := make(map[ID]*bid)
		for id, b := range a.bids {
			with[id] = b
		}
		with[probeID] = &bid{Demand: d, seq: a.seq + 1}
		want := clear(with, sellable, reserve)
		if units != want.alloc[probeID] || price.Cmp(want.price) != 0 {
			t.Fatalf("quote %d at %v, placing it wins %d at %v", units, price, want.alloc[probeID], want.price)
		}
	})
}

// TestQuoteForABidderIgnoresItsOwnBid: a bidder asking what a demand
// would win does not compete with the bid it already has.
func TestQuoteForABidderIgnoresItsOwnBid(t *testing.T) {
	a, _ := New(Config{Clock: new(mclock.Simulated), Sellable: 200})
	a.Bid(id(1), Demand{Max: 100, Min: 100, Price: big.NewInt(20)})
	a.Bid(id(2), Demand{Max: 100, Min: 100, Price: big.NewInt(20)})
	d := Demand{Max: 100, Min: 100, Price: big.NewInt(20)}
	if units, _ := a.Quote(d); units != 0 {
		t.Fatalf("a third bidder quoted %d of a full auction", units)
	}
	if units, _ := a.QuoteFor(id(2), d); units != 100 {
		t.Fatalf("a winner asking about its own demand quoted %d, want 100", units)
	}
}
