// Package ledgerpg keeps a server's payment ledger in PostgreSQL, the
// database an operator already runs and backs up: the same records as
// package ledgerdb's Pebble database (channels with their latest accepted
// voucher, client accounts), plus every voucher acknowledged. The schema
// is versioned (migrations/*.sql, applied in order at Open under an
// advisory lock, recorded in table lightmarket_schema) and documented in
// docs/operator.md.
//
// Writes are group committed as in ledgerdb: every record handed to Write
// while the previous transaction was committing goes into the next one,
// and a write is reported durable only after its transaction committed
// (PostgreSQL's synchronous_commit: the WAL flushed). When the database
// is away, writes fail at once (no voucher is acknowledged) and the store
// connects again on a later write.
//
// One server writes one ledger: the store holds a session advisory lock
// for as long as it is open, and a second server opening the same
// database is refused.
package ledgerpg

import (
	"context"
	crand "crypto/rand"
	"embed"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/log"
	"github.com/jackc/pgx/v5"

	"github.com/lightmarket/lightmarket/internal/groupcommit"
	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/ledgerdb"
	"github.com/lightmarket/lightmarket/paychan"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory lock keys: the ledger's owner (held by an open store) and
// migrations (held by the transaction applying them).
const (
	ownerLock   int64 = 0x6c6d6c6564676572 // "lmledger"
	migrateLock int64 = 0x6c6d6d6967726174 // "lmmigrat"
)

// Errors of Open and Write.
var (
	ErrInUse  = errors.New("ledgerpg: the ledger database is in use by another server")
	ErrNewer  = errors.New("ledgerpg: the ledger database has a newer schema than this lightmarket knows")
	ErrAway   = errors.New("ledgerpg: ledger database unavailable")
	errBadURL = errors.New("ledgerpg: bad database URL")
)

const (
	connectFor = 5 * time.Second // bound of one connection attempt
	retryAfter = time.Second     // writes fail at once this long after a failed attempt
)

// IsURL says whether a --ledger value names a PostgreSQL database.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// DB is an open ledger in PostgreSQL.
type DB struct {
	cfg *pgx.ConnConfig
	log log.Logger

	connMu  sync.Mutex // guards conn: the committer's, and Load's
	conn    *pgx.Conn  // nil while the database is away
	retryAt time.Time  // no connection attempt before

	commit *groupcommit.Committer[*write]
	closed sync.Once
}

type write struct {
	channels []channelRow
	accounts []accountRow
}

// Rows as written: amounts as decimal strings, cast to numeric by SQL.
type channelRow struct {
	id, sender, sig                            []byte // sig nil without a voucher
	nonce, accepted, deposit, claimed, closeAt string
	finished                                   bool
}

type accountRow struct {
	client                     []byte
	credited, granted, charged string
}

// Open connects to the database at url (postgres://…), takes the ledger's
// lock, applies the migrations it has not seen and loads nothing: Load
// reads the ledger.
func Open(ctx context.Context, url string, logger log.Logger) (*DB, error) {
	if logger == nil {
		logger = log.Root()
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadURL, err)
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > connectFor {
		cfg.ConnectTimeout = connectFor
	}
	// The store's sessions carry a name of their own: one it lost (the
	// network went, the backend lives on holding the lock) is recognised
	// as its own when it connects again.
	var id [8]byte
	crand.Read(id[:])
	cfg.RuntimeParams["application_name"] = fmt.Sprintf("lightmarket-ledger-%x", id)
	d := &DB{cfg: cfg, log: logger}
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, conn); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	d.conn = conn
	d.commit = groupcommit.New(d.apply, ledgerdb.ErrClosed)
	return d, nil
}

