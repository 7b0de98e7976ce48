package protocol

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// Name and Version identify the protocol in the devp2p handshake.
const (
	Name    = "lm"
	Version = 4
)

// Code is a message code, relative to the protocol's offset in the RLPx
// session.
type Code uint64

// Message codes. Requests have even codes from 0x02 on, their replies the
// next odd code (SendTx is answered by TxStatus).
const (
	StatusMsg          Code = 0x00
	AnnounceMsg        Code = 0x01
	GetBlockHeadersMsg Code = 0x02
	BlockHeadersMsg    Code = 0x03
	GetBlockBodiesMsg  Code = 0x04
	BlockBodiesMsg     Code = 0x05
	GetReceiptsMsg     Code = 0x06
	ReceiptsMsg        Code = 0x07
	GetProofsMsg       Code = 0x08
	ProofsMsg          Code = 0x09
	GetCodeMsg         Code = 0x0a
	CodeMsg            Code = 0x0b
	SendTxMsg          Code = 0x0c
	GetTxStatusMsg     Code = 0x0d
	TxStatusMsg        Code = 0x0e
	ErrorMsg           Code = 0x0f
	CapacityUpdateMsg  Code = 0x10
	StopMsg            Code = 0x11
	ResumeMsg          Code = 0x12
	BidMsg             Code = 0x13
	AllocationMsg      Code = 0x14
	PaymentTermsMsg    Code = 0x15
	PayMsg             Code = 0x16
	PayAckMsg          Code = 0x17
	GetReceiptsPartMsg Code = 0x18
	ReceiptsPartMsg    Code = 0x19
	GetWitnessMsg      Code = 0x1a
	WitnessMsg         Code = 0x1b

	// 0x1c-0x24: the history messages (history.go); 0x25-0x2a: the
	// beacon messages (beacon.go).

	// Length is the number of codes the protocol reserves: 0x2b-0x3f are
	// reserved for later versions.
	Length = 0x40
)

var codeNames = map[Code]string{
	StatusMsg:          "Status",
	AnnounceMsg:        "Announce",
	GetBlockHeadersMsg: "GetBlockHeaders",
	BlockHeadersMsg:    "BlockHeaders",
	GetBlockBodiesMsg:  "GetBlockBodies",
	BlockBodiesMsg:     "BlockBodies",
	GetReceiptsMsg:     "GetReceipts",
	ReceiptsMsg:        "Receipts",
	GetProofsMsg:       "GetProofs",
	ProofsMsg:          "Proofs",
	GetCodeMsg:         "GetCode",
	CodeMsg:            "Code",
	SendTxMsg:          "SendTx",
	GetTxStatusMsg:     "GetTxStatus",
	TxStatusMsg:        "TxStatus",
	ErrorMsg:           "Error",
	CapacityUpdateMsg:  "CapacityUpdate",
	StopMsg:            "Stop",
	ResumeMsg:          "Resume",
	BidMsg:             "Bid",
	AllocationMsg:      "Allocation",
	PaymentTermsMsg:    "PaymentTerms",
	PayMsg:             "Pay",
	PayAckMsg:          "PayAck",
	GetReceiptsPartMsg: "GetReceiptsPart",
	ReceiptsPartMsg:    "ReceiptsPart",
	GetWitnessMsg:      "GetWitness",
	WitnessMsg:         "Witness",
}

func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("Code(%#x)", uint64(c))
}

// Limits. A message above MaxMessageSize, or a request above its item
// limit, is a protocol violation. A server stops adding items to a reply
// once it passes SoftResponseLimit and returns what it has.
const (
	MaxMessageSize    = 10 * 1024 * 1024
	SoftResponseLimit = 2 * 1024 * 1024

	MaxHeaders        = 192         // headers per GetBlockHeaders
	MaxBodies         = 32          // hashes per GetBlockBodies
	MaxReceipts       = 128         // hashes per GetReceipts
	MaxProofs         = 64          // accounts per GetProofs
	MaxSlotsPerProof  = 64          // storage slots per account in GetProofs
	MaxProofSlots     = 256         // storage slots per GetProofs, all accounts
	MaxCode           = 64          // accounts per GetCode
	MaxTxs            = 64          // transactions per SendTx
	MaxTxSize         = 128 * 1024  // bytes of a transaction without blobs (geth's legacy pool)
	MaxBlobTxSize     = 1024 * 1024 // bytes of a blob transaction with its sidecar (geth's blob pool)
	MaxTxStatus       = 256         // hashes per GetTxStatus
	MaxCostTable      = 32          // entries in FlowParams.Costs
	MaxErrorReasonLen = 256         // bytes of Error.Reason and TxStatusItem.Error
	MaxExtraFields    = 16          // unknown trailing fields tolerated in Status
	MaxPayMethods     = 4           // methods in PaymentTerms
	MaxMethodName     = 32          // bytes of a payment method's name
	MaxPayTerms       = 256         // bytes of a method's terms
	MaxPayment        = 256         // bytes of one payment in Pay
)

