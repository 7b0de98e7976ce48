package protocol

import (
	"errors"
	"fmt"

	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/ethereum/go-ethereum/beacon/merkle"
	bparams "github.com/ethereum/go-ethereum/beacon/params"
	btypes "github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"
)

// Beacon messages (docs/protocol.md §6c): a server that follows a
// consensus client relays its light-client data, which a client verifies
// with the sync committee's signatures; nothing in them is signed by the
// server.
const (
	BeaconOptimisticMsg   Code = 0x25 // server → client, after the handshake and on each new head
	BeaconFinalityMsg     Code = 0x26 // server → client, after the handshake and on each new finality update
	GetBeaconBootstrapMsg Code = 0x27
	BeaconBootstrapMsg    Code = 0x28
	GetBeaconUpdatesMsg   Code = 0x29
	BeaconUpdatesMsg      Code = 0x2a
)

// Limits of the beacon messages.
const (
	MaxBeaconUpdates    = 16   // periods per GetBeaconUpdates (each carries a 24,624-byte committee)
	MaxBeaconBranch     = 16   // hashes in one Merkle branch
	MaxBeaconVersion    = 16   // bytes of a fork name
	MaxBeaconPayloadHdr = 1024 // bytes of an SSZ execution payload header
)

// ErrBadBeaconData is beacon data that does not decode into what its
// version says it is.
var ErrBadBeaconData = errors.New("invalid beacon data")

func init() {
	codeNames[BeaconOptimisticMsg] = "BeaconOptimistic"
	codeNames[BeaconFinalityMsg] = "BeaconFinality"
	codeNames[GetBeaconBootstrapMsg] = "GetBeaconBootstrap"
	codeNames[BeaconBootstrapMsg] = "BeaconBootstrap"
	codeNames[GetBeaconUpdatesMsg] = "GetBeaconUpdates"
	codeNames[BeaconUpdatesMsg] = "BeaconUpdates"
}

// BeaconHeader is a beacon block header (BeaconBlockHeader of the
// consensus specification).
type BeaconHeader struct {
	Slot          uint64
	ProposerIndex uint64
	ParentRoot    common.Hash
	StateRoot     common.Hash
	BodyRoot      common.Hash
}

// SyncAggregate is the sync committee's signature of a header: which of
// the 512 members signed (bit i of byte i/8, least significant first) and
// their aggregate BLS signature.
type SyncAggregate struct {
	Signers   [bparams.SyncCommitteeBitmaskSize]byte
	Signature [bparams.BLSSignatureSize]byte
}

// BeaconExecProof proves the execution block a beacon block carries,
// against the block's body root. Before Gloas (versions capella to fulu)
// it is the execution payload header, SSZ-encoded as the version's
// ExecutionPayloadHeader, and the branch from its root at the body's
// execution_payload field; from Gloas on the execution block hash and its
// branch.
type BeaconExecProof struct {
	PayloadHeader []byte
	BlockHash     common.Hash
	Branch        []common.Hash
}

// BeaconHeaderExec is a beacon header with the proof of its execution
// block.
type BeaconHeaderExec struct {
	Header BeaconHeader
	Exec   BeaconExecProof
}

// BeaconOptimistic is a light-client optimistic update: a header signed
// by the sync committee of the signature slot's period.
type BeaconOptimistic struct {
	Version       string // the fork of the attested header, as the beacon API names it
	Attested      BeaconHeaderExec
	Aggregate     SyncAggregate
	SignatureSlot uint64
}

// BeaconFinality is a light-client finality update: a signed header, and
// the finalized header its state names, with the branch that proves it.
type BeaconFinality struct {
	Version        string
	Attested       BeaconHeaderExec
	Finalized      BeaconHeaderExec
	FinalityBranch []common.Hash
	Aggregate      SyncAggregate
	SignatureSlot  uint64
}

// GetBeaconBootstrap asks for the light-client bootstrap of the beacon
// block with root Root (a checkpoint).
type GetBeaconBootstrap struct {
	ReqID uint64
	Root  common.Hash
}

// BeaconBootstrap is a beacon header with its state's current sync
// committee (512 public keys and their aggregate, 48 bytes each) and the
// branch proving it.
type BeaconBootstrap struct {
	Version         string
	Header          BeaconHeader
	Committee       []byte
	CommitteeBranch []common.Hash
}

// BeaconBootstraps answers GetBeaconBootstrap: the bootstrap, or none when
// the server has none for that root.
type BeaconBootstraps struct {
	ReqID      uint64
	BV         uint64
	Bootstraps []BeaconBootstrap
}

