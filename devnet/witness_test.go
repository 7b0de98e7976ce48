package devnet

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lightmarket/lightmarket/chain"
)

// newBlock commits a block and waits until the client follows it. The
// block to wait for is read before the commit: read after, a client that
// had already followed the new block was made to wait for one more, which
// never came (CI: "client head stuck below 8").
func newBlock(t *testing.T, ctx context.Context, d *Devnet) {
	t.Helper()
	h, err := ethclient.NewClient(d.Chain.RPCClient()).HeaderByHash(ctx, d.Chain.Commit())
	if err != nil {
		t.Fatal(err)
	}
	waitHead(t, ctx, d, h.Number.Uint64())
}

// TestCallAtANewBlockTakesOneRoundTrip: at a block the client has no state
// of, eth_call, eth_estimateGas and eth_createAccessList each cost one
// round trip (the call's witness); at a block it has the state of, none.
// (Prefetching is off: it would take the round trip before the call.)
func TestCallAtANewBlockTakesOneRoundTrip(t *testing.T) {
	d := startDevnet(t, Config{Servers: 1, BlockTime: time.Hour, NoPayments: true, NoPrefetch: true})
	ctx, light := session(t, d, 60*time.Second)
	node := d.Chain.RPCClient()
	wallet := ethclient.NewClient(light)
	deployed := make(chan *types.Receipt, 1)
	go func() {
		deployed <- sendTx(t, ctx, wallet, d.DevKey, nil, nil, hexutil.MustDecode(storeContract), 200_000)
	}()
	eventuallyWithin(t, 20*time.Second, "the deployment to be pending", func() bool {
		var n hexutil.Uint
		node.CallContext(ctx, &n, "eth_getBlockTransactionCountByNumber", "pending")
		return n > 0
	})
	newBlock(t, ctx, d)
	contract := (<-deployed).ContractAddress
	dev := crypto.PubkeyToAddress(d.DevKey.PublicKey)
	for _, tc := range []struct {
		method string
		args   []any
	}{
		{"eth_call", []any{map[string]any{"to": contract}, "latest"}},
		{"eth_call", []any{map[string]any{"from": dev, "to": contract, "input": hexutil.Encode(common.Hash{7}.Bytes())}, "latest"}},
		{"eth_estimateGas", []any{map[string]any{"from": dev, "to": contract, "input": hexutil.Encode(common.Hash{7}.Bytes())}, "latest"}},
		{"eth_createAccessList", []any{map[string]any{"from": dev, "to": contract}, "latest"}},
		{"eth_call", []any{map[string]any{"to": contract}, "latest", map[string]any{contract.Hex(): map[string]any{"stateDiff": map[string]string{common.Hash{}.Hex(): common.BigToHash(big.NewInt(5)).Hex()}}}}},
	} {
		newBlock(t, ctx, d)
		before := d.Client.RoundTrips()
		sameAnswer(t, ctx, light, node, tc.method, tc.args...)
		if n := d.Client.RoundTrips() - before; n != 1 {
			t.Errorf("%s at a new block took %d round trips, want 1", tc.method, n)
		}
		before = d.Client.RoundTrips()
		sameAnswer(t, ctx, light, node, tc.method, tc.args...)
		if n := d.Client.RoundTrips() - before; n != 0 {
			t.Errorf("%s again at the same block took %d round trips, want 0", tc.method, n)
		}
	}
}

// TestPolledCallsArePrefetched: a call made at the head is asked for again
// at every new head, from spare capacity, so that when the dapp repeats it
// the client answers without a request.
func TestPolledCallsArePrefetched(t *testing.T) {
	d := startDevnet(t, Config{Servers: 1, BlockTime: time.Hour, NoPayments: true})
	ctx, light := session(t, d, 60*time.Second)
	node := d.Chain.RPCClient()
	transfer := map[string]any{"from": crypto.PubkeyToAddress(d.DevKey.PublicKey), "to": common.Address{0x42}, "value": "0x1"}
	sameAnswer(t, ctx, light, node, "eth_call", transfer, "latest")
	for range 3 {
		prefetched := testutil.ToFloat64(d.ClientMetrics.Witnesses.WithLabelValues("prefetched"))
		newBlock(t, ctx, d)
		eventuallyWithin(t, 20*time.Second, "the call to be prefetched", func() bool {
			return testutil.ToFloat64(d.ClientMetrics.Witnesses.WithLabelValues("prefetched")) > prefetched
		})
		before := d.Client.StateRequests()
		sameAnswer(t, ctx, light, node, "eth_call", transfer, "latest")
		if n := d.Client.StateRequests() - before; n != 0 {
			t.Errorf("a polled call at a new head took %d requests, want 0", n)
		}
	}
}

// unprovable fails every proof of one account, as a server whose witness
// leaves that account out.
type unprovable struct {
	chain.Backend
	addr common.Address
}

func (u unprovable) Proof(ctx context.Context, block common.Hash, addr common.Address, slots []common.Hash) (*chain.Proof, error) {
	if addr == u.addr {
		return nil, chain.ErrNotFound
	}
	return u.Backend.Proof(ctx, block, addr, slots)
}

// TestIncompleteWitnessIsScoredDown: a witness that leaves out state the
// call reads is not a lie: the client fetches the rest on demand, answers
// right, and counts it against the server.
func TestIncompleteWitnessIsScoredDown(t *testing.T) {
	target := common.HexToAddress("0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02") // the beacon roots contract
	d := startDevnet(t, Config{Servers: 2, NoPayments: true, BlockTime: time.Hour, WrapBackend: func(i int, b chain.Backend) chain.Backend {
		if i == 0 {
			return unprovable{b, target}
		}
		return slow{b}
	}})
	ctx, light := session(t, d, 60*time.Second)
	newBlock(t, ctx, d)
	sameAnswer(t, ctx, light, d.Chain.RPCClient(), "eth_call", map[string]any{"to": target, "input": hexutil.Encode(common.BigToHash(big.NewInt(int64(d.Client.Head().Time))).Bytes())}, "latest")
	var scored int
	for _, s := range d.Client.Servers() {
		if s.LastError == "incomplete witness" {
			scored++
		}
		if s.Lies > 0 || s.Banned {
			t.Errorf("server punished for an incomplete witness: %+v", s)
		}
	}
	if scored != 1 {
		t.Errorf("%d servers scored down for an incomplete witness, want 1", scored)
	}
}
