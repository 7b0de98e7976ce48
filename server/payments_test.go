package server

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/paychan/paychantest"
	"github.com/lightmarket/lightmarket/protocol"
)

// readAck reads until the server's PayAck.
func (ts *testServer) readAck(t *testing.T) *protocol.PayAck {
	t.Helper()
	for {
		code, msg, err := protocol.ReadMsg(ts.rw)
		if err != nil {
			t.Fatalf("reading PayAck: %v", err)
		}
		switch code {
		case protocol.PayAckMsg:
			return msg.(*protocol.PayAck)
		case protocol.ErrorMsg:
			t.Fatalf("Error instead of PayAck: %s", msg.(*protocol.Error).Reason)
		}
	}
}

// TestVouchersRefusedOverTheWire: forged, replayed, over-deposit,
// closing-channel, unknown-channel and malformed payments are refused with
// a code and a reason, and never credited; a resent voucher is credited
// once.
func TestVouchersRefusedOverTheWire(t *testing.T) {
	serverKey, _ := crypto.GenerateKey()
	clientKey, _ := crypto.GenerateKey()
	forger, _ := crypto.GenerateKey()
	sim := paychantest.New(t, 3600, serverKey, clientKey, forger)
	ts := newTestServerWith(t, Config{Contract: sim.Contract, PaymentKey: serverKey})
	ts.handshake(t, 1337)
	var terms *protocol.PaymentTerms
	for terms == nil {
		code, msg, err := protocol.ReadMsg(ts.rw)
		if err != nil {
			t.Fatal(err)
		}
		if code == protocol.PaymentTermsMsg {
			terms = msg.(*protocol.PaymentTerms)
		}
	}
	pt, err := paychan.DecodeTerms(terms.Methods[0].Terms)
	if err != nil || terms.Methods[0].Name != paychan.Method || pt.Receiver != paychan.Address(serverKey) || pt.Contract != sim.Contract.Address() {
		t.Fatalf("terms %+v (%v)", pt, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recv := pt.Receiver
	if _, err := sim.Contract.OpenChannel(ctx, clientKey, recv, 1, big.NewInt(1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Contract.OpenChannel(ctx, clientKey, recv, 2, big.NewInt(1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Contract.StartClose(ctx, clientKey, recv, 2); err != nil {
		t.Fatal(err)
	}
	d := sim.Contract.Domain()
	sign := func(nonce uint64, amount int64) []byte {
		v, err := d.Sign(clientKey, recv, nonce, big.NewInt(amount))
		if err != nil {
			t.Fatal(err)
		}
		return v.Encode()
	}
	forged, _ := d.Sign(forger, recv, 1, big.NewInt(500))
	forged.Sender = paychan.Address(clientKey)

	tests := []struct {
		name     string
		method   string
		payment  []byte
		code     protocol.PayCode
		reason   string
		credited int64
		balance  int64
	}{
		{"first voucher", paychan.Method, sign(1, 100), protocol.PayAccepted, "", 100, 100},
		{"forged", paychan.Method, forged.Encode(), protocol.PayBadSignature, "not signed by the channel's sender", 0, 100},
		{"replayed lower", paychan.Method, sign(1, 50), protocol.PayReplayed, "below one already accepted", 0, 100},
		{"resent", paychan.Method, sign(1, 100), protocol.PayAccepted, "", 0, 100},
		{"over deposit", paychan.Method, sign(1, 1001), protocol.PayAboveDeposit, "above the channel's deposit", 0, 100},
		{"closing channel", paychan.Method, sign(2, 10), protocol.PayClosing, "channel closing", 0, 100},
		{"unknown channel", paychan.Method, sign(3, 10), protocol.PayUnknownChannel, "not open on chain", 0, 100},
		{"malformed", paychan.Method, []byte{0xc1, 0x80}, protocol.PayMalformed, "malformed", 0, 100},
		{"other method", "ticket", []byte{0xc0}, protocol.PayUnsupported, "not accepted", 0, 100},
		{"next voucher", paychan.Method, sign(1, 250), protocol.PayAccepted, "", 150, 250},
	}
	for i, tt := range tests {
		time.Sleep(protocol.PayInterval + 10*time.Millisecond)
		if err := protocol.Send(ts.rw, protocol.PayMsg, &protocol.Pay{ReqID: uint64(i + 1), Method: tt.method, Payment: tt.payment}); err != nil {
			t.Fatal(err)
		}
		ack := ts.readAck(t)
		if ack.ReqID != uint64(i+1) || ack.Code != tt.code || !strings.Contains(ack.Reason, tt.reason) ||
			ack.Credited.Int64() != tt.credited || ack.Balance.Int64() != tt.balance {
			t.Errorf("%s: ack %+v, want code %v reason %q credited %d balance %d", tt.name, ack, tt.code, tt.reason, tt.credited, tt.balance)
		}
	}
	if b := ts.srv.Balance(enode.ID{1}); b.Int64() != 250 {
		t.Fatalf("balance %v, want 250", b)
	}
	if e := ts.srv.Earnings(); e.Received.Int64() != 250 || e.Channels != 2 {
		t.Fatalf("earnings %+v", e)
	}

	// A burst of payments (sent apart, read together by a busy server) is
	// taken; payments faster than that end the session.
	time.Sleep(protocol.PayBurst * protocol.PayInterval)
	for i := range protocol.PayBurst {
		if err := protocol.Send(ts.rw, protocol.PayMsg, &protocol.Pay{ReqID: uint64(100 + i), Method: paychan.Method, Payment: sign(1, int64(260+i))}); err != nil {
			t.Fatal(err)
		}
		if ack := ts.readAck(t); ack.ReqID != uint64(100+i) || ack.Code != protocol.PayAccepted {
			t.Fatalf("payment %d of a burst: ack %+v", i, ack)
		}
	}
	go func() { // the pipe is synchronous: the server's Error waits for our read
		protocol.Send(ts.rw, protocol.PayMsg, &protocol.Pay{ReqID: 200, Method: paychan.Method, Payment: sign(1, 300)})
	}()
	ts.expectError(t, protocol.ErrInvalidRequest)
}
