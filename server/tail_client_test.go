package server

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/rpcapi"
)

// TestLyingTailIsCaughtOrSetAside: two trusted servers, both needed for a
// head. A tail vector that does not lead to the signed root gets its
// server banned; a root the other trusted server did not sign gets the
// tail set aside, nobody punished. Either way the logs are the node's.
func TestLyingTailIsCaughtOrSetAside(t *testing.T) {
	for _, tt := range []struct {
		name   string
		banned bool
		alter  func(key *ecdsa.PrivateKey, chainID uint64, head common.Hash, r *protocol.Tail)
	}{
		{"vector", true, func(_ *ecdsa.PrivateKey, _ uint64, _ common.Hash, r *protocol.Tail) {
			if len(r.Vectors) > 0 {
				v := append([]byte{}, r.Vectors[0].Vector...)
				v[0] ^= 0x80
				r.Vectors[0].Vector = v
			}
		}},
		{"root", false, func(key *ecdsa.PrivateKey, chainID uint64, head common.Hash, r *protocol.Tail) {
			if r.Root == (common.Hash{}) {
				return
			}
			// Signed, but not the root the chain gives.
			r.Root[0] ^= 1
			sig, err := crypto.Sign(protocol.TailSigningHash(chainID, head, r.Number, r.Root).Bytes(), key)
			if err != nil {
				panic(err)
			}
			r.Signature = sig
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			quiet := log.NewLogger(log.DiscardHandler())
			dc := startDevChain(t)
			for range 5 {
				dc.Commit()
			}
			start := func(alter func(any), wrap func(chain.Backend) chain.Backend) (*Server, *ecdsa.PrivateKey) {
				key, _ := crypto.GenerateKey()
				srv, err := New(Config{Backend: wrap(dc.DirectBackend()), ChainConfig: dc.ChainConfig(), PrivateKey: key, Logger: quiet, alter: alter})
				if err != nil {
					t.Fatal(err)
				}
				if err := srv.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(srv.Stop)
				return srv, key
			}
			var liarKey *ecdsa.PrivateKey
			var altered atomic.Int64
			chainID := dc.ChainConfig().ChainID.Uint64()
			liar, k := start(func(reply any) {
				// Only the server asked first sends vectors.
				if r, ok := reply.(*protocol.Tail); ok && (tt.name != "vector" || len(r.Vectors) > 0) {
					h, _ := dc.DirectBackend().HeaderByNumber(context.Background(), r.Number)
					tt.alter(liarKey, chainID, h.Hash(), r)
					altered.Add(1)
				}
			}, func(b chain.Backend) chain.Backend { return b })
			liarKey = k
			honest, _ := start(nil, func(b chain.Backend) chain.Backend { return delayed{b} })
			c, err := client.New(client.Config{ChainConfig: dc.ChainConfig(), Trusted: []*enode.Node{liar.Enode(), honest.Enode()}, Fraction: 100, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			defer c.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := c.WaitHead(ctx); err != nil {
				t.Fatal(err)
			}
			for len(c.Servers()) < 2 || !c.Servers()[0].Connected || !c.Servers()[1].Connected {
				time.Sleep(10 * time.Millisecond) // both sessions up
			}
			rs, err := rpcapi.Start(rpcapi.Config{Client: c, Addr: "127.0.0.1:0", Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			light, err := rpc.DialContext(ctx, rs.URL())
			if err != nil {
				t.Fatal(err)
			}
			defer light.Close()
			head := c.Head().Number.Uint64()
			q := map[string]any{"fromBlock": "0x0", "toBlock": hexutil.EncodeUint64(head), "address": common.Address{0xee}}
			for i := 0; i < 5 && altered.Load() == 0; i++ {
				var got, want json.RawMessage
				if err := dc.RPCClient().CallContext(ctx, &want, "eth_getLogs", q); err != nil {
					t.Fatal(err)
				}
				if err := light.CallContext(ctx, &got, "eth_getLogs", q); err != nil || string(got) != string(want) {
					t.Fatalf("eth_getLogs through the client = %s, %v; want %s", got, err, want)
				}
			}
			if altered.Load() == 0 {
				t.Fatal("the liar was never asked for a tail")
			}
			for _, s := range c.Servers() {
				isLiar := s.Enode == liar.Enode().URLv4()
				if punished := s.Banned || s.Lies > 0; punished != (isLiar && tt.banned) {
					t.Errorf("server (liar %v) banned %v with %d lies", isLiar, s.Banned, s.Lies)
				}
			}
		})
	}
}
