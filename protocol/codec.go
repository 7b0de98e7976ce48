package protocol

import (
	"fmt"
	"io"

	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/rlp"
)

// Request is implemented by every request message, and only by them.
type Request interface {
	Validate() error
	RequestID() uint64
	// Items is the number of items asked for, which the cost of the
	// request is counted by.
	Items() int
	isRequest()
}

func (r *GetBlockHeaders) Items() int { return int(r.Amount) }
func (r *GetBlockBodies) Items() int  { return len(r.Hashes) + len(r.Numbers) }
func (r *GetReceipts) Items() int     { return len(r.Hashes) + len(r.Numbers) }
func (r *GetCode) Items() int         { return len(r.Requests) }
func (r *SendTx) Items() int          { return len(r.Txs) }
func (r *GetTxStatus) Items() int     { return len(r.Hashes) }

// Items of a receipts part is one: its cost table entry prices a whole
// part.
func (r *GetReceiptsPart) Items() int { return 1 }

// Items of a witness is one: its cost table entry prices a run.
func (r *GetWitness) Items() int { return 1 }

// Items of a proof request counts accounts and storage slots alike.
func (r *GetProofs) Items() int {
	n := len(r.Requests)
	for _, pr := range r.Requests {
		n += len(pr.Slots)
	}
	return n
}

// Reply is implemented by every reply message.
type Reply interface {
	RequestID() uint64
	BufferValue() uint64
	// SetBufferValue sets the buffer value the server sends with it.
	SetBufferValue(bv uint64)
}

func (r *GetBlockHeaders) RequestID() uint64 { return r.ReqID }
func (r *GetBlockBodies) RequestID() uint64  { return r.ReqID }
func (r *GetReceipts) RequestID() uint64     { return r.ReqID }
func (r *GetProofs) RequestID() uint64       { return r.ReqID }
func (r *GetCode) RequestID() uint64         { return r.ReqID }
func (r *SendTx) RequestID() uint64          { return r.ReqID }
func (r *GetTxStatus) RequestID() uint64     { return r.ReqID }
func (r *GetReceiptsPart) RequestID() uint64 { return r.ReqID }
func (r *GetWitness) RequestID() uint64      { return r.ReqID }

func (*GetBlockHeaders) isRequest() {}
func (*GetBlockBodies) isRequest()  {}
func (*GetReceipts) isRequest()     {}
func (*GetProofs) isRequest()       {}
func (*GetCode) isRequest()         {}
func (*SendTx) isRequest()          {}
func (*GetTxStatus) isRequest()     {}
func (*GetReceiptsPart) isRequest() {}
func (*GetWitness) isRequest()      {}

func (r *BlockHeaders) RequestID() uint64        { return r.ReqID }
func (r *BlockHeaders) BufferValue() uint64      { return r.BV }
func (r *BlockHeaders) SetBufferValue(bv uint64) { r.BV = bv }
func (r *BlockBodies) RequestID() uint64         { return r.ReqID }
func (r *BlockBodies) BufferValue() uint64       { return r.BV }
func (r *BlockBodies) SetBufferValue(bv uint64)  { r.BV = bv }
func (r *Receipts) RequestID() uint64            { return r.ReqID }
func (r *Receipts) BufferValue() uint64          { return r.BV }
func (r *Receipts) SetBufferValue(bv uint64)     { r.BV = bv }
func (r *Proofs) RequestID() uint64              { return r.ReqID }
func (r *Proofs) BufferValue() uint64            { return r.BV }
func (r *Proofs) SetBufferValue(bv uint64)       { r.BV = bv }
func (r *CodeReply) RequestID() uint64           { return r.ReqID }
func (r *CodeReply) BufferValue() uint64         { return r.BV }
func (r *CodeReply) SetBufferValue(bv uint64)    { r.BV = bv }
func (r *TxStatus) RequestID() uint64            { return r.ReqID }
func (r *TxStatus) BufferValue() uint64          { return r.BV }
func (r *TxStatus) SetBufferValue(bv uint64)     { r.BV = bv }
func (r *ReceiptsPart) RequestID() uint64        { return r.ReqID }
func (r *ReceiptsPart) BufferValue() uint64      { return r.BV }
func (r *ReceiptsPart) SetBufferValue(bv uint64) { r.BV = bv }
func (r *Witness) RequestID() uint64             { return r.ReqID }
func (r *Witness) BufferValue() uint64           { return r.BV }
func (r *Witness) SetBufferValue(bv uint64)      { r.BV = bv }

