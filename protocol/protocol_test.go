package protocol

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"math/big"
	"reflect"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/rlp"
)

// sampleMessages returns one deterministic instance of every message type.
func sampleMessages() map[Code]any {
	h := &types.Header{ParentHash: common.Hash{1}, Number: big.NewInt(7), Difficulty: new(big.Int), GasLimit: 30_000_000, Time: 1700000000, Extra: []byte("lm")}
	return map[Code]any{
		StatusMsg: &Status{ProtocolVersion: Version, ChainID: 1337, Genesis: common.Hash{0xaa}, HeadHash: common.Hash{0xbb}, HeadNumber: 7,
			FlowControl: FlowParams{BufferLimit: 600, Recharge: 1, Costs: []RequestCost{{Code: GetBlockHeadersMsg, Base: 3, PerItem: 2}}},
			Retention:   Retention{State: Availability{Window: 128}, Logs: Availability{Disabled: true}}},
		AnnounceMsg: &Announce{Hash: common.Hash{0xbb}, Number: 7, ParentHash: common.Hash{1}, Safe: &BlockRef{Hash: common.Hash{0xbb}, Number: 7},
			Signature: make([]byte, 65)},
		GetBlockHeadersMsg:  &GetBlockHeaders{ReqID: 1, Origin: ByNumber(7), Amount: 3, Skip: 1, Reverse: true},
		BlockHeadersMsg:     &BlockHeaders{ReqID: 1, BV: 9, Headers: []*types.Header{h}},
		GetBlockBodiesMsg:   &GetBlockBodies{ReqID: 2, Hashes: []common.Hash{{0xbb}}},
		BlockBodiesMsg:      &BlockBodies{ReqID: 2, BV: 9, Bodies: []*types.Body{{Withdrawals: []*types.Withdrawal{{Index: 1, Amount: 2}}}}},
		GetReceiptsMsg:      &GetReceipts{ReqID: 3, Hashes: []common.Hash{{0xbb}}},
		ReceiptsMsg:         &Receipts{ReqID: 3, BV: 9, Receipts: [][]*types.Receipt{{{Type: types.DynamicFeeTxType, Status: 1, CumulativeGasUsed: 21000, Logs: []*types.Log{}}}}},
		GetProofsMsg:        &GetProofs{ReqID: 4, Requests: []ProofRequest{{BlockHash: common.Hash{0xbb}, Address: common.Address{0xcc}, Slots: []common.Hash{{1}}}}},
		ProofsMsg:           &Proofs{ReqID: 4, BV: 9, Proofs: []AccountProof{{Account: [][]byte{{0xc0}}, Storage: [][][]byte{{{0xc1, 0x80}}}}}},
		GetCodeMsg:          &GetCode{ReqID: 5, Requests: []CodeRequest{{BlockHash: common.Hash{0xbb}, Address: common.Address{0xcc}}}},
		CodeMsg:             &CodeReply{ReqID: 5, BV: 9, Codes: [][]byte{{0x60, 0x00}}},
		SendTxMsg:           &SendTx{ReqID: 6, Txs: [][]byte{{0x02, 0xc0}}},
		GetTxStatusMsg:      &GetTxStatus{ReqID: 7, Hashes: []common.Hash{{0xdd}}},
		TxStatusMsg:         &TxStatus{ReqID: 7, BV: 9, Statuses: []TxStatusItem{{Status: TxIncluded, BlockHash: common.Hash{0xbb}, BlockNumber: 7, Index: 0}}},
		ErrorMsg:            &Error{Reason: "too many items"},
		CapacityUpdateMsg:   &CapacityUpdate{BufferLimit: 600, Recharge: 1},
		StopMsg:             &Stop{},
		ResumeMsg:           &Resume{BV: 5},
		BidMsg:              &Bid{ReqID: 8, Max: 100, Min: 50, Price: big.NewInt(1e9)},
		AllocationMsg:       &Allocation{ReqID: 8, Capacity: 100, Price: big.NewInt(7), UntilMs: 1_700_000_000_000, Final: 0},
		PaymentTermsMsg:     &PaymentTerms{Methods: []PaymentMethod{{Name: "channel", Terms: []byte{0xc0}}}},
		PayMsg:              &Pay{ReqID: 9, Method: "channel", Payment: []byte{0xc0}},
		PayAckMsg:           &PayAck{ReqID: 9, Code: PayReplayed, Credited: new(big.Int), Balance: big.NewInt(10), Reason: "voucher amount below one already accepted"},
		GetReceiptsPartMsg:  &GetReceiptsPart{ReqID: 10, BlockHash: common.Hash{0xbb}, Start: 128},
		ReceiptsPartMsg:     &ReceiptsPart{ReqID: 10, BV: 9, Count: 1, Nodes: [][]byte{{0xc1, 0x80}}},
		HistoryRootMsg:      &HistoryRoot{Count: 3, Root: common.Hash{7}, Signature: make([]byte, 65)},
		GetHeaderProofsMsg:  &GetHeaderProofs{ReqID: 12, Count: 3, Numbers: []uint64{5, 4097}},
		HeaderProofsMsg:     &HeaderProofs{ReqID: 12, BV: 8, Proofs: []HeaderProof{{Header: h, HashPath: []common.Hash{{1}}, BloomRoot: common.Hash{2}, SectionPath: []common.Hash{{3}}}}},
		GetBloomBitsMsg:     &GetBloomBits{ReqID: 13, Count: 3, Refs: []BloomBitsRef{{Section: 1, Bit: 2047}}},
		BloomBitsMsg:        &BloomBits{ReqID: 13, BV: 7, Vectors: []BloomBitsProof{{Vector: make([]byte, 512), BloomPath: []common.Hash{{1}}, HashRoot: common.Hash{2}, SectionPath: []common.Hash{{3}}}}},
		GetRecentHeadersMsg: &GetRecentHeaders{ReqID: 14, Head: common.Hash{9}, Numbers: []uint64{1, 2}},
		RecentHeadersMsg:    &RecentHeaders{ReqID: 14, BV: 6, Headers: []*types.Header{h}, Proof: AccountProof{Account: [][]byte{{1}}, Storage: [][][]byte{{{2}}}}},
		GetTailMsg:          &GetTail{ReqID: 15, Head: common.Hash{9}, Refs: []BloomBitsRef{{Section: 48, Bit: 7}}, Numbers: []uint64{200_000}},
		TailMsg: &Tail{ReqID: 15, BV: 5, Number: 200_001, Root: common.Hash{4}, Signature: make([]byte, 65),
			Vectors: []TailVector{{Vector: make([]byte, 512), BloomPath: []common.Hash{{1}}, HashRoot: common.Hash{2}, Sibling: common.Hash{3}}},
			Headers: []TailHeader{{Header: h, HashPath: []common.Hash{{1}}, BloomRoot: common.Hash{2}, Sibling: common.Hash{3}}}},
		BeaconOptimisticMsg: &BeaconOptimistic{Version: "electra", Attested: beaconHeaderExec(), Aggregate: SyncAggregate{Signers: [64]byte{0xff}}, SignatureSlot: 9},
		BeaconFinalityMsg: &BeaconFinality{Version: "electra", Attested: beaconHeaderExec(), Finalized: beaconHeaderExec(),
			FinalityBranch: []common.Hash{{5}, {6}}, SignatureSlot: 9},
		GetBeaconBootstrapMsg: &GetBeaconBootstrap{ReqID: 16, Root: common.Hash{8}},
		BeaconBootstrapMsg: &BeaconBootstraps{ReqID: 16, BV: 4, Bootstraps: []BeaconBootstrap{{Version: "electra",
			Header: BeaconHeader{Slot: 64}, Committee: make([]byte, 24624), CommitteeBranch: []common.Hash{{1}}}}},
		GetBeaconUpdatesMsg: &GetBeaconUpdates{ReqID: 17, StartPeriod: 3, Count: 2},
		BeaconUpdatesMsg: &BeaconUpdates{ReqID: 17, BV: 3, Updates: []BeaconUpdate{{Version: "deneb", Attested: BeaconHeader{Slot: 8200},
			SignatureSlot: 8201, NextCommittee: make([]byte, 24624), NextCommitteeBranch: []common.Hash{{2}},
			Finalized: &BeaconHeader{Slot: 8192}, FinalityBranch: []common.Hash{{3}}}}},
		GetWitnessMsg: &GetWitness{ReqID: 11, BlockHash: common.Hash{0xbb}, Method: "eth_call", Params: []byte(`[{"to":"0x01"}]`)},
		WitnessMsg: &Witness{ReqID: 11, BV: 9, Accounts: []WitnessAccount{{Address: common.Address{1}, Slots: []common.Hash{{2}}}},
			Nodes: [][]byte{{0xc1, 0x80}}, Codes: [][]byte{{0x60, 0x00}}},
	}
}

