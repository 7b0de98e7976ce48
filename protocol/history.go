package protocol

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// History messages (docs/protocol.md §6b): a server signs the root over
// its complete history sections as it signs heads, and proves headers and
// bloom bits against it.
const (
	HistoryRootMsg     Code = 0x1c
	GetHeaderProofsMsg Code = 0x1d
	HeaderProofsMsg    Code = 0x1e
	GetBloomBitsMsg    Code = 0x1f
	BloomBitsMsg       Code = 0x20
)

// Limits of the history messages.
const (
	MaxHeaderProofs = 64  // block numbers per GetHeaderProofs
	MaxBloomBits    = 256 // (section, bit) pairs per GetBloomBits
	MaxProofPath    = 32  // hashes in one Merkle path
	MaxVectorSize   = 512 // bytes of one bloom bit's vector over a section
)

// ErrBadHistoryRoot is a HistoryRoot whose signature does not recover.
var ErrBadHistoryRoot = errors.New("invalid history root")

func init() {
	codeNames[HistoryRootMsg] = "HistoryRoot"
	codeNames[GetHeaderProofsMsg] = "GetHeaderProofs"
	codeNames[HeaderProofsMsg] = "HeaderProofs"
	codeNames[GetBloomBitsMsg] = "GetBloomBits"
	codeNames[BloomBitsMsg] = "BloomBits"
}

// HistoryRoot is a server's signed root over its first Count history
// sections; it sends one after the handshake and whenever a section is
// complete.
type HistoryRoot struct {
	Count     uint64
	Root      common.Hash
	Signature []byte
}

// SigningHash is keccak256(rlp([chainID, count, root])).
func (h *HistoryRoot) SigningHash(chainID uint64) common.Hash {
	enc, _ := rlp.EncodeToBytes([]any{chainID, h.Count, h.Root})
	return crypto.Keccak256Hash(enc)
}

// Sign fills h.Signature.
func (h *HistoryRoot) Sign(chainID uint64, key interface{ Sign([]byte) ([]byte, error) }) error {
	sig, err := key.Sign(h.SigningHash(chainID).Bytes())
	if err != nil {
		return err
	}
	h.Signature = sig
	return nil
}

// Signer recovers the compressed public key that signed h.
func (h *HistoryRoot) Signer(chainID uint64) ([]byte, error) {
	if len(h.Signature) != crypto.SignatureLength {
		return nil, fmt.Errorf("%w: signature is %d bytes", ErrBadHistoryRoot, len(h.Signature))
	}
	pub, err := crypto.SigToPub(h.SigningHash(chainID).Bytes(), h.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadHistoryRoot, err)
	}
	return crypto.CompressPubkey(pub), nil
}

// GetHeaderProofs asks for the headers of blocks by number, each with its
// proof under the root over the first Count sections.
type GetHeaderProofs struct {
	ReqID   uint64
	Count   uint64
	Numbers []uint64
}

// Validate bounds the request.
func (r *GetHeaderProofs) Validate() error {
	if len(r.Numbers) == 0 || len(r.Numbers) > MaxHeaderProofs {
		return fmt.Errorf("%w: %d header proofs, want 1..%d", ErrTooManyItems, len(r.Numbers), MaxHeaderProofs)
	}
	return nil
}

// HeaderProof is one header with its proof: the path of its hash in its
// section's hash tree, the section's bloom root, and the path of the
// section's root in the tree over sections.
type HeaderProof struct {
	Header      *types.Header
	HashPath    Path
	BloomRoot   common.Hash
	SectionPath Path
}

// HeaderProofs answers GetHeaderProofs, in the order asked, stopping at
// the first block the server cannot prove.
type HeaderProofs struct {
	ReqID  uint64
	BV     uint64
	Proofs []HeaderProof
}

