package ledgerpg

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/paychan"
)

// Credited is the outcome of a voucher handed to Credit, known once the
// transaction that took it committed.
type Credited struct {
	// Delta is what the voucher credited: its amount less the larger of
	// the amount accepted before and the amount claimed on chain; zero
	// for a voucher at or below the accepted amount (one sent again, or
	// overtaken by a later voucher of the channel at another server).
	Delta *big.Int
	// Channel is the channel after the voucher: its accepted amount and
	// latest voucher, and its state on chain as last recorded.
	Channel ledger.Channel
	// Account is the client's account after the voucher, the fleet's
	// other servers' changes included.
	Account ledger.Account
}

type opKind uint8

const (
	opCredit opKind = iota
	opChain
	opCharge
	opSetBalance
)

// op is one change of a group; the results are set before its done
// channel fires.
type op struct {
	kind    opKind
	client  ledger.ClientID
	channel ledger.Channel // opChain: the channel as read from the chain
	id      common.Hash    // opCredit
	voucher paychan.Voucher
	amount  *big.Int // opCharge: wei to charge; opSetBalance: the balance

	result Credited // opCredit; opSetBalance: Account
	err    error    // the ledger's refusal (opCredit), nil otherwise
}

// Credit takes voucher v (its signature verified) of channel id for
// client: the returned channel receives, once the voucher's transaction
// committed, nil and the outcome (Result), or the error that kept it from
// being stored. A voucher the ledger refuses (an unknown, closing or
// closed channel, an amount above the deposit) is reported by Result's
// error.
func (d *DB) Credit(client ledger.ClientID, id common.Hash, v *paychan.Voucher) *Change {
	o := &op{kind: opCredit, client: client, id: id, voucher: *v}
	o.voucher.Amount = new(big.Int).Set(v.Amount)
	return d.add(o)
}

// SetChain records a channel's state as read from the chain: the deposit
// and the claimed amount only rise, a close is kept, and a new channel is
// recorded with nothing accepted.
func (d *DB) SetChain(c ledger.Channel) *Change {
	return d.add(&op{kind: opChain, channel: c})
}

// Charge charges a client wei (what capacity-time and requests cost it at
// this server). It is recorded as an addition to the stored charge.
func (d *DB) Charge(client ledger.ClientID, wei *big.Int) *Change {
	return d.add(&op{kind: opCharge, client: client, amount: new(big.Int).Set(wei)})
}

// SetBalance makes a client's balance wei, as ledger.SetBalance does, from
// the account as stored.
func (d *DB) SetBalance(client ledger.ClientID, wei *big.Int) *Change {
	return d.add(&op{kind: opSetBalance, client: client, amount: new(big.Int).Set(wei)})
}

// Change is a change handed to the store.
type Change struct {
	op   *op
	done <-chan error
}

// Done receives nil once the change is durable, or the error that kept
// it from being stored.
func (c *Change) Done() <-chan error { return c.done }

// Wait waits for the change and returns its outcome: the store's error,
// or the ledger's refusal of a voucher.
func (c *Change) Wait() (Credited, error) {
	if err := <-c.done; err != nil {
		return Credited{}, err
	}
	return c.op.result, c.op.err
}

func (d *DB) add(o *op) *Change {
	if d.away() {
		done := make(chan error, 1)
		done <- ErrAway
		return &Change{op: o, done: done}
	}
	done, _ := d.commit.Add(o)
	return &Change{op: o, done: done}
}

// row is a channel as held locked by a group's transaction.
type row struct {
	c       ledger.Channel
	changed bool
	credit  *big.Int // what the latest voucher the group took credited (nil: none)
}

// delta is what a group changes of an account.
type delta struct {
	credited, granted, charged *big.Int
}

