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
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/internal/testchain"
)

// The calls of this file run the contract patterns a wallet meets (a
// token, a constant-product pool, a proxy, a CREATE2 factory, precompiles,
// set-code delegation) through eth_call, eth_estimateGas,
// eth_createAccessList and eth_simulateV1, for differential tests.

// balanceSlot is the storage slot of a holder's balance in Patterns.sol's
// Token (balanceOf is its fourth variable).
func balanceSlot(holder common.Address) common.Hash {
	return crypto.Keccak256Hash(common.LeftPadBytes(holder[:], 32), common.LeftPadBytes([]byte{3}, 32))
}

// patternCalls are calls of the contract patterns and precompiles, at the
// head and at a block before some of them were used.
func patternCalls(c *testchain.Chain) [][]any {
	d := c.Patterns
	var calls [][]any
	add := func(method string, args ...any) { calls = append(calls, append([]any{method}, args...)) }
	tx := func(from, to common.Address, data []byte) map[string]any {
		return map[string]any{"from": from, "to": to, "input": hexutil.Bytes(data)}
	}
	view := func(to common.Address, data []byte) map[string]any {
		return map[string]any{"to": to, "input": hexutil.Bytes(data)}
	}
	tokenA, tokenB := d.Tokens[0], d.Tokens[1]
	blocks := []string{"latest", hexutil.EncodeUint64(testchain.PatternsBlock + 1)}
	for _, n := range blocks {
		add("eth_call", view(tokenA, testchain.Pack("Token", "name")), n)
		add("eth_call", view(tokenA, testchain.Pack("Token", "symbol")), n)
		add("eth_call", view(tokenA, testchain.Pack("Token", "decimals")), n)
		add("eth_call", view(tokenA, testchain.Pack("Token", "totalSupply")), n)
		add("eth_call", view(tokenB, testchain.Pack("Token", "balanceOf", testchain.Addr2)), n)
		add("eth_call", view(tokenA, testchain.Pack("Token", "allowance", testchain.Addr2, d.Pool)), n)
		add("eth_call", view(d.Pool, testchain.Pack("Pool", "quote", testchain.Units(3), true)), n)
		add("eth_call", view(d.Pool, testchain.Pack("Pool", "quote", testchain.Units(3), false)), n)
		add("eth_call", view(d.Proxy, testchain.Pack("Counter", "count")), n)
		add("eth_call", view(d.Proxy, testchain.Pack("Counter", "fail", "no such thing")), n)
		add("eth_call", view(d.Factory, testchain.Pack("Factory", "predict", d.Salt)), n)
		add("eth_call", view(d.Balances, testchain.Pack("Balances", "balances", d.Tokens[:], d.Holders)), n)
		// A transfer of more than the sender holds: a custom error.
		add("eth_call", tx(testchain.Addr2, tokenA, testchain.Pack("Token", "transfer", testchain.Addr1, testchain.Units(1_000_000))), n)
		add("eth_estimateGas", tx(testchain.Addr2, tokenA, testchain.Pack("Token", "transfer", testchain.Addr1, testchain.Units(1))), n)
		add("eth_estimateGas", tx(testchain.Addr2, tokenA, testchain.Pack("Token", "transfer", testchain.Addr1, testchain.Units(1_000_000))), n)
		add("eth_estimateGas", tx(testchain.Addr2, d.Pool, testchain.Pack("Pool", "swap", testchain.Units(1), true, big.NewInt(1))), n)
		add("eth_estimateGas", tx(testchain.Addr2, d.Pool, testchain.Pack("Pool", "swap", testchain.Units(1), false, big.NewInt(1))), n)
		add("eth_estimateGas", tx(testchain.Addr2, d.Proxy, testchain.Pack("Counter", "increment")), n)
		add("eth_estimateGas", tx(testchain.Addr2, d.Factory, testchain.Pack("Factory", "deploy", common.Hash{0x99})), n)
		add("eth_createAccessList", tx(testchain.Addr2, d.Pool, testchain.Pack("Pool", "swap", testchain.Units(1), true, big.NewInt(1))), n)
		add("eth_createAccessList", tx(testchain.Addr2, d.Proxy, testchain.Pack("Counter", "increment")), n)
	}
	// The factory's counter exists at the head: deploying it again fails.
	add("eth_estimateGas", tx(testchain.Addr1, d.Factory, testchain.Pack("Factory", "deploy", d.Salt)))
	// A balance set by a state override.
	add("eth_call", view(tokenA, testchain.Pack("Token", "balanceOf", common.Address{0x42})), "latest", map[string]any{
		tokenA.Hex(): map[string]any{"stateDiff": map[string]any{balanceSlot(common.Address{0x42}).Hex(): common.BigToHash(testchain.Units(7))}}})
	// The precompiles, from ecrecover to P-256.
	digest := crypto.Keccak256([]byte("lightmarket"))
	sig, _ := crypto.Sign(digest, testchain.Key1)
	ecrecover := append(append(append([]byte{}, digest...), common.LeftPadBytes([]byte{sig[64] + 27}, 32)...), sig[:64]...)
	word := func(n int64) []byte { return common.LeftPadBytes(big.NewInt(n).Bytes(), 32) }
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	g1 := cat(word(1), word(2)) // the generator of alt_bn128's G1
	blake := make([]byte, 213)
	blake[212] = 1
	for _, p := range []struct {
		addr  byte
		input []byte
	}{
		{0x01, ecrecover}, {0x01, digest},
		{0x02, []byte("hello")}, {0x03, []byte("hello")}, {0x04, []byte("hello")},
		{0x05, cat(word(1), word(1), word(1), []byte{3, 2, 5})},
		{0x06, cat(g1, g1)}, {0x06, cat(g1, word(1), word(3))},
		{0x07, cat(g1, word(2))},
		{0x08, nil}, {0x08, cat(g1, g1)},
		{0x09, blake}, {0x09, blake[:212]},
		{0x0a, make([]byte, 192)},
		{0x0b, make([]byte, 256)}, {0x0b, make([]byte, 100)},
		{0x11, make([]byte, 64)},
	} {
		add("eth_call", view(common.BytesToAddress([]byte{p.addr}), p.input))
	}
	add("eth_call", view(common.HexToAddress("0x0000000000000000000000000000000000000100"), make([]byte, 160)))
	// ecrecover moved elsewhere by an override, its address given code.
	add("eth_call", view(common.Address{0x0e, 0xc0}, ecrecover), "latest", map[string]any{
		"0x0000000000000000000000000000000000000001": map[string]any{"movePrecompileToAddress": common.Address{0x0e, 0xc0}}})
	return calls
}

