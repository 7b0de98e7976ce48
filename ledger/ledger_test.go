package ledger

import (
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"pgregory.net/rapid"

	"github.com/lightmarket/lightmarket/paychan"
)

var (
	sender   = common.HexToAddress("0x51")
	receiver = common.HexToAddress("0x52")
	alice    = ClientID{1}
	bob      = ClientID{2}
)

func voucher(amount int64) *paychan.Voucher {
	return &paychan.Voucher{Sender: sender, Nonce: 1, Amount: big.NewInt(amount)}
}

func openChannel(l *Ledger, deposit int64, closeAt uint64) common.Hash {
	id := paychan.ChannelID(sender, receiver, 1)
	l.SetChain(sender, 1, id, paychan.State{Deposit: big.NewInt(deposit), Claimed: new(big.Int), CloseAt: closeAt})
	return id
}

func TestAccept(t *testing.T) {
	const now = 1_000_000
	tests := []struct {
		name     string
		deposit  int64
		closeAt  uint64
		finished bool
		amounts  []int64 // earlier accepted vouchers
		claimed  int64   // on chain
		amount   int64
		want     error
		credit   int64
	}{
		{name: "first voucher", deposit: 100, amount: 30, credit: 30},
		{name: "next voucher credits the difference", deposit: 100, amounts: []int64{30}, amount: 50, credit: 20},
		{name: "resent voucher credits nothing", deposit: 100, amounts: []int64{30}, amount: 30, credit: 0},
		{name: "lower voucher refused", deposit: 100, amounts: []int64{30}, amount: 20, want: ErrReplayed},
		{name: "above deposit", deposit: 100, amount: 101, want: ErrAboveDeposit},
		{name: "whole deposit", deposit: 100, amount: 100, credit: 100},
		{name: "closing", deposit: 100, closeAt: now + 3600, amount: 10, want: ErrChannelClosing},
		{name: "closed", deposit: 100, finished: true, amount: 10, want: ErrChannelClosed},
		{name: "claimed by another ledger: only above the claim", deposit: 100, claimed: 40, amount: 60, credit: 20},
		{name: "claimed by another ledger: nothing up to the claim", deposit: 100, claimed: 40, amount: 40, credit: 0},
		{name: "claimed below what was accepted: the difference", deposit: 100, amounts: []int64{30}, claimed: 20, amount: 50, credit: 20},
		{name: "accepted, then claimed beyond by another ledger", deposit: 100, amounts: []int64{30}, claimed: 45, amount: 50, credit: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(Config{Clock: new(mclock.Simulated)})
			id := openChannel(l, tt.deposit, 0)
			for _, a := range tt.amounts {
				if _, _, _, err := l.Accept(alice, id, voucher(a)); err != nil {
					t.Fatal(err)
				}
			}
			l.SetChain(sender, 1, id, paychan.State{Deposit: big.NewInt(tt.deposit), Claimed: big.NewInt(tt.claimed), CloseAt: tt.closeAt, Finished: tt.finished})
			before := l.Balance(alice)
			delta, _, acct, err := l.Accept(alice, id, voucher(tt.amount))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if err != nil {
				if l.Balance(alice).Cmp(before) != 0 {
					t.Fatal("refused voucher credited")
				}
				return
			}
			if delta.Int64() != tt.credit || new(big.Int).Sub(acct.Balance(), before).Int64() != tt.credit {
				t.Fatalf("credited %v (balance %v → %v), want %d", delta, before, acct.Balance(), tt.credit)
			}
		})
	}
	l := New(Config{Clock: new(mclock.Simulated)})
	if _, _, _, err := l.Accept(alice, common.Hash{1}, voucher(1)); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("unknown channel: %v", err)
	}
}

