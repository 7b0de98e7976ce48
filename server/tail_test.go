package server

import (
	"bytes"
	"context"
	"math/big"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/history"
	"github.com/lightmarket/lightmarket/protocol"
)

// headerChain is a backend of headers only, whose canonical chain can be
// replaced from a block on.
type headerChain struct {
	chain.Backend
	byHash  map[common.Hash]*types.Header
	byNum   []*types.Header
	lookups atomic.Int64
}

func (hc *headerChain) extend(n int, mark byte) {
	for range n {
		h := &types.Header{Number: big.NewInt(int64(len(hc.byNum))), Difficulty: new(big.Int), Extra: []byte{mark}}
		if len(hc.byNum) > 0 {
			h.ParentHash = hc.byNum[len(hc.byNum)-1].Hash()
		}
		if len(hc.byNum)%100 == 0 {
			h.Bloom.Add([]byte{mark})
		}
		hc.byNum = append(hc.byNum, h)
		hc.byHash[h.Hash()] = h
	}
}

func (hc *headerChain) HeaderByHash(_ context.Context, h common.Hash) (*types.Header, error) {
	hc.lookups.Add(1)
	return hc.byHash[h], nil
}

func (hc *headerChain) HeaderByNumber(_ context.Context, n uint64) (*types.Header, error) {
	hc.lookups.Add(1)
	if n >= uint64(len(hc.byNum)) {
		return nil, nil
	}
	return hc.byNum[n], nil
}

// TestTailsFollowTheChain builds tails as the head moves on and as it is
// replaced, each equal to the tail built from scratch, signed, and proving
// what was asked; a head not on the chain gets an empty answer.
func TestTailsFollowTheChain(t *testing.T) {
	hc := &headerChain{byHash: make(map[common.Hash]*types.Header)}
	hc.extend(9000, 1)
	key, _ := crypto.GenerateKey()
	s := &Server{cfg: Config{Backend: hc}, key: signer{key}, chainID: 7}
	h := &historyIndex{s: s, tails: newTails(s)}
	ctx := context.Background()
	bit := history.BloomBitsOf([]byte{1})[0]
	check := func(head uint64, maxReads int) {
		t.Helper()
		hd := hc.byNum[head]
		before := hc.lookups.Load()
		got := h.tail(ctx, &protocol.GetTail{Head: hd.Hash(), Refs: []protocol.BloomBitsRef{{Section: head / history.SectionSize, Bit: uint64(bit)}},
			Numbers: []uint64{history.TailStart(head), head}})
		if reads := hc.lookups.Load() - before; reads > int64(maxReads) {
			t.Errorf("tail at %d: %d backend reads, want at most %d", head, reads, maxReads)
		}
		var hashes []common.Hash
		var blooms []types.Bloom
		for _, b := range hc.byNum[history.TailStart(head) : head+1] {
			hashes, blooms = append(hashes, b.Hash()), append(blooms, b.Bloom)
		}
		want, err := history.NewTail(head, hashes, blooms)
		if err != nil {
			t.Fatal(err)
		}
		if got.Number != head || got.Root != want.Root() {
			t.Fatalf("tail at %d: root %x as of %d, want %x", head, got.Root, got.Number, want.Root())
		}
		signer, err := protocol.TailSigner(7, hd.Hash(), head, got.Root, got.Signature)
		if err != nil || !bytes.Equal(signer, crypto.CompressPubkey(&key.PublicKey)) {
			t.Fatalf("tail at %d: signed by %x (%v)", head, signer, err)
		}
		if len(got.Vectors) != 1 || len(got.Headers) != 2 {
			t.Fatalf("tail at %d: %d vectors and %d headers", head, len(got.Vectors), len(got.Headers))
		}
		v := got.Vectors[0]
		if err := history.VerifyTailBloom(got.Root, head, head/history.SectionSize, bit, &history.TailBloomProof{Vector: v.Vector, BloomPath: v.BloomPath, HashRoot: v.HashRoot, Sibling: v.Sibling}); err != nil {
			t.Fatal(err)
		}
		for i, n := range []uint64{history.TailStart(head), head} {
			th := got.Headers[i]
			if err := history.VerifyTailHeader(got.Root, head, n, &history.TailHeaderProof{Header: th.Header, HashPath: th.HashPath, BloomRoot: th.BloomRoot, Sibling: th.Sibling}); err != nil {
				t.Fatal(err)
			}
		}
	}
	check(5000, 6000)
	check(5001, 8) // one block on: read from the last tail
	check(8999, 6000)
	// A reorganisation of the last 20 blocks.
	for _, b := range hc.byNum[8980:] {
		delete(hc.byHash, b.Hash())
	}
	hc.byNum = hc.byNum[:8980]
	hc.extend(25, 2)
	check(9004, 40)
	if got := h.tail(ctx, &protocol.GetTail{Head: common.Hash{0xde, 0xad}}); got.Root != (common.Hash{}) || got.Signature != nil {
		t.Fatalf("tail of an unknown head: %+v", got)
	}
}
