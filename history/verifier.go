package history

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// A Verifier is one signed root and the number of sections it covers; its
// Replies check the proofs of replies against it. It is safe for
// concurrent use.
type Verifier struct {
	root  common.Hash
	count uint64
}

// NewVerifier returns a Verifier for the root signed for count sections.
func NewVerifier(root common.Hash, count uint64) *Verifier {
	return &Verifier{root: root, count: count}
}

// Root is the signed root and the number of sections it covers.
func (v *Verifier) Root() (common.Hash, uint64) { return v.root, v.count }

// A Reply checks the proofs of one reply, in the reply's order, each as
// its whole path from leaf to signed root would be checked, where a
// server cut the section paths as Top.SharedPaths does: a path may end
// below the first node on its way up that an earlier proof of the reply
// computed or named, and the check compares the value there instead of
// climbing on. Whole paths pass too (they stop at the first such node),
// so that the sections of a range climb to the root once between them
// either way. A proof that fails leaves nothing behind. A Reply is not
// safe for concurrent use.
type Reply struct {
	v      *Verifier
	proven map[topNode]common.Hash // by the reply's proofs so far
}

// topNode is a node's place in the tree over sections: its level (0 for
// the section roots, TopDepth for the root) and index in that level.
type topNode struct {
	level uint8
	index uint64
}

// Reply returns a checker of one reply's proofs.
func (v *Verifier) Reply() *Reply {
	return &Reply{v: v, proven: make(map[topNode]common.Hash)}
}

// Section checks that section k's two roots lead through path, whole or
// cut, to the signed root.
func (r *Reply) Section(k uint64, hashRoot, bloomRoot common.Hash, path []common.Hash) error {
	if k >= r.v.count {
		return fmt.Errorf("%w: section %d, %d signed", ErrOutOfRange, k, r.v.count)
	}
	if len(path) > TopDepth {
		return fmt.Errorf("%w: section path of %d hashes, at most %d", ErrBadProof, len(path), TopDepth)
	}
	// Climb until a node proven (or the root): the nodes computed on the
	// way, and their siblings, are proven once it matches.
	var climbed [TopDepth]common.Hash
	node, index := SectionRoot(k, hashRoot, bloomRoot), k
	h := hashers.Get().(*hasher)
	defer hashers.Put(h)
	level := 0
	for ; level < TopDepth; level++ {
		if proven, ok := r.proven[topNode{uint8(level), index}]; ok {
			if proven != node {
				return fmt.Errorf("%w: section %d", ErrBadProof, k)
			}
			break
		}
		if level == len(path) {
			return fmt.Errorf("%w: section %d: a path of %d hashes ends below any node proven", ErrBadProof, k, len(path))
		}
		climbed[level] = node
		if index&1 == 0 {
			node = h.pair(node, path[level])
		} else {
			node = h.pair(path[level], node)
		}
		index >>= 1
	}
	if level == TopDepth && node != r.v.root {
		return fmt.Errorf("%w: section %d", ErrBadProof, k)
	}
	for l, i := 0, k; l < level; l, i = l+1, i>>1 {
		r.proven[topNode{uint8(l), i}] = climbed[l]
		r.proven[topNode{uint8(l), i ^ 1}] = path[l]
	}
	r.proven[topNode{uint8(level), index}] = node
	return nil
}

// Header checks that p proves a header of block number, its section path
// whole or cut.
func (r *Reply) Header(number uint64, p *HeaderProof) error {
	if number >= r.v.count*SectionSize {
		return fmt.Errorf("%w: block %d, %d sections signed", ErrOutOfRange, number, r.v.count)
	}
	if p.Header == nil || p.Header.Number == nil || !p.Header.Number.IsUint64() || p.Header.Number.Uint64() != number {
		return fmt.Errorf("%w: header for another block than %d", ErrBadProof, number)
	}
	if len(p.HashPath) != hashDepth {
		return fmt.Errorf("%w: hash path of %d hashes, want %d", ErrBadProof, len(p.HashPath), hashDepth)
	}
	hashRoot := climb(p.Header.Hash(), number%SectionSize, p.HashPath)
	if err := r.Section(number/SectionSize, hashRoot, p.BloomRoot, p.SectionPath); err != nil {
		return fmt.Errorf("header of block %d: %w", number, err)
	}
	return nil
}
