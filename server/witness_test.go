package server

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/internal/testchain"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/rpcapi"
)

// delayed answers everything a little late, so that a client asks the
// other server first.
type delayed struct{ chain.Backend }

func (d delayed) HeaderByHash(ctx context.Context, h common.Hash) (*types.Header, error) {
	time.Sleep(20 * time.Millisecond)
	return d.Backend.HeaderByHash(ctx, h)
}

// TestForgedWitnessIsCaughtAndBanned: a server whose witness carries a
// trie node that does not belong is banned, and the call is answered
// right from another server.
func TestForgedWitnessIsCaughtAndBanned(t *testing.T) {
	dc := startDevChain(t)
	var forged atomic.Int64 // counted by the liar's serving goroutines
	ts := startLiarAndHonest(t, dc, 50, func(reply any) {
		if w, ok := reply.(*protocol.Witness); ok && len(w.Nodes) > 0 {
			// The account leaf with one byte changed: its hash is no longer
			// the one its parent names.
			last := len(w.Nodes) - 1
			w.Nodes[last] = append([]byte{}, w.Nodes[last]...)
			w.Nodes[last][len(w.Nodes[last])-2] ^= 1
			forged.Add(1)
		}
	})
	ctx, c, liar, light := ts.ctx, ts.client, ts.liar, ts.light
	// The beacon roots contract reads its storage: a call with accounts,
	// slots and code in its witness. Calls at new blocks go on until the
	// liar was asked for a witness (the client alternates between servers
	// it has not measured).
	for i := 0; forged.Load() == 0 && i < 10; i++ {
		dc.Commit()
		for c.Head().Number.Uint64() < uint64(i)+3 {
			time.Sleep(10 * time.Millisecond) // the client following the new block
		}
		head := c.Head()
		args := map[string]any{"to": params.BeaconRootsAddress, "input": hexutil.Encode(common.BigToHash(new(big.Int).SetUint64(head.Time)).Bytes())}
		var got, want hexutil.Bytes
		if err := dc.RPCClient().CallContext(ctx, &want, "eth_call", args, hexutil.EncodeBig(head.Number)); err != nil {
			t.Fatal(err)
		}
		if err := light.CallContext(ctx, &got, "eth_call", args, hexutil.EncodeBig(head.Number)); err != nil || string(got) != string(want) {
			t.Fatalf("eth_call through the client = %x, %v; want %x", got, err, want)
		}
	}
	if forged.Load() == 0 {
		t.Fatal("the liar was never asked for a witness")
	}
	for _, s := range c.Servers() {
		liarURL := liar.Enode().URLv4()
		switch {
		case s.Enode == liarURL && (!s.Banned || s.Lies != 1 || !strings.Contains(s.LastError, "proof check failed")):
			t.Errorf("forging server not banned: %+v", s)
		case s.Enode != liarURL && (s.Banned || s.Lies != 0):
			t.Errorf("honest server punished: %+v", s)
		}
	}
}

// liarAndHonest is a client trusting two servers of one dev chain: a liar,
// whose replies a test changes, and an honest one that answers a little
// late (so that the client asks the liar first), with the client's
// JSON-RPC.
type liarAndHonest struct {
	ctx          context.Context
	liar, honest *Server
	liarKey      *ecdsa.PrivateKey
	client       *client.Client
	light        *rpc.Client
}

