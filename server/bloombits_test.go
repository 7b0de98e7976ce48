package server

import (
	"context"
	"math/big"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/history"
	"github.com/lightmarket/lightmarket/internal/longchain"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/rpcapi"
)

// TestVectorsLeftOut: for a filter of one address and one topic, a server
// sends of each section's six bloom bit vectors only those that rule out
// as many blocks as all six (on this chain, where only the event's blocks
// have logs, one). A server that leaves out every vector costs the client
// one more round trip, not a header for every block of the section. The
// logs are the node's either way.
func TestVectorsLeftOut(t *testing.T) {
	node := sectionNode(t, 1000)
	nodeClient := ethclient.NewClient(node.Stack.Attach())
	for _, tt := range []struct {
		name     string
		leaveAll bool
		sent     int64 // vectors sent over the whole search
		maxTrips uint64
		maxWaves uint64
	}{
		{name: "honest", sent: 1, maxTrips: 6, maxWaves: 2},
		{name: "leaves out every vector", leaveAll: true, sent: 6, maxTrips: 7, maxWaves: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var sent, left atomic.Int64
			alter := func(reply any) {
				r, ok := reply.(*protocol.BloomBits)
				if !ok {
					return
				}
				if tt.leaveAll && len(r.Left) > 0 {
					n := len(r.Vectors) + len(r.Left)
					r.Vectors, r.Left = nil, make([]uint64, n)
					for i := range r.Left {
						r.Left[i] = uint64(i)
					}
				}
				sent.Add(int64(len(r.Vectors)))
				left.Add(int64(len(r.Left)))
			}
			c, rc := startSearch(t, node, alter)
			// The section only: the tail is another message.
			q := ethereum.FilterQuery{FromBlock: big.NewInt(0), ToBlock: big.NewInt(history.SectionSize - 1),
				Addresses: []common.Address{longchain.Emitter}, Topics: [][]common.Hash{{longchain.Topic}}}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			trips, waves := c.RoundTrips(), c.SequentialRoundTrips()
			got, err := ethclient.NewClient(rc).FilterLogs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			trips, waves = c.RoundTrips()-trips, c.SequentialRoundTrips()-waves
			want, err := nodeClient.FilterLogs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 || !reflect.DeepEqual(got, want) {
				t.Fatalf("eth_getLogs = %d logs, the node has %d", len(got), len(want))
			}
			if sent.Load() != tt.sent {
				t.Errorf("%d vectors sent (%d left out), want %d", sent.Load(), left.Load(), tt.sent)
			}
			if trips > tt.maxTrips || waves > tt.maxWaves {
				t.Errorf("%d requests in %d round trips one after the other, want at most %d in %d", trips, waves, tt.maxTrips, tt.maxWaves)
			}
			t.Logf("%d logs; %d vectors sent, %d left out; %d requests in %d round trips one after the other", len(got), sent.Load(), left.Load(), trips, waves)
		})
	}
}

// sectionNode is a node of a generated chain one section (and the blocks
// that confirm it) long, with an event every gap blocks; it stops with
// the test.
func sectionNode(t *testing.T, gap int) *longchain.Node {
	t.Helper()
	chain := longchain.Generate(history.SectionSize+HistoryConfirmations+500, gap)
	node, err := longchain.NewNode(chain, log.NewLogger(log.DiscardHandler()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	return node
}

// startSearch starts a server over node (its replies passed to alter, if
// given), a client that trusts it with the server's first section
// accepted, and the client's JSON-RPC; all stop with the test.
func startSearch(t *testing.T, node *longchain.Node, alter func(any)) (*client.Client, *rpc.Client) {
	t.Helper()
	quiet := log.NewLogger(log.DiscardHandler())
	key, _ := crypto.GenerateKey()
	srv, err := New(Config{Backend: devchain.NewDirect(node.Eth, node.Stack.Attach()), ChainConfig: longchain.Config(),
		PrivateKey: key, Logger: quiet, alter: alter})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	c, err := client.New(client.Config{ChainConfig: longchain.Config(), Trusted: []*enode.Node{srv.Enode()}, Fraction: 100, HeadMaxAge: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.WaitHead(ctx); err != nil {
		t.Fatal(err)
	}
	for count, _, _ := c.HistoryRoot(); count < 1; count, _, _ = c.HistoryRoot() {
		if ctx.Err() != nil {
			t.Fatal("no history root accepted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	api, err := rpcapi.Start(rpcapi.Config{Client: c, Addr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	rc, err := rpc.Dial(api.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	return c, rc
}

// TestLogSearchOfManyBlocks: a search whose candidate blocks are many
// enough to be checked on several goroutines (on two or more cores)
// finds the node's logs in two round trips: every block fetched by
// number was checked and taken, none fetched again by hash. The headers'
// proofs come with cut section paths.
func TestLogSearchOfManyBlocks(t *testing.T) {
	node := sectionNode(t, 50)
	// The headers' proofs share one climb: of each reply's section paths
	// (one section), the first is whole and the others empty.
	var replies, proofs, hashes atomic.Int64
	c, rc := startSearch(t, node, func(reply any) {
		if r, ok := reply.(*protocol.HeaderProofs); ok {
			replies.Add(1)
			proofs.Add(int64(len(r.Proofs)))
			for _, p := range r.Proofs {
				hashes.Add(int64(len(p.SectionPath)))
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	q := ethereum.FilterQuery{FromBlock: big.NewInt(0), ToBlock: big.NewInt(history.SectionSize - 1),
		Addresses: []common.Address{longchain.Emitter}, Topics: [][]common.Hash{{longchain.Topic}}}
	waves := c.SequentialRoundTrips()
	got, err := ethclient.NewClient(rc).FilterLogs(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if waves = c.SequentialRoundTrips() - waves; waves > 2 {
		t.Errorf("%d round trips one after the other, want 2: blocks fetched by number were not all taken", waves)
	}
	want, err := ethclient.NewClient(node.Stack.Attach()).FilterLogs(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 64 || !reflect.DeepEqual(got, want) {
		t.Fatalf("eth_getLogs = %d logs, the node has %d", len(got), len(want))
	}
	if replies.Load() == 0 || proofs.Load() < 64 || hashes.Load() != history.TopDepth*replies.Load() {
		t.Errorf("%d header proofs in %d replies with %d section path hashes, want %d a reply", proofs.Load(), replies.Load(), hashes.Load(), history.TopDepth)
	}
}