func beaconHeaderExec() BeaconHeaderExec {
	return BeaconHeaderExec{Header: BeaconHeader{Slot: 7, ProposerIndex: 3, ParentRoot: common.Hash{1}, StateRoot: common.Hash{2}, BodyRoot: common.Hash{3}},
		Exec: BeaconExecProof{PayloadHeader: []byte{1, 2, 3}, Branch: []common.Hash{{4}}}}
}

func TestEveryMessageRoundTrips(t *testing.T) {
	for code, msg := range sampleMessages() {
		enc, err := rlp.EncodeToBytes(msg)
		if err != nil {
			t.Fatalf("%v: encode: %v", code, err)
		}
		got, err := Decode(code, enc)
		if err != nil {
			t.Fatalf("%v: decode: %v", code, err)
		}
		re, _ := rlp.EncodeToBytes(got)
		if !bytes.Equal(re, enc) {
			t.Errorf("%v: re-encoding differs:\n %x\n %x", code, re, enc)
		}
	}
}

// TestWireBytes pins the exact encoding of the messages a second
// implementation must produce (see docs/protocol.md).
func TestWireBytes(t *testing.T) {
	msgs := sampleMessages()
	for _, tt := range []struct {
		code Code
		hex  string
	}{
		// [reqID 1, origin 7, amount 3, skip 1, reverse 1]
		{GetBlockHeadersMsg, "c5 01 07 03 01 01"},
		{GetBlockBodiesMsg, "e302e1a0bb00000000000000000000000000000000000000000000000000000000000000"},
		{GetTxStatusMsg, "e307e1a0dd00000000000000000000000000000000000000000000000000000000000000"},
		{ErrorMsg, "cf8e746f6f206d616e79206974656d73"},
		// [reqID 9, "channel", payment 0xc0]
		{PayMsg, "cb 09 876368616e6e656c 81c0"},
		// 170-byte list: hash (33), number (1), parent (33), safe [hash, 7]
		// (35), finalized none (1), signature (67)
		{AnnounceMsg, "f8aa a0bb00000000000000000000000000000000000000000000000000000000000000 07 a00100000000000000000000000000000000000000000000000000000000000000" +
			" e2 a0bb00000000000000000000000000000000000000000000000000000000000000 07 c0 b841" + zeros(65)},
		// [reqID 10, block hash, start index 128]
		{GetReceiptsPartMsg, "e4 0a a0bb00000000000000000000000000000000000000000000000000000000000000 8180"},
		// [reqID 3, BV 9, [[receipt]], oversize 0]
		{ReceiptsMsg, "f90118 03 09 f90112 f9010f b9010c 02 f90108 01 825208 b90100" + zeros(256) + " c0 80"},
	} {
		want, _ := hex.DecodeString(stripSpaces(tt.hex))
		got, _ := rlp.EncodeToBytes(msgs[tt.code])
		if !bytes.Equal(got, want) {
			t.Errorf("%v encodes to\n %x\nwant\n %x", tt.code, got, want)
		}
	}
}