// Validate bounds the reply.
func (r *HeaderProofs) Validate() error {
	if len(r.Proofs) > MaxHeaderProofs {
		return fmt.Errorf("%w: %d header proofs", ErrTooManyItems, len(r.Proofs))
	}
	for _, p := range r.Proofs {
		if p.Header == nil || len(p.HashPath) > MaxProofPath || len(p.SectionPath) > MaxProofPath {
			return fmt.Errorf("%w: malformed header proof", ErrInvalidRequest)
		}
	}
	return nil
}

// BloomBitsRef names one bloom bit's vector over one section.
type BloomBitsRef struct {
	Section uint64
	Bit     uint64
}

// GetBloomBits asks for bloom bit vectors over sections, each proven
// under the root over the first Count sections. With AllOf, a block is
// wanted only where every asked bit of its section is set (the filter is
// one conjunction), and the server may leave out a vector whose zeros the
// section's other vectors in the reply already hold (BloomBits.Left).
type GetBloomBits struct {
	ReqID uint64
	Count uint64
	Refs  []BloomBitsRef
	AllOf bool `rlp:"optional"`
}

// Validate bounds the request.
func (r *GetBloomBits) Validate() error {
	if len(r.Refs) == 0 || len(r.Refs) > MaxBloomBits {
		return fmt.Errorf("%w: %d bloom bit vectors, want 1..%d", ErrTooManyItems, len(r.Refs), MaxBloomBits)
	}
	for _, ref := range r.Refs {
		if ref.Bit >= 2048 {
			return fmt.Errorf("%w: bloom bit %d", ErrInvalidRequest, ref.Bit)
		}
	}
	return nil
}

// BloomBitsProof is one bloom bit's vector over a section with its proof:
// the path of its hash in the section's bloom tree, the section's hash
// root, and the path of the section's root in the tree over sections.
type BloomBitsProof struct {
	Vector      []byte
	BloomPath   Path
	HashRoot    common.Hash
	SectionPath Path
}

// BloomBits answers GetBloomBits, in the order asked, stopping at the first
// vector the server cannot prove. Left lists, ascending, the indices into
// the request's refs of the vectors left out (only for a request with
// AllOf); Vectors holds the others, in order.
type BloomBits struct {
	ReqID   uint64
	BV      uint64
	Vectors []BloomBitsProof
	Left    []uint64 `rlp:"optional"`
}

// Validate bounds the reply.
func (r *BloomBits) Validate() error {
	if n := len(r.Vectors) + len(r.Left); n > MaxBloomBits {
		return fmt.Errorf("%w: %d bloom bit vectors", ErrTooManyItems, n)
	}
	for i, k := range r.Left {
		if k >= MaxBloomBits || (i > 0 && k <= r.Left[i-1]) {
			return fmt.Errorf("%w: vectors left out %v not ascending below %d", ErrInvalidRequest, r.Left, MaxBloomBits)
		}
	}
	for _, v := range r.Vectors {
		if len(v.Vector) > MaxVectorSize || len(v.BloomPath) > MaxProofPath || len(v.SectionPath) > MaxProofPath {
			return fmt.Errorf("%w: malformed bloom bits proof", ErrInvalidRequest)
		}
	}
	return nil
}

func (r *GetHeaderProofs) Items() int            { return len(r.Numbers) }
func (r *GetBloomBits) Items() int               { return len(r.Refs) }
func (r *GetHeaderProofs) RequestID() uint64     { return r.ReqID }
func (r *GetBloomBits) RequestID() uint64        { return r.ReqID }
func (*GetHeaderProofs) isRequest()              {}
func (*GetBloomBits) isRequest()                 {}
func (r *HeaderProofs) RequestID() uint64        { return r.ReqID }
func (r *HeaderProofs) BufferValue() uint64      { return r.BV }
func (r *HeaderProofs) SetBufferValue(bv uint64) { r.BV = bv }
func (r *BloomBits) RequestID() uint64           { return r.ReqID }
func (r *BloomBits) BufferValue() uint64         { return r.BV }
func (r *BloomBits) SetBufferValue(bv uint64)    { r.BV = bv }

