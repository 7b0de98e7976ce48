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
	// Where the state is gone, geth says so before it looks at the blocks.
	add(M{"blockStateCalls": []any{M{}}}, "0x10")
	add(M{"blockStateCalls": []any{M{"blockOverrides": M{"time": "0x1"}}}}, "0x10")
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
			calls := append(simulateCalls(c), specSimulateCalls(c)...)
			calls = append(calls, patternCalls(c)...)
			for _, call := range calls {
				differ(t, ctx, ln.light, node, call[0].(string), call[1:]...)
			}
			noneBanned(t, ln.client)
			t.Logf("%d calls compared", len(calls))
		})
	}
}

// Hand-assembled contracts for the simulation scenarios.
var (
	// blockProps returns NUMBER, TIMESTAMP, COINBASE, PREVRANDAO, BASEFEE,
	// GASLIMIT, CHAINID and BLOBBASEFEE.
	blockProps = hexutil.MustDecode("0x435f52426020524160405244606052486080524560a0524660c0524a60e052610100" + "5ff3")
	// hashOf, codeHashOf, balanceOf return BLOCKHASH, EXTCODEHASH and
	// BALANCE of their call data's first word.
	hashOf     = hexutil.MustDecode("0x5f35405f5260205ff3")
	codeHashOf = hexutil.MustDecode("0x5f353f5f5260205ff3")
	balanceOf  = hexutil.MustDecode("0x5f35315f5260205ff3")
	// forwarder sends its call value to the address in its call data and
	// reverts if that fails.
	forwarder = hexutil.MustDecode("0x5f5f5f5f345f355af115600e57005b5f5ffd")
	// delegator delegate-calls the address in its call data.
	delegator = hexutil.MustDecode("0x5f5f5f5f5f355af45000")
	// refuser reverts whatever it is sent.
	refuser = hexutil.MustDecode("0x5f5ffd")
	// destructor logs, then self-destructs to the address in its call data.
	destructor = hexutil.MustDecode("0x5f5fa05f35ff")
	// storer stores its call data's first word in slot 0, or without call
	// data returns slot 0.
	storer = hexutil.MustDecode("0x36600f57600054600052602060" + "00f35b600035600055" + "00")
	// spender burns all the gas it is given in a loop.
	spender = hexutil.MustDecode("0x5b5f56")
)

