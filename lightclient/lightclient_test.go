package lightclient_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/devnet"
	"github.com/lightmarket/lightmarket/internal/embedtest"
	"github.com/lightmarket/lightmarket/lightclient"
)

var quiet = log.NewLogger(log.DiscardHandler())

// env is a devnet with a key funded for an embedded client to pay from,
// and the chain's own (unverified) JSON-RPC.
type env struct {
	*embedtest.Env
	d   *devnet.Devnet
	eth *ethclient.Client
}

func newEnv(t *testing.T) *env {
	e := embedtest.Start(t)
	return &env{Env: e, d: e.Devnet, eth: ethclient.NewClient(e.Devnet.Chain.RPCClient())}
}

// config is an embedded client's configuration against the devnet's
// servers, paying from the env's key.
func (e *env) config(t *testing.T) lightclient.Config {
	return lightclient.Config{
		Trusted: e.Trusted(),
		DataDir: t.TempDir(),
		Payment: lightclient.Payment{
			RPC: e.d.Chain.HTTPURL(), Contract: e.d.Contract.Address().Hex(),
			Key: hex.EncodeToString(crypto.FromECDSA(e.Key)), Lead: lightclient.Duration(2 * time.Second),
		},
		Logger: quiet,
	}
}

func start(t *testing.T, cfg lightclient.Config) *lightclient.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := lightclient.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	if _, err := n.WaitHead(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEmbeddedClientAnswersInProcess: go-ethereum's ethclient over the
// node's in-process RPC gets the chain's answers, subscriptions included;
// Request answers single calls, batches and garbage as the HTTP endpoint
// does; Handler keeps the control methods behind the token.
func TestEmbeddedClientAnswersInProcess(t *testing.T) {
	e := newEnv(t)
	n := start(t, e.config(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ec := ethclient.NewClient(n.RPC())
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev := crypto.PubkeyToAddress(e.d.DevKey.PublicKey)
	got, err := ec.BalanceAt(ctx, dev, head.Number)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.eth.BalanceAt(ctx, dev, head.Number)
	if err != nil {
		t.Fatal(err)
	}
	if got.Cmp(want) != 0 {
		t.Fatalf("balance at %d: %v in process, %v from the chain", head.Number, got, want)
	}
	heads := make(chan *types.Header, 4)
	sub, err := ec.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-heads:
		if h.Number.Cmp(head.Number) <= 0 {
			t.Errorf("newHeads sent %d after %d", h.Number, head.Number)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no newHeads over the in-process RPC")
	}
	sub.Unsubscribe()

	for _, tc := range []struct{ req, want string }{
		{`{"jsonrpc":"2.0","id":7,"method":"eth_chainId","params":[]}`, `"result":"0x539"`},
		{`[{"jsonrpc":"2.0","id":1,"method":"net_version"},{"jsonrpc":"2.0","id":2,"method":"eth_nope"}]`, `"code":-32601`},
		{`{"jsonrpc":"2.0","id":1,"method":"lm_setDemand","params":[null]}`, `"result":null`},
		{`{nope`, `"code":-32700`},
		{``, `"error"`},
	} {
		out := string(n.Request(ctx, []byte(tc.req)))
		if !strings.Contains(out, tc.want) || !json.Valid([]byte(out)) {
			t.Errorf("Request(%s) = %s, want JSON with %s", tc.req, out, tc.want)
		}
	}

	srv := httptest.NewServer(n.Handler())
	defer srv.Close()
	hc, err := rpc.Dial(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	var id string
	if err := hc.Call(&id, "eth_chainId"); err != nil || id != "0x539" {
		t.Errorf("eth_chainId through Handler: %q, %v", id, err)
	}
	if err := hc.Call(nil, "lm_setDemand", nil); err == nil || !strings.Contains(err.Error(), "control token") {
		t.Errorf("lm_setDemand without a token through Handler: %v, want it refused", err)
	}
}

// TestDemandAndAppStateAreCallsWithEvents: a demand set by a call is bid
// and paid for, each change comes as a status event, the background
// closes every connection and withdraws the demand, and back in the
// foreground the first verified balance comes at once, with the demand
// bid again.
func TestDemandAndAppStateAreCallsWithEvents(t *testing.T) {
	e := newEnv(t)
	n := start(t, e.config(t))
	events := make(chan *lightclient.Status, 64)
	sub := n.SubscribeStatus(events)
	defer sub.Unsubscribe()
	wait := func(what string, cond func(*lightclient.Status) bool) {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case st := <-events:
				if cond(st) {
					return
				}
			case <-timeout:
				st, _ := json.Marshal(n.Status())
				t.Fatalf("no status event with %s; status now %s", what, st)
			}
		}
	}
	if err := n.SetDemand(&lightclient.Demand{Capacity: 100_000, MaxPrice: big.NewInt(20_000), Budget: big.NewInt(5e16)}); err != nil {
		t.Fatal(err)
	}
	wait("the demand", func(st *lightclient.Status) bool { return st.Demand != nil && st.Demand.Capacity == 100_000 })
	wait("paid capacity and money spent", func(st *lightclient.Status) bool { return st.Paid && st.SpentTotal != "0" })
	if st := n.Status(); st.Budget != "50000000000000000" || st.BudgetLeft == st.Budget || st.BudgetLeft == "" {
		t.Errorf("budget %s, %s left, after SetDemand with a budget of 5e16 wei and a payment", st.Budget, st.BudgetLeft)
	}

	if err := n.SetAppState(lightclient.Background); err != nil {
		t.Fatal(err)
	}
	wait("the background without connections", func(st *lightclient.Status) bool {
		connected := 0
		for _, s := range st.Servers {
			if s.Connected {
				connected++
			}
		}
		return st.App == lightclient.Background && connected == 0 && !st.Paid
	})
	if d := n.Demand(); d == nil || d.Capacity != 100_000 {
		t.Errorf("demand in the background %+v: the shelved one should be reported", d)
	}
	// The connections' last frames (a disconnect, an announcement on
	// its way) pass within moments of the close.
	time.Sleep(500 * time.Millisecond)
	before, _ := n.Client().SocketBytes()
	time.Sleep(2 * time.Second)
	if after, _ := n.Client().SocketBytes(); after != before {
		t.Errorf("%d bytes through the server connections in the background", after-before)
	}
	// lm_setDemand in the background, in process, is kept for the return
	// as SetDemand's is: nothing is bid meanwhile.
	if err := n.RPC().Call(nil, "lm_setDemand", map[string]any{"max": "0x1d4c0", "min": "0x1d4c0", "maxPrice": "0x4e20"}); err != nil {
		t.Fatal(err)
	}
	if d := n.Demand(); d == nil || d.Capacity != 120_000 {
		t.Errorf("demand after lm_setDemand in the background: %+v, want capacity 120000", d)
	}
	if d := n.Client().Demand(); d != nil {
		t.Errorf("the client bids %+v in the background", d)
	}
	if err := n.RPC().Call(nil, "lm_setDemand", map[string]any{"max": "0x1", "min": "0x2", "maxPrice": "0x1"}); err == nil {
		t.Error("a demand with min above max was taken in the background")
	}
	// Blocks come every 250 ms: the head moves on by far more than the
	// client links.
	time.Sleep(3 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ec := ethclient.NewClient(n.RPC())
	dev := crypto.PubkeyToAddress(e.d.DevKey.PublicKey)
	trips := n.Client().RoundTrips()
	back := time.Now()
	if err := n.SetAppState(lightclient.Foreground); err != nil {
		t.Fatal(err)
	}
	var bal *big.Int
	eventually(t, "a verified balance after the background", 30*time.Second, func() bool {
		var err error
		bal, err = ec.BalanceAt(ctx, dev, nil)
		return err == nil
	})
	t.Logf("first verified balance %v after %v in the foreground, %d round trips", bal, time.Since(back), n.Client().RoundTrips()-trips)
	if took := time.Since(back); took > 5*time.Second {
		t.Errorf("first answer %v after coming back", took)
	}
	// A header missed in the background is proven when asked for, and is
	// the chain's.
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	missed := new(big.Int).Sub(head.Number, big.NewInt(8))
	got, err := ec.HeaderByNumber(ctx, missed)
	if err != nil {
		t.Fatalf("header %d, missed in the background: %v", missed, err)
	}
	if want, err := e.eth.HeaderByNumber(ctx, missed); err != nil || want.Hash() != got.Hash() {
		t.Errorf("header %d after the background: %v, the chain's %v (%v)", missed, got.Hash(), want.Hash(), err)
	}
	wait("the demand bid again", func(st *lightclient.Status) bool {
		return st.App == lightclient.Foreground && st.Paid && st.Demand != nil && st.Demand.Capacity == 120_000
	})
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"SetDemand":   n.SetDemand(nil),
		"SetAppState": n.SetAppState(lightclient.Background),
		"SetNetwork":  n.SetNetwork("wifi", false),
	} {
		if !errors.Is(err, lightclient.ErrStopped) {
			t.Errorf("%s on a stopped node: %v, want ErrStopped", name, err)
		}
	}
}

// TestMeteredNetworkPrefetchesNothing: a call polled at the head is
// prefetched at each new head on wifi, and not on a metered network.
func TestMeteredNetworkPrefetchesNothing(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(t)
	cfg.Payment = lightclient.Payment{}
	n := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ec := ethclient.NewClient(n.RPC())
	dev := crypto.PubkeyToAddress(e.d.DevKey.PublicKey)
	call := func() {
		if _, err := ec.CallContract(ctx, ethereumCall(dev), nil); err != nil {
			t.Fatal(err)
		}
	}
	prefetched := func() int64 {
		call()
		before := n.Client().Prefetches()
		time.Sleep(2 * time.Second) // eight heads
		return n.Client().Prefetches() - before
	}
	if got := prefetched(); got == 0 {
		t.Fatal("no witness prefetched on an unmetered network: the test shows nothing")
	}
	if err := n.SetNetwork("cellular", true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a prefetch in flight ends
	if got := prefetched(); got != 0 {
		t.Errorf("%d witnesses prefetched on a metered network", got)
	}
	if err := n.SetNetwork("satellite", false); err == nil {
		t.Error("an unknown network kind was taken")
	}
	if err := n.SetAppState("asleep"); err == nil {
		t.Error("an unknown app state was taken")
	}
}

// TestConfigMistakesNameTheField: a bad configuration is refused before
// anything starts, with the field named.
func TestConfigMistakesNameTheField(t *testing.T) {
	key, _ := crypto.GenerateKey()
	someEnode := enode.NewV4(&key.PublicKey, net.IPv4(127, 0, 0, 1), 30303, 0).URLv4()
	for _, tc := range []struct {
		json, want string
	}{
		{`{}`, "trusted: give at least one trusted server"},
		{`{"trusted":["enode://nope"]}`, "trusted:"},
		{`{"trusted":["` + someEnode + `"],"fraction":101}`, "fraction 101: must be a percentage"},
		{`{"trusted":["` + someEnode + `"],"network":"moon"}`, `network "moon"`},
		{`{"trusted":["` + someEnode + `"],"paid":{"capacity":10,"maxPrice":"5"}}`, "paid: the client has no payment method"},
		{`{"trusted":["` + someEnode + `"],"headMaxAge":"soon"}`, "configuration"},
		{`{"trusted":["` + someEnode + `"],"trustd":[]}`, "unknown field"},
	} {
		_, err := func() (*lightclient.Node, error) {
			cfg, err := lightclient.ParseConfig([]byte(tc.json))
			if err != nil {
				return nil, err
			}
			cfg.Logger = quiet
			return lightclient.Start(context.Background(), cfg)
		}()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.json, err, tc.want)
		}
	}
}

// ethereumCall is a call a wallet polls: a plain call to an account.
func ethereumCall(to common.Address) ethereum.CallMsg { return ethereum.CallMsg{To: &to} }