// connect opens a connection and takes the owner's lock on it.
func (d *DB) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectFor)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, d.cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s:%d: %v", ErrAway, d.cfg.Host, d.cfg.Port, err)
	}
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", ownerLock).Scan(&locked); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("%w: taking the ledger's lock: %v", ErrAway, err)
	}
	if !locked {
		// Perhaps this store's own earlier session holds it: end that one
		// (waiting up to 5 s for it to go) and try once more.
		var ended int
		// (MATERIALIZED: the session's own pid is filtered out before
		// anything is ended, whatever order the planner picks.)
		err := conn.QueryRow(ctx, `WITH stale AS MATERIALIZED (SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND pid <> pg_backend_pid())
			SELECT count(*) FROM stale WHERE pg_terminate_backend(pid, 5000)`,
			d.cfg.RuntimeParams["application_name"]).Scan(&ended)
		if err == nil && ended > 0 {
			d.log.Warn("Ended the ledger's stale database session", "sessions", ended)
			err = conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", ownerLock).Scan(&locked)
		}
		if err != nil {
			conn.Close(context.Background())
			return nil, fmt.Errorf("%w: taking the ledger's lock: %v", ErrAway, err)
		}
	}
	if !locked {
		conn.Close(context.Background())
		return nil, fmt.Errorf("%w (database %s on %s:%d): one server per ledger database; give each server its own database, or stop the other one",
			ErrInUse, d.cfg.Database, d.cfg.Host, d.cfg.Port)
	}
	return conn, nil
}

// migrate applies, in one transaction, the migrations newer than the
// database's schema version.
func migrate(ctx context.Context, conn *pgx.Conn) error {
	files, err := migrations.ReadDir("migrations")
	if err != nil {
		return err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name() < files[j].Name() })
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("ledgerpg: migrating: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLock); err != nil {
		return fmt.Errorf("ledgerpg: migrating: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS lightmarket_schema (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("ledgerpg: migrating: %w", err)
	}
	var have int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM lightmarket_schema").Scan(&have); err != nil {
		return fmt.Errorf("ledgerpg: migrating: %w", err)
	}
	known := 0
	for _, f := range files {
		v, err := strconv.Atoi(strings.SplitN(f.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("ledgerpg: migration %s has no version", f.Name())
		}
		known = v
		if v <= have {
			continue
		}
		sql, err := migrations.ReadFile("migrations/" + f.Name())
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(sql)); err != nil {
			return fmt.Errorf("ledgerpg: migration %s: %w", f.Name(), err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO lightmarket_schema (version) VALUES ($1)", v); err != nil {
			return fmt.Errorf("ledgerpg: migration %s: %w", f.Name(), err)
		}
	}
	if have > known {
		return fmt.Errorf("%w: version %d, this build knows up to %d", ErrNewer, have, known)
	}
	return tx.Commit(ctx)
}

// Write implements ledgerdb.Store.
func (d *DB) Write(r ledgerdb.Records) <-chan error {
	w := new(write)
	for _, c := range r.Channels {
		row := channelRow{id: c.ID.Bytes(), sender: c.Sender.Bytes(), nonce: strconv.FormatUint(c.Nonce, 10),
			accepted: c.Accepted.String(), deposit: c.Deposit.String(), claimed: c.Claimed.String(),
			closeAt: strconv.FormatUint(c.CloseAt, 10), finished: c.Finished}
		if c.Voucher.Amount != nil {
			row.sig = append([]byte(nil), c.Voucher.Sig[:]...)
		}
		w.channels = append(w.channels, row)
	}
	for id, a := range r.Accounts {
		w.accounts = append(w.accounts, accountRow{client: append([]byte(nil), id[:]...),
			credited: a.Credited.String(), granted: a.Granted.String(), charged: a.Charged.String()})
	}
	done, _ := d.commit.Add(w)
	return done
}

