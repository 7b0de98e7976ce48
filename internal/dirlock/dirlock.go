// Package dirlock explains the error of opening a database whose directory
// another process holds: the lock is the database's own (Pebble's LOCK
// file, go-ethereum's node lock), this package only says what happened and
// what to do about it.
package dirlock

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// ErrInUse is the error of a directory another process holds.
var ErrInUse = errors.New("in use by another process")

// Explain turns a lock failure on dir (EAGAIN from flock when another
// process holds it; Pebble's "lock held by current process" within one)
// into ErrInUse naming dir; other errors pass unchanged.
func Explain(dir string, err error) error {
	if err != nil && (errors.Is(err, syscall.EAGAIN) || strings.Contains(err.Error(), "lock held by current process")) {
		return fmt.Errorf("%s is %w: is another lightmarket running with this --datadir? Stop it or give another --datadir", dir, ErrInUse)
	}
	return err
}
