package ledgerpg

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"sort"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lightmarket/lightmarket/ledger"
)

// creditVouchers credits a group of vouchers of distinct channels in one
// statement, one round trip: the UPDATE raises each channel's accepted
// amount only where the ledger's rules let the voucher move it (open, at
// most the deposit, above the accepted amount: checked on the row it
// locks, the latest version when another server changed it meanwhile),
// and computes the credit from that row (schema version 4's
// last_credit); the vouchers, accounts and this server's totals are
// written from what it returned. It returns the vouchers it moved with
// their channel (n > 0), then the accounts after it (n = 0): rows of both
// kinds, not a join of the two, which a plan of data-changing CTEs (each
// estimated at one row) makes a nested loop comparing every voucher with
// every account (about a third of the statement's time at 100 vouchers).
// The vouchers not moved are read after it.
//
// The channels are looked up by their key (id = ANY: an index scan, not
// a scan of the table joined with the list), and the rules are one join
// condition (the deposit counts only while the channel is open), not
// filters on channels alone: a filter on a table not yet analyzed makes
// the planner expect a handful of rows and scan them once per voucher.
const creditVouchers = `WITH v AS (
	SELECT * FROM unnest($1::bytea[], $2::text[]::numeric[], $3::bytea[], $4::bytea[]) WITH ORDINALITY AS v (id, amount, sig, client, n)
), u AS (
	UPDATE channels AS c SET accepted = v.amount, voucher_sig = v.sig,
		last_credit = greatest(v.amount - greatest(c.accepted, c.claimed), 0), updated_at = now()
	FROM v
	WHERE c.id = ANY($1::bytea[]) AND c.id = v.id AND v.amount > c.accepted
		AND v.amount <= CASE WHEN c.close_at = 0 AND NOT c.finished THEN c.deposit ELSE 0 END
	RETURNING v.n, v.client, c.last_credit, c.id, c.sender, c.nonce, c.accepted, c.voucher_sig, c.deposit, c.claimed, c.close_at, c.finished
), ins AS (
	INSERT INTO vouchers (channel, amount, sig, server, client, credited)
	SELECT id, accepted, voucher_sig, $5, client, last_credit FROM u
), acc AS (
	INSERT INTO accounts AS a (client, credited, granted, charged)
	SELECT client, sum(last_credit), 0, 0 FROM u GROUP BY client ORDER BY client
	ON CONFLICT (client) DO UPDATE SET credited = a.credited + EXCLUDED.credited, updated_at = now()
	RETURNING a.client, a.credited, a.granted, a.charged
), srv AS (
	INSERT INTO servers AS s (id, credited, vouchers)
	SELECT $5, sum(last_credit), count(*) FROM u HAVING count(*) > 0 AND $5 <> ''
	ON CONFLICT (id) DO UPDATE SET credited = s.credited + EXCLUDED.credited, vouchers = s.vouchers + EXCLUDED.vouchers, seen_at = now()
)
SELECT u.n, u.last_credit::text, u.id, u.sender, u.nonce::text, u.accepted::text, u.voucher_sig, u.deposit::text,
	u.claimed::text, u.close_at::text, u.finished, u.client, NULL, NULL, NULL FROM u
UNION ALL
SELECT 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, acc.client, acc.credited::text, acc.granted::text, acc.charged::text FROM acc`

// creditsOnly says whether a group holds only vouchers, each of another
// channel: creditVouchers commits such a group.
func creditsOnly(group []*op) bool {
	seen := make(map[common.Hash]bool, len(group))
	for _, o := range group {
		if o.kind != opCredit || seen[o.id] {
			return false
		}
		seen[o.id] = true
	}
	return true
}

// credit commits a group of vouchers of distinct channels with
// creditVouchers and sets their results. It returns the vouchers it
// could not settle: those the statement did not move although their
// channel as read after it would take them (another server changed the
// channel after the statement judged it); they are to be applied again
// with their rows locked.
func (d *DB) credit(ctx context.Context, group []*op) (redo []*op, err error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	return d.creditOn(ctx, conn, group)
}

