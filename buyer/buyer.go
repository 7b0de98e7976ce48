// Package buyer is a client's buying strategy, as a pure core: from what it
// has measured of each server's free service and what each server quotes
// for its demand, it decides which servers to keep trying for free, where
// to bid for paid capacity, when to move, and when to look again. The
// client (package client) drives it from its network loop and the market
// simulator (package sim) drives it for thousands of simulated clients, so
// the simulator's figures are the real strategy's.
//
// The buyer settles: it holds paid capacity at one server at a time, moves
// only when the saving over a horizon beats the cost of moving (a new
// channel, a margin for measurement noise) and it has stayed for a minimum
// time, and it opens a channel only where it is about to bid. A server it
// has not measured counts as of middling quality, so free service that
// measured well is what wins a client's money. See docs/auction.md.
package buyer

import (
	"math/big"
	"sort"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
)

// ID identifies a server (its node id).
type ID [32]byte

// QualityScale is the quality of a perfect server; measured qualities are
// in (0, QualityScale].
const QualityScale = 1_000_000

// Demand is what the client wants: up to Max capacity units, at least Min,
// at no more than Price wei per capacity-unit-second.
type Demand struct {
	Max, Min uint64
	Price    *big.Int
}

// Offer is what the buyer knows of one server at the moment of a decision.
type Offer struct {
	Server ID
	// Price is the server's clearing price now.
	Price *big.Int
	// WinCap and WinPrice are what the demand would win there if it bid
	// now, as the server quotes it (ignored where the buyer holds
	// capacity). When WinPrice is nil the buyer calls Quote for them, and
	// only for servers whose clearing price leaves them a chance: a quote
	// may cost a round trip.
	WinCap   uint64
	WinPrice *big.Int
	Quote    func() (uint64, *big.Int)
	// Quality is the service measured there, 0 when not measured yet.
	Quality uint32
	// Held is the paid capacity the client holds there now.
	Held uint64
	// Channel says a payment channel to the server is open.
	Channel bool
}

// Config tunes a buyer. Zero values take the defaults noted.
type Config struct {
	Clock mclock.Clock // required
	// Dwell is how long the buyer stays where it holds capacity before it
	// considers a move (default 2 minutes).
	Dwell time.Duration
	// Margin is how much cheaper, per unit of quality, another server
	// must be, in percent, before the buyer moves there (default 15).
	Margin int64
	// Horizon is how long a move's saving is counted over when it is
	// weighed against the cost of a new channel (default 1 hour).
	Horizon time.Duration
	// ChannelCost is what opening a channel costs, in wei (default 0).
	ChannelCost *big.Int
	// Recheck is how often a buyer that holds capacity looks again
	// (default 5 minutes); Retry is the first wait after finding nothing,
	// doubling up to MaxRetry (defaults 5 s and 5 minutes).
	Recheck, Retry, MaxRetry time.Duration
	// Unmeasured is the quality assumed of a server not measured yet
	// (default half of QualityScale).
	Unmeasured uint32
}

func (c Config) withDefaults() Config {
	if c.Dwell == 0 {
		c.Dwell = 2 * time.Minute
	}
	if c.Margin == 0 {
		c.Margin = 15
	}
	if c.Horizon == 0 {
		c.Horizon = time.Hour
	}
	if c.ChannelCost == nil {
		c.ChannelCost = new(big.Int)
	}
	if c.Recheck == 0 {
		c.Recheck = 5 * time.Minute
	}
	if c.Retry == 0 {
		c.Retry = 5 * time.Second
	}
	if c.MaxRetry == 0 {
		c.MaxRetry = 5 * time.Minute
	}
	if c.Unmeasured == 0 {
		c.Unmeasured = QualityScale / 2
	}
	return c
}