// Errors a peer can cause. The server or client that detects one sends an
// Error message naming it and disconnects; errors.Is matches them.
var (
	ErrMsgTooLarge      = errors.New("message too large")
	ErrDecode           = errors.New("invalid message encoding")
	ErrUnexpectedMsg    = errors.New("unexpected message")
	ErrTooManyItems     = errors.New("too many items")
	ErrInvalidRequest   = errors.New("invalid request")
	ErrProtocolVersion  = errors.New("protocol version mismatch")
	ErrChainMismatch    = errors.New("chain mismatch")
	ErrBadAnnounce      = errors.New("invalid head announcement")
	ErrUnknownRequestID = errors.New("reply to unknown request")
	ErrBufferOverrun    = errors.New("flow control buffer overrun")
	ErrMsgRate          = errors.New("signed messages too frequent")
)

// RuleName returns a short name of the rule err says was broken
// ("too_many_items", ...), for metrics labels; "" when err is none of the
// protocol's errors.
func RuleName(err error) string {
	for _, r := range rules {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return ""
}

var rules = []struct {
	err  error
	name string
}{
	{ErrMsgTooLarge, "message_too_large"},
	{ErrDecode, "decode"},
	{ErrUnexpectedMsg, "unexpected_message"},
	{ErrTooManyItems, "too_many_items"},
	{ErrInvalidRequest, "invalid_request"},
	{ErrProtocolVersion, "protocol_version"},
	{ErrChainMismatch, "chain_mismatch"},
	{ErrBadAnnounce, "bad_announce"},
	{ErrUnknownRequestID, "unknown_request_id"},
	{ErrBufferOverrun, "buffer_overrun"},
	{ErrMsgRate, "msg_rate"},
}

// Status is the first message each side sends. A server fills every field;
// a client sends its version, chain id and genesis (zero when it has not
// decided on one yet) and leaves the rest zero.
type Status struct {
	ProtocolVersion uint64
	ChainID         uint64
	Genesis         common.Hash
	HeadHash        common.Hash
	HeadNumber      uint64
	FlowControl     FlowParams
	// Retention says which history the server can serve (what
	// eth_capabilities reports of its chain).
	Retention Retention
	// Extra holds fields a later version appends; this version ignores
	// them.
	Extra []rlp.RawValue `rlp:"tail"`
}

// Retention says, per kind of data, which blocks a server can serve it
// for.
type Retention struct {
	State       Availability // account and storage state
	Tx          Availability // transaction lookup by hash
	Logs        Availability // log search
	Receipts    Availability // receipts
	Blocks      Availability // headers and bodies
	StateProofs Availability // account and storage proofs
}

// Availability describes the blocks one kind of data is kept for: none
// when Disabled; otherwise from block Oldest on and, when Window is not
// zero, only for the last Window blocks up to the head.
type Availability struct {
	Disabled bool
	Window   uint64
	Oldest   uint64
}

// OldestAt returns the oldest block served when the head is head.
func (a Availability) OldestAt(head uint64) uint64 {
	if a.Window == 0 || head+1 <= a.Window {
		return a.Oldest
	}
	return max(a.Oldest, head+1-a.Window)
}

// FlowParams are the server's flow-control parameters for this client: its
// buffer limit and recharge rate (cost units, recharge per millisecond) and
// the maximum cost of each request type.
type FlowParams struct {
	BufferLimit uint64
	Recharge    uint64
	Costs       []RequestCost
}

// RequestCost is the announced maximum cost of one request type: Base plus
// PerItem times the number of items asked for.
type RequestCost struct {
	Code    Code
	Base    uint64
	PerItem uint64
}

// Validate checks a received Status against the local chain. A zero
// genesis skips the genesis check (the side that sent it is deciding).
func (s *Status) Validate(chainID uint64, genesis common.Hash) error {
	if s.ProtocolVersion != Version {
		return fmt.Errorf("%w: peer speaks %d, want %d", ErrProtocolVersion, s.ProtocolVersion, Version)
	}
	if s.ChainID != chainID {
		return fmt.Errorf("%w: peer chain id %d, want %d", ErrChainMismatch, s.ChainID, chainID)
	}
	if genesis != (common.Hash{}) && s.Genesis != genesis {
		return fmt.Errorf("%w: peer genesis %x, want %x", ErrChainMismatch, s.Genesis, genesis)
	}
	if n := len(s.FlowControl.Costs); n > MaxCostTable {
		return fmt.Errorf("%w: %d cost table entries, limit %d", ErrTooManyItems, n, MaxCostTable)
	}
	if n := len(s.Extra); n > MaxExtraFields {
		return fmt.Errorf("%w: %d extra status fields, limit %d", ErrTooManyItems, n, MaxExtraFields)
	}
	return nil
}

// Announce tells a client about a new head of the server's chain, and
// about the chain's safe and finalized blocks when it has them. The server
// signs it with its node key, binding chain id, head, parent, safe and
// finalized blocks, so that a client can count which trusted servers vouch
// for each.
type Announce struct {
	Hash       common.Hash
	Number     uint64
	ParentHash common.Hash
	Safe       *BlockRef `rlp:"nil"` // nil: the server's chain has no safe block
	Finalized  *BlockRef `rlp:"nil"` // nil: no finalized block
	Signature  []byte    // 65 bytes [R || S || V], see SigningHash
}

// BlockRef names a block by hash and number.
type BlockRef struct {
	Hash   common.Hash
	Number uint64
}

// SigningHash is what an Announce's signature covers:
// keccak256(rlp([chainID, hash, number, parentHash, safe, finalized])),
// where an absent safe or finalized block is the empty list.
func (a *Announce) SigningHash(chainID uint64) common.Hash {
	enc, _ := rlp.EncodeToBytes([]any{chainID, a.Hash, a.Number, a.ParentHash, refList(a.Safe), refList(a.Finalized)})
	return crypto.Keccak256Hash(enc)
}

// refList is the signed form of an optional block reference.
func refList(r *BlockRef) []any {
	if r == nil {
		return []any{}
	}
	return []any{r.Hash, r.Number}
}

// Sign fills a.Signature.
func (a *Announce) Sign(chainID uint64, key interface{ Sign([]byte) ([]byte, error) }) error {
	sig, err := key.Sign(a.SigningHash(chainID).Bytes())
	if err != nil {
		return err
	}
	a.Signature = sig
	return nil
}

// Signer recovers the public key that signed a, in the 33-byte compressed
// form, or fails with ErrBadAnnounce.
func (a *Announce) Signer(chainID uint64) ([]byte, error) {
	if len(a.Signature) != crypto.SignatureLength {
		return nil, fmt.Errorf("%w: signature is %d bytes", ErrBadAnnounce, len(a.Signature))
	}
	pub, err := crypto.SigToPub(a.SigningHash(chainID).Bytes(), a.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAnnounce, err)
	}
	return crypto.CompressPubkey(pub), nil
}

