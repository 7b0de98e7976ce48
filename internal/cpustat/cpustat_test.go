package cpustat

import (
	"runtime"
	"testing"
	"time"
)

// TestCPUTimesRiseWithWork: spinning raises the process's CPU time (it
// must reach 50 ms within 10 s of spinning, however loaded the machine),
// and the machine's rises at least as much, less its 10 ms ticks.
func TestCPUTimesRiseWithWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/stat")
	}
	m0, p0 := Machine(), Process()
	deadline := time.Now().Add(10 * time.Second)
	for Process()-p0 < 50*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("process CPU rose by %v in 10 s of spinning", Process()-p0)
		}
	}
	dm, dp := Machine()-m0, Process()-p0
	if dm < dp-20*time.Millisecond {
		t.Errorf("machine CPU rose by %v while this process used %v", dm, dp)
	}
}
