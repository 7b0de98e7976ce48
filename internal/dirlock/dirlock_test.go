package dirlock

import (
	"errors"
	"strings"
	"testing"
)

func TestAcquireRefusesASecondHolder(t *testing.T) {
	dir := t.TempDir() + "/data"
	release, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(dir); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Acquire: %v, want ErrInUse naming %s", err, dir)
	}
	release()
	again, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	again()
	if r, err := Acquire(""); err != nil {
		t.Fatalf("no directory: %v", err)
	} else {
		r()
	}
}
