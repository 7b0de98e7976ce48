package history

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"pgregory.net/rapid"
)

// syntheticSections makes n sections of made-up block hashes and blooms
// (no headers to hash: quicker than chain) and the tree over them.
func syntheticSections(t testing.TB, n int) (*Top, []*Section) {
	t.Helper()
	var top Top
	sections := make([]*Section, n)
	for k := range sections {
		hashes := make([]common.Hash, SectionSize)
		blooms := make([]types.Bloom, SectionSize)
		for i := range hashes {
			hashes[i] = common.Hash{byte(k), byte(i), byte(i >> 8)}
			blooms[i][i%types.BloomByteLength] = byte(k + 1)
		}
		s, err := NewSection(uint64(k), hashes, blooms)
		if err != nil {
			t.Fatal(err)
		}
		sections[k] = s
		top.Append(s.Root())
	}
	return &top, sections
}

// TestReplyIsSoundAndComplete checks a Reply over any sequence of honest
// and forged section proofs with whole paths: it accepts every honest
// proof, and accepts a section's roots only when they are the section's (a
// forged path may pass once the section is proven by others: its roots are
// still the true ones).
func TestReplyIsSoundAndComplete(t *testing.T) {
	const n = 7 // sections: an odd count, so the last has a zero sibling
	top, sections := syntheticSections(t, n)
	root := top.Root(n)
	rapid.Check(t, func(t *rapid.T) {
		r := NewVerifier(root, n).Reply()
		for range rapid.IntRange(1, 30).Draw(t, "proofs") {
			k := rapid.Uint64Range(0, n).Draw(t, "section") // n is beyond the signed ones
			var hashRoot, bloomRoot common.Hash
			var path []common.Hash
			if k < n {
				s := sections[k]
				hashRoot, bloomRoot, path = s.HashRoot(), s.BloomRoot(), top.Path(n, k)
			} else {
				path = make([]common.Hash, TopDepth)
			}
			honest := k < n
			switch rapid.IntRange(0, 4).Draw(t, "forgery") {
			case 1:
				hashRoot[rapid.IntRange(0, 31).Draw(t, "byte")] ^= 1
				honest = false
			case 2:
				bloomRoot[0] ^= 0x80
				honest = false
			case 3:
				path = append([]common.Hash(nil), path...)
				path[rapid.IntRange(0, TopDepth-1).Draw(t, "level")][7] ^= 4
			case 4:
				path = nil
			}
			err := r.Section(k, hashRoot, bloomRoot, path)
			if err == nil && !honest {
				t.Fatalf("section %d: forged roots accepted", k)
			}
			if err != nil && honest && len(path) == TopDepth && VerifySection(root, n, k, hashRoot, bloomRoot, path) == nil {
				t.Fatalf("section %d: an honest proof refused: %v", k, err)
			}
			if err != nil && !errors.Is(err, ErrBadProof) && !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("section %d: unexpected error %v", k, err)
			}
		}
	})
}