// A voucher whose records were not stored is undone: the channel and the
// credit are as before, charges made meanwhile stay, and the same voucher
// credits the same amount when it comes again.
func TestRevert(t *testing.T) {
	l := New(Config{Clock: new(mclock.Simulated)})
	id := openChannel(l, 1000, 0)
	if _, _, _, err := l.Accept(alice, id, voucher(100)); err != nil {
		t.Fatal(err)
	}
	prev, _ := l.Channel(id)
	delta, _, _, err := l.Accept(alice, id, voucher(300))
	if err != nil || delta.Int64() != 200 {
		t.Fatalf("second voucher: %v, %v", delta, err)
	}
	l.ChargeRequest(alice, 10_000, big.NewInt(1)) // 10 wei, charged while the voucher was being stored
	l.Revert(alice, prev, delta)
	if c, _ := l.Channel(id); c.Accepted.Int64() != 100 || c.Voucher.Amount.Int64() != 100 {
		t.Fatalf("reverted channel: accepted %v, voucher %v; want 100", c.Accepted, c.Voucher.Amount)
	}
	if b := l.Balance(alice); b.Int64() != 90 {
		t.Fatalf("balance %v after the revert, want 100 credited less 10 charged", b)
	}
	if delta, _, _, err := l.Accept(alice, id, voucher(300)); err != nil || delta.Int64() != 200 {
		t.Fatalf("the voucher again: %v, %v; want 200 credited", delta, err)
	}
}

func TestBilling(t *testing.T) {
	clock := new(mclock.Simulated)
	l := New(Config{Clock: clock})
	l.SetBalance(alice, big.NewInt(1_000_000))
	l.StartBilling(alice)
	// 1,000 units at 3 wei per unit-second for 1.5 s: 4,500 wei.
	clock.Run(1500 * time.Millisecond)
	charged, acct := l.Bill(alice, 1000, big.NewInt(3))
	if charged.Int64() != 4500 || acct.Balance().Int64() != 995_500 {
		t.Fatalf("charged %v, balance %v", charged, acct.Balance())
	}
	// Fractions of a wei carry over: 1 unit at 1 wei/s for 0.4 s, three times.
	var sum int64
	for range 3 {
		clock.Run(400 * time.Millisecond)
		c, _ := l.Bill(alice, 1, big.NewInt(1))
		sum += c.Int64()
	}
	if sum != 1 {
		t.Fatalf("1.2 wei charged as %d", sum)
	}
	// Requests: 2,500 cost units at 4 wei per 1,000.
	if c := l.ChargeRequest(alice, 2500, big.NewInt(4)); c.Int64() != 10 {
		t.Fatalf("request charge %v", c)
	}
	// Never below zero.
	clock.Run(time.Hour)
	l.Bill(alice, 1000, big.NewInt(3))
	if b := l.Balance(alice); b.Sign() != 0 {
		t.Fatalf("balance %v after the money ran out", b)
	}
}

func TestSetBalance(t *testing.T) {
	l := New(Config{Clock: new(mclock.Simulated)})
	id := openChannel(l, 100, 0)
	l.Accept(alice, id, voucher(60))
	for _, want := range []int64{100, 10, 0, 60, 5} {
		if a := l.SetBalance(alice, big.NewInt(want)); a.Balance().Int64() != want || a.Granted.Sign() < 0 || a.Charged.Sign() < 0 {
			t.Fatalf("set %d: %+v", want, a)
		}
	}
}

func TestDue(t *testing.T) {
	l := New(Config{Clock: new(mclock.Simulated), ClaimThreshold: big.NewInt(50)})
	id := openChannel(l, 100, 0)
	l.Accept(alice, id, voucher(40))
	if len(l.Due()) != 0 {
		t.Fatal("due below the threshold")
	}
	l.Accept(alice, id, voucher(60))
	if d := l.Due(); len(d) != 1 || d[0].Voucher.Amount.Int64() != 60 {
		t.Fatalf("due %+v", d)
	}
	l.SetChain(sender, 1, id, paychan.State{Deposit: big.NewInt(100), Claimed: big.NewInt(60)})
	if len(l.Due()) != 0 {
		t.Fatal("due after the claim")
	}
	l.Accept(alice, id, voucher(61))
	l.SetChain(sender, 1, id, paychan.State{Deposit: big.NewInt(100), Claimed: big.NewInt(60), CloseAt: 5000})
	if len(l.Due()) != 1 {
		t.Fatal("closing channel with 1 wei unclaimed not due")
	}
}

