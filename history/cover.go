package history

import (
	"encoding/binary"
	"math/bits"
)

// Cover chooses, of a section's bloom bit vectors that a filter needs all
// of, a few whose bitwise AND is the AND of them all: the blocks the
// others rule out, these rule out already. It returns their indices,
// ascending (none when no block is ruled out). A server sends only those
// to a client that asked so (protocol.GetBloomBits.AllOf); where blooms
// are sparse one vector usually does. The choice is greedy: the vector
// that rules out the most blocks not yet ruled out, until none is left.
// Vectors of different lengths are all chosen.
func Cover(vectors [][]byte) []int {
	all := make([]int, len(vectors))
	for i := range all {
		all[i] = i
	}
	if len(vectors) < 2 {
		return all
	}
	size := len(vectors[0])
	for _, v := range vectors[1:] {
		if len(v) != size {
			return all
		}
	}
	// As words, the last one padded with ones (nothing to rule out there).
	n := (size + 7) / 8
	vs := make([][]uint64, len(vectors))
	for i, v := range vectors {
		vs[i] = make([]uint64, n)
		for j := range vs[i] {
			b := [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
			copy(b[:], v[j*8:min(size, j*8+8)])
			vs[i][j] = binary.LittleEndian.Uint64(b[:])
		}
	}
	// left: the blocks the chosen vectors do not rule out yet and the
	// others do.
	left := make([]uint64, n)
	for j := range left {
		and := ^uint64(0)
		for _, v := range vs {
			and &= v[j]
		}
		left[j] = ^and
	}
	chosen := make([]bool, len(vectors))
	for {
		best, gain := -1, 0
		for i, v := range vs {
			if chosen[i] {
				continue
			}
			g := 0
			for j := range left {
				g += bits.OnesCount64(left[j] &^ v[j])
			}
			if g > gain {
				best, gain = i, g
			}
		}
		if best < 0 {
			break
		}
		chosen[best] = true
		for j := range left {
			left[j] &= vs[best][j]
		}
	}
	out := all[:0]
	for i, c := range chosen {
		if c {
			out = append(out, i)
		}
	}
	return out
}
