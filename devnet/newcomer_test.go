package devnet

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDevnetProcessStartsWithoutWarnings runs `lightmarket devnet` as a
// newcomer does and reads its output up to the banner: nothing before it
// may be a warning or an error (what is normal at start is not worth one).
func TestDevnetProcessStartsWithoutWarnings(t *testing.T) {
	p := startProc(t, nil, "devnet", "--http", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, "WARN") || strings.Contains(l, "ERROR") {
				t.Errorf("before the banner: %s", l)
			}
			if strings.Contains(l, "lightmarket devnet is up") {
				return
			}
		case <-p.done:
			t.Fatalf("devnet exited before its banner: %v", p.err)
		case <-timeout:
			t.Fatal("no banner in two minutes")
		}
	}
}
