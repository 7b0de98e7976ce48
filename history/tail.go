package history

import (
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// The tail is the recent end of the chain, which complete sections do not
// cover yet: as of a head H in section P, the sections P−1 and P, section
// P cut at H (the blocks after H count as a zero hash and an empty bloom).
// Its root, pair(root of section P−1, root of section P) with a zero hash
// for section −1, is deterministic for a head, so that trusted servers
// sign the same root for the same head without any agreement but the
// head's; the signed sections always reach it, since a section is signed
// HistoryConfirmations (far less than SectionSize) blocks after it ends.

// TailStart is the first block of the tail as of head.
func TailStart(head uint64) uint64 {
	if p := head / SectionSize; p > 0 {
		return (p - 1) * SectionSize
	}
	return 0
}

// Tail is the two sections of the tail as of a head.
type Tail struct {
	Head     uint64
	Sections [2]*Section // P−1 (nil when P = 0) and P
}

// NewTail builds the tail as of head from the hashes and blooms of its
// blocks, TailStart(head) to head in order.
func NewTail(head uint64, hashes []common.Hash, blooms []types.Bloom) (*Tail, error) {
	return NewTailFrom(head, hashes, blooms, nil)
}

// NewTailFrom is NewTail taking section P−1 from prev when it is the same
// complete section (its index and blocks' hashes), rather than building
// it again.
func NewTailFrom(head uint64, hashes []common.Hash, blooms []types.Bloom, prev *Section) (*Tail, error) {
	start := TailStart(head)
	if n := head - start + 1; uint64(len(hashes)) != n || uint64(len(blooms)) != n {
		return nil, fmt.Errorf("history: tail at %d needs %d hashes and blooms, got %d and %d", head, n, len(hashes), len(blooms))
	}
	t := &Tail{Head: head}
	p := head / SectionSize
	for i, k := range []uint64{p - 1, p} {
		if i == 0 && p == 0 {
			continue
		}
		first := k * SectionSize
		if i == 0 && prev != nil && prev.Index == k && slices.Equal(prev.Hashes, hashes[:SectionSize]) {
			t.Sections[0] = prev
			continue
		}
		hs := make([]common.Hash, SectionSize)
		bs := make([]types.Bloom, SectionSize)
		if first <= head {
			n := copy(hs, hashes[first-start:])
			copy(bs, blooms[first-start:first-start+uint64(n)])
		}
		s, err := NewSection(k, hs, bs)
		if err != nil {
			return nil, err
		}
		t.Sections[i] = s
	}
	return t, nil
}

func (t *Tail) sectionRoot(i int) common.Hash {
	if t.Sections[i] == nil {
		return common.Hash{}
	}
	return t.Sections[i].Root()
}

// Root is the tail's root.
func (t *Tail) Root() common.Hash { return pair(t.sectionRoot(0), t.sectionRoot(1)) }

// section returns the tail's section k and its position (0 or 1).
func (t *Tail) section(k uint64) (*Section, int, bool) {
	for i, s := range t.Sections {
		if s != nil && s.Index == k {
			return s, i, true
		}
	}
	return nil, 0, false
}

// TailBloomProof proves one bloom bit's vector over one of a tail's
// sections: the path to the section's bloom root, its hash root and the
// other section's root.
type TailBloomProof struct {
	Vector    []byte        // VectorSize bytes
	BloomPath []common.Hash // bloomDepth siblings
	HashRoot  common.Hash
	Sibling   common.Hash
}

// ProveBloom proves bit's vector over section k of the tail (ok false
// when k is not one of its sections).
func (t *Tail) ProveBloom(k uint64, bit int) (TailBloomProof, bool) {
	s, i, ok := t.section(k)
	if !ok || bit < 0 || bit >= BloomBits {
		return TailBloomProof{}, false
	}
	s.trees()
	return TailBloomProof{Vector: s.Blooms[bit], BloomPath: path(s.bloomTree, bit), HashRoot: s.HashRoot(), Sibling: t.sectionRoot(1 - i)}, true
}

// TailHeaderProof proves a header's place in a tail: the path to its
// section's hash root, the section's bloom root and the other section's
// root.
type TailHeaderProof struct {
	Header    *types.Header
	HashPath  []common.Hash // hashDepth siblings
	BloomRoot common.Hash
	Sibling   common.Hash
}

// ProveHeader proves the header of a block of the tail (ok false when it
// is not one, or header is not the tail's block).
func (t *Tail) ProveHeader(header *types.Header) (TailHeaderProof, bool) {
	n := header.Number.Uint64()
	s, i, ok := t.section(n / SectionSize)
	if !ok || n > t.Head || s.Hashes[n%SectionSize] != header.Hash() {
		return TailHeaderProof{}, false
	}
	s.trees()
	return TailHeaderProof{Header: header, HashPath: path(s.hashTree, int(n%SectionSize)), BloomRoot: s.BloomRoot(), Sibling: t.sectionRoot(1 - i)}, true
}

// tailPosition is where section k sits in the tail as of head: 0 for
// P−1, 1 for P.
func tailPosition(head, k uint64) (int, error) {
	p := head / SectionSize
	switch {
	case k == p:
		return 1, nil
	case p > 0 && k == p-1:
		return 0, nil
	}
	return 0, fmt.Errorf("%w: section %d is not in the tail as of block %d", ErrOutOfRange, k, head)
}

// climbTail computes a tail's root from section k's root.
func climbTail(head, k uint64, sectionRoot, sibling common.Hash) (common.Hash, error) {
	i, err := tailPosition(head, k)
	if err != nil {
		return common.Hash{}, err
	}
	if i == 0 {
		return pair(sectionRoot, sibling), nil
	}
	return pair(sibling, sectionRoot), nil
}

// VerifyTailBloom checks that p proves the vector of bit over section k
// of the tail whose root is root as of head. Bits of blocks after head are
// the caller's to ignore.
func VerifyTailBloom(root common.Hash, head, k uint64, bit int, p *TailBloomProof) error {
	if bit < 0 || bit >= BloomBits || len(p.Vector) != VectorSize || len(p.BloomPath) != bloomDepth {
		return fmt.Errorf("%w: malformed tail bloom proof", ErrBadProof)
	}
	bloomRoot := climbVector(p.Vector, bit, p.BloomPath)
	got, err := climbTail(head, k, SectionRoot(k, p.HashRoot, bloomRoot), p.Sibling)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("%w: bloom bit %d of tail section %d", ErrBadProof, bit, k)
	}
	return nil
}

// VerifyTailHeader checks that p proves the header of block number in the
// tail whose root is root as of head.
func VerifyTailHeader(root common.Hash, head, number uint64, p *TailHeaderProof) error {
	if number > head {
		return fmt.Errorf("%w: block %d is after the tail's head %d", ErrOutOfRange, number, head)
	}
	if p.Header == nil || p.Header.Number == nil || !p.Header.Number.IsUint64() || p.Header.Number.Uint64() != number {
		return fmt.Errorf("%w: header for another block than %d", ErrBadProof, number)
	}
	if len(p.HashPath) != hashDepth {
		return fmt.Errorf("%w: path of %d hashes, want %d", ErrBadProof, len(p.HashPath), hashDepth)
	}
	k := number / SectionSize
	hashRoot := climb(p.Header.Hash(), number%SectionSize, p.HashPath)
	got, err := climbTail(head, k, SectionRoot(k, hashRoot, p.BloomRoot), p.Sibling)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("%w: header of tail block %d", ErrBadProof, number)
	}
	return nil
}