// HashOrNumber is the origin of a header request: a block hash or a block
// number, never a convention between them (the zero hash is a hash like any
// other). On the wire it is a 32-byte string (hash) or an integer (number).
// The zero value names block number 0.
type HashOrNumber struct {
	hash   common.Hash
	number uint64
	byHash bool
}

// ByHash names the block with the given hash.
func ByHash(h common.Hash) HashOrNumber { return HashOrNumber{hash: h, byHash: true} }

// ByNumber names the canonical block with the given number.
func ByNumber(n uint64) HashOrNumber { return HashOrNumber{number: n} }

// Hash returns the hash and true when the origin is a hash.
func (hn HashOrNumber) Hash() (common.Hash, bool) { return hn.hash, hn.byHash }

// Number returns the number and true when the origin is a number.
func (hn HashOrNumber) Number() (uint64, bool) { return hn.number, !hn.byHash }

func (hn HashOrNumber) String() string {
	if hn.byHash {
		return hn.hash.Hex()
	}
	return fmt.Sprintf("#%d", hn.number)
}

// EncodeRLP implements rlp.Encoder.
func (hn *HashOrNumber) EncodeRLP(w io.Writer) error {
	if hn.byHash {
		return rlp.Encode(w, hn.hash)
	}
	return rlp.Encode(w, hn.number)
}

