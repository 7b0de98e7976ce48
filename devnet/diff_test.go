package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/internal/testchain"
	"github.com/lightmarket/lightmarket/metrics"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/rpcapi"
	"github.com/lightmarket/lightmarket/server"
)

// A differential test asks the chain node and the light client (whose
// servers serve that node) the same questions and requires the same
// answers, errors included.

// answer is what a JSON-RPC call returned: a result or an error.
type answer struct {
	Result  any
	Code    int
	Message string
	Data    any
}

func (a answer) String() string {
	if a.Message != "" {
		return fmt.Sprintf("error %d %q data %v", a.Code, a.Message, a.Data)
	}
	enc, _ := json.Marshal(a.Result)
	if len(enc) > 600 {
		enc = append(enc[:600], "..."...)
	}
	return string(enc)
}

// ask calls method on c and records the answer. A failure of the
// transport fails the test.
func ask(t *testing.T, ctx context.Context, c *rpc.Client, method string, args ...any) answer {
	t.Helper()
	var raw json.RawMessage
	err := c.CallContext(ctx, &raw, method, args...)
	if err == nil {
		var v any
		if len(raw) > 0 {
			json.Unmarshal(raw, &v)
		}
		return answer{Result: v}
	}
	var rpcErr rpc.Error
	if !errors.As(err, &rpcErr) {
		t.Fatalf("%s%v: %v", method, args, err)
	}
	a := answer{Code: rpcErr.ErrorCode(), Message: rpcErr.Error()}
	var dataErr rpc.DataError
	if errors.As(err, &dataErr) {
		a.Data = dataErr.ErrorData()
	}
	return a
}

// differ asks both endpoints and reports a difference as a test error. It
// returns the node's answer.
func differ(t *testing.T, ctx context.Context, light, node *rpc.Client, method string, args ...any) answer {
	t.Helper()
	want := ask(t, ctx, node, method, args...)
	got := ask(t, ctx, light, method, args...)
	forkFeeRace(method, got, want)
	if !reflect.DeepEqual(got, want) {
		enc, _ := json.Marshal(args)
		t.Errorf("%s %s differs:\n client: %v\n node:   %v", method, enc, got, want)
	}
	return want
}

// forkFeeRace copies the client's blob base fee of the first Cancun block
// into geth's answer of an eth_feeHistory that covers it. geth computes the
// blocks of a fee history concurrently and writes each block's own fee and
// its "next block" fee into neighbouring entries, so the entry of the
// first block of a fork holds either that block's fee or its parent's
// guess, whichever goroutine finished last (v1.17.10, eth/gasprice). The
// client always gives the block's own fee.
func forkFeeRace(method string, got, want answer) {
	if method != "eth_feeHistory" {
		return
	}
	g, ok1 := got.Result.(map[string]any)
	w, ok2 := want.Result.(map[string]any)
	if !ok1 || !ok2 {
		return
	}
	oldest, err := hexutil.DecodeUint64(fmt.Sprint(w["oldestBlock"]))
	gf, ok3 := g["baseFeePerBlobGas"].([]any)
	wf, ok4 := w["baseFeePerBlobGas"].([]any)
	if err != nil || !ok3 || !ok4 || len(gf) != len(wf) || oldest > testchain.CancunBlock {
		return
	}
	if i := testchain.CancunBlock - oldest; i < uint64(len(wf)) {
		wf[i] = gf[i]
	}
}

// lightNet is a client and its JSON-RPC over servers of one chain node.
type lightNet struct {
	metrics *metrics.Client
	client  *client.Client
	rpc     *rpcapi.Server
	light   *rpc.Client
	servers []*server.Server
}

// overRPC gives servers backends that reach a chain node through the
// JSON-RPC clients dial returns, as `lightmarket server --backend` does.
func overRPC(t *testing.T, ctx context.Context, dial func() (*rpc.Client, error)) func() (chain.Backend, error) {
	return func() (chain.Backend, error) {
		rc, err := dial()
		if err != nil {
			return nil, err
		}
		t.Cleanup(rc.Close)
		return chain.NewRPC(ctx, rc)
	}
}