// specSimulateCalls are the scenarios of the execution-apis specification's
// eth_simulateV1 tests (tests/eth_simulateV1 in ethereum/execution-apis),
// written over this chain: each names the case it follows.
func specSimulateCalls(c *testchain.Chain) [][]any {
	type M = map[string]any
	type L = []any
	var calls [][]any
	add := func(opts M, block ...any) {
		calls = append(calls, append([]any{"eth_simulateV1", opts}, block...))
	}
	word := func(a common.Address) hexutil.Bytes { return common.LeftPadBytes(a[:], 32) }
	num := func(n uint64) string { return hexutil.EncodeUint64(n) }
	code := func(b []byte) M { return M{"code": hexutil.Bytes(b)} }
	head := c.Head().Header()
	a1 := testchain.Addr1
	var (
		c0 = common.HexToAddress("0xc000000000000000000000000000000000000000")
		c1 = common.HexToAddress("0xc100000000000000000000000000000000000000")
		c2 = common.HexToAddress("0xc200000000000000000000000000000000000000")
		k0 = common.HexToAddress("0xc0de000000000000000000000000000000000000")
		k1 = common.HexToAddress("0xc0de000000000000000000000000000000000001")
	)
	ecrec := common.BytesToAddress([]byte{1})
	sha := common.BytesToAddress([]byte{2})
	identity := common.BytesToAddress([]byte{4})
	digest := crypto.Keccak256([]byte("simulate"))
	sig, _ := crypto.Sign(digest, testchain.Key2)
	ecInput := hexutil.Bytes(append(append(append([]byte{}, digest...), common.LeftPadBytes([]byte{sig[64] + 27}, 32)...), sig[:64]...))
	funded := M{"balance": "0x56bc75e2d63100000"} // 100 ether

	// simple, simple-more-params-validate, two-blocks-with-complete-eth-sends,
	// transfer-over-BlockStateCalls.
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): M{"balance": "0x3e8"}}, "calls": L{M{"from": c0, "to": c1, "value": "0x3e8"}}}}})
	add(M{"blockStateCalls": L{M{"blockOverrides": M{"baseFeePerGas": "0x9"}, "stateOverrides": M{c0.Hex(): funded},
		"calls": L{M{"from": c0, "to": c1, "value": "0x3e8", "maxFeePerGas": "0xf", "maxPriorityFeePerGas": "0x1", "nonce": "0x0", "gas": "0x5208"}}}}, "validation": true})
	add(M{"blockStateCalls": L{
		M{"stateOverrides": M{c0.Hex(): funded}, "calls": L{M{"from": c0, "to": c1, "value": "0x3e8"}, M{"from": c0, "to": c2, "value": "0x3e8"}}},
		M{"calls": L{M{"from": c1, "to": c2, "value": "0x3e8"}, M{"from": c2, "to": c0, "value": "0x7d0"}}}}, "traceTransfers": true})
	// simple-no-funds(-with-validation, -with-balance-querying),
	// gas-fees-and-value-error-38014.
	add(M{"blockStateCalls": L{M{"calls": L{M{"from": c0, "to": c1, "value": "0x3e8"}}}}})
	add(M{"blockStateCalls": L{M{"calls": L{M{"from": c0, "to": c1, "value": "0x3e8", "maxFeePerGas": "0x3b9aca00"}}}}, "validation": true})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{k0.Hex(): code(balanceOf)}, "calls": L{
		M{"from": c0, "to": c1, "value": "0x3e8"}, M{"to": k0, "input": word(c0)}, M{"to": k0, "input": word(c1)}}}}})
	add(M{"blockStateCalls": L{M{"calls": L{M{"from": c0, "to": c1, "maxFeePerGas": "0x3b9aca00", "gas": "0x5208"}}}}})
	// simple-send-from-contract(-no-balance, -with-validation): a sender with
	// code.
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): M{"code": "0x00", "balance": "0x3e8"}}, "calls": L{M{"from": c0, "to": c1, "value": "0x3e8"}}}}, "traceTransfers": true})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): M{"code": "0x00"}}, "calls": L{M{"from": c0, "to": c1, "value": "0x3e8"}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): M{"code": "0x00", "balance": "0x56bc75e2d63100000"}}, "calls": L{M{"from": c0, "to": c1, "value": "0x3e8", "maxFeePerGas": "0x3b9aca00"}}}}, "validation": true})
	// simple-state, simple-state-diff, override-storage-slots,
	// set-read-storage, override-state-clears-existing-storage.
	slot0 := "0x0000000000000000000000000000000000000000000000000000000000000000"
	val := func(n byte) string { return common.BytesToHash([]byte{n}).Hex() }
	add(M{"blockStateCalls": L{
		M{"stateOverrides": M{k0.Hex(): M{"code": hexutil.Bytes(storer), "state": M{slot0: val(5)}}}, "calls": L{M{"to": k0}}},
		M{"stateOverrides": M{k0.Hex(): M{"stateDiff": M{slot0: val(6)}}}, "calls": L{M{"to": k0}, M{"from": a1, "to": k0, "input": val(7)}, M{"to": k0}}},
		M{"stateOverrides": M{k0.Hex(): M{"state": M{}}}, "calls": L{M{"to": k0}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{testchain.Store.Hex(): M{"state": M{common.BytesToHash([]byte{1}).Hex(): val(1)}}}, "calls": L{M{"to": testchain.Store}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{testchain.Store.Hex(): M{"stateDiff": M{slot0: val(9)}}}, "calls": L{M{"to": testchain.Store}}}}})
	// overwrite-existing-contract, override-code-replaced-by-create,
	// override-empties-contract-keeps-storage,
	// override-precompile-code-without-move, override-identity,
	// override-sha256.
	add(M{"blockStateCalls": L{M{"stateOverrides": M{testchain.Store.Hex(): code(hashOf)}, "calls": L{M{"to": testchain.Store, "input": hexutil.Bytes(common.BigToHash(head.Number).Bytes())}}}}})
	add(M{"blockStateCalls": L{
		M{"stateOverrides": M{testchain.Store.Hex(): M{"code": "0x"}}, "calls": L{M{"to": testchain.Store}}},
		M{"stateOverrides": M{testchain.Store.Hex(): code(storer)}, "calls": L{M{"to": testchain.Store}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{identity.Hex(): code(refuser), sha.Hex(): code(hashOf)}, "calls": L{
		M{"to": identity, "input": "0x1234"}, M{"to": sha, "input": hexutil.Bytes(common.BigToHash(head.Number).Bytes())}}}}})
	create := testchain.InitCode(storer)
	add(M{"blockStateCalls": L{M{
		"stateOverrides": M{crypto.CreateAddress(c0, 0).Hex(): code(refuser), c0.Hex(): funded},
		"calls":          L{M{"from": c0, "input": hexutil.Bytes(create)}, M{"to": crypto.CreateAddress(c0, 0)}}}}})
	// move-ecrecover-and-call(-old-and-new), move-ecrecover-twice-and-call,
	// move-to-address-itself-reference-38022,
	// move-two-accounts-to-same-38023,
	// move-two-non-precompiles-accounts-to-same, try-to-move-non-precompile,
	// override-ecrecover.
	add(M{"blockStateCalls": L{M{"stateOverrides": M{ecrec.Hex(): M{"code": hexutil.Bytes(refuser), "movePrecompileToAddress": k1}}, "calls": L{
		M{"to": k1, "input": ecInput}, M{"to": ecrec, "input": ecInput}}}}})
	add(M{"blockStateCalls": L{
		M{"stateOverrides": M{ecrec.Hex(): M{"movePrecompileToAddress": k0}}, "calls": L{M{"to": k0, "input": ecInput}}},
		M{"stateOverrides": M{ecrec.Hex(): M{"movePrecompileToAddress": k1}}, "calls": L{M{"to": k1, "input": ecInput}, M{"to": k0, "input": ecInput}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{ecrec.Hex(): M{"movePrecompileToAddress": ecrec}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{ecrec.Hex(): M{"movePrecompileToAddress": k0}, sha.Hex(): M{"movePrecompileToAddress": k0}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): M{"movePrecompileToAddress": k0}, c1.Hex(): M{"movePrecompileToAddress": k0}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{testchain.Logger.Hex(): M{"movePrecompileToAddress": k0}}, "calls": L{M{"to": k0, "input": "0x01"}}}}})
	// override-address-twice-in-separate-BlockStateCalls,
	// override-all-in-BlockStateCalls, override-block-num.
	add(M{"blockStateCalls": L{
		M{"stateOverrides": M{c0.Hex(): M{"balance": "0x1"}}, "calls": L{M{"from": c0, "to": c1, "value": "0x1"}}},
		M{"stateOverrides": M{c0.Hex(): M{"balance": "0x2"}}, "calls": L{M{"from": c0, "to": c1, "value": "0x2"}}}}})
	add(M{"blockStateCalls": L{M{"blockOverrides": M{"number": num(head.Number.Uint64() + 9), "time": num(head.Time + 99), "gasLimit": "0x1c9c380",
		"feeRecipient": c2, "prevRandao": common.Hash{0xaa}, "baseFeePerGas": "0x7", "blobBaseFee": "0x3", "withdrawals": L{M{"index": "0x0", "validatorIndex": "0x1", "address": c1, "amount": "0x5"}}},
		"stateOverrides": M{k0.Hex(): code(blockProps)}, "calls": L{M{"to": k0}, M{"to": c1}}}}})
	for _, n := range []uint64{head.Number.Uint64() - 1, head.Number.Uint64(), head.Number.Uint64() + 1, head.Number.Uint64() + 256, head.Number.Uint64() + 257} {
		// empty-with-block-num-set-(minusone, current, plus1, firstblock),
		// add-more-non-defined-BlockStateCalls-than-fit(-but-now-with-fit).
		add(M{"blockStateCalls": L{M{"blockOverrides": M{"number": num(n)}}}})
	}
	// block-timestamp-auto-increment, block-timestamp-non-increment,
	// block-timestamps-incrementing, blocknumber-increment.
	add(M{"blockStateCalls": L{M{"stateOverrides": M{k0.Hex(): code(blockProps)}, "calls": L{M{"to": k0}}}, M{"calls": L{M{"to": k0}}}, M{"blockOverrides": M{"time": num(head.Time + 100)}, "calls": L{M{"to": k0}}}}})
	add(M{"blockStateCalls": L{M{"blockOverrides": M{"time": num(head.Time + 12)}}, M{"blockOverrides": M{"time": num(head.Time + 12)}}}})
	add(M{"blockStateCalls": L{M{"blockOverrides": M{"time": num(head.Time + 1)}}, M{"blockOverrides": M{"time": num(head.Time + 2)}}, M{}}})
	add(M{"blockStateCalls": L{M{"blockOverrides": M{"time": num(head.Time)}}}})
	// blockhash-simple, blockhash-complex, blockhash-start-before-head.
	hashCall := func(n uint64) M {
		return M{"to": k0, "input": hexutil.Bytes(common.BigToHash(new(big.Int).SetUint64(n)).Bytes())}
	}
	h := head.Number.Uint64()
	add(M{"blockStateCalls": L{
		M{"stateOverrides": M{k0.Hex(): code(hashOf)}, "calls": L{hashCall(h), hashCall(h - 1), hashCall(h - 300), hashCall(h + 1)}},
		M{"blockOverrides": M{"number": num(h + 10)}, "calls": L{hashCall(h + 1), hashCall(h + 5), hashCall(h + 9), hashCall(h + 10)}},
		M{"blockOverrides": M{"number": num(h + 20)}, "calls": L{hashCall(h + 2), hashCall(h + 19), hashCall(h)}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{k0.Hex(): code(hashOf)}, "calls": L{hashCall(h - 10), hashCall(h - 20)}}}}, num(h-5))
	// check-invalid-nonce, check-that-nonce-increases,
	// transaction-too-high-nonce, transaction-too-low-nonce-38010,
	// overflow-nonce(-validation).
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): funded}, "calls": L{
		M{"from": c0, "to": c1, "nonce": "0x0", "maxFeePerGas": "0x3b9aca00"}, M{"from": c0, "to": c1, "nonce": "0x1", "maxFeePerGas": "0x3b9aca00"}}}}, "validation": true})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): funded}, "calls": L{M{"from": c0, "to": c1, "nonce": "0x1"}}}}, "validation": true})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): funded}, "calls": L{M{"from": c0, "to": c1, "nonce": "0x5"}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): M{"nonce": "0xffffffffffffffff", "balance": "0x56bc75e2d63100000"}}, "calls": L{M{"from": c0, "to": c1}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): M{"nonce": "0xffffffffffffffff", "balance": "0x56bc75e2d63100000"}}, "calls": L{M{"from": c0, "to": c1, "maxFeePerGas": "0x3b9aca00"}}}}, "validation": true})
	// basefee-too-low-with-validation-38012,
	// basefee-too-low-without-validation-38012(-without-basefee-override),
	// instrict-gas-38013, run-gas-spending, run-out-of-gas-in-block-38015.
	add(M{"blockStateCalls": L{M{"blockOverrides": M{"baseFeePerGas": "0xa"}, "stateOverrides": M{c0.Hex(): funded}, "calls": L{M{"from": c0, "to": c1, "maxFeePerGas": "0x0", "maxPriorityFeePerGas": "0x0"}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): funded}, "calls": L{M{"from": c0, "to": c1, "maxFeePerGas": "0x0", "maxPriorityFeePerGas": "0x0"}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): funded}, "calls": L{M{"from": c0, "to": c1, "gas": "0x1", "maxFeePerGas": "0x3b9aca00"}}}}, "validation": true})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): funded}, "calls": L{M{"from": c0, "to": c1, "gas": "0x1"}}}}})
	add(M{"blockStateCalls": L{
		M{"blockOverrides": M{"gasLimit": "0x16e360"}, "stateOverrides": M{k0.Hex(): code(spender)}, "calls": L{M{"to": k0, "gas": "0x7a120"}, M{"to": k0, "gas": "0x7a120"}}},
		M{"blockOverrides": M{"gasLimit": "0x16e360"}, "calls": L{M{"to": k0, "gas": "0x7a120"}, M{"to": k0, "gas": "0x7a120"}, M{"to": k0, "gas": "0x7a120"}}}}})
	add(M{"blockStateCalls": L{M{"blockOverrides": M{"gasLimit": "0x16e360"}, "stateOverrides": M{k0.Hex(): code(spender)}, "calls": L{
		M{"to": k0, "gas": "0x7a120"}, M{"to": k0, "gas": "0x7a120"}, M{"to": k0, "gas": "0x7a120"}, M{"to": k0, "gas": "0x7a120"}}}}})
	// eth-send-should-(not-)produce-logs(-by-default, -on-revert),
	// eth-send-should-produce-(more-logs-on-forward, no-logs-on-forward-revert),
	// fee-recipient-receiving-funds, precompile-is-sending-transaction.
	for _, trace := range []bool{false, true} {
		add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): funded, k0.Hex(): code(forwarder), k1.Hex(): code(refuser)}, "calls": L{
			M{"from": c0, "to": c1, "value": "0x3e8"},
			M{"from": c0, "to": k1, "value": "0x3e8"},
			M{"from": c0, "to": k0, "value": "0x3e8", "input": word(c2)},
			M{"from": c0, "to": k0, "value": "0x3e8", "input": word(k1)}}}}, "traceTransfers": trace})
	}
	add(M{"blockStateCalls": L{M{"blockOverrides": M{"feeRecipient": c2, "baseFeePerGas": "0x1"}, "stateOverrides": M{c0.Hex(): funded, k0.Hex(): code(balanceOf)}, "calls": L{
		M{"from": c0, "to": c1, "value": "0x3e8", "maxFeePerGas": "0x3b9aca00", "maxPriorityFeePerGas": "0x3b9aca00", "nonce": "0x0"},
		M{"from": c0, "to": k0, "input": word(c2), "maxFeePerGas": "0x3b9aca00", "maxPriorityFeePerGas": "0x3b9aca00", "nonce": "0x1"}}}}, "validation": true, "traceTransfers": true})
	add(M{"blockStateCalls": L{M{"calls": L{M{"from": ecrec, "to": c1}}}}})
	// send-eth-and-delegate-call(-to-eoa, -to-payble-contract),
	// self-destructing-state-override,
	// self-destructive-contract-produces-logs, contract-calls-itself.
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): funded, k0.Hex(): code(delegator), k1.Hex(): code(forwarder)}, "calls": L{
		M{"from": c0, "to": k0, "value": "0x3e8", "input": word(c1)},
		M{"from": c0, "to": k0, "value": "0x3e8", "input": word(k1)}}}}, "traceTransfers": true})
	add(M{"blockStateCalls": L{
		M{"stateOverrides": M{k0.Hex(): M{"code": hexutil.Bytes(destructor), "balance": "0x3e8"}}, "calls": L{M{"from": c0, "to": k0, "input": word(c1)}}},
		M{"stateOverrides": M{k0.Hex(): code(destructor)}, "calls": L{M{"from": c0, "to": k0, "input": word(c1)}}}}, "traceTransfers": true})
	// no-fields-call, only-from-transaction, only-from-to-transaction,
	// empty-calls-and-overrides, empty-validation.
	add(M{"blockStateCalls": L{M{"calls": L{M{}}}}})
	add(M{"blockStateCalls": L{M{"calls": L{M{"from": c0}}}}})
	add(M{"blockStateCalls": L{M{"calls": L{M{"from": c0, "to": c1}}}}})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{}, "calls": L{}}, M{"blockOverrides": M{}, "calls": L{}}}})
	add(M{"blockStateCalls": L{M{}}, "validation": true})
	// extcodehash-existing-contract, extcodehash-override,
	// extcodehash-precompile, override-empty-account-exists(-across-blocks).
	add(M{"blockStateCalls": L{
		M{"stateOverrides": M{k0.Hex(): code(codeHashOf), c1.Hex(): M{"code": "0x6001"}, c2.Hex(): M{"balance": "0x0"}}, "calls": L{
			M{"to": k0, "input": word(testchain.Logger)}, M{"to": k0, "input": word(c1)}, M{"to": k0, "input": word(ecrec)}, M{"to": k0, "input": word(c2)}, M{"to": k0, "input": word(c0)}}},
		M{"calls": L{M{"to": k0, "input": word(c2)}}}}})
	// override-code-replaced-by-delegation,
	// override-delegation-replaced-by-redelegation,
	// override-empties-delegated-account-keeps-storage: an authority's code
	// set by an override, then by an authorization.
	key, _ := crypto.HexToECDSA("5e7c0de5e7c0de5e7c0de5e7c0de5e7c0de5e7c0de5e7c0de5e7c0de5e7c0de1")
	authority := crypto.PubkeyToAddress(key.PublicKey)
	auth, _ := types.SignSetCode(key, types.SetCodeAuthorization{ChainID: *uint256.NewInt(testchain.ChainID), Address: k0, Nonce: 0})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{authority.Hex(): code(refuser), k0.Hex(): code(storer)}, "calls": L{
		M{"from": a1, "to": authority},
		M{"from": a1, "to": c1, "authorizationList": L{auth}},
		M{"from": a1, "to": authority, "input": val(3)},
		M{"from": a1, "to": authority}}}}})
	delegated := append([]byte{0xef, 0x01, 0x00}, k1[:]...)
	add(M{"blockStateCalls": L{M{"stateOverrides": M{authority.Hex(): M{"code": hexutil.Bytes(delegated), "state": M{slot0: val(4)}}, k1.Hex(): code(storer)}, "calls": L{
		M{"from": a1, "to": authority}}},
		M{"stateOverrides": M{authority.Hex(): M{"code": "0x"}}, "calls": L{M{"from": a1, "to": authority}}}}})
	// blobs: a blob transaction's gas and fees.
	blobHash := common.Hash{0x01, 0x42}
	add(M{"blockStateCalls": L{M{"blockOverrides": M{"blobBaseFee": "0x1"}, "stateOverrides": M{c0.Hex(): funded}, "calls": L{
		M{"from": c0, "to": c1, "blobVersionedHashes": L{blobHash}, "maxFeePerBlobGas": "0x2", "maxFeePerGas": "0x3b9aca00"}}}}, "validation": true})
	add(M{"blockStateCalls": L{M{"stateOverrides": M{c0.Hex(): funded}, "calls": L{
		M{"from": c0, "to": c1, "blobVersionedHashes": L{blobHash, blobHash}, "maxFeePerBlobGas": "0x1"}}}}})
	// get-block-properties, block-override-reflected-in-contract(-simple),
	// use-as-many-features-as-possible: every override and option at once.
	add(M{"blockStateCalls": L{
		M{"blockOverrides": M{"number": num(h + 2), "time": num(head.Time + 30), "feeRecipient": c1, "prevRandao": common.Hash{0xbb}, "baseFeePerGas": "0x3"},
			"stateOverrides": M{k0.Hex(): code(blockProps), c0.Hex(): funded, ecrec.Hex(): M{"movePrecompileToAddress": k1}},
			"calls": L{M{"from": c0, "to": k0, "maxFeePerGas": "0x5", "nonce": "0x0"}, M{"from": c0, "to": c2, "value": "0x1", "maxFeePerGas": "0x5", "nonce": "0x1"},
				M{"from": c0, "to": k1, "input": ecInput, "maxFeePerGas": "0x5", "nonce": "0x2"}}},
		M{"calls": L{M{"from": c0, "to": k0, "maxFeePerGas": "0x5", "nonce": "0x3"}, M{"from": c0, "to": c2, "value": "0x1", "maxFeePerGas": "0x5", "nonce": "0x4"}}}},
		"validation": true, "traceTransfers": true, "returnFullTransactions": true})
	return calls
}