func zeros(n int) string { return hex.EncodeToString(make([]byte, n)) }

func stripSpaces(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil))
}

// TestBlocksByNumberWire pins the encoding of bodies and receipts asked
// by number: an empty hash list, then the numbers; asked by hash, the
// request encodes as before the numbers existed.
func TestBlocksByNumberWire(t *testing.T) {
	for _, tt := range []struct {
		code Code
		msg  any
		hex  string
	}{
		// [reqID 2, [], [7, 300]]
		{GetBlockBodiesMsg, &GetBlockBodies{ReqID: 2, Numbers: []uint64{7, 300}}, "c7 02 c0 c4 07 82012c"},
		{GetReceiptsMsg, &GetReceipts{ReqID: 3, Numbers: []uint64{7}}, "c4 03 c0 c1 07"},
		{GetReceiptsMsg, &GetReceipts{ReqID: 3, Hashes: []common.Hash{{0xbb}}}, "e3 03 e1a0bb" + zeros(31)},
	} {
		checkWire(t, tt.code, tt.msg, tt.hex)
	}
}

// checkWire checks that msg encodes to the bytes hex spells and decodes
// back to what encodes the same.
func checkWire(t *testing.T, code Code, msg any, hexBytes string) {
	t.Helper()
	want, _ := hex.DecodeString(stripSpaces(hexBytes))
	got, _ := rlp.EncodeToBytes(msg)
	if !bytes.Equal(got, want) {
		t.Errorf("%v encodes to\n %x\nwant\n %x", code, got, want)
	}
	back, err := Decode(code, got)
	if err != nil {
		t.Fatalf("%v: decode: %v", code, err)
	}
	if re, _ := rlp.EncodeToBytes(back); !bytes.Equal(re, got) {
		t.Errorf("%v: re-encoding differs: %x", code, re)
	}
}