// GetBeaconUpdates asks for the committee updates of Count periods from
// StartPeriod on.
type GetBeaconUpdates struct {
	ReqID       uint64
	StartPeriod uint64
	Count       uint64
}

// BeaconUpdate is a light-client update: a header of a period signed by
// that period's committee, the next period's committee from the header's
// state with its branch, and the finalized header that state names, when
// there is one, with its branch.
type BeaconUpdate struct {
	Version             string
	Attested            BeaconHeader
	Aggregate           SyncAggregate
	SignatureSlot       uint64
	NextCommittee       []byte
	NextCommitteeBranch []common.Hash
	Finalized           *BeaconHeader `rlp:"nil"`
	FinalityBranch      []common.Hash
}

// BeaconUpdates answers GetBeaconUpdates: the updates of the periods
// asked, in order, stopping at the first period the server has none for.
type BeaconUpdates struct {
	ReqID   uint64
	BV      uint64
	Updates []BeaconUpdate
}

func (r *GetBeaconBootstrap) Validate() error   { return nil }
func (r *GetBeaconBootstrap) RequestID() uint64 { return r.ReqID }
func (r *GetBeaconBootstrap) Items() int        { return 1 }
func (*GetBeaconBootstrap) isRequest()          {}

func (r *GetBeaconUpdates) Validate() error {
	if r.Count == 0 || r.Count > MaxBeaconUpdates {
		return fmt.Errorf("%w: %d beacon updates asked, want 1..%d", ErrTooManyItems, r.Count, MaxBeaconUpdates)
	}
	if r.StartPeriod > 1<<40 {
		return fmt.Errorf("%w: beacon period %d", ErrInvalidRequest, r.StartPeriod)
	}
	return nil
}
func (r *GetBeaconUpdates) RequestID() uint64 { return r.ReqID }
func (r *GetBeaconUpdates) Items() int        { return int(r.Count) }
func (*GetBeaconUpdates) isRequest()          {}

func (r *BeaconBootstraps) RequestID() uint64        { return r.ReqID }
func (r *BeaconBootstraps) BufferValue() uint64      { return r.BV }
func (r *BeaconBootstraps) SetBufferValue(bv uint64) { r.BV = bv }
func (r *BeaconUpdates) RequestID() uint64           { return r.ReqID }
func (r *BeaconUpdates) BufferValue() uint64         { return r.BV }
func (r *BeaconUpdates) SetBufferValue(bv uint64)    { r.BV = bv }

// Validate bounds the reply.
func (r *BeaconBootstraps) Validate() error {
	if len(r.Bootstraps) > 1 {
		return fmt.Errorf("%w: %d beacon bootstraps in one reply", ErrTooManyItems, len(r.Bootstraps))
	}
	for i := range r.Bootstraps {
		b := &r.Bootstraps[i]
		if err := checkBeacon(b.Version, b.CommitteeBranch); err != nil {
			return err
		}
		if len(b.Committee) != btypes.SerializedSyncCommitteeSize {
			return fmt.Errorf("%w: sync committee of %d bytes", ErrBadBeaconData, len(b.Committee))
		}
	}
	return nil
}

// Validate bounds the reply.
func (r *BeaconUpdates) Validate() error {
	if len(r.Updates) > MaxBeaconUpdates {
		return fmt.Errorf("%w: %d beacon updates in one reply", ErrTooManyItems, len(r.Updates))
	}
	for i := range r.Updates {
		u := &r.Updates[i]
		if err := checkBeacon(u.Version, u.NextCommitteeBranch, u.FinalityBranch); err != nil {
			return err
		}
		if len(u.NextCommittee) != btypes.SerializedSyncCommitteeSize {
			return fmt.Errorf("%w: sync committee of %d bytes", ErrBadBeaconData, len(u.NextCommittee))
		}
	}
	return nil
}

// Validate bounds the update.
func (u *BeaconOptimistic) Validate() error {
	return checkBeacon(u.Version, u.Attested.Exec.Branch, u.Attested.Exec.PayloadHeader)
}

// Validate bounds the update.
func (u *BeaconFinality) Validate() error {
	return checkBeacon(u.Version, u.Attested.Exec.Branch, u.Finalized.Exec.Branch, u.FinalityBranch,
		u.Attested.Exec.PayloadHeader, u.Finalized.Exec.PayloadHeader)
}

