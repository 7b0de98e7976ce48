// Package ledgerpg keeps the payment ledger of a fleet of servers in
// PostgreSQL, the database an operator already runs and backs up:
// channels with their latest accepted voucher, client accounts, every
// voucher acknowledged, the servers of the fleet, the claimer's lease and
// every claim sent. One server alone is a fleet of one.
//
// Several servers write one ledger at once, so nothing is written as "the
// state as this server sees it": a voucher is credited by the transaction
// that stores it, and only when its cumulative amount is above the one
// stored (the credit is the difference, computed from the row the
// transaction holds locked); accounts change by deltas. Changes are group
// committed: every change handed in while the previous transaction was
// committing goes into the next one, and a change is reported durable
// only after its transaction committed. A group of vouchers of distinct
// channels is one statement (credit.go): its UPDATE checks the ledger's
// rules on the rows it locks and computes the credits; any other group,
// and a voucher that statement could not settle, is a read-committed
// transaction that locks the rows it changes first (in key order). Both
// are tried again when they conflict with another server's. When the
// database is away, changes fail at once (no voucher is acknowledged) and
// the store connects again on a later one.
//
// The schema is versioned (migrations/*.sql, applied in order at Open,
// recorded in table lightmarket_schema) and documented in
// docs/operator.md. The store relies on transactions (read committed or
// serializable), SELECT … FOR UPDATE, INSERT … ON CONFLICT, UPDATE … FROM,
// data-changing statements in WITH, and arrays (unnest): nothing specific
// to PostgreSQL's own server.
package ledgerpg

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/log"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lightmarket/lightmarket/internal/groupcommit"
	"github.com/lightmarket/lightmarket/ledgerdb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Errors of Open and of changes.
var (
	ErrNewer      = errors.New("ledgerpg: the ledger database has a newer schema than this lightmarket knows")
	ErrAway       = errors.New("ledgerpg: ledger database unavailable")
	ErrOtherFleet = errors.New("ledgerpg: the ledger database belongs to another payment identity")
	errBadURL     = errors.New("ledgerpg: bad database URL")
)

const (
	connectFor = 5 * time.Second // bound of one connection attempt
	retryAfter = time.Second     // changes fail at once this long after a failed attempt
	maxRetries = 20              // attempts of a group that conflicts with other servers'
)

// IsURL says whether a --ledger value names a PostgreSQL database.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Identity is the fleet's payment identity: the chain, the Channels
// contract and the receiver every server of the fleet announces.
type Identity struct {
	ChainID  *big.Int
	Contract common.Address
	Receiver common.Address
}

// Config configures a store.
type Config struct {
	URL string // postgres://…
	// Server names this server in the fleet (its node id): the vouchers
	// it acknowledged and what it credited and charged are recorded
	// under it.
	Server string
	// Identity, when set, is recorded by the first server and must be
	// every later one's.
	Identity *Identity
	Logger   log.Logger
}

// DB is an open ledger in PostgreSQL.
type DB struct {
	cfg  Config
	pool *pgxpool.Pool
	log  log.Logger

	mu      sync.Mutex
	retryAt time.Time // no change is tried before (the database was away)

	commit *groupcommit.Committer[*op]
	closed sync.Once
	// lockAlways sends every group through the transaction that locks
	// its rows first (tests compare it with the one-statement path).
	lockAlways bool
	// afterStatement, when set, runs between the statement that credits
	// vouchers and the read of those it did not move (tests change the
	// ledger there as another server would).
	afterStatement func()
}

// Open connects to the database, applies the migrations it has not seen
// and checks the fleet's identity.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadURL, err)
	}
	if cc := pcfg.ConnConfig; cc.ConnectTimeout == 0 || cc.ConnectTimeout > connectFor {
		cc.ConnectTimeout = connectFor
	}
	pcfg.ConnConfig.RuntimeParams["application_name"] = "lightmarket-ledger " + cfg.Server
	pcfg.MaxConns = 4
	pcfg.MinConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadURL, err)
	}
	d := &DB{cfg: cfg, pool: pool, log: cfg.Logger}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%w: %s:%d: %v", ErrAway, pcfg.ConnConfig.Host, pcfg.ConnConfig.Port, err)
	}
	if err := d.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := d.join(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	d.commit = groupcommit.New(d.apply, ledgerdb.ErrClosed)
	return d, nil
}