// DecodeRLP implements rlp.Decoder.
func (hn *HashOrNumber) DecodeRLP(s *rlp.Stream) error {
	kind, size, err := s.Kind()
	if err != nil {
		return err
	}
	switch {
	case kind == rlp.List:
		return fmt.Errorf("origin is a list, want a 32-byte hash or an integer")
	case size == 32:
		*hn = HashOrNumber{byHash: true}
		return s.Decode(&hn.hash)
	case size <= 8:
		*hn = HashOrNumber{}
		return s.Decode(&hn.number)
	default:
		return fmt.Errorf("origin is %d bytes, want a 32-byte hash or an integer", size)
	}
}

// GetBlockHeaders asks for Amount headers starting at Origin, then every
// Skip+1 blocks, descending when Reverse is set.
type GetBlockHeaders struct {
	ReqID   uint64
	Origin  HashOrNumber
	Amount  uint64
	Skip    uint64
	Reverse bool
}

// Validate checks the request's bounds.
func (r *GetBlockHeaders) Validate() error {
	if r.Amount == 0 || r.Amount > MaxHeaders {
		return fmt.Errorf("%w: %d headers asked, want 1..%d", ErrTooManyItems, r.Amount, MaxHeaders)
	}
	if r.Skip > 1<<32 {
		return fmt.Errorf("%w: skip %d", ErrInvalidRequest, r.Skip)
	}
	return nil
}

// BlockHeaders answers GetBlockHeaders with the headers the server has, in
// the order asked; it stops at the first one it does not have.
type BlockHeaders struct {
	ReqID   uint64
	BV      uint64
	Headers []*types.Header
}

// GetBlockBodies asks for the bodies of blocks by hash, or of the
// server's canonical blocks by number (Numbers, with no Hashes): a client
// that has the numbers of blocks whose headers it is proving in the same
// round trip asks this way and checks the bodies against those headers.
type GetBlockBodies struct {
	ReqID   uint64
	Hashes  []common.Hash
	Numbers []uint64 `rlp:"optional"`
}

// Validate checks the request's bounds.
func (r *GetBlockBodies) Validate() error {
	return checkHashesOrNumbers(len(r.Hashes), len(r.Numbers), MaxBodies, "bodies")
}

// BlockBodies answers GetBlockBodies: one body per block asked, in order; an
// empty list at the end means the server stopped (unknown block or size).
type BlockBodies struct {
	ReqID  uint64
	BV     uint64
	Bodies []*types.Body
}

// GetReceipts asks for the receipts of blocks by hash, or of the server's
// canonical blocks by number (Numbers, with no Hashes), as GetBlockBodies.
type GetReceipts struct {
	ReqID   uint64
	Hashes  []common.Hash
	Numbers []uint64 `rlp:"optional"`
}

// Validate checks the request's bounds.
func (r *GetReceipts) Validate() error {
	return checkHashesOrNumbers(len(r.Hashes), len(r.Numbers), MaxReceipts, "receipts")
}

// Receipts answers GetReceipts: for each block asked, in order, its
// receipts in consensus encoding. The server stops early at a block it does
// not have, or once the reply passes the soft response limit. A block whose
// receipts alone are larger than SoftResponseLimit is never sent whole:
// when that block is the next one asked, Oversize is set, and the client
// fetches its receipts with GetReceiptsPart.
type Receipts struct {
	ReqID    uint64
	BV       uint64
	Receipts [][]*types.Receipt
	Oversize bool
}

// GetReceiptsPart asks for part of one block's receipts, from transaction
// index Start on.
type GetReceiptsPart struct {
	ReqID     uint64
	BlockHash common.Hash
	Start     uint64
}

// Validate checks the request's bounds.
func (r *GetReceiptsPart) Validate() error {
	if r.Start >= MaxBlockReceipts {
		return fmt.Errorf("%w: receipts part from index %d", ErrInvalidRequest, r.Start)
	}
	return nil
}

// ReceiptsPart answers GetReceiptsPart: the receipts of Count consecutive
// transactions from the index asked (at least one, up to about
// SoftResponseLimit bytes), as the nodes of the block's receipt trie that
// prove each of them (a multiproof: every node once). The receipts are not
// sent separately: the client reads them from the proven leaves. An
// unknown block, or a start past the last transaction, gives Count 0.
type ReceiptsPart struct {
	ReqID uint64
	BV    uint64
	Count uint64
	Nodes [][]byte
}

