package cashier

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/internal/pgtest"
	"github.com/lightmarket/lightmarket/paychan/paychantest"
	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/protocol"
)

var quiet = log.NewLogger(log.DiscardHandler())

func testReceiveSettleAndRecover(t *testing.T, cfg Config) {
	serverKey, _ := crypto.GenerateKey()
	clientKey, _ := crypto.GenerateKey()
	sim := paychantest.New(t, 3600, serverKey, clientKey)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clock := new(mclock.Simulated)
	cfg.Clock, cfg.Contract, cfg.Key, cfg.ClaimThreshold, cfg.Logger = clock, sim.Contract, serverKey, big.NewInt(500), quiet
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	recv := c.Receiver()
	if _, err := sim.Contract.OpenChannel(ctx, clientKey, recv, 1, big.NewInt(1000)); err != nil {
		t.Fatal(err)
	}
	pay := func(c *Cashier, amount int64) (*big.Int, *big.Int, error) {
		v, err := sim.Contract.Domain().Sign(clientKey, recv, 1, big.NewInt(amount))
		if err != nil {
			t.Fatal(err)
		}
		return c.Receive(ctx, [32]byte{7}, v.Encode())
	}
	if credited, balance, err := pay(c, 300); err != nil || credited.Int64() != 300 || balance.Int64() != 300 {
		t.Fatalf("first voucher: credited %v balance %v, %v", credited, balance, err)
	}
	// Below the threshold nothing is claimed.
	if s, err := c.Settle(ctx, false); err != nil || len(s) != 0 {
		t.Fatalf("settled %v (%v) below the threshold", s, err)
	}
	if _, _, err := pay(c, 600); err != nil {
		t.Fatal(err)
	}
	s, err := c.Settle(ctx, false)
	if err != nil || len(s) != 1 || s[0].Amount.Int64() != 600 {
		t.Fatalf("settled %+v (%v), want 600", s, err)
	}
	// Capacity-time is billed: 10 units at 2 wei/s for 5 s.
	c.StartBilling([32]byte{7})
	clock.Run(5 * time.Second)
	if b := c.Bill([32]byte{7}, 10, big.NewInt(2)); b.Int64() != 600-100 {
		t.Fatalf("balance after the bill %v, want 500", b)
	}
	c.Close()

	// Reopened, the ledger has everything; a resent voucher credits nothing.
	c, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := c.Earnings()
	if e.Received.Int64() != 600 || e.Claimed.Int64() != 600 || e.Charged.Int64() != 100 || c.Balance([32]byte{7}).Int64() != 500 {
		t.Fatalf("after reopening: %+v, balance %v", e, c.Balance([32]byte{7}))
	}
	if credited, _, err := pay(c, 600); err != nil || credited.Sign() != 0 {
		t.Fatalf("resent voucher credited %v (%v)", credited, err)
	}

	// The client starts closing: the next refresh sees it, vouchers are
	// refused, and what is left is claimed at once, below the threshold.
	if _, _, err := pay(c, 700); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Contract.StartClose(ctx, clientKey, recv, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := c.Settle(ctx, false); err != nil || len(s) != 1 || s[0].Amount.Int64() != 100 {
		t.Fatalf("closing channel settled %+v (%v), want 100", s, err)
	}
	c2, err := New(Config{Clock: clock, Contract: sim.Contract, Key: serverKey, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := sim.Contract.Domain().Sign(clientKey, recv, 1, big.NewInt(800))
	_, _, err = c2.Receive(ctx, [32]byte{7}, v.Encode())
	var r *payment.Refusal
	if !errors.As(err, &r) || r.Code != protocol.PayClosing {
		t.Fatalf("voucher on a closing channel: %v", err)
	}
}

// TestLedgerDatabaseAway: while the PostgreSQL ledger is away no voucher
// is acknowledged or credited; once it is back, payments are taken again
// and nothing acknowledged was lost.
func TestLedgerDatabaseAway(t *testing.T) {
	serverKey, _ := crypto.GenerateKey()
	clientKey, _ := crypto.GenerateKey()
	sim := paychantest.New(t, 3600, serverKey, clientKey)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := pgtest.Start(t)
	cfg := Config{Clock: new(mclock.Simulated), Ledger: pg.NewDatabase(t, "away"), Contract: sim.Contract, Key: serverKey, Logger: quiet}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	recv := c.Receiver()
	if _, err := sim.Contract.OpenChannel(ctx, clientKey, recv, 1, big.NewInt(1000)); err != nil {
		t.Fatal(err)
	}
	client := [32]byte{7}
	pay := func(amount int64) (*big.Int, error) {
		v, err := sim.Contract.Domain().Sign(clientKey, recv, 1, big.NewInt(amount))
		if err != nil {
			t.Fatal(err)
		}
		credited, _, err := c.Receive(ctx, client, v.Encode())
		return credited, err
	}
	if _, err := pay(100); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	if credited, err := pay(200); err == nil {
		t.Fatalf("voucher acknowledged (credited %v) with the ledger database stopped", credited)
	}
	if b := c.Balance(client); b.Int64() != 100 {
		t.Fatalf("balance %v with the database away, want the 100 stored", b)
	}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	var credited *big.Int
	for deadline := time.Now().Add(10 * time.Second); ; {
		if credited, err = pay(300); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vouchers still refused after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if credited.Int64() != 200 {
		t.Fatalf("credited %v for the voucher of 300 after 100, want 200", credited)
	}
	c.Close()
	c, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if e := c.Earnings(); e.Received.Int64() != 300 || c.Balance(client).Int64() != 300 {
		t.Fatalf("reopened: %+v, balance %v; want 300 received and credited", e, c.Balance(client))
	}
}

func TestNoPayments(t *testing.T) {
	c, err := New(Config{Clock: new(mclock.Simulated), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if c.Enabled() || c.Terms() != nil {
		t.Fatal("a cashier without a contract takes payments")
	}
	_, _, err = c.Receive(context.Background(), [32]byte{1}, []byte{0xc0})
	if payment.CodeOf(err) != protocol.PayUnsupported {
		t.Fatalf("receive without payments: %v", err)
	}
	// Grants still work.
	if err := c.SetBalance([32]byte{1}, big.NewInt(42)); err != nil || c.Balance([32]byte{1}).Int64() != 42 {
		t.Fatalf("grant: %v, balance %v", err, c.Balance([32]byte{1}))
	}
}
