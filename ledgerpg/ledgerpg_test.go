package ledgerpg

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/log"
	"github.com/jackc/pgx/v5"

	"github.com/lightmarket/lightmarket/internal/cpustat"
	"github.com/lightmarket/lightmarket/internal/pgtest"
	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/paychan"
)

var quiet = log.NewLogger(log.DiscardHandler())

func open(t testing.TB, url, server string) *DB {
	t.Helper()
	db, err := Open(context.Background(), Config{URL: url, Server: server, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func query(t *testing.T, url, sql string, args ...any) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var out string
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// openChannel records channel id as open on chain with deposit.
func openChannel(t *testing.T, db *DB, id byte, deposit int64) common.Hash {
	t.Helper()
	h := common.Hash{id}
	if _, err := db.SetChain(ledger.Channel{ID: h, Sender: common.Address{id}, Deposit: big.NewInt(deposit), Claimed: new(big.Int)}).Wait(); err != nil {
		t.Fatal(err)
	}
	return h
}

func voucher(amount int64) *paychan.Voucher {
	return &paychan.Voucher{Amount: big.NewInt(amount), Sig: [65]byte{byte(amount)}}
}

// TestOneStatementCreditsAClientsChannels: vouchers of two channels of
// one client and one of another client, credited by one statement: each
// credit is its own, and each result carries its client's account after
// the whole group.
func TestOneStatementCreditsAClientsChannels(t *testing.T) {
	pg := pgtest.Start(t)
	db := open(t, pg.NewDatabase(t, "group"), "a")
	alice, bob := ledger.ClientID{1}, ledger.ClientID{2}
	group := []*op{
		{kind: opCredit, client: alice, id: openChannel(t, db, 1, 1000), voucher: *voucher(100)},
		{kind: opCredit, client: bob, id: openChannel(t, db, 2, 1000), voucher: *voucher(30)},
		{kind: opCredit, client: alice, id: openChannel(t, db, 3, 1000), voucher: *voucher(200)},
	}
	redo, err := db.credit(context.Background(), group)
	if err != nil || len(redo) != 0 {
		t.Fatalf("credit: %d to redo, %v", len(redo), err)
	}
	for i, want := range []struct{ delta, account int64 }{{100, 300}, {30, 30}, {200, 300}} {
		o := group[i]
		if o.err != nil || o.result.Delta == nil || o.result.Account.Credited == nil {
			t.Fatalf("voucher %d: %+v, %v", i, o.result, o.err)
		}
		if o.result.Delta.Int64() != want.delta || o.result.Account.Credited.Int64() != want.account {
			t.Errorf("voucher %d: credited %v, account %v; want %d and %d", i, o.result.Delta, o.result.Account.Credited, want.delta, want.account)
		}
		if o.result.Channel.ID != o.id || o.result.Channel.Accepted.Cmp(o.voucher.Amount) != 0 {
			t.Errorf("voucher %d: channel %x accepted %v after it", i, o.result.Channel.ID[:1], o.result.Channel.Accepted)
		}
	}
}

// TestCreditRules: what a voucher credits, and the refusals, as the
// ledger's rules say, decided by the database: by the one statement that
// credits vouchers of distinct channels, and by the transaction that
// locks the rows first.
func TestCreditRules(t *testing.T) {
	pg := pgtest.Start(t)
	for _, lock := range []bool{false, true} {
		t.Run(fmt.Sprintf("lockAlways=%v", lock), func(t *testing.T) {
			db := open(t, pg.NewDatabase(t, fmt.Sprintf("rules_%v", lock)), "a")
			db.lockAlways = lock
			testCreditRules(t, db)
		})
	}
}

func testCreditRules(t *testing.T, db *DB) {
	alice := ledger.ClientID{1}
	ch := openChannel(t, db, 1, 1000)
	for _, tc := range []struct {
		amount  int64
		credits int64
		err     error
	}{
		{100, 100, nil},
		{100, 0, nil}, // sent again
		{250, 150, nil},
		{200, 0, nil},                     // overtaken by a later one
		{1001, 0, ledger.ErrAboveDeposit}, // above the deposit
		{300, 50, nil},                    // still good after a refusal
	} {
		res, err := db.Credit(alice, ch, voucher(tc.amount)).Wait()
		if !errors.Is(err, tc.err) {
			t.Fatalf("voucher %d: error %v, want %v", tc.amount, err, tc.err)
		}
		if err == nil && res.Delta.Int64() != tc.credits {
			t.Fatalf("voucher %d credited %v, want %d", tc.amount, res.Delta, tc.credits)
		}
	}
	if _, err := db.Credit(alice, common.Hash{9}, voucher(1)).Wait(); !errors.Is(err, ledger.ErrUnknownChannel) {
		t.Fatalf("unknown channel: %v", err)
	}
	// Claimed on chain above what was accepted: credited above the claim.
	if _, err := db.SetChain(ledger.Channel{ID: ch, Deposit: big.NewInt(1000), Claimed: big.NewInt(400)}).Wait(); err != nil {
		t.Fatal(err)
	}
	if res, err := db.Credit(alice, ch, voucher(450)).Wait(); err != nil || res.Delta.Int64() != 50 || res.Account.Credited.Int64() != 350 {
		t.Fatalf("after a claim of 400: %+v, %v", res, err)
	}
	// Closing: refused.
	if _, err := db.SetChain(ledger.Channel{ID: ch, Deposit: big.NewInt(1000), Claimed: big.NewInt(400), CloseAt: 99}).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Credit(alice, ch, voucher(500)).Wait(); !errors.Is(err, ledger.ErrChannelClosing) {
		t.Fatalf("closing channel: %v", err)
	}
	// A chain read older than the stored one lowers nothing.
	if _, err := db.SetChain(ledger.Channel{ID: ch, Deposit: big.NewInt(10), Claimed: new(big.Int)}).Wait(); err != nil {
		t.Fatal(err)
	}
	c, _, err := db.Channel(context.Background(), ch)
	if err != nil || c.Deposit.Int64() != 1000 || c.Claimed.Int64() != 400 || c.CloseAt != 99 || c.Accepted.Int64() != 450 {
		t.Fatalf("channel after an older chain read: %+v, %v", c, err)
	}
	// What was stored beside: the vouchers that moved the channel (100,
	// 250, 300, 450) with their credits, the server's totals, and what
	// the latest voucher credited.
	var log, server, last string
	err = db.pool.QueryRow(context.Background(), `SELECT
		(SELECT string_agg(amount || ':' || credited || ':' || server || ':' || encode(client, 'hex'), ' ' ORDER BY amount) FROM vouchers),
		(SELECT credited || ':' || vouchers FROM servers WHERE id = 'a'),
		(SELECT last_credit::text FROM channels WHERE id = $1)`, ch[:]).Scan(&log, &server, &last)
	a := "01" + strings.Repeat("00", 31)
	if want := fmt.Sprintf("100:100:a:%s 250:150:a:%[1]s 300:50:a:%[1]s 450:50:a:%[1]s", a); err != nil || log != want {
		t.Errorf("vouchers stored: %q, %v; want %q", log, err, want)
	}
	if server != "350:4" || last != "50" {
		t.Errorf("server's totals %q (want 350:4), channel's last credit %q (want 50)", server, last)
	}
}

// TestFleetCreditsEachVoucherOnce: the vouchers of channels race to two
// servers of one fleet, each voucher sent to both at once. Every channel
// is credited exactly its final amount, each accepted voucher once, in
// order, and the stored accounts, vouchers and servers agree.
func TestFleetCreditsEachVoucherOnce(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "race")
	servers := []*DB{open(t, url, "a"), open(t, url, "b")}
	const channels, vouchers = 8, 60
	for i := range channels {
		openChannel(t, servers[0], byte(i+1), 1e9)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		credited = make(map[byte]int64)
	)
	for i := range channels {
		id := byte(i + 1)
		for _, srv := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				amount := int64(0)
				for range vouchers {
					amount += rand.Int64N(1000) + 1
					if rand.IntN(3) == 0 {
						// The other server may be ahead: this voucher is
						// then below the accepted one.
						amount += 500
					}
					res, err := srv.Credit(ledger.ClientID{id}, common.Hash{id}, voucher(amount)).Wait()
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					credited[id] += res.Delta.Int64()
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	ctx := context.Background()
	chans, accts, err := servers[1].Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, c := range chans {
		id := c.ID[0]
		if credited[id] != c.Accepted.Int64() {
			t.Errorf("channel %d: credits reported %d, accepted %v", id, credited[id], c.Accepted)
		}
		if a := accts[ledger.ClientID{id}]; a.Credited.Cmp(c.Accepted) != 0 {
			t.Errorf("channel %d: account credited %v, accepted %v", id, a.Credited, c.Accepted)
		}
		total += c.Accepted.Int64()
	}
	// The voucher log: each channel's amounts rise, and each voucher
	// credited what it added to the one before.
	bad := query(t, url, `SELECT count(*)::text FROM (SELECT credited, amount - lag(amount, 1, 0::numeric) OVER w AS added
		FROM vouchers WINDOW w AS (PARTITION BY channel ORDER BY amount)) v WHERE credited <> added`)
	if bad != "0" {
		t.Errorf("%s vouchers credited other than what they added", bad)
	}
	// Each voucher logged once (the log has no key to say so: the
	// statements that write it do).
	if twice := query(t, url, "SELECT (count(*) - count(DISTINCT (channel, amount)))::text FROM vouchers"); twice != "0" {
		t.Errorf("%s vouchers logged twice", twice)
	}
	if got := query(t, url, "SELECT sum(credited)::text FROM servers"); got != fmt.Sprint(total) {
		t.Errorf("servers credited %s in all, channels accepted %d", got, total)
	}
	commits, changes := servers[0].Stats()
	t.Logf("server a: %d changes in %d commits", changes, commits)
}

// TestCreditAfterAnotherServersChange: a voucher the crediting statement
// does not move, while the channel read after it would take it (another
// server topped the deposit up in between), is applied again with the
// row locked: credited once, and logged.
func TestCreditAfterAnotherServersChange(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "between")
	a, b := open(t, url, "a"), open(t, url, "b")
	ch := openChannel(t, a, 1, 100)
	a.afterStatement = func() {
		if _, err := b.SetChain(ledger.Channel{ID: ch, Deposit: big.NewInt(1000), Claimed: new(big.Int)}).Wait(); err != nil {
			t.Error(err)
		}
	}
	res, err := a.Credit(ledger.ClientID{1}, ch, voucher(300)).Wait()
	if err != nil || res.Delta.Int64() != 300 || res.Channel.Accepted.Int64() != 300 || res.Account.Credited.Int64() != 300 {
		t.Fatalf("voucher of 300 after a top-up to 1000: %+v, %v", res, err)
	}
	if log := query(t, url, "SELECT string_agg(amount || ':' || credited, ' ') FROM vouchers"); log != "300:300" {
		t.Errorf("vouchers logged: %q, want 300:300", log)
	}
	if last := query(t, url, "SELECT last_credit::text FROM channels"); last != "300" {
		t.Errorf("channel's last credit %s, want 300", last)
	}
}

// TestChargesAdd: charges of one client at two servers add up; a balance
// set by the operator holds against the stored account.
func TestChargesAdd(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "charges")
	a, b := open(t, url, "a"), open(t, url, "b")
	bob := ledger.ClientID{2}
	if res, err := a.SetBalance(bob, big.NewInt(10_000)).Wait(); err != nil || res.Account.Balance().Int64() != 10_000 {
		t.Fatalf("set balance: %+v, %v", res, err)
	}
	var wg sync.WaitGroup
	for _, db := range []*DB{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if _, err := db.Charge(bob, big.NewInt(7)).Wait(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	accts, err := b.Accounts(context.Background(), []ledger.ClientID{bob})
	acct := accts[bob]
	if err != nil || acct.Charged.Int64() != 1400 || acct.Balance().Int64() != 8600 {
		t.Fatalf("account after 200 charges of 7: %+v, %v", accts[bob], err)
	}
	if res, err := b.SetBalance(bob, big.NewInt(5)).Wait(); err != nil || res.Account.Balance().Int64() != 5 {
		t.Fatalf("set balance again: %+v, %v", res, err)
	}
	tot, err := a.Totals(context.Background())
	if err != nil || len(tot.Servers) != 2 || tot.Servers[0].Charged.Int64() != 700 || tot.Charged.Int64() != 1400 {
		t.Fatalf("totals: %+v, %v", tot, err)
	}
}

// TestClaimerLease: one holder at a time; another takes over once the
// lease expired; a claim is recorded only under the lease, and one
// amount of a channel only once unless its claim failed.
func TestClaimerLease(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "lease")
	a, b := open(t, url, "a"), open(t, url, "b")
	ctx := context.Background()
	ttl := 300 * time.Millisecond
	if ok, err := a.Lease(ctx, ClaimerLease, "a", ttl); !ok || err != nil {
		t.Fatalf("a taking the free lease: %v, %v", ok, err)
	}
	if ok, err := b.Lease(ctx, ClaimerLease, "b", ttl); ok || err != nil {
		t.Fatalf("b taking a's lease: %v, %v", ok, err)
	}
	if ok, _ := a.Lease(ctx, ClaimerLease, "a", ttl); !ok {
		t.Fatal("a cannot renew its lease")
	}
	ch := openChannel(t, a, 1, 1000)
	tx := common.Hash{0xaa}
	if err := a.RecordClaim(ctx, ClaimerLease, "a", ch, big.NewInt(100), tx); err != nil {
		t.Fatal(err)
	}
	if err := b.RecordClaim(ctx, ClaimerLease, "b", ch, big.NewInt(200), tx); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("claim recorded without the lease: %v", err)
	}
	time.Sleep(ttl + 100*time.Millisecond) // a died
	if ok, err := b.Lease(ctx, ClaimerLease, "b", ttl); !ok || err != nil {
		t.Fatalf("b taking the expired lease: %v, %v", ok, err)
	}
	if err := a.RecordClaim(ctx, ClaimerLease, "a", ch, big.NewInt(300), tx); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("a recorded a claim after losing the lease: %v", err)
	}
	if err := b.RecordClaim(ctx, ClaimerLease, "b", ch, big.NewInt(100), common.Hash{0xbb}); !errors.Is(err, ErrClaimed) {
		t.Fatalf("the same amount claimed twice: %v", err)
	}
	sending, err := b.Sending(ctx)
	if err != nil || len(sending) != 1 || sending[0].Tx != tx || sending[0].Claimer != "a" {
		t.Fatalf("claims in flight: %+v, %v", sending, err)
	}
	if err := b.SetClaimState(ctx, ch, big.NewInt(100), "failed"); err != nil {
		t.Fatal(err)
	}
	if err := b.RecordClaim(ctx, ClaimerLease, "b", ch, big.NewInt(100), common.Hash{0xbb}); err != nil {
		t.Fatalf("a failed claim tried again: %v", err)
	}
	if holder, _, err := a.Holder(ctx, ClaimerLease); holder != "b" || err != nil {
		t.Fatalf("holder %q, %v", holder, err)
	}
}

// TestOtherFleetRefused: a server with another payment identity does not
// write into a fleet's ledger.
func TestOtherFleetRefused(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "identity")
	id := &Identity{ChainID: big.NewInt(1337), Contract: common.Address{1}, Receiver: common.Address{2}}
	db, err := Open(context.Background(), Config{URL: url, Server: "a", Identity: id, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	same := *id
	if db, err := Open(context.Background(), Config{URL: url, Server: "b", Identity: &same, Logger: quiet}); err != nil {
		t.Fatalf("a second server of the fleet: %v", err)
	} else {
		db.Close()
	}
	other := *id
	other.Receiver = common.Address{3}
	if _, err := Open(context.Background(), Config{URL: url, Server: "c", Identity: &other, Logger: quiet}); !errors.Is(err, ErrOtherFleet) {
		t.Fatalf("another receiver: %v, want ErrOtherFleet", err)
	}
}

// TestDatabaseAway: with PostgreSQL stopped as in a crash, vouchers fail
// at once (nothing is acknowledged); once it is back they are credited
// again, and every voucher acknowledged before is there.
func TestDatabaseAway(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "away")
	db := open(t, url, "a")
	alice := ledger.ClientID{1}
	ch := openChannel(t, db, 1, 1000)
	credit := func(amount int64) error {
		_, err := db.Credit(alice, ch, voucher(amount)).Wait()
		return err
	}
	if err := credit(10); err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 3 {
		if err := credit(int64(20 + i)); !errors.Is(err, ErrAway) {
			t.Fatalf("voucher while the database was stopped: %v", err)
		}
	}
	if took := time.Since(start); took > 2*connectFor {
		t.Errorf("three refused vouchers took %v: a wallet waits that long for a refusal", took)
	}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := credit(30)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vouchers still fail after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	accts, err := db.Accounts(context.Background(), []ledger.ClientID{alice})
	if err != nil || accts[alice].Credited.Int64() != 30 {
		t.Fatalf("after the restart: %+v, %v", accts, err)
	}
	if amounts := query(t, url, "SELECT string_agg(amount::text, ',' ORDER BY amount) FROM vouchers"); amounts != "10,30" {
		t.Errorf("vouchers logged: %s, want 10,30", amounts)
	}
}

// TestMigrations: the schema version is recorded, applied once, and a
// database of a newer lightmarket is refused rather than written.
func TestMigrations(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "migrations")
	// Servers starting at once.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(context.Background(), Config{URL: url, Server: fmt.Sprint(i), Logger: quiet})
			if err != nil {
				t.Error(err)
				return
			}
			db.Close()
		}()
	}
	wg.Wait()
	if versions := query(t, url, "SELECT string_agg(version::text, ',' ORDER BY version) FROM lightmarket_schema"); versions != "1,2,3,4" {
		t.Fatalf("schema versions recorded: %s, want 1,2,3,4", versions)
	}
	if fks := query(t, url, "SELECT count(*)::text FROM pg_constraint WHERE conname = 'vouchers_channel_fkey'"); fks != "0" {
		t.Errorf("version 3 keeps the vouchers' foreign key (%s)", fks)
	}
	if keys := query(t, url, "SELECT count(*)::text FROM pg_constraint WHERE conrelid = 'vouchers'::regclass AND contype = 'p'"); keys != "0" {
		t.Errorf("version 4 keeps the vouchers' key (%s)", keys)
	}
	if col := query(t, url, "SELECT column_default FROM information_schema.columns WHERE table_name = 'channels' AND column_name = 'last_credit'"); col != "0" {
		t.Errorf("version 4's channels.last_credit defaults to %q, want 0", col)
	}
	query(t, url, "INSERT INTO lightmarket_schema (version) VALUES (999) RETURNING ''")
	if _, err := Open(context.Background(), Config{URL: url, Logger: quiet}); !errors.Is(err, ErrNewer) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("opening a newer schema: %v, want ErrNewer naming version 999", err)
	}
}

