package protocol

import (
	"bytes"
	"testing"

	"github.com/ethereum/go-ethereum/rlp"
)

// FuzzDecode feeds arbitrary payloads to the decoder of every message code.
// Decoding must never panic; what decodes must re-encode to something that
// decodes to the same value.
func FuzzDecode(f *testing.F) {
	for code, msg := range sampleMessages() {
		enc, _ := rlp.EncodeToBytes(msg)
		f.Add(byte(code), enc)
		f.Add(byte(code), enc[:len(enc)/2])
	}
	f.Add(byte(GetProofsMsg), []byte{0xc5, 0x01, 0xc2, 0xc1, 0xc0})
	f.Add(byte(0x3f), []byte{0xc0})
	// Blocks by number, and by hash and number at once (refused).
	f.Add(byte(GetReceiptsMsg), []byte{0xc4, 0x03, 0xc0, 0xc1, 0x07})
	f.Add(byte(GetBlockBodiesMsg), []byte{0xc6, 0x02, 0xc1, 0x05, 0xc2, 0x07, 0x08})
	// A conjunction's bloom bits, and a reply that leaves vectors out.
	f.Add(byte(GetBloomBitsMsg), []byte{0xc9, 0x0d, 0x03, 0xc5, 0xc4, 0x01, 0x82, 0x07, 0xff, 0x01})
	f.Add(byte(BloomBitsMsg), []byte{0xc6, 0x0d, 0x07, 0xc0, 0xc2, 0x80, 0x02})
	f.Fuzz(func(t *testing.T, code byte, payload []byte) {
		msg, err := Decode(Code(code), payload)
		if err != nil {
			return
		}
		enc, err := rlp.EncodeToBytes(msg)
		if err != nil {
			t.Fatalf("%v decoded but does not encode: %v", Code(code), err)
		}
		again, err := Decode(Code(code), enc)
		if err != nil {
			t.Fatalf("%v: re-encoding does not decode: %v", Code(code), err)
		}
		enc2, _ := rlp.EncodeToBytes(again)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("%v: encoding not stable:\n %x\n %x", Code(code), enc, enc2)
		}
	})
}

// FuzzBeaconData feeds arbitrary payloads to the beacon messages' decoders
// and their conversion to go-ethereum's types (which decodes the SSZ
// payload headers): neither may panic, and what converts keeps its slots.
func FuzzBeaconData(f *testing.F) {
	for _, code := range []Code{BeaconOptimisticMsg, BeaconFinalityMsg, BeaconBootstrapMsg, BeaconUpdatesMsg} {
		enc, _ := rlp.EncodeToBytes(sampleMessages()[code])
		f.Add(byte(code), enc)
	}
	f.Fuzz(func(t *testing.T, code byte, payload []byte) {
		msg, err := Decode([]Code{BeaconOptimisticMsg, BeaconFinalityMsg, BeaconBootstrapMsg, BeaconUpdatesMsg}[code%4], payload)
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *BeaconOptimistic:
			if u, err := m.Geth(); err == nil && u.Attested.Slot != m.Attested.Header.Slot {
				t.Fatal("slot changed")
			}
		case *BeaconFinality:
			if u, err := m.Geth(); err == nil && u.Finalized.Slot != m.Finalized.Header.Slot {
				t.Fatal("slot changed")
			}
		case *BeaconBootstraps:
			for i := range m.Bootstraps {
				m.Bootstraps[i].Geth()
			}
		case *BeaconUpdates:
			for i := range m.Updates {
				m.Updates[i].Geth()
			}
		}
	})
}
