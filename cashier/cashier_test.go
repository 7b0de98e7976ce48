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

	"github.com/lightmarket/lightmarket/paychan/paychantest"
	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/protocol"
)

var quiet = log.NewLogger(log.DiscardHandler())

func TestReceiveSettleAndRecover(t *testing.T) {
	serverKey, _ := crypto.GenerateKey()
	clientKey, _ := crypto.GenerateKey()
	sim := paychantest.New(t, 3600, serverKey, clientKey)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	clock := new(mclock.Simulated)
	cfg := Config{Clock: clock, DataDir: dir, Contract: sim.Contract, Key: serverKey, ClaimThreshold: big.NewInt(500), Logger: quiet}
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
