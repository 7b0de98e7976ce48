// Package poolstore keeps a client pool's per-IP free usage on disk
// (Pebble, every write synced), so that it survives restarts and crashes.
// It owns the on-disk layout; the pool's rules live in package clientpool,
// and balances in the payment ledger (packages ledger and ledgerdb).
package poolstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/clientpool"
	"github.com/lightmarket/lightmarket/internal/dirlock"
	"github.com/lightmarket/lightmarket/internal/smalldb"
)

// Keys: 'u' + IP -> usage (float64 bits) + wall time of the record (unix
// ns). ('b' held balances before they moved to the ledger.)
const usagePrefix = 'u'

// Store is an open pool store.
type Store struct {
	db *pebble.DB
}

// Open opens (or creates) the store in dir.
func Open(dir string) (*Store, error) {
	db, err := pebble.Open(dir, smalldb.Options("Pool store", log.Root()))
	if err != nil {
		return nil, fmt.Errorf("poolstore: %w", dirlock.Explain(dir, err))
	}
	return &Store{db: db}, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// SaveUsage replaces the stored IP usage with usage as of now, in one
// synced batch.
func (s *Store) SaveUsage(usage map[string]float64, now time.Time) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange([]byte{usagePrefix}, []byte{usagePrefix + 1}, nil); err != nil {
		return err
	}
	for ip, u := range usage {
		val := make([]byte, 16)
		binary.BigEndian.PutUint64(val, math.Float64bits(u))
		binary.BigEndian.PutUint64(val[8:], uint64(now.UnixNano()))
		if err := b.Set(append([]byte{usagePrefix}, ip...), val, nil); err != nil {
			return err
		}
	}
	return s.db.Apply(b, pebble.Sync)
}

// Load reads the stored state; usage is decayed by the wall time since it
// was saved, with the pool's half-life.
func (s *Store) Load(now time.Time, halfLife time.Duration) (clientpool.State, error) {
	st := clientpool.State{Usage: make(map[string]float64)}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return st, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		key, val := it.Key(), it.Value()
		switch {
		case len(key) > 1 && key[0] == usagePrefix:
			if len(val) != 16 {
				return st, errors.New("poolstore: corrupt usage record")
			}
			u := math.Float64frombits(binary.BigEndian.Uint64(val))
			age := now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(val[8:]))))
			if age > 0 && halfLife > 0 {
				u *= math.Exp2(-float64(age) / float64(halfLife))
			}
			st.Usage[string(key[1:])] = u
		}
	}
	return st, it.Error()
}
