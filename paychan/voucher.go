// Package paychan is lightmarket's payment-channel payment method: vouchers
// (cumulative amounts a client signs as EIP-712 typed data for one channel
// and one server), their verification, and the Channels contract that
// holds the deposits on chain (see docs/payments.md).
package paychan

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Errors of voucher verification.
var (
	ErrBadSignature = errors.New("voucher signature invalid")
	ErrWrongSigner  = errors.New("voucher not signed by the channel's sender")
	ErrBadAmount    = errors.New("voucher amount invalid")
)

// MaxAmount bounds a voucher's amount: the contract keeps deposits in 96
// bits.
var MaxAmount = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 96), big.NewInt(1))

var (
	voucherTypeHash = crypto.Keccak256Hash([]byte("Voucher(bytes32 channel,address receiver,uint256 amount)"))
	domainTypeHash  = crypto.Keccak256Hash([]byte("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"))
	nameHash        = crypto.Keccak256Hash([]byte("lightmarket"))
	versionHash     = crypto.Keccak256Hash([]byte("1"))
)

// ChannelID is the id of the channel from sender to receiver with nonce,
// as the contract computes it: keccak256(abi.encode(sender, receiver, nonce)).
func ChannelID(sender, receiver common.Address, nonce uint64) common.Hash {
	var buf [96]byte
	copy(buf[12:32], sender[:])
	copy(buf[44:64], receiver[:])
	new(big.Int).SetUint64(nonce).FillBytes(buf[64:96])
	return crypto.Keccak256Hash(buf[:])
}

// Domain is the EIP-712 domain of one Channels contract on one chain: what
// binds a voucher to them.
type Domain struct {
	ChainID   uint64
	Contract  common.Address
	separator common.Hash
}

// NewDomain returns the domain of the contract at addr on chain chainID.
func NewDomain(chainID uint64, addr common.Address) Domain {
	var buf [160]byte
	copy(buf[0:32], domainTypeHash[:])
	copy(buf[32:64], nameHash[:])
	copy(buf[64:96], versionHash[:])
	new(big.Int).SetUint64(chainID).FillBytes(buf[96:128])
	copy(buf[140:160], addr[:])
	return Domain{ChainID: chainID, Contract: addr, separator: crypto.Keccak256Hash(buf[:])}
}

// Separator is the domain separator.
func (d Domain) Separator() common.Hash { return d.separator }

// Digest is the EIP-712 digest a sender signs to pay amount, cumulatively,
// on channel to receiver.
func (d Domain) Digest(channel common.Hash, receiver common.Address, amount *big.Int) common.Hash {
	var s [128]byte
	copy(s[0:32], voucherTypeHash[:])
	copy(s[32:64], channel[:])
	copy(s[76:96], receiver[:])
	amount.FillBytes(s[96:128])
	structHash := crypto.Keccak256(s[:])
	var m [66]byte
	m[0], m[1] = 0x19, 0x01
	copy(m[2:34], d.separator[:])
	copy(m[34:66], structHash)
	return crypto.Keccak256Hash(m[:])
}

// Voucher pays Amount in total (not in addition to earlier vouchers) on
// the channel from Sender to the server with Nonce. Sig is the sender's
// signature of the domain's digest, [R || S || V] with V 0 or 1.
type Voucher struct {
	Sender common.Address
	Nonce  uint64
	Amount *big.Int
	Sig    [65]byte
}

// Channel is the voucher's channel id with receiver.
func (v *Voucher) Channel(receiver common.Address) common.Hash {
	return ChannelID(v.Sender, receiver, v.Nonce)
}

// Sign makes the voucher paying amount on the channel from key's address to
// receiver with nonce.
func (d Domain) Sign(key *ecdsa.PrivateKey, receiver common.Address, nonce uint64, amount *big.Int) (Voucher, error) {
	if amount.Sign() <= 0 || amount.Cmp(MaxAmount) > 0 {
		return Voucher{}, fmt.Errorf("%w: %v", ErrBadAmount, amount)
	}
	sender := crypto.PubkeyToAddress(key.PublicKey)
	v := Voucher{Sender: sender, Nonce: nonce, Amount: new(big.Int).Set(amount)}
	sig, err := crypto.Sign(d.Digest(v.Channel(receiver), receiver, amount).Bytes(), key)
	if err != nil {
		return Voucher{}, err
	}
	copy(v.Sig[:], sig)
	return v, nil
}

