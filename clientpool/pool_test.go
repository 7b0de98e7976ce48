package clientpool

import (
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"pgregory.net/rapid"
)

func id(n byte) ID { return ID{n} }

func newPool(t interface{ Fatal(...any) }, cfg Config) (*Pool, *mclock.Simulated) {
	clock := new(mclock.Simulated)
	cfg.Clock = clock
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, clock
}

func TestFreeClientsFillThePoolUpToItsLimits(t *testing.T) {
	p, _ := newPool(t, Config{TotalCapacity: 1000, FreeCapacity: 100, MaxClients: 5})
	for i := range 5 {
		c, changes, err := p.Connect(id(byte(i)), "10.0.0."+string(rune('1'+i)), 0)
		if err != nil || c.Capacity != 100 || c.Tier != Free || len(changes) != 0 {
			t.Fatalf("client %d: %+v %v %v", i, c, changes, err)
		}
	}
	if _, _, err := p.Connect(id(9), "10.0.0.9", 0); !errors.Is(err, ErrPoolFull) {
		t.Fatalf("sixth client: %v, want ErrPoolFull (MaxClients)", err)
	}
	total, paid, free := p.Capacity()
	if total != 1000 || paid != 0 || free != 500 {
		t.Fatalf("capacity %d/%d/%d", total, paid, free)
	}
}

func TestPaidClientDisplacesTheLowestFreeClient(t *testing.T) {
	p, _ := newPool(t, Config{TotalCapacity: 300, FreeCapacity: 100, MaxClients: 10})
	for i := range 3 {
		p.Connect(id(byte(i)), "10.0.0."+string(rune('1'+i)), 0)
	}
	p.Served(id(1), 50_000_000) // client 1's IP has used the most: lowest priority
	p.SetBalance(id(7), big.NewInt(1e18))
	c, changes, err := p.Connect(id(7), "10.0.0.7", 100)
	if err != nil || c.Tier != Paid {
		t.Fatalf("paid client refused: %v", err)
	}
	if len(changes) != 1 || changes[0].ID != id(1) || !changes[0].Disconnect {
		t.Fatalf("changes = %+v, want client 1 disconnected", changes)
	}
	// A free newcomer cannot displace a paid client.
	p.Disconnect(id(0))
	p.Disconnect(id(2))
	p.SetBalance(id(8), big.NewInt(2e18))
	p.Connect(id(8), "10.0.0.8", 200)
	if _, _, err := p.Connect(id(9), "10.0.0.9", 0); !errors.Is(err, ErrPoolFull) {
		t.Fatalf("free newcomer over paid clients: %v", err)
	}
}

func TestManyKeysFromOneIPShareOneFreeAllowance(t *testing.T) {
	p, _ := newPool(t, Config{TotalCapacity: 10_000, FreeCapacity: 120, MaxClients: 100})
	var total uint64
	caps := map[ID]uint64{}
	for i := range 4 {
		c, changes, err := p.Connect(id(byte(i)), "192.0.2.1", 0)
		if err != nil {
			t.Fatal(err)
		}
		caps[c.ID] = c.Capacity
		for _, ch := range changes {
			caps[ch.ID] = ch.Capacity
		}
	}
	for _, c := range caps {
		total += c
	}
	if total > 120 {
		t.Fatalf("4 keys on one IP got %d in total, one key gets 120", total)
	}
	if caps[id(0)] != 30 {
		t.Fatalf("each of 4 keys should get 30, got %v", caps)
	}
	// Another IP is not affected.
	if c, _, _ := p.Connect(id(9), "192.0.2.2", 0); c.Capacity != 120 {
		t.Fatalf("other IP got %d", c.Capacity)
	}
	// When keys leave, the rest get the share back.
	changes := p.Disconnect(id(0))
	if len(changes) != 3 || changes[0].Capacity != 40 {
		t.Fatalf("after one leaves: %+v", changes)
	}
}

func TestConnectedClientHasABiasAgainstNewcomers(t *testing.T) {
	p, clock := newPool(t, Config{TotalCapacity: 100, FreeCapacity: 100, MaxClients: 10, Bias: time.Minute, UsageHalfLife: time.Hour})
	p.Connect(id(1), "10.0.0.1", 0)
	// A minute of its capacity is 100 units/ms * 60,000 ms = 6,000,000.
	p.Served(id(1), 5_000_000)
	if _, _, err := p.Connect(id(2), "10.0.0.2", 0); !errors.Is(err, ErrPoolFull) {
		t.Fatalf("newcomer only marginally better got in: %v", err)
	}
	p.Served(id(1), 2_000_000)
	_, changes, err := p.Connect(id(2), "10.0.0.2", 0)
	if err != nil || len(changes) != 1 || changes[0].ID != id(1) {
		t.Fatalf("newcomer with 7,000,000 less usage refused: %v %+v", err, changes)
	}
	// Usage decays: after two half-lives the old IP is nearly clean again.
	p.Disconnect(id(2))
	p.Connect(id(1), "10.0.0.1", 0)
	clock.Run(2 * time.Hour)
	if u := p.Snapshot()[0].Usage; u < 1_740_000 || u > 1_760_000 {
		t.Fatalf("usage after two half-lives = %v, want a quarter of 7,000,000", u)
	}
}

