package bench

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/devnet"
	"github.com/lightmarket/lightmarket/internal/testchain"
)

// coldRounds is how many new blocks each cold execution is measured at.
const coldRounds = 30

// portfolio is what the execution benchmark deploys: tokens held by
// holders, and a reader of all their balances at once.
type portfolio struct {
	tokens   []common.Address
	holders  []common.Address
	balances common.Address
}

// deployPortfolio deploys 5 tokens (Patterns.sol's) and the balance
// reader, and gives 10 holders some of every token.
func deployPortfolio(ctx context.Context, d *devnet.Devnet, light *rpc.Client) (*portfolio, error) {
	var txs []txSpec
	for i := range 5 {
		name := fmt.Sprintf("Bench %c", 'A'+i)
		txs = append(txs, txSpec{gas: 3_000_000, data: testchain.Deployment("Token", name, name[len(name)-1:], testchain.Supply)})
	}
	txs = append(txs, txSpec{gas: 3_000_000, data: testchain.Deployment("Balances")})
	rs, err := send(ctx, d, light, txs)
	if err != nil {
		return nil, fmt.Errorf("deploying the portfolio: %w", err)
	}
	p := &portfolio{balances: rs[5].ContractAddress}
	for _, r := range rs[:5] {
		p.tokens = append(p.tokens, r.ContractAddress)
	}
	for i := range 10 {
		p.holders = append(p.holders, common.Address{0xb0, byte(i + 1)})
	}
	txs = txs[:0]
	for i, token := range p.tokens {
		for j, h := range p.holders {
			txs = append(txs, txSpec{to: &token, gas: 100_000, data: testchain.Pack("Token", "transfer", h, testchain.Units(int64(100*i+j+1)))})
		}
	}
	if _, err := send(ctx, d, light, txs); err != nil {
		return nil, fmt.Errorf("funding the holders: %w", err)
	}
	return p, nil
}

// callDelay is how long after a new head the call of a round is made: a
// wallet calls on its own schedule, at any moment of a block's interval,
// so the rounds spread their calls over 20 to 180 ms after the head (the
// devnet makes a block every 200 ms).
func callDelay(round int) time.Duration {
	return 20*time.Millisecond + time.Duration(round*37%160)*time.Millisecond
}

// execOp is an execution measured at new blocks.
type execOp struct {
	method string
	// args gives the parameters at a block; round makes them new (a call
	// never made before) when first is set.
	args  func(block string, round int, first bool) []any
	light []time.Duration
	node  []time.Duration
	trips int64
	// beyond counts proofs and codes fetched after the witness.
	beyond int64
}

func (op *execOp) p50Ratio() float64 { return pct(op.light, 50) / pct(op.node, 50) }

