// Package ledgerdb keeps a server's payment ledger on disk: channels with
// their latest accepted voucher, and client accounts. Writes are group
// committed: every record handed to Write while the previous commit was
// syncing goes into the next batch, one fsync for all of them, so that
// many vouchers a second each become durable before they are acknowledged.
// It owns the on-disk layout; the rules live in package ledger.
package ledgerdb

import (
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/lightmarket/lightmarket/internal/dirlock"
	"github.com/lightmarket/lightmarket/internal/groupcommit"
	"github.com/lightmarket/lightmarket/internal/smalldb"
	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/paychan"
)

// Keys: 'c' + channel id → channelRecord; 'a' + client id → accountRecord.
const (
	channelPrefix = 'c'
	accountPrefix = 'a'
)

// ErrClosed is returned for writes after Close.
var ErrClosed = errors.New("ledgerdb: closed")

// Store is a lone server's durable ledger: records written whole, the
// state as the server holds it (this package's Pebble database passes the
// suite in ledgerdb/storetest). A fleet's ledger (package ledgerpg) is not
// a Store: several servers write it, so it takes changes (credit this
// voucher, add this charge), not states. The cashier's TestLedgerSuite
// runs the same cases over both.
type Store interface {
	// Write queues records and returns a channel that receives nil once
	// they are durable, or the error that kept them from it (ErrClosed
	// after Close). Records are committed in the order of Write calls, so
	// a later record of the same channel or account wins.
	Write(Records) <-chan error
	// Load reads every channel and account.
	Load() ([]ledger.Channel, map[ledger.ClientID]ledger.Account, error)
	// Stats reports the commits made and the writes they held.
	Stats() (commits, writes uint64)
	// Close commits what is queued and closes the store.
	Close() error
}

var _ Store = (*DB)(nil)

type channelRecord struct {
	Sender   common.Address
	Nonce    uint64
	Accepted *big.Int
	HasVouch bool
	Sig      [65]byte
	Deposit  *big.Int
	Claimed  *big.Int
	CloseAt  uint64
	Finished bool
}

type accountRecord struct {
	Credited, Granted, Charged *big.Int
}

// Records is one write: channels and accounts as they are now.
type Records struct {
	Channels []ledger.Channel
	Accounts map[ledger.ClientID]ledger.Account
}

// DB is an open ledger database.
type DB struct {
	db     *pebble.DB
	commit *groupcommit.Committer[*pebble.Batch]

	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the database in dir.
func Open(dir string) (*DB, error) {
	db, err := pebble.Open(dir, smalldb.Options("Ledger database", log.Root()))
	if err != nil {
		return nil, fmt.Errorf("ledgerdb: %w", dirlock.Explain(dir, err))
	}
	d := &DB{db: db}
	d.commit = groupcommit.New(d.apply, ErrClosed)
	return d, nil
}

// Write queues records and returns a channel that receives nil once they
// are on disk (synced), or the error that kept them off it. Records are
// committed in the order of Write calls, so a later record of the same
// channel or account wins.
func (d *DB) Write(r Records) <-chan error {
	b := d.db.NewBatch()
	if err := encode(b, r); err != nil {
		b.Close()
		done := make(chan error, 1)
		done <- err
		return done
	}
	done, ok := d.commit.Add(b)
	if !ok {
		b.Close()
	}
	return done
}

// WriteSync writes records and waits until they are on disk.
func (d *DB) WriteSync(r Records) error { return <-d.Write(r) }

func encode(b *pebble.Batch, r Records) error {
	for _, c := range r.Channels {
		rec := channelRecord{Sender: c.Sender, Nonce: c.Nonce, Accepted: c.Accepted, Deposit: c.Deposit,
			Claimed: c.Claimed, CloseAt: c.CloseAt, Finished: c.Finished}
		if c.Voucher.Amount != nil {
			rec.HasVouch, rec.Sig = true, c.Voucher.Sig
		}
		val, err := rlp.EncodeToBytes(&rec)
		if err != nil {
			return err
		}
		if err := b.Set(append([]byte{channelPrefix}, c.ID[:]...), val, nil); err != nil {
			return err
		}
	}
	for id, a := range r.Accounts {
		val, err := rlp.EncodeToBytes(&accountRecord{Credited: a.Credited, Granted: a.Granted, Charged: a.Charged})
		if err != nil {
			return err
		}
		if err := b.Set(append([]byte{accountPrefix}, id[:]...), val, nil); err != nil {
			return err
		}
	}
	return nil
}

// apply commits a group of batches with one sync.
func (d *DB) apply(group []*pebble.Batch) error {
	batch := group[0]
	for _, b := range group[1:] {
		if err := batch.Apply(b, nil); err != nil {
			panic(fmt.Sprintf("ledgerdb: merging batches: %v", err)) // only fails on a closed batch
		}
		b.Close()
	}
	defer batch.Close()
	return d.db.Apply(batch, pebble.Sync)
}

// Stats reports the commits (fsyncs) made and the writes they held.
func (d *DB) Stats() (commits, writes uint64) { return d.commit.Stats() }

// Load reads every channel and account.
func (d *DB) Load() ([]ledger.Channel, map[ledger.ClientID]ledger.Account, error) {
	it, err := d.db.NewIter(nil)
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	var channels []ledger.Channel
	accounts := make(map[ledger.ClientID]ledger.Account)
	for it.First(); it.Valid(); it.Next() {
		key, val := it.Key(), it.Value()
		switch {
		case len(key) == 33 && key[0] == channelPrefix:
			var rec channelRecord
			if err := rlp.DecodeBytes(val, &rec); err != nil {
				return nil, nil, fmt.Errorf("ledgerdb: channel %x: %w", key[1:9], err)
			}
			c := ledger.Channel{ID: common.BytesToHash(key[1:]), Sender: rec.Sender, Nonce: rec.Nonce,
				Accepted: rec.Accepted, Deposit: rec.Deposit, Claimed: rec.Claimed, CloseAt: rec.CloseAt, Finished: rec.Finished}
			if rec.HasVouch {
				c.Voucher = paychan.Voucher{Sender: rec.Sender, Nonce: rec.Nonce, Amount: new(big.Int).Set(rec.Accepted), Sig: rec.Sig}
			}
			channels = append(channels, c)
		case len(key) == 33 && key[0] == accountPrefix:
			var rec accountRecord
			if err := rlp.DecodeBytes(val, &rec); err != nil {
				return nil, nil, fmt.Errorf("ledgerdb: account %x: %w", key[1:9], err)
			}
			accounts[ledger.ClientID(key[1:])] = ledger.Account{Credited: rec.Credited, Granted: rec.Granted, Charged: rec.Charged}
		}
	}
	return channels, accounts, it.Error()
}

// Close commits what is queued and closes the database. It is safe to
// call twice.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.commit.Close()
		d.closeErr = d.db.Close()
	})
	return d.closeErr
}
