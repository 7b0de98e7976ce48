package devnet

import (
	"context"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/discover"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/p2p/enr"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/pricequery"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/rpcapi"
	"github.com/lightmarket/lightmarket/rpcauth"
	"github.com/lightmarket/lightmarket/server"
)

// bidder connects a client with a balance at srv that bids price for
// 100,000 capacity units.
func bidder(t *testing.T, srv *server.Server, price int64) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{
		ChainConfig: devchain.ChainConfig(), Trusted: []*enode.Node{srv.Enode()}, Logger: quiet,
		Demand: &client.Demand{Max: 100_000, Min: 100_000, MaxPrice: big.NewInt(price)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetBalance(c.Self().ID(), big.NewInt(1e18)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.WaitHead(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func tierAt(c *client.Client) (string, uint64, string) {
	s := c.Servers()[0]
	return s.Tier, s.PaidCapacity, s.Price
}

func TestTwoHighestBiddersWinAndTheOutbidOneMovesToFree(t *testing.T) {
	ch := newChain(t)
	srv := newServerWith(t, ch, server.Config{
		Capacity: 1_000_000, FreeCapacity: 50_000, Sellable: 200_000, Reserve: big.NewInt(5), Grace: time.Second,
	})
	a, b := bidder(t, srv, 30), bidder(t, srv, 20)
	c := bidder(t, srv, 10)
	defer func() {
		if !t.Failed() {
			return
		}
		// What each side held when a wait timed out.
		for name, cl := range map[string]*client.Client{"a": a, "b": b, "c": c} {
			s := cl.Servers()[0]
			t.Logf("client %s: tier %s, paid %d, flow-control capacity %d", name, s.Tier, s.PaidCapacity, s.Capacity)
		}
		for _, info := range srv.Clients() {
			t.Logf("server's client %.8s: tier %s, capacity %d", info.ID, info.Tier, info.Capacity)
		}
	}()
	eventuallyWithin(t, 30*time.Second, "two winners at the highest losing bid", func() bool {
		ta, ca, pa := tierAt(a)
		tb, cb, _ := tierAt(b)
		tc, cc, _ := tierAt(c)
		return ta == "paid" && ca == 100_000 && tb == "paid" && cb == 100_000 && tc == "free" && cc == 0 && pa == "10"
	})
	if p := srv.Price(); p.Int64() != 10 {
		t.Fatalf("clearing price %v, want the highest losing bid 10", p)
	}
	// The winners' flow control follows: their capacity is what they won.
	eventuallyWithin(t, 30*time.Second, "the winners' flow-control capacity", func() bool {
		return a.Servers()[0].Capacity == 100_000 && b.Servers()[0].Capacity == 100_000 && c.Servers()[0].Capacity == 50_000
	})
	// The third client is served for free.
	for _, info := range srv.Clients() {
		if info.ID == c.Self().ID().String() && (info.Tier != "free" || info.Capacity != 50_000) {
			t.Fatalf("losing bidder at the server: %+v", info)
		}
	}
	// A higher bid arrives: the lowest winner is told at once when it loses
	// its capacity, keeps it through the grace period, then is free.
	start := time.Now()
	d := bidder(t, srv, 40)
	eventuallyWithin(t, 30*time.Second, "the outbid winner told of its grace", func() bool {
		s := b.Servers()[0]
		return s.PaidCapacity == 100_000 && s.PaidUntil != 0
	})
	if _, cap, _ := tierAt(d); cap != 0 {
		t.Fatalf("newcomer got %d during the grace period", cap)
	}
	eventuallyWithin(t, 30*time.Second, "the grace period to end", func() bool {
		tb, cb, _ := tierAt(b)
		td, cd, _ := tierAt(d)
		return tb == "free" && cb == 0 && td == "paid" && cd == 100_000
	})
	if took := time.Since(start); took < time.Second {
		t.Fatalf("outbid winner lost its capacity after %v, before the 1 s grace", took)
	}
	if p := srv.Price(); p.Int64() != 20 {
		t.Fatalf("clearing price %v, want 20", p)
	}
}

// discv5 starts a discovery listener on loopback for asking price queries.
func discv5(t *testing.T) *discover.UDPv5 {
	t.Helper()
	key, _ := crypto.GenerateKey()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IP{127, 0, 0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	db, _ := enode.OpenDB("")
	ln := enode.NewLocalNode(db, key)
	ln.SetStaticIP(net.IP{127, 0, 0, 1})
	ln.SetFallbackUDP(conn.LocalAddr().(*net.UDPAddr).Port)
	udp, err := discover.ListenV5(conn, ln, discover.Config{PrivateKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close(); db.Close() })
	return udp
}

func TestPriceQueryBeforeConnecting(t *testing.T) {
	ch := newChain(t)
	srv := newServerWith(t, ch, server.Config{Capacity: 1_000_000, Sellable: 200_000, Reserve: big.NewInt(5)})
	var version uint
	if err := srv.Enode().Load(enr.WithEntry(server.ENRKey, &version)); err != nil || version != protocol.Version {
		t.Fatalf("node record does not advertise lightmarket: %v %d", err, version)
	}
	bidder(t, srv, 30)
	bidder(t, srv, 20)
	eventuallyWithin(t, 30*time.Second, "both bids to be placed", func() bool {
		paid := 0
		for _, c := range srv.Clients() {
			if c.Tier == "paid" {
				paid++
			}
		}
		return paid == 2
	})
	udp := discv5(t)
	resp, err := pricequery.Query(udp, srv.Enode(), 100_000, 100_000, big.NewInt(25))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Sellable != 200_000 || resp.Sold != 200_000 || resp.Price.Int64() != 5 {
		t.Fatalf("response %+v", resp)
	}
	if resp.WinCap != 100_000 || resp.WinPrice.Int64() != 20 {
		t.Fatalf("a bid of 25 would win %d at %v, want 100000 at 20", resp.WinCap, resp.WinPrice)
	}
	// Queries are rate-limited per IP: a burst of 10, then one per 100 ms.
	refused := 0
	for range 30 {
		if _, err := pricequery.Query(udp, srv.Enode(), 0, 0, new(big.Int)); errors.Is(err, pricequery.ErrRefused) {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no query was refused in a burst of 30")
	}
}

func TestClientBidsAtTheCheaperServer(t *testing.T) {
	ch := newChain(t)
	dear := newServerWith(t, ch, server.Config{Capacity: 1_000_000, Sellable: 200_000, Reserve: big.NewInt(50)})
	cheap := newServerWith(t, ch, server.Config{Capacity: 1_000_000, Sellable: 200_000, Reserve: big.NewInt(10)})
	c, err := client.New(client.Config{
		ChainConfig: devchain.ChainConfig(), Trusted: []*enode.Node{dear.Enode(), cheap.Enode()}, Fraction: 100, Logger: quiet,
		Demand: &client.Demand{Max: 100_000, Min: 100_000, MaxPrice: big.NewInt(100)},
	})
	if err != nil {
		t.Fatal(err)
	}
	dear.SetBalance(c.Self().ID(), big.NewInt(1e18))
	cheap.SetBalance(c.Self().ID(), big.NewInt(1e18))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	paidAt := func(srv *server.Server) uint64 {
		for _, s := range c.Servers() {
			if s.Enode == srv.Enode().URLv4() {
				return s.PaidCapacity
			}
		}
		return 0
	}
	// It may have bid at the dearer server while it was the only one
	// connected; it must end up at the cheaper one only.
	eventuallyWithin(t, 30*time.Second, "a paid allocation at the cheaper server only", func() bool {
		return paidAt(cheap) == 100_000 && paidAt(dear) == 0
	})
	if p := cheap.Price(); p.Int64() != 10 {
		t.Fatalf("price at the cheaper server %v, want its reserve", p)
	}
}

// TestDemandIsSetWithTheControlToken: lm_setDemand spends money, so the
// wallet endpoint takes it only with a token signed with the control
// secret; everyone may read the demand.
func TestDemandIsSetWithTheControlToken(t *testing.T) {
	d := startDevnet(t, Config{Servers: 1})
	ctx, light := session(t, d, 10*time.Second)
	var got *rpcapi.DemandArgs
	if err := light.CallContext(ctx, &got, "lm_demand"); err != nil || got != nil {
		t.Fatalf("initial demand %+v, %v", got, err)
	}
	set := rpcapi.DemandArgs{Max: 1000, Min: 500, MaxPrice: (*hexutil.Big)(big.NewInt(7))}
	if err := light.CallContext(ctx, nil, "lm_setDemand", set); err == nil || err.Error() != rpcapi.ErrControlToken.Error() {
		t.Fatalf("lm_setDemand without the token: %v, want %v", err, rpcapi.ErrControlToken)
	}
	if err := light.CallContext(ctx, &got, "lm_demand"); err != nil || got != nil {
		t.Fatalf("demand after a refused lm_setDemand: %+v, %v", got, err)
	}
	ws, err := rpc.DialOptions(ctx, d.Node.WSURL(), rpc.WithHTTPAuth(rpcauth.Auth(d.ControlSecret)))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	light, err = rpc.DialOptions(ctx, d.Node.URL(), rpc.WithHTTPAuth(rpcauth.Auth(d.ControlSecret)))
	if err != nil {
		t.Fatal(err)
	}
	defer light.Close()
	if err := ws.CallContext(ctx, nil, "lm_setDemand", set); err != nil {
		t.Fatalf("lm_setDemand over WebSocket with the token: %v", err)
	}
	if err := light.CallContext(ctx, nil, "lm_setDemand", set); err != nil {
		t.Fatal(err)
	}
	if err := light.CallContext(ctx, &got, "lm_demand"); err != nil || got.Max != 1000 || got.Min != 500 || got.MaxPrice.ToInt().Int64() != 7 {
		t.Fatalf("demand after setting: %+v, %v", got, err)
	}
	bad := rpcapi.DemandArgs{Max: 1, Min: 2, MaxPrice: (*hexutil.Big)(big.NewInt(1))}
	if err := light.CallContext(ctx, nil, "lm_setDemand", bad); err == nil {
		t.Fatal("min above max accepted")
	}
}
