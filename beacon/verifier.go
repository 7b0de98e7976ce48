package beacon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/beacon/light"
	"github.com/ethereum/go-ethereum/beacon/params"
	btypes "github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethdb"

	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
)

// WeakSubjectivityPeriod is how old a checkpoint may be: a committee of
// an older period may since have left the validator set, and its keys
// could sign a chain nobody else follows. Two weeks is what light clients
// commonly allow (the specification's period at mainnet's validator count
// is longer).
const WeakSubjectivityPeriod = 14 * 24 * time.Hour

// Errors of the verifier. ErrInvalid marks data that is provably wrong
// (a branch that does not prove, a signature of a known committee that
// does not verify): its sender lied. The others are not the sender's
// fault.
var (
	ErrInvalid          = verify.ErrBeacon
	ErrNotInitialized   = errors.New("beacon light client has no checkpoint yet")
	ErrUnknownPeriod    = errors.New("signed in a sync period whose committee is not known yet")
	ErrLowParticipation = errors.New("signed by too few sync committee members")
	ErrWeakUpdate       = errors.New("committee update too weak to be taken")
	ErrCheckpointAge    = errors.New("checkpoint older than the weak-subjectivity period")
	ErrWrongCheckpoint  = errors.New("bootstrap is not of the checkpoint asked for")
)

// Verifier verifies the consensus layer's light-client data with
// go-ethereum's light client: the committee chain (kept in its database)
// from a checkpoint, and the head tracker for optimistic and finality
// updates. It is safe for concurrent use.
type Verifier struct {
	config     *params.ChainConfig
	db         ethdb.KeyValueStore
	chain      *light.CommitteeChain
	heads      *light.HeadTracker
	minSigners int
	now        func() time.Time

	mu         sync.Mutex
	checkpoint common.Hash
	first      uint64 // the checkpoint's period
}

// checkpointKey keeps the checkpoint the committee chain was started
// from, beside go-ethereum's own keys.
var checkpointKey = []byte("lightmarket-beacon-checkpoint")

// NewVerifier opens the committee chain kept in db. Headers need
// minSigners of the 512 members' signatures (the specification's
// supermajority is 342; go-ethereum's default threshold is 342 too).
func NewVerifier(db ethdb.KeyValueStore, config *params.ChainConfig, minSigners int) *Verifier {
	v := &Verifier{config: config, db: db, minSigners: minSigners, now: time.Now}
	// enforceTime refuses headers signed in a slot that has not begun;
	// a chain without a genesis time (a devnet's) is never ahead.
	v.chain = light.NewCommitteeChain(db, config, minSigners, true)
	v.heads = light.NewHeadTracker(v.chain, minSigners, nil)
	if cp, err := db.Get(checkpointKey); err == nil && len(cp) == common.HashLength+8 {
		v.checkpoint = common.BytesToHash(cp[:common.HashLength])
		v.first = binary.BigEndian.Uint64(cp[common.HashLength:])
	}
	return v
}

// Config is the consensus configuration verified against.
func (v *Verifier) Config() *params.ChainConfig { return v.config }

// Checkpoint is the root the committee chain was started from (zero
// before Init).
func (v *Verifier) Checkpoint() common.Hash {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.checkpoint
}

// Initialized reports whether the committee chain starts from checkpoint
// (kept from an earlier run, or Init).
func (v *Verifier) Initialized(checkpoint common.Hash) bool {
	_, ok := v.chain.NextSyncPeriod()
	return ok && v.Checkpoint() == checkpoint
}

// CheckAge refuses a checkpoint at slot older than the weak-subjectivity
// period. A chain whose slots are not tied to time (no genesis time) has
// no such check.
func (v *Verifier) CheckAge(root common.Hash, slot uint64) error {
	if v.config.GenesisTime == 0 {
		return nil
	}
	at := time.Unix(int64(v.config.GenesisTime+slot*12), 0)
	if age := v.now().Sub(at); age > WeakSubjectivityPeriod {
		return fmt.Errorf("%w: checkpoint %x is at slot %d, %d days old, and the period is %d days: "+
			"a sync committee of that time could sign a chain nobody follows. Take the root of a recent finalized "+
			"block from a source you trust (a consensus client's /eth/v1/beacon/headers/finalized, a block explorer) "+
			"and start again with --beacon.checkpoint ROOT",
			ErrCheckpointAge, root, slot, int(age.Hours()/24), int(WeakSubjectivityPeriod.Hours()/24))
	}
	return nil
}

