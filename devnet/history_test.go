package devnet

import (
	"context"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/ethclient"
)

// TestOldHeaderInOneProof: a header 900 blocks behind the head, which the
// client has never linked, is verified with one storage proof of the
// EIP-2935 history contract at the head and one header request, where
// walking parent hashes back would take five requests of 192 headers.
func TestOldHeaderInOneProof(t *testing.T) {
	ch := newChain(t)
	for range 1000 {
		ch.Commit()
	}
	srv := newServer(t, ch)
	c := newClient(t, 100, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	head, err := c.WaitHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := ethclient.NewClient(ch.RPCClient())
	for _, back := range []uint64{900, 400, 899} {
		number := head.Number.Uint64() - back
		before := c.RoundTrips()
		h, err := c.HeaderByNumber(ctx, number)
		if err != nil {
			t.Fatal(err)
		}
		want, err := node.HeaderByNumber(ctx, h.Number)
		if err != nil {
			t.Fatal(err)
		}
		if h.Hash() != want.Hash() {
			t.Fatalf("header %d: %x, node has %x", number, h.Hash(), want.Hash())
		}
		if trips := c.RoundTrips() - before; trips > 2 {
			t.Errorf("header %d blocks back took %d requests, want at most 2 (a proof and the header)", back, trips)
		} else {
			t.Logf("header %d blocks back: %d requests", back, trips)
		}
	}
}
