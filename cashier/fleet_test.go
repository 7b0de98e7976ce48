package cashier

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/lightmarket/lightmarket/internal/pgtest"
	"github.com/lightmarket/lightmarket/ledgerpg"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/paychan/paychantest"
)

// fleetEnv is a chain with the contract, a client with a channel to the
// fleet's receiver, and a fleet's ledger.
type fleetEnv struct {
	t         *testing.T
	ctx       context.Context
	sim       *paychantest.Sim
	serverKey *ecdsa.PrivateKey
	clientKey *ecdsa.PrivateKey
	url       string
	clock     *mclock.Simulated
}

func newFleetEnv(t *testing.T, deposit int64) *fleetEnv {
	serverKey, _ := crypto.GenerateKey()
	clientKey, _ := crypto.GenerateKey()
	sim := paychantest.New(t, 3600, serverKey, clientKey)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	pg := pgtest.Start(t)
	e := &fleetEnv{t: t, ctx: ctx, sim: sim, serverKey: serverKey, clientKey: clientKey, url: pg.NewDatabase(t, "fleet"), clock: new(mclock.Simulated)}
	if _, err := sim.Contract.OpenChannel(ctx, clientKey, paychan.Address(serverKey), 1, big.NewInt(deposit)); err != nil {
		t.Fatal(err)
	}
	return e
}

// server starts a server of the fleet: the claimer candidate holds the
// receiving key, the others only its address.
func (e *fleetEnv) server(name string, withKey bool) *Cashier {
	cfg := Config{Clock: e.clock, Ledger: e.url, Contract: e.sim.Contract, Server: name, ClaimThreshold: big.NewInt(1),
		LeaseFor: 600 * time.Millisecond, Logger: quiet}
	if withKey {
		cfg.Key = e.serverKey
	} else {
		cfg.Receiver = paychan.Address(e.serverKey)
	}
	c, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func (e *fleetEnv) voucher(amount int64) []byte {
	v, err := e.sim.Contract.Domain().Sign(e.clientKey, paychan.Address(e.serverKey), 1, big.NewInt(amount))
	if err != nil {
		e.t.Fatal(err)
	}
	return v.Encode()
}

func (e *fleetEnv) claimedOnChain() *big.Int {
	id := paychan.ChannelID(crypto.PubkeyToAddress(e.clientKey.PublicKey), paychan.Address(e.serverKey), 1)
	st, err := e.sim.Contract.State(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return st.Claimed
}

// TestFleetIsOnePayee: a client pays three servers of a fleet on one
// channel, one cumulative voucher sequence, vouchers racing to all three;
// its credit and charges at each show at the others; only the server with
// the key claims; spent = credited = claimed on chain, to the wei.
func TestFleetIsOnePayee(t *testing.T) {
	e := newFleetEnv(t, 1_000_000)
	a, b, c := e.server("a", true), e.server("b", false), e.server("c", false)
	if b.Receiver() != a.Receiver() || string(b.Terms()) != string(a.Terms()) {
		t.Fatal("the fleet's servers announce different payment terms")
	}
	client := [32]byte{7}
	servers := []*Cashier{a, b, c}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
	)
	// Each voucher is sent to two servers at once.
	for i := 1; i <= 30; i++ {
		pay := e.voucher(int64(i * 1000))
		for _, s := range []*Cashier{servers[i%3], servers[(i+1)%3]} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				credited, _, err := s.Receive(e.ctx, client, pay)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total += credited.Int64()
				mu.Unlock()
			}()
		}
		if i%5 == 0 {
			wg.Wait()
		}
	}
	wg.Wait()
	if total != 30_000 {
		t.Fatalf("the fleet credited %d for vouchers up to 30000", total)
	}
	// Charges at b show at a and c after a sync.
	b.ChargeRequest(client, 1000, big.NewInt(500)) // 500 wei
	if got := b.Balance(client); got.Int64() != 29_500 {
		t.Errorf("balance at b right after its charge: %v", got)
	}
	b.syncFleet(e.ctx) // stores it
	for _, s := range servers {
		s.syncFleet(e.ctx)
	}
	for _, s := range servers {
		if got := s.Balance(client); got.Int64() != 29_500 {
			t.Errorf("server %s: balance %v, want 29500", s.cfg.Server, got)
		}
	}
	if _, err := b.Settle(e.ctx, true); !errors.Is(err, ErrNotClaimer) {
		t.Fatalf("a server without the key claimed: %v", err)
	}
	settled, err := a.Settle(e.ctx, true)
	if err != nil || len(settled) != 1 || settled[0].Amount.Int64() != 30_000 {
		t.Fatalf("the claimer settled %+v, %v", settled, err)
	}
	if got := e.claimedOnChain(); got.Int64() != 30_000 {
		t.Fatalf("claimed on chain %v", got)
	}
	tot, err := c.Fleet(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var byServers int64
	for _, s := range tot.Servers {
		byServers += s.Credited.Int64()
	}
	if tot.Received.Int64() != 30_000 || tot.Claimed.Int64() != 30_000 || tot.Charged.Int64() != 500 || byServers != 30_000 || tot.Channels != 1 {
		t.Fatalf("fleet totals %+v (servers credited %d)", tot, byServers)
	}
}

