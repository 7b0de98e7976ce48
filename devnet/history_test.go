package devnet

import (
	"context"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/history"
	"github.com/lightmarket/lightmarket/internal/longchain"
	"github.com/lightmarket/lightmarket/rpcapi"
	"github.com/lightmarket/lightmarket/server"
)

// TestOldHeaderInOneProof: a header 900 blocks behind the head, which the
// client has never linked, is verified with one request: the header with
// the storage proof of its hash in the EIP-2935 history contract at the
// head, where walking parent hashes back would take five requests of 192
// headers.
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
		if trips := c.RoundTrips() - before; trips != 1 {
			t.Errorf("header %d blocks back took %d requests, want 1", back, trips)
		} else {
			t.Logf("header %d blocks back: %d requests", back, trips)
		}
	}
}

// historyServer serves node.
func historyServer(t *testing.T, node *longchain.Node) *server.Server {
	t.Helper()
	key, _ := crypto.GenerateKey()
	srv, err := server.New(server.Config{Backend: devchain.NewDirect(node.Eth, node.Stack.Attach()), ChainConfig: longchain.Config(),
		PrivateKey: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// TestHistorySectionsProveOldHeaders: once the trusted servers sign the
// root over a complete section, a header in it is verified with one
// request. A data server on another chain with the same genesis answers
// with proofs under its own sections: caught and banned, and the answer
// still right.
func TestHistorySectionsProveOldHeaders(t *testing.T) {
	blocks := history.SectionSize + server.HistoryConfirmations + 500
	chainA, chainB := longchain.Generate(blocks, 1000), longchain.Generate(blocks, 0)
	nodeA, err := longchain.NewNode(chainA, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer nodeA.Close()
	nodeB, err := longchain.NewNode(chainB, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer nodeB.Close()
	a, b := historyServer(t, nodeA), historyServer(t, nodeA)
	liar := historyServer(t, nodeB)
	newHistoryClient := func() *client.Client {
		c, err := client.New(client.Config{ChainConfig: longchain.Config(), Trusted: []*enode.Node{a.Enode(), b.Enode()},
			Servers: []*enode.Node{liar.Enode()}, Fraction: 100, HeadMaxAge: -1, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Stop)
		eventuallyWithin(t, 30*time.Second, "the client to accept a root over a section", func() bool {
			count, _, _ := c.HistoryRoot()
			return count == 1
		})
		return c
	}
	c, c2 := newHistoryClient(), newHistoryClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // under -race on a busy machine
	defer cancel()
	head, err := c.WaitHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := ethclient.NewClient(nodeA.Stack.Attach())
	single := 0
	for _, number := range []uint64{5, 999, 1000, 2500, 4095, 0} {
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
		trips := c.RoundTrips() - before
		t.Logf("header %d (%d behind the head): %d requests", number, head.Number.Uint64()-number, trips)
		if trips == 1 {
			single++
		}
	}
	// One request each; a server still building its sections when asked
	// answers nothing, and the next is asked.
	if single < 5 {
		t.Errorf("%d of 6 headers took one request", single)
	}
	// eth_getLogs over the whole chain for the rare event: the signed
	// sections' bloom bits say which blocks to read; the logs are the
	// node's.
	api, err := rpcapi.Start(rpcapi.Config{Client: c, Addr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	rc, err := rpc.Dial(api.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	q := ethereum.FilterQuery{FromBlock: big.NewInt(0), ToBlock: head.Number, Addresses: []common.Address{longchain.Emitter}, Topics: [][]common.Hash{{longchain.Topic}}}
	before, waves := c.RoundTrips(), c.SequentialRoundTrips()
	got, err := ethclient.NewClient(rc).FilterLogs(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	trips, waves := c.RoundTrips()-before, c.SequentialRoundTrips()-waves
	want, err := node.FilterLogs(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(chainA.Events) || !reflect.DeepEqual(got, want) {
		t.Fatalf("eth_getLogs over %d blocks: %d logs, the node has %d (%d events)", head.Number.Uint64()+1, len(got), len(want), len(chainA.Events))
	}
	t.Logf("eth_getLogs over %d blocks: %d logs in %d requests, %d round trips one after the other", head.Number.Uint64()+1, len(got), trips, waves)
	if trips > 3*uint64(len(want))+30 {
		t.Errorf("%d requests for %d logs: the bloom bits did not narrow the search", trips, len(want))
	}
	// Vectors of the sections and of the tail, then the candidates'
	// headers with their bodies and receipts (asked by number).
	if waves > 2 {
		t.Errorf("%d round trips one after the other, want at most 2", waves)
	}

	// The event's transaction and receipt by hash: the server says where
	// it is, the client verifies the block's place in the signed history
	// and the transaction in its body.
	light := ethclient.NewClient(rc)
	for _, l := range want {
		tx, _, err := light.TransactionByHash(ctx, l.TxHash)
		if err != nil {
			t.Fatalf("transaction %x of block %d: %v", l.TxHash, l.BlockNumber, err)
		}
		receipt, err := light.TransactionReceipt(ctx, l.TxHash)
		if err != nil {
			t.Fatal(err)
		}
		nodeReceipt, err := node.TransactionReceipt(ctx, l.TxHash)
		if err != nil {
			t.Fatal(err)
		}
		if tx.Hash() != l.TxHash || !reflect.DeepEqual(receipt, nodeReceipt) {
			t.Fatalf("transaction %x: receipt %+v, the node's %+v", l.TxHash, receipt, nodeReceipt)
		}
	}

	// With the honest servers gone, the server of another chain is asked:
	// its proofs are under its own sections, not the signed root. It is
	// caught and banned, and the client answers nothing rather than its
	// header.
	a.Stop()
	b.Stop()
	if h, err := c.HeaderByNumber(ctx, 3500); err == nil {
		t.Fatalf("header %d from the server of another chain accepted", h.Number)
	}
	liarOf := func(c *client.Client) client.ServerStats {
		for _, s := range c.Servers() {
			if enodeID(s.Enode) == liar.Enode().ID().String() {
				return s
			}
		}
		return client.ServerStats{}
	}
	if st := liarOf(c); !st.Banned || st.Lies == 0 {
		t.Fatalf("the server of another chain was not caught: lies %d, banned %v", st.Lies, st.Banned)
	}
	// Its bloom bits are under its own sections too: caught by the second
	// client, which finds no blocks rather than its.
	if headers, _, err := c2.SearchLogs(ctx, 0, 4095, []common.Address{longchain.Emitter}, [][]common.Hash{{longchain.Topic}}); err == nil {
		t.Fatalf("bloom bits of another chain accepted: %d candidates", len(headers))
	}
	if st := liarOf(c2); !st.Banned || st.Lies == 0 {
		t.Fatalf("the server of another chain's bloom bits was not caught: lies %d, banned %v", st.Lies, st.Banned)
	}
}