// Decision is what the buyer does now.
type Decision struct {
	// Bid says where the demand should stand; false: withdraw everywhere
	// (free service only).
	Bid    bool
	Server ID
	// Moved says the bid left another server where the client held
	// capacity (a choice); Rebid says it left one where it had lost it.
	Moved, Rebid bool
	// Standing says the bid wins nothing now: it waits for capacity to
	// free up, where the client already has a channel.
	Standing bool
	// Next is when to decide again at the latest.
	Next mclock.AbsTime
}

// Buyer is one client's strategy state.
type Buyer struct {
	cfg   Config
	at    ID // where the demand stands
	bidAt bool
	held  bool           // it has held capacity where it stands
	since mclock.AbsTime // when it started standing there
	retry time.Duration
	moves int
	// refused remembers servers whose quote did not win, with their
	// clearing price then: they are not asked again while that price
	// stands, for up to twice MaxRetry.
	refused map[ID]refusal
}

type refusal struct {
	price *big.Int
	at    mclock.AbsTime
	min   uint64
	max   *big.Int
}

// New creates a buyer.
func New(cfg Config) *Buyer {
	if cfg.Clock == nil {
		panic("buyer: no clock")
	}
	return &Buyer{cfg: cfg.withDefaults()}
}

// Moves is how many times the buyer chose to leave a server where it held
// capacity for another.
func (b *Buyer) Moves() int { return b.moves }

// Decide chooses where the demand stands, from the offers of the servers
// the client can reach now. A nil demand withdraws.
func (b *Buyer) Decide(d *Demand, offers []Offer) Decision {
	now := b.cfg.Clock.Now()
	if d == nil || d.Price == nil || d.Min == 0 || d.Min > d.Max {
		b.bidAt, b.retry = false, 0
		return Decision{Next: now + mclock.AbsTime(b.cfg.Recheck)}
	}
	// Where the demand stands, as long as that server is still reachable
	// and not dearer than the demand allows.
	var cur *Offer
	for i := range offers {
		if b.bidAt && offers[i].Server == b.at {
			cur = &offers[i]
		}
	}
	if cur != nil && cur.Price.Cmp(d.Price) > 0 {
		cur = nil // priced out: it will lose there anyway
	}
	holding := cur != nil && cur.Held >= d.Min
	b.held = holding || b.held && cur != nil
	if holding && now-b.since < mclock.AbsTime(b.cfg.Dwell) {
		return Decision{Bid: true, Server: cur.Server, Next: now + mclock.AbsTime(b.cfg.Recheck)}
	}
	// Holding, it looks only at servers cheaper by the margin. So it does
	// where it stands without holding, as long as a bid there still wins:
	// capacity lost for a moment (a balance that ran dry, a grace still
	// running) is won back where it was, not chased elsewhere on noise.
	var bound *big.Int
	stay := holding
	if holding {
		bound = b.cost(cur.Price, cur)
	} else if cur != nil {
		if price, ok := b.winPrice(d, cur); ok {
			bound, stay = b.cost(price, cur), true
		}
	}
	if bound != nil {
		bound.Mul(bound, big.NewInt(100))
		bound.Quo(bound, big.NewInt(100+b.cfg.Margin))
	}
	best := b.best(d, offers, bound)

	switch {
	case holding && best != nil && b.worthMoving(d, cur, best, now):
		b.moves++
		dec := b.stand(best.Server, now)
		dec.Moved = true
		return dec
	case holding:
		return Decision{Bid: true, Server: cur.Server, Next: now + mclock.AbsTime(b.cfg.Recheck)}
	case stay && best == nil:
		// Not served there yet, or not any more, but a bid there wins:
		// it stays, and looks again soon.
		return Decision{Bid: true, Server: cur.Server, Next: now + mclock.AbsTime(b.cfg.Retry)}
	case best != nil:
		rebid := b.bidAt && b.held && best.Server != b.at
		dec := b.stand(best.Server, now)
		dec.Rebid = rebid
		return dec
	}
	// It wins nowhere now: look again later and later. Meanwhile a
	// standing bid waits where the client can bid without opening a
	// channel, for capacity to free up; elsewhere it is served free.
	b.retry = min(max(2*b.retry, b.cfg.Retry), b.cfg.MaxRetry)
	if w := b.waitAt(d, offers); w != nil {
		dec := b.stand(w.Server, now)
		dec.Standing, dec.Next = true, now+mclock.AbsTime(b.retry)
		return dec
	}
	b.bidAt = false
	return Decision{Next: now + mclock.AbsTime(b.retry)}
}