// TestClaimerTakesOver: the claimer dies between recording a claim and
// seeing its receipt (the claim mined, or never sent); the next process
// with the key takes the lease once it expired and does not claim the
// same amount twice.
func TestClaimerTakesOver(t *testing.T) {
	for _, sent := range []bool{true, false} {
		name := map[bool]string{true: "claim mined", false: "claim never sent"}[sent]
		t.Run(name, func(t *testing.T) {
			e := newFleetEnv(t, 1_000_000)
			a := e.server("a", true)
			client := [32]byte{7}
			if _, _, err := a.Receive(e.ctx, client, e.voucher(5000)); err != nil {
				t.Fatal(err)
			}
			if !a.lease(e.ctx) {
				t.Fatal("the first claimer has no lease")
			}
			// a claims by hand and dies before the receipt (its lease is
			// left to expire).
			ch, _ := a.ledger.Channel(paychan.ChannelID(crypto.PubkeyToAddress(e.clientKey.PublicKey), a.Receiver(), 1))
			tx, err := e.sim.Contract.SignClaim(e.ctx, e.serverKey, &ch.Voucher)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.fleet.db.RecordClaim(e.ctx, ledgerpg.ClaimerLease, a.fleet.holder, ch.ID, ch.Voucher.Amount, tx.Hash()); err != nil {
				t.Fatal(err)
			}
			if sent {
				if err := e.sim.Backend.Client().SendTransaction(e.ctx, tx); err != nil {
					t.Fatal(err)
				}
			}
			a.fleet.db.Close()

			b := e.server("b", true)
			if _, err := b.Settle(e.ctx, true); !errors.Is(err, ErrNotClaimer) {
				t.Fatalf("b claimed while a's lease ran: %v", err)
			}
			time.Sleep(700 * time.Millisecond)
			var settled int
			for deadline := time.Now().Add(10 * time.Second); e.claimedOnChain().Int64() != 5000; {
				s, err := b.Settle(e.ctx, true)
				if err != nil {
					t.Fatalf("b settling: %v", err)
				}
				settled += len(s)
				if time.Now().After(deadline) {
					t.Fatal("the claim was never settled")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if want := map[bool]int{true: 0, false: 1}[sent]; settled != want {
				t.Fatalf("b made %d claims, want %d", settled, want)
			}
			if s, err := b.Settle(e.ctx, true); err != nil || len(s) != 0 {
				t.Fatalf("claimed again: %+v, %v", s, err)
			}
			claims, err := b.fleet.db.Claims(e.ctx)
			if err != nil || len(claims) != 1 || claims[0].State != "mined" {
				t.Fatalf("claims recorded: %+v, %v", claims, err)
			}
		})
	}
}