// TestSharedPaths checks the paths of one reply cut as Top.SharedPaths
// cuts them, checked in order by a Reply: every honest reply passes whole,
// and a forged proof is refused unless its roots are the section's true
// ones (a forged sibling above where the climb stops is never read). A
// path cut one hash shorter than the server's rule allows is refused.
func TestSharedPaths(t *testing.T) {
	_, all := syntheticSections(t, 40)
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, len(all)).Draw(t, "sections")
		sections := all[:n]
		top := new(Top)
		for _, s := range sections {
			top.Append(s.Root())
		}
		root := top.Root(uint64(n))
		v := NewVerifier(root, uint64(n))
		ks := rapid.SliceOfN(rapid.Uint64Range(0, uint64(n-1)), 1, 12).Draw(t, "reply")
		paths := top.SharedPaths(uint64(n), ks)
		if len(paths[0]) != TopDepth {
			t.Fatalf("first path of %d hashes", len(paths[0]))
		}
		forge := rapid.IntRange(-1, len(ks)-1).Draw(t, "forged proof")
		how := rapid.IntRange(0, 2).Draw(t, "forgery")
		r := v.Reply()
		for i, k := range ks {
			s := sections[k]
			hashRoot, bloomRoot, path := s.HashRoot(), s.BloomRoot(), paths[i]
			whole := top.Path(uint64(n), k)
			for l, h := range path {
				if h != whole[l] {
					t.Fatalf("proof %d: level %d differs from the whole path", i, l)
				}
			}
			honest := true
			if i == forge {
				switch {
				case how == 0:
					hashRoot[3] ^= 1
					honest = false
				case how == 1 && len(path) > 0:
					path = append([]common.Hash(nil), path...)
					path[rapid.IntRange(0, len(path)-1).Draw(t, "level")][5] ^= 2
				case len(path) > 0:
					path = path[:len(path)-1]
				}
			}
			err := r.Section(k, hashRoot, bloomRoot, path)
			if i != forge && err != nil {
				t.Fatalf("honest proof %d (section %d, path of %d) refused: %v", i, k, len(path), err)
			}
			if i == forge && err == nil && !honest {
				t.Fatalf("proof %d: forged roots of section %d accepted", i, k)
			}
			if i == forge && err == nil && how == 2 && len(paths[i]) > 0 {
				t.Fatalf("proof %d: a path cut below the rule's end accepted", i)
			}
			if i == forge && err != nil {
				if !errors.Is(err, ErrBadProof) {
					t.Fatalf("proof %d: unexpected error %v", i, err)
				}
				return // a client drops the whole reply
			}
		}
	})
}

// TestReplyHeaders checks header proofs through a Reply, with whole
// paths and (the second round) once the sections' nodes are proven: honest
// proofs pass, forged headers and other blocks' headers do not.
func TestReplyHeaders(t *testing.T) {
	headers, top, sections := chain(t, 3, common.Address{1})
	root := top.Root(3)
	v := NewVerifier(root, 3).Reply()
	for round := range 2 { // the second round finds every section proven
		for _, number := range []uint64{0, 1, 4095, 4096, 5000, 3*SectionSize - 1} {
			s := sections[number/SectionSize]
			p := ProveHeader(top, 3, s, headers[number])
			if err := v.Header(number, &p); err != nil {
				t.Fatalf("round %d, block %d: %v", round, number, err)
			}
			other := ProveHeader(top, 3, s, headers[number^1])
			if err := v.Header(number, &other); !errors.Is(err, ErrBadProof) {
				t.Fatalf("round %d: another block's header accepted: %v", round, err)
			}
			forged := p
			h := types.CopyHeader(p.Header)
			h.Extra = []byte("forged")
			forged.Header = h
			if err := v.Header(number, &forged); !errors.Is(err, ErrBadProof) {
				t.Fatalf("round %d: forged header accepted: %v", round, err)
			}
		}
	}
	if err := v.Header(3*SectionSize, &HeaderProof{Header: headers[0]}); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("block beyond the sections: %v", err)
	}
}

// BenchmarkSectionProofs proves the roots of 24 consecutive sections (a
// log search over 100,000 blocks), each with its own whole path as
// VerifySection does, and as one reply of paths cut as servers cut them.
func BenchmarkSectionProofs(b *testing.B) {
	const n = 24
	top, sections := syntheticSections(b, n)
	root := top.Root(n)
	paths := make([][]common.Hash, n)
	for k := range paths {
		paths[k] = top.Path(n, uint64(k))
	}
	b.Run("each path", func(b *testing.B) {
		for b.Loop() {
			for k, s := range sections {
				if err := VerifySection(root, n, uint64(k), s.HashRoot(), s.BloomRoot(), paths[k]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	shared := top.SharedPaths(n, func() (ks []uint64) {
		for k := range uint64(n) {
			ks = append(ks, k)
		}
		return ks
	}())
	b.Run("reply", func(b *testing.B) {
		for b.Loop() {
			r := NewVerifier(root, n).Reply()
			for k, s := range sections {
				if err := r.Section(uint64(k), s.HashRoot(), s.BloomRoot(), shared[k]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
