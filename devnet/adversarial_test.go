package devnet

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
	"pgregory.net/rapid"

	"github.com/lightmarket/lightmarket/internal/testchain"
)

// TestNoCallGetsAnHonestServerPunished drives random and adversarial
// JSON-RPC calls (zero, unknown and uncle hashes, future and huge numbers,
// bad tags, odd filters and keys) at a client whose servers serve a node
// holding the test chain. Every answer must equal the node's, and no
// server may be punished: nothing a caller sends is evidence that a
// server lied.
func TestNoCallGetsAnHonestServerPunished(t *testing.T) {
	c := testchain.Generate(uint64(time.Now().Unix()) - 10*testchain.Blocks)
	n, err := testchain.NewNode(c, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	node := n.Stack.Attach()
	defer node.Close()
	ln := startLight(t, ctx, c, 2, overRPC(t, ctx, func() (*rpc.Client, error) { return n.Stack.Attach(), nil }), 100_000)
	gen := newCallGen(c)
	calls := 0
	// A thousand calls (two hundred under the race detector) unless
	// -rapid.checks asks for another number.
	if f := flag.Lookup("rapid.checks"); f != nil && f.Value.String() == f.DefValue {
		checks := "1000"
		if raceEnabled {
			checks = "200"
		}
		f.Value.Set(checks)
		defer f.Value.Set(f.DefValue)
	}
	rapid.Check(t, func(rt *rapid.T) {
		method, args := gen.draw(rt)
		if pendingBlock(method, args) {
			return // the client has no pending block (see docs/wallet.md)
		}
		calls++
		// eth_getLogs over the whole chain returns the big receipts
		// block's 10 MiB of logs: under the race detector on two busy
		// cores the node alone takes 10 s, the client's first fetch 20 s.
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		want := ask(t, ctx, node, method, args...)
		got := ask(t, ctx, ln.light, method, args...)
		forkFeeRace(method, got, want)
		if method == "eth_newFilter" && got.Message == "" && want.Message == "" {
			got.Result, want.Result = "an id", "an id" // ids are random
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			rt.Fatalf("%s %v differs:\n client: %v\n node:   %v", method, args, got, want)
		}
	})
	noneBanned(t, ln.client)
	t.Logf("%d calls, no server punished", calls)
}

// pendingBlock reports a call about the node's pending block, which a
// light client does not have: geth builds one from its own pool, with its
// own extra data and gas limit (and cannot prove its state either).
func pendingBlock(method string, args []any) bool {
	switch method {
	case "eth_getBlockByNumber", "eth_getUncleByBlockNumberAndIndex", "eth_getTransactionByBlockNumberAndIndex",
		"eth_getRawTransactionByBlockNumberAndIndex", "eth_getUncleCountByBlockNumber", "eth_getBlockTransactionCountByNumber",
		"eth_getBlockReceipts", "eth_feeHistory", "eth_call", "eth_estimateGas", "eth_createAccessList", "eth_getProof", "eth_simulateV1":
		for _, a := range args {
			if a == "pending" {
				return true
			}
		}
	}
	return false
}

// callGen draws JSON-RPC calls over the test chain, mixing real values
// with adversarial ones.
type callGen struct {
	blocks, hashes, txs, keys []any
	addrs                     []any
	execs                     [][]any // method and first parameter
}

func newCallGen(c *testchain.Chain) *callGen {
	head := c.Head().NumberU64()
	g := &callGen{}
	for _, v := range []any{"0x0", "0x1", hexutil.EncodeUint64(testchain.MergeBlock), hexutil.EncodeUint64(testchain.BigReceiptsBlock),
		hexutil.EncodeUint64(head), hexutil.EncodeUint64(head + 1), hexutil.EncodeUint64(head + 1000), "0x7fffffffffffffff", "0x8000000000000000",
		"0xffffffffffffffffff", "latest", "earliest", "safe", "finalized", "pending", "Latest", "0x", "-0x1", "0x01", "1", 7, nil, true,
		"0x0000000000000000000000000000000000000000000000000000000000000000"} {
		g.blocks = append(g.blocks, v)
	}
	for _, h := range []common.Hash{{}, common.HexToHash("0xff"), c.Genesis.ToBlock().Hash(), c.Head().Hash(), c.Block(testchain.BigReceiptsBlock).Hash(),
		c.Block(c.UncleBlocks[0]).Uncles()[0].Hash(), c.Block(c.UncleBlocks[1]).Hash()} {
		g.hashes = append(g.hashes, h)
	}
	g.hashes = append(g.hashes, "0x00", "0xzz", map[string]any{"blockHash": common.Hash{}}, map[string]any{"blockNumber": "0x0", "blockHash": common.Hash{}})
	for _, hashes := range c.TxsByType {
		g.txs = append(g.txs, hashes[0])
	}
	g.txs = append(g.txs, common.Hash{}, common.HexToHash("0x1234"), "0x12")
	g.keys = []any{"0x0", "0x1", "0x", "0x" + fmt.Sprint(common.Hash{}.Hex()[2:]) + "0", "0xg", "1", []string{"0x0"}}
	g.addrs = []any{testchain.Addr1, testchain.Logger, testchain.Store, common.Address{}, "0x1234", "0x0000000000000000000000000000000000000001"}
	// Calls of the contract patterns and simulations, whose block the
	// generator draws.
	for _, calls := range [][][]any{patternCalls(c), simulateCalls(c), specSimulateCalls(c)} {
		for _, call := range calls {
			g.execs = append(g.execs, call[:2])
		}
	}
	return g
}

func (g *callGen) pick(rt *rapid.T, label string, from []any) any {
	return from[rapid.IntRange(0, len(from)-1).Draw(rt, label)]
}

// block draws a block parameter: a number, a tag, a hash or an object.
func (g *callGen) block(rt *rapid.T) any {
	if rapid.Bool().Draw(rt, "by hash") {
		return g.pick(rt, "hash", g.hashes)
	}
	return g.pick(rt, "number", g.blocks)
}

func (g *callGen) draw(rt *rapid.T) (string, []any) {
	index := rapid.SampledFrom([]any{"0x0", "0x1", "0x5", "0xffffffff", "0x100000000", "-1", 1}).Draw(rt, "index")
	switch rapid.IntRange(0, 18).Draw(rt, "method") {
	case 0:
		return "eth_getBlockByNumber", []any{g.pick(rt, "n", g.blocks), rapid.Bool().Draw(rt, "full")}
	case 1:
		return "eth_getBlockByHash", []any{g.pick(rt, "h", g.hashes), rapid.Bool().Draw(rt, "full")}
	case 2:
		return "eth_getHeaderByNumber", []any{g.pick(rt, "n", g.blocks)}
	case 3:
		return "eth_getHeaderByHash", []any{g.pick(rt, "h", g.hashes)}
	case 4:
		m := rapid.SampledFrom([]string{"eth_getUncleByBlockNumberAndIndex", "eth_getTransactionByBlockNumberAndIndex", "eth_getRawTransactionByBlockNumberAndIndex"}).Draw(rt, "m")
		return m, []any{g.pick(rt, "n", g.blocks), index}
	case 5:
		m := rapid.SampledFrom([]string{"eth_getUncleByBlockHashAndIndex", "eth_getTransactionByBlockHashAndIndex", "eth_getRawTransactionByBlockHashAndIndex"}).Draw(rt, "m")
		return m, []any{g.pick(rt, "h", g.hashes), index}
	case 6:
		m := rapid.SampledFrom([]string{"eth_getUncleCountByBlockNumber", "eth_getBlockTransactionCountByNumber"}).Draw(rt, "m")
		return m, []any{g.pick(rt, "n", g.blocks)}
	case 7:
		m := rapid.SampledFrom([]string{"eth_getUncleCountByBlockHash", "eth_getBlockTransactionCountByHash"}).Draw(rt, "m")
		return m, []any{g.pick(rt, "h", g.hashes)}
	case 8:
		return "eth_getBlockReceipts", []any{g.block(rt)}
	case 9:
		m := rapid.SampledFrom([]string{"eth_getTransactionByHash", "eth_getTransactionReceipt", "eth_getRawTransactionByHash"}).Draw(rt, "m")
		return m, []any{g.pick(rt, "tx", g.txs)}
	case 10:
		m := rapid.SampledFrom([]string{"eth_getBalance", "eth_getTransactionCount", "eth_getCode"}).Draw(rt, "m")
		return m, []any{g.pick(rt, "addr", g.addrs), g.block(rt)}
	case 11:
		return "eth_getStorageAt", []any{g.pick(rt, "addr", g.addrs), g.pick(rt, "key", g.keys), g.block(rt)}
	case 12:
		return "eth_getProof", []any{g.pick(rt, "addr", g.addrs), []any{g.pick(rt, "key", g.keys)}, g.block(rt)}
	case 13:
		return "eth_getLogs", []any{g.filter(rt)}
	case 14:
		call := map[string]any{"to": g.pick(rt, "to", g.addrs)}
		if rapid.Bool().Draw(rt, "data") {
			call["input"] = rapid.SampledFrom([]any{"0x", "0x00", "0x" + common.Hash{1}.Hex()[2:], "0xzz", 5}).Draw(rt, "input")
		}
		m := rapid.SampledFrom([]string{"eth_call", "eth_estimateGas", "eth_createAccessList"}).Draw(rt, "m")
		return m, []any{call, g.block(rt)}
	case 15:
		return "eth_feeHistory", []any{rapid.SampledFrom([]any{"0x0", "0x1", "0x10", "0x400", "0x401", 3}).Draw(rt, "count"), g.pick(rt, "n", g.blocks),
			rapid.SampledFrom([]any{nil, []float64{}, []float64{50}, []float64{90, 10}, []float64{-1}, []float64{101}}).Draw(rt, "percentiles")}
	case 16:
		return "eth_newFilter", []any{g.filter(rt)}
	case 17:
		call := g.execs[rapid.IntRange(0, len(g.execs)-1).Draw(rt, "exec")]
		return call[0].(string), []any{call[1], g.block(rt)}
	default:
		return rapid.SampledFrom([]string{"eth_chainId", "eth_blockNumber", "net_version", "eth_gasPrice", "eth_baseFee", "eth_blobBaseFee", "eth_config", "eth_syncing", "eth_accounts"}).Draw(rt, "m"), nil
	}
}

// filter draws log filter criteria, many of them odd.
func (g *callGen) filter(rt *rapid.T) map[string]any {
	f := map[string]any{}
	if rapid.Bool().Draw(rt, "from") {
		f["fromBlock"] = g.pick(rt, "fromBlock", g.blocks)
	}
	if rapid.Bool().Draw(rt, "to") {
		f["toBlock"] = g.pick(rt, "toBlock", g.blocks)
	}
	if rapid.IntRange(0, 3).Draw(rt, "hash") == 0 {
		f["blockHash"] = g.pick(rt, "blockHash", g.hashes)
	}
	switch rapid.IntRange(0, 4).Draw(rt, "address") {
	case 1:
		f["address"] = g.pick(rt, "addr", g.addrs)
	case 2:
		f["address"] = []any{g.pick(rt, "a1", g.addrs), g.pick(rt, "a2", g.addrs)}
	case 3:
		f["address"] = 7
	}
	switch rapid.IntRange(0, 4).Draw(rt, "topics") {
	case 1:
		f["topics"] = []any{testchain.PingTopic}
	case 2:
		f["topics"] = []any{nil, []any{common.BytesToHash(testchain.Addr1[:]), nil}}
	case 3:
		f["topics"] = []any{nil, nil, nil, nil, nil}
	case 4:
		f["topics"] = []any{"0x12"}
	}
	return f
}