const (
	lockChannels = `SELECT id, sender, nonce::text, accepted::text, voucher_sig, deposit::text, claimed::text, close_at::text, finished
		FROM channels WHERE id = ANY($1) ORDER BY id FOR UPDATE`
	lockAccounts = `SELECT ` + accountColumns + `
		FROM accounts WHERE client = ANY($1) ORDER BY client FOR UPDATE`
	insertNew = `INSERT INTO channels (id, sender, nonce, accepted, deposit, claimed, close_at, finished)
		SELECT id, sender, nonce, 0, 0, 0, 0, false FROM unnest($1::bytea[], $2::bytea[], $3::text[]::numeric[]) AS n (id, sender, nonce)
		ON CONFLICT DO NOTHING`
	// updateChannels writes channels the group's transaction locked (new
	// ones were inserted before they were locked).
	updateChannels = `UPDATE channels AS c SET accepted = u.accepted, voucher_sig = u.sig, deposit = u.deposit,
			claimed = u.claimed, close_at = u.close_at, finished = u.finished,
			last_credit = coalesce(u.last_credit, c.last_credit), updated_at = now()
		FROM unnest($1::bytea[], $2::text[]::numeric[], $3::bytea[], $4::text[]::numeric[], $5::text[]::numeric[],
			$6::text[]::numeric[], $7::boolean[], $8::text[]::numeric[]) AS u (id, accepted, sig, deposit, claimed, close_at, finished, last_credit)
		WHERE c.id = u.id`
	// insertVouchers logs the vouchers that raised their channel's
	// accepted amount (each (channel, amount) once: the amount only rises).
	insertVouchers = `INSERT INTO vouchers (channel, amount, sig, server, client, credited)
		SELECT * FROM unnest($1::bytea[], $2::text[]::numeric[], $3::bytea[], $4::text[], $5::bytea[], $6::text[]::numeric[])`
	addAccounts = `INSERT INTO accounts AS a (client, credited, granted, charged)
		SELECT * FROM unnest($1::bytea[], $2::text[]::numeric[], $3::text[]::numeric[], $4::text[]::numeric[])
		ON CONFLICT (client) DO UPDATE SET credited = a.credited + EXCLUDED.credited, granted = a.granted + EXCLUDED.granted,
			charged = a.charged + EXCLUDED.charged, updated_at = now()
		RETURNING ` + accountColumns
	addServer = `INSERT INTO servers AS s (id, credited, charged, vouchers) VALUES ($1, $2::text::numeric, $3::text::numeric, $4)
		ON CONFLICT (id) DO UPDATE SET credited = s.credited + EXCLUDED.credited, charged = s.charged + EXCLUDED.charged,
			vouchers = s.vouchers + EXCLUDED.vouchers, seen_at = now()`
)

// apply commits a group in one transaction (read committed: the rows it
// changes are locked first), tried again while it conflicts with another
// server's.
func (d *DB) apply(group []*op) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A group of vouchers of distinct channels is one statement; what it
	// leaves (a channel another server changed meanwhile) and any other
	// group are a transaction that locks its rows first. Should that
	// transaction fail after the statement committed, the whole group is
	// reported failed, as when a COMMIT's answer is lost: a voucher the
	// statement credited, sent again, credits nothing more.
	oneStatement := creditsOnly(group) && !d.lockAlways
	var err error
	for attempt := 0; len(group) > 0; attempt++ {
		if oneStatement {
			var redo []*op
			if redo, err = d.credit(ctx, group); err == nil {
				group, oneStatement = redo, false
				continue
			}
		} else if err = d.applyGroup(ctx, group); err == nil {
			break
		}
		if !retryable(err) || attempt == maxRetries {
			break
		}
		backoff(attempt)
	}
	if err != nil {
		// Whether a COMMIT whose answer was lost committed is unknown: the
		// changes are reported failed (no voucher is acknowledged). A
		// voucher sent again credits nothing if it did commit; a charge is
		// lost at worst, in the client's favour.
		d.log.Error("Cannot write the ledger", "err", err)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			d.fail() // the connection, not the statement
		}
		return fmt.Errorf("%w: writing: %v", ErrAway, err)
	}
	return nil
}

