package client

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bparams "github.com/ethereum/go-ethereum/beacon/params"
	btypes "github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	"github.com/ethereum/go-ethereum/ethdb/pebble"

	"github.com/lightmarket/lightmarket/beacon"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
)

// HeadsMode says which heads a client accepts.
type HeadsMode int

const (
	// HeadsULC accepts a head once the Fraction of the trusted servers
	// signed it (or a descendant).
	HeadsULC HeadsMode = iota
	// HeadsBeacon accepts the execution block of the latest beacon header
	// the sync committee signed, verified from a checkpoint; it trusts no
	// server.
	HeadsBeacon
	// HeadsBoth accepts the sync committee's head only once the Fraction
	// of the trusted servers vouch for it too.
	HeadsBoth
)

func (m HeadsMode) String() string {
	switch m {
	case HeadsBeacon:
		return "beacon"
	case HeadsBoth:
		return "both"
	}
	return "ulc"
}

// ParseHeads parses "ulc", "beacon" or "both".
func ParseHeads(s string) (HeadsMode, error) {
	for _, m := range []HeadsMode{HeadsULC, HeadsBeacon, HeadsBoth} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("heads %q: want ulc, beacon or both", s)
}

// beaconHeads follows the heads the sync committee signs: go-ethereum's
// light client (package beacon) verifies what servers relay, from the
// configured checkpoint, and the execution block of each verified head is
// taken from its proof.
type beaconHeads struct {
	v          *beacon.Verifier
	db         ethdb.KeyValueStore
	checkpoint common.Hash
	syncMu     sync.Mutex // one bootstrap or committee sync at a time

	// Guarded by Client.mu: the execution blocks of the verified head and
	// finalized block, and what stops the client from verifying any.
	head, final common.Hash
	headSlot    uint64
	fatal       error

	verifyNs atomic.Int64 // CPU spent verifying updates that moved a head
	verified atomic.Int64
	relays   atomic.Int64 // beacon updates received
}

func openBeaconHeads(cfg Config) (*beaconHeads, error) {
	if cfg.BeaconConfig == nil {
		return nil, errors.New("client: heads signed by the sync committee need a consensus configuration")
	}
	if cfg.BeaconCheckpoint == (common.Hash{}) {
		return nil, errors.New("client: heads signed by the sync committee need a checkpoint: the root of a recent finalized beacon block (--beacon.checkpoint)")
	}
	var db ethdb.KeyValueStore = memorydb.New()
	if cfg.BeaconDir != "" {
		pdb, err := pebble.New(filepath.Join(cfg.BeaconDir), 16, 16, "lightmarket/client/beacon/", false)
		if err != nil {
			return nil, fmt.Errorf("client: beacon committee chain: %w", err)
		}
		db = pdb
	}
	return &beaconHeads{v: beacon.NewVerifier(db, cfg.BeaconConfig, bparams.SyncCommitteeSupermajority), db: db,
		checkpoint: cfg.BeaconCheckpoint}, nil
}

// goHandleBeacon verifies a relayed update in the background: it may
// need the bootstrap or committee updates first.
func (c *Client) goHandleBeacon(p *peer, opt *protocol.BeaconOptimistic, fin *protocol.BeaconFinality) {
	if c.bh == nil {
		return
	}
	c.bh.relays.Add(1)
	p.relaysBeacon.Store(true)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.handleBeacon(p, opt, fin)
	}()
}