// A group is written with one statement per table: its rows as arrays,
// one array per column, unnested (the statements at most 3 per commit,
// whatever the group's size).
const (
	upsertChannels = `INSERT INTO channels (id, sender, nonce, accepted, voucher_sig, deposit, claimed, close_at, finished)
		SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::text[]::numeric[], $4::text[]::numeric[], $5::bytea[],
			$6::text[]::numeric[], $7::text[]::numeric[], $8::text[]::numeric[], $9::boolean[])
		ON CONFLICT (id) DO UPDATE SET sender = EXCLUDED.sender, nonce = EXCLUDED.nonce, accepted = EXCLUDED.accepted,
			voucher_sig = EXCLUDED.voucher_sig, deposit = EXCLUDED.deposit, claimed = EXCLUDED.claimed,
			close_at = EXCLUDED.close_at, finished = EXCLUDED.finished, updated_at = now()`
	insertVouchers = `INSERT INTO vouchers (channel, amount, sig)
		SELECT * FROM unnest($1::bytea[], $2::text[]::numeric[], $3::bytea[]) ON CONFLICT DO NOTHING`
	upsertAccounts = `INSERT INTO accounts (client, credited, granted, charged)
		SELECT * FROM unnest($1::bytea[], $2::text[]::numeric[], $3::text[]::numeric[], $4::text[]::numeric[])
		ON CONFLICT (client) DO UPDATE SET credited = EXCLUDED.credited, granted = EXCLUDED.granted,
			charged = EXCLUDED.charged, updated_at = now()`
)

