// Package sim simulates a market of lightmarket servers and clients on a
// simulated clock: servers sell capacity in auctions (package auction),
// clients with private values come and go with the time of day, ask
// servers for quotes, bid where they are best served and re-bid when
// outbid. It reports prices, sold and free capacity, utilisation, winners'
// surplus, revenue and allocative efficiency, and draws them as an HTML
// page with inline SVG.
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
)

// Config configures a simulation. Zero values take the defaults noted.
type Config struct {
	Clients  int           // default 2000
	Servers  int           // default 10
	Duration time.Duration // simulated time, default 24h
	Step     time.Duration // default 1 minute
	Seed     int64         // default 1
}

func (c Config) withDefaults() Config {
	if c.Clients == 0 {
		c.Clients = 2000
	}
	if c.Servers == 0 {
		c.Servers = 10
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
	return c
}

// Sample is the market at one instant.
type Sample struct {
	At          time.Duration `json:"at"`
	MeanPrice   float64       `json:"mean_price"` // wei per unit-second, mean over servers
	Sold        uint64        `json:"sold"`
	Free        uint64        `json:"free"`
	Utilisation float64       `json:"utilisation"`
	Surplus     float64       `json:"surplus"` // winners' value minus price, wei per second
	Efficiency  float64       `json:"efficiency"`
	Active      int           `json:"active"`
}

// Report is a simulation's result.
type Report struct {
	Clients              int      `json:"clients"`
	Servers              int      `json:"servers"`
	SimulatedSeconds     float64  `json:"simulated_seconds"`
	WallSeconds          float64  `json:"wall_seconds"`
	AllocativeEfficiency float64  `json:"allocative_efficiency"`
	RevenueWei           string   `json:"revenue_wei"`
	Utilisation          float64  `json:"utilisation"`
	Samples              []Sample `json:"samples"`
}

type client struct {
	id     auction.ID
	value  int64  // private value, wei per unit-second
	want   uint64 // units
	active bool
	server int // where it bids, -1 if nowhere
	noise  []float64
}

type server struct {
	a        *auction.Auction
	sellable uint64
}

// Run simulates the market.
func Run(cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	start := time.Now()
	rng := rand.New(rand.NewSource(cfg.Seed))
	clock := new(mclock.Simulated)

	servers := make([]*server, cfg.Servers)
	var totalSellable uint64
	for i := range servers {
		sellable := uint64(50 + rng.Intn(101))
		a, err := auction.New(auction.Config{Clock: clock, Sellable: sellable, Reserve: big.NewInt(int64(5 + rng.Intn(20))), Grace: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		servers[i] = &server{a: a, sellable: sellable}
		totalSellable += sellable
	}
	clients := make([]*client, cfg.Clients)
	for i := range clients {
		c := &client{server: -1, want: uint64(1 + rng.Intn(3)), noise: make([]float64, cfg.Servers)}
		c.id[0], c.id[1], c.id[2] = byte(i), byte(i>>8), byte(i>>16)
		// Values are log-normal around 50 wei per unit-second.
		c.value = int64(50 * math.Exp(rng.NormFloat64()*0.6))
		for s := range c.noise {
			c.noise[s] = 1 + 0.1*rng.NormFloat64() // quality the client measured while free
		}
		clients[i] = c
	}

	rep := &Report{Clients: cfg.Clients, Servers: cfg.Servers}
	revenue := new(big.Int)
	var effSum, utilSum float64
	steps := int(cfg.Duration / cfg.Step)
	for step := range steps {
		at := time.Duration(step) * cfg.Step
		// Demand follows the day: between 20 % and 80 % of clients active.
		phase := 2 * math.Pi * at.Hours() / 24
		share := 0.5 - 0.3*math.Cos(phase)
		for _, c := range clients {
			wasActive := c.active
			if rng.Float64() < 0.05 { // some churn every step
				c.active = rng.Float64() < share
			}
			if wasActive && !c.active && c.server >= 0 {
				servers[c.server].a.Withdraw(c.id)
				c.server = -1
			}
		}
		// Active clients without capacity look for it.
		for _, c := range clients {
			if !c.active {
				continue
			}
			if c.server >= 0 && servers[c.server].a.Allocation(c.id) > 0 {
				continue
			}
			if c.server >= 0 {
				servers[c.server].a.Withdraw(c.id) // outbid there: try again
				c.server = -1
			}
			if rng.Float64() > 0.25 {
				continue // a client without capacity looks again every few minutes
			}
			d := auction.Demand{Max: c.want, Min: 1, Price: big.NewInt(c.value)}
			best, bestScore := -1, math.Inf(1)
			for _, s := range rng.Perm(cfg.Servers)[:min(3, cfg.Servers)] {
				if servers[s].a.Price().Int64() > c.value {
					continue // it cannot win there: the price is above its value
				}
				units, price := servers[s].a.Quote(d)
				if units == 0 || price.Int64() > c.value {
					continue
				}
				if score := float64(price.Int64()) / c.noise[s]; score < bestScore {
					best, bestScore = s, score
				}
			}
			if best >= 0 {
				servers[best].a.Bid(c.id, d)
				c.server = best
			}
		}
		clock.Run(cfg.Step)
		for _, s := range servers {
			s.a.Tick()
		}
		// Measure.
		sm := Sample{At: at}
		var value float64
		for _, s := range servers {
			sm.MeanPrice += float64(s.a.Price().Int64()) / float64(len(servers))
			sm.Sold += s.a.Sold()
		}
		for _, c := range clients {
			if c.server < 0 {
				continue
			}
			units := servers[c.server].a.Allocation(c.id)
			p := servers[c.server].a.Price()
			value += float64(units) * float64(c.value)
			sm.Surplus += float64(units) * float64(c.value-p.Int64())
			paid := new(big.Int).Mul(p, new(big.Int).SetUint64(units*uint64(cfg.Step/time.Second)))
			revenue.Add(revenue, paid)
		}
		sm.Free = totalSellable - sm.Sold
		sm.Utilisation = float64(sm.Sold) / float64(totalSellable)
		sm.Efficiency, sm.Active = efficiency(clients, value, totalSellable)
		effSum += sm.Efficiency
		utilSum += sm.Utilisation
		rep.Samples = append(rep.Samples, sm)
	}
	rep.SimulatedSeconds = cfg.Duration.Seconds()
	rep.WallSeconds = time.Since(start).Seconds()
	rep.AllocativeEfficiency = effSum / float64(steps)
	rep.Utilisation = utilSum / float64(steps)
	rep.RevenueWei = revenue.String()
	return rep, nil
}

// efficiency compares the value served with the best possible: all active
// clients' units by value, the highest filling the total capacity (an upper
// bound, as if all servers were one). Clients count only when their value is
// at least the lowest reserve, as a client below every reserve cannot be
// served.
func efficiency(clients []*client, value float64, capacity uint64) (float64, int) {
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
	var best float64
	for i := 0; i < len(units) && uint64(i) < capacity; i++ {
		best += float64(units[i])
	}
	if best == 0 {
		return 1, active
	}
	return math.Min(value/best, 1), active
}

// String summarises a report.
func (r *Report) String() string {
	return fmt.Sprintf("%d clients, %d servers, %.0f simulated s in %.2f s: efficiency %.3f, utilisation %.3f, revenue %s wei",
		r.Clients, r.Servers, r.SimulatedSeconds, r.WallSeconds, r.AllocativeEfficiency, r.Utilisation, r.RevenueWei)
}