// handleBeacon verifies an optimistic or finality update p relayed and
// moves the head or the finalized block when it is the newest.
func (c *Client) handleBeacon(p *peer, opt *protocol.BeaconOptimistic, fin *protocol.BeaconFinality) {
	b := c.bh
	if fin != nil {
		// A finality update names nothing new unless its finalized block
		// is: skip its signature check (one every slot on a real network,
		// where the finalized block moves once an epoch).
		if cur, ok := b.v.Finalized(); ok && fin.Finalized.Header.Slot <= cur.Finalized.Slot {
			return
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, 2*c.cfg.RequestTimeout)
	defer cancel()
	signed := slotOf(opt, fin)
	if err := c.beaconSync(ctx, p, btypes.SyncPeriod(signed)); err != nil {
		c.beaconFailed(p, err)
		return
	}
	start := time.Now()
	var (
		ok  bool
		err error
	)
	if opt != nil {
		ok, err = b.v.Optimistic(opt)
	} else {
		ok, err = b.v.Finality(fin)
	}
	if err != nil {
		c.beaconFailed(p, err)
		return
	}
	if !ok {
		return // not newer than what is verified
	}
	b.verifyNs.Add(int64(time.Since(start)))
	b.verified.Add(1)
	if fin != nil {
		u, _ := b.v.Finalized()
		c.mu.Lock()
		b.final = u.Finalized.BlockHash()
		c.mu.Unlock()
		return
	}
	u, _ := b.v.Head()
	hash := u.Attested.BlockHash()
	if _, err := c.fetchLinked(ctx, p, hash, nil); err != nil {
		// The header of a signed head: any server may give it; p
		// lied only if what it sent does not hash to it.
		c.announceFailed(p, err)
		if err = c.do(ctx, func(ctx context.Context, q *peer) error {
			_, err := c.fetchLinked(ctx, q, hash, nil)
			return err
		}); err != nil {
			return
		}
	}
	c.mu.Lock()
	if u.Attested.Slot >= b.headSlot {
		b.head, b.headSlot = hash, u.Attested.Slot
	}
	c.mu.Unlock()
	c.moveHead()
}

func slotOf(opt *protocol.BeaconOptimistic, fin *protocol.BeaconFinality) uint64 {
	if opt != nil {
		return opt.SignatureSlot
	}
	return fin.SignatureSlot
}

// beaconFailed punishes a server that relayed what is provably wrong,
// and notes other failures.
func (c *Client) beaconFailed(p *peer, err error) {
	switch {
	case verify.Kind(err) != "":
		c.punish(p, err)
	case errors.Is(err, beacon.ErrCheckpointAge):
		c.mu.Lock()
		first := c.bh.fatal == nil
		c.bh.fatal = err
		c.mu.Unlock()
		if first {
			c.cfg.Logger.Error("Cannot follow the beacon chain", "err", err)
		}
	case errors.Is(err, beacon.ErrLowParticipation), errors.Is(err, beacon.ErrUnknownPeriod):
		p.log.Debug("Beacon update not taken", "err", err)
	default:
		c.recordFailure(p, err)
	}
}

// beaconSync starts the committee chain from the checkpoint's bootstrap
// and adds committee updates up to period, asking p.
func (c *Client) beaconSync(ctx context.Context, p *peer, period uint64) error {
	b := c.bh
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	if !b.v.Initialized(b.checkpoint) {
		id := reqIDs.Add(1)
		reply, err := p.request(ctx, protocol.GetBeaconBootstrapMsg, protocol.BeaconBootstrapMsg, id,
			&protocol.GetBeaconBootstrap{ReqID: id, Root: b.checkpoint})
		if err != nil {
			return err
		}
		boots := reply.(*protocol.BeaconBootstraps).Bootstraps
		if len(boots) == 0 {
			return fmt.Errorf("%w: no bootstrap for checkpoint %x", ErrNotFound, b.checkpoint)
		}
		if err := b.v.Init(b.checkpoint, &boots[0]); err != nil {
			return err
		}
		c.cfg.Logger.Info("Beacon light client started from the checkpoint", "checkpoint", b.checkpoint, "slot", boots[0].Header.Slot)
	}
	for {
		next, _ := b.v.NextPeriod()
		if next >= period {
			return nil
		}
		count := min(period-next, protocol.MaxBeaconUpdates)
		id := reqIDs.Add(1)
		reply, err := p.request(ctx, protocol.GetBeaconUpdatesMsg, protocol.BeaconUpdatesMsg, id,
			&protocol.GetBeaconUpdates{ReqID: id, StartPeriod: next, Count: count})
		if err != nil {
			return err
		}
		ups := reply.(*protocol.BeaconUpdates).Updates
		if len(ups) == 0 {
			return fmt.Errorf("%w: no committee update of period %d", ErrNotFound, next)
		}
		if len(ups) > int(count) {
			return fmt.Errorf("%w: %d committee updates for %d asked", verify.ErrBeacon, len(ups), count)
		}
		for i := range ups {
			if got := btypes.SyncPeriod(ups[i].Attested.Slot); got != next+uint64(i) {
				return fmt.Errorf("%w: update of period %d where %d was asked", verify.ErrBeacon, got, next+uint64(i))
			}
			if err := b.v.AddUpdate(&ups[i]); err != nil {
				return err
			}
		}
	}
}

// beaconTagged is the finalized block of the latest verified finality
// update (the safe block too: the sync committee signs no other).
func (c *Client) beaconTagged(ctx context.Context, tag Tag) (*types.Header, error) {
	c.mu.Lock()
	hash := c.bh.final
	c.mu.Unlock()
	if hash == (common.Hash{}) {
		return nil, &TagError{Tag: tag, Reason: "no finality update verified yet"}
	}
	return c.HeaderByHash(ctx, hash)
}

// beaconSummaryLocked says where the beacon light client is; c.mu is
// held.
func (c *Client) beaconSummaryLocked() string {
	b := c.bh
	if b.fatal != nil {
		return b.fatal.Error()
	}
	relays := 0
	for _, p := range c.peers {
		if p.relaysBeacon.Load() {
			relays++
		}
	}
	if !b.v.Initialized(b.checkpoint) {
		return fmt.Sprintf("beacon light client waiting for the bootstrap of checkpoint %x (%d connected servers relay beacon data)", b.checkpoint, relays)
	}
	next, _ := b.v.NextPeriod()
	return fmt.Sprintf("beacon light client from checkpoint %x, committees known to period %d, head slot %d (%d connected servers relay beacon data)",
		b.checkpoint, next, b.headSlot, relays)
}

// BeaconStats is what the beacon light client did: updates received,
// those that moved a head or the finalized block, the time their
// verification took, and the message bytes of beacon data exchanged
// with servers (both directions).
type BeaconStats struct {
	Received, Verified int64
	VerifyTime         time.Duration
	Bytes              uint64
}

// BeaconStats returns the beacon light client's statistics (zero without
// one).
func (c *Client) BeaconStats() BeaconStats {
	if c.bh == nil {
		return BeaconStats{}
	}
	return BeaconStats{Received: c.bh.relays.Load(), Verified: c.bh.verified.Load(), VerifyTime: time.Duration(c.bh.verifyNs.Load()),
		Bytes: c.bytesBeacon.Load()}
}
