package history

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// The checks of one proof at a time, whole paths only: the tests' reference
// for what Verifier and Reply accept.

// VerifyHeader checks that p proves a header of block number under the
// root signed for count sections.
func VerifyHeader(root common.Hash, count, number uint64, p *HeaderProof) error {
	if number >= count*SectionSize {
		return fmt.Errorf("%w: block %d, %d sections signed", ErrOutOfRange, number, count)
	}
	if p.Header == nil || p.Header.Number == nil || !p.Header.Number.IsUint64() || p.Header.Number.Uint64() != number {
		return fmt.Errorf("%w: header for another block than %d", ErrBadProof, number)
	}
	if len(p.HashPath) != hashDepth || len(p.SectionPath) != TopDepth {
		return fmt.Errorf("%w: paths of %d and %d hashes, want %d and %d", ErrBadProof, len(p.HashPath), len(p.SectionPath), hashDepth, TopDepth)
	}
	k := number / SectionSize
	hashRoot := climb(p.Header.Hash(), number%SectionSize, p.HashPath)
	if climb(SectionRoot(k, hashRoot, p.BloomRoot), k, p.SectionPath) != root {
		return fmt.Errorf("%w: header of block %d", ErrBadProof, number)
	}
	return nil
}

// VerifyBloom checks that p proves the vector of bloom bit over section k
// under the root signed for count sections.
func VerifyBloom(root common.Hash, count, k uint64, bit int, p *BloomProof) error {
	bloomRoot, ok := BloomRootOf(p, bit)
	if !ok {
		return fmt.Errorf("%w: malformed bloom proof", ErrBadProof)
	}
	if err := VerifySection(root, count, k, p.HashRoot, bloomRoot, p.SectionPath); err != nil {
		return fmt.Errorf("%w (bloom bit %d)", err, bit)
	}
	return nil
}

// VerifySection checks that section k's two roots lead through path to
// the root signed for count sections: what is left of a bloom proof once
// its vector led to bloomRoot (BloomRootOf), so that the vectors of one
// section climb to the top once.
func VerifySection(root common.Hash, count, k uint64, hashRoot, bloomRoot common.Hash, path []common.Hash) error {
	if k >= count {
		return fmt.Errorf("%w: section %d, %d signed", ErrOutOfRange, k, count)
	}
	if len(path) != TopDepth {
		return fmt.Errorf("%w: section path of %d hashes, want %d", ErrBadProof, len(path), TopDepth)
	}
	if climb(SectionRoot(k, hashRoot, bloomRoot), k, path) != root {
		return fmt.Errorf("%w: section %d", ErrBadProof, k)
	}
	return nil
}