// TestPoolInvariants checks, over random operations, that capacity is never
// over-allocated, that no client is above the limits, and that a paid
// client is never refused while a free client is connected.
func TestPoolInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := Config{
			TotalCapacity: rapid.Uint64Range(100, 10_000).Draw(t, "total"),
			MaxClients:    rapid.IntRange(1, 20).Draw(t, "maxClients"),
		}
		cfg.FreeCapacity = rapid.Uint64Range(1, cfg.TotalCapacity).Draw(t, "free")
		p, clock := newPool(t, cfg)
		ids := rapid.SampledFrom([]ID{id(1), id(2), id(3), id(4), id(5), id(6), id(7), id(8)})
		ips := rapid.SampledFrom([]string{"a", "b", "c"})
		t.Repeat(map[string]func(*rapid.T){
			"connect": func(t *rapid.T) {
				who := ids.Draw(t, "id")
				want := rapid.Uint64Range(0, cfg.TotalCapacity).Draw(t, "want")
				_, changes, err := p.Connect(who, ips.Draw(t, "ip"), want)
				if errors.Is(err, ErrPoolFull) && p.Balance(who).Sign() > 0 {
					// Refused although dropping every free client would have
					// made room?
					newcomer := &Client{Tier: Paid, Balance: p.Balance(who), Capacity: max(want, cfg.FreeCapacity)}
					var kept uint64
					n := 0
					for _, c := range p.clients {
						if c.Tier == Paid && !p.beats(newcomer, c, clock.Now()) {
							kept += c.Capacity
							n++
						}
					}
					if kept+newcomer.Capacity <= cfg.TotalCapacity && n < cfg.MaxClients {
						t.Fatalf("paid client refused though free or poorer clients could make room")
					}
				}
				for _, ch := range changes {
					if ch.ID == who {
						t.Fatalf("the newcomer is in its own changes")
					}
				}
			},
			"disconnect": func(t *rapid.T) { p.Disconnect(ids.Draw(t, "id")) },
			"serve": func(t *rapid.T) {
				p.Served(ids.Draw(t, "id"), rapid.Uint64Range(0, 1e9).Draw(t, "cost"))
			},
			"balance": func(t *rapid.T) {
				p.SetBalance(ids.Draw(t, "id"), big.NewInt(rapid.Int64Range(-1, 1e9).Draw(t, "wei")))
			},
			"time": func(t *rapid.T) { clock.Run(time.Duration(rapid.Int64Range(0, int64(3*time.Hour)).Draw(t, "dt"))) },
			"": func(t *rapid.T) {
				var sum uint64
				for _, c := range p.clients {
					sum += c.Capacity
				}
				if sum != p.used || sum > cfg.TotalCapacity {
					t.Fatalf("capacity given %d (books %d) of %d", sum, p.used, cfg.TotalCapacity)
				}
				if len(p.clients) > cfg.MaxClients || len(p.queue) != len(p.clients) {
					t.Fatalf("%d clients (%d in heap), limit %d", len(p.clients), len(p.queue), cfg.MaxClients)
				}
				perIP := map[string]uint64{}
				for _, c := range p.clients {
					if c.Tier == Free {
						perIP[c.IP] += c.Capacity
					}
				}
				for ip, free := range perIP {
					if free > cfg.FreeCapacity {
						t.Fatalf("IP %s holds %d free capacity, limit %d", ip, free, cfg.FreeCapacity)
					}
				}
			},
		})
	})
}

func TestPaidClientIsReducedBeforeItIsDisconnected(t *testing.T) {
	p, _ := newPool(t, Config{TotalCapacity: 300, FreeCapacity: 50, MaxClients: 10})
	p.SetBalance(id(1), big.NewInt(1_000))
	p.Connect(id(1), "10.0.0.1", 200) // priority 1000/200 = 5
	p.SetBalance(id(2), big.NewInt(100_000))
	p.Connect(id(2), "10.0.0.2", 100) // 300 given out
	p.SetBalance(id(3), big.NewInt(1_000_000))
	_, changes, err := p.Connect(id(3), "10.0.0.3", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].ID != id(1) || changes[0].Disconnect || changes[0].Capacity != 50 {
		t.Fatalf("changes = %+v, want client 1 reduced to 50", changes)
	}
	// Another rich newcomer: now client 1 has to go.
	p.SetBalance(id(4), big.NewInt(1_000_000))
	_, changes, err = p.Connect(id(4), "10.0.0.4", 100)
	if err != nil || len(changes) != 1 || !changes[0].Disconnect || changes[0].ID != id(1) {
		t.Fatalf("changes = %+v, %v; want client 1 disconnected", changes, err)
	}
}
