// Package payment defines what lightmarket asks of a payment method, so
// that methods can sit side by side: payment channels now (package paychan
// for vouchers and the contract, package cashier on the server, package
// wallet on the client), probabilistic tickets or a chequebook later.
//
// A method's payments travel in protocol.Pay as opaque bytes, its terms in
// protocol.PaymentTerms; the server's accounts (what each client paid, was
// granted and was charged) are the method-independent part, kept by the
// receiver in the same durable write as the payment that credits them.
package payment

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/lightmarket/lightmarket/protocol"
)

// Receiver is a server's side of a payment method.
type Receiver interface {
	// Method is the method's name on the wire.
	Method() string
	// Terms is what a client needs to pay with the method.
	Terms() []byte
	// Receive checks a payment from client, stores it and the credit to
	// the client's account durably, and only then returns the wei credited
	// (zero for a payment received before) and the client's balance. A
	// refused payment credits nothing and returns a *Refusal.
	Receive(ctx context.Context, client [32]byte, payment []byte) (credited, balance *big.Int, err error)
	// Settle collects received payments on chain: those due (all: every
	// one that can be), returning what it collected.
	Settle(ctx context.Context, all bool) ([]Settlement, error)
}

// Payer is a client's side of a payment method.
type Payer interface {
	// Method is the method's name on the wire.
	Method() string
	// Accepts reports whether the payer can pay a server offering terms.
	Accepts(terms []byte) bool
	// Pay makes a payment to the server offering terms that adds amount
	// to what it was paid, records it durably and only then returns it.
	// It refuses to pay beyond the payer's limits.
	Pay(ctx context.Context, terms []byte, amount *big.Int) ([]byte, error)
	// Latest is the last payment made to the server (resent after a
	// reconnect or a crash; the receiver credits it once), nil if none.
	Latest(terms []byte) []byte
	// Spent is what was paid to the server in total.
	Spent(terms []byte) *big.Int
}

// Settlement is money collected on chain.
type Settlement struct {
	Ref    string      `json:"ref"`    // what was settled (a channel id)
	Amount *big.Int    `json:"amount"` // wei received
	Tx     common.Hash `json:"tx"`
	Block  uint64      `json:"block"`
}

// Refusal is a refused payment; Code says why on the wire.
type Refusal struct {
	Code protocol.PayCode
	Err  error
}

func (r *Refusal) Error() string { return fmt.Sprintf("payment refused (%v): %v", r.Code, r.Err) }
func (r *Refusal) Unwrap() error { return r.Err }

// Refuse wraps err as a refusal with code.
func Refuse(code protocol.PayCode, err error) error { return &Refusal{Code: code, Err: err} }

// CodeOf is the wire code of a Receive error (PayUnavailable for errors
// that are not refusals: the server could not check the payment).
func CodeOf(err error) protocol.PayCode {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Code
	}
	return protocol.PayUnavailable
}