// waitAt is where a demand that wins nowhere waits: the server with a
// channel whose clearing price is within the demand's, lowest per unit of
// quality (nil: none).
func (b *Buyer) waitAt(d *Demand, offers []Offer) *Offer {
	var (
		best     *Offer
		bestCost *big.Int
	)
	for i := range offers {
		o := &offers[i]
		if !o.Channel || o.Price == nil || o.Price.Cmp(d.Price) > 0 {
			continue
		}
		if cost := b.cost(o.Price, o); best == nil || cost.Cmp(bestCost) < 0 {
			best, bestCost = o, cost
		}
	}
	return best
}

// stand puts the demand at a server.
func (b *Buyer) stand(server ID, now mclock.AbsTime) Decision {
	if !b.bidAt || b.at != server {
		b.since, b.held = now, false
	}
	b.at, b.bidAt, b.retry = server, true, 0
	return Decision{Bid: true, Server: server, Next: now + mclock.AbsTime(b.cfg.Recheck)}
}

// best is the offer where the demand would win at the lowest price per
// unit of quality, below bound when one is given (nil: it wins nowhere).
// Where the demand holds capacity it is judged by the price it pays there.
// Servers are looked at cheapest clearing price first, and quoted only
// while their clearing price (which a new bid can only raise) could still
// beat the best found.
func (b *Buyer) best(d *Demand, offers []Offer, bound *big.Int) *Offer {
	type lower struct {
		o    *Offer
		cost *big.Int
	}
	ls := make([]lower, 0, len(offers))
	for i := range offers {
		o := &offers[i]
		if o.Price == nil || o.Price.Cmp(d.Price) > 0 {
			continue
		}
		ls = append(ls, lower{o, b.cost(o.Price, o)})
	}
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].cost.Cmp(ls[j].cost) < 0 })
	var (
		best     *Offer
		bestCost = bound
	)
	for _, l := range ls {
		if bestCost != nil && l.cost.Cmp(bestCost) >= 0 {
			break
		}
		price, ok := b.winPrice(d, l.o)
		if !ok {
			continue
		}
		if !l.o.Channel && b.cfg.ChannelCost.Sign() > 0 {
			// A new channel's cost, spread over the horizon.
			spread := new(big.Int).SetUint64(max(l.o.WinCap, 1) * uint64(max(b.cfg.Horizon/time.Second, 1)))
			price = new(big.Int).Add(price, spread.Quo(b.cfg.ChannelCost, spread))
		}
		cost := b.cost(price, l.o)
		if bestCost == nil || cost.Cmp(bestCost) < 0 {
			best, bestCost = l.o, cost
		}
	}
	return best
}

// winPrice is the price the demand pays at a server if it stands there.
func (b *Buyer) winPrice(d *Demand, o *Offer) (*big.Int, bool) {
	if b.bidAt && o.Server == b.at && o.Held >= d.Min {
		return o.Price, o.Price.Cmp(d.Price) <= 0
	}
	if o.WinPrice == nil && o.Quote != nil {
		if r, ok := b.refused[o.Server]; ok && r.price.Cmp(o.Price) == 0 && r.min == d.Min && r.max.Cmp(d.Price) == 0 &&
			b.cfg.Clock.Now()-r.at < 2*mclock.AbsTime(b.cfg.MaxRetry) {
			return nil, false // refused at this price before
		}
		o.WinCap, o.WinPrice = o.Quote()
	}
	if o.WinPrice == nil || o.WinCap < d.Min || o.WinPrice.Cmp(d.Price) > 0 {
		if o.Quote != nil {
			if b.refused == nil {
				b.refused = make(map[ID]refusal)
			}
			b.refused[o.Server] = refusal{price: o.Price, at: b.cfg.Clock.Now(), min: d.Min, max: d.Price}
		}
		return nil, false
	}
	delete(b.refused, o.Server)
	return o.WinPrice, true
}