// TestAccountingInvariants: whatever vouchers, top-ups, claims, charges and
// grants happen, the money adds up: every wei accepted in vouchers was
// credited to exactly one client, no balance is negative, no channel
// accepted more than its deposit, and the earnings add up.
func TestAccountingInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clock := new(mclock.Simulated)
		l := New(Config{Clock: clock, ClaimThreshold: big.NewInt(10)})
		clients := []ClientID{alice, bob}
		type ch struct {
			id      common.Hash
			deposit int64
			claimed int64
			nonce   uint64
		}
		var chans []*ch
		for i := range 3 {
			c := &ch{id: paychan.ChannelID(sender, receiver, uint64(i)), deposit: rapid.Int64Range(1, 1000).Draw(t, "deposit"), nonce: uint64(i)}
			l.SetChain(sender, c.nonce, c.id, paychan.State{Deposit: big.NewInt(c.deposit), Claimed: new(big.Int)})
			chans = append(chans, c)
		}
		credited := new(big.Int)
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			c := chans[rapid.IntRange(0, len(chans)-1).Draw(t, "chan")]
			client := clients[rapid.IntRange(0, 1).Draw(t, "client")]
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0, 1: // voucher
				v := &paychan.Voucher{Sender: sender, Nonce: c.nonce, Amount: big.NewInt(rapid.Int64Range(1, 1200).Draw(t, "amount"))}
				delta, _, _, err := l.Accept(client, c.id, v)
				if err == nil {
					credited.Add(credited, delta)
				}
			case 2: // top-up
				c.deposit += rapid.Int64Range(1, 500).Draw(t, "topup")
				l.SetChain(sender, c.nonce, c.id, paychan.State{Deposit: big.NewInt(c.deposit), Claimed: big.NewInt(c.claimed)})
			case 3: // claim what is due
				for _, d := range l.Due() {
					if d.ID == c.id {
						c.claimed = d.Accepted.Int64()
						l.SetChain(sender, c.nonce, c.id, paychan.State{Deposit: big.NewInt(c.deposit), Claimed: big.NewInt(c.claimed)})
					}
				}
			case 4: // bill
				l.StartBilling(client)
				clock.Run(time.Duration(rapid.Int64Range(0, 5e9).Draw(t, "elapsed")))
				l.Bill(client, rapid.Uint64Range(0, 100).Draw(t, "capacity"), big.NewInt(rapid.Int64Range(0, 10).Draw(t, "price")))
				l.ChargeRequest(client, rapid.Uint64Range(0, 10000).Draw(t, "cost"), big.NewInt(rapid.Int64Range(0, 10).Draw(t, "rprice")))
			case 5: // grant
				l.SetBalance(client, big.NewInt(rapid.Int64Range(0, 100).Draw(t, "grant")))
			}
		}
		sumCredited := new(big.Int)
		for _, a := range l.Accounts() {
			if a.Balance().Sign() < 0 || a.Granted.Sign() < 0 || a.Charged.Sign() < 0 {
				t.Fatalf("negative account %+v", a)
			}
			sumCredited.Add(sumCredited, a.Credited)
		}
		e := l.Earnings()
		if sumCredited.Cmp(credited) != 0 || e.Received.Cmp(credited) != 0 {
			t.Fatalf("credited %v, accounts %v, received %v", credited, sumCredited, e.Received)
		}
		for _, c := range l.Channels() {
			if c.Accepted.Cmp(c.Deposit) > 0 {
				t.Fatalf("channel accepted %v above deposit %v", c.Accepted, c.Deposit)
			}
		}
		if new(big.Int).Add(e.Claimed, e.Unclaimed).Cmp(e.Received) != 0 {
			t.Fatalf("claimed %v + unclaimed %v != received %v", e.Claimed, e.Unclaimed, e.Received)
		}
	})
}
