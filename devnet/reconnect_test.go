package devnet

import (
	"context"
	"testing"
	"time"

	"github.com/lightmarket/lightmarket/server"
)

// TestTrustedServerIsRedialledAtOnce: a trusted server that restarts is
// connected again, and vouches for the head again, within 3 s of coming
// back (go-ethereum's dialer alone waits about 35 s).
func TestTrustedServerIsRedialledAtOnce(t *testing.T) {
	dir := t.TempDir()
	d := startDevnet(t, Config{Servers: 2, Fraction: 100, NoPayments: true, DataDir: dir, BlockTime: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	old := d.Servers[0]
	addr, _ := old.Enode().TCPEndpoint()
	key, err := nodeKey(dir, "server-0")
	if err != nil {
		t.Fatal(err)
	}
	connected := func() bool {
		for _, s := range d.Client.Servers() {
			if s.Enode == old.Enode().URLv4() {
				return s.Connected
			}
		}
		t.Fatal("the client does not know the server")
		return false
	}
	old.Stop()
	waitUntil(t, ctx, "the client to see the server gone", func() bool { return !connected() && !d.Client.HeadStatus().Verified })
	// Down for longer than one redial interval.
	time.Sleep(2 * time.Second)

	backend, err := d.Chain.Backend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Backend: backend, ChainConfig: d.Chain.ChainConfig(), PrivateKey: key, ListenAddr: addr.String(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	d.Servers[0] = srv // stopped with the devnet
	back := time.Now()
	waitUntil(t, ctx, "the server to be connected and vouch for the head", func() bool {
		return connected() && d.Client.HeadStatus().Verified
	})
	if took := time.Since(back); took > 3*time.Second {
		t.Fatalf("served by the restarted server %v after it came back, want within 3 s", took)
	} else {
		t.Logf("served by the restarted server %v after it came back", took.Round(time.Millisecond))
	}
}

// waitUntil polls cond every 20 ms until it holds.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
