// Package auction sells a server's paid capacity in a uniform-price
// auction, as a pure core: clients bid a demand (the capacity they want,
// the least they accept, the highest price per capacity-unit-second), the
// highest bids win, and every winner pays the same clearing price — the
// highest losing bid, or the operator's reserve price when nobody lost.
//
// A winner pushed out by a higher bid keeps what it had for a grace period
// and is told at once when it loses it; the newcomer gets that capacity
// when the grace period ends, so capacity is never sold twice. The core
// reads time only from its clock and returns its decisions; the server
// applies them. See docs/auction.md for the rules and their properties.
package auction

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
)

// ID identifies a bidder (a client's node id).
type ID [32]byte

// Demand is a bid: up to Max capacity units, at least Min, at no more than
// Price wei per capacity-unit-second.
type Demand struct {
	Max, Min uint64
	Price    *big.Int
}

// Errors of Bid.
var (
	ErrBadDemand = errors.New("invalid demand")
)

// Validate checks a demand.
func (d Demand) Validate() error {
	switch {
	case d.Price == nil || d.Price.Sign() < 0:
		return fmt.Errorf("%w: no price", ErrBadDemand)
	case d.Min == 0 || d.Min > d.Max:
		return fmt.Errorf("%w: minimum %d, maximum %d", ErrBadDemand, d.Min, d.Max)
	}
	return nil
}

// Config configures an auction.
type Config struct {
	Clock    mclock.Clock // required
	Sellable uint64       // capacity for sale
	Reserve  *big.Int     // lowest price per capacity-unit-second (default 0)
	Grace    time.Duration
}

// Change tells a bidder what it has now: Capacity at Price. When Until is
// set, Capacity drops to Final at that time (a displaced winner's grace).
type Change struct {
	ID       ID
	Capacity uint64
	Price    *big.Int
	Until    mclock.AbsTime
	Final    uint64
}

type bid struct {
	Demand
	seq uint64
}

// hold is a displaced winner's grace: it keeps its capacity until then.
type hold struct {
	until mclock.AbsTime
}

// Auction is the auction state.
type Auction struct {
	cfg       Config
	bids      map[ID]*bid
	seq       uint64
	effective map[ID]uint64 // capacity held now, including holds
	holds     map[ID]hold
	price     *big.Int
	order     []entry // bids at or above the reserve in auction order, nil until needed
}

// New creates an auction.
func New(cfg Config) (*Auction, error) {
	if cfg.Clock == nil {
		return nil, errors.New("auction: no clock")
	}
	if cfg.Reserve == nil {
		cfg.Reserve = new(big.Int)
	}
	if cfg.Grace == 0 {
		cfg.Grace = 5 * time.Second
	}
	return &Auction{cfg: cfg, bids: make(map[ID]*bid), effective: make(map[ID]uint64), holds: make(map[ID]hold), price: new(big.Int).Set(cfg.Reserve)}, nil
}

// outcome is the allocation the bids alone call for.
type outcome struct {
	alloc map[ID]uint64
	price *big.Int
}

// clear runs the auction over bids for sellable capacity: bids at or above
// the reserve, highest price first (earlier bid first on a tie), each gets
// min(Max, what is left) if that is at least its Min. The first bid that
// cannot be served ends the allocation: it and every bid below it lose,
// and the clearing price is the highest losing price (or the reserve).
func clear(bids map[ID]*bid, sellable uint64, reserve *big.Int) outcome {
	out, _ := clearOrder(sorted(bids, reserve), sellable, reserve, nil, true)
	return out
}

// entry is a bid in the auction's order.
type entry struct {
	id ID
	b  *bid
}

// sorted lists the bids at or above the reserve in auction order.
func sorted(bids map[ID]*bid, reserve *big.Int) []entry {
	order := make([]entry, 0, len(bids))
	for id, b := range bids {
		if b.Price.Cmp(reserve) >= 0 {
			order = append(order, entry{id, b})
		}
	}
	sort.Slice(order, func(i, j int) bool {
		bi, bj := order[i].b, order[j].b
		if c := bi.Price.Cmp(bj.Price); c != 0 {
			return c > 0
		}
		if bi.seq != bj.seq {
			return bi.seq < bj.seq
		}
		return string(order[i].id[:]) < string(order[j].id[:])
	})
	return order
}

// probeID is the id a quote's demand takes: it ranks after every real bid
// at its price.
var probeID = func() (id ID) {
	for i := range id {
		id[i] = 0xff
	}
	return id
}()

