package devbeacon

import (
	"crypto/sha256"
	"math/bits"

	"github.com/ethereum/go-ethereum/beacon/merkle"
	"github.com/ethereum/go-ethereum/common"
)

// tree is a binary SHA-256 Merkle tree given by the leaves at some
// generalized indices (1 is the root, 2g and 2g+1 are g's children); any
// subtree holding none of them is a zero value. It stands for a container
// whose other fields a light client never reads.
type tree map[uint64]merkle.Value

func (t tree) root() common.Hash { return common.Hash(t.node(1)) }

func (t tree) node(g uint64) merkle.Value {
	if v, ok := t[g]; ok {
		return v
	}
	if !t.holds(g) {
		return merkle.Value{}
	}
	l, r := t.node(2*g), t.node(2*g+1)
	return merkle.Value(sha256.Sum256(append(l[:], r[:]...)))
}

// holds reports whether a leaf lies under g.
func (t tree) holds(g uint64) bool {
	gl := bits.Len64(g)
	for leaf := range t {
		if ll := bits.Len64(leaf); ll > gl && leaf>>(ll-gl) == g {
			return true
		}
	}
	return false
}

// branch is the proof of the node at g: its siblings from g up to the root.
func (t tree) branch(g uint64) merkle.Values {
	var b merkle.Values
	for ; g > 1; g >>= 1 {
		b = append(b, t.node(g^1))
	}
	return b
}