// applyGroup runs a group's transaction in two round trips: BEGIN and the
// reads that lock the rows it changes in one pipeline, the writes and
// COMMIT in the next. A failed transaction is rolled back before its
// connection goes back to the pool.
func (d *DB) applyGroup(ctx context.Context, group []*op) (err error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	defer func() {
		if err != nil && !conn.Conn().IsClosed() {
			conn.Exec(ctx, "ROLLBACK") // a broken connection is dropped by the pool instead
		}
	}()
	return d.applyTx(ctx, conn, group)
}

// applyTx runs a group's transaction on conn: it locks the channels and
// the accounts it reads, applies the ledger's rules in Go in the group's
// order, and writes what changed.
func (d *DB) applyTx(ctx context.Context, conn *pgxpool.Conn, group []*op) error {
	var ids [][]byte
	var grantees [][]byte
	var news []ledger.Channel // channels read from the chain
	seen := make(map[common.Hash]bool)
	for _, o := range group {
		o.err, o.result = nil, Credited{}
		var id common.Hash
		switch o.kind {
		case opCredit:
			id = o.id
		case opChain:
			id = o.channel.ID
			news = append(news, o.channel)
		case opSetBalance:
			grantees = append(grantees, o.client[:])
			continue
		default:
			continue
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id.Bytes())
		}
	}
	rows := make(map[common.Hash]*row)
	stored := make(map[ledger.ClientID]ledger.Account)
	reads := new(pgx.Batch)
	reads.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	if len(news) > 0 {
		// Channels new to the ledger are inserted first, with nothing
		// accepted, so that all are read locked below: two servers
		// recording one new channel at once then wait for each other.
		var id, sender [][]byte
		var nonce []string
		for _, c := range news {
			id, sender, nonce = append(id, c.ID.Bytes()), append(sender, c.Sender.Bytes()), append(nonce, strconv.FormatUint(c.Nonce, 10))
		}
		reads.Queue(insertNew, id, sender, nonce)
	}
	if len(ids) > 0 {
		reads.Queue(lockChannels, ids).Query(func(rs pgx.Rows) error { return scanChannels(rs, rows) })
	}
	if len(grantees) > 0 {
		reads.Queue(lockAccounts, grantees).Query(func(rs pgx.Rows) error { return scanAccounts(rs, stored) })
	}
	if err := conn.SendBatch(ctx, reads).Close(); err != nil {
		return err
	}
	deltas := make(map[ledger.ClientID]*delta)
	var order []ledger.ClientID
	deltaOf := func(id ledger.ClientID) *delta {
		dl := deltas[id]
		if dl == nil {
			dl = &delta{new(big.Int), new(big.Int), new(big.Int)}
			deltas[id] = dl
			order = append(order, id)
		}
		return dl
	}
	var vouchers []*op
	server := struct{ credited, charged *big.Int }{new(big.Int), new(big.Int)}
	for _, o := range group {
		switch o.kind {
		case opChain:
			c := &rows[o.channel.ID].c
			c.Deposit = bigMax(c.Deposit, o.channel.Deposit)
			c.Claimed = bigMax(c.Claimed, o.channel.Claimed)
			c.CloseAt = max(c.CloseAt, o.channel.CloseAt)
			c.Finished = c.Finished || o.channel.Finished
			rows[o.channel.ID].changed = true
		case opCredit:
			r := rows[o.id]
			if r == nil {
				o.err = fmt.Errorf("%w: %x", ledger.ErrUnknownChannel, o.id[:8])
				continue
			}
			delta, moved, err := ledger.Take(&r.c, &o.voucher)
			if err != nil {
				o.err = err
				continue
			}
			dl := deltaOf(o.client)
			dl.credited.Add(dl.credited, delta)
			o.result.Delta = delta
			if moved {
				r.changed, r.credit = true, delta
				vouchers = append(vouchers, o)
				server.credited.Add(server.credited, delta)
			}
		case opCharge:
			deltaOf(o.client).charged.Add(deltaOf(o.client).charged, o.amount)
			server.charged.Add(server.charged, o.amount)
		case opSetBalance:
			a, ok := stored[o.client]
			if !ok {
				a = ledger.Account{Credited: new(big.Int), Granted: new(big.Int), Charged: new(big.Int)}
			}
			dl := deltaOf(o.client)
			now := ledger.Account{Credited: new(big.Int).Add(a.Credited, dl.credited), Granted: new(big.Int).Add(a.Granted, dl.granted),
				Charged: new(big.Int).Add(a.Charged, dl.charged)}
			want := ledger.SetAccountBalance(now, o.amount)
			dl.granted.Add(dl.granted, new(big.Int).Sub(want.Granted, now.Granted))
			dl.charged.Add(dl.charged, new(big.Int).Sub(want.Charged, now.Charged))
		}
	}
	for _, o := range group {
		if o.kind == opCredit && o.err == nil {
			o.result.Channel = rows[o.id].c.Copy()
		}
	}
	batch := new(pgx.Batch)
	queueChannels(batch, ids, rows)
	if len(vouchers) > 0 {
		var channel, sig, client [][]byte
		var amount, server, credited []string
		for _, o := range vouchers {
			channel, sig, client = append(channel, o.id.Bytes()), append(sig, o.voucher.Sig[:]), append(client, o.client[:])
			amount, server, credited = append(amount, o.voucher.Amount.String()), append(server, d.cfg.Server), append(credited, o.result.Delta.String())
		}
		batch.Queue(insertVouchers, channel, amount, sig, server, client, credited)
	}
	accounts := make(map[ledger.ClientID]ledger.Account)
	// Rows are locked in key order, whatever server writes them: no two
	// groups wait for each other in a circle.
	sort.Slice(order, func(i, j int) bool { return string(order[i][:]) < string(order[j][:]) })
	if len(order) > 0 {
		var client [][]byte
		var credited, granted, charged []string
		for _, id := range order {
			dl := deltas[id]
			client = append(client, append([]byte(nil), id[:]...))
			credited, granted, charged = append(credited, dl.credited.String()), append(granted, dl.granted.String()), append(charged, dl.charged.String())
		}
		batch.Queue(addAccounts, client, credited, granted, charged).Query(func(rows pgx.Rows) error {
			return scanAccounts(rows, accounts)
		})
	}
	if d.cfg.Server != "" && (len(vouchers) > 0 || server.charged.Sign() > 0) {
		batch.Queue(addServer, d.cfg.Server, server.credited.String(), server.charged.String(), len(vouchers))
	}
	batch.Queue("COMMIT")
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return err
	}
	for _, o := range group {
		if (o.kind == opCredit && o.err == nil) || o.kind == opSetBalance {
			o.result.Account = accounts[o.client]
		}
	}
	return nil
}

