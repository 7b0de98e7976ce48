package wallet

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/paychan/paychantest"
)

func TestPayRecordsAndRecovers(t *testing.T) {
	serverKey, _ := crypto.GenerateKey()
	clientKey, _ := crypto.GenerateKey()
	sim := paychantest.New(t, 3600, serverKey, clientKey)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg := Config{Contract: sim.Contract, Key: clientKey, DataDir: dir, Deposit: big.NewInt(1000), Budget: big.NewInt(2500), Logger: log.NewLogger(log.DiscardHandler())}
	w, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	receiver := paychan.Address(serverKey)
	terms := paychan.Terms{ChainID: sim.Contract.Domain().ChainID, Contract: sim.Contract.Address(), Receiver: receiver}.Encode()
	vf := paychan.NewVerifier(sim.Contract.Domain(), receiver)

	// The first payment opens the channel; vouchers are cumulative.
	var last []byte
	for i, want := range []int64{300, 700, 1200} { // the third needs a top-up
		pay, err := w.Pay(ctx, terms, big.NewInt([]int64{300, 400, 500}[i]))
		if err != nil {
			t.Fatal(err)
		}
		v, err := paychan.DecodeVoucher(pay)
		if err != nil {
			t.Fatal(err)
		}
		if err := vf.Verify(v); err != nil || v.Amount.Int64() != want {
			t.Fatalf("voucher %d: amount %v, %v", i, v.Amount, err)
		}
		last = pay
	}
	st, err := sim.Contract.State(ctx, paychan.ChannelID(w.Address(), receiver, w.Channels()[0].Nonce))
	if err != nil || st.Deposit.Int64() != 2000 {
		t.Fatalf("deposit after top-up %v (%v), want 2000", st.Deposit, err)
	}
	if _, err := w.Pay(ctx, terms, big.NewInt(1500)); !errors.Is(err, ErrOverBudget) {
		t.Fatalf("over budget: %v", err)
	}
	if _, err := w.Pay(ctx, paychan.Terms{ChainID: 1, Contract: sim.Contract.Address(), Receiver: receiver}.Encode(), big.NewInt(1)); !errors.Is(err, ErrOtherChain) {
		t.Fatalf("other chain: %v", err)
	}

	// Reopened (the process crash test is in package devnet), the wallet
	// knows what it signed.
	w.Close()
	reopened, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if !bytes.Equal(reopened.Latest(terms), last) || reopened.Spent(terms).Int64() != 1200 {
		t.Fatalf("after restart: spent %v, latest voucher differs", reopened.Spent(terms))
	}
	pay, err := reopened.Pay(ctx, terms, big.NewInt(100))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := paychan.DecodeVoucher(pay); v.Amount.Int64() != 1300 {
		t.Fatalf("next voucher after restart: %v, want 1300", v.Amount)
	}

	// Closing: no more vouchers; the refund is what was not claimed.
	if _, err := sim.Contract.Claim(ctx, serverKey, mustDecode(t, pay)); err != nil {
		t.Fatal(err)
	}
	if err := reopened.StartClose(ctx, receiver); err != nil {
		t.Fatal(err)
	}
	if _, err := reopened.Pay(ctx, terms, big.NewInt(1)); !errors.Is(err, ErrChannelShut) {
		t.Fatalf("pay on a closing channel: %v", err)
	}
	if err := sim.AdjustTime(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	refund, err := reopened.FinishClose(ctx, receiver)
	if err != nil || refund.Int64() != 700 {
		t.Fatalf("refund %v (%v), want 700", refund, err)
	}
}

func mustDecode(t *testing.T, pay []byte) *paychan.Voucher {
	t.Helper()
	v, err := paychan.DecodeVoucher(pay)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPayAhead(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		balance, rate int64
		lead          time.Duration
		max           int64
		want          int64
	}{
		{balance: 0, rate: 100, lead: 10_000 * ms, max: 1_000_000, want: 1000},
		{balance: 400, rate: 100, lead: 10_000 * ms, max: 1_000_000, want: 600},
		{balance: 501, rate: 100, lead: 10_000 * ms, max: 1_000_000, want: 0}, // more than half left
		{balance: 0, rate: 100, lead: 10_000 * ms, max: 300, want: 300},       // exposure limit
		{balance: 100, rate: 100, lead: 10_000 * ms, max: 300, want: 200},
		{balance: 0, rate: 0, lead: 10_000 * ms, max: 300, want: 0},
	}
	for _, tt := range tests {
		got := PayAhead(big.NewInt(tt.balance), big.NewInt(tt.rate), tt.lead, big.NewInt(tt.max))
		if got.Int64() != tt.want {
			t.Errorf("PayAhead(%d, %d/s, %v, max %d) = %v, want %d", tt.balance, tt.rate, tt.lead, tt.max, got, tt.want)
		}
	}
}

// TestPayWaitsForTheReceiversConfirmations: a server whose terms ask for
// N confirmations counts a deposit only N blocks deep; the wallet signs
// the first voucher on a new deposit only once the server can see it, so
// the server never refuses it as above the deposit.
func TestPayWaitsForTheReceiversConfirmations(t *testing.T) {
	serverKey, _ := crypto.GenerateKey()
	clientKey, _ := crypto.GenerateKey()
	sim := paychantest.New(t, 3600, serverKey, clientKey)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := Open(Config{Contract: sim.Contract, Key: clientKey, DataDir: t.TempDir(), Deposit: big.NewInt(1000), Budget: big.NewInt(5000), Logger: log.NewLogger(log.DiscardHandler())})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	receiver := paychan.Address(serverKey)
	const confirmations = 20
	terms := paychan.Terms{ChainID: sim.Contract.Domain().ChainID, Contract: sim.Contract.Address(), Receiver: receiver, Confirmations: confirmations}.Encode()
	for _, amount := range []int64{300, 900} { // the second tops the deposit up
		if _, err := w.Pay(ctx, terms, big.NewInt(amount)); err != nil {
			t.Fatal(err)
		}
		total := w.Channels()[0].Signed
		// What the server sees at its depth covers the voucher.
		st, err := sim.Contract.StateDeep(ctx, paychan.ChannelID(w.Address(), receiver, w.Channels()[0].Nonce), confirmations)
		if err != nil || !st.Exists() || st.Deposit.Cmp(total) < 0 {
			t.Fatalf("voucher of %v signed while the deposit %v deep is %+v (%v)", total, confirmations, st, err)
		}
	}
}

// TestTermsAskingTooManyConfirmationsAreRefused: a server cannot hold the
// wallet's payments up by asking for an endless wait.
func TestTermsAskingTooManyConfirmationsAreRefused(t *testing.T) {
	serverKey, _ := crypto.GenerateKey()
	clientKey, _ := crypto.GenerateKey()
	sim := paychantest.New(t, 3600, serverKey, clientKey)
	w, err := Open(Config{Contract: sim.Contract, Key: clientKey, DataDir: t.TempDir(), Deposit: big.NewInt(1000), Budget: big.NewInt(5000), Logger: log.NewLogger(log.DiscardHandler())})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	terms := func(n uint64) []byte {
		return paychan.Terms{ChainID: sim.Contract.Domain().ChainID, Contract: sim.Contract.Address(), Receiver: paychan.Address(serverKey), Confirmations: n}.Encode()
	}
	if !w.Accepts(terms(MaxConfirmations)) {
		t.Fatalf("terms asking %d confirmations refused", MaxConfirmations)
	}
	if w.Accepts(terms(MaxConfirmations + 1)) {
		t.Fatalf("terms asking %d confirmations accepted", MaxConfirmations+1)
	}
	if _, err := w.Pay(context.Background(), terms(1<<62), big.NewInt(1)); !errors.Is(err, ErrBadTerms) {
		t.Fatalf("paying on terms asking 2^62 confirmations: %v, want ErrBadTerms", err)
	}
}
