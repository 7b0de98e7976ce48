// Package poolstore keeps a client pool's balances and per-IP usage on disk
// (Pebble, every write synced), so that they survive restarts and crashes.
// It owns the on-disk layout; the pool's rules live in package clientpool.
package poolstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/clientpool"
)

// Keys: 'b' + 32-byte client id -> balance (big-endian wei);
// 'u' + IP -> usage (float64 bits) + wall time of the record (unix ns).
const (
	balancePrefix = 'b'
	usagePrefix   = 'u'
)

// Store is an open pool store.
type Store struct {
	db *pebble.DB
}

// Open opens (or creates) the store in dir.
func Open(dir string) (*Store, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: logger{}})
	if err != nil {
		return nil, fmt.Errorf("poolstore: %w", err)
	}
	return &Store{db: db}, nil
}

// logger sends Pebble's errors to the process log and drops its chatter.
type logger struct{}

func (logger) Infof(string, ...any) {}
func (logger) Errorf(format string, args ...any) {
	log.Error("Pool store: " + fmt.Sprintf(format, args...))
}
func (logger) Fatalf(format string, args ...any) {
	log.Crit("Pool store: " + fmt.Sprintf(format, args...))
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// SaveBalance stores a client's balance durably (synced) before it returns.
func (s *Store) SaveBalance(id clientpool.ID, wei *big.Int) error {
	key := append([]byte{balancePrefix}, id[:]...)
	if wei.Sign() <= 0 {
		return s.db.Delete(key, pebble.Sync)
	}
	return s.db.Set(key, wei.Bytes(), pebble.Sync)
}

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
	st := clientpool.State{Balances: make(map[clientpool.ID]*big.Int), Usage: make(map[string]float64)}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return st, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		key, val := it.Key(), it.Value()
		switch {
		case len(key) == 33 && key[0] == balancePrefix:
			var id clientpool.ID
			copy(id[:], key[1:])
			st.Balances[id] = new(big.Int).SetBytes(val)
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
