package client

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"
)

// TestStateCacheHoldsItsBudget fills a cache the way a wallet's polling
// does (an account's proof per block, its nodes kept by hash, slots),
// decoding every proof from the wire as the client does, and checks that
// the memory it keeps is what its budget says, not a multiple of it.
func TestStateCacheHoldsItsBudget(t *testing.T) {
	const budget = 4 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	node := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	// A wire proof: four nodes, as a small state trie's (a 532-byte
	// branch, two smaller ones, a leaf), decoded into fresh slices.
	proof := func() [][]byte {
		enc, _ := rlp.EncodeToBytes([][]byte{node(532), node(340), node(180), node(110)})
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
		block := common.Hash{byte(i / 100), byte(i / 100 >> 8), byte(i / 100 >> 16)} // a hundred items a block
		addr := common.Address{byte(rng.Uint32())}
		if i%4 == 0 {
			sp := provenSlot{value: common.Hash{1}, proof: proof()}
			c.add(slotKey(block, addr, common.Hash{byte(i)}), sp)
			c.addNodes(sp.proof)
			continue
		}
		acct := provenAccount{account: &types.StateAccount{Balance: uint256.NewInt(uint64(i)), Root: types.EmptyRootHash, CodeHash: types.EmptyCodeHash[:]}, proof: proof()}
		c.add(accountKey(block, addr), acct)
		c.addNodes(acct.proof)
	}
	used := heap() - before
	ratio := float64(used) / float64(c.Bytes())
	t.Logf("budget %d, accounted %d, heap %d (%.2f of the accounted), %d items", budget, c.Bytes(), used, ratio, c.items.Len())
	if ratio > 1.15 || ratio < 0.6 {
		t.Errorf("the cache keeps %.2f times what it accounts for", ratio)
	}
	runtime.KeepAlive(c)
}