func (d *DB) creditOn(ctx context.Context, conn *pgxpool.Conn, group []*op) ([]*op, error) {
	// Sorted by channel, the order the locking transaction locks rows in.
	// A plan may lock them in another (the heap's): a deadlock that makes
	// with another server's group is detected by the database, and the
	// group tried again.
	sorted := append([]*op(nil), group...)
	sort.Slice(sorted, func(i, j int) bool { return string(sorted[i].id[:]) < string(sorted[j].id[:]) })
	ids, amounts, sigs, clients := make([][]byte, len(sorted)), make([]string, len(sorted)), make([][]byte, len(sorted)), make([][]byte, len(sorted))
	for i, o := range sorted {
		o.err, o.result = nil, Credited{}
		ids[i], amounts[i], sigs[i], clients[i] = o.id[:], o.voucher.Amount.String(), o.voucher.Sig[:], o.client[:]
	}
	rs, err := conn.Query(ctx, creditVouchers, ids, amounts, sigs, clients, d.cfg.Server)
	if err != nil {
		return nil, err
	}
	moved := make([]bool, len(sorted))
	accts := make(map[string]accountScan, len(sorted))
	for rs.Next() {
		// A row is a voucher's or an account's: the other's columns are
		// NULL, so every text column is scanned as nullable.
		var (
			n                                                  int64
			id, sender, sig, client                            []byte
			finished                                           *bool
			credit, nonce, accepted, deposit, claimed, closeAt *string
			credited, granted, charged                         *string
		)
		if err := rs.Scan(&n, &credit, &id, &sender, &nonce, &accepted, &sig, &deposit, &claimed, &closeAt, &finished,
			&client, &credited, &granted, &charged); err != nil {
			rs.Close()
			return nil, fmt.Errorf("ledgerpg: reading credits: %w", err)
		}
		if n == 0 {
			if credited == nil || granted == nil || charged == nil {
				rs.Close()
				return nil, fmt.Errorf("ledgerpg: reading credits: account %x without its amounts", client)
			}
			accts[string(client)] = accountScan{*credited, *granted, *charged}
			continue
		}
		if n < 1 || n > int64(len(sorted)) || moved[n-1] || slices.Contains([]*string{credit, nonce, accepted, deposit, claimed, closeAt}, nil) || finished == nil {
			rs.Close()
			return nil, fmt.Errorf("ledgerpg: reading credits: voucher %d of %d", n, len(sorted))
		}
		o := sorted[n-1]
		moved[n-1] = true
		ch := channelScan{id: id, sender: sender, sig: sig, nonce: *nonce, accepted: *accepted, deposit: *deposit,
			claimed: *claimed, closeAt: *closeAt, finished: *finished}
		if o.result.Delta, err = wei(*credit); err == nil {
			o.result.Channel, err = ch.channel()
		}
		if err != nil {
			rs.Close()
			return nil, err
		}
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, err
	}
	for i, o := range sorted {
		if !moved[i] {
			continue
		}
		acct, ok := accts[string(o.client[:])]
		if !ok {
			return nil, fmt.Errorf("ledgerpg: reading credits: no account %x for voucher %d", o.client[:8], i+1)
		}
		if o.result.Account, err = acct.account(o.client[:]); err != nil {
			return nil, err
		}
	}
	var rest []*op
	for i, o := range sorted {
		if !moved[i] {
			rest = append(rest, o)
		}
	}
	if len(rest) == 0 {
		return nil, nil
	}
	if d.afterStatement != nil {
		d.afterStatement()
	}
	return d.unmoved(ctx, conn, rest)
}

// unmoved settles the vouchers creditVouchers did not move: it reads their
// channels and accounts and applies the ledger's rules. A voucher refused
// (what refuses one only holds more later) or at or below the accepted
// amount is settled; one the channel as read would take (another server
// changed the channel after the statement judged it) is returned, to be
// applied again with its row locked.
func (d *DB) unmoved(ctx context.Context, conn *pgxpool.Conn, rest []*op) (redo []*op, err error) {
	ids, clients := make([][]byte, len(rest)), make([][]byte, len(rest))
	for i, o := range rest {
		ids[i], clients[i] = o.id[:], o.client[:]
	}
	chans := make(map[common.Hash]*row)
	accts := make(map[ledger.ClientID]ledger.Account)
	batch := new(pgx.Batch)
	batch.Queue("SELECT "+channelColumns+" FROM channels WHERE id = ANY($1)", ids).Query(func(rs pgx.Rows) error {
		return scanChannels(rs, chans)
	})
	batch.Queue("SELECT "+accountColumns+" FROM accounts WHERE client = ANY($1)", clients).Query(func(rs pgx.Rows) error {
		return scanAccounts(rs, accts)
	})
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return nil, err
	}
	for _, o := range rest {
		r := chans[o.id]
		if r == nil {
			o.err = fmt.Errorf("%w: %x", ledger.ErrUnknownChannel, o.id[:8])
			continue
		}
		cp := r.c.Copy()
		_, moves, err := ledger.Take(&cp, &o.voucher)
		switch {
		case err != nil:
			o.err = err
			continue
		case moves:
			redo = append(redo, o)
			continue
		}
		a, ok := accts[o.client]
		if !ok {
			a = ledger.Account{Credited: new(big.Int), Granted: new(big.Int), Charged: new(big.Int)}
		}
		o.result = Credited{Delta: new(big.Int), Channel: r.c, Account: a}
	}
	return redo, nil
}
