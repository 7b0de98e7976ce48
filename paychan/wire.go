package paychan

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
)

// Method is the payment method's name on the wire (protocol.PaymentMethod).
const Method = "channel"

// ErrMalformed says a voucher or terms did not decode.
var ErrMalformed = errors.New("malformed payment")

// Terms is what a server tells clients about paying it by channel: the
// chain and contract holding the channels and its receiving address.
type Terms struct {
	ChainID  uint64
	Contract common.Address
	Receiver common.Address
	// Confirmations is how deep the receiver wants a channel's deposit
	// before it counts it: a payer waits that long before paying from a
	// new deposit (absent in terms of version 1 servers: 0).
	Confirmations uint64 `rlp:"optional"`
}

// Encode encodes the terms for protocol.PaymentMethod.
func (t Terms) Encode() []byte {
	enc, _ := rlp.EncodeToBytes(&t)
	return enc
}

// DecodeTerms decodes terms.
func DecodeTerms(b []byte) (Terms, error) {
	var t Terms
	if err := rlp.DecodeBytes(b, &t); err != nil {
		return Terms{}, fmt.Errorf("%w: terms: %v", ErrMalformed, err)
	}
	return t, nil
}

// wireVoucher is a voucher on the wire: [sender, nonce, amount, signature].
type wireVoucher struct {
	Sender common.Address
	Nonce  uint64
	Amount *big.Int
	Sig    [65]byte
}

// Encode encodes the voucher for protocol.Pay (about 110 bytes).
func (v *Voucher) Encode() []byte {
	enc, _ := rlp.EncodeToBytes(&wireVoucher{v.Sender, v.Nonce, v.Amount, v.Sig})
	return enc
}

// maxVoucherSize bounds an encoded voucher.
const maxVoucherSize = 160

// DecodeVoucher decodes a voucher and checks its amount's range; the
// signature is checked by a Verifier.
func DecodeVoucher(b []byte) (*Voucher, error) {
	if len(b) > maxVoucherSize {
		return nil, fmt.Errorf("%w: voucher of %d bytes", ErrMalformed, len(b))
	}
	var w wireVoucher
	if err := rlp.DecodeBytes(b, &w); err != nil {
		return nil, fmt.Errorf("%w: voucher: %v", ErrMalformed, err)
	}
	if w.Amount.Sign() <= 0 || w.Amount.Cmp(MaxAmount) > 0 {
		return nil, fmt.Errorf("%w: voucher amount %v", ErrMalformed, w.Amount)
	}
	return &Voucher{Sender: w.Sender, Nonce: w.Nonce, Amount: w.Amount, Sig: w.Sig}, nil
}
