// Package sim simulates a market of lightmarket servers and clients on a
// simulated clock: servers sell capacity in auctions (package auction) and
// come and go; clients with private values follow the time of day, measure
// the free service of the servers they know, and buy with the client's own
// strategy (package buyer). It reports prices and their spread across
// servers, sold and free capacity, winners' surplus, revenue, how often
// clients move, and allocative efficiency against the pooled optimum, and
// draws them as an HTML page with inline SVG.
package sim

import (
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"sort"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"

	"github.com/lightmarket/lightmarket/auction"
	"github.com/lightmarket/lightmarket/buyer"
)

// Config configures a simulation. Zero values take the defaults noted.
type Config struct {
	Clients  int           // default 10,000
	Servers  int           // default 50
	Duration time.Duration // simulated time, default 24h
	Step     time.Duration // default 1 minute
	Seed     int64         // default 1
	// Known is how many servers a client keeps connected (default 8).
	Known int
}

func (c Config) withDefaults() Config {
	if c.Clients == 0 {
		c.Clients = 10_000
	}
	if c.Servers == 0 {
		c.Servers = 50
	}
	if c.Duration == 0 {
		c.Duration = 24 * time.Hour
	}
	if c.Step == 0 {
		c.Step = time.Minute
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Known == 0 {
		c.Known = 8
	}
	return c
}

// Sample is the market at one instant.
type Sample struct {
	At         time.Duration `json:"at"`
	MeanPrice  float64       `json:"mean_price"` // wei per unit-second, mean over servers online
	Dispersion float64       `json:"price_dispersion"`
	// AdjustedDispersion is the dispersion of prices per unit of quality,
	// what clients compare.
	AdjustedDispersion float64 `json:"price_dispersion_quality_adjusted"`
	Sold               uint64  `json:"sold"`
	Free               uint64  `json:"free"`
	Utilisation        float64 `json:"utilisation"`
	Surplus            float64 `json:"surplus"` // winners' value minus price, wei per second
	Efficiency         float64 `json:"efficiency"`
	Active             int     `json:"active"`
	Online             int     `json:"servers_online"`
	Moves              int     `json:"moves"` // clients that moved their bid in this step
}

// Report is a simulation's result.
type Report struct {
	Clients              int      `json:"clients"`
	Servers              int      `json:"servers"`
	SimulatedSeconds     float64  `json:"simulated_seconds"`
	WallSeconds          float64  `json:"wall_seconds"`
	AllocativeEfficiency float64  `json:"allocative_efficiency"`
	PriceDispersion      float64  `json:"price_dispersion"`
	AdjustedDispersion   float64  `json:"price_dispersion_quality_adjusted"`
	MovesPerClientHour   float64  `json:"moves_per_client_hour"`  // chosen: left capacity held for a better server
	RebidsPerClientHour  float64  `json:"rebids_per_client_hour"` // forced: bid elsewhere after losing capacity
	ChannelsPerClient    float64  `json:"channels_per_client"`    // payment channels opened
	RevenueWei           string   `json:"revenue_wei"`
	Utilisation          float64  `json:"utilisation"`
	Samples              []Sample `json:"samples"`
}

// channelCost is what a simulated client counts for opening a channel:
// about five minutes of a typical client's spend (two units at 50 wei per
// unit-second), in the simulation's wei.
const channelCost = 30_000

type client struct {
	id      auction.ID
	value   int64  // private value, wei per unit-second
	want    uint64 // units
	active  bool
	buyer   *buyer.Buyer
	next    mclock.AbsTime // when its buyer decides again
	server  int            // where its bid stands, -1 if nowhere
	known   []int          // servers it keeps connected
	quality []uint32       // what it measured of each server, 0 if never
	channel []bool         // servers it has opened a payment channel to
	noise   float64        // how far its measurements stray
}

type server struct {
	a        *auction.Auction
	sellable uint64
	reserve  int64
	quality  float64 // share of requests served well, (0, 1]
	online   bool
	back     time.Duration // when an offline server returns
}

// Run simulates the market.
func Run(cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	start := time.Now()
	rng := rand.New(rand.NewSource(cfg.Seed))
	clock := new(mclock.Simulated)

	servers := make([]*server, cfg.Servers)
	for i := range servers {
		// Capacity, reserve and quality differ: big and small, dear and
		// cheap, good and poor.
		sellable := uint64(50 + rng.Intn(101))
		reserve := int64(5 + rng.Intn(20))
		a, err := auction.New(auction.Config{Clock: clock, Sellable: sellable, Reserve: big.NewInt(reserve), Grace: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		servers[i] = &server{a: a, sellable: sellable, reserve: reserve, quality: 0.7 + 0.3*rng.Float64(), online: true}
		if rng.Float64() < 0.1 {
			// A tenth are new: they join during the first half of the run,
			// and clients hear of them as they explore.
			servers[i].online, servers[i].back = false, time.Duration(rng.Int63n(int64(cfg.Duration/2)))
		}
	}
	clients := make([]*client, cfg.Clients)
	for i := range clients {
		c := &client{server: -1, want: uint64(1 + rng.Intn(3)), quality: make([]uint32, cfg.Servers), channel: make([]bool, cfg.Servers), noise: 0.05 * rng.Float64()}
		c.id[0], c.id[1], c.id[2] = byte(i), byte(i>>8), byte(i>>16)
		// Values are log-normal around 50 wei per unit-second.
		c.value = int64(50 * math.Exp(rng.NormFloat64()*0.6))
		c.buyer = buyer.New(buyer.Config{Clock: clock, ChannelCost: big.NewInt(channelCost)})
		for _, k := range rng.Perm(cfg.Servers) {
			if len(c.known) < cfg.Known && servers[k].online {
				c.known = append(c.known, k)
			}
		}
		clients[i] = c
	}

	rep := &Report{Clients: cfg.Clients, Servers: cfg.Servers}
	revenue := new(big.Int)
	var effSum, utilSum, dispSum, adjSum, activeHours float64
	moves, rebids, channels := 0, 0, 0
	steps := int(cfg.Duration / cfg.Step)
	offers := make([]buyer.Offer, 0, cfg.Known)
	for step := range steps {
		at := time.Duration(step) * cfg.Step
		now := clock.Now()
		// Servers leave (about one in fifty an hour, for one to four hours)
		// and come back.
		for _, s := range servers {
			switch {
			case s.online && rng.Float64() < cfg.Step.Hours()/50:
				s.online, s.back = false, at+time.Duration(1+rng.Intn(4))*time.Hour
				for _, c := range clients {
					if c.server >= 0 && servers[c.server] == s {
						s.a.Withdraw(c.id)
						c.server, c.next = -1, now
					}
				}
			case !s.online && at >= s.back:
				s.online = true
			}
		}
		// Demand follows the day: between 20 % and 80 % of clients active.
		phase := 2 * math.Pi * at.Hours() / 24
		share := 0.5 - 0.3*math.Cos(phase)
		for _, c := range clients {
			if rng.Float64() < 0.05 { // some churn every step
				was := c.active
				c.active = rng.Float64() < share
				if c.active != was {
					c.next = now
				}
			}
		}
		// Each client's buyer decides when it is due, or at once when it
		// lost its capacity.
		stepMoves := 0
		for ci, c := range clients {
			if c.server >= 0 && c.next > now && servers[c.server].a.Allocation(c.id) == 0 {
				c.next = now
			}
			if c.next > now {
				continue
			}
			if !c.active {
				c.buyer.Decide(nil, nil)
				if c.server >= 0 {
					servers[c.server].a.Withdraw(c.id)
					c.server = -1
				}
				c.next = now + mclock.AbsTime(time.Hour)
				continue
			}
			if step%60 == ci%60 {
				explore(c, servers, rng, cfg.Known)
			}
			d := buyer.Demand{Max: c.want, Min: 1, Price: big.NewInt(c.value)}
			offers = offers[:0]
			for _, k := range c.known {
				s := servers[k]
				if !s.online {
					continue
				}
				// Free service measured while connected.
				if c.quality[k] == 0 {
					q := s.quality * (1 + c.noise*rng.NormFloat64())
					c.quality[k] = uint32(math.Max(1, math.Min(1, q)*buyer.QualityScale))
				}
				o := buyer.Offer{Server: serverID(k), Price: s.a.Price(), Quality: c.quality[k], Channel: c.channel[k]}
				if k == c.server {
					o.Held, o.Channel = s.a.Allocation(c.id), true
				} else {
					o.Quote = func() (uint64, *big.Int) { return s.a.QuoteFor(c.id, auction.Demand(d)) }
				}
				offers = append(offers, o)
			}
			dec := c.buyer.Decide(&d, offers)
			c.next = dec.Next
			target := -1
			if dec.Bid {
				target = serverIndex(dec.Server)
			}
			if target != c.server && c.server >= 0 {
				servers[c.server].a.Withdraw(c.id)
			}
			if target >= 0 && target != c.server {
				servers[target].a.Bid(c.id, auction.Demand(d))
				if !c.channel[target] {
					c.channel[target] = true
					channels++
				}
			}
			if dec.Moved {
				stepMoves++
			}
			if dec.Rebid {
				rebids++
			}
			c.server = target
		}
		moves += stepMoves
		clock.Run(cfg.Step)
		for _, s := range servers {
			if s.online {
				s.a.Tick()
			}
		}
		// Measure.
		sm := Sample{At: at, Moves: stepMoves}
		var value float64
		var prices, adjusted []float64
		var capacity uint64
		for _, s := range servers {
			if !s.online {
				continue
			}
			sm.Online++
			capacity += s.sellable
			// The price a unit pays to enter now: the clearing price it
			// would set by outbidding the lowest winner, or the reserve
			// where capacity is free.
			_, entry := s.a.Quote(auction.Demand{Max: 1, Min: 1, Price: big.NewInt(math.MaxInt64)})
			prices = append(prices, float64(entry.Int64()))
			adjusted = append(adjusted, float64(entry.Int64())/s.quality)
			sm.Sold += s.a.Sold()
		}
		sm.MeanPrice, sm.Dispersion = meanCV(prices)
		_, sm.AdjustedDispersion = meanCV(adjusted)
		for _, c := range clients {
			if c.active {
				activeHours += cfg.Step.Hours()
			}
			if c.server < 0 {
				continue
			}
			s := servers[c.server]
			units := s.a.Allocation(c.id)
			p := s.a.Price()
			value += float64(units) * float64(c.value)
			sm.Surplus += float64(units) * float64(c.value-p.Int64())
			paid := new(big.Int).Mul(p, new(big.Int).SetUint64(units*uint64(cfg.Step/time.Second)))
			revenue.Add(revenue, paid)
		}
		sm.Free = capacity - sm.Sold
		if capacity > 0 {
			sm.Utilisation = float64(sm.Sold) / float64(capacity)
		}
		sm.Efficiency, sm.Active = efficiency(clients, servers, value)
		effSum += sm.Efficiency
		utilSum += sm.Utilisation
		dispSum += sm.Dispersion
		adjSum += sm.AdjustedDispersion
		rep.Samples = append(rep.Samples, sm)
	}
	rep.SimulatedSeconds = cfg.Duration.Seconds()
	rep.WallSeconds = time.Since(start).Seconds()
	rep.AllocativeEfficiency = effSum / float64(steps)
	rep.Utilisation = utilSum / float64(steps)
	rep.PriceDispersion = dispSum / float64(steps)
	rep.AdjustedDispersion = adjSum / float64(steps)
	if activeHours > 0 {
		rep.MovesPerClientHour = float64(moves) / activeHours
		rep.RebidsPerClientHour = float64(rebids) / activeHours
		rep.ChannelsPerClient = float64(channels) / float64(cfg.Clients)
	}
	rep.RevenueWei = revenue.String()
	return rep, nil
}

// explore is a client's hourly look for servers beyond those it knows: it
// hears of one at random (as discovery would find it) and keeps the best
// of the known by its buyer's ranking, which gives one unmeasured server a
// try. A client keeps n servers.
func explore(c *client, servers []*server, rng *rand.Rand, n int) {
	cands := make([]buyer.Candidate, 0, len(c.known)+1)
	add := func(k int) {
		s := servers[k]
		if !s.online {
			return
		}
		cands = append(cands, buyer.Candidate{Server: serverID(k), Price: s.a.Price(), Quality: c.quality[k], Paid: k == c.server})
	}
	for _, k := range c.known {
		add(k)
	}
	if k := rng.Intn(len(servers)); !containsInt(c.known, k) {
		add(k)
	}
	keep := c.buyer.Keep(cands, n, true)
	c.known = c.known[:0]
	for _, id := range keep {
		c.known = append(c.known, serverIndex(id))
	}
	if c.server >= 0 && !containsInt(c.known, c.server) {
		c.known = append(c.known, c.server) // never drops where it stands
	}
}

func serverID(k int) buyer.ID {
	var id buyer.ID
	id[0], id[1] = byte(k), byte(k>>8)
	return id
}

func serverIndex(id buyer.ID) int { return int(id[0]) | int(id[1])<<8 }

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// meanCV is the mean of xs and their coefficient of variation (standard
// deviation over mean).
func meanCV(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	var sum, sq float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	for _, x := range xs {
		sq += (x - mean) * (x - mean)
	}
	if mean == 0 {
		return 0, 0
	}
	return mean, math.Sqrt(sq/float64(len(xs))) / mean
}

// efficiency compares the value served with the pooled optimum: the most
// value the capacity of the servers online could serve, as if one market
// placed every active client's units, highest value first, each at a
// server whose reserve it meets (the most restrictive such server with
// room, which leaves the cheap ones for lower values; with nested
// eligibility this greedy placement is optimal).
func efficiency(clients []*client, servers []*server, value float64) (float64, int) {
	var units []int64
	active := 0
	for _, c := range clients {
		if !c.active {
			continue
		}
		active++
		for range c.want {
			units = append(units, c.value)
		}
	}
	sort.Slice(units, func(i, j int) bool { return units[i] > units[j] })
	// Room by reserve, dearest reserve first.
	type room struct {
		reserve int64
		left    uint64
	}
	var rooms []room
	for _, s := range servers {
		if s.online {
			rooms = append(rooms, room{s.reserve, s.sellable})
		}
	}
	sort.Slice(rooms, func(i, j int) bool { return rooms[i].reserve > rooms[j].reserve })
	var best float64
	for _, v := range units {
		if len(rooms) == 0 || rooms[len(rooms)-1].reserve > v {
			break // no room left that this value (or any lower) meets
		}
		for i := range rooms {
			if rooms[i].reserve <= v {
				best += float64(v)
				if rooms[i].left--; rooms[i].left == 0 {
					rooms = append(rooms[:i], rooms[i+1:]...)
				}
				break
			}
		}
	}
	if best == 0 {
		return 1, active
	}
	return math.Min(value/best, 1), active
}

// String summarises a report.
func (r *Report) String() string {
	return fmt.Sprintf("%d clients, %d servers, %.0f simulated s in %.2f s: efficiency %.3f, price dispersion %.3f, moves per client-hour %.3f (rebids after losing capacity %.3f), utilisation %.3f, revenue %s wei",
		r.Clients, r.Servers, r.SimulatedSeconds, r.WallSeconds, r.AllocativeEfficiency, r.PriceDispersion, r.MovesPerClientHour, r.RebidsPerClientHour, r.Utilisation, r.RevenueWei)
}