// queueChannels writes the channels a group changed.
func queueChannels(batch *pgx.Batch, ids [][]byte, rows map[common.Hash]*row) {
	var id, sig [][]byte
	var accepted, deposit, claimed, closeAt []string
	var finished []bool
	var credit []*string // NULL: the channel's last credit stays
	for _, raw := range ids {
		r := rows[common.BytesToHash(raw)]
		if r == nil || !r.changed {
			continue
		}
		c := &r.c
		var s []byte
		if c.Voucher.Amount != nil {
			s = c.Voucher.Sig[:]
		}
		id, sig = append(id, raw), append(sig, s)
		accepted, deposit, claimed = append(accepted, c.Accepted.String()), append(deposit, c.Deposit.String()), append(claimed, c.Claimed.String())
		closeAt, finished = append(closeAt, strconv.FormatUint(c.CloseAt, 10)), append(finished, c.Finished)
		var last *string
		if r.credit != nil {
			s := r.credit.String()
			last = &s
		}
		credit = append(credit, last)
	}
	if len(id) > 0 {
		batch.Queue(updateChannels, id, accepted, sig, deposit, claimed, closeAt, finished, credit)
	}
}

func bigMax(a, b *big.Int) *big.Int {
	if b != nil && (a == nil || b.Cmp(a) > 0) {
		return new(big.Int).Set(b)
	}
	return a
}

