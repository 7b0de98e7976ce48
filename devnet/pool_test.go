package devnet

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/rpcauth"
	"github.com/lightmarket/lightmarket/server"
)

func TestManyNodeKeysOnOneIPShareOneFreeAllowance(t *testing.T) {
	ch := newChain(t)
	srv := newServerWith(t, ch, server.Config{FreeCapacity: 90_000})
	for range 3 {
		newClient(t, 100, srv)
	}
	eventuallyWithin(t, 30*time.Second, "three clients", func() bool { return len(srv.Clients()) == 3 })
	eventuallyWithin(t, 30*time.Second, "shares to settle", func() bool {
		var total uint64
		for _, c := range srv.Clients() {
			if c.Tier != "free" || c.IP != "127.0.0.1" {
				t.Fatalf("client %+v", c)
			}
			total += c.Capacity
		}
		return total == 90_000
	})
	if got := srv.Capacity(); got.Free != 90_000 || got.Paid != 0 {
		t.Fatalf("capacity = %+v; three keys on one IP should hold one free allowance", got)
	}
}

func TestAdminMakesAClientPaid(t *testing.T) {
	ch := newChain(t)
	srv := newServerWith(t, ch, server.Config{FreeCapacity: 10_000, PaidCapacity: 200_000})
	c := newClient(t, 100, srv)
	secret := rpcauth.RandomSecret()
	admin, err := srv.StartAdmin("127.0.0.1:0", secret)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// Without the token: reading works, changing a balance does not.
	anyone, err := rpc.Dial(admin.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer anyone.Close()
	rc, err := rpc.DialOptions(context.Background(), admin.URL(), rpc.WithHTTPAuth(rpcauth.Auth(secret)))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	eventuallyWithin(t, 30*time.Second, "the client to connect", func() bool { return len(srv.Clients()) == 1 })
	var clients []server.ClientInfo
	if err := anyone.Call(&clients, "lm_clients"); err != nil || clients[0].Tier != "free" || clients[0].Capacity != 10_000 {
		t.Fatalf("lm_clients = %+v, %v", clients, err)
	}
	if err := anyone.Call(nil, "lm_setBalance", c.Self().ID().String(), (*hexutil.Big)(big.NewInt(1e18))); err == nil || err.Error() != server.ErrAdminToken.Error() {
		t.Fatalf("lm_setBalance without the token: %v, want %v", err, server.ErrAdminToken)
	}
	if err := anyone.Call(nil, "lm_claim"); err == nil || err.Error() != server.ErrAdminToken.Error() {
		t.Fatalf("lm_claim without the token: %v, want %v", err, server.ErrAdminToken)
	}
	wrong, err := rpc.DialOptions(context.Background(), admin.URL(), rpc.WithHTTPAuth(rpcauth.Auth(rpcauth.RandomSecret())))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if err := wrong.Call(nil, "lm_setBalance", c.Self().ID().String(), (*hexutil.Big)(big.NewInt(1e18))); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("lm_setBalance with a token of another secret: %v, want 401 Unauthorized", err)
	}
	if err := anyone.Call(&clients, "lm_clients"); err != nil || clients[0].Tier != "free" {
		t.Fatalf("lm_clients after refused calls = %+v, %v", clients, err)
	}
	if err := rc.Call(nil, "lm_setBalance", c.Self().ID().String(), (*hexutil.Big)(big.NewInt(1e18))); err != nil {
		t.Fatal(err)
	}
	if err := rc.Call(&clients, "lm_clients"); err != nil || clients[0].Tier != "paid" || clients[0].Capacity != 200_000 || clients[0].Balance != "1000000000000000000" {
		t.Fatalf("after lm_setBalance: %+v, %v", clients, err)
	}
	var capacity server.CapacityInfo
	if err := rc.Call(&capacity, "lm_capacity"); err != nil || capacity.Paid != 200_000 || capacity.Free != 0 {
		t.Fatalf("lm_capacity = %+v, %v", capacity, err)
	}
	// The client learns its new capacity.
	eventuallyWithin(t, 30*time.Second, "the capacity update", func() bool { return c.Servers()[0].Capacity == 200_000 })
}

func TestPaidClientDisplacesAFreeOneWhenFull(t *testing.T) {
	ch := newChain(t)
	srv := newServerWith(t, ch, server.Config{MaxPeers: 1, Capacity: 100_000, FreeCapacity: 100_000})
	free := newClient(t, 100, srv)
	eventuallyWithin(t, 30*time.Second, "the free client", func() bool { return len(srv.Clients()) == 1 })
	// The next client has a balance before it connects.
	paid, err := client.New(client.Config{ChainConfig: devchain.ChainConfig(), Trusted: []*enode.Node{srv.Enode()}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetBalance(paid.Self().ID(), big.NewInt(1e18))
	if err := paid.Start(); err != nil {
		t.Fatal(err)
	}
	defer paid.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := paid.WaitHead(ctx); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "the paid client to replace the free one", func() bool {
		cs := srv.Clients()
		return len(cs) == 1 && cs[0].Tier == "paid" && cs[0].ID == paid.Self().ID().String()
	})
	if s := free.Servers()[0]; s.Connected && s.LastError == "" {
		t.Fatalf("free client not told: %+v", s)
	}
}

// eventuallyWithin polls cond (state kept by other goroutines or processes)
// until it holds, failing the test after d. The poll starts at 5 ms and backs
// off to 250 ms, so quick conditions are seen at once and slow ones (chain
// transactions, other processes' RPC) are not hammered.
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	poll := 5 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(poll)
		poll = min(2*poll, 250*time.Millisecond)
	}
}
