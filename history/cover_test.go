package history

import (
	"bytes"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func vec(bytes ...byte) []byte { return bytes }

func TestCover(t *testing.T) {
	tests := []struct {
		name    string
		vectors [][]byte
		want    []int
	}{
		{"none", nil, []int{}},
		{"one", [][]byte{vec(0x0f)}, []int{0}},
		{"the same vector three times", [][]byte{vec(0x10, 0), vec(0x10, 0), vec(0x10, 0)}, []int{0}},
		{"every block set everywhere", [][]byte{vec(0xff), vec(0xff)}, []int{}},
		{"one rules out all the others do", [][]byte{vec(0xf0, 0xff), vec(0x10, 0x01), vec(0x30, 0x0f)}, []int{1}},
		{"two needed", [][]byte{vec(0x0f, 0xff), vec(0xf0, 0xff), vec(0xff, 0xff)}, []int{0, 1}},
		{"greedy takes the larger first", [][]byte{vec(0xfe, 0xff), vec(0x01, 0x00), vec(0xff, 0xf0)}, []int{0, 1}},
		{"lengths differ", [][]byte{vec(0x00), vec(0x00, 0x00)}, []int{0, 1}},
		{"not a multiple of 8 bytes", [][]byte{vec(1, 2, 3, 4, 5, 6, 7, 8, 9), vec(1, 2, 3, 4, 5, 6, 7, 8, 0)}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Cover(tt.vectors)
			if got == nil {
				got = []int{}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Cover = %v, want %v", got, tt.want)
			}
		})
	}
}

// The vectors Cover chooses have the AND of all of them: a client that
// reads the others as all ones finds the same candidate blocks.
func TestCoverKeepsTheAnd(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		size := rapid.IntRange(1, 80).Draw(t, "size")
		n := rapid.IntRange(1, 7).Draw(t, "vectors")
		vectors := make([][]byte, n)
		for i := range vectors {
			// Dense and sparse vectors alike: each byte from a few values.
			vectors[i] = rapid.SliceOfN(rapid.SampledFrom([]byte{0, 0xff, 0x01, 0x80, 0x5a, 0xfe}), size, size).Draw(t, "vector")
		}
		and := func(idx []int) []byte {
			out := bytes.Repeat([]byte{0xff}, size)
			for _, i := range idx {
				for j := range out {
					out[j] &= vectors[i][j]
				}
			}
			return out
		}
		every := make([]int, n)
		for i := range every {
			every[i] = i
		}
		chosen := Cover(vectors)
		if !slices.IsSorted(chosen) || len(chosen) > n {
			t.Fatalf("Cover = %v: not ascending indices of %d vectors", chosen, n)
		}
		if got, want := and(chosen), and(every); !bytes.Equal(got, want) {
			t.Fatalf("AND of %v = %x, AND of all = %x", chosen, got, want)
		}
	})
}
