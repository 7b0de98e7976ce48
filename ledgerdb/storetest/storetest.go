// Package storetest is the test suite of ledgerdb.Store, the durable
// ledger of a lone server: what the cashier relies on from a store that
// writes whole records (package ledgerdb's Pebble database passes it).
// The cases both that store and a fleet's PostgreSQL ledger pass are the
// cashier's TestLedgerSuite.
package storetest

import (
	"errors"
	"math/big"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/ledgerdb"
	"github.com/lightmarket/lightmarket/paychan"
)

// Opener opens a store at one place each time it is called: what one
// opening wrote, the next one reads.
type Opener func() (ledgerdb.Store, error)

// Run runs the suite; fresh returns an opener of a new, empty place.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, open Opener)
	}{
		{"WritesSurviveReopening", writesSurviveReopening},
		{"ConcurrentWritesShareCommits", concurrentWritesShareCommits},
		{"ExactAmounts", exactAmounts},
		{"ManyRecords", manyRecords},
		{"SecondOpenRefused", secondOpenRefused},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, fresh(t)) })
	}
}

func mustOpen(t *testing.T, open Opener) ledgerdb.Store {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Account is an account with the amounts given.
func Account(credited, granted, charged int64) ledger.Account {
	return ledger.Account{Credited: big.NewInt(credited), Granted: big.NewInt(granted), Charged: big.NewInt(charged)}
}

// Channel is channel id with a voucher for accepted.
func Channel(id byte, accepted int64) ledger.Channel {
	return ledger.Channel{ID: common.Hash{id}, Sender: common.Address{9}, Nonce: 4, Accepted: big.NewInt(accepted),
		Voucher: paychan.Voucher{Sender: common.Address{9}, Nonce: 4, Amount: big.NewInt(accepted), Sig: [65]byte{7, 64: 27}},
		Deposit: big.NewInt(1000), Claimed: big.NewInt(3), CloseAt: 99}
}

func writesSurviveReopening(t *testing.T, open Opener) {
	db := mustOpen(t, open)
	alice := ledger.ClientID{1}
	if err := <-db.Write(ledgerdb.Records{Channels: []ledger.Channel{Channel(1, 10)}, Accounts: map[ledger.ClientID]ledger.Account{alice: Account(10, 0, 1)}}); err != nil {
		t.Fatal(err)
	}
	// Queued writes land in order: the later record of a key wins.
	w1 := db.Write(ledgerdb.Records{Channels: []ledger.Channel{Channel(1, 20)}})
	w2 := db.Write(ledgerdb.Records{Channels: []ledger.Channel{Channel(1, 30)}, Accounts: map[ledger.ClientID]ledger.Account{alice: Account(30, 5, 2)}})
	if err := <-w1; err != nil {
		t.Fatal(err)
	}
	if err := <-w2; err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-db.Write(ledgerdb.Records{}); !errors.Is(err, ledgerdb.ErrClosed) {
		t.Fatalf("write after close: %v, want ErrClosed", err)
	}

	db = mustOpen(t, open)
	defer db.Close()
	chans, accts, err := db.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 1 || chans[0].Accepted.Int64() != 30 || chans[0].Voucher.Amount.Int64() != 30 || chans[0].Voucher.Sig != Channel(1, 0).Voucher.Sig || chans[0].CloseAt != 99 ||
		chans[0].Voucher.Sender != (common.Address{9}) || chans[0].Voucher.Nonce != 4 {
		t.Fatalf("channels %+v", chans)
	}
	if a := accts[alice]; len(accts) != 1 || a.Credited.Int64() != 30 || a.Granted.Int64() != 5 || a.Charged.Int64() != 2 {
		t.Fatalf("accounts %+v", accts)
	}
}

func concurrentWritesShareCommits(t *testing.T, open Opener) {
	db := mustOpen(t, open)
	defer db.Close()
	const writers, each = 16, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := ledger.ClientID{byte(w)}
				if err := <-db.Write(ledgerdb.Records{Channels: []ledger.Channel{Channel(byte(w), int64(i))},
					Accounts: map[ledger.ClientID]ledger.Account{id: Account(int64(i), 0, 0)}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	commits, writes := db.Stats()
	if writes != writers*each {
		t.Fatalf("%d writes recorded, want %d", writes, writers*each)
	}
	if commits >= writes {
		t.Fatalf("%d commits for %d concurrent writes: no group commit", commits, writes)
	}
	chans, accts, err := db.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != writers || len(accts) != writers {
		t.Fatalf("%d channels and %d accounts, want %d of each", len(chans), len(accts), writers)
	}
	for _, c := range chans {
		if c.Accepted.Int64() != each-1 {
			t.Errorf("channel %x: accepted %v, want the last write's %d", c.ID[:1], c.Accepted, each-1)
		}
	}
	t.Logf("%d writes in %d commits", writes, commits)
}

// exactAmounts: money is exact to the wei at any size a uint256 holds, and
// a channel without a voucher loads without one.
func exactAmounts(t *testing.T, open Opener) {
	db := mustOpen(t, open)
	defer db.Close()
	huge := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	odd, _ := new(big.Int).SetString("123456789012345678901234567890123456789", 10)
	c := Channel(1, 0)
	c.Accepted, c.Voucher.Amount, c.Deposit, c.Claimed, c.Nonce = huge, huge, huge, odd, 1<<63+5
	c.Voucher.Nonce = c.Nonce
	bare := Channel(2, 0) // opened on chain, no voucher yet
	bare.Voucher = paychan.Voucher{}
	bare.Finished, bare.CloseAt = true, 1<<40
	bob := ledger.ClientID{2, 31: 0xff}
	acct := ledger.Account{Credited: huge, Granted: odd, Charged: new(big.Int)}
	if err := <-db.Write(ledgerdb.Records{Channels: []ledger.Channel{c, bare}, Accounts: map[ledger.ClientID]ledger.Account{bob: acct}}); err != nil {
		t.Fatal(err)
	}
	chans, accts, err := db.Load()
	if err != nil {
		t.Fatal(err)
	}
	byID := make(map[common.Hash]ledger.Channel)
	for _, ch := range chans {
		byID[ch.ID] = ch
	}
	got := byID[c.ID]
	if got.Accepted.Cmp(huge) != 0 || got.Voucher.Amount.Cmp(huge) != 0 || got.Deposit.Cmp(huge) != 0 || got.Claimed.Cmp(odd) != 0 || got.Nonce != c.Nonce || got.Voucher.Nonce != c.Nonce {
		t.Errorf("large amounts: %+v", got)
	}
	gotBare := byID[bare.ID]
	if gotBare.Voucher.Amount != nil || gotBare.Accepted.Sign() != 0 || !gotBare.Finished || gotBare.CloseAt != 1<<40 {
		t.Errorf("channel without a voucher: %+v", gotBare)
	}
	if a := accts[bob]; a.Credited == nil || a.Credited.Cmp(huge) != 0 || a.Granted.Cmp(odd) != 0 || a.Charged.Sign() != 0 {
		t.Errorf("account: %+v", a)
	}
}

func manyRecords(t *testing.T, open Opener) {
	db := mustOpen(t, open)
	const n = 2000
	r := ledgerdb.Records{Accounts: make(map[ledger.ClientID]ledger.Account)}
	for i := range n {
		c := Channel(0, int64(i))
		c.ID = common.BigToHash(big.NewInt(int64(i + 1)))
		r.Channels = append(r.Channels, c)
		r.Accounts[ledger.ClientID(c.ID)] = Account(int64(i), int64(i%7), int64(i/2))
	}
	if err := <-db.Write(r); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = mustOpen(t, open)
	defer db.Close()
	chans, accts, err := db.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != n || len(accts) != n {
		t.Fatalf("%d channels, %d accounts; want %d of each", len(chans), len(accts), n)
	}
	for _, c := range chans {
		i := c.ID.Big().Int64() - 1
		a := accts[ledger.ClientID(c.ID)]
		if c.Accepted.Int64() != i || a.Credited.Int64() != i || a.Granted.Int64() != i%7 || a.Charged.Int64() != i/2 {
			t.Fatalf("record %d: channel %v, account %+v", i, c.Accepted, a)
		}
	}
}

// secondOpenRefused: two servers writing one ledger as if each were alone
// would overwrite each other's records; the second opening is refused.
func secondOpenRefused(t *testing.T, open Opener) {
	db := mustOpen(t, open)
	defer db.Close()
	second, err := open()
	if err == nil {
		second.Close()
		t.Fatal("a second opening of one ledger succeeded")
	}
	t.Logf("second opening: %v", err)
}
