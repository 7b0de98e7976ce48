package paychan

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// TestDigestIsEIP712 pins the hand-rolled digest to go-ethereum's generic
// EIP-712 implementation.
func TestDigestIsEIP712(t *testing.T) {
	contractAddr := common.HexToAddress("0x1234567890123456789012345678901234567890")
	receiver := common.HexToAddress("0xabcdefabcdefabcdefabcdefabcdefabcdefabcd")
	channel := common.HexToHash("0x77")
	amount := big.NewInt(123456789)
	td := apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {{Name: "name", Type: "string"}, {Name: "version", Type: "string"}, {Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"}},
			"Voucher":      {{Name: "channel", Type: "bytes32"}, {Name: "receiver", Type: "address"}, {Name: "amount", Type: "uint256"}},
		},
		PrimaryType: "Voucher",
		Domain:      apitypes.TypedDataDomain{Name: "lightmarket", Version: "1", ChainId: math.NewHexOrDecimal256(1337), VerifyingContract: contractAddr.Hex()},
		Message:     apitypes.TypedDataMessage{"channel": hexutil.Encode(channel[:]), "receiver": receiver.Hex(), "amount": amount.String()},
	}
	want, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		t.Fatal(err)
	}
	if got := NewDomain(1337, contractAddr).Digest(channel, receiver, amount); got != common.BytesToHash(want) {
		t.Fatalf("digest %x, EIP-712 %x", got, want)
	}
}

func TestVerify(t *testing.T) {
	key, _ := crypto.GenerateKey()
	other, _ := crypto.GenerateKey()
	receiver := common.HexToAddress("0x02")
	d := NewDomain(1337, common.HexToAddress("0x01"))
	vf := NewVerifier(d, receiver)
	v, err := d.Sign(key, receiver, 3, big.NewInt(1000))
	if err != nil {
		t.Fatal(err)
	}
	// Twice: the second goes through the cached public key.
	for range 2 {
		if err := vf.Verify(&v); err != nil {
			t.Fatal(err)
		}
	}
	tamper := func(f func(*Voucher)) *Voucher { c := v; c.Amount = new(big.Int).Set(v.Amount); f(&c); return &c }
	forged, _ := d.Sign(other, receiver, 3, big.NewInt(1000))
	forged.Sender = v.Sender
	otherDomain, _ := NewDomain(1, common.HexToAddress("0x01")).Sign(key, receiver, 3, big.NewInt(1000))
	otherReceiver, _ := d.Sign(key, common.HexToAddress("0x03"), 3, big.NewInt(1000))
	tests := []struct {
		name string
		v    *Voucher
		want error
	}{
		{"amount changed", tamper(func(c *Voucher) { c.Amount.SetInt64(2000) }), ErrWrongSigner},
		{"nonce changed", tamper(func(c *Voucher) { c.Nonce = 4 }), ErrWrongSigner},
		{"forged", &forged, ErrWrongSigner},
		{"other chain", &otherDomain, ErrWrongSigner},
		{"other receiver", &otherReceiver, ErrWrongSigner},
		{"zero amount", tamper(func(c *Voucher) { c.Amount.SetInt64(0) }), ErrBadAmount},
		{"amount too large", tamper(func(c *Voucher) { c.Amount.Lsh(big.NewInt(1), 96) }), ErrBadAmount},
		{"bad v", tamper(func(c *Voucher) { c.Sig[64] = 27 }), ErrBadSignature},
		{"zero r", tamper(func(c *Voucher) { clear(c.Sig[:32]) }), ErrBadSignature},
		{"high s", tamper(func(c *Voucher) {
			s := new(big.Int).SetBytes(c.Sig[32:64])
			new(big.Int).Sub(crypto.S256().Params().N, s).FillBytes(c.Sig[32:64])
			c.Sig[64] ^= 1
		}), ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := vf.Verify(tt.v); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestVerifyDoesNotDependOnV: a voucher whose V names the other recovery
// id is taken alike by a verifier that has its sender's key cached and by
// one that has not; ClaimV gives the V the contract recovers the sender
// with.
func TestVerifyDoesNotDependOnV(t *testing.T) {
	key, _ := crypto.GenerateKey()
	receiver := common.HexToAddress("0x02")
	d := NewDomain(1337, common.HexToAddress("0x01"))
	v, err := d.Sign(key, receiver, 3, big.NewInt(1000))
	if err != nil {
		t.Fatal(err)
	}
	flipped := v
	flipped.Sig[64] ^= 1
	cached := NewVerifier(d, receiver)
	if err := cached.Verify(&v); err != nil {
		t.Fatal(err)
	}
	for name, vf := range map[string]*Verifier{"cached key": cached, "no key": NewVerifier(d, receiver)} {
		if err := vf.Verify(&flipped); err != nil {
			t.Errorf("%s: other recovery id refused: %v", name, err)
		}
	}
	want := v.Sig[64] + 27
	for name, w := range map[string]*Voucher{"as signed": &v, "other recovery id": &flipped} {
		if got := d.ClaimV(w, receiver); got != want {
			t.Errorf("%s: ClaimV %d, want %d", name, got, want)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	key, _ := crypto.GenerateKey()
	receiver := common.HexToAddress("0x02")
	d := NewDomain(1337, common.HexToAddress("0x01"))
	vf := NewVerifier(d, receiver)
	vs := make([]Voucher, 256)
	for i := range vs {
		vs[i], _ = d.Sign(key, receiver, 3, big.NewInt(int64(1000+i)))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := vf.Verify(&vs[i%len(vs)]); err != nil {
			b.Fatal(err)
		}
	}
}