// Recent headers (docs/protocol.md §6b): headers up to RecentWindow blocks
// behind a head, each proven by the EIP-2935 history contract's storage
// at the head.
const (
	GetRecentHeadersMsg Code = 0x21
	RecentHeadersMsg    Code = 0x22
)

// RecentWindow is how far behind a head the EIP-2935 contract keeps
// block hashes.
const RecentWindow = 8191

// GetRecentHeaders asks for the canonical headers of blocks by number, as
// of the block Head (its state proves them), within RecentWindow blocks
// behind it.
type GetRecentHeaders struct {
	ReqID   uint64
	Head    common.Hash
	Numbers []uint64
}

// Validate bounds the request.
func (r *GetRecentHeaders) Validate() error {
	if len(r.Numbers) == 0 || len(r.Numbers) > MaxHeaderProofs {
		return fmt.Errorf("%w: %d recent headers, want 1..%d", ErrTooManyItems, len(r.Numbers), MaxHeaderProofs)
	}
	return nil
}

// RecentHeaders answers GetRecentHeaders: the headers in the order asked
// (stopping at the first the server cannot prove) and the proof of the
// history contract's account and of each one's slot at the head.
type RecentHeaders struct {
	ReqID   uint64
	BV      uint64
	Headers []*types.Header
	Proof   AccountProof
}

// Validate bounds the reply.
func (r *RecentHeaders) Validate() error {
	if len(r.Headers) > MaxHeaderProofs || len(r.Proof.Storage) > MaxHeaderProofs {
		return fmt.Errorf("%w: %d recent headers", ErrTooManyItems, len(r.Headers))
	}
	return nil
}

func init() {
	codeNames[GetRecentHeadersMsg] = "GetRecentHeaders"
	codeNames[RecentHeadersMsg] = "RecentHeaders"
}

func (r *GetRecentHeaders) Items() int            { return len(r.Numbers) }
func (r *GetRecentHeaders) RequestID() uint64     { return r.ReqID }
func (*GetRecentHeaders) isRequest()              {}
func (r *RecentHeaders) RequestID() uint64        { return r.ReqID }
func (r *RecentHeaders) BufferValue() uint64      { return r.BV }
func (r *RecentHeaders) SetBufferValue(bv uint64) { r.BV = bv }

// The tail (docs/protocol.md §6b): the recent blocks that complete
// sections do not cover yet, proven against a root a server signs for a
// head on request (package history).
const (
	GetTailMsg Code = 0x23
	TailMsg    Code = 0x24
)

func init() {
	codeNames[GetTailMsg] = "GetTail"
	codeNames[TailMsg] = "Tail"
}

// GetTail asks for the signed root of the tail as of the canonical block
// Head, bloom bit vectors over the tail's sections, and headers of its
// blocks with their proofs. Refs and Numbers may both be empty: the root
// alone.
type GetTail struct {
	ReqID   uint64
	Head    common.Hash
	Refs    []BloomBitsRef
	Numbers []uint64
}

// Validate bounds the request.
func (r *GetTail) Validate() error {
	if len(r.Refs) > MaxBloomBits || len(r.Numbers) > MaxHeaderProofs {
		return fmt.Errorf("%w: %d bloom bit vectors and %d headers, want at most %d and %d", ErrTooManyItems,
			len(r.Refs), len(r.Numbers), MaxBloomBits, MaxHeaderProofs)
	}
	for _, ref := range r.Refs {
		if ref.Bit >= 2048 {
			return fmt.Errorf("%w: bloom bit %d", ErrInvalidRequest, ref.Bit)
		}
	}
	return nil
}

// TailVector is one bloom bit's vector over a tail section with its proof
// (history.TailBloomProof).
type TailVector struct {
	Vector    []byte
	BloomPath Path
	HashRoot  common.Hash
	Sibling   common.Hash
}