// migrate applies, in one serializable transaction, the migrations newer
// than the database's schema version. Servers starting at once conflict:
// the one that loses tries again and finds the work done.
func (d *DB) migrate(ctx context.Context) error {
	files, err := migrations.ReadDir("migrations")
	if err != nil {
		return err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name() < files[j].Name() })
	return d.retry(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS lightmarket_schema (
			version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM lightmarket_schema").Scan(&have); err != nil {
			return err
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
		return nil
	})
}

// join records the fleet's identity (or checks it) and this server.
func (d *DB) join(ctx context.Context) error {
	return d.retry(ctx, func(tx pgx.Tx) error {
		if id := d.cfg.Identity; id != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO fleet (chain_id, contract, receiver) VALUES ($1::text::numeric, $2, $3)
				ON CONFLICT DO NOTHING`, id.ChainID.String(), id.Contract.Bytes(), id.Receiver.Bytes()); err != nil {
				return err
			}
			var chainID string
			var contract, receiver []byte
			if err := tx.QueryRow(ctx, "SELECT chain_id::text, contract, receiver FROM fleet").Scan(&chainID, &contract, &receiver); err != nil {
				return err
			}
			if chainID != id.ChainID.String() || common.BytesToAddress(contract) != id.Contract || common.BytesToAddress(receiver) != id.Receiver {
				return fmt.Errorf("%w: it takes payments to %x on contract %x of chain %s; this server's are %v, %v, chain %v: give it the fleet's receiver and contract, or a database of its own",
					ErrOtherFleet, receiver, contract, chainID, id.Receiver, id.Contract, id.ChainID)
			}
		}
		if d.cfg.Server != "" {
			_, err := tx.Exec(ctx, `INSERT INTO servers (id) VALUES ($1)
				ON CONFLICT (id) DO UPDATE SET started_at = now(), seen_at = now()`, d.cfg.Server)
			return err
		}
		return nil
	})
}

// retry runs f in a serializable transaction, again when it conflicts
// with another transaction.
func (d *DB) retry(ctx context.Context, f func(pgx.Tx) error) error {
	return d.inTx(ctx, pgx.Serializable, f)
}

// inTx runs f in a transaction at isolation level iso, again when it
// conflicts with another transaction.
func (d *DB) inTx(ctx context.Context, iso pgx.TxIsoLevel, f func(pgx.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := pgx.BeginTxFunc(ctx, d.pool, pgx.TxOptions{IsoLevel: iso}, f)
		if err == nil || !retryable(err) || attempt == maxRetries {
			return err
		}
		backoff(attempt)
	}
}

// retryable says whether a transaction failed only because another one
// conflicted with it (a serialization failure or a deadlock), or, in
// migrations, because another server created the same object first.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01", "23505":
		return true
	}
	return false
}

func backoff(attempt int) {
	time.Sleep(time.Duration(rand.IntN(1<<min(attempt, 6))+1) * time.Millisecond)
}

// fail records a failed change: changes fail at once for retryAfter.
func (d *DB) fail() {
	d.mu.Lock()
	d.retryAt = time.Now().Add(retryAfter)
	d.mu.Unlock()
}

// away says whether the database failed within retryAfter.
func (d *DB) away() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Now().Before(d.retryAt)
}

// Stats reports the groups committed and the changes they held.
func (d *DB) Stats() (commits, changes uint64) { return d.commit.Stats() }

// Close commits what is queued and closes the connections.
func (d *DB) Close() error {
	d.closed.Do(func() {
		d.commit.Close()
		d.pool.Close()
	})
	return nil
}

// wei parses an amount read as text.
func wei(s string) (*big.Int, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 {
		return nil, fmt.Errorf("amount %q is not a wei amount", s)
	}
	return v, nil
}