// checkBeacon bounds a version and the branches and payload headers of
// one message.
func checkBeacon(version string, parts ...any) error {
	if len(version) == 0 || len(version) > MaxBeaconVersion {
		return fmt.Errorf("%w: fork name of %d bytes", ErrBadBeaconData, len(version))
	}
	for _, p := range parts {
		switch p := p.(type) {
		case []common.Hash:
			if len(p) > MaxBeaconBranch {
				return fmt.Errorf("%w: Merkle branch of %d hashes, limit %d", ErrBadBeaconData, len(p), MaxBeaconBranch)
			}
		case []byte:
			if len(p) > MaxBeaconPayloadHdr {
				return fmt.Errorf("%w: payload header of %d bytes, limit %d", ErrBadBeaconData, len(p), MaxBeaconPayloadHdr)
			}
		}
	}
	return nil
}

// The conversions below turn the wire forms into go-ethereum's beacon
// types, which its light client verifies. They check only that the data
// is what its version says; signatures and branches are the verifier's.

// Geth is the header as go-ethereum's type.
func (h BeaconHeader) Geth() btypes.Header {
	return btypes.Header{Slot: h.Slot, ProposerIndex: h.ProposerIndex, ParentRoot: h.ParentRoot, StateRoot: h.StateRoot, BodyRoot: h.BodyRoot}
}

// BeaconHeaderOf is the wire form of a go-ethereum beacon header.
func BeaconHeaderOf(h btypes.Header) BeaconHeader {
	return BeaconHeader{Slot: h.Slot, ProposerIndex: h.ProposerIndex, ParentRoot: h.ParentRoot, StateRoot: h.StateRoot, BodyRoot: h.BodyRoot}
}

func (a SyncAggregate) geth() btypes.SyncAggregate {
	return btypes.SyncAggregate{Signers: a.Signers, Signature: a.Signature}
}

// SyncAggregateOf is the wire form of a go-ethereum sync aggregate.
func SyncAggregateOf(a btypes.SyncAggregate) SyncAggregate {
	return SyncAggregate{Signers: a.Signers, Signature: a.Signature}
}

func branch(b []common.Hash) merkle.Values {
	v := make(merkle.Values, len(b))
	for i, h := range b {
		v[i] = merkle.Value(h)
	}
	return v
}

// Branch is the wire form of a go-ethereum Merkle branch.
func Branch(v merkle.Values) []common.Hash {
	b := make([]common.Hash, len(v))
	for i, h := range v {
		b[i] = common.Hash(h)
	}
	return b
}

// PayloadHeaderVersion reports whether a fork's light-client headers carry
// the execution payload header (capella to fulu) or, from Gloas on, the
// execution block hash; forks before Capella have no execution proof.
func PayloadHeaderVersion(version string) (payloadHeader bool, err error) {
	switch version {
	case "capella", "deneb", "electra", "fulu":
		return true, nil
	case "phase0", "altair", "bellatrix", "genesis":
		return false, fmt.Errorf("%w: %s headers carry no execution block", ErrBadBeaconData, version)
	}
	return false, nil
}

func (h *BeaconHeaderExec) geth(version string) (btypes.HeaderWithExecProof, error) {
	out := btypes.HeaderWithExecProof{Header: h.Header.Geth()}
	withPayload, err := PayloadHeaderVersion(version)
	if err != nil {
		return out, err
	}
	if !withPayload {
		if len(h.Exec.PayloadHeader) != 0 {
			return out, fmt.Errorf("%w: %s header with a payload header", ErrBadBeaconData, version)
		}
		out.Proof = &btypes.GloasExecutionProof{ExecutionBlockHash: h.Exec.BlockHash, Branch: branch(h.Exec.Branch)}
		return out, nil
	}
	if h.Exec.BlockHash != (common.Hash{}) {
		return out, fmt.Errorf("%w: %s header with a separate block hash", ErrBadBeaconData, version)
	}
	var obj interface{ HashTreeRoot() ([32]byte, error) }
	if version == "capella" {
		p := new(capella.ExecutionPayloadHeader)
		if err := p.UnmarshalSSZ(h.Exec.PayloadHeader); err != nil {
			return out, fmt.Errorf("%w: capella payload header: %v", ErrBadBeaconData, err)
		}
		obj = p
	} else {
		p := new(deneb.ExecutionPayloadHeader)
		if err := p.UnmarshalSSZ(h.Exec.PayloadHeader); err != nil {
			return out, fmt.Errorf("%w: %s payload header: %v", ErrBadBeaconData, version, err)
		}
		obj = p
	}
	out.Proof = &btypes.LegacyHeaderProof{PayloadHeader: btypes.NewExecutionHeader(obj), Branch: branch(h.Exec.Branch)}
	return out, nil
}

