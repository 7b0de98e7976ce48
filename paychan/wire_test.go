package paychan

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

func TestVoucherWire(t *testing.T) {
	key, _ := crypto.GenerateKey()
	d := NewDomain(1337, common.Address{1})
	v, _ := d.Sign(key, common.Address{2}, 5, big.NewInt(123456789))
	enc := v.Encode()
	got, err := DecodeVoucher(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sender != v.Sender || got.Nonce != v.Nonce || got.Amount.Cmp(v.Amount) != 0 || got.Sig != v.Sig {
		t.Fatalf("decoded %+v, want %+v", got, v)
	}
	if err := NewVerifier(d, common.Address{2}).Verify(got); err != nil {
		t.Fatal(err)
	}
	t.Logf("voucher: %d bytes", len(enc))
	terms := Terms{ChainID: 1337, Contract: common.Address{1}, Receiver: common.Address{2}}
	if dt, err := DecodeTerms(terms.Encode()); err != nil || dt != terms {
		t.Fatalf("terms %+v, %v", dt, err)
	}
}

func FuzzDecodeVoucher(f *testing.F) {
	key, _ := crypto.GenerateKey()
	v, _ := NewDomain(1, common.Address{1}).Sign(key, common.Address{2}, 5, big.NewInt(77))
	f.Add(v.Encode())
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeVoucher(b)
		if err != nil {
			return
		}
		again, err := DecodeVoucher(v.Encode())
		if err != nil || !bytes.Equal(again.Encode(), v.Encode()) {
			t.Fatalf("voucher does not round-trip: %v", err)
		}
	})
}
