package client

import (
	"errors"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/trie"
	"pgregory.net/rapid"

	"github.com/lightmarket/lightmarket/history"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
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

// TestSectionVectorsProvenOncePerSection: the sections of a reply share
// one climb (a section's later vectors, and its sibling, come with no
// path); a later vector of a section that does not lead to the same bloom
// root is a lie, and so is a cut path before the one that names its node.
func TestSectionVectorsProvenOncePerSection(t *testing.T) {
	hashes := make([]common.Hash, history.SectionSize)
	blooms := make([]types.Bloom, history.SectionSize)
	for i := range hashes {
		hashes[i] = common.Hash{byte(i), byte(i >> 8), 1}
		if i%7 == 0 {
			blooms[i].Add([]byte{byte(i)})
		}
	}
	var top history.Top
	sections := make([]*history.Section, 2)
	for k := range sections {
		s, err := history.NewSection(uint64(k), hashes, blooms)
		if err != nil {
			t.Fatal(err)
		}
		sections[k] = s
		top.Append(s.Root())
	}
	root := top.Root(2)
	refs := []protocol.BloomBitsRef{{Section: 0, Bit: 3}, {Section: 0, Bit: 900}, {Section: 1, Bit: 3}, {Section: 1, Bit: 1500}}
	ks := make([]uint64, len(refs))
	for i, ref := range refs {
		ks[i] = ref.Section
	}
	paths := top.SharedPaths(2, ks) // section 1's path is empty: section 0's names its root
	reply := func() []protocol.BloomBitsProof {
		var out []protocol.BloomBitsProof
		for i, ref := range refs {
			p := history.ProveBloom(&top, 2, sections[ref.Section], int(ref.Bit))
			out = append(out, protocol.BloomBitsProof{Vector: p.Vector, BloomPath: p.BloomPath, HashRoot: p.HashRoot, SectionPath: paths[i]})
		}
		return out
	}
	v := history.NewVerifier(root, 2)
	if err := verifySectionVectors(v, refs, reply()); err != nil {
		t.Fatalf("honest reply: %v", err)
	}
	for i := range refs {
		bad := reply()
		bad[i].Vector = append([]byte{}, bad[i].Vector...)
		bad[i].Vector[5] ^= 0x10
		if err := verifySectionVectors(v, refs, bad); err == nil {
			t.Errorf("vector %d tampered: accepted", i)
		}
	}
	// A later vector with another hash root is proven in full: without
	// a path, it is a lie.
	bad := reply()
	bad[1].HashRoot[0] ^= 1
	if err := verifySectionVectors(v, refs, bad); err == nil {
		t.Error("a later vector with another hash root accepted")
	}
	// The vectors of section 1 first: its empty path ends below anything
	// the reply proved.
	swapped := reply()
	swapped[0], swapped[2] = swapped[2], swapped[0]
	if err := verifySectionVectors(v, []protocol.BloomBitsRef{refs[2], refs[1], refs[0], refs[3]}, swapped); err == nil {
		t.Error("a cut path before the whole one accepted")
	}
}

// TestBlockDataTakesOnlyWhatMatchesTheHeader pins that bodies and
// receipts fetched by number, before their headers were proven, are used
// only when they match the proven header: another fork's block, or a lie,
// is dropped (and fetched again by hash).
func TestBlockDataTakesOnlyWhatMatchesTheHeader(t *testing.T) {
	tx := types.NewTx(&types.LegacyTx{Nonce: 1, Gas: 21000, GasPrice: common.Big1})
	receipt := &types.Receipt{Type: types.LegacyTxType, Status: 1, CumulativeGasUsed: 21000, Logs: []*types.Log{}}
	full := types.NewBlock(&types.Header{Number: common.Big2, Difficulty: common.Big0}, &types.Body{Transactions: types.Transactions{tx}}, types.Receipts{receipt}, trie.NewStackTrie(nil))
	empty := &types.Header{Number: common.Big2, Difficulty: common.Big0, TxHash: types.EmptyTxsHash, ReceiptHash: types.EmptyReceiptsHash, UncleHash: types.EmptyUncleHash}
	d := &blockData{
		bodies:   map[uint64]*types.Body{2: full.Body()},
		receipts: map[uint64]types.Receipts{2: {receipt}},
	}
	if b, rs := d.take(full.Header(), true); b == nil || len(rs) != 1 {
		t.Errorf("the block's own body and receipts refused: %v, %v", b, rs)
	}
	if b, rs := d.take(empty, true); b != nil || rs != nil {
		t.Errorf("another block's body and receipts taken for an empty block: %v, %v", b, rs)
	}
	if b, rs := (*blockData)(nil).take(full.Header(), true); b != nil || rs != nil {
		t.Error("nothing fetched, yet something taken")
	}
	if b, rs := d.take(full.Header(), false); b != nil || len(rs) != 1 {
		t.Errorf("a body taken though the block's body is held: %v, %v", b, rs)
	}
}

// sentRefs names the vectors of a reply that left some out, and refuses a
// reply that does not account for every vector asked.
func TestSentRefs(t *testing.T) {
	refs := []protocol.BloomBitsRef{{Section: 1, Bit: 5}, {Section: 1, Bit: 9}, {Section: 2, Bit: 5}, {Section: 2, Bit: 9}}
	vectors := func(n int) []protocol.BloomBitsProof { return make([]protocol.BloomBitsProof, n) }
	for _, tt := range []struct {
		name  string
		reply protocol.BloomBits
		allOf bool
		want  []protocol.BloomBitsRef
		err   error
	}{
		{"all sent", protocol.BloomBits{Vectors: vectors(4)}, false, refs, nil},
		{"all sent, allOf", protocol.BloomBits{Vectors: vectors(4)}, true, refs, nil},
		{"stopped short", protocol.BloomBits{Vectors: vectors(3)}, false, nil, ErrNotFound},
		{"two left out", protocol.BloomBits{Vectors: vectors(2), Left: []uint64{1, 2}}, true, []protocol.BloomBitsRef{refs[0], refs[3]}, nil},
		{"every one left out", protocol.BloomBits{Left: []uint64{0, 1, 2, 3}}, true, []protocol.BloomBitsRef{}, nil},
		{"left out unasked", protocol.BloomBits{Vectors: vectors(3), Left: []uint64{0}}, false, nil, verify.ErrHistoryProof},
		{"left out and stopped short", protocol.BloomBits{Vectors: vectors(1), Left: []uint64{1}}, true, nil, ErrNotFound},
		{"more than asked", protocol.BloomBits{Vectors: vectors(4), Left: []uint64{0}}, true, nil, protocol.ErrTooManyItems},
		{"left index past the request", protocol.BloomBits{Vectors: vectors(3), Left: []uint64{7}}, true, nil, protocol.ErrTooManyItems},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sentRefs(refs, &tt.reply, tt.allOf)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && !slices.Equal(got, tt.want) {
				t.Errorf("sent = %v, want %v", got, tt.want)
			}
		})
	}
}
