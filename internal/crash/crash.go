// Package crash kills the process at named points, for the tests that
// check what survives a kill -9 (LIGHTMARKET_CRASH names the point,
// LIGHTMARKET_CRASH_AT the how-many-th time it is reached, default 1).
package crash

import (
	"os"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/ethereum/go-ethereum/log"
)

// Hook returns a function that kills the process with SIGKILL the n-th
// time it runs, when LIGHTMARKET_CRASH names point ("server-after-store",
// "client-before-send"); it returns nil otherwise.
func Hook(point string) func() {
	if os.Getenv("LIGHTMARKET_CRASH") != point {
		return nil
	}
	n, err := strconv.Atoi(os.Getenv("LIGHTMARKET_CRASH_AT"))
	if err != nil || n < 1 {
		n = 1
	}
	var count atomic.Int64
	return func() {
		if count.Add(1) == int64(n) {
			log.Warn("Crashing for a test", "point", point)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never returns
		}
	}
}
