package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain"
)

func startDevnet(t *testing.T, cfg Config) *Devnet {
	t.Helper()
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.BlockTime == 0 {
		cfg.BlockTime = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewLogger(log.DiscardHandler())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("devnet: %v", err)
	}
	t.Cleanup(d.Close)
	return d
}

// sendTransfer sends value wei from the dev key to `to` through the wallet
// endpoint and waits for the receipt.
func sendTransfer(t *testing.T, ctx context.Context, wallet *ethclient.Client, d *Devnet, to common.Address, value *big.Int) *types.Receipt {
	t.Helper()
	return sendTx(t, ctx, wallet, d.DevKey, &to, value, nil, 21000)
}

// session returns a context that bounds the test by timeout and a JSON-RPC
// client of d's wallet endpoint; both end with the test.
func session(t *testing.T, d *Devnet, timeout time.Duration) (context.Context, *rpc.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	light, err := rpc.DialContext(ctx, d.Node.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(light.Close)
	return ctx, light
}

// waitHead waits until the client has accepted block n.
func waitHead(t *testing.T, ctx context.Context, d *Devnet, n uint64) {
	t.Helper()
	heads := make(chan *types.Header, 16)
	sub := d.Client.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	for h := d.Client.Head(); h.Number.Uint64() < n; {
		select {
		case h = <-heads:
		case <-ctx.Done():
			t.Fatalf("client head stuck below %d", n)
		}
	}
}

// sameAnswer calls method with args on both endpoints and fails unless the
// JSON answers are equal.
func sameAnswer(t *testing.T, ctx context.Context, light, node *rpc.Client, method string, args ...any) json.RawMessage {
	t.Helper()
	var got, want json.RawMessage
	if err := node.CallContext(ctx, &want, method, args...); err != nil {
		t.Fatalf("%s on the chain node: %v", method, err)
	}
	if err := light.CallContext(ctx, &got, method, args...); err != nil {
		t.Fatalf("%s through the client: %v", method, err)
	}
	var g, w any
	json.Unmarshal(got, &g)
	json.Unmarshal(want, &w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s%v differs:\n client: %s\n node:   %s", method, args, got, want)
	}
	return got
}

func TestWalletThroughClientMatchesNode(t *testing.T) {
	d := startDevnet(t, Config{})
	ctx, light := session(t, d, 60*time.Second)
	node := d.Chain.RPCClient()
	wallet := ethclient.NewClient(light)

	to := common.HexToAddress("0x00000000000000000000000000000000c0ffee01")
	value := big.NewInt(1_234_567_890)
	receipt := sendTransfer(t, ctx, wallet, d, to, value)
	if receipt.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("transfer failed: %+v", receipt)
	}
	bal, err := wallet.BalanceAt(ctx, to, receipt.BlockNumber)
	if err != nil || bal.Cmp(value) != 0 {
		t.Fatalf("balance of recipient = %v, %v; want %v", bal, err, value)
	}

	num := hexutil.EncodeBig(receipt.BlockNumber)
	dev := crypto.PubkeyToAddress(d.DevKey.PublicKey)
	sameAnswer(t, ctx, light, node, "eth_chainId")
	sameAnswer(t, ctx, light, node, "net_version")
	sameAnswer(t, ctx, light, node, "eth_getBlockByNumber", num, false)
	sameAnswer(t, ctx, light, node, "eth_getBlockByNumber", num, true)
	sameAnswer(t, ctx, light, node, "eth_getBlockByNumber", "0x0", true)
	sameAnswer(t, ctx, light, node, "eth_getBlockByHash", receipt.BlockHash, true)
	sameAnswer(t, ctx, light, node, "eth_getBlockByHash", receipt.BlockHash, false)
	sameAnswer(t, ctx, light, node, "eth_getTransactionByHash", receipt.TxHash)
	sameAnswer(t, ctx, light, node, "eth_getTransactionReceipt", receipt.TxHash)
	for _, addr := range []common.Address{to, dev, {0x42}} {
		sameAnswer(t, ctx, light, node, "eth_getBalance", addr, num)
		sameAnswer(t, ctx, light, node, "eth_getTransactionCount", addr, num)
		sameAnswer(t, ctx, light, node, "eth_getCode", addr, num)
		sameAnswer(t, ctx, light, node, "eth_getProof", addr, []string{"0x0", "0x01"}, num)
		sameAnswer(t, ctx, light, node, "eth_getBalance", addr, map[string]any{"blockHash": receipt.BlockHash})
	}
	// A system contract with code and storage, deployed at genesis.
	beaconRoots := common.HexToAddress("0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02")
	sameAnswer(t, ctx, light, node, "eth_getCode", beaconRoots, num)
	slot := fmt.Sprintf("0x%x", receipt.BlockNumber.Uint64()%8191)
	sameAnswer(t, ctx, light, node, "eth_getStorageAt", beaconRoots, slot, num)
	sameAnswer(t, ctx, light, node, "eth_getProof", beaconRoots, []string{slot, "0x0000000000000000000000000000000000000000000000000000000000000001"}, num)

	// A method the client does not serve is "method not found".
	var out any
	err = light.CallContext(ctx, &out, "eth_mining")
	var rpcErr rpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.ErrorCode() != -32601 {
		t.Errorf("eth_mining: got %v, want method not found (-32601)", err)
	}
}