// clearOrder clears bids in the given order; a probe, when given, is
// placed after every bid at or above its price (it is the newest bid), and
// what it wins is returned. The allocation is recorded only when asked
// for (a quote needs only the probe's share and the price).
func clearOrder(order []entry, sellable uint64, reserve *big.Int, probe *Demand, record bool) (outcome, uint64) {
	out := outcome{price: reserve}
	if record {
		out.alloc = make(map[ID]uint64)
	}
	var won uint64
	if probe != nil && probe.Price.Cmp(reserve) < 0 {
		probe = nil
	}
	left := sellable
	// serve gives one bid its share and reports whether the allocation
	// goes on.
	serve := func(id ID, d Demand) bool {
		give := min(d.Max, left)
		if give < d.Min {
			if d.Price.Cmp(out.price) > 0 {
				out.price = d.Price // the highest losing bid
			}
			return false
		}
		if id == probeID && probe != nil {
			won = give
		} else if record {
			out.alloc[id] = give
		}
		left -= give
		return true
	}
	for _, e := range order {
		id, b := e.id, e.b
		if probe != nil && probe.Price.Cmp(b.Price) > 0 {
			if !serve(probeID, *probe) {
				return out.finish(), won
			}
			probe = nil
		}
		if !serve(id, b.Demand) {
			return out.finish(), won
		}
	}
	if probe != nil {
		serve(probeID, *probe)
	}
	return out.finish(), won
}

// finish gives the outcome a price of its own (the walk shares the bids').
func (o outcome) finish() outcome {
	o.price = new(big.Int).Set(o.price)
	return o
}

// recompute moves to the allocation the bids call for, keeping displaced
// winners' capacity until their grace ends, and returns what changed.
func (a *Auction) recompute(now mclock.AbsTime) []Change {
	expired := make(map[ID]bool)
	for id, h := range a.holds {
		if now >= h.until {
			delete(a.holds, id)
			expired[id] = true
		}
	}
	if a.order == nil {
		a.order = sorted(a.bids, a.cfg.Reserve)
	}
	target, _ := clearOrder(a.order, a.cfg.Sellable, a.cfg.Reserve, nil, true)
	a.price = target.price

	// Everyone keeps what it has up to its target. A bidder above its
	// target keeps all it has while its grace runs; its grace starts now
	// unless it has just ended.
	newHolds := make(map[ID]bool)
	var held uint64
	next := make(map[ID]uint64, len(a.effective))
	for id, cur := range a.effective {
		t := target.alloc[id]
		keep := min(cur, t)
		if cur > t {
			if _, ok := a.holds[id]; !ok && !expired[id] && a.bids[id] != nil {
				a.holds[id] = hold{until: now + mclock.AbsTime(a.cfg.Grace)}
				newHolds[id] = true
			}
			if _, ok := a.holds[id]; ok {
				keep = cur
			}
		} else {
			delete(a.holds, id) // back at or above its old capacity
		}
		next[id] = keep
		held += keep
	}
	// Capacity that shrank below what is held is taken back at once, from
	// the lowest-ranked holders (no grace: it is gone).
	if held > a.cfg.Sellable {
		held = a.shrink(next, target, held)
	}
	// Growth goes out in rank order from what is left.
	free := a.cfg.Sellable - held
	for _, id := range a.rank() {
		if t, cur := target.alloc[id], next[id]; t > cur && free > 0 {
			add := min(t-cur, free)
			next[id] = cur + add
			free -= add
		}
	}
	// Report changes: new capacities, and new graces (the bidder learns
	// now when it loses capacity).
	var changes []Change
	seen := make(map[ID]bool)
	report := func(id ID) {
		if seen[id] {
			return
		}
		seen[id] = true
		if next[id] == a.effective[id] && !newHolds[id] {
			return
		}
		ch := Change{ID: id, Capacity: next[id], Price: new(big.Int).Set(a.price)}
		if h, ok := a.holds[id]; ok {
			ch.Until, ch.Final = h.until, target.alloc[id]
		}
		changes = append(changes, ch)
	}
	for id := range next {
		report(id)
	}
	for id := range a.effective {
		report(id)
	}
	for id, c := range next {
		if c == 0 {
			delete(next, id)
		}
	}
	a.effective = next
	sort.Slice(changes, func(i, j int) bool { return string(changes[i].ID[:]) < string(changes[j].ID[:]) })
	return changes
}

// shrink takes capacity back from the lowest-ranked holders until at most
// Sellable is held, and returns what is held then.
func (a *Auction) shrink(next map[ID]uint64, target outcome, held uint64) uint64 {
	order := a.rank()
	// Holders without a bid (withdrawn) rank lowest.
	for id := range next {
		if a.bids[id] == nil {
			order = append(order, id)
		}
	}
	// Each is cut to its target (which respects its minimum demand); the
	// targets fit, so this ends within Sellable.
	for i := len(order) - 1; i >= 0 && held > a.cfg.Sellable; i-- {
		id := order[i]
		if t := target.alloc[id]; next[id] > t {
			held -= next[id] - t
			next[id] = t
			delete(a.holds, id)
		}
	}
	return held
}