// Bounds of a receipts part. A block holds at most gas limit / 21,000
// transactions, far fewer than MaxBlockReceipts; a part proves at most
// MaxPartReceipts of them in at most MaxPartNodes trie nodes.
const (
	MaxBlockReceipts = 1 << 20
	MaxPartReceipts  = 1 << 16
	MaxPartNodes     = 1 << 17
)

// GetWitness asks for the state a call reads. The server runs Method at
// the block with the given hash, with Params, the JSON array of the
// method's parameters without its block parameter (for eth_call: the
// call, then state overrides and block overrides when given), and answers
// with proofs of every account, storage slot and code the run read.
type GetWitness struct {
	ReqID     uint64
	BlockHash common.Hash
	Method    string
	Params    []byte
}

// Methods a witness can be asked for.
var WitnessMethods = []string{"eth_call", "eth_estimateGas", "eth_createAccessList", "eth_simulateV1"}

// Validate checks the request's bounds.
func (r *GetWitness) Validate() error {
	if !slices.Contains(WitnessMethods, r.Method) {
		return fmt.Errorf("%w: witness of method %.32q", ErrInvalidRequest, r.Method)
	}
	if len(r.Params) == 0 || len(r.Params) > MaxWitnessParams {
		return fmt.Errorf("%w: witness parameters of %d bytes, want 1..%d", ErrInvalidRequest, len(r.Params), MaxWitnessParams)
	}
	return nil
}

// Witness answers GetWitness: the accounts the run read, each with the
// storage slots it read, the state and storage trie nodes that prove all
// of them against the block's state root (every node once, in any order),
// and the code of the contracts it ran. A server that could not run the
// call, or stopped at its limits, sends what it has: the client proves the
// rest itself.
type Witness struct {
	ReqID    uint64
	BV       uint64
	Accounts []WitnessAccount
	Nodes    [][]byte
	Codes    [][]byte
}

// WitnessAccount is an account of a witness and the slots read of it.
type WitnessAccount struct {
	Address common.Address
	Slots   []common.Hash
}

// Bounds of a witness.
const (
	MaxWitnessParams   = 256 * 1024 // bytes of GetWitness.Params
	MaxWitnessAccounts = 4096
	MaxWitnessSlots    = 1 << 16 // in all accounts
	MaxWitnessNodes    = 1 << 17
	MaxWitnessCodes    = 1024
)

// ProofRequest asks for the proof of one account, and of some of its
// storage slots, in the state of a block.
type ProofRequest struct {
	BlockHash common.Hash
	Address   common.Address
	Slots     []common.Hash
}

// GetProofs asks for account and storage proofs.
type GetProofs struct {
	ReqID    uint64
	Requests []ProofRequest
}

// Validate checks the request's bounds.
func (r *GetProofs) Validate() error {
	if err := checkCount(len(r.Requests), MaxProofs, "proofs"); err != nil {
		return err
	}
	total := 0
	for i := range r.Requests {
		n := len(r.Requests[i].Slots)
		if n > MaxSlotsPerProof {
			return fmt.Errorf("%w: %d slots for one account, limit %d", ErrTooManyItems, n, MaxSlotsPerProof)
		}
		total += n
	}
	if total > MaxProofSlots {
		return fmt.Errorf("%w: %d slots, limit %d", ErrTooManyItems, total, MaxProofSlots)
	}
	return nil
}

// AccountProof is the proof of one account: the trie nodes from the state
// root to the account, and for each slot asked (in order) the nodes from
// the account's storage root to the slot. Values are not sent: the client
// reads them from the proven leaves.
type AccountProof struct {
	Account [][]byte
	Storage [][][]byte
}

// Proofs answers GetProofs, one AccountProof per request, in order.
type Proofs struct {
	ReqID  uint64
	BV     uint64
	Proofs []AccountProof
}

// CodeRequest asks for the code of an account in the state of a block.
type CodeRequest struct {
	BlockHash common.Hash
	Address   common.Address
}

// GetCode asks for contract code.
type GetCode struct {
	ReqID    uint64
	Requests []CodeRequest
}

// Validate checks the request's bounds.
func (r *GetCode) Validate() error { return checkCount(len(r.Requests), MaxCode, "code") }