func TestNewHeadsSubscription(t *testing.T) {
	d := startDevnet(t, Config{Servers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, err := rpc.DialContext(ctx, d.Node.WSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	heads := make(chan map[string]any, 4)
	sub, err := ws.EthSubscribe(ctx, heads, "newHeads")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	var h map[string]any
	select {
	case h = <-heads:
	case err := <-sub.Err():
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no head announced")
	}
	var want map[string]any
	if err := d.Chain.RPCClient().CallContext(ctx, &want, "eth_getBlockByHash", h["hash"], false); err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		if !reflect.DeepEqual(want[k], v) {
			t.Errorf("newHeads field %s = %v, node says %v", k, v, want[k])
		}
	}
}

// liar wraps a backend and, once lying is switched on, tampers with what
// its server sends.
type liar struct {
	chain.Backend
	on   atomic.Bool
	what string
}

// The header liar tampers with the genesis header, which the client has not
// seen yet: its first head is block 1 or later.
func (l *liar) HeaderByHash(ctx context.Context, hash common.Hash) (*types.Header, error) {
	return l.header(l.Backend.HeaderByHash(ctx, hash))
}

func (l *liar) HeaderByNumber(ctx context.Context, n uint64) (*types.Header, error) {
	return l.header(l.Backend.HeaderByNumber(ctx, n))
}

func (l *liar) header(h *types.Header, err error) (*types.Header, error) {
	if err == nil && l.on.Load() && l.what == "header" && h.Number.Sign() == 0 {
		h = types.CopyHeader(h)
		h.GasUsed++
	}
	return h, err
}

func (l *liar) Proof(ctx context.Context, block common.Hash, addr common.Address, slots []common.Hash) (*chain.Proof, error) {
	p, err := l.Backend.Proof(ctx, block, addr, slots)
	if err == nil && l.on.Load() && l.what == "proof" {
		leaf := append([]byte{}, p.Account[len(p.Account)-1]...)
		leaf[len(leaf)-40] ^= 1 // inside the account's RLP
		p = &chain.Proof{Account: append(append([][]byte{}, p.Account[:len(p.Account)-1]...), leaf), Storage: p.Storage}
	}
	return p, err
}

func (l *liar) Receipts(ctx context.Context, block common.Hash) (types.Receipts, error) {
	rs, err := l.Backend.Receipts(ctx, block)
	if err == nil && l.on.Load() && l.what == "receipts" && len(rs) > 0 {
		r := *rs[0]
		r.CumulativeGasUsed++
		rs = append(types.Receipts{&r}, rs[1:]...)
	}
	return rs, err
}

func TestClientRefusesTamperedAnswers(t *testing.T) {
	for _, tc := range []struct {
		what, check string
		call        func(ctx context.Context, c *rpc.Client, r *types.Receipt) error
	}{
		{"proof", "account proof check failed", func(ctx context.Context, c *rpc.Client, r *types.Receipt) error {
			var out any
			return c.CallContext(ctx, &out, "eth_getBalance", common.Address{0xde, 0xad}, hexutil.EncodeBig(r.BlockNumber))
		}},
		{"header", "header chain check failed", func(ctx context.Context, c *rpc.Client, r *types.Receipt) error {
			var out any
			return c.CallContext(ctx, &out, "eth_getBlockByNumber", "0x0", false)
		}},
		{"receipts", "receipts root check failed", func(ctx context.Context, c *rpc.Client, r *types.Receipt) error {
			var out any
			return c.CallContext(ctx, &out, "eth_getTransactionReceipt", r.TxHash)
		}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			l := &liar{what: tc.what}
			d := startDevnet(t, Config{Servers: 1, WrapBackend: func(i int, b chain.Backend) chain.Backend {
				l.Backend = b
				return l
			}})
			ctx, light := session(t, d, 30*time.Second)
			// Sent through the chain node, so that the client has not
			// fetched anything of it yet.
			r := sendTransfer(t, ctx, ethclient.NewClient(d.Chain.RPCClient()), d, common.Address{0xbe, 0xef}, big.NewInt(1))
			waitHead(t, ctx, d, r.BlockNumber.Uint64())
			l.on.Store(true)
			err := tc.call(ctx, light, r)
			if err == nil || !strings.Contains(err.Error(), tc.check) {
				t.Fatalf("tampered %s: got error %v, want one naming %q", tc.what, err, tc.check)
			}
			srv := d.Client.Servers()[0]
			if srv.Lies != 1 || !srv.Banned {
				t.Errorf("lying server stats = %+v, want one lie and banned", srv)
			}
		})
	}
}

func (l *liar) Body(ctx context.Context, block common.Hash) (*types.Body, error) {
	b, err := l.Backend.Body(ctx, block)
	if err == nil && l.on.Load() && l.what == "body" && len(b.Transactions) > 0 {
		b = &types.Body{Transactions: b.Transactions[1:], Uncles: b.Uncles, Withdrawals: b.Withdrawals}
	}
	return b, err
}

func (l *liar) Code(ctx context.Context, block common.Hash, addr common.Address) ([]byte, error) {
	code, err := l.Backend.Code(ctx, block, addr)
	if err == nil && l.on.Load() && l.what == "code" {
		code = append(append([]byte{}, code...), 0x00)
	}
	return code, err
}

func (l *liar) TxLookup(ctx context.Context, hash common.Hash) (*chain.TxLocation, error) {
	loc, err := l.Backend.TxLookup(ctx, hash)
	if err == nil && l.on.Load() && l.what == "txstatus" && loc.Status == chain.TxIncluded {
		moved := *loc
		moved.Index++
		loc = &moved
	}
	return loc, err
}

// slow delays every answer of a backend, so that the client learns to
// prefer the other servers.
type slow struct{ chain.Backend }

func (s slow) wait() { time.Sleep(20 * time.Millisecond) }
func (s slow) HeaderByHash(ctx context.Context, h common.Hash) (*types.Header, error) {
	s.wait()
	return s.Backend.HeaderByHash(ctx, h)
}
func (s slow) HeaderByNumber(ctx context.Context, n uint64) (*types.Header, error) {
	s.wait()
	return s.Backend.HeaderByNumber(ctx, n)
}
func (s slow) Body(ctx context.Context, h common.Hash) (*types.Body, error) {
	s.wait()
	return s.Backend.Body(ctx, h)
}
func (s slow) Receipts(ctx context.Context, h common.Hash) (types.Receipts, error) {
	s.wait()
	return s.Backend.Receipts(ctx, h)
}
func (s slow) Proof(ctx context.Context, h common.Hash, a common.Address, slots []common.Hash) (*chain.Proof, error) {
	s.wait()
	return s.Backend.Proof(ctx, h, a, slots)
}
func (s slow) Code(ctx context.Context, h common.Hash, a common.Address) ([]byte, error) {
	s.wait()
	return s.Backend.Code(ctx, h, a)
}
func (s slow) TxLookup(ctx context.Context, h common.Hash) (*chain.TxLocation, error) {
	s.wait()
	return s.Backend.TxLookup(ctx, h)
}

// TestLyingServerIsDroppedAndAnswerStillRight runs three trusted servers
// (fraction 67) of which the fastest, so the one asked first, lies about one
// kind of data. The wallet must still get the chain node's answer, and the
// liar must be caught once and then never asked again.
func TestLyingServerIsDroppedAndAnswerStillRight(t *testing.T) {
	beaconRoots := common.HexToAddress("0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02")
	for _, tt := range []struct {
		what   string
		method string
		args   func(r *types.Receipt) []any
	}{
		{"proof", "eth_getBalance", func(r *types.Receipt) []any {
			return []any{common.Address{0xbe, 0xef}, hexutil.EncodeBig(r.BlockNumber)}
		}},
		{"receipts", "eth_getTransactionReceipt", func(r *types.Receipt) []any { return []any{r.TxHash} }},
		{"body", "eth_getBlockByNumber", func(r *types.Receipt) []any { return []any{hexutil.EncodeBig(r.BlockNumber), true} }},
		{"code", "eth_getCode", func(r *types.Receipt) []any { return []any{beaconRoots, hexutil.EncodeBig(r.BlockNumber)} }},
		{"txstatus", "eth_getTransactionByHash", func(r *types.Receipt) []any { return []any{r.TxHash} }},
		{"header", "eth_getBlockByNumber", func(r *types.Receipt) []any { return []any{"0x0", false} }},
	} {
		t.Run(tt.what, func(t *testing.T) {
			l := &liar{what: tt.what}
			d := startDevnet(t, Config{Servers: 3, Fraction: 67, WrapBackend: func(i int, b chain.Backend) chain.Backend {
				if i == 0 {
					l.Backend = b
					return l
				}
				return slow{b}
			}})
			ctx, light := session(t, d, 30*time.Second)
			node := d.Chain.RPCClient()
			r := sendTransfer(t, ctx, ethclient.NewClient(node), d, common.Address{0xbe, 0xef}, big.NewInt(1))
			waitHead(t, ctx, d, r.BlockNumber.Uint64()+2)
			l.on.Store(true)
			caught := func() (lies, banned int) {
				for _, s := range d.Client.Servers() {
					lies += int(s.Lies)
					if s.Banned {
						banned++
					}
				}
				return lies, banned
			}
			// The client asks the server it measured fastest; a server
			// never asked yet counts as fastest, and one slow answer under
			// a loaded machine can rank the liar behind the slow ones for a
			// few requests, so ask until the liar is asked, then three more
			// times: it must not be asked again.
			for i := 0; i < 20; i++ {
				if lies, _ := caught(); lies > 0 {
					break
				}
				sameAnswer(t, ctx, light, node, tt.method, tt.args(r)...)
			}
			for range 3 {
				sameAnswer(t, ctx, light, node, tt.method, tt.args(r)...)
			}
			if lies, banned := caught(); lies != 1 || banned != 1 {
				t.Errorf("%d lies recorded, %d servers banned; want the liar caught once; servers: %+v", lies, banned, d.Client.Servers())
			}
		})
	}
}

func TestMetricsShowServingAndVerification(t *testing.T) {
	d := startDevnet(t, Config{Servers: 2, MetricsAddr: "127.0.0.1:0"})
	ctx, light := session(t, d, 20*time.Second)
	var bal hexutil.Big
	if err := light.CallContext(ctx, &bal, "eth_getBalance", crypto.PubkeyToAddress(d.DevKey.PublicKey), "latest"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(d.Metrics.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`lightmarket_server_requests_total\{server="\d",type="GetProofs"\} [1-9]`),
		regexp.MustCompile(`lightmarket_server_clients\{server="0"\} 1`),
		regexp.MustCompile(`lightmarket_client_requests_total\{result="answered",type="GetProofs"\} [1-9]`),
		regexp.MustCompile(`lightmarket_client_head_block [1-9]`),
		regexp.MustCompile(`lightmarket_client_servers\{state="connected"\} 2`),
		regexp.MustCompile(`lightmarket_client_head_lag_seconds `),
		regexp.MustCompile(`lightmarket_server_serving_seconds_count\{server="\d",type="GetBlockHeaders"\} [1-9]`),
	} {
		if !want.Match(body) {
			t.Errorf("metrics lack %v", want)
		}
	}
}

// TestClientStaysWithinFlowControl gives the client a small capacity at a
// single server and makes many concurrent requests: the client must wait
// for its buffer rather than overrun it and be cut off.
func TestClientStaysWithinFlowControl(t *testing.T) {
	d := startDevnet(t, Config{Servers: 1, ClientCapacity: 10_000}) // a 60,000,000 buffer: 50 proofs at once
	ctx, light := session(t, d, 60*time.Second)
	block := hexutil.EncodeBig(d.Client.Head().Number)
	errc := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := range 40 {
				var bal hexutil.Big
				if err := light.CallContext(ctx, &bal, "eth_getBalance", common.Address{byte(w), byte(i), 0xfc}, block); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	s := d.Client.Servers()[0]
	if !s.Connected || s.Failures != 0 || s.Lies != 0 || s.LastError != "" {
		t.Fatalf("server after 320 requests: %+v", s)
	}
}

func TestCapacityUpdateReachesTheClient(t *testing.T) {
	d := startDevnet(t, Config{Servers: 1, ClientCapacity: 10_000})
	if got := d.Client.Servers()[0].Capacity; got != 10_000 {
		t.Fatalf("client sees capacity %d", got)
	}
	if err := d.Servers[0].SetCapacity(d.Client.Self().ID(), 50_000); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.Client.Servers()[0].Capacity != 50_000 {
		if time.Now().After(deadline) {
			t.Fatal("capacity update not applied by the client")
		}
		time.Sleep(5 * time.Millisecond) // the update travels over a real socket
	}
}