func TestBadURL(t *testing.T) {
	if _, err := Open(context.Background(), Config{URL: "postgres://[::1", Logger: quiet}); !errors.Is(err, errBadURL) {
		t.Fatalf("bad URL: %v", err)
	}
	// Nothing listens on port 1: an error that says the database is away.
	_, err := Open(context.Background(), Config{URL: "postgres://lm@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", Logger: quiet})
	if !errors.Is(err, ErrAway) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("no database: %v", err)
	}
}

// BenchmarkCredit: 300 clients pay vouchers of their own channel in
// turn to three servers of one fleet, the next as soon as the last is
// stored (no signatures: the ledger and the database only), through the
// one statement that credits vouchers and through the transaction that
// locks the rows first. Reported: vouchers stored per second.
func BenchmarkCredit(b *testing.B) {
	pg := pgtest.Start(b)
	runs := 0
	for _, lock := range []bool{false, true} {
		b.Run(fmt.Sprintf("lockAlways=%v", lock), func(b *testing.B) {
			runs++
			url := pg.NewDatabase(b, fmt.Sprintf("bench_%d", runs))
			servers := make([]*DB, 3)
			for i := range servers {
				servers[i] = open(b, url, fmt.Sprint(i))
				servers[i].lockAlways = lock
			}
			const clients = 300
			id := func(i int) common.Hash { return common.Hash{byte(i), byte(i >> 8)} }
			for i := range clients {
				c := ledger.Channel{ID: id(i), Sender: common.Address{byte(i), byte(i >> 8)}, Deposit: big.NewInt(1 << 62), Claimed: new(big.Int)}
				if _, err := servers[0].SetChain(c).Wait(); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			cpu0 := cpustat.Machine()
			var wg sync.WaitGroup
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := i; n < b.N; n += clients {
						srv := servers[n%len(servers)]
						if _, err := srv.Credit(ledger.ClientID(id(i)), id(i), voucher(int64(n+1))).Wait(); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "vouchers/s")
			b.ReportMetric(float64(cpustat.Machine()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/voucher")
		})
	}
}