// newMessage returns a pointer to a zero message of the given code.
func newMessage(code Code) any {
	switch code {
	case StatusMsg:
		return new(Status)
	case AnnounceMsg:
		return new(Announce)
	case GetBlockHeadersMsg:
		return new(GetBlockHeaders)
	case BlockHeadersMsg:
		return new(BlockHeaders)
	case GetBlockBodiesMsg:
		return new(GetBlockBodies)
	case BlockBodiesMsg:
		return new(BlockBodies)
	case GetReceiptsMsg:
		return new(GetReceipts)
	case ReceiptsMsg:
		return new(Receipts)
	case GetProofsMsg:
		return new(GetProofs)
	case ProofsMsg:
		return new(Proofs)
	case GetCodeMsg:
		return new(GetCode)
	case CodeMsg:
		return new(CodeReply)
	case SendTxMsg:
		return new(SendTx)
	case GetTxStatusMsg:
		return new(GetTxStatus)
	case TxStatusMsg:
		return new(TxStatus)
	case ErrorMsg:
		return new(Error)
	case CapacityUpdateMsg:
		return new(CapacityUpdate)
	case StopMsg:
		return new(Stop)
	case ResumeMsg:
		return new(Resume)
	case BidMsg:
		return new(Bid)
	case AllocationMsg:
		return new(Allocation)
	case PaymentTermsMsg:
		return new(PaymentTerms)
	case PayMsg:
		return new(Pay)
	case PayAckMsg:
		return new(PayAck)
	case GetReceiptsPartMsg:
		return new(GetReceiptsPart)
	case ReceiptsPartMsg:
		return new(ReceiptsPart)
	case GetWitnessMsg:
		return new(GetWitness)
	case WitnessMsg:
		return new(Witness)
	case HistoryRootMsg:
		return new(HistoryRoot)
	case GetHeaderProofsMsg:
		return new(GetHeaderProofs)
	case HeaderProofsMsg:
		return new(HeaderProofs)
	case GetBloomBitsMsg:
		return new(GetBloomBits)
	case BloomBitsMsg:
		return new(BloomBits)
	case GetRecentHeadersMsg:
		return new(GetRecentHeaders)
	case RecentHeadersMsg:
		return new(RecentHeaders)
	case GetTailMsg:
		return new(GetTail)
	case TailMsg:
		return new(Tail)
	case BeaconOptimisticMsg:
		return new(BeaconOptimistic)
	case BeaconFinalityMsg:
		return new(BeaconFinality)
	case GetBeaconBootstrapMsg:
		return new(GetBeaconBootstrap)
	case BeaconBootstrapMsg:
		return new(BeaconBootstraps)
	case GetBeaconUpdatesMsg:
		return new(GetBeaconUpdates)
	case BeaconUpdatesMsg:
		return new(BeaconUpdates)
	}
	return nil
}

// Decode decodes the payload of a message with the given code and checks
// its bounds (Validate). Errors wrap ErrUnexpectedMsg (unknown
// code), ErrMsgTooLarge, ErrDecode or the validation error.
func Decode(code Code, payload []byte) (any, error) {
	if len(payload) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %v is %d bytes, limit %d", ErrMsgTooLarge, code, len(payload), MaxMessageSize)
	}
	msg := newMessage(code)
	if msg == nil {
		return nil, fmt.Errorf("%w: code %#x", ErrUnexpectedMsg, uint64(code))
	}
	if err := rlp.DecodeBytes(payload, msg); err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrDecode, code, err)
	}
	if v, ok := msg.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("%v: %w", code, err)
		}
	}
	if e, ok := msg.(*Error); ok && len(e.Reason) > MaxErrorReasonLen {
		e.Reason = e.Reason[:MaxErrorReasonLen]
	}
	return msg, nil
}

// ReadMsg reads the next message from rw and decodes it with Decode. The
// size is checked before the payload is read.
func ReadMsg(rw p2p.MsgReader) (Code, any, error) {
	msg, err := rw.ReadMsg()
	if err != nil {
		return 0, nil, err
	}
	defer msg.Discard()
	code := Code(msg.Code)
	if msg.Size > MaxMessageSize {
		return code, nil, fmt.Errorf("%w: %v is %d bytes, limit %d", ErrMsgTooLarge, code, msg.Size, MaxMessageSize)
	}
	payload := make([]byte, msg.Size)
	if _, err := io.ReadFull(msg.Payload, payload); err != nil {
		return code, nil, err
	}
	m, err := Decode(code, payload)
	return code, m, err
}

// Send encodes msg and writes it to w with the given code.
func Send(w p2p.MsgWriter, code Code, msg any) error {
	return p2p.Send(w, uint64(code), msg)
}
