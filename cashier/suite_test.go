package cashier

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/lightmarket/lightmarket/internal/pgtest"
	"github.com/lightmarket/lightmarket/paychan/paychantest"
	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/protocol"
)

// TestLedgerSuite is the one ledger suite both stores pass, through the
// cashier that uses them: Pebble (a lone server's default, package
// ledgerdb) and PostgreSQL (a fleet's, package ledgerpg). Each case gets
// a fresh, empty ledger; a Config with only the store set.
func TestLedgerSuite(t *testing.T) {
	cases := []struct {
		name string
		test func(t *testing.T, store Config)
	}{
		{"ReceiveSettleAndRecover", testReceiveSettleAndRecover},
		{"RacingVouchersCreditedOnce", testRacingVouchersCreditedOnce},
		{"BalancesSurviveReopening", testBalancesSurviveReopening},
	}
	t.Run("Pebble", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { tc.test(t, Config{DataDir: t.TempDir()}) })
		}
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		pg := pgtest.Start(t)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { tc.test(t, Config{Ledger: pg.NewDatabase(t, fmt.Sprintf("suite%d", i))}) })
		}
	})
}

// suiteEnv is a chain with the contract and a client's open channel.
type suiteEnv struct {
	sim        *paychantest.Sim
	ctx        context.Context
	cfg        Config
	clientSign func(amount int64) []byte
}

func newSuiteEnv(t *testing.T, store Config, deposit int64) (*suiteEnv, *Cashier) {
	serverKey, _ := crypto.GenerateKey()
	clientKey, _ := crypto.GenerateKey()
	sim := paychantest.New(t, 3600, serverKey, clientKey)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cfg := store
	cfg.Clock, cfg.Contract, cfg.Key, cfg.Logger = new(mclock.Simulated), sim.Contract, serverKey, quiet
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Contract.OpenChannel(ctx, clientKey, c.Receiver(), 1, big.NewInt(deposit)); err != nil {
		t.Fatal(err)
	}
	e := &suiteEnv{sim: sim, ctx: ctx, cfg: cfg}
	e.clientSign = func(amount int64) []byte {
		v, err := sim.Contract.Domain().Sign(clientKey, c.Receiver(), 1, big.NewInt(amount))
		if err != nil {
			t.Fatal(err)
		}
		return v.Encode()
	}
	return e, c
}

// testRacingVouchersCreditedOnce: 200 vouchers of one channel, sent in a
// random order by 8 goroutines at once, credit exactly the highest one's
// amount in total; lower ones arriving late credit nothing (refused as
// replayed, or credited 0), and one refused as unavailable (another of
// the channel's vouchers being stored) is sent again. The ledger reopened
// holds the same.
func testRacingVouchersCreditedOnce(t *testing.T, store Config) {
	e, c := newSuiteEnv(t, store, 1_000_000)
	client := [32]byte{3}
	vouchers := make([][]byte, 200)
	for i := range vouchers {
		vouchers[i] = e.clientSign(int64(i+1) * 10)
	}
	rand.Shuffle(len(vouchers), func(i, j int) { vouchers[i], vouchers[j] = vouchers[j], vouchers[i] })
	var (
		wg       sync.WaitGroup
		credited atomic.Int64
		next     atomic.Int64
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(vouchers); {
				got, _, err := c.Receive(e.ctx, client, vouchers[i])
				var r *payment.Refusal
				switch {
				case errors.As(err, &r) && r.Code == protocol.PayUnavailable:
					// Another voucher of the channel is being stored (the
					// Pebble ledger takes one at a time): send it again,
					// as a client does.
					time.Sleep(time.Millisecond)
					continue
				case errors.As(err, &r) && r.Code == protocol.PayReplayed:
				case err != nil:
					t.Error(err)
					return
				default:
					credited.Add(got.Int64())
				}
				i = int(next.Add(1) - 1)
			}
		}()
	}
	wg.Wait()
	if credited.Load() != 2000 || c.Balance(client).Int64() != 2000 {
		t.Fatalf("credited %d in total, balance %v; want 2000", credited.Load(), c.Balance(client))
	}
	c.Close()
	c, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Earnings().Received; got.Int64() != 2000 || c.Balance(client).Int64() != 2000 {
		t.Fatalf("reopened: received %v, balance %v; want 2000", got, c.Balance(client))
	}
}

// testBalancesSurviveReopening: an operator's grant, a voucher's credit
// and charges for requests are all in the ledger after a clean close.
func testBalancesSurviveReopening(t *testing.T, store Config) {
	e, c := newSuiteEnv(t, store, 1_000_000)
	granted, paying := [32]byte{1}, [32]byte{2}
	if err := c.SetBalance(granted, big.NewInt(5000)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Receive(e.ctx, paying, e.clientSign(3000)); err != nil {
		t.Fatal(err)
	}
	after := c.ChargeRequest(paying, 2000, big.NewInt(100)) // 200 wei
	if after.Int64() != 2800 {
		t.Fatalf("balance after charging 200 of 3000: %v", after)
	}
	c.Close()
	c, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if a, b := c.Balance(granted), c.Balance(paying); a.Int64() != 5000 || b.Int64() != 2800 {
		t.Fatalf("reopened: granted client %v (want 5000), paying client %v (want 2800)", a, b)
	}
}