// startLiarAndHonest starts them, the client needing fraction percent of
// the two to accept a head, and waits until both sessions are up.
func startLiarAndHonest(t *testing.T, dc *devchain.Chain, fraction int, alter func(reply any)) *liarAndHonest {
	t.Helper()
	quiet := log.NewLogger(log.DiscardHandler())
	start := func(alter func(any), wrap func(chain.Backend) chain.Backend) (*Server, *ecdsa.PrivateKey) {
		key, _ := crypto.GenerateKey()
		srv, err := New(Config{Backend: wrap(dc.DirectBackend()), ChainConfig: dc.ChainConfig(), PrivateKey: key, Logger: quiet, alter: alter})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
		return srv, key
	}
	ts := &liarAndHonest{}
	ts.liar, ts.liarKey = start(alter, func(b chain.Backend) chain.Backend { return b })
	ts.honest, _ = start(nil, func(b chain.Backend) chain.Backend { return delayed{b} })
	c, err := client.New(client.Config{ChainConfig: dc.ChainConfig(), Trusted: []*enode.Node{ts.liar.Enode(), ts.honest.Enode()}, Fraction: fraction, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ts.client = c
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	ts.ctx = ctx
	dc.Commit()
	if _, err := c.WaitHead(ctx); err != nil {
		t.Fatal(err)
	}
	for len(c.Servers()) < 2 || !c.Servers()[0].Connected || !c.Servers()[1].Connected {
		if ctx.Err() != nil {
			t.Fatalf("both sessions not up: %+v", c.Servers())
		}
		time.Sleep(10 * time.Millisecond) // both sessions up
	}
	rs, err := rpcapi.Start(rpcapi.Config{Client: c, Addr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	if ts.light, err = rpc.DialContext(ctx, rs.URL()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.light.Close)
	return ts
}

// startDevChain starts a dev chain that seals only when the test commits,
// and stops it with the test.
func startDevChain(t testing.TB) *devchain.Chain {
	t.Helper()
	dc, err := devchain.New(devchain.Config{BlockTime: time.Hour, Logger: log.NewLogger(log.DiscardHandler())})
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	return dc
}

// counting counts the headers a server reads from its backend.
type counting struct {
	chain.Backend
	headers int
}

func (c *counting) HeaderByHash(ctx context.Context, h common.Hash) (*types.Header, error) {
	c.headers++
	return c.Backend.HeaderByHash(ctx, h)
}

// TestUndecodableWitnessRequestCostsTheBackendNothing: a witness request
// whose parameters do not decode is answered empty before the server reads
// anything of its backend.
func TestUndecodableWitnessRequestCostsTheBackendNothing(t *testing.T) {
	quiet := log.NewLogger(log.DiscardHandler())
	dc := startDevChain(t)
	backend := &counting{Backend: dc.DirectBackend()}
	key, _ := crypto.GenerateKey()
	srv, err := New(Config{Backend: backend, ChainConfig: dc.ChainConfig(), PrivateKey: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	head := dc.Commit()
	for _, r := range []*protocol.GetWitness{
		{ReqID: 1, BlockHash: head, Method: "eth_call", Params: []byte(`{not json`)},
		{ReqID: 2, BlockHash: head, Method: "eth_sendRawTransaction", Params: []byte(`["0x00"]`)},
		{ReqID: 3, BlockHash: head, Method: "eth_call", Params: []byte(`[]`)},
	} {
		reply := srv.witness(context.Background(), r)
		if reply.ReqID != r.ReqID || len(reply.Accounts) != 0 || len(reply.Nodes) != 0 || len(reply.Codes) != 0 {
			t.Fatalf("request %d: reply %+v, want an empty witness", r.ReqID, reply)
		}
	}
	if backend.headers != 0 {
		t.Fatalf("undecodable requests read %d headers from the backend, want 0", backend.headers)
	}
	// A decodable one does read it.
	srv.witness(context.Background(), &protocol.GetWitness{ReqID: 4, BlockHash: head, Method: "eth_call", Params: []byte(`[{"to":"0x0000000000000000000000000000000000000001"}]`)})
	if backend.headers == 0 {
		t.Fatal("a decodable request read no header")
	}
}

// codeCounting counts the codes a server reads from its backend and can
// hand out a wrong one.
type codeCounting struct {
	chain.Backend
	codes atomic.Int32
	wrong atomic.Bool
}

func (c *codeCounting) Code(ctx context.Context, block common.Hash, addr common.Address) ([]byte, error) {
	c.codes.Add(1)
	if c.wrong.Load() {
		return []byte{0x60, 0x00}, nil
	}
	return c.Backend.Code(ctx, block, addr)
}

// TestWitnessReadsACodeOnce: a contract's code is read from the backend
// and checked against its hash once; later witnesses at later blocks carry
// it without reading it again. A code that does not match its hash is
// refused and not kept.
func TestWitnessReadsACodeOnce(t *testing.T) {
	quiet := log.NewLogger(log.DiscardHandler())
	dc := startDevChain(t)
	d := dc.DirectBackend()
	ctx := context.Background()
	signer := types.LatestSignerForChainID(dc.ChainConfig().ChainID)
	for nonce := range uint64(2) {
		tx := types.MustSignNewTx(dc.DevKey(), signer, &types.DynamicFeeTx{ChainID: dc.ChainConfig().ChainID, Nonce: nonce,
			GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11), Gas: 3_000_000,
			Data: testchain.Deployment("Token", "T", "T", testchain.Supply)})
		if err := d.SendTransaction(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	dc.Commit()
	dev := crypto.PubkeyToAddress(dc.DevKey().PublicKey)
	tokens := []common.Address{crypto.CreateAddress(dev, 0), crypto.CreateAddress(dev, 1)}
	backend := &codeCounting{Backend: d}
	key, _ := crypto.GenerateKey()
	srv, err := New(Config{Backend: backend, ChainConfig: dc.ChainConfig(), PrivateKey: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	witness := func(token common.Address) *protocol.Witness {
		params := fmt.Sprintf(`[{"to":"%s","input":"%s"}]`, token.Hex(), hexutil.Bytes(testchain.Pack("Token", "balanceOf", dev)))
		return srv.witness(ctx, &protocol.GetWitness{ReqID: 1, BlockHash: dc.Commit(), Method: "eth_call", Params: []byte(params)})
	}
	// The second token has the same code as the first: one read for both.
	for i, token := range []common.Address{tokens[0], tokens[0], tokens[1]} {
		if w := witness(token); len(w.Codes) != 1 {
			t.Fatalf("witness %d: %d codes, want 1", i, len(w.Codes))
		}
	}
	if n := backend.codes.Load(); n != 1 {
		t.Fatalf("backend asked for %d codes, want 1", n)
	}

	// A new server asked by a backend that lies about the code: refused
	// each time, never kept.
	backend = &codeCounting{Backend: d}
	backend.wrong.Store(true)
	if srv, err = New(Config{Backend: backend, ChainConfig: dc.ChainConfig(), PrivateKey: key, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	var reads []int32
	for i := range 2 {
		if w := witness(tokens[0]); len(w.Codes) != 0 {
			t.Fatalf("witness %d over a lying backend carries %d codes", i, len(w.Codes))
		}
		reads = append(reads, backend.codes.Load())
	}
	if reads[0] == 0 || reads[1] != 2*reads[0] {
		t.Fatalf("lying backend asked for %v codes after each witness: a wrong code was kept", reads)
	}
}

// proofCounting is the chain's JSON-RPC backend counting the proofs asked
// for one at a time.
type proofCounting struct {
	*chain.RPC
	proofs atomic.Int32
}

func (c *proofCounting) Proof(ctx context.Context, block common.Hash, addr common.Address, slots []common.Hash) (*chain.Proof, error) {
	c.proofs.Add(1)
	return c.RPC.Proof(ctx, block, addr, slots)
}

// noPrefetch hides a backend's Prefetcher.
type noPrefetch struct{ chain.Backend }

// TestWitnessPrefetchedOverRPC: over a node's JSON-RPC, a call's witness
// is proven ahead from its access list in one batch, and equals the
// witness read one proof at a time; a call with state overrides, which
// the node would not run as the witness does, is read one by one.
func TestWitnessPrefetchedOverRPC(t *testing.T) {
	quiet := log.NewLogger(log.DiscardHandler())
	dc, tokens, reader, holders := witnessChain(t)
	ctx := context.Background()
	rpcBackend, err := dc.RPCBackend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counting := &proofCounting{RPC: rpcBackend}
	key, _ := crypto.GenerateKey()
	prefetching, err := New(Config{Backend: counting, ChainConfig: dc.ChainConfig(), PrivateKey: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	oneByOne, err := New(Config{Backend: noPrefetch{rpcBackend}, ChainConfig: dc.ChainConfig(), PrivateKey: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := dc.DirectBackend().CurrentHeader(ctx)
	input := hexutil.Bytes(testchain.Pack("Balances", "balances", tokens, holders))
	for _, tc := range []struct {
		name   string
		params string
		single bool // read one proof at a time
	}{
		{"portfolio", fmt.Sprintf(`[{"to":"%s","input":"%s"}]`, reader.Hex(), input), false},
		{"from a sender", fmt.Sprintf(`[{"from":"%s","to":"%s","input":"%s"}]`, holders[0].Hex(), reader.Hex(), input), false},
		{"overridden", fmt.Sprintf(`[{"to":"%s","input":"%s"},{"%s":{"balance":"0x1"}}]`, reader.Hex(), input, holders[1].Hex()), true},
	} {
		counting.proofs.Store(0)
		req := &protocol.GetWitness{ReqID: 1, BlockHash: head.Hash(), Method: "eth_call", Params: []byte(tc.params)}
		got, want := prefetching.witness(ctx, req), oneByOne.witness(ctx, req)
		if len(want.Accounts) < 6 {
			t.Fatalf("%s: witness of %d accounts, want the reader, 5 tokens and the sender", tc.name, len(want.Accounts))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: prefetched witness differs from the one read proof by proof", tc.name)
		}
		if n := counting.proofs.Load(); (n > 0) != tc.single {
			t.Fatalf("%s: %d proofs asked one at a time", tc.name, n)
		}
	}
}

// stuckLister is a node whose access lists never come.
type stuckLister struct{ *chain.RPC }

func (s stuckLister) AccessList(ctx context.Context, block common.Hash, call json.RawMessage) (types.AccessList, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestWitnessOutlivesAStuckPrefetch: a node that never answers the access
// list costs the witness half its time, not all of it: the run reads one
// by one in the rest.
func TestWitnessOutlivesAStuckPrefetch(t *testing.T) {
	dc, tokens, reader, holders := witnessChain(t)
	ctx := context.Background()
	rpcBackend, err := dc.RPCBackend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.GenerateKey()
	srv, err := New(Config{Backend: stuckLister{rpcBackend}, ChainConfig: dc.ChainConfig(), PrivateKey: key,
		WitnessTimeout: 2 * time.Second, Logger: log.NewLogger(log.DiscardHandler())})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := dc.DirectBackend().CurrentHeader(ctx)
	params := fmt.Sprintf(`[{"to":"%s","input":"%s"}]`, reader.Hex(), hexutil.Bytes(testchain.Pack("Balances", "balances", tokens, holders)))
	w := srv.witness(ctx, &protocol.GetWitness{ReqID: 1, BlockHash: head.Hash(), Method: "eth_call", Params: []byte(params)})
	if len(w.Accounts) < 6 {
		t.Fatalf("witness of %d accounts after a stuck access list, want the reader, 5 tokens and the sender", len(w.Accounts))
	}
}
