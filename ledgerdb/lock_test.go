package ledgerdb

import (
	"errors"
	"strings"
	"testing"

	"github.com/lightmarket/lightmarket/internal/dirlock"
)

// TestSecondOpenSaysTheDirectoryIsInUse: a second process (or opening) on
// one directory gets an error that names the directory and what to do,
// not Pebble's "resource temporarily unavailable".
func TestSecondOpenSaysTheDirectoryIsInUse(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Open(dir)
	if !errors.Is(err, dirlock.ErrInUse) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "--datadir") {
		t.Fatalf("second open: %v; want ErrInUse naming %s and --datadir", err, dir)
	}
}
