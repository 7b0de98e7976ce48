package client

import (
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"pgregory.net/rapid"

	"github.com/lightmarket/lightmarket/history"
	"github.com/lightmarket/lightmarket/protocol"
)

// matchesAt, the reference: whether block i of section k may match every group.
func matchesAt(vectors map[protocol.BloomBitsRef][]byte, k, i uint64, groups [][][3]int) bool {
	set := func(bit int) bool {
		v := vectors[protocol.BloomBitsRef{Section: k, Bit: uint64(bit)}]
		return v[i/8]&(0x80>>(i%8)) != 0
	}
	for _, g := range groups {
		any := false
		for _, alt := range g {
			if set(alt[0]) && set(alt[1]) && set(alt[2]) {
				any = true
				break
			}
		}
		if !any {
			return false
		}
	}
	return true
}

// TestCandidatesAreTheBlocksWhoseBitsMatch checks the bytewise search
// against the bit-by-bit one, on random filters and vectors.
func TestCandidatesAreTheBlocksWhoseBitsMatch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		addrs := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) common.Address {
			return common.Address{rapid.Byte().Draw(t, "a")}
		}), 0, 3).Draw(t, "addrs")
		var topics [][]common.Hash
		for range rapid.IntRange(0, 3).Draw(t, "positions") {
			topics = append(topics, rapid.SliceOfN(rapid.Custom(func(t *rapid.T) common.Hash {
				return common.Hash{rapid.Byte().Draw(t, "t")}
			}), 0, 2).Draw(t, "alts"))
		}
		f, err := newLogFilter(addrs, topics)
		if err != nil {
			return // no address and no topic
		}
		from := rapid.Uint64Range(0, 3*history.SectionSize).Draw(t, "from")
		to := from + rapid.Uint64Range(0, 2*history.SectionSize).Draw(t, "span")
		vectors := make(map[protocol.BloomBitsRef][]byte)
		for k := from / history.SectionSize; k <= to/history.SectionSize; k++ {
			for _, b := range f.bits {
				v := make([]byte, history.VectorSize)
				// Dense enough that all three bits of an alternative meet.
				for i := range v {
					v[i] = rapid.Byte().Draw(t, "v") | rapid.Byte().Draw(t, "w")
				}
				vectors[protocol.BloomBitsRef{Section: k, Bit: uint64(b)}] = v
			}
		}
		got, err := f.candidates(vectors, from, to, nil)
		if err != nil {
			return // more than maxLogCandidates
		}
		var want []uint64
		for n := from; n <= to; n++ {
			if matchesAt(vectors, n/history.SectionSize, n%history.SectionSize, f.groups) {
				want = append(want, n)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("candidates %v, want %v", got, want)
		}
	})
}
