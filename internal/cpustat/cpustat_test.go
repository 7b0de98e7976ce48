package cpustat

import (
	"runtime"
	"testing"
	"time"
)

// TestCPUTimesRiseWithWork: spinning for 50 ms adds about that much CPU
// time to the process and at least most of it to the machine.
func TestCPUTimesRiseWithWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/stat")
	}
	m0, p0 := Machine(), Process()
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	dm, dp := Machine()-m0, Process()-p0
	if dp < 40*time.Millisecond || dp > time.Second {
		t.Errorf("process CPU rose by %v while spinning 50 ms", dp)
	}
	if dm < 20*time.Millisecond { // ticks of 10 ms
		t.Errorf("machine CPU rose by %v while spinning 50 ms", dm)
	}
}
