package client

import (
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/chain/devchain"
)

// TestPowerModesSpendLess: what the client may do in each of the app's
// states, and that coming back to the foreground wakes what waits for it.
func TestPowerModesSpendLess(t *testing.T) {
	key, _ := crypto.GenerateKey()
	c, err := New(Config{ChainConfig: devchain.ChainConfig(), Trusted: []*enode.Node{enode.NewV4(&key.PublicKey, nil, 0, 0)}, MaxServers: 6})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		power      Power
		prefetch   bool
		discovered int
		foreground bool
	}{
		{Power{}, true, 6, true},
		{Power{Metered: true}, false, meteredServers, true},
		{Power{Background: true}, false, 6, false},
		{Power{Background: true, KeepPaid: true, Metered: true}, false, meteredServers, false},
		{Power{}, true, 6, true},
	} {
		c.SetPower(tc.power)
		if got := c.Prefetching(); got != tc.prefetch {
			t.Errorf("%+v: prefetching %v, want %v", tc.power, got, tc.prefetch)
		}
		if got := c.keptDiscovered(); got != tc.discovered {
			t.Errorf("%+v: %d discovered servers kept, want %d", tc.power, got, tc.discovered)
		}
		c.mu.Lock()
		fg := c.foreground
		c.mu.Unlock()
		select {
		case <-fg:
			if !tc.foreground {
				t.Errorf("%+v: what waits for the foreground runs", tc.power)
			}
		default:
			if tc.foreground {
				t.Errorf("%+v: what waits for the foreground still waits", tc.power)
			}
		}
	}
}