var secp256k1HalfN = new(big.Int).Rsh(crypto.S256().Params().N, 1)

// Verifier checks vouchers for one receiver in one domain. It remembers
// the public key of each sender it has seen, so that later vouchers cost a
// signature verification instead of a public-key recovery. Safe for
// concurrent use.
type Verifier struct {
	domain   Domain
	receiver common.Address

	mu   sync.RWMutex
	keys map[common.Address][]byte // sender → uncompressed public key
}

// maxCachedKeys bounds the sender key cache (then it starts over).
const maxCachedKeys = 100_000

// NewVerifier returns a verifier of vouchers paying receiver.
func NewVerifier(d Domain, receiver common.Address) *Verifier {
	return &Verifier{domain: d, receiver: receiver, keys: make(map[common.Address][]byte)}
}

// Domain is the verifier's domain.
func (vf *Verifier) Domain() Domain { return vf.domain }

// Receiver is the address the verified vouchers pay.
func (vf *Verifier) Receiver() common.Address { return vf.receiver }

// Verify checks that v's amount is in range and that its sender signed it
// for this receiver and domain; it does not look at the channel's state.
func (vf *Verifier) Verify(v *Voucher) error {
	if v.Amount == nil || v.Amount.Sign() <= 0 || v.Amount.Cmp(MaxAmount) > 0 {
		return fmt.Errorf("%w: %v", ErrBadAmount, v.Amount)
	}
	r, s := new(big.Int).SetBytes(v.Sig[:32]), new(big.Int).SetBytes(v.Sig[32:64])
	if v.Sig[64] > 1 || r.Sign() == 0 || s.Sign() == 0 || s.Cmp(secp256k1HalfN) > 0 || r.Cmp(crypto.S256().Params().N) >= 0 {
		return fmt.Errorf("%w: malformed", ErrBadSignature)
	}
	digest := vf.domain.Digest(v.Channel(vf.receiver), vf.receiver, v.Amount)
	vf.mu.RLock()
	pub := vf.keys[v.Sender]
	vf.mu.RUnlock()
	if pub != nil {
		if crypto.VerifySignature(pub, digest[:], v.Sig[:64]) {
			return nil
		}
		// A valid signature by the same sender always verifies; fall through
		// only to name the error precisely.
	}
	pub, err := crypto.Ecrecover(digest[:], v.Sig[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if signer := pubAddress(pub); signer != v.Sender {
		// V may name the other recovery id: the verification above does not
		// look at it, so neither does this, and a claim derives its own
		// (ClaimV). A voucher is accepted or refused alike whether its
		// sender's key is cached or not.
		other := v.Sig
		other[64] ^= 1
		if pub, err = crypto.Ecrecover(digest[:], other[:]); err != nil || pubAddress(pub) != v.Sender {
			return fmt.Errorf("%w: signed by %v, channel sender %v", ErrWrongSigner, signer, v.Sender)
		}
	}
	vf.mu.Lock()
	if len(vf.keys) >= maxCachedKeys {
		clear(vf.keys)
	}
	vf.keys[v.Sender] = pub
	vf.mu.Unlock()
	return nil
}

// ClaimV is the signature's V as the contract's claim takes it (27 or
// 28): the recovery id that recovers v's sender, which need not be the one
// v carries, since a Verifier does not depend on it. When neither
// recovers the sender it is v's own, and the contract refuses the claim.
func (d Domain) ClaimV(v *Voucher, receiver common.Address) uint8 {
	digest := d.Digest(v.Channel(receiver), receiver, v.Amount)
	sig := v.Sig
	for range 2 {
		if pub, err := crypto.Ecrecover(digest[:], sig[:]); err == nil && pubAddress(pub) == v.Sender {
			return sig[64] + 27
		}
		sig[64] ^= 1
	}
	return v.Sig[64] + 27
}

// pubAddress is the address of an uncompressed public key.
func pubAddress(pub []byte) common.Address {
	return common.BytesToAddress(crypto.Keccak256(pub[1:])[12:])
}