// TailHeader is one header of the tail with its proof
// (history.TailHeaderProof).
type TailHeader struct {
	Header    *types.Header
	HashPath  Path
	BloomRoot common.Hash
	Sibling   common.Hash
}

// Tail answers GetTail. Number is the head's number, Root the tail's root
// as of it and Signature the server's over TailSigningHash; a head the
// server does not hold as canonical gets a zero Root, no signature and
// nothing else. Vectors and Headers follow the order asked, each list
// stopping at the first item the server cannot prove.
type Tail struct {
	ReqID     uint64
	BV        uint64
	Number    uint64
	Root      common.Hash
	Signature []byte
	Vectors   []TailVector
	Headers   []TailHeader
}

// Validate bounds the reply.
func (r *Tail) Validate() error {
	if len(r.Vectors) > MaxBloomBits || len(r.Headers) > MaxHeaderProofs {
		return fmt.Errorf("%w: %d tail vectors and %d headers", ErrTooManyItems, len(r.Vectors), len(r.Headers))
	}
	for _, v := range r.Vectors {
		if len(v.Vector) > MaxVectorSize || len(v.BloomPath) > MaxProofPath {
			return fmt.Errorf("%w: malformed tail bloom proof", ErrInvalidRequest)
		}
	}
	for _, h := range r.Headers {
		if h.Header == nil || len(h.HashPath) > MaxProofPath {
			return fmt.Errorf("%w: malformed tail header proof", ErrInvalidRequest)
		}
	}
	return nil
}

// tailDomain sets a tail root's signature apart from every other signed
// message.
const tailDomain = "lightmarket tail"

// TailSigningHash is what a tail root's signature covers:
// keccak256(rlp([chainID, "lightmarket tail", head, number, root])).
func TailSigningHash(chainID uint64, head common.Hash, number uint64, root common.Hash) common.Hash {
	enc, _ := rlp.EncodeToBytes([]any{chainID, tailDomain, head, number, root})
	return crypto.Keccak256Hash(enc)
}

// TailSigner recovers the compressed public key that signed a tail root.
func TailSigner(chainID uint64, head common.Hash, number uint64, root common.Hash, sig []byte) ([]byte, error) {
	if len(sig) != crypto.SignatureLength {
		return nil, fmt.Errorf("%w: tail root signature is %d bytes", ErrBadHistoryRoot, len(sig))
	}
	pub, err := crypto.SigToPub(TailSigningHash(chainID, head, number, root).Bytes(), sig)
	if err != nil {
		return nil, fmt.Errorf("%w: tail root: %v", ErrBadHistoryRoot, err)
	}
	return crypto.CompressPubkey(pub), nil
}

// Items counts one for the root, so that asking for it alone is not free.
func (r *GetTail) Items() int            { return len(r.Refs) + len(r.Numbers) + 1 }
func (r *GetTail) RequestID() uint64     { return r.ReqID }
func (*GetTail) isRequest()              {}
func (r *Tail) RequestID() uint64        { return r.ReqID }
func (r *Tail) BufferValue() uint64      { return r.BV }
func (r *Tail) SetBufferValue(bv uint64) { r.BV = bv }

// Path is a Merkle path: a list of hashes, decoded without reflection
// (the proofs of a log search carry thousands of them).
type Path []common.Hash

// DecodeRLP decodes a list of 32-byte strings, as the default decoding of
// []common.Hash does.
func (p *Path) DecodeRLP(s *rlp.Stream) error {
	size, err := s.List()
	if err != nil {
		return err
	}
	out := make(Path, 0, size/(1+common.HashLength)+1) // +1: the probe that meets the end
	for {
		out = append(out, common.Hash{})
		if err := s.ReadBytes(out[len(out)-1][:]); errors.Is(err, rlp.EOL) {
			out = out[:len(out)-1]
			break
		} else if err != nil {
			return err
		}
	}
	*p = out
	return s.ListEnd()
}
