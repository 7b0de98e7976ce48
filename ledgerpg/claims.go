package ledgerpg

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5"
)

// ClaimerLease is the lease of the fleet's claimer.
const ClaimerLease = "claimer"

// Errors of RecordClaim.
var (
	ErrNotHolder = errors.New("ledgerpg: the lease is not held")
	ErrClaimed   = errors.New("ledgerpg: this amount of the channel was claimed already")
)

// Lease takes lease name for holder, or renews it, until ttl from now (the
// database's clock: the fleet's machines need not agree on the time). It
// reports whether holder has it; another holder's lease is taken only
// once it expired.
func (d *DB) Lease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	var got string
	err = d.pool.QueryRow(ctx, `INSERT INTO leases AS l (name, holder, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
		WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()
		RETURNING holder`, name, holder, ttl.Milliseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, d.readErr("the lease", err)
	}
	return got == holder, nil
}

// Release lets the lease go if holder has it.
func (d *DB) Release(ctx context.Context, name, holder string) error {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = d.pool.Exec(ctx, "DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder)
	return d.readErr("the lease", err)
}

// Holder says who holds lease name and until when ("" when nobody does).
func (d *DB) Holder(ctx context.Context, name string) (string, time.Time, error) {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	defer cancel()
	var holder string
	var until time.Time
	err = d.pool.QueryRow(ctx, "SELECT holder, expires_at FROM leases WHERE name = $1 AND expires_at > now()", name).Scan(&holder, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, nil
	}
	return holder, until, d.readErr("the lease", err)
}

// Claim is a claim transaction recorded before it was sent.
type Claim struct {
	Channel common.Hash
	Amount  *big.Int // the voucher's cumulative amount
	Claimer string
	Tx      common.Hash
	State   string // sending, mined or failed
}

// RecordClaim records that holder, under lease, is about to send tx
// claiming amount on channel: in one transaction with a check that the
// lease is still its own. A claim of the same amount recorded before and
// not failed is ErrClaimed: the caller settles that one instead (Sending).
func (d *DB) RecordClaim(ctx context.Context, lease, holder string, channel common.Hash, amount *big.Int, tx common.Hash) error {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return d.retry(ctx, func(t pgx.Tx) error {
		var held bool
		if err := t.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND expires_at > now())",
			lease, holder).Scan(&held); err != nil {
			return err
		}
		if !held {
			return fmt.Errorf("%w: %s", ErrNotHolder, lease)
		}
		// A claim of the amount that failed (reverted, or never reached the
		// chain) is tried again.
		tag, err := t.Exec(ctx, `INSERT INTO claims AS c (channel, amount, claimer, tx, state) VALUES ($1, $2::text::numeric, $3, $4, 'sending')
			ON CONFLICT (channel, amount) DO UPDATE SET claimer = EXCLUDED.claimer, tx = EXCLUDED.tx, state = 'sending', updated_at = now()
			WHERE c.state = 'failed'`, channel.Bytes(), amount.String(), holder, tx.Bytes())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: channel %x, amount %v", ErrClaimed, channel[:8], amount)
		}
		return nil
	})
}

// SetClaimState records what became of a claim: mined or failed.
func (d *DB) SetClaimState(ctx context.Context, channel common.Hash, amount *big.Int, state string) error {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = d.pool.Exec(ctx, "UPDATE claims SET state = $3, updated_at = now() WHERE channel = $1 AND amount = $2::text::numeric",
		channel.Bytes(), amount.String(), state)
	return d.readErr("claims", err)
}

// Sending lists the claims recorded and not yet seen mined or failed.
func (d *DB) Sending(ctx context.Context) ([]Claim, error) {
	return d.claims(ctx, "WHERE state = 'sending'")
}

// Claims lists every claim recorded, oldest first.
func (d *DB) Claims(ctx context.Context) ([]Claim, error) { return d.claims(ctx, "") }

func (d *DB) claims(ctx context.Context, where string) ([]Claim, error) {
	ctx, cancel, err := d.reading(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rs, err := d.pool.Query(ctx, "SELECT channel, amount::text, claimer, tx, state FROM claims "+where+" ORDER BY created_at, channel")
	if err != nil {
		return nil, d.readErr("claims", err)
	}
	out, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (Claim, error) {
		var c Claim
		var channel, tx []byte
		var amount string
		if err := r.Scan(&channel, &amount, &c.Claimer, &tx, &c.State); err != nil {
			return c, err
		}
		c.Channel, c.Tx = common.BytesToHash(channel), common.BytesToHash(tx)
		var err error
		c.Amount, err = wei(amount)
		return c, err
	})
	return out, d.readErr("claims", err)
}
