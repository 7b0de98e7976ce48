// Package smalldb owns the Pebble options of lightmarket's small
// databases (a server's ledger and client pool, the client's wallet):
// read once at start and written a record at a time.
package smalldb

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ethereum/go-ethereum/log"
)

// Options are Pebble options for a small database named name ("Ledger
// database"): a 1 MiB block cache and memtable, not Pebble's 8 and 4 MiB,
// which would fill over hours, outside the Go heap, in every process
// that opens one; Pebble's errors go to l, its chatter nowhere.
func Options(name string, l log.Logger) *pebble.Options {
	return &pebble.Options{Logger: logger{name, l}, CacheSize: 1 << 20, MemTableSize: 1 << 20}
}

type logger struct {
	name string
	l    log.Logger
}

func (logger) Infof(string, ...any) {}
func (g logger) Errorf(format string, args ...any) {
	g.l.Error(g.name + ": " + fmt.Sprintf(format, args...))
}
func (g logger) Fatalf(format string, args ...any) {
	g.l.Crit(g.name + ": " + fmt.Sprintf(format, args...))
}
