package ledgerpg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/log"
	"github.com/jackc/pgx/v5"

	"github.com/lightmarket/lightmarket/internal/pgtest"
	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/ledgerdb"
	"github.com/lightmarket/lightmarket/ledgerdb/storetest"
)

var quiet = log.NewLogger(log.DiscardHandler())

// TestStore: the suite every ledger store passes, on a real PostgreSQL.
func TestStore(t *testing.T) {
	pg := pgtest.Start(t)
	n := 0
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		n++
		url := pg.NewDatabase(t, fmt.Sprintf("ledger_%d", n))
		return func() (ledgerdb.Store, error) { return Open(context.Background(), url, quiet) }
	})
}

// TestDatabaseAway: with PostgreSQL stopped as in a crash, writes fail
// at once (nothing is acknowledged); once it is back, writes succeed
// again, and every write acknowledged before is there.
func TestDatabaseAway(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "away")
	db, err := Open(context.Background(), url, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	alice := ledger.ClientID{1}
	write := func(accepted int64) error {
		return <-db.Write(ledgerdb.Records{Channels: []ledger.Channel{storetest.Channel(1, accepted)},
			Accounts: map[ledger.ClientID]ledger.Account{alice: storetest.Account(accepted, 0, 0)}})
	}
	if err := write(10); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 3 {
		if err := write(int64(20 + i)); err == nil {
			t.Fatal("a write was acknowledged while the database was stopped")
		}
	}
	if took := time.Since(start); took > 2*connectFor {
		t.Errorf("three refused writes took %v: a wallet waits that long for a refusal", took)
	}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := write(30)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	chans, accts, err := db.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 1 || chans[0].Accepted.Int64() != 30 || accts[alice].Credited.Int64() != 30 {
		t.Fatalf("after the restart: channels %+v, accounts %+v", chans, accts)
	}
	// The vouchers acknowledged are logged; the refused ones are not.
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var amounts string
	if err := conn.QueryRow(context.Background(), "SELECT string_agg(amount::text, ',' ORDER BY amount) FROM vouchers").Scan(&amounts); err != nil {
		t.Fatal(err)
	}
	if amounts != "10,30" {
		t.Errorf("vouchers logged: %s, want 10,30", amounts)
	}
}

// TestMigrations: the schema version is recorded, applied once, and a
// database of a newer lightmarket is refused rather than written.
func TestMigrations(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "migrations")
	for range 2 {
		db, err := Open(context.Background(), url, quiet)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var versions string
	if err := conn.QueryRow(context.Background(), "SELECT string_agg(version::text, ',' ORDER BY version) FROM lightmarket_schema").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != "1" {
		t.Fatalf("schema versions recorded: %s, want 1", versions)
	}
	if _, err := conn.Exec(context.Background(), "INSERT INTO lightmarket_schema (version) VALUES (999)"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), url, quiet); !errors.Is(err, ErrNewer) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("opening a newer schema: %v, want ErrNewer naming version 999", err)
	}
}

func TestBadURL(t *testing.T) {
	if _, err := Open(context.Background(), "postgres://[::1", quiet); !errors.Is(err, errBadURL) {
		t.Fatalf("bad URL: %v", err)
	}
	// Nothing listens on port 1: an error that says the database is away.
	_, err := Open(context.Background(), "postgres://lm@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", quiet)
	if !errors.Is(err, ErrAway) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("no database: %v", err)
	}
}

// TestStaleSessionEnded: the store lost its connection while the backend
// lived on holding the ledger's lock (a network cut PostgreSQL has not
// noticed); connecting again, it ends its own stale session instead of
// taking itself for another server.
func TestStaleSessionEnded(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "stale")
	db, err := Open(context.Background(), url, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.connMu.Lock()
	stale := db.conn // left open: its backend keeps the lock
	db.conn = nil
	db.connMu.Unlock()
	defer stale.Close(context.Background())
	if err := <-db.Write(ledgerdb.Records{Channels: []ledger.Channel{storetest.Channel(1, 10)}}); err != nil {
		t.Fatalf("write after losing the session: %v", err)
	}
	if err := stale.Ping(context.Background()); err == nil {
		t.Error("the stale session is still alive")
	}
	// Another server is still refused.
	if _, err := Open(context.Background(), url, quiet); !errors.Is(err, ErrInUse) {
		t.Fatalf("a second server: %v, want ErrInUse", err)
	}
}
