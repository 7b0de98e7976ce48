package ledgerpg

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lightmarket/lightmarket/ledger"
)

// readFor bounds one read.
const readFor = 30 * time.Second

func (d *DB) reading(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if d.away() {
		return nil, nil, ErrAway
	}
	ctx, cancel := context.WithTimeout(ctx, readFor)
	return ctx, cancel, nil
}

// readErr marks a read's failure as the database being away.
func (d *DB) readErr(what string, err error) error {
	if err == nil {
		return nil
	}
	d.fail()
	return fmt.Errorf("%w: reading %s: %v", ErrAway, what, err)
}

// Load reads every channel and account.
func (d *DB) Load(ctx context.Context) ([]ledger.Channel, map[ledger.ClientID]ledger.Account, error) {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cancel()
	chans, err := d.channels(ctx, "SELECT "+channelColumns+" FROM channels ORDER BY id")
	if err != nil {
		return nil, nil, err
	}
	accounts := make(map[ledger.ClientID]ledger.Account)
	rs, err := d.pool.Query(ctx, "SELECT "+accountColumns+" FROM accounts")
	if err != nil {
		return nil, nil, d.readErr("accounts", err)
	}
	if err := scanAccounts(rs, accounts); err != nil {
		return nil, nil, d.readErr("accounts", err)
	}
	return chans, accounts, nil
}

func (d *DB) channels(ctx context.Context, sql string, args ...any) ([]ledger.Channel, error) {
	rs, err := d.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, d.readErr("channels", err)
	}
	defer rs.Close()
	var out []ledger.Channel
	for rs.Next() {
		c, err := scanChannel(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, d.readErr("channels", rs.Err())
}

// Accounts reads the accounts of clients (those with none are left out).
func (d *DB) Accounts(ctx context.Context, clients []ledger.ClientID) (map[ledger.ClientID]ledger.Account, error) {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	ids := make([][]byte, len(clients))
	for i := range clients {
		ids[i] = clients[i][:]
	}
	out := make(map[ledger.ClientID]ledger.Account, len(clients))
	err = readAccounts(ctx, d.pool, "SELECT "+accountColumns+" FROM accounts WHERE client = ANY($1)", ids, out)
	return out, d.readErr("accounts", err)
}

// Channel reads one channel.
func (d *DB) Channel(ctx context.Context, id [32]byte) (ledger.Channel, bool, error) {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return ledger.Channel{}, false, err
	}
	defer cancel()
	chans, err := d.channels(ctx, "SELECT "+channelColumns+" FROM channels WHERE id = $1", id[:])
	if err != nil || len(chans) == 0 {
		return ledger.Channel{}, false, err
	}
	return chans[0], true, nil
}

// Open lists the channels not finished on chain.
func (d *DB) Open(ctx context.Context) ([]ledger.Channel, error) {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	return d.channels(ctx, "SELECT "+channelColumns+" FROM channels WHERE NOT finished ORDER BY id")
}

// Due lists the channels to claim: those whose unclaimed amount reached
// threshold, and closing ones with anything unclaimed (all: every channel
// with something unclaimed).
func (d *DB) Due(ctx context.Context, threshold *big.Int, all bool) ([]ledger.Channel, error) {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if all {
		threshold = big.NewInt(1)
	}
	return d.channels(ctx, "SELECT "+channelColumns+` FROM channels
		WHERE NOT finished AND voucher_sig IS NOT NULL AND accepted > claimed
			AND (accepted - claimed >= $1::text::numeric OR close_at <> 0) ORDER BY id`, threshold.String())
}

// Totals sums the fleet's ledger, with each server's share.
type Totals struct {
	ledger.Earnings
	Servers []ServerTotals `json:"servers"`
}

// ServerTotals is what one server of the fleet took.
type ServerTotals struct {
	ID       string    `json:"id"`
	Credited *big.Int  `json:"credited"`
	Charged  *big.Int  `json:"charged"`
	Vouchers uint64    `json:"vouchers"`
	SeenAt   time.Time `json:"seenAt"`
}

// Totals sums the ledger.
func (d *DB) Totals(ctx context.Context) (Totals, error) {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return Totals{}, err
	}
	defer cancel()
	var t Totals
	var received, claimed, unclaimed, charged string
	err = d.pool.QueryRow(ctx, `SELECT coalesce(sum(accepted), 0)::text, coalesce(sum(claimed), 0)::text,
			coalesce(sum(greatest(accepted - claimed, 0)), 0)::text, count(*) FROM channels`).
		Scan(&received, &claimed, &unclaimed, &t.Channels)
	if err == nil {
		err = d.pool.QueryRow(ctx, "SELECT coalesce(sum(charged), 0)::text FROM accounts").Scan(&charged)
	}
	if err != nil {
		return Totals{}, d.readErr("totals", err)
	}
	if t.Received, err = wei(received); err != nil {
		return Totals{}, err
	}
	if t.Claimed, err = wei(claimed); err != nil {
		return Totals{}, err
	}
	if t.Unclaimed, err = wei(unclaimed); err != nil {
		return Totals{}, err
	}
	if t.Charged, err = wei(charged); err != nil {
		return Totals{}, err
	}
	rs, err := d.pool.Query(ctx, "SELECT id, credited::text, charged::text, vouchers, seen_at FROM servers ORDER BY id")
	if err != nil {
		return Totals{}, d.readErr("servers", err)
	}
	t.Servers, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (ServerTotals, error) {
		var s ServerTotals
		var credited, charged string
		var vouchers int64
		if err := r.Scan(&s.ID, &credited, &charged, &vouchers, &s.SeenAt); err != nil {
			return s, err
		}
		s.Vouchers = uint64(vouchers)
		var err error
		if s.Credited, err = wei(credited); err != nil {
			return s, err
		}
		s.Charged, err = wei(charged)
		return s, err
	})
	if err != nil {
		return Totals{}, d.readErr("servers", err)
	}
	return t, nil
}
