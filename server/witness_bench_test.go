package server

import (
	"context"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/internal/testchain"
	"github.com/lightmarket/lightmarket/protocol"
)

// BenchmarkWitnessHeavy measures the witness of a portfolio view: a call
// reading 50 balances of 5 tokens, over the embedded chain's own state and
// over its JSON-RPC.
func BenchmarkWitnessHeavy(b *testing.B) {
	for _, over := range []string{"direct", "rpc"} {
		b.Run(over, func(b *testing.B) {
			srv, head, tokens, reader, holders := witnessBench(b, over == "rpc")
			params, _ := json.Marshal([]any{map[string]any{"to": reader, "input": hexutil.Bytes(testchain.Pack("Balances", "balances", tokens, holders))}})
			benchWitness(b, srv, head, params, 6)
		})
	}
}

// BenchmarkWitnessBalance measures the witness of the commonest call, one
// token balance, over the embedded chain's own state and over its
// JSON-RPC (as over an external node).
func BenchmarkWitnessBalance(b *testing.B) {
	for _, over := range []string{"direct", "rpc"} {
		b.Run(over, func(b *testing.B) {
			srv, head, tokens, _, holders := witnessBench(b, over == "rpc")
			params, _ := json.Marshal([]any{map[string]any{"to": tokens[0], "input": hexutil.Bytes(testchain.Pack("Token", "balanceOf", holders[0]))}})
			benchWitness(b, srv, head, params, 1)
		})
	}
}

func benchWitness(b *testing.B, srv *Server, head *types.Header, params []byte, accounts int) {
	ctx := context.Background()
	req := &protocol.GetWitness{ReqID: 1, BlockHash: head.Hash(), Method: "eth_call", Params: params}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w := srv.witness(ctx, req)
		if len(w.Accounts) < accounts {
			b.Fatal("short", len(w.Accounts))
		}
	}
}

// witnessBench is witnessChain and a server over it: over the chain's own
// state, or over its JSON-RPC as over an external node.
func witnessBench(b *testing.B, overRPC bool) (*Server, *types.Header, []common.Address, common.Address, []common.Address) {
	dc, tokens, reader, holders := witnessChain(b)
	ctx := context.Background()
	var backend chain.Backend = dc.DirectBackend()
	if overRPC {
		var err error
		if backend, err = dc.RPCBackend(ctx); err != nil {
			b.Fatal(err)
		}
	}
	key, _ := crypto.GenerateKey()
	srv, _ := New(Config{Backend: backend, ChainConfig: dc.ChainConfig(), PrivateKey: key, Logger: log.NewLogger(log.DiscardHandler())})
	head, _ := dc.DirectBackend().CurrentHeader(ctx)
	return srv, head, tokens, reader, holders
}

// witnessChain is a chain with five tokens, ten holders of each and a
// contract reading many balances at once (Balances).
func witnessChain(tb testing.TB) (dc *devchain.Chain, tokens []common.Address, reader common.Address, holders []common.Address) {
	dc = startDevChain(tb)
	d := dc.DirectBackend()
	ctx := context.Background()
	signer := types.LatestSignerForChainID(dc.ChainConfig().ChainID)
	nonce := uint64(0)
	send := func(to *common.Address, data []byte) common.Address {
		head, _ := d.CurrentHeader(ctx)
		tx := types.MustSignNewTx(dc.DevKey(), signer, &types.DynamicFeeTx{ChainID: dc.ChainConfig().ChainID, Nonce: nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: new(big.Int).Add(big.NewInt(1e9), new(big.Int).Mul(head.BaseFee, big.NewInt(2))), Gas: 3_000_000, To: to, Data: data})
		if err := d.SendTransaction(ctx, tx); err != nil {
			tb.Fatal(err)
		}
		nonce++
		return crypto.CreateAddress(crypto.PubkeyToAddress(dc.DevKey().PublicKey), nonce-1)
	}
	for range 5 {
		tokens = append(tokens, send(nil, testchain.Deployment("Token", "T", "T", testchain.Supply)))
	}
	reader = send(nil, testchain.Deployment("Balances"))
	dc.Commit()
	for i := range 10 {
		holders = append(holders, common.Address{0xb0, byte(i + 1)})
	}
	for _, t := range tokens {
		for _, h := range holders {
			send(&t, testchain.Pack("Token", "transfer", h, testchain.Units(1)))
		}
	}
	dc.Commit()
	return dc, tokens, reader, holders
}
