package ledgerdb

import (
	"math/big"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/paychan"
)

func account(credited int64) ledger.Account {
	return ledger.Account{Credited: big.NewInt(credited), Granted: new(big.Int), Charged: big.NewInt(1)}
}

func channel(id byte, accepted int64) ledger.Channel {
	return ledger.Channel{ID: common.Hash{id}, Sender: common.Address{9}, Nonce: 4, Accepted: big.NewInt(accepted),
		Voucher: paychan.Voucher{Sender: common.Address{9}, Nonce: 4, Amount: big.NewInt(accepted), Sig: [65]byte{7}},
		Deposit: big.NewInt(1000), Claimed: big.NewInt(3), CloseAt: 99}
}

func TestWritesSurviveReopening(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	alice := ledger.ClientID{1}
	if err := db.WriteSync(Records{Channels: []ledger.Channel{channel(1, 10)}, Accounts: map[ledger.ClientID]ledger.Account{alice: account(10)}}); err != nil {
		t.Fatal(err)
	}
	// Queued writes land in order: the later record of a key wins.
	w1 := db.Write(Records{Channels: []ledger.Channel{channel(1, 20)}})
	w2 := db.Write(Records{Channels: []ledger.Channel{channel(1, 30)}, Accounts: map[ledger.ClientID]ledger.Account{alice: account(30)}})
	if err := <-w1; err != nil {
		t.Fatal(err)
	}
	if err := <-w2; err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := <-db.Write(Records{}); err != ErrClosed {
		t.Fatalf("write after close: %v", err)
	}

	db, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	chans, accts, err := db.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 1 || chans[0].Accepted.Int64() != 30 || chans[0].Voucher.Amount.Int64() != 30 || chans[0].Voucher.Sig[0] != 7 || chans[0].CloseAt != 99 {
		t.Fatalf("channels %+v", chans)
	}
	if a := accts[alice]; a.Credited.Int64() != 30 || a.Charged.Int64() != 1 {
		t.Fatalf("accounts %+v", accts)
	}
}

func TestConcurrentWritesShareCommits(t *testing.T) {
	db, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const writers, each = 16, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := db.WriteSync(Records{Channels: []ledger.Channel{channel(byte(w), int64(i))}}); err != nil {
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
	t.Logf("%d writes in %d commits", writes, commits)
}
