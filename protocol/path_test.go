package protocol

import (
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
)

// TestPathDecodesAsHashes pins Path's decoder to the default decoding of
// []common.Hash: the same hashes from the same input, and an error where
// that has one.
func TestPathDecodesAsHashes(t *testing.T) {
	valid := func(n int) []byte {
		hashes := make([]common.Hash, n)
		for i := range hashes {
			hashes[i] = common.Hash{byte(i), 0xaa, byte(n)}
		}
		enc, _ := rlp.EncodeToBytes(hashes)
		return enc
	}
	cases := map[string][]byte{
		"empty list":      {0xc0},
		"one hash":        valid(1),
		"eleven hashes":   valid(11),
		"a path of 32":    valid(32),
		"short hash":      {0xc2, 0x81, 0x01},
		"long hash":       append([]byte{0xe2, 0xa1}, make([]byte, 33)...),
		"list in a list":  {0xc1, 0xc0},
		"a string":        {0x83, 1, 2, 3},
		"truncated":       valid(3)[:50],
		"trailing bytes":  append(valid(2), 0x01),
		"noncanonical 32": append([]byte{0xe2, 0xb8, 0x20}, make([]byte, 32)...),
	}
	for name, in := range cases {
		if err := samePath(in); err != "" {
			t.Errorf("%s: %s", name, err)
		}
	}
}

// FuzzPath checks Path's decoder against the default decoding of
// []common.Hash on any input.
func FuzzPath(f *testing.F) {
	f.Add([]byte{0xc0})
	f.Add(rlpOf([]common.Hash{{1}, {2}}))
	f.Add([]byte{0xc2, 0x81, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		if err := samePath(in); err != "" {
			t.Fatal(err)
		}
	})
}

// samePath says how Path's decoding of in differs from []common.Hash's
// ("" when it does not).
func samePath(in []byte) string {
	var want []common.Hash
	wantErr := rlp.DecodeBytes(in, &want)
	var got Path
	gotErr := rlp.DecodeBytes(in, &got)
	switch {
	case (wantErr == nil) != (gotErr == nil):
		return fmt.Sprintf("Path error %v, []common.Hash error %v", gotErr, wantErr)
	case wantErr == nil && string(rlpOf(got)) != string(rlpOf(want)):
		return fmt.Sprintf("Path %x, []common.Hash %x", got, want)
	}
	return ""
}

func rlpOf(v any) []byte {
	enc, _ := rlp.EncodeToBytes(v)
	return enc
}

// BenchmarkDecodeBloomBits decodes a reply of 72 vectors of 12 sections,
// as a log search over 100,000 blocks gets from each of two servers.
func BenchmarkDecodeBloomBits(b *testing.B) {
	r := &BloomBits{ReqID: 1}
	for i := range 72 {
		p := BloomBitsProof{Vector: make([]byte, 512), BloomPath: make(Path, 11), HashRoot: common.Hash{1}}
		if i%6 == 0 {
			p.SectionPath = make(Path, 24)
		}
		p.Vector[i] = 1
		r.Vectors = append(r.Vectors, p)
	}
	enc, _ := rlp.EncodeToBytes(r)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(BloomBitsMsg, enc); err != nil {
			b.Fatal(err)
		}
	}
}