// cost is a price per unit of quality: price × QualityScale / quality.
func (b *Buyer) cost(price *big.Int, o *Offer) *big.Int {
	q := o.Quality
	if q == 0 {
		q = b.cfg.Unmeasured
	}
	c := new(big.Int).Mul(price, big.NewInt(QualityScale))
	return c.Quo(c, big.NewInt(int64(q)))
}

// worthMoving says whether leaving cur for next pays: the buyer has stayed
// its dwell time, next is cheaper per unit of quality by the margin, and
// what it saves over the horizon beats opening a channel there.
func (b *Buyer) worthMoving(d *Demand, cur, next *Offer, now mclock.AbsTime) bool {
	if next.Server == cur.Server || now-b.since < mclock.AbsTime(b.cfg.Dwell) {
		return false
	}
	curCost, nextCost := b.cost(cur.Price, cur), b.cost(next.WinPrice, next)
	// nextCost × (100 + margin) < curCost × 100
	lhs := new(big.Int).Mul(nextCost, big.NewInt(100+b.cfg.Margin))
	if lhs.Cmp(new(big.Int).Mul(curCost, big.NewInt(100))) >= 0 {
		return false
	}
	if next.Channel || b.cfg.ChannelCost.Sign() == 0 {
		return true
	}
	// Saving in wei over the horizon at the capacity held now.
	saving := new(big.Int).Sub(cur.Price, next.WinPrice)
	saving.Mul(saving, new(big.Int).SetUint64(min(cur.Held, next.WinCap)))
	saving.Mul(saving, big.NewInt(int64(b.cfg.Horizon/time.Second)))
	return saving.Cmp(b.cfg.ChannelCost) > 0
}

// Candidate is a server the client knows of, for choosing which to keep
// connected for free service.
type Candidate struct {
	Server  ID
	Price   *big.Int // clearing price it announced
	Quality uint32   // measured quality, 0 if never measured
	Paid    bool     // the client holds paid capacity there
}

// Keep chooses up to n servers to keep connected: where the client holds
// paid capacity first, then by price per unit of measured quality (the
// unmeasured at cfg.Unmeasured), so that servers whose free service
// measured well keep their place. With explore, the last place goes to a
// server not measured yet, if there is one: how a client comes to know
// servers it has not tried.
func (b *Buyer) Keep(cands []Candidate, n int, explore bool) []ID {
	type ranked struct {
		c    Candidate
		cost *big.Int
	}
	rs := make([]ranked, 0, len(cands))
	for _, c := range cands {
		price := c.Price
		if price == nil {
			price = new(big.Int)
		}
		// One wei added so that free servers still rank by quality.
		p := new(big.Int).Add(price, big.NewInt(1))
		rs = append(rs, ranked{c, b.cost(p, &Offer{Quality: c.Quality})})
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].c.Paid != rs[j].c.Paid {
			return rs[i].c.Paid
		}
		return rs[i].cost.Cmp(rs[j].cost) < 0
	})
	var keep []ID
	for _, r := range rs {
		if len(keep) == n {
			break
		}
		keep = append(keep, r.c.Server)
	}
	if !explore || n == 0 || len(rs) <= n {
		return keep
	}
	for _, r := range rs[:n] {
		if r.c.Quality == 0 {
			return keep // one is being tried already
		}
	}
	for _, r := range rs[n:] {
		if r.c.Quality == 0 {
			if kept := rs[n-1]; !kept.c.Paid && kept.c.Quality != 0 {
				keep[n-1] = r.c.Server
			}
			break
		}
	}
	return keep
}
