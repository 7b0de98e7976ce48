package history

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"pgregory.net/rapid"
)

// chain makes n sections of headers; every 1000th block's bloom holds the
// address it is given.
func chain(t testing.TB, n int, addr common.Address) ([]*types.Header, *Top, []*Section) {
	t.Helper()
	var (
		headers  []*types.Header
		top      Top
		sections []*Section
		parent   common.Hash
	)
	for k := range n {
		hashes := make([]common.Hash, SectionSize)
		blooms := make([]types.Bloom, SectionSize)
		for i := range SectionSize {
			number := uint64(k*SectionSize + i)
			h := &types.Header{ParentHash: parent, Number: new(big.Int).SetUint64(number), Difficulty: big.NewInt(1)}
			if number%1000 == 0 {
				h.Bloom.Add(addr.Bytes())
			}
			headers = append(headers, h)
			parent = h.Hash()
			hashes[i], blooms[i] = parent, h.Bloom
		}
		s, err := NewSection(uint64(k), hashes, blooms)
		if err != nil {
			t.Fatal(err)
		}
		sections = append(sections, s)
		top.Append(s.Root())
	}
	return headers, &top, sections
}

func TestHeaderProofs(t *testing.T) {
	headers, top, sections := chain(t, 3, common.Address{1})
	for count := uint64(1); count <= 3; count++ {
		root := top.Root(count)
		for _, number := range []uint64{0, 1, 4095, 4096, 5000, 3*SectionSize - 1} {
			s := sections[number/SectionSize]
			if number >= count*SectionSize {
				p := ProveHeader(top, 3, s, headers[number])
				if err := VerifyHeader(root, count, number, &p); !errors.Is(err, ErrOutOfRange) {
					t.Fatalf("block %d beyond %d sections: %v", number, count, err)
				}
				continue
			}
			p := ProveHeader(top, count, s, headers[number])
			if err := VerifyHeader(root, count, number, &p); err != nil {
				t.Fatalf("count %d, block %d: %v", count, number, err)
			}
			// Another block's header, a changed header, a wrong path or a
			// proof for another count: a lie.
			other := ProveHeader(top, count, s, headers[number^1])
			if err := VerifyHeader(root, count, number, &other); !errors.Is(err, ErrBadProof) {
				t.Fatalf("another block's header accepted: %v", err)
			}
			forged := p
			h := types.CopyHeader(p.Header)
			h.Extra = []byte("forged")
			forged.Header = h
			if err := VerifyHeader(root, count, number, &forged); !errors.Is(err, ErrBadProof) {
				t.Fatalf("forged header accepted: %v", err)
			}
			if count < 3 {
				later := ProveHeader(top, 3, s, headers[number])
				if err := VerifyHeader(root, count, number, &later); !errors.Is(err, ErrBadProof) {
					t.Fatalf("proof for another count accepted: %v", err)
				}
			}
		}
	}
}

func TestBloomVectorsFollowGoEthereumsBloom(t *testing.T) {
	addr := common.Address{0xaa}
	headers, top, sections := chain(t, 1, addr)
	root := top.Root(1)
	bits := BloomBitsOf(addr.Bytes())
	for _, bit := range bits {
		p := ProveBloom(top, 1, sections[0], bit)
		if err := VerifyBloom(root, 1, 0, bit, &p); err != nil {
			t.Fatal(err)
		}
		for i, h := range headers {
			set := p.Vector[i/8]&(0x80>>(i%8)) != 0
			if want := types.BloomLookup(h.Bloom, addr); want && !set {
				t.Fatalf("block %d has the address in its bloom, bit %d not set in the vector", i, bit)
			}
		}
		p.Vector = append([]byte(nil), p.Vector...)
		p.Vector[0] ^= 1
		if err := VerifyBloom(root, 1, 0, bit, &p); !errors.Is(err, ErrBadProof) {
			t.Fatalf("changed vector accepted: %v", err)
		}
	}
}

// TestBloomBitsOf: a bloom with one value added has exactly that value's
// bits.
func TestBloomBitsOf(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		data := rapid.SliceOfN(rapid.Byte(), 1, 64).Draw(t, "data")
		var b types.Bloom
		b.Add(data)
		vectors := Transpose(append([]types.Bloom{b}, make([]types.Bloom, SectionSize-1)...))
		want := map[int]bool{}
		for _, bit := range BloomBitsOf(data) {
			want[bit] = true
		}
		for j, v := range vectors {
			if set := v[0]&0x80 != 0; set != want[j] {
				t.Fatalf("bit %d: set %v, want %v", j, set, want[j])
			}
		}
	})
}

func TestEmptyTopIsTheZeroTree(t *testing.T) {
	var top Top
	if top.Root(0) != zero[TopDepth] {
		t.Fatal("empty top")
	}
	top.Append(crypto.Keccak256Hash([]byte("s0")))
	if got, want := top.Root(0), zero[TopDepth]; got != want {
		t.Fatal("root over no sections depends on later ones")
	}
}

// TestTopAnswersForEveryCount: roots and paths over a prefix of the
// sections are those of a tree built over that prefix alone, whichever
// counts were asked for before (clients at different roots ask in turn).
func TestTopAnswersForEveryCount(t *testing.T) {
	var top Top
	for i := range 37 {
		top.Append(crypto.Keccak256Hash([]byte{byte(i)}))
	}
	fresh := func(count uint64) *Top {
		var f Top
		for _, r := range top.roots[:count] {
			f.Append(r)
		}
		return &f
	}
	for _, count := range []uint64{37, 36, 37, 5, 36, 1, 37, 20, 21, 22, 23, 36} {
		want := fresh(count)
		if top.Root(count) != want.Root(count) {
			t.Fatalf("root over %d sections differs", count)
		}
		for k := range count {
			got, exp := top.Path(count, k), want.Path(count, k)
			for d := range got {
				if got[d] != exp[d] {
					t.Fatalf("count %d, section %d: path differs at depth %d", count, k, d)
				}
			}
			if climb(top.roots[k], k, got) != top.Root(count) {
				t.Fatalf("count %d, section %d: path does not climb to the root", count, k)
			}
		}
		if len(top.trees) > topTrees {
			t.Fatalf("%d trees kept", len(top.trees))
		}
	}
}
