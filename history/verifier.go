package history

import (
	"fmt"
	"sync"

	"github.com/ethereum/go-ethereum/common"
)

// A Verifier checks proofs against one signed root, as VerifySection and
// VerifyHeader do, and remembers what it has proven: the roots of proven
// sections, and every node of the tree over sections that a proven path
// computed or named. A proof that reaches a node already proven stops
// there, so that the sections of a range (siblings and cousins in the
// tree) climb to the root about once between them, not once each. It is
// safe for concurrent use.
type Verifier struct {
	root  common.Hash
	count uint64

	mu       sync.Mutex
	sections map[uint64][2]common.Hash // proven hash and bloom roots
	nodes    map[topNode]common.Hash   // proven nodes of the tree over sections
}

// topNode is a node's place in the tree over sections: its level (0 for
// the section roots) and index in that level.
type topNode struct {
	level uint8
	index uint64
}

// maxProven bounds what a Verifier remembers (about 3 MB); past it, it
// starts over.
const maxProven = 1 << 15

// NewVerifier returns a Verifier for the root signed for count sections.
func NewVerifier(root common.Hash, count uint64) *Verifier {
	return &Verifier{root: root, count: count, sections: make(map[uint64][2]common.Hash), nodes: make(map[topNode]common.Hash)}
}

// Root is the signed root and the number of sections it covers.
func (v *Verifier) Root() (common.Hash, uint64) { return v.root, v.count }

// Section checks, as VerifySection does, that section k's two roots lead
// through path to the signed root.
func (v *Verifier) Section(k uint64, hashRoot, bloomRoot common.Hash, path []common.Hash) error {
	if k >= v.count {
		return fmt.Errorf("%w: section %d, %d signed", ErrOutOfRange, k, v.count)
	}
	v.mu.Lock()
	s, ok := v.sections[k]
	v.mu.Unlock()
	if ok && s == [2]common.Hash{hashRoot, bloomRoot} {
		return nil // the path is not needed (a server sends it with a section's first vector only)
	}
	if len(path) != TopDepth {
		return fmt.Errorf("%w: section path of %d hashes, want %d", ErrBadProof, len(path), TopDepth)
	}
	// Climb until a proven node (or the root): the nodes computed on the
	// way, and their siblings, are proven once it matches.
	var climbed [TopDepth + 1]common.Hash
	node, index := SectionRoot(k, hashRoot, bloomRoot), k
	h := hashers.Get().(*hasher)
	defer hashers.Put(h)
	level := 0
	for ; level < TopDepth; level++ {
		v.mu.Lock()
		proven, ok := v.nodes[topNode{uint8(level), index}]
		v.mu.Unlock()
		if ok {
			if proven != node {
				return fmt.Errorf("%w: section %d", ErrBadProof, k)
			}
			break
		}
		climbed[level] = node
		if index&1 == 0 {
			node = h.pair(node, path[level])
		} else {
			node = h.pair(path[level], node)
		}
		index >>= 1
	}
	if level == TopDepth && node != v.root {
		return fmt.Errorf("%w: section %d", ErrBadProof, k)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.nodes)+2*level > maxProven {
		clear(v.nodes)
		clear(v.sections)
	}
	for l, index := 0, k; l < level; l, index = l+1, index>>1 {
		v.nodes[topNode{uint8(l), index}] = climbed[l]
		v.nodes[topNode{uint8(l), index ^ 1}] = path[l]
	}
	v.sections[k] = [2]common.Hash{hashRoot, bloomRoot}
	return nil
}

// Header checks, as VerifyHeader does, that p proves a header of block
// number.
func (v *Verifier) Header(number uint64, p *HeaderProof) error {
	if number >= v.count*SectionSize {
		return fmt.Errorf("%w: block %d, %d sections signed", ErrOutOfRange, number, v.count)
	}
	if p.Header == nil || p.Header.Number == nil || !p.Header.Number.IsUint64() || p.Header.Number.Uint64() != number {
		return fmt.Errorf("%w: header for another block than %d", ErrBadProof, number)
	}
	if len(p.HashPath) != hashDepth || len(p.SectionPath) != TopDepth {
		return fmt.Errorf("%w: paths of %d and %d hashes, want %d and %d", ErrBadProof, len(p.HashPath), len(p.SectionPath), hashDepth, TopDepth)
	}
	hashRoot := climb(p.Header.Hash(), number%SectionSize, p.HashPath)
	if err := v.Section(number/SectionSize, hashRoot, p.BloomRoot, p.SectionPath); err != nil {
		return fmt.Errorf("header of block %d: %w", number, err)
	}
	return nil
}
