package paychan_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/paychan/paychantest"
)

const challenge = 3600 // seconds

type harness struct {
	t        *testing.T
	sim      *paychantest.Sim
	c        *paychan.Contract
	client   *ecdsa.PrivateKey // sender
	server   *ecdsa.PrivateKey // receiver
	stranger *ecdsa.PrivateKey
	ctx      context.Context
}

var ether = big.NewInt(params.Ether)

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background()}
	h.client, _ = crypto.GenerateKey()
	h.server, _ = crypto.GenerateKey()
	h.stranger, _ = crypto.GenerateKey()
	sim := paychantest.New(t, challenge, h.server, h.client, h.stranger)
	h.sim, h.c = sim, sim.Contract
	ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
	t.Cleanup(cancel)
	h.ctx = ctx
	return h
}

func (h *harness) addr(k *ecdsa.PrivateKey) common.Address {
	return crypto.PubkeyToAddress(k.PublicKey)
}

func (h *harness) balance(k *ecdsa.PrivateKey) *big.Int {
	b, err := h.sim.Backend.Client().BalanceAt(h.ctx, h.addr(k), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func (h *harness) state(sender, receiver *ecdsa.PrivateKey, nonce uint64) paychan.State {
	st, err := h.c.State(h.ctx, paychan.ChannelID(h.addr(sender), h.addr(receiver), nonce))
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) voucher(signer *ecdsa.PrivateKey, nonce uint64, amount *big.Int) *paychan.Voucher {
	v, err := h.c.Domain().Sign(signer, h.addr(h.server), nonce, amount)
	if err != nil {
		h.t.Fatal(err)
	}
	return &v
}

func (h *harness) must(r *types.Receipt, err error) *types.Receipt {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// refused checks that err is the contract's refusal naming want.
func (h *harness) refused(err error, want string) {
	h.t.Helper()
	var rev *paychan.Revert
	if !errors.As(err, &rev) {
		h.t.Fatalf("got %v, want a revert %q", err, want)
	}
	if !strings.Contains(rev.Reason, want) {
		h.t.Fatalf("revert %q, want %q", rev.Reason, want)
	}
}

func gwei(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(params.GWei)) }

// fee is what a receipt's transaction cost its sender.
func fee(r *types.Receipt) *big.Int {
	return new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
}

func TestChannelLifecycle(t *testing.T) {
	h := newHarness(t)
	server := h.addr(h.server)
	deposit := gwei(1000)
	h.must(h.c.OpenChannel(h.ctx, h.client, server, 1, deposit))
	if st := h.state(h.client, h.server, 1); st.Deposit.Cmp(deposit) != 0 || st.Claimed.Sign() != 0 || st.CloseAt != 0 {
		t.Fatalf("after open: %+v", st)
	}
	h.must(h.c.TopUp(h.ctx, h.client, server, 1, gwei(500)))
	if st := h.state(h.client, h.server, 1); st.Deposit.Cmp(gwei(1500)) != 0 {
		t.Fatalf("after topUp: deposit %v", st.Deposit)
	}

	// The server claims 300, then 700 in total: it is paid the difference.
	before := h.balance(h.server)
	r1 := h.must(h.c.Claim(h.ctx, h.server, h.voucher(h.client, 1, gwei(300))))
	r2 := h.must(h.c.Claim(h.ctx, h.server, h.voucher(h.client, 1, gwei(700))))
	got := new(big.Int).Sub(h.balance(h.server), before)
	got.Add(got, fee(r1)).Add(got, fee(r2))
	if got.Cmp(gwei(700)) != 0 {
		t.Fatalf("server received %v, want %v", got, gwei(700))
	}

	// The client closes; the server still claims during the challenge.
	h.must(h.c.StartClose(h.ctx, h.client, server, 1))
	st := h.state(h.client, h.server, 1)
	if st.CloseAt == 0 {
		t.Fatal("closing channel has no closeAt")
	}
	_, err := h.c.TopUp(h.ctx, h.client, server, 1, gwei(1))
	h.refused(err, "closing")
	h.must(h.c.Claim(h.ctx, h.server, h.voucher(h.client, 1, gwei(900))))
	_, err = h.c.FinishClose(h.ctx, h.client, server, 1)
	h.refused(err, "not over")

	// After the challenge period the client gets back what was not claimed.
	if err := h.sim.AdjustTime(challenge * time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = h.c.Claim(h.ctx, h.server, h.voucher(h.client, 1, gwei(1000)))
	h.refused(err, "over at") // late claim
	before = h.balance(h.client)
	r := h.must(h.c.FinishClose(h.ctx, h.client, server, 1))
	got = new(big.Int).Sub(h.balance(h.client), before)
	got.Add(got, fee(r))
	if got.Cmp(gwei(600)) != 0 {
		t.Fatalf("refund %v, want %v", got, gwei(600))
	}
	if st := h.state(h.client, h.server, 1); !st.Finished {
		t.Fatalf("after finishClose: %+v", st)
	}
	// A finished channel can be neither reused nor claimed from again.
	_, err = h.c.OpenChannel(h.ctx, h.client, server, 1, deposit)
	h.refused(err, "exists")
	_, err = h.c.Claim(h.ctx, h.server, h.voucher(h.client, 1, gwei(1000)))
	h.refused(err, "finished")
	_, err = h.c.FinishClose(h.ctx, h.client, server, 1)
	h.refused(err, "finished")
}

func TestClaimRejections(t *testing.T) {
	h := newHarness(t)
	server := h.addr(h.server)
	h.must(h.c.OpenChannel(h.ctx, h.client, server, 7, gwei(100)))
	h.must(h.c.OpenChannel(h.ctx, h.client, server, 8, gwei(100)))
	h.must(h.c.Claim(h.ctx, h.server, h.voucher(h.client, 7, gwei(50))))

	tests := []struct {
		name   string
		claim  func() error
		reason string
	}{
		{"bad signature", func() error {
			v := h.voucher(h.stranger, 7, gwei(60))
			v.Sender = h.addr(h.client)
			_, err := h.c.Claim(h.ctx, h.server, v)
			return err
		}, "bad signature"},
		{"wrong channel", func() error {
			v := h.voucher(h.client, 7, gwei(60))
			v.Nonce = 8 // signed for channel 7, claimed on 8
			_, err := h.c.Claim(h.ctx, h.server, v)
			return err
		}, "bad signature"},
		{"wrong receiver", func() error {
			_, err := h.c.Claim(h.ctx, h.stranger, h.voucher(h.client, 7, gwei(60)))
			return err
		}, "no channel"},
		{"amount above deposit", func() error {
			_, err := h.c.Claim(h.ctx, h.server, h.voucher(h.client, 7, gwei(101)))
			return err
		}, "above deposit"},
		{"replayed lower voucher", func() error {
			_, err := h.c.Claim(h.ctx, h.server, h.voucher(h.client, 7, gwei(40)))
			return err
		}, "not above claimed"},
		{"replayed same voucher", func() error {
			_, err := h.c.Claim(h.ctx, h.server, h.voucher(h.client, 7, gwei(50)))
			return err
		}, "not above claimed"},
		{"high s", func() error {
			v := h.voucher(h.client, 7, gwei(60))
			s := new(big.Int).SetBytes(v.Sig[32:64])
			s.Sub(crypto.S256().Params().N, s)
			s.FillBytes(v.Sig[32:64])
			v.Sig[64] ^= 1
			_, err := h.c.Claim(h.ctx, h.server, v)
			return err
		}, "bad signature"},
		{"no channel", func() error {
			_, err := h.c.Claim(h.ctx, h.server, h.voucher(h.client, 9, gwei(1)))
			return err
		}, "no channel"},
		{"open zero deposit", func() error {
			_, err := h.c.OpenChannel(h.ctx, h.client, server, 10, new(big.Int))
			return err
		}, "zero deposit"},
		{"open twice", func() error {
			_, err := h.c.OpenChannel(h.ctx, h.client, server, 7, gwei(1))
			return err
		}, "exists"},
		{"stranger closes", func() error {
			_, err := h.c.StartClose(h.ctx, h.stranger, server, 7)
			return err
		}, "no channel"},
		{"finish an open channel", func() error {
			_, err := h.c.FinishClose(h.ctx, h.client, server, 7)
			return err
		}, "not closing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			h.refused(tt.claim(), tt.reason)
		})
	}
	h.t = t
	if st := h.state(h.client, h.server, 7); st.Claimed.Cmp(gwei(50)) != 0 {
		t.Fatalf("claimed %v after refused claims, want %v", st.Claimed, gwei(50))
	}
}

// TestClaimWithTheOtherRecoveryID: a voucher whose V is not the one that
// recovers its sender (a verifier with the sender's key cached takes it)
// is still claimed: the claim carries the V that recovers the sender.
func TestClaimWithTheOtherRecoveryID(t *testing.T) {
	h := newHarness(t)
	server := h.addr(h.server)
	h.must(h.c.OpenChannel(h.ctx, h.client, server, 1, gwei(100)))
	vf := paychan.NewVerifier(h.c.Domain(), server)
	if err := vf.Verify(h.voucher(h.client, 1, gwei(10))); err != nil {
		t.Fatal(err)
	}
	v := h.voucher(h.client, 1, gwei(60))
	v.Sig[64] ^= 1
	if err := vf.Verify(v); err != nil {
		t.Fatalf("verifier refused the voucher: %v", err)
	}
	h.must(h.c.Claim(h.ctx, h.server, v))
	w := h.voucher(h.client, 1, gwei(70))
	w.Sig[64] ^= 1
	tx, err := h.c.SignClaim(h.ctx, h.server, w)
	if err != nil {
		t.Fatal(err)
	}
	h.must(h.c.SendSigned(h.ctx, tx))
	if st := h.state(h.client, h.server, 1); st.Claimed.Cmp(gwei(70)) != 0 {
		t.Fatalf("claimed %v, want %v", st.Claimed, gwei(70))
	}
}

// TestDigestMatchesContract pins the Go voucher digest and channel id to
// the contract's own.
func TestDigestMatchesContract(t *testing.T) {
	h := newHarness(t)
	id := paychan.ChannelID(h.addr(h.client), h.addr(h.server), 42)
	onchainID, err := h.c.ChannelIDOnChain(h.ctx, h.addr(h.client), h.addr(h.server), 42)
	if err != nil || onchainID != id {
		t.Fatalf("channel id %x, contract %x (%v)", id, onchainID, err)
	}
	amount := gwei(12345)
	digest, err := h.c.DigestOnChain(h.ctx, id, h.addr(h.server), amount)
	if err != nil {
		t.Fatal(err)
	}
	if want := h.c.Domain().Digest(id, h.addr(h.server), amount); digest != want {
		t.Fatalf("digest %x, contract %x", want, digest)
	}
}

// TestStateBeforeTheContract: a channel read at a block before the
// contract was deployed (as a receiver asking for more confirmations than
// the contract's age sees it) does not exist; at the head the same read
// of an unknown channel is empty too, and a wrong address is an error.
func TestStateBeforeTheContract(t *testing.T) {
	h := newHarness(t)
	id := paychan.ChannelID(h.addr(h.client), h.addr(h.server), 1)
	for _, block := range []*big.Int{big.NewInt(0), nil} {
		st, err := h.c.StateAt(h.ctx, id, block)
		if err != nil || st.Exists() || st.Deposit.Sign() != 0 || st.Claimed.Sign() != 0 {
			t.Fatalf("channel at block %v: %+v, %v; want an empty state", block, st, err)
		}
	}
	if _, err := paychan.Open(h.ctx, h.sim.Backend.Client().(paychan.Backend), common.Address{1}); err == nil {
		t.Fatal("opened a contract at an address without code")
	}
}
