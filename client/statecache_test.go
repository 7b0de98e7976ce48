package client

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"

	"github.com/lightmarket/lightmarket/verify"
)

// TestStateCacheHoldsItsBudget fills a cache the way a wallet's polling
// does (an account's proof a call, a hundred calls a block, a slot now
// and then), decoding every proof from the wire as the client does, and
// checks that the memory it keeps is what its budget says, not a multiple
// of it: when a block's proofs share their upper nodes (as they do: the
// state root is in every one) and when no two proofs share a node.
func TestStateCacheHoldsItsBudget(t *testing.T) {
	const budget = 4 << 20
	for _, shared := range []bool{true, false} {
		rng := rand.New(rand.NewPCG(1, 2))
		node := func(n int, seed ...uint64) []byte {
			r := rng
			if len(seed) > 0 {
				r = rand.New(rand.NewPCG(seed[0], seed[1]))
			}
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return b
		}
		// A wire proof of a small state trie: the root (a full branch, new
		// each block), a second-level branch (one of 16, new each block), a
		// short node, the account's leaf; decoded into fresh slices.
		proof := func(block, account uint64) [][]byte {
			nodes := [][]byte{node(532), node(532), node(180), node(110)}
			if shared {
				nodes = [][]byte{node(532, block, 0), node(532, block, 1+account%16), node(180, account, 1), node(110, account, 2)}
			}
			enc, _ := rlp.EncodeToBytes(nodes)
			var p [][]byte
			if err := rlp.DecodeBytes(enc, &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		heap := func() uint64 {
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		before := heap()
		c := newStateCache(budget, nil)
		for i := range 30_000 {
			b, a := uint64(i/100), uint64(rng.IntN(256)) // a hundred calls a block, 256 accounts
			block, addr := common.Hash{byte(b), byte(b >> 8), byte(b >> 16)}, common.Address{byte(a)}
			if i%4 == 0 {
				sp := provenSlot{value: common.Hash{1}, proof: proof(b, a)}
				_, hashes := verify.HashNodes(sp.proof)
				c.addNodes(sp.proof, hashes)
				c.add(slotKey(block, addr, common.Hash{byte(i)}), sp)
				continue
			}
			acct := provenAccount{account: &types.StateAccount{Balance: uint256.NewInt(uint64(i)), Root: types.EmptyRootHash, CodeHash: types.EmptyCodeHash[:]}, proof: proof(b, a)}
			_, hashes := verify.HashNodes(acct.proof)
			c.addNodes(acct.proof, hashes)
			c.add(accountKey(block, addr), acct)
		}
		used := heap() - before
		ratio := float64(used) / float64(c.Bytes())
		t.Logf("shared nodes %v: budget %d, accounted %d, heap %d (%.2f of the accounted), %d items", shared, budget, c.Bytes(), used, ratio, c.items.Len())
		if ratio > 1.15 || ratio < 0.8 {
			t.Errorf("shared nodes %v: the cache keeps %.2f times what it accounts for", shared, ratio)
		}
		runtime.KeepAlive(c)
	}
}