// collapsingHolder returns a holder of token (the fourth of the patterns)
// whose balance slot shares its first nibble with exactly one other slot
// of the token.
func collapsingHolder(c *testchain.Chain, token common.Address) (common.Address, bool) {
	d := c.Patterns
	nibbles := make(map[byte]int)
	for _, slot := range []common.Hash{{}, common.BytesToHash([]byte{1}), common.BytesToHash([]byte{2}), balanceSlot(testchain.Addr1)} {
		nibbles[crypto.Keccak256(slot[:])[0]>>4]++
	}
	for _, h := range d.Holders {
		slot := balanceSlot(h)
		nibbles[crypto.Keccak256(slot[:])[0]>>4]++
	}
	for _, h := range d.Holders[2:] { // not Addr2 or Addr3, which spend
		slot := balanceSlot(h)
		if nibbles[crypto.Keccak256(slot[:])[0]>>4] == 2 {
			return h, true
		}
	}
	return common.Address{}, false
}

func indexOf(list []common.Address, a common.Address) int {
	for i, b := range list {
		if a == b {
			return i
		}
	}
	return -1
}

// simulateCalls are eth_simulateV1 requests over the contract patterns:
// chains of dependent calls across blocks, transfers traced as logs,
// validation, set-code authorizations, overrides, and geth's errors.
func simulateCalls(c *testchain.Chain) [][]any {
	d := c.Patterns
	var calls [][]any
	add := func(opts map[string]any, block ...any) {
		calls = append(calls, append([]any{"eth_simulateV1", opts}, block...))
	}
	type M = map[string]any
	tx := func(from, to common.Address, data []byte) M {
		return M{"from": from, "to": to, "input": hexutil.Bytes(data)}
	}
	tokenA, tokenB := d.Tokens[0], d.Tokens[1]
	a1, a2 := testchain.Addr1, testchain.Addr2
	fresh := common.HexToAddress("0xf4e5400000000000000000000000000000000001")
	// A whole balance spent by a holder whose balance slot shares its first
	// nibble with exactly one other slot: the branch above them collapses,
	// and the new state root needs the other slot's trie node, which no
	// proof of what the call read holds.
	if h, ok := collapsingHolder(c, d.Tokens[3]); ok {
		add(M{"blockStateCalls": []any{M{"calls": []any{tx(h, d.Tokens[3], testchain.Pack("Token", "transfer", a1, testchain.Units(40+int64(indexOf(d.Holders, h)))))}}}})
	}
	// Ether moving along a chain of fresh accounts, traced.
	add(M{"blockStateCalls": []any{M{
		"stateOverrides": M{fresh.Hex(): M{"balance": "0x3e8"}},
		"calls": []any{
			M{"from": fresh, "to": common.Address{0xf2}, "value": "0x3e8"},
			M{"from": common.Address{0xf2}, "to": common.Address{0xf3}, "value": "0x3e8"},
		}}}, "traceTransfers": true})
	// Approve then swap, then the quote after the swap, in one block and
	// across two; with full transactions.
	approve := tx(a1, tokenB, testchain.Pack("Token", "approve", d.Pool, testchain.Units(100)))
	swap := tx(a1, d.Pool, testchain.Pack("Pool", "swap", testchain.Units(10), false, big.NewInt(1)))
	quote := tx(a1, d.Pool, testchain.Pack("Pool", "quote", testchain.Units(10), false))
	for _, full := range []bool{false, true} {
		add(M{"blockStateCalls": []any{M{"calls": []any{approve, swap, quote}}}, "returnFullTransactions": full})
		add(M{"blockStateCalls": []any{M{"calls": []any{approve}}, M{"calls": []any{swap, quote}}}, "returnFullTransactions": full, "traceTransfers": true})
	}
	// A swap without approval: the token's custom error inside the pool's
	// call.
	add(M{"blockStateCalls": []any{M{"calls": []any{tx(common.Address{0x77}, d.Pool, testchain.Pack("Pool", "swap", testchain.Units(1), true, big.NewInt(1)))}}}})
	// Slippage.
	add(M{"blockStateCalls": []any{M{"calls": []any{approve, tx(a1, d.Pool, testchain.Pack("Pool", "swap", testchain.Units(10), false, testchain.Units(1_000)))}}}})
	// A transfer of a whole balance (its slot is deleted), then of more.
	whole := tx(a2, d.Tokens[3], testchain.Pack("Token", "transfer", a1, testchain.Units(40)))
	add(M{"blockStateCalls": []any{M{"calls": []any{whole, whole}}}, "traceTransfers": true})
	// A proxy call, a revert through the proxy, a CREATE2 deployment and a
	// call of what it deployed, across blocks with chosen numbers and
	// times.
	salt := common.Hash{0x0d}
	predicted := crypto.CreateAddress2(d.Factory, salt, crypto.Keccak256(testchain.PatternBin("Counter")))
	add(M{"blockStateCalls": []any{
		M{"blockOverrides": M{"number": hexutil.EncodeUint64(c.Head().NumberU64() + 3), "time": hexutil.EncodeUint64(c.Head().Time() + 100)},
			"calls": []any{tx(a2, d.Proxy, testchain.Pack("Counter", "increment")), tx(a2, d.Proxy, testchain.Pack("Counter", "fail", "stop"))}},
		M{"calls": []any{tx(a1, d.Factory, testchain.Pack("Factory", "deploy", salt))}},
		M{"calls": []any{tx(a2, predicted, testchain.Pack("Counter", "increment")), tx(a2, predicted, testchain.Pack("Counter", "count"))}},
	}})
	// The hashes of simulated blocks, read by BLOCKHASH in the next one.
	blockhash := hexutil.MustDecode("0x600143034060005260206000f3") // return BLOCKHASH(NUMBER-1)
	add(M{"blockStateCalls": []any{
		M{"calls": []any{}},
		M{"stateOverrides": M{"0xb10c000000000000000000000000000000000000": M{"code": hexutil.Bytes(blockhash)}},
			"calls": []any{M{"to": "0xb10c000000000000000000000000000000000000"}}},
	}})
	// A balance given by a state override, spent in a transfer.
	add(M{"blockStateCalls": []any{M{
		"stateOverrides": M{tokenA.Hex(): M{"stateDiff": M{balanceSlot(fresh).Hex(): common.BigToHash(testchain.Units(5))}}},
		"calls":          []any{tx(fresh, tokenA, testchain.Pack("Token", "transfer", a2, testchain.Units(2))), tx(fresh, tokenA, testchain.Pack("Token", "balanceOf", fresh))},
	}}})
	// Validation: a funded sender with its nonce and fees, one without
	// funds, one with a wrong nonce, and a fee under the base fee.
	head := c.Head().Header()
	fee := hexutil.EncodeBig(new(big.Int).Mul(head.BaseFee, big.NewInt(3)))
	add(M{"blockStateCalls": []any{M{"calls": []any{M{"from": a2, "to": tokenA, "input": hexutil.Bytes(testchain.Pack("Token", "transfer", a1, testchain.Units(1))), "maxFeePerGas": fee}}}}, "validation": true})
	add(M{"blockStateCalls": []any{M{"calls": []any{M{"from": common.Address{0x77}, "to": a1, "value": "0x1", "maxFeePerGas": fee}}}}, "validation": true})
	add(M{"blockStateCalls": []any{M{"calls": []any{M{"from": a2, "to": a1, "nonce": "0x0", "maxFeePerGas": fee}}}}, "validation": true})
	add(M{"blockStateCalls": []any{M{"calls": []any{M{"from": a2, "to": a1, "maxFeePerGas": "0x1"}}}}, "validation": true})
	add(M{"blockStateCalls": []any{M{"blockOverrides": M{"baseFeePerGas": "0x7"}, "calls": []any{M{"from": a2, "to": a1, "maxFeePerGas": "0x9", "maxPriorityFeePerGas": "0x1"}}}}, "validation": true})
	// Set-code: an account new to the chain delegates to the counter and
	// is called as one.
	key, _ := crypto.HexToECDSA("5e7c0de5e7c0de5e7c0de5e7c0de5e7c0de5e7c0de5e7c0de5e7c0de5e7c0de0")
	authority := crypto.PubkeyToAddress(key.PublicKey)
	auth, err := types.SignSetCode(key, types.SetCodeAuthorization{ChainID: *uint256.NewInt(testchain.ChainID), Address: d.Counter, Nonce: 0})
	if err != nil {
		panic(err)
	}
	add(M{"blockStateCalls": []any{M{"calls": []any{
		M{"from": a1, "to": authority, "authorizationList": []any{auth}, "input": hexutil.Bytes(testchain.Pack("Counter", "increment"))},
		M{"from": a1, "to": authority, "input": hexutil.Bytes(testchain.Pack("Counter", "count"))},
	}}}})
	// Geth's errors: no blocks, numbers going down, times not going up,
	// too much gas, an unknown override field, a precompile moved twice.
	add(M{"blockStateCalls": []any{}})
	add(M{"blockStateCalls": []any{M{"blockOverrides": M{"number": hexutil.EncodeUint64(c.Head().NumberU64() + 5)}}, M{"blockOverrides": M{"number": hexutil.EncodeUint64(c.Head().NumberU64() + 2)}}}})
	add(M{"blockStateCalls": []any{M{"blockOverrides": M{"time": hexutil.EncodeUint64(head.Time + 50)}}, M{"blockOverrides": M{"time": hexutil.EncodeUint64(head.Time + 50)}}}})
	add(M{"blockStateCalls": []any{M{"blockOverrides": M{"gasLimit": "0x5208"}, "calls": []any{M{"from": a1, "to": a2, "gas": "0x5209"}}}}})
	add(M{"blockStateCalls": []any{M{"stateOverrides": M{a1.Hex(): M{"balanse": "0x1"}}}}})
	add(M{"blockStateCalls": []any{M{"stateOverrides": M{
		"0x0000000000000000000000000000000000000001": M{"movePrecompileToAddress": "0x0000000000000000000000000000000000001234"},
		"0x0000000000000000000000000000000000000002": M{"movePrecompileToAddress": "0x0000000000000000000000000000000000001234"}}}}})
	// A gap in numbers: the blocks between are simulated empty.
	add(M{"blockStateCalls": []any{M{"blockOverrides": M{"number": hexutil.EncodeUint64(c.Head().NumberU64() + 20)}, "calls": []any{quote}}}})
	// At an older block and at one whose state is gone.
	add(M{"blockStateCalls": []any{M{"calls": []any{quote}}}}, hexutil.EncodeUint64(testchain.PatternsBlock+1))
	add(M{"blockStateCalls": []any{M{"calls": []any{quote}}}}, "0x10")
	return calls
}