// scanChannels reads channels locked by a group's transaction.
func scanChannels(rs pgx.Rows, into map[common.Hash]*row) error {
	defer rs.Close()
	for rs.Next() {
		c, err := scanChannel(rs)
		if err != nil {
			return err
		}
		into[c.ID] = &row{c: c}
	}
	return rs.Err()
}

// accountColumns are scanned by scanAccounts.
const accountColumns = `client, credited::text, granted::text, charged::text`

// channelColumns are scanned by scanChannel.
const channelColumns = `id, sender, nonce::text, accepted::text, voucher_sig, deposit::text, claimed::text, close_at::text, finished`

func scanChannel(rs pgx.Rows) (ledger.Channel, error) {
	var s channelScan
	if err := rs.Scan(s.dest()...); err != nil {
		return ledger.Channel{}, fmt.Errorf("ledgerpg: reading channels: %w", err)
	}
	return s.channel()
}

// channelScan holds channelColumns as scanned.
type channelScan struct {
	id, sender, sig                            []byte
	nonce, accepted, deposit, claimed, closeAt string
	finished                                   bool
}

func (s *channelScan) dest() []any {
	return []any{&s.id, &s.sender, &s.nonce, &s.accepted, &s.sig, &s.deposit, &s.claimed, &s.closeAt, &s.finished}
}

func (s *channelScan) channel() (ledger.Channel, error) {
	var c ledger.Channel
	c.ID, c.Sender, c.Finished = common.BytesToHash(s.id), common.BytesToAddress(s.sender), s.finished
	var errs [5]error
	c.Nonce, errs[0] = strconv.ParseUint(s.nonce, 10, 64)
	c.CloseAt, errs[1] = strconv.ParseUint(s.closeAt, 10, 64)
	c.Accepted, errs[2] = wei(s.accepted)
	c.Deposit, errs[3] = wei(s.deposit)
	c.Claimed, errs[4] = wei(s.claimed)
	if err := errors.Join(errs[:]...); err != nil {
		return c, fmt.Errorf("ledgerpg: channel %x: %w", s.id, err)
	}
	if s.sig != nil {
		c.Voucher = paychan.Voucher{Sender: c.Sender, Nonce: c.Nonce, Amount: new(big.Int).Set(c.Accepted)}
		copy(c.Voucher.Sig[:], s.sig)
	}
	return c, nil
}

func readAccounts(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sql string, clients [][]byte, into map[ledger.ClientID]ledger.Account) error {
	rs, err := q.Query(ctx, sql, clients)
	if err != nil {
		return err
	}
	return scanAccounts(rs, into)
}

func scanAccounts(rs pgx.Rows, into map[ledger.ClientID]ledger.Account) error {
	defer rs.Close()
	for rs.Next() {
		var (
			client []byte
			s      accountScan
		)
		if err := rs.Scan(&client, &s.credited, &s.granted, &s.charged); err != nil {
			return fmt.Errorf("ledgerpg: reading accounts: %w", err)
		}
		a, err := s.account(client)
		if err != nil {
			return err
		}
		into[ledger.ClientID(client)] = a
	}
	return rs.Err()
}

// accountScan holds an account's amounts as scanned.
type accountScan struct{ credited, granted, charged string }

func (s *accountScan) account(client []byte) (ledger.Account, error) {
	var (
		a    ledger.Account
		errs [3]error
	)
	a.Credited, errs[0] = wei(s.credited)
	a.Granted, errs[1] = wei(s.granted)
	a.Charged, errs[2] = wei(s.charged)
	if err := errors.Join(errs[:]...); err != nil {
		return a, fmt.Errorf("ledgerpg: account %x: %w", client, err)
	}
	return a, nil
}
