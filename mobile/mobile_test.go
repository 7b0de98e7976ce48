package mobile

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/lightmarket/lightmarket/internal/embedtest"
)

// events is a Handler that hands the events on to a channel.
type events chan string

func (e events) OnEvent(ev string) { e <- ev }

// next waits for an event of subscription id that satisfies ok.
func (e events) next(t *testing.T, id, what string, ok func(result json.RawMessage) bool) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case s := <-e:
			var ev struct {
				Subscription string          `json:"subscription"`
				Result       json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal([]byte(s), &ev); err != nil {
				t.Fatalf("event %s: %v", s, err)
			}
			if ev.Subscription == id && ok(ev.Result) {
				return
			}
		case <-timeout:
			t.Fatalf("no event with %s", what)
		}
	}
}

// TestMobileNodeSpeaksJSONStrings runs the bindable API against a devnet:
// a configuration in JSON, requests and answers as strings, a verified
// balance equal to the chain's, newHeads and status through the handler,
// a demand paid for, the app's state, and no panic across the boundary.
func TestMobileNodeSpeaksJSONStrings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := embedtest.Start(t)
	d := e.Devnet
	cfg, _ := json.Marshal(e.Config(t.TempDir()))
	if _, err := Start(`{"trusted":[]`); err == nil {
		t.Error("a configuration that is not JSON was taken")
	}
	n, err := Start(string(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()

	dev := crypto.PubkeyToAddress(d.DevKey.PublicKey)
	request := func(method string, params ...any) (json.RawMessage, string) {
		req, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
		var resp struct {
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		out := n.Request(string(req))
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatalf("%s: answer %q is not JSON-RPC: %v", method, out, err)
		}
		if resp.Error != nil {
			return nil, resp.Error.Message
		}
		return resp.Result, ""
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, msg := request("eth_blockNumber"); msg == "" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no verified head: %s", msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, msg := request("eth_getBlockByNumber", "latest", false)
	if msg != "" {
		t.Fatal(msg)
	}
	var head struct {
		Number hexutil.Uint64 `json:"number"`
	}
	json.Unmarshal(res, &head)
	res, msg = request("eth_getBalance", dev, head.Number)
	if msg != "" {
		t.Fatal(msg)
	}
	var got hexutil.Big
	json.Unmarshal(res, &got)
	want, err := ethclient.NewClient(d.Chain.RPCClient()).BalanceAt(ctx, dev, new(big.Int).SetUint64(uint64(head.Number)))
	if err != nil {
		t.Fatal(err)
	}
	if got.ToInt().Cmp(want) != 0 {
		t.Fatalf("balance at %d: %v from the mobile node, %v from the chain", head.Number, got.ToInt(), want)
	}
	if _, msg := request("eth_getBalance", "0xnot-an-address", "latest"); msg == "" {
		t.Error("a bad address was answered")
	}

	ev := make(events, 256)
	heads, err := n.Subscribe(`{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}`, ev)
	if err != nil {
		t.Fatal(err)
	}
	ev.next(t, heads, "a new head", func(r json.RawMessage) bool {
		var h struct {
			Number hexutil.Uint64 `json:"number"`
		}
		return json.Unmarshal(r, &h) == nil && h.Number > head.Number
	})
	status, err := n.Subscribe(`{"method":"lm_subscribe","params":["status"]}`, ev)
	if err != nil {
		t.Fatal(err)
	}
	ev.next(t, status, "the status", func(r json.RawMessage) bool { return strings.Contains(string(r), `"verified":true`) })
	if err := n.SetDemand(`{"capacity":100000,"maxPrice":"20000"}`); err != nil {
		t.Fatal(err)
	}
	ev.next(t, status, "paid capacity", func(r json.RawMessage) bool { return strings.Contains(string(r), `"paid":true`) })
	if err := n.SetDemand(`{"capacity":"lots"}`); err == nil {
		t.Error("a demand that is not one was taken")
	}
	if err := n.Network("cellular", true); err != nil {
		t.Fatal(err)
	}
	if err := n.AppState("background"); err != nil {
		t.Fatal(err)
	}
	ev.next(t, status, "the background", func(r json.RawMessage) bool {
		return strings.Contains(string(r), `"app":"background"`) && strings.Contains(string(r), `"metered":true`)
	})
	if err := n.AppState("asleep"); err == nil {
		t.Error("an unknown app state was taken")
	}
	if _, err := n.Subscribe(`{"method":"eth_getBalance","params":["0x00"]}`, ev); err == nil {
		t.Error("a call that is not a subscription was taken as one")
	}
	for _, id := range []string{heads, status} {
		if err := n.Unsubscribe(id); err != nil {
			t.Error(err)
		}
	}
	if err := n.Unsubscribe(heads); err == nil {
		t.Error("a subscription ended twice")
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Subscribe(`{"method":"lm_subscribe","params":["status"]}`, ev); err == nil {
		t.Error("a subscription on a stopped node was taken")
	}
	if err := n.AppState("foreground"); err == nil {
		t.Error("an app state change on a stopped node was taken")
	}
}

// TestPanicsStayOnTheGoSide: a call that panics inside (here, on a node
// that was never started) returns an error, not a crash of the app.
func TestPanicsStayOnTheGoSide(t *testing.T) {
	var n Node
	if out := n.Request(`{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}`); !strings.Contains(out, `"code":-32603`) {
		t.Errorf("Request on a broken node: %s", out)
	}
	for name, call := range map[string]func() error{
		"Stop":      n.Stop,
		"AppState":  func() error { return n.AppState("background") },
		"Network":   func() error { return n.Network("wifi", false) },
		"SetDemand": func() error { return n.SetDemand("null") },
		"Status":    func() error { _, err := n.Status(); return err },
		"Subscribe": func() error {
			_, err := n.Subscribe(`{"method":"lm_subscribe","params":["status"]}`, make(events, 1))
			return err
		},
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "internal error") {
			t.Errorf("%s on a broken node: %v, want the panic as an error", name, err)
		}
	}
}
