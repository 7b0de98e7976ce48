package history

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// tailOf builds the tail as of head from a chain's headers.
func tailOf(t *testing.T, headers []*types.Header, head uint64) *Tail {
	t.Helper()
	var hashes []common.Hash
	var blooms []types.Bloom
	for _, h := range headers[TailStart(head) : head+1] {
		hashes, blooms = append(hashes, h.Hash()), append(blooms, h.Bloom)
	}
	tail, err := NewTail(head, hashes, blooms)
	if err != nil {
		t.Fatal(err)
	}
	return tail
}

func TestTailProofs(t *testing.T) {
	addr := common.Address{7}
	headers, _, sections := chain(t, 3, addr)
	bits := BloomBitsOf(addr.Bytes())
	bit, unset := bits[0], 0
	for unset == bits[0] || unset == bits[1] || unset == bits[2] {
		unset++
	}
	for _, head := range []uint64{0, 999, 4095, 4096, 5000, 8191, 9000} {
		tail := tailOf(t, headers, head)
		root := tail.Root()
		for _, number := range []uint64{TailStart(head), (TailStart(head) + head) / 2, head} {
			p, ok := tail.ProveHeader(headers[number])
			if !ok {
				t.Fatalf("head %d: block %d not proven", head, number)
			}
			if err := VerifyTailHeader(root, head, number, &p); err != nil {
				t.Fatalf("head %d, block %d: %v", head, number, err)
			}
			if err := VerifyTailHeader(root, head+SectionSize, number, &p); err == nil {
				t.Fatalf("head %d: a proof accepted as of another head", head)
			}
			forged := p
			h := types.CopyHeader(p.Header)
			h.Extra = []byte("forged")
			forged.Header = h
			if err := VerifyTailHeader(root, head, number, &forged); !errors.Is(err, ErrBadProof) {
				t.Fatalf("forged header accepted: %v", err)
			}
		}
		if _, ok := tail.ProveHeader(headers[head+1]); ok {
			t.Fatalf("head %d: block after the head proven", head)
		}
		for k := TailStart(head) / SectionSize; k <= head/SectionSize; k++ {
			p, ok := tail.ProveBloom(k, bit)
			if !ok {
				t.Fatalf("head %d: section %d not in the tail", head, k)
			}
			if err := VerifyTailBloom(root, head, k, bit, &p); err != nil {
				t.Fatalf("head %d, section %d: %v", head, k, err)
			}
			// The vector is the section's own, cut at the head.
			for i := range SectionSize {
				number := k*SectionSize + uint64(i)
				set := p.Vector[i/8]&(0x80>>(i%8)) != 0
				if want := number <= head && number%1000 == 0; set != want {
					t.Fatalf("head %d: block %d's bit is %v", head, number, set)
				}
			}
			if number := k * SectionSize; number+SectionSize-1 <= head && p.HashRoot != sections[k].HashRoot() {
				t.Fatalf("head %d: complete section %d differs from the signed one", head, k)
			}
			flipped := p
			flipped.Vector = append([]byte{}, p.Vector...)
			flipped.Vector[0] ^= 1
			if err := VerifyTailBloom(root, head, k, bit, &flipped); !errors.Is(err, ErrBadProof) {
				t.Fatalf("tampered vector accepted: %v", err)
			}
			// (A section without the address has only zero vectors: any
			// bit's proof is every bit's.)
			if err := VerifyTailBloom(root, head, k, unset, &p); !errors.Is(err, ErrBadProof) && !allZero(p.Vector) {
				t.Fatalf("vector accepted for another bit: %v", err)
			}
		}
		if _, ok := tail.ProveBloom(head/SectionSize+1, bit); ok {
			t.Fatalf("head %d: a section after the tail proven", head)
		}
		if head >= SectionSize {
			if err := VerifyTailBloom(root, head, 0, bit, &TailBloomProof{Vector: make([]byte, VectorSize), BloomPath: make([]common.Hash, bloomDepth)}); head >= 2*SectionSize && !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("head %d: section 0 outside the tail: %v", head, err)
			}
		}
	}
}

func TestTailNeedsEveryBlock(t *testing.T) {
	if _, err := NewTail(5000, make([]common.Hash, 10), make([]types.Bloom, 10)); err == nil {
		t.Fatal("a tail built from too few blocks")
	}
}

func allZero(v []byte) bool {
	for _, b := range v {
		if b != 0 {
			return false
		}
	}
	return true
}
