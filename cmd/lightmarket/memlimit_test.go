package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/ethereum/go-ethereum/log"
)

func TestSetMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	tests := []struct {
		name    string
		flag    int
		derived int
		want    int64 // limit in force after; math.MaxInt64 = none
		wantErr bool
	}{
		{"derived", -1, 138, 138 << 20, false},
		{"given", 300, 138, 300 << 20, false},
		{"none", 0, 138, math.MaxInt64, false},
		{"derived none", -1, 0, math.MaxInt64, false},
		{"negative", -2, 138, math.MaxInt64, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			err := setMemoryLimit(log.New(), tt.flag, tt.derived)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if got := debug.SetMemoryLimit(-1); got != tt.want {
				t.Errorf("limit = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestGOMEMLIMITOverridesTheFlag(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	debug.SetMemoryLimit(math.MaxInt64)
	if err := setMemoryLimit(log.New(), 100, 138); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("limit = %d, want the runtime's (from GOMEMLIMIT at start) untouched", got)
	}
}