// TestBloomBitsLeftOut pins the optional fields of a conjunction's
// GetBloomBits (allOf) and of a reply that leaves vectors out, and what a
// reply's left-out indices may be.
func TestBloomBitsLeftOut(t *testing.T) {
	for _, tt := range []struct {
		code Code
		msg  any
		hex  string
	}{
		// [reqID 13, count 3, [[1, 2047]], allOf 1]
		{GetBloomBitsMsg, &GetBloomBits{ReqID: 13, Count: 3, Refs: []BloomBitsRef{{1, 2047}}, AllOf: true}, "c9 0d 03 c5 c4 01 8207ff 01"},
		// allOf false is not sent
		{GetBloomBitsMsg, &GetBloomBits{ReqID: 13, Count: 3, Refs: []BloomBitsRef{{1, 2047}}}, "c8 0d 03 c5 c4 01 8207ff"},
		// [reqID 13, BV 7, [], left [0, 2]]
		{BloomBitsMsg, &BloomBits{ReqID: 13, BV: 7, Left: []uint64{0, 2}}, "c6 0d 07 c0 c2 80 02"},
	} {
		checkWire(t, tt.code, tt.msg, tt.hex)
	}
	for _, tt := range []struct {
		name string
		left []uint64
		n    int // vectors sent beside
		want error
	}{
		{"ascending", []uint64{0, 5, 255}, 0, nil},
		{"repeated", []uint64{3, 3}, 0, ErrInvalidRequest},
		{"descending", []uint64{4, 2}, 0, ErrInvalidRequest},
		{"beyond a request", []uint64{MaxBloomBits}, 0, ErrInvalidRequest},
		{"more than a request, with the vectors", []uint64{0}, MaxBloomBits, ErrTooManyItems},
	} {
		r := &BloomBits{Left: tt.left, Vectors: make([]BloomBitsProof, tt.n)}
		if err := r.Validate(); !errors.Is(err, tt.want) {
			t.Errorf("%s: Validate = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestHashOrNumber pins that a hash and a number never stand for each
// other: the zero hash is sent as a 32-byte hash, not as block number 0.
func TestHashOrNumber(t *testing.T) {
	for _, tt := range []struct {
		hn  HashOrNumber
		hex string
	}{
		{ByNumber(0), "80"},
		{ByNumber(1 << 40), "86010000000000"},
		{ByHash(common.Hash{1}), "a0" + "01" + zeros(31)},
		{ByHash(common.Hash{}), "a0" + zeros(32)},
	} {
		enc, _ := rlp.EncodeToBytes(&tt.hn)
		if hex.EncodeToString(enc) != tt.hex {
			t.Errorf("%v encodes to %x, want %s", tt.hn, enc, tt.hex)
		}
		var got HashOrNumber
		if err := rlp.DecodeBytes(enc, &got); err != nil || got != tt.hn {
			t.Errorf("%v: decoded %v, %v", tt.hn, got, err)
		}
	}
	if h, ok := ByHash(common.Hash{}).Hash(); !ok || h != (common.Hash{}) {
		t.Error("the zero hash is not a hash origin")
	}
	if _, ok := ByHash(common.Hash{}).Number(); ok {
		t.Error("the zero hash reads as a number")
	}
	for _, bad := range []any{make([]byte, 20), []uint{1}} {
		enc, _ := rlp.EncodeToBytes(bad)
		var got HashOrNumber
		if err := rlp.DecodeBytes(enc, &got); err == nil {
			t.Errorf("origin %x accepted", enc)
		}
	}
}

func TestRequestLimits(t *testing.T) {
	hashes := func(n int) []common.Hash { return make([]common.Hash, n) }
	tests := []struct {
		name string
		req  Request
		want error
	}{
		{"headers at limit", &GetBlockHeaders{Amount: MaxHeaders}, nil},
		{"headers over", &GetBlockHeaders{Amount: MaxHeaders + 1}, ErrTooManyItems},
		{"no headers", &GetBlockHeaders{Amount: 0}, ErrTooManyItems},
		{"huge skip", &GetBlockHeaders{Amount: 1, Skip: 1<<32 + 1}, ErrInvalidRequest},
		{"bodies at limit", &GetBlockBodies{Hashes: hashes(MaxBodies)}, nil},
		{"bodies over", &GetBlockBodies{Hashes: hashes(MaxBodies + 1)}, ErrTooManyItems},
		{"receipts over", &GetReceipts{Hashes: hashes(MaxReceipts + 1)}, ErrTooManyItems},
		{"receipts by number", &GetReceipts{Numbers: []uint64{7, 9}}, nil},
		{"receipts by number over", &GetReceipts{Numbers: make([]uint64, MaxReceipts+1)}, ErrTooManyItems},
		{"bodies by number", &GetBlockBodies{Numbers: []uint64{7}}, nil},
		{"bodies by hash and number", &GetBlockBodies{Hashes: hashes(1), Numbers: []uint64{7}}, ErrInvalidRequest},
		{"receipts by hash and number", &GetReceipts{Hashes: hashes(1), Numbers: []uint64{7}}, ErrInvalidRequest},
		{"tx status at limit", &GetTxStatus{Hashes: hashes(MaxTxStatus)}, nil},
		{"tx status over", &GetTxStatus{Hashes: hashes(MaxTxStatus + 1)}, ErrTooManyItems},
		{"code over", &GetCode{Requests: make([]CodeRequest, MaxCode+1)}, ErrTooManyItems},
		{"proofs over", &GetProofs{Requests: make([]ProofRequest, MaxProofs+1)}, ErrTooManyItems},
		{"slots for one account over", &GetProofs{Requests: []ProofRequest{{Slots: hashes(MaxSlotsPerProof + 1)}}}, ErrTooManyItems},
		{"slots in all over", &GetProofs{Requests: []ProofRequest{{Slots: hashes(64)}, {Slots: hashes(64)}, {Slots: hashes(64)}, {Slots: hashes(64)}, {Slots: hashes(1)}}}, ErrTooManyItems},
		{"txs over", &SendTx{Txs: make([][]byte, MaxTxs+1)}, ErrTooManyItems},
		{"tx too big", &SendTx{Txs: [][]byte{make([]byte, MaxTxSize+1)}}, ErrInvalidRequest},
		{"blob tx with sidecar", &SendTx{Txs: [][]byte{append([]byte{types.BlobTxType}, make([]byte, 900_000)...)}}, nil},
		{"blob tx too big", &SendTx{Txs: [][]byte{append([]byte{types.BlobTxType}, make([]byte, MaxBlobTxSize)...)}}, ErrInvalidRequest},
		{"receipts part start", &GetReceiptsPart{Start: MaxBlockReceipts}, ErrInvalidRequest},
		{"witness of another method", &GetWitness{Method: "eth_sendRawTransaction", Params: []byte("[]")}, ErrInvalidRequest},
		{"witness without parameters", &GetWitness{Method: "eth_call"}, ErrInvalidRequest},
		{"witness parameters too long", &GetWitness{Method: "eth_call", Params: make([]byte, MaxWitnessParams+1)}, ErrInvalidRequest},
	}
	for _, b := range []*Bid{{Max: 2, Min: 3, Price: big.NewInt(1)}, {Max: 2, Min: 0, Price: big.NewInt(1)}, {Max: 2, Min: 1}} {
		if err := b.Validate(); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("bid %+v: %v", b, err)
		}
	}
	if err := (&Bid{}).Validate(); err != nil {
		t.Errorf("withdrawal refused: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.req.Validate(); !errors.Is(err, tt.want) {
				t.Errorf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStatusValidate(t *testing.T) {
	ok := Status{ProtocolVersion: Version, ChainID: 1, Genesis: common.Hash{1}}
	if err := ok.Validate(1, common.Hash{1}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		mod  func(*Status)
		want error
	}{
		{"version", func(s *Status) { s.ProtocolVersion = 1 }, ErrProtocolVersion},
		{"chain id", func(s *Status) { s.ChainID = 2 }, ErrChainMismatch},
		{"genesis", func(s *Status) { s.Genesis = common.Hash{2} }, ErrChainMismatch},
		{"cost table", func(s *Status) { s.FlowControl.Costs = make([]RequestCost, MaxCostTable+1) }, ErrTooManyItems},
	} {
		s := ok
		tt.mod(&s)
		if err := s.Validate(1, common.Hash{1}); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestAnnounceSignature(t *testing.T) {
	key, _ := crypto.GenerateKey()
	a := &Announce{Hash: common.Hash{1}, Number: 5, ParentHash: common.Hash{2}}
	if err := a.Sign(1337, signer{key}); err != nil {
		t.Fatal(err)
	}
	pub, err := a.Signer(1337)
	if err != nil || !bytes.Equal(pub, crypto.CompressPubkey(&key.PublicKey)) {
		t.Fatalf("signer = %x, %v", pub, err)
	}
	// Any change to what was signed changes the signer.
	for name, mod := range map[string]func(a *Announce) uint64{
		"chain id":  func(a *Announce) uint64 { return 1 },
		"hash":      func(a *Announce) uint64 { a.Hash[0]++; return 1337 },
		"number":    func(a *Announce) uint64 { a.Number++; return 1337 },
		"parent":    func(a *Announce) uint64 { a.ParentHash[0]++; return 1337 },
		"safe":      func(a *Announce) uint64 { a.Safe = &BlockRef{Hash: common.Hash{2}, Number: 4}; return 1337 },
		"finalized": func(a *Announce) uint64 { a.Finalized = &BlockRef{Hash: common.Hash{2}, Number: 4}; return 1337 },
	} {
		b := *a
		chainID := mod(&b)
		if got, err := b.Signer(chainID); err == nil && bytes.Equal(got, pub) {
			t.Errorf("changing the %s kept the signer", name)
		}
	}
	bad := *a
	bad.Signature = bad.Signature[:64]
	if _, err := bad.Signer(1337); !errors.Is(err, ErrBadAnnounce) {
		t.Errorf("short signature: %v", err)
	}
	for name, ann := range map[string]Announce{
		"safe above head":      {Number: 5, Safe: &BlockRef{Number: 6}, Signature: a.Signature},
		"finalized above safe": {Number: 5, Safe: &BlockRef{Number: 3}, Finalized: &BlockRef{Number: 4}, Signature: a.Signature},
		"finalized above head": {Number: 5, Finalized: &BlockRef{Number: 6}, Signature: a.Signature},
	} {
		if err := ann.Validate(); !errors.Is(err, ErrBadAnnounce) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

type signer struct{ key *ecdsa.PrivateKey }

func (s signer) Sign(hash []byte) ([]byte, error) {
	return crypto.Sign(hash, s.key)
}

func TestReadMsgRefusesOversizeBeforeReading(t *testing.T) {
	a, b := p2p.MsgPipe()
	defer a.Close()
	go a.WriteMsg(p2p.Msg{Code: uint64(GetBlockBodiesMsg), Size: MaxMessageSize + 1, Payload: bytes.NewReader(nil)})
	_, _, err := ReadMsg(b)
	if !errors.Is(err, ErrMsgTooLarge) {
		t.Fatalf("ReadMsg = %v, want ErrMsgTooLarge", err)
	}
}

func TestDecodeRefusesUnknownCode(t *testing.T) {
	if _, err := Decode(0x3f, []byte{0xc0}); !errors.Is(err, ErrUnexpectedMsg) {
		t.Fatalf("Decode = %v", err)
	}
	if _, err := Decode(GetBlockBodiesMsg, []byte{0xc2, 0x01}); !errors.Is(err, ErrDecode) {
		t.Fatalf("truncated: %v", err)
	}
	if !reflect.DeepEqual(NewError(errors.New(string(make([]byte, 1000)))).Reason, string(make([]byte, MaxErrorReasonLen))) {
		t.Error("long reasons are not truncated")
	}
}