// CodeReply answers GetCode, one code per request, in order.
type CodeReply struct {
	ReqID uint64
	BV    uint64
	Codes [][]byte
}

// SendTx relays signed transactions (binary, EIP-2718 encoded) to the
// server's chain. The server answers with TxStatus, one per transaction.
type SendTx struct {
	ReqID uint64
	Txs   [][]byte
}

// Validate checks the request's bounds: a blob transaction (type 3, with
// its sidecar) may take up to MaxBlobTxSize, any other MaxTxSize.
func (r *SendTx) Validate() error {
	if err := checkCount(len(r.Txs), MaxTxs, "transactions"); err != nil {
		return err
	}
	for i, tx := range r.Txs {
		if limit := TxSizeLimit(tx); len(tx) > limit {
			return fmt.Errorf("%w: transaction %d is %d bytes, limit %d", ErrInvalidRequest, i, len(tx), limit)
		}
	}
	return nil
}

// TxSizeLimit returns the size limit of a transaction in its binary
// encoding: MaxBlobTxSize for a blob transaction, MaxTxSize otherwise.
func TxSizeLimit(tx []byte) int {
	if len(tx) > 0 && tx[0] == types.BlobTxType {
		return MaxBlobTxSize
	}
	return MaxTxSize
}

// GetTxStatus asks where transactions are.
type GetTxStatus struct {
	ReqID  uint64
	Hashes []common.Hash
}

// Validate checks the request's bounds.
func (r *GetTxStatus) Validate() error {
	return checkCount(len(r.Hashes), MaxTxStatus, "transaction statuses")
}

// Transaction statuses.
const (
	TxUnknown  uint64 = 0
	TxPending  uint64 = 1
	TxIncluded uint64 = 2
)

// TxStatusItem is what the server knows of one transaction. For an included
// one it gives the block and index (the client checks them against the
// block's body); for a pending one the transaction itself (the client checks
// its hash); Error says why the server's chain refused a sent transaction.
type TxStatusItem struct {
	Status      uint64
	BlockHash   common.Hash
	BlockNumber uint64
	Index       uint64
	Tx          []byte
	Error       string
}

// TxStatus answers GetTxStatus and SendTx, one item per hash or
// transaction, in order.
type TxStatus struct {
	ReqID    uint64
	BV       uint64
	Statuses []TxStatusItem
}

// CapacityUpdate gives a client new flow-control parameters. A raise
// applies at once at the server; a cut applies there two seconds after the
// message, so requests already sent are not overruns. The client applies
// them at once.
type CapacityUpdate struct {
	BufferLimit uint64
	Recharge    uint64
}

// Stop asks an overloaded server's lowest-priority client to send no
// requests until Resume. Requests already sent are still served.
type Stop struct{}

// Resume lets a stopped client send requests again; BV is its buffer value.
type Resume struct {
	BV uint64
}

// Bid places, updates or (Max = 0) withdraws a client's demand for paid
// capacity: up to Max capacity units (cost units per ms), at least Min, at
// no more than Price wei per capacity-unit-second. The server answers with
// Allocation carrying the same ReqID.
type Bid struct {
	ReqID uint64
	Max   uint64
	Min   uint64
	Price *big.Int
}

// Validate checks a bid.
func (b *Bid) Validate() error {
	if b.Max == 0 {
		return nil // withdrawal
	}
	if b.Min == 0 || b.Min > b.Max {
		return fmt.Errorf("%w: bid minimum %d, maximum %d", ErrInvalidRequest, b.Min, b.Max)
	}
	if b.Price == nil || b.Price.BitLen() > 256 {
		return fmt.Errorf("%w: bid price out of range", ErrInvalidRequest)
	}
	return nil
}

// Allocation tells a client the paid capacity it holds and the clearing
// price it pays per capacity-unit-second, in answer to a Bid (ReqID) or
// when it changes (ReqID 0). When UntilMs is set (unix milliseconds), the
// capacity falls to Final then: the client was outbid and keeps what it
// had for the grace period.
type Allocation struct {
	ReqID    uint64
	Capacity uint64
	Price    *big.Int
	UntilMs  uint64
	Final    uint64
}

// PaymentTerms tells a client, once after the handshake, how the server
// can be paid: one entry per payment method it accepts, with the method's
// own terms (for payment channels: chain, contract and receiver).
type PaymentTerms struct {
	Methods []PaymentMethod
}

// PaymentMethod is one accepted payment method.
type PaymentMethod struct {
	Name  string
	Terms []byte
}