// Geth is the update as go-ethereum's type.
func (u *BeaconOptimistic) Geth() (btypes.OptimisticUpdate, error) {
	att, err := u.Attested.geth(u.Version)
	if err != nil {
		return btypes.OptimisticUpdate{}, err
	}
	return btypes.OptimisticUpdate{Attested: att, Signature: u.Aggregate.geth(), SignatureSlot: u.SignatureSlot}, nil
}

// Geth is the update as go-ethereum's type.
func (u *BeaconFinality) Geth() (btypes.FinalityUpdate, error) {
	att, err := u.Attested.geth(u.Version)
	if err != nil {
		return btypes.FinalityUpdate{}, err
	}
	fin, err := u.Finalized.geth(u.Version)
	if err != nil {
		return btypes.FinalityUpdate{}, err
	}
	return btypes.FinalityUpdate{Version: u.Version, Attested: att, Finalized: fin, FinalityBranch: branch(u.FinalityBranch),
		Signature: u.Aggregate.geth(), SignatureSlot: u.SignatureSlot}, nil
}

// Geth is the bootstrap as go-ethereum's type.
func (b *BeaconBootstrap) Geth() (btypes.BootstrapData, error) {
	if len(b.Committee) != btypes.SerializedSyncCommitteeSize {
		return btypes.BootstrapData{}, fmt.Errorf("%w: sync committee of %d bytes", ErrBadBeaconData, len(b.Committee))
	}
	committee := new(btypes.SerializedSyncCommittee)
	copy(committee[:], b.Committee)
	return btypes.BootstrapData{Version: b.Version, Header: b.Header.Geth(), CommitteeRoot: committee.Root(),
		Committee: committee, CommitteeBranch: branch(b.CommitteeBranch)}, nil
}

// BeaconBootstrapOf is the wire form of a go-ethereum bootstrap.
func BeaconBootstrapOf(b *btypes.BootstrapData) BeaconBootstrap {
	return BeaconBootstrap{Version: b.Version, Header: BeaconHeaderOf(b.Header), Committee: b.Committee[:], CommitteeBranch: Branch(b.CommitteeBranch)}
}

// Geth is the update and its next committee as go-ethereum's types.
func (u *BeaconUpdate) Geth() (*btypes.LightClientUpdate, *btypes.SerializedSyncCommittee, error) {
	if len(u.NextCommittee) != btypes.SerializedSyncCommitteeSize {
		return nil, nil, fmt.Errorf("%w: sync committee of %d bytes", ErrBadBeaconData, len(u.NextCommittee))
	}
	committee := new(btypes.SerializedSyncCommittee)
	copy(committee[:], u.NextCommittee)
	update := &btypes.LightClientUpdate{
		Version: u.Version,
		AttestedHeader: btypes.SignedHeader{Header: u.Attested.Geth(), Signature: u.Aggregate.geth(),
			SignatureSlot: u.SignatureSlot},
		NextSyncCommitteeRoot:   committee.Root(),
		NextSyncCommitteeBranch: branch(u.NextCommitteeBranch),
		FinalityBranch:          branch(u.FinalityBranch),
	}
	if u.Finalized != nil {
		fin := u.Finalized.Geth()
		update.FinalizedHeader = &fin
	}
	return update, committee, nil
}

// BeaconUpdateOf is the wire form of a go-ethereum update and its next
// committee.
func BeaconUpdateOf(u *btypes.LightClientUpdate, next *btypes.SerializedSyncCommittee) BeaconUpdate {
	out := BeaconUpdate{
		Version:             u.Version,
		Attested:            BeaconHeaderOf(u.AttestedHeader.Header),
		Aggregate:           SyncAggregateOf(u.AttestedHeader.Signature),
		SignatureSlot:       u.AttestedHeader.SignatureSlot,
		NextCommittee:       next[:],
		NextCommitteeBranch: Branch(u.NextSyncCommitteeBranch),
		FinalityBranch:      Branch(u.FinalityBranch),
	}
	if u.FinalizedHeader != nil {
		fin := BeaconHeaderOf(*u.FinalizedHeader)
		out.Finalized = &fin
	}
	return out
}