// benchExecution measures eth_call (of the store contract, and of a view
// reading 50 balances of 5 tokens), eth_estimateGas and eth_simulateV1 at
// new blocks, each the same call at every block ("cold": polled at the
// head) and a call never made before ("first"), through the client and
// straight to the node.
func benchExecution(ctx context.Context, d *devnet.Devnet, light, node *rpc.Client, res *RPCResult, store common.Address) error {
	p, err := deployPortfolio(ctx, d, light)
	if err != nil {
		return err
	}
	dev := crypto.PubkeyToAddress(d.DevKey.PublicKey)
	word := func(round int, first bool) hexutil.Bytes {
		if !first {
			return nil
		}
		return common.BigToHash(big.NewInt(int64(round + 1))).Bytes()
	}
	amount := func(round int, first bool) *big.Int {
		if !first {
			return testchain.Units(1)
		}
		return new(big.Int).Add(testchain.Units(1), big.NewInt(int64(round+1)))
	}
	holders := func(round int, first bool) []common.Address {
		if !first {
			return p.holders
		}
		k := round % len(p.holders)
		return append(slices.Clone(p.holders[k:]), p.holders[:k]...)
	}
	newOps := func() []*execOp {
		return []*execOp{
			{method: "eth_call", args: func(b string, r int, first bool) []any {
				return []any{map[string]any{"from": dev, "to": store, "input": word(r, first)}, b}
			}},
			{method: "eth_estimateGas", args: func(b string, r int, first bool) []any {
				return []any{map[string]any{"from": dev, "to": p.tokens[0], "input": hexutil.Bytes(testchain.Pack("Token", "transfer", p.holders[0], amount(r, first)))}, b}
			}},
			{method: "eth_simulateV1", args: func(b string, r int, first bool) []any {
				return []any{map[string]any{"blockStateCalls": []any{map[string]any{"calls": []any{
					map[string]any{"from": dev, "to": p.tokens[1], "input": hexutil.Bytes(testchain.Pack("Token", "approve", p.holders[1], amount(r, first)))},
					map[string]any{"from": dev, "to": p.tokens[1], "input": hexutil.Bytes(testchain.Pack("Token", "transfer", p.holders[1], amount(r, first)))},
				}}}, "traceTransfers": true}, b}
			}},
			{method: "eth_call", args: func(b string, r int, first bool) []any {
				return []any{map[string]any{"to": p.balances, "input": hexutil.Bytes(testchain.Pack("Balances", "balances", p.tokens, holders(r, first)))}, b}
			}},
		}
	}
	cold, first := newOps(), newOps()
	heads := make(chan *types.Header, 16)
	sub := d.Client.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	// Each block serves one operation, in turn: first the new calls, at
	// the block by number (before any call is polled, so that nothing is
	// prefetched), then the repeated ones at "latest".
	phases := []struct {
		ops   []*execOp
		first bool
	}{{first, true}, {cold, false}}
	for _, phase := range phases {
		for round := range coldRounds * len(phase.ops) {
			var h *types.Header
			select {
			case h = <-heads:
			case <-ctx.Done():
				return ctx.Err()
			}
			for len(heads) > 0 {
				h = <-heads
			}
			op, block := phase.ops[round%len(phase.ops)], "latest"
			if phase.first {
				block = hexutil.EncodeBig(h.Number)
			}
			time.Sleep(callDelay(round))
			args := op.args(block, round, phase.first)
			var out any
			lightCall := func() error {
				trips, fetches := d.Client.StateRequests(), d.Client.Fetches()
				t0 := time.Now()
				if err := light.CallContext(ctx, &out, op.method, args...); err != nil {
					return fmt.Errorf("%s: %w", op.method, err)
				}
				op.light = append(op.light, time.Since(t0))
				op.trips += d.Client.StateRequests() - trips
				op.beyond += d.Client.Fetches() - fetches
				return nil
			}
			nodeCall := func() error {
				t0 := time.Now()
				if err := node.CallContext(ctx, &out, op.method, args...); err != nil {
					return fmt.Errorf("%s on the node: %w", op.method, err)
				}
				op.node = append(op.node, time.Since(t0))
				return nil
			}
			// Whichever goes first meets a machine waking up: alternate.
			calls := []func() error{lightCall, nodeCall}
			if round/len(phase.ops)%2 == 1 {
				calls[0], calls[1] = calls[1], calls[0]
			}
			for _, call := range calls {
				if err := call(); err != nil {
					return err
				}
			}
		}
	}
	res.CallColdP50Ms, res.CallColdP50Ratio = pct(cold[0].light, 50), cold[0].p50Ratio()
	res.CallColdRoundTrips = float64(cold[0].trips) / coldRounds
	res.CallFirstP50Ms, res.CallFirstP50Ratio = pct(first[0].light, 50), first[0].p50Ratio()
	res.CallFirstRoundTrips = float64(first[0].trips) / coldRounds
	res.EstimateGasColdP50Ms, res.EstimateGasColdP50Ratio = pct(cold[1].light, 50), cold[1].p50Ratio()
	res.EstimateGasFirstP50Ratio = first[1].p50Ratio()
	res.SimulateP50Ms, res.SimulateP50Ratio = pct(cold[2].light, 50), cold[2].p50Ratio()
	res.SimulateFirstP50Ratio = first[2].p50Ratio()
	res.CallHeavyColdP50Ms, res.CallHeavyColdP50Ratio = pct(cold[3].light, 50), cold[3].p50Ratio()
	res.CallHeavyFirstP50Ratio = first[3].p50Ratio()
	res.CallHeavyFirstRoundTrips = float64(first[3].trips) / coldRounds
	var beyond int64
	for _, op := range first {
		beyond += op.beyond
	}
	res.WitnessFetchesBeyond = float64(beyond) / float64(coldRounds*len(first))
	return nil
}
