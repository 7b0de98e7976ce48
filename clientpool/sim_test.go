package clientpool

import (
	"fmt"
	"math/big"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
)

// TestSimulatedDayKeepsCapacityUsed runs many clients that come and go
// against one pool for 10,000 simulated seconds, each using all the
// capacity it is given while connected (demand always exceeds supply). It
// checks that the pool keeps its capacity used (within 2 %), that paid
// clients are connected longer the richer they are, and that no IP's free
// clients together get more than one free allowance.
func TestSimulatedDayKeepsCapacityUsed(t *testing.T) {
	const (
		total    = 1_000_000
		free     = 10_000
		paidWant = 50_000
		steps    = 10_000
		step     = time.Second
	)
	clock := new(mclock.Simulated)
	p, err := New(Config{Clock: clock, TotalCapacity: total, FreeCapacity: free, MaxClients: 120})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	type sim struct {
		id        ID
		ip        string
		balance   int64
		connected time.Duration
	}
	var clients []*sim
	for i := range 300 {
		c := &sim{id: ID{byte(i), byte(i >> 8), 1}, ip: fmt.Sprintf("10.0.%d.%d", i%60, i%60)}
		if i < 40 {
			c.balance = int64(i+1) * 1e15 // 40 paid clients of increasing wealth
			p.SetBalance(c.id, big.NewInt(c.balance))
		}
		clients = append(clients, c)
	}
	online := map[ID]*sim{}
	var served, offered float64
	for range steps {
		// Some leave, some try to (re)join.
		for id := range online {
			if rng.Intn(100) == 0 {
				p.Disconnect(id)
				delete(online, id)
			}
		}
		for range 10 {
			c := clients[rng.Intn(len(clients))]
			if _, ok := online[c.id]; ok {
				continue
			}
			if _, changes, err := p.Connect(c.id, c.ip, paidWant); err == nil {
				online[c.id] = c
				for _, ch := range changes {
					if ch.Disconnect {
						delete(online, ch.ID)
					}
				}
			}
		}
		// Everyone online uses its whole capacity for the step.
		var used uint64
		for _, c := range p.Snapshot() {
			cost := float64(c.Capacity) * float64(step/time.Millisecond)
			p.Served(c.ID, uint64(cost))
			used += c.Capacity
			online[c.ID].connected += step
		}
		served += float64(used)
		offered += total
		clock.Run(step)
	}
	if u := served / offered; u < 0.98 {
		t.Errorf("capacity used %.2f%%, want within 2%% of all of it", 100*u)
	} else {
		t.Logf("capacity used %.2f%% over %d simulated seconds", 100*served/offered, steps)
	}
	// Richer paid clients stay connected at least as long (by quartiles).
	var paid []*sim
	for _, c := range clients {
		if c.balance > 0 {
			paid = append(paid, c)
		}
	}
	sort.Slice(paid, func(i, j int) bool { return paid[i].balance < paid[j].balance })
	quartile := func(q int) time.Duration {
		var sum time.Duration
		for _, c := range paid[q*10 : (q+1)*10] {
			sum += c.connected
		}
		return sum / 10
	}
	if quartile(3) < 5*quartile(0) || quartile(2) < quartile(1) {
		t.Errorf("paid connected time by wealth quartile %v %v %v %v: want it rising, the richest at least 5x the poorest", quartile(0), quartile(1), quartile(2), quartile(3))
	}
	t.Logf("paid connected time by wealth quartile: %v %v %v %v", quartile(0), quartile(1), quartile(2), quartile(3))
	// Free clients share alike: every IP's free usage within a factor of 3
	// of the median IP's (they differ by how often their clients were
	// lucky to find room).
	var usages []float64
	for ip := range p.usage {
		if u := p.ipUsage(ip, clock.Now()); u > 0 {
			usages = append(usages, u)
		}
	}
	sort.Float64s(usages)
	if len(usages) > 0 {
		med := usages[len(usages)/2]
		t.Logf("free usage per IP: min %.3g, median %.3g, max %.3g", usages[0], med, usages[len(usages)-1])
		if usages[len(usages)-1] > 3*med {
			t.Errorf("an IP used %.3g, over 3x the median %.3g", usages[len(usages)-1], med)
		}
	}
	// No IP holds more than one free allowance.
	perIP := map[string]uint64{}
	for _, c := range p.Snapshot() {
		if c.Tier == Free {
			perIP[c.IP] += c.Capacity
		}
	}
	for ip, c := range perIP {
		if c > free {
			t.Errorf("IP %s holds %d of free capacity", ip, c)
		}
	}
}