// startLight starts n servers with the backends backend returns, and a
// client trusting all of them with the chain's configuration and genesis,
// as `lightmarket client --network genesis.json` does.
func startLight(t *testing.T, ctx context.Context, c *testchain.Chain, n int, backend func() (chain.Backend, error), logRange uint64) *lightNet {
	t.Helper()
	ln := &lightNet{}
	var trusted []*enode.Node
	for range n {
		backend, err := backend()
		if err != nil {
			t.Fatal(err)
		}
		key, _ := crypto.GenerateKey()
		witnessTimeout := server.DefaultWitnessTimeout
		if raceEnabled {
			witnessTimeout = 5 * time.Second // a run and a trie node search, ten times slower
		}
		srv, err := server.New(server.Config{Backend: backend, ChainConfig: c.Genesis.Config, WitnessTimeout: witnessTimeout, PrivateKey: key, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
		ln.servers = append(ln.servers, srv)
		trusted = append(trusted, srv.Enode())
	}
	ln.metrics = metrics.NewClient(prometheus.NewRegistry(), nil)
	timeout := 5 * time.Second
	if raceEnabled {
		timeout = time.Minute // an 11 MiB block under the race detector
	}
	lc, err := client.New(client.Config{
		RequestTimeout: timeout,
		Metrics:        ln.metrics,
		ChainConfig:    c.Genesis.Config, Genesis: c.Genesis.ToBlock().Hash(), Trusted: trusted, Fraction: 100,
		HeadMaxAge: -1, // the chain does not grow while the test runs
		Logger:     quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := lc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lc.Stop)
	if _, err := lc.WaitHead(ctx); err != nil {
		t.Fatal(err)
	}
	ln.client = lc
	if ln.rpc, err = rpcapi.Start(rpcapi.Config{Client: lc, Addr: "127.0.0.1:0", LogRange: logRange, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.rpc.Close() })
	if ln.light, err = rpc.DialContext(ctx, ln.rpc.URL()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ln.light.Close)
	// Every server must be usable before answers are compared.
	for _, s := range lc.Servers() {
		waitConnected(t, ctx, lc, s.Enode)
	}
	return ln
}

func waitConnected(t *testing.T, ctx context.Context, lc *client.Client, enode string) {
	t.Helper()
	for {
		for _, s := range lc.Servers() {
			if s.Enode == enode && s.Connected {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("server %s never connected", enode)
		case <-time.After(20 * time.Millisecond): // polling another goroutine's state
		}
	}
}

// noneBanned fails the test if the client punished any server.
func noneBanned(t *testing.T, lc *client.Client) {
	t.Helper()
	for _, s := range lc.Servers() {
		if s.Banned || s.Lies > 0 {
			t.Errorf("server %s punished: %+v", s.Enode, s)
		}
	}
}

// startGethWithChain imports c into a fresh geth (the binary, at the
// version go.mod pins) and serves it on loopback.
func startGethWithChain(t *testing.T, c *testchain.Chain) string {
	bin := gethBinary(t)
	dir := t.TempDir()
	genesis := filepath.Join(dir, "genesis.json")
	if err := c.WriteGenesis(genesis); err != nil {
		t.Fatal(err)
	}
	blocks := filepath.Join(dir, "chain.rlp")
	f, err := os.Create(blocks)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteBlocks(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	datadir := filepath.Join(dir, "geth")
	for _, args := range [][]string{{"init", genesis}, {"import", blocks}} {
		cmd := exec.Command(bin, append([]string{"--datadir", datadir, "--verbosity", "2"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("geth %s: %v\n%s", args[0], err, out)
		}
	}
	return launchGeth(t, []string{"--datadir", datadir}, 60*time.Second, func(ctx context.Context, c *rpc.Client) bool {
		// Ready once geth has indexed the imported transactions.
		var syncing json.RawMessage
		return c.CallContext(ctx, &syncing, "eth_syncing") == nil && string(syncing) == "false"
	})
}

// testchainCalls returns the calls a differential test makes over the
// test chain: every method over its parameter space.
func testchainCalls(c *testchain.Chain) [][]any {
	head := c.Head().NumberU64()
	num := func(n uint64) string { return hexutil.EncodeUint64(n) }
	var (
		calls   [][]any
		add     = func(method string, args ...any) { calls = append(calls, append([]any{method}, args...)) }
		zero    = common.Hash{}
		unknown = common.HexToHash("0xdeadbeef00000000000000000000000000000000000000000000000000000001")
		huge    = "0x7fffffffffffffff"
	)
	blockNums := []string{"0x0", num(1), num(testchain.BerlinBlock), num(testchain.LondonBlock), num(testchain.MergeBlock - 1),
		num(testchain.MergeBlock), num(testchain.ShanghaiBlock), num(testchain.CancunBlock + 1), num(testchain.PragueBlock + 1),
		num(testchain.OsakaBlock + 1), num(testchain.BigReceiptsBlock), num(head), num(head + 1), huge,
		"earliest", "latest", "safe", "finalized"}
	for _, n := range c.UncleBlocks {
		blockNums = append(blockNums, num(n))
	}
	blockHashes := []common.Hash{zero, unknown, c.Genesis.ToBlock().Hash()}
	for _, n := range []uint64{1, testchain.MergeBlock, testchain.CancunBlock + 1, testchain.BigReceiptsBlock, head} {
		blockHashes = append(blockHashes, c.Block(n).Hash())
	}
	for _, n := range c.UncleBlocks {
		blockHashes = append(blockHashes, c.Block(n).Hash(), c.Block(n).Uncles()[0].Hash())
	}
	add("eth_chainId")
	add("net_version")
	add("net_listening")
	add("eth_blockNumber")
	add("eth_syncing")
	add("eth_accounts")
	add("web3_sha3", "0x68656c6c6f")
	add("eth_config")
	add("eth_capabilities")
	add("eth_baseFee")
	add("eth_blobBaseFee")
	add("eth_gasPrice")
	add("eth_maxPriorityFeePerGas")
	for _, n := range blockNums {
		for _, full := range []bool{false, true} {
			add("eth_getBlockByNumber", n, full)
		}
		add("eth_getHeaderByNumber", n)
		add("eth_getUncleCountByBlockNumber", n)
		add("eth_getBlockTransactionCountByNumber", n)
		add("eth_getBlockReceipts", n)
		for _, i := range []string{"0x0", "0x1", "0x5", "0xffffffff"} {
			add("eth_getUncleByBlockNumberAndIndex", n, i)
			add("eth_getTransactionByBlockNumberAndIndex", n, i)
			add("eth_getRawTransactionByBlockNumberAndIndex", n, i)
		}
		add("eth_feeHistory", "0x5", n, []float64{10, 50, 90})
		add("eth_getLogs", map[string]any{"fromBlock": n, "toBlock": n})
		add("eth_getBalance", testchain.Addr1, n)
	}
	for _, h := range blockHashes {
		for _, full := range []bool{false, true} {
			add("eth_getBlockByHash", h, full)
		}
		add("eth_getHeaderByHash", h)
		add("eth_getUncleCountByBlockHash", h)
		add("eth_getBlockTransactionCountByHash", h)
		add("eth_getBlockReceipts", h)
		add("eth_getBlockReceipts", map[string]any{"blockHash": h})
		add("eth_getBlockReceipts", map[string]any{"blockHash": h, "requireCanonical": true})
		for _, i := range []string{"0x0", "0x1", "0xffffffff"} {
			add("eth_getUncleByBlockHashAndIndex", h, i)
			add("eth_getTransactionByBlockHashAndIndex", h, i)
			add("eth_getRawTransactionByBlockHashAndIndex", h, i)
		}
		add("eth_getLogs", map[string]any{"blockHash": h})
		add("eth_getBalance", testchain.Addr1, map[string]any{"blockHash": h})
		add("eth_getTransactionCount", testchain.Addr1, map[string]any{"blockHash": h, "requireCanonical": true})
	}
	var txs []common.Hash
	for _, hashes := range c.TxsByType {
		txs = append(txs, hashes...)
	}
	txs = append(txs, zero, unknown)
	for _, h := range txs {
		add("eth_getTransactionByHash", h)
		add("eth_getRawTransactionByHash", h)
		add("eth_getTransactionReceipt", h)
	}
	accounts := []common.Address{testchain.Addr1, testchain.Addr2, testchain.Addr3, testchain.Logger, testchain.Store,
		testchain.BigLogger, {}, common.HexToAddress("0x0000000000000000000000000000000000000001"),
		common.HexToAddress("0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02"), common.HexToAddress("0x0000F90827F1C53a10cb7A02335B175320002935")}
	stateBlocks := []string{num(head), num(head - 20), num(head - 127), num(head - 130), num(1), "latest", "safe", num(head + 1)}
	for _, a := range accounts {
		for _, n := range stateBlocks {
			add("eth_getBalance", a, n)
			add("eth_getTransactionCount", a, n)
			add("eth_getCode", a, n)
			add("eth_getStorageAt", a, "0x0", n)
			add("eth_getProof", a, []string{"0x0", "0x01", "0x0000000000000000000000000000000000000000000000000000000000000001"}, n)
		}
		add("eth_getTransactionCount", a, "pending")
		add("eth_getBalance", a)
	}
	add("eth_getStorageAt", testchain.Store, "0x00000000000000000000000000000000000000000000000000000000000000000", "latest")
	add("eth_getStorageAt", testchain.Store, "0xzz", "latest")
	add("eth_getProof", testchain.Store, []string{"0x1234567890123456789012345678901234567890123456789012345678901234567"}, "latest")
	add("eth_getStorageValues", map[string][]string{testchain.Store.Hex(): {"0x0000000000000000000000000000000000000000000000000000000000000000"}, testchain.Logger.Hex(): {}}, "latest")
	add("eth_getStorageValues", map[string][]string{}, "latest")
	// Calls, over proven state.
	word := "0x000000000000000000000000000000000000000000000000000000000000002a"
	for _, n := range []string{"latest", num(head - 1), num(head - 130)} {
		add("eth_call", map[string]any{"to": testchain.Store}, n)
		add("eth_call", map[string]any{"to": testchain.Logger, "input": word}, n)
		add("eth_call", map[string]any{"to": testchain.Reverter}, n)
		add("eth_call", map[string]any{"from": testchain.Addr1, "to": testchain.Addr3, "input": word}, n)
		add("eth_estimateGas", map[string]any{"from": testchain.Addr1, "to": testchain.Logger, "input": word}, n)
		add("eth_estimateGas", map[string]any{"from": testchain.Addr1, "to": testchain.Reverter}, n)
		add("eth_createAccessList", map[string]any{"from": testchain.Addr1, "to": testchain.Store, "input": word}, n)
	}
	add("eth_call", map[string]any{"to": testchain.Store}, "latest", map[string]any{testchain.Store.Hex(): map[string]any{"stateDiff": map[string]string{"0x0000000000000000000000000000000000000000000000000000000000000000": word}}})
	add("eth_call", map[string]any{"to": testchain.Store}, "latest", map[string]any{testchain.Store.Hex(): map[string]any{"code": "0x600160005260206000f3"}})
	add("eth_call", map[string]any{"to": testchain.Store}, "latest", map[string]any{testchain.Store.Hex(): map[string]any{"state": map[string]string{}, "stateDiff": map[string]string{}}})
	add("eth_call", map[string]any{"to": testchain.Logger, "input": "0x4301"}, "latest", nil, map[string]any{"number": "0x1234", "time": "0x99"})
	add("eth_call", map[string]any{"to": testchain.Logger}, "latest", nil, map[string]any{"beaconRoot": zero})
	add("eth_call", map[string]any{"to": testchain.Logger, "gasPrice": "0x1", "maxFeePerGas": "0x2"}, "latest")
	add("eth_call", map[string]any{"to": testchain.Logger, "maxFeePerBlobGas": "0x2"}, "latest")
	add("eth_call", map[string]any{"from": testchain.Addr1, "to": testchain.Logger, "value": "0x1", "gas": "0x5208"}, "latest")
	add("eth_call", map[string]any{"from": common.Address{0x77}, "to": testchain.Logger, "value": "0x1"}, "latest")
	add("eth_call", map[string]any{"to": testchain.Logger, "chainId": "0x1"}, "latest")
	add("eth_estimateGas", map[string]any{"from": testchain.Addr1, "to": testchain.Addr2, "value": "0x1"})
	add("eth_estimateGas", map[string]any{"from": common.Address{0x77}, "to": testchain.Addr2, "value": "0x1"})
	add("eth_estimateGas", map[string]any{"to": testchain.Store}, "latest", map[string]any{testchain.Store.Hex(): map[string]any{"code": "0x00"}})
	add("eth_createAccessList", map[string]any{"from": testchain.Addr1, "to": testchain.Logger, "input": word, "maxFeePerGas": "0x3b9aca00", "maxPriorityFeePerGas": "0x1"})
	add("eth_createAccessList", map[string]any{"from": testchain.Addr1, "to": testchain.Reverter})
	// Logs over ranges and filters.
	for _, q := range []map[string]any{
		{"fromBlock": "0x0", "toBlock": num(head)},
		{"fromBlock": "0x0", "toBlock": "latest", "address": testchain.Logger},
		{"fromBlock": "0x1", "toBlock": num(30), "topics": []any{testchain.PingTopic}},
		{"fromBlock": "0x1", "toBlock": num(30), "topics": []any{nil, common.BytesToHash(testchain.Addr1[:])}},
		{"fromBlock": "0x1", "toBlock": num(30), "topics": []any{[]any{testchain.PingTopic, unknown}}},
		{"fromBlock": "0x1", "toBlock": num(30), "address": []any{testchain.Logger, testchain.BigLogger}},
		{"fromBlock": num(head), "toBlock": num(head + 5)},
		{"fromBlock": num(head + 5), "toBlock": num(head + 10)},
		{"fromBlock": "0x5", "toBlock": "0x2"},
		{"fromBlock": "latest", "toBlock": "0x5"},
		{"fromBlock": "safe", "toBlock": "latest"},
		{"fromBlock": "0x1", "toBlock": "finalized"},
		{"fromBlock": "pending", "toBlock": "latest"},
		{"fromBlock": "earliest", "toBlock": num(12)},
		{"fromBlock": "0x1", "toBlock": "0x2", "blockHash": c.Block(1).Hash()},
		{"topics": []any{nil, nil, nil, nil, nil}},
		{"blockHash": unknown},
		{"blockHash": zero},
		{},
	} {
		add("eth_getLogs", q)
	}
	// Sending: only what the node refuses, so that its pool stays empty.
	first := c.Block(2).Transactions()[0]
	raw, _ := first.MarshalBinary()
	add("eth_sendRawTransaction", hexutil.Encode(raw))
	add("eth_sendRawTransaction", "0x02c0")
	add("eth_sendRawTransaction", "0x")
	for _, b := range c.Blocks {
		for _, tx := range b.Transactions() {
			if tx.Hash() == c.Unprotected {
				raw, _ := tx.MarshalBinary()
				add("eth_sendRawTransaction", hexutil.Encode(raw))
			}
		}
	}
	add("eth_sendRawTransactionSync", "0x02c0")
	// Filters that do not exist.
	add("eth_getFilterChanges", "0x1234")
	add("eth_getFilterLogs", "0x1234")
	add("eth_uninstallFilter", "0x1234")
	return calls
}

// TestClientAnswersAsGethOverAChainThatWalksTheForks imports a chain that
// walks Ethereum's forks (proof of work with uncles, the merge, Shanghai,
// Cancun, Prague, Osaka; every transaction type; a block with more than
// 10 MiB of receipts) into a real geth, serves it through two servers, and
// requires the client to answer every method as geth does.
func TestClientAnswersAsGethOverAChainThatWalksTheForks(t *testing.T) {
	c := testchain.Generate(uint64(time.Now().Unix()) - 10*testchain.Blocks)
	url := startGethWithChain(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	node, err := rpc.DialContext(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	ln := startLight(t, ctx, c, 2, overRPC(t, ctx, func() (*rpc.Client, error) { return rpc.DialContext(ctx, url) }), 100_000)
	// The simulations first, while the client holds no state.
	calls := append(simulateCalls(c), specSimulateCalls(c)...)
	calls = append(calls, testchainCalls(c)...)
	calls = append(calls, patternCalls(c)...)
	for _, call := range calls {
		differ(t, ctx, ln.light, node, call[0].(string), call[1:]...)
	}
	filtersMatchNode(t, ctx, ln.light, node, c)
	noneBanned(t, ln.client)
	parts := testutil.ToFloat64(ln.metrics.Requests.WithLabelValues(protocol.GetReceiptsPartMsg.String(), "answered"))
	if parts == 0 {
		t.Error("the big block's receipts were not fetched in parts")
	}
	t.Logf("%d calls compared, %v receipt parts fetched", len(calls), parts)
}

// filtersMatchNode installs the same log filter on both endpoints and
// compares what eth_getFilterLogs and eth_getFilterChanges return.
func filtersMatchNode(t *testing.T, ctx context.Context, light, node *rpc.Client, c *testchain.Chain) {
	t.Helper()
	crit := map[string]any{"fromBlock": "0x1", "toBlock": hexutil.EncodeUint64(40), "address": testchain.Logger}
	var lid, nid string
	if err := light.CallContext(ctx, &lid, "eth_newFilter", crit); err != nil {
		t.Fatal(err)
	}
	if err := node.CallContext(ctx, &nid, "eth_newFilter", crit); err != nil {
		t.Fatal(err)
	}
	got, want := ask(t, ctx, light, "eth_getFilterLogs", lid), ask(t, ctx, node, "eth_getFilterLogs", nid)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("eth_getFilterLogs differs:\n client: %v\n node:   %v", got, want)
	}
	got, want = ask(t, ctx, light, "eth_getFilterChanges", lid), ask(t, ctx, node, "eth_getFilterChanges", nid)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("eth_getFilterChanges differs:\n client: %v\n node:   %v", got, want)
	}
	got, want = ask(t, ctx, light, "eth_uninstallFilter", lid), ask(t, ctx, node, "eth_uninstallFilter", nid)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("eth_uninstallFilter differs:\n client: %v\n node:   %v", got, want)
	}
	for _, bad := range []map[string]any{{"fromBlock": "pending"}, {"fromBlock": "0x5", "toBlock": "0x2"}, {"topics": []any{nil, nil, nil, nil, nil}}} {
		differ(t, ctx, light, node, "eth_newFilter", bad)
	}
}