// Validate checks the terms' bounds.
func (t *PaymentTerms) Validate() error {
	if len(t.Methods) > MaxPayMethods {
		return fmt.Errorf("%w: %d payment methods, limit %d", ErrTooManyItems, len(t.Methods), MaxPayMethods)
	}
	for _, m := range t.Methods {
		if len(m.Name) == 0 || len(m.Name) > MaxMethodName || len(m.Terms) > MaxPayTerms {
			return fmt.Errorf("%w: payment method %.32q with %d bytes of terms", ErrInvalidRequest, m.Name, len(m.Terms))
		}
	}
	return nil
}

// Pay sends a payment in the named method, answered by PayAck with the
// same ReqID. A payment is method-specific (for payment channels a
// voucher: a cumulative amount signed by the channel's sender).
type Pay struct {
	ReqID   uint64
	Method  string
	Payment []byte
}

// Validate checks the payment's bounds.
func (p *Pay) Validate() error {
	if len(p.Method) == 0 || len(p.Method) > MaxMethodName || len(p.Payment) == 0 || len(p.Payment) > MaxPayment {
		return fmt.Errorf("%w: payment of %d bytes in method %.32q", ErrInvalidRequest, len(p.Payment), p.Method)
	}
	return nil
}

// PayAck answers Pay. With Code PayAccepted the payment is stored durably
// and Credited wei were added to the client's balance, which is now
// Balance; otherwise it was refused, nothing was credited, and Reason
// says why.
type PayAck struct {
	ReqID    uint64
	Code     PayCode
	Credited *big.Int
	Balance  *big.Int
	Reason   string
}

// Validate checks the acknowledgement's bounds.
func (a *PayAck) Validate() error {
	if a.Credited == nil || a.Balance == nil || a.Credited.BitLen() > 256 || a.Balance.BitLen() > 256 {
		return fmt.Errorf("%w: payment acknowledgement without amounts", ErrInvalidRequest)
	}
	if len(a.Reason) > MaxErrorReasonLen {
		return fmt.Errorf("%w: reason of %d bytes", ErrInvalidRequest, len(a.Reason))
	}
	return nil
}

// PayCode says whether a payment was accepted and, if not, why.
type PayCode uint64

// Payment codes.
const (
	PayAccepted       PayCode = 0
	PayMalformed      PayCode = 1 // the payment does not decode
	PayBadSignature   PayCode = 2 // not signed by the channel's sender
	PayUnknownChannel PayCode = 3 // no such channel on chain
	PayClosing        PayCode = 4 // channel closing: nothing more is credited on it
	PayClosed         PayCode = 5 // channel closed
	PayAboveDeposit   PayCode = 6 // more than the channel's deposit
	PayReplayed       PayCode = 7 // less than a payment already accepted
	PayUnavailable    PayCode = 8 // the server cannot check it now: retry later
	PayUnsupported    PayCode = 9 // method not accepted here
)

var payCodeNames = map[PayCode]string{
	PayAccepted: "accepted", PayMalformed: "malformed", PayBadSignature: "bad signature",
	PayUnknownChannel: "unknown channel", PayClosing: "channel closing", PayClosed: "channel closed",
	PayAboveDeposit: "above deposit", PayReplayed: "replayed", PayUnavailable: "unavailable",
	PayUnsupported: "unsupported method",
}

func (c PayCode) String() string {
	if n, ok := payCodeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("PayCode(%d)", uint64(c))
}

// Error tells the peer which rule it broke before the sender disconnects.
type Error struct {
	Reason string
}

// NewError builds an Error from err, truncating the reason.
func NewError(err error) *Error {
	reason := err.Error()
	if len(reason) > MaxErrorReasonLen {
		reason = reason[:MaxErrorReasonLen]
	}
	return &Error{Reason: reason}
}

// checkHashesOrNumbers checks a request that names blocks by hash or by
// number, never both.
func checkHashesOrNumbers(hashes, numbers, max int, what string) error {
	if hashes > 0 && numbers > 0 {
		return fmt.Errorf("%w: %s asked by hash and by number at once", ErrInvalidRequest, what)
	}
	return checkCount(hashes+numbers, max, what)
}

func checkCount(n, max int, what string) error {
	if n == 0 || n > max {
		return fmt.Errorf("%w: %d %s asked, want 1..%d", ErrTooManyItems, n, what, max)
	}
	return nil
}