// Init starts the committee chain from the bootstrap of checkpoint.
func (v *Verifier) Init(checkpoint common.Hash, b *protocol.BeaconBootstrap) error {
	data, err := b.Geth()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if root := data.Header.Hash(); root != checkpoint {
		return fmt.Errorf("%w: %w: header root %x, checkpoint %x", ErrInvalid, ErrWrongCheckpoint, root, checkpoint)
	}
	if err := v.CheckAge(checkpoint, data.Header.Slot); err != nil {
		return err
	}
	if err := data.Validate(v.config); err != nil {
		return fmt.Errorf("%w: bootstrap: %v", ErrInvalid, err)
	}
	if err := v.chain.CheckpointInit(data); err != nil {
		return fmt.Errorf("beacon: starting from checkpoint %x: %w", checkpoint, err)
	}
	v.mu.Lock()
	v.checkpoint, v.first = checkpoint, data.Header.SyncPeriod()
	v.mu.Unlock()
	return v.db.Put(checkpointKey, binary.BigEndian.AppendUint64(checkpoint[:], v.first))
}

// NextPeriod is the first period whose committee update is still needed
// to verify headers of later periods; false before Init.
func (v *Verifier) NextPeriod() (uint64, bool) { return v.chain.NextSyncPeriod() }

// AddUpdate inserts the committee update of a period.
func (v *Verifier) AddUpdate(u *protocol.BeaconUpdate) error {
	update, committee, err := u.Geth()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := update.Validate(v.config); err != nil {
		return fmt.Errorf("%w: update of period %d: %v", ErrInvalid, update.AttestedHeader.Header.SyncPeriod(), err)
	}
	if update.AttestedHeader.Signature.SignerCount() < v.minSigners {
		return fmt.Errorf("%w: %d", ErrLowParticipation, update.AttestedHeader.Signature.SignerCount())
	}
	if score := update.Score(); !score.FinalizedHeader && score.SubPeriodIndex < params.SyncPeriodLength/16 {
		// go-ethereum's committee chain takes an update without finality
		// only from late enough in its period.
		return fmt.Errorf("%w: update without finality from slot %d of its period", ErrWeakUpdate, score.SubPeriodIndex)
	}
	next, _ := v.chain.NextSyncPeriod()
	period := update.AttestedHeader.Header.SyncPeriod()
	switch err := v.chain.InsertUpdate(update, committee); {
	case err == nil:
		return nil
	case errors.Is(err, light.ErrInvalidPeriod):
		return fmt.Errorf("%w: update of period %d, the chain is at %d", ErrUnknownPeriod, period, next)
	case errors.Is(err, light.ErrInvalidUpdate), errors.Is(err, light.ErrWrongCommitteeRoot):
		// The signature of a committee we hold does not verify (the
		// participation and period were checked above), or the committee
		// sent is not the one proven.
		return fmt.Errorf("%w: update of period %d: %v", ErrInvalid, period, err)
	default:
		return fmt.Errorf("beacon: update of period %d: %w", period, err)
	}
}

// Optimistic verifies an optimistic update; it reports whether it is the
// new latest head.
func (v *Verifier) Optimistic(u *protocol.BeaconOptimistic) (bool, error) {
	update, err := u.Geth()
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := v.checkSigned(update.SignedHeader()); err != nil {
		return false, err
	}
	ok, err := v.heads.ValidateOptimistic(update)
	return ok, v.trackerError(err)
}

// Finality verifies a finality update; it reports whether it is the new
// latest one.
func (v *Verifier) Finality(u *protocol.BeaconFinality) (bool, error) {
	update, err := u.Geth()
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := v.checkSigned(update.SignedHeader()); err != nil {
		return false, err
	}
	ok, err := v.heads.ValidateFinality(update)
	return ok, v.trackerError(err)
}

// checkSigned refuses, before the head tracker sees it, a header the
// verifier cannot judge (its committee is not known) or that too few
// members signed: neither proves its sender wrong.
func (v *Verifier) checkSigned(h btypes.SignedHeader) error {
	next, ok := v.chain.NextSyncPeriod()
	if !ok {
		return ErrNotInitialized
	}
	if n := h.Signature.SignerCount(); n < v.minSigners {
		return fmt.Errorf("%w: %d of %d", ErrLowParticipation, n, params.SyncCommitteeSize)
	}
	v.mu.Lock()
	first := v.first
	v.mu.Unlock()
	if p := btypes.SyncPeriod(h.SignatureSlot); p > next || p < first {
		return fmt.Errorf("%w: period %d, known from %d to %d", ErrUnknownPeriod, p, first, next)
	}
	if h.SignatureSlot <= h.Header.Slot {
		return fmt.Errorf("%w: signature slot %d not after the header's slot %d", ErrInvalid, h.SignatureSlot, h.Header.Slot)
	}
	return nil
}

// trackerError marks what go-ethereum's head tracker refused once
// checkSigned passed: a branch that does not prove or a signature that
// does not verify.
func (v *Verifier) trackerError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

// Head is the latest verified optimistic update.
func (v *Verifier) Head() (btypes.OptimisticUpdate, bool) { return v.heads.ValidatedOptimistic() }

// Finalized is the latest verified finality update.
func (v *Verifier) Finalized() (btypes.FinalityUpdate, bool) { return v.heads.ValidatedFinality() }
