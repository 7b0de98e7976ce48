package server

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/lightmarket/lightmarket/protocol"
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
			dc := startDevChain(t)
			for range 5 {
				dc.Commit()
			}
			var (
				liarKey atomic.Pointer[ecdsa.PrivateKey] // set once the liar is up
				altered atomic.Int64
			)
			chainID := dc.ChainConfig().ChainID.Uint64()
			ts := startLiarAndHonest(t, dc, 100, func(reply any) {
				// Only the server asked first sends vectors.
				if r, ok := reply.(*protocol.Tail); ok && (tt.name != "vector" || len(r.Vectors) > 0) {
					h, _ := dc.DirectBackend().HeaderByNumber(context.Background(), r.Number)
					tt.alter(liarKey.Load(), chainID, h.Hash(), r)
					altered.Add(1)
				}
			})
			liarKey.Store(ts.liarKey)
			ctx, c, liar, light := ts.ctx, ts.client, ts.liar, ts.light
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
