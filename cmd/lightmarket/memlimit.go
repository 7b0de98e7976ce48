package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/ethereum/go-ethereum/log"
)

// baseMemoryMB is what a process holds besides its caches: about the
// live heap of a devnet (chain, three servers, client) under the soak's
// wallet load before its caches fill. A lone client holds less, and its
// limit is the looser for it.
const baseMemoryMB = 64

// memoryLimitFlag adds --memory.limit to fs.
func memoryLimitFlag(fs *flag.FlagSet, what string) *int {
	return fs.Int("memory.limit", -1, "MB of memory the Go runtime keeps the process under (a soft limit: the collector works harder near it); -1: "+what+", 0: none; the environment's GOMEMLIMIT overrides it")
}

// derivedMemoryLimitMB is the default soft memory limit for a process
// whose Go heap holds cachesMB of caches: half again what the base and
// the full caches keep live. Go's collector otherwise lets the heap grow
// to twice what the last collection kept, so every MB the caches gain as
// they fill shows as two of resident memory, for hours; under the limit
// the process grows to it and stays there, and the collector runs more
// often once the caches are full (in the soak every 37 MB allocated, about
// half the live heap, instead of every live heap's worth).
func derivedMemoryLimitMB(cachesMB int) int {
	return (baseMemoryMB + cachesMB) * 3 / 2
}

// setMemoryLimit applies --memory.limit (mb; -1 = derived, 0 = none)
// unless GOMEMLIMIT was given, and logs the limit in force.
func setMemoryLimit(logger log.Logger, mb, derived int) error {
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		logger.Info("Soft memory limit from GOMEMLIMIT", "limit", env)
		return nil
	}
	switch {
	case mb < -1:
		return fmt.Errorf("--memory.limit %d: give a number of MB, -1 for the default or 0 for none", mb)
	case mb == -1:
		mb = derived
	}
	if mb == 0 {
		return nil
	}
	debug.SetMemoryLimit(int64(mb) << 20)
	logger.Info("Soft memory limit", "MB", mb)
	return nil
}
