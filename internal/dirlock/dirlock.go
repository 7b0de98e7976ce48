// Package dirlock keeps two lightmarket processes off one data directory:
// a lock taken at start, before anything slow, and an explanation of the
// error of opening a database whose directory another process holds (the
// databases' own locks: Pebble's LOCK file, go-ethereum's node lock).
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// Acquire takes the lightmarket lock of a data directory (creating the
// directory), so that a second process on it is refused at once, before
// it starts anything slow; release gives it back. An empty dir needs no
// lock.
func Acquire(dir string) (release func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "lightmarket.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, Explain(dir, err)
	}
	return func() { f.Close() }, nil
}