// apply writes a group in one transaction. Of several records of one
// channel or account in the group the last is written (the later record
// wins, as it would have one transaction later); every voucher is logged.
func (d *DB) apply(queue []*write) error {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	if err := d.ensureConn(); err != nil {
		return err
	}
	chans := make(map[string]int) // id → index in order
	var order []channelRow
	accts := make(map[string]int)
	var acctOrder []accountRow
	var vouchers []channelRow
	for _, w := range queue {
		for _, c := range w.channels {
			if i, ok := chans[string(c.id)]; ok {
				order[i] = c
			} else {
				chans[string(c.id)] = len(order)
				order = append(order, c)
			}
			if c.sig != nil {
				vouchers = append(vouchers, c)
			}
		}
		for _, a := range w.accounts {
			if i, ok := accts[string(a.client)]; ok {
				acctOrder[i] = a
			} else {
				accts[string(a.client)] = len(acctOrder)
				acctOrder = append(acctOrder, a)
			}
		}
	}
	batch := new(pgx.Batch)
	if len(order) > 0 {
		var id, sender, sig [][]byte
		var nonce, accepted, deposit, claimed, closeAt []string
		var finished []bool
		for _, c := range order {
			id, sender, sig = append(id, c.id), append(sender, c.sender), append(sig, c.sig)
			nonce, accepted, deposit = append(nonce, c.nonce), append(accepted, c.accepted), append(deposit, c.deposit)
			claimed, closeAt, finished = append(claimed, c.claimed), append(closeAt, c.closeAt), append(finished, c.finished)
		}
		batch.Queue(upsertChannels, id, sender, nonce, accepted, sig, deposit, claimed, closeAt, finished)
	}
	if len(vouchers) > 0 {
		var channel, sig [][]byte
		var amount []string
		for _, c := range vouchers {
			channel, amount, sig = append(channel, c.id), append(amount, c.accepted), append(sig, c.sig)
		}
		batch.Queue(insertVouchers, channel, amount, sig)
	}
	if len(acctOrder) > 0 {
		var client [][]byte
		var credited, granted, charged []string
		for _, a := range acctOrder {
			client, credited = append(client, a.client), append(credited, a.credited)
			granted, charged = append(granted, a.granted), append(charged, a.charged)
		}
		batch.Queue(upsertAccounts, client, credited, granted, charged)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := pgx.BeginFunc(ctx, d.conn, func(tx pgx.Tx) error { return tx.SendBatch(ctx, batch).Close() })
	if err != nil {
		// Whether a COMMIT whose answer was lost committed is unknown: the
		// write is reported failed (nothing is acknowledged), and the
		// records are written again with the next change (a later record
		// of a key supersedes this one).
		d.log.Error("Cannot write the ledger", "err", err)
		d.drop()
		// The writers of this group undo what they did not store before a
		// later group (whose records hold it) can commit.
		d.retryAt = time.Now().Add(retryAfter)
		return fmt.Errorf("%w: writing: %v", ErrAway, err)
	}
	return nil
}

// ensureConn connects when the connection was lost (the caller holds
// connMu). Within retryAfter of a failed attempt it fails at once: a
// voucher is refused now rather than after a connection timeout.
func (d *DB) ensureConn() error {
	if d.conn != nil && !d.conn.IsClosed() {
		return nil
	}
	d.drop()
	if time.Now().Before(d.retryAt) {
		return ErrAway
	}
	conn, err := d.connect(context.Background())
	if err != nil {
		d.retryAt = time.Now().Add(retryAfter)
		return err
	}
	d.log.Info("Ledger database connected again", "host", d.cfg.Host, "database", d.cfg.Database)
	d.conn = conn
	return nil
}

// drop closes the connection after a failure (its transaction, if any, is
// rolled back by the server when the session ends).
func (d *DB) drop() {
	if d.conn != nil {
		d.conn.Close(context.Background())
		d.conn = nil
	}
}

// Stats implements ledgerdb.Store.
func (d *DB) Stats() (commits, writes uint64) { return d.commit.Stats() }

// Load implements ledgerdb.Store.
func (d *DB) Load() ([]ledger.Channel, map[ledger.ClientID]ledger.Account, error) {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	if err := d.ensureConn(); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rows, err := d.conn.Query(ctx, `SELECT id, sender, nonce::text, accepted::text, voucher_sig, deposit::text, claimed::text,
		close_at::text, finished FROM channels`)
	if err != nil {
		return nil, nil, fmt.Errorf("ledgerpg: reading channels: %w", err)
	}
	var channels []ledger.Channel
	for rows.Next() {
		var (
			id, sender, sig                            []byte
			nonce, accepted, deposit, claimed, closeAt string
			c                                          ledger.Channel
		)
		if err := rows.Scan(&id, &sender, &nonce, &accepted, &sig, &deposit, &claimed, &closeAt, &c.Finished); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("ledgerpg: reading channels: %w", err)
		}
		c.ID, c.Sender = common.BytesToHash(id), common.BytesToAddress(sender)
		var errs []error
		c.Nonce, err = strconv.ParseUint(nonce, 10, 64)
		errs = append(errs, err)
		c.CloseAt, err = strconv.ParseUint(closeAt, 10, 64)
		errs = append(errs, err)
		c.Accepted, err = wei(accepted)
		errs = append(errs, err)
		c.Deposit, err = wei(deposit)
		errs = append(errs, err)
		c.Claimed, err = wei(claimed)
		errs = append(errs, err)
		if err := errors.Join(errs...); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("ledgerpg: channel %x: %w", id, err)
		}
		if sig != nil {
			c.Voucher = paychan.Voucher{Sender: c.Sender, Nonce: c.Nonce, Amount: new(big.Int).Set(c.Accepted)}
			copy(c.Voucher.Sig[:], sig)
		}
		channels = append(channels, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("ledgerpg: reading channels: %w", err)
	}
	rows, err = d.conn.Query(ctx, `SELECT client, credited::text, granted::text, charged::text FROM accounts`)
	if err != nil {
		return nil, nil, fmt.Errorf("ledgerpg: reading accounts: %w", err)
	}
	defer rows.Close()
	accounts := make(map[ledger.ClientID]ledger.Account)
	for rows.Next() {
		var (
			client                     []byte
			credited, granted, charged string
			a                          ledger.Account
		)
		if err := rows.Scan(&client, &credited, &granted, &charged); err != nil {
			return nil, nil, fmt.Errorf("ledgerpg: reading accounts: %w", err)
		}
		var errs [3]error
		a.Credited, errs[0] = wei(credited)
		a.Granted, errs[1] = wei(granted)
		a.Charged, errs[2] = wei(charged)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, nil, fmt.Errorf("ledgerpg: account %x: %w", client, err)
		}
		accounts[ledger.ClientID(client)] = a
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("ledgerpg: reading accounts: %w", err)
	}
	return channels, accounts, nil
}

// wei parses an amount read as text.
func wei(s string) (*big.Int, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 {
		return nil, fmt.Errorf("amount %q is not a wei amount", s)
	}
	return v, nil
}

// Close implements ledgerdb.Store: what is queued is committed first, then
// the lock is let go with the connection.
func (d *DB) Close() error {
	d.closed.Do(func() {
		d.commit.Close()
		d.connMu.Lock()
		defer d.connMu.Unlock()
		d.drop()
	})
	return nil
}

var _ ledgerdb.Store = (*DB)(nil)