// reorder places a bid in the kept order (when the order is kept).
func (a *Auction) reorder(id ID, b *bid) {
	if a.order == nil || b.Price.Cmp(a.cfg.Reserve) < 0 {
		return
	}
	i := sort.Search(len(a.order), func(i int) bool {
		o := a.order[i].b
		if c := o.Price.Cmp(b.Price); c != 0 {
			return c < 0
		}
		return o.seq > b.seq || o.seq == b.seq && string(a.order[i].id[:]) > string(id[:])
	})
	a.order = append(a.order, entry{})
	copy(a.order[i+1:], a.order[i:])
	a.order[i] = entry{id, b}
}

// unorder takes a bid out of the kept order.
func (a *Auction) unorder(id ID) {
	for i, e := range a.order {
		if e.id == id {
			a.order = append(a.order[:i], a.order[i+1:]...)
			return
		}
	}
}

// rank orders bidders as the auction does: price, then bid order; bids
// below the reserve come last.
func (a *Auction) rank() []ID {
	if a.order == nil {
		a.order = sorted(a.bids, a.cfg.Reserve)
	}
	order := make([]ID, 0, len(a.bids))
	for _, e := range a.order {
		order = append(order, e.id)
	}
	if len(a.order) == len(a.bids) {
		return order
	}
	var below []entry
	for id, b := range a.bids {
		if b.Price.Cmp(a.cfg.Reserve) < 0 {
			below = append(below, entry{id, b})
		}
	}
	sort.Slice(below, func(i, j int) bool {
		if c := below[i].b.Price.Cmp(below[j].b.Price); c != 0 {
			return c > 0
		}
		return below[i].b.seq < below[j].b.seq
	})
	for _, e := range below {
		order = append(order, e.id)
	}
	return order
}

// Bid places or updates a bidder's demand.
func (a *Auction) Bid(id ID, d Demand) ([]Change, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if b := a.bids[id]; b != nil {
		a.unorder(id)
		b.Demand = Demand{Max: d.Max, Min: d.Min, Price: new(big.Int).Set(d.Price)}
		a.reorder(id, b)
	} else {
		a.seq++
		b := &bid{Demand: Demand{Max: d.Max, Min: d.Min, Price: new(big.Int).Set(d.Price)}, seq: a.seq}
		a.bids[id] = b
		a.reorder(id, b)
	}
	return a.recompute(a.cfg.Clock.Now()), nil
}

// Withdraw removes a bid (the bidder left or stopped paying); its capacity
// is released at once.
func (a *Auction) Withdraw(id ID) []Change {
	a.unorder(id)
	delete(a.bids, id)
	delete(a.holds, id)
	delete(a.effective, id)
	return a.recompute(a.cfg.Clock.Now())
}

// SetSellable changes the capacity for sale.
func (a *Auction) SetSellable(n uint64) []Change {
	a.cfg.Sellable = n
	return a.recompute(a.cfg.Clock.Now())
}

// Tick ends the grace periods that are over; the server calls it at
// NextDeadline.
func (a *Auction) Tick() []Change { return a.recompute(a.cfg.Clock.Now()) }

// NextDeadline is when the next grace period ends, if any.
func (a *Auction) NextDeadline() (mclock.AbsTime, bool) {
	var next mclock.AbsTime
	found := false
	for _, h := range a.holds {
		if !found || h.until < next {
			next, found = h.until, true
		}
	}
	return next, found
}

// Quote says what a demand would win now, without placing it: the capacity
// (when nobody's grace is running) and the clearing price. It costs one
// walk over the bids, sorted once per change of the bids.
func (a *Auction) Quote(d Demand) (uint64, *big.Int) {
	if d.Validate() != nil {
		return 0, new(big.Int).Set(a.price)
	}
	if a.order == nil {
		a.order = sorted(a.bids, a.cfg.Reserve)
	}
	out, won := clearOrder(a.order, a.cfg.Sellable, a.cfg.Reserve, &d, false)
	return won, out.price
}

// QuoteFor is Quote for bidder id's demand d as if it replaced id's bid
// (if any): what id would win by bidding d now.
func (a *Auction) QuoteFor(id ID, d Demand) (uint64, *big.Int) {
	if d.Validate() != nil {
		return 0, new(big.Int).Set(a.price)
	}
	if a.order == nil {
		a.order = sorted(a.bids, a.cfg.Reserve)
	}
	order := a.order
	if _, ok := a.bids[id]; ok {
		order = make([]entry, 0, len(a.order))
		for _, e := range a.order {
			if e.id != id {
				order = append(order, e)
			}
		}
	}
	out, won := clearOrder(order, a.cfg.Sellable, a.cfg.Reserve, &d, false)
	return won, out.price
}

// Price is the clearing price.
func (a *Auction) Price() *big.Int { return new(big.Int).Set(a.price) }

// Allocation is a bidder's capacity now.
func (a *Auction) Allocation(id ID) uint64 { return a.effective[id] }

// Sold is the capacity allocated now, including grace holds.
func (a *Auction) Sold() uint64 {
	var n uint64
	for _, c := range a.effective {
		n += c
	}
	return n
}