// TestPatternsAnswerAsGeth runs the contract patterns through servers
// whose backend is a node in the same process (as the devnet's are: their
// witnesses carry every trie node a simulated block's state root needs),
// and through servers reaching it by JSON-RPC (which find the trie nodes
// a deletion needs in the node's database or by proving a key under their
// path). Every answer, state roots included, must equal the node's; the
// simulations run first, while the client holds no state.
func TestPatternsAnswerAsGeth(t *testing.T) {
	c := testchain.Generate(uint64(time.Now().Unix()) - 10*testchain.Blocks)
	n, err := testchain.NewNode(c, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	backends := map[string]func(t *testing.T, ctx context.Context) func() (chain.Backend, error){
		"state at hand": func(*testing.T, context.Context) func() (chain.Backend, error) {
			return func() (chain.Backend, error) { return devchain.NewDirect(n.Eth, n.Stack.Attach()), nil }
		},
		"JSON-RPC": func(t *testing.T, ctx context.Context) func() (chain.Backend, error) {
			return overRPC(t, ctx, func() (*rpc.Client, error) { return n.Stack.Attach(), nil })
		},
	}
	for name, backend := range backends {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			node := n.Stack.Attach()
			defer node.Close()
			ln := startLight(t, ctx, c, 2, backend(t, ctx), 0)
			calls := append(simulateCalls(c), patternCalls(c)...)
			for _, call := range calls {
				differ(t, ctx, ln.light, node, call[0].(string), call[1:]...)
			}
			noneBanned(t, ln.client)
			t.Logf("%d calls compared", len(calls))
		})
	}
}
