package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	bparams "github.com/ethereum/go-ethereum/beacon/params"
	btypes "github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	"github.com/ethereum/go-ethereum/ethdb/pebble"

	"github.com/lightmarket/lightmarket/beacon"
	"github.com/lightmarket/lightmarket/protocol"
)

// beaconRelay follows the consensus client at Config.BeaconAPI, verifies
// its light-client data with its own committee chain (started from its
// consensus client's finalized block, or Config.BeaconCheckpoint), and
// relays it: the latest verified optimistic and finality updates are
// pushed to every client, bootstraps and committee updates are served on
// request.
type beaconRelay struct {
	s   *Server
	src *beacon.Source
	v   *beacon.Verifier
	db  ethdb.KeyValueStore

	mu  sync.Mutex
	opt *protocol.BeaconOptimistic // latest verified, nil before one
	fin *protocol.BeaconFinality

	// updates are the committee updates of completed periods, verified
	// by the relay's own sync; boots the bootstraps read lately.
	updates *lru.Cache[uint64, protocol.BeaconUpdate]
	boots   *lru.Cache[common.Hash, protocol.BeaconBootstrap]
}

func openBeaconRelay(s *Server, url string, config *bparams.ChainConfig, dataDir string) (*beaconRelay, error) {
	if config == nil {
		return nil, errors.New("server: a beacon API without a consensus configuration")
	}
	var db ethdb.KeyValueStore = memorydb.New()
	if dataDir != "" {
		pdb, err := pebble.New(filepath.Join(dataDir, "beacon"), 16, 16, "lightmarket/beacon/", false)
		if err != nil {
			return nil, fmt.Errorf("server: beacon committee chain: %w", err)
		}
		db = pdb
	}
	return &beaconRelay{s: s, src: beacon.NewSource(url, config), db: db,
		v:       beacon.NewVerifier(db, config, bparams.SyncCommitteeSupermajority),
		updates: lru.NewCache[uint64, protocol.BeaconUpdate](256),
		boots:   lru.NewCache[common.Hash, protocol.BeaconBootstrap](16)}, nil
}

func (r *beaconRelay) close() { r.db.Close() }

// run starts the committee chain, then follows the consensus client's
// updates until ctx ends.
func (r *beaconRelay) run(ctx context.Context, checkpoint common.Hash) {
	log := r.s.cfg.Logger.New("beacon", r.src.URL())
	for ctx.Err() == nil {
		err := r.start(ctx, checkpoint)
		if err == nil {
			break
		}
		log.Warn("Cannot start following the consensus layer, retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	var lastErr string
	r.src.Follow(ctx, func(e beacon.Event) {
		if err := r.take(e); err != nil && err.Error() != lastErr {
			lastErr = err.Error()
			log.Warn("Consensus client sent an update the relay does not take", "err", err)
		}
	}, func(err error) { log.Debug("Beacon event stream", "err", err) })
}

// start initializes the committee chain: from checkpoint when given,
// from what is kept in the data directory, or else from the consensus
// client's latest finalized block (the server trusts its own consensus
// client).
func (r *beaconRelay) start(ctx context.Context, checkpoint common.Hash) error {
	if checkpoint == (common.Hash{}) {
		if cp := r.v.Checkpoint(); cp != (common.Hash{}) && r.v.Initialized(cp) {
			return nil
		}
		fin, err := r.src.Finality(ctx)
		if err != nil {
			return fmt.Errorf("reading the finalized block: %w", err)
		}
		h := fin.Finalized.Header.Geth()
		checkpoint = h.Hash()
	}
	if r.v.Initialized(checkpoint) {
		return nil
	}
	b, err := r.src.Bootstrap(checkpoint)
	if err != nil {
		return fmt.Errorf("reading the bootstrap of %x: %w", checkpoint, err)
	}
	if err := r.v.Init(checkpoint, b); err != nil {
		return err
	}
	r.boots.Add(checkpoint, *b)
	r.s.cfg.Logger.Info("Following the consensus layer", "api", r.src.URL(), "checkpoint", checkpoint, "slot", b.Header.Slot)
	return nil
}

// take verifies an update from the consensus client and, when it is the
// newest, keeps and pushes it.
func (r *beaconRelay) take(e beacon.Event) error {
	var signed uint64
	switch {
	case e.Optimistic != nil:
		signed = e.Optimistic.SignatureSlot
	case e.Finality != nil:
		signed = e.Finality.SignatureSlot
	default:
		return nil
	}
	if err := r.syncTo(btypes.SyncPeriod(signed)); err != nil {
		return err
	}
	if e.Optimistic != nil {
		ok, err := r.v.Optimistic(e.Optimistic)
		if !ok {
			return err
		}
		r.mu.Lock()
		r.opt = e.Optimistic
		r.mu.Unlock()
		r.s.eachPeer(func(p *peer) { queueLatest(p.beaconOpt, e.Optimistic) })
		return nil
	}
	ok, err := r.v.Finality(e.Finality)
	if !ok {
		return err
	}
	r.mu.Lock()
	r.fin = e.Finality
	r.mu.Unlock()
	r.s.eachPeer(func(p *peer) { queueLatest(p.beaconFin, e.Finality) })
	return nil
}

// syncTo inserts the committee updates up to period's committee.
func (r *beaconRelay) syncTo(period uint64) error {
	for {
		next, ok := r.v.NextPeriod()
		if !ok {
			return beacon.ErrNotInitialized
		}
		if next >= period {
			return nil
		}
		ups, err := r.src.Updates(next, min(period-next, protocol.MaxBeaconUpdates))
		if err != nil {
			return fmt.Errorf("reading committee updates from period %d: %w", next, err)
		}
		for i := range ups {
			if err := r.v.AddUpdate(&ups[i]); err != nil {
				return err
			}
			r.updates.Add(next+uint64(i), ups[i])
		}
	}
}

// latest is what a client is sent when it connects.
func (r *beaconRelay) latest() (*protocol.BeaconOptimistic, *protocol.BeaconFinality) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opt, r.fin
}

// bootstrap answers GetBeaconBootstrap.
func (r *beaconRelay) bootstrap(req *protocol.GetBeaconBootstrap) *protocol.BeaconBootstraps {
	reply := &protocol.BeaconBootstraps{ReqID: req.ReqID}
	if b, ok := r.boots.Get(req.Root); ok {
		reply.Bootstraps = append(reply.Bootstraps, b)
		return reply
	}
	b, err := r.src.Bootstrap(req.Root)
	if err != nil {
		r.s.cfg.Logger.Debug("No beacon bootstrap", "root", req.Root, "err", err)
		return reply
	}
	r.boots.Add(req.Root, *b)
	reply.Bootstraps = append(reply.Bootstraps, *b)
	return reply
}

// committeeUpdates answers GetBeaconUpdates: the updates the relay
// verified itself, and those of periods before its checkpoint read from
// the consensus client (their branches and committee roots checked; their
// signatures only a client holding those periods' committees can check).
// The current period's update may still improve: it is read anew.
func (r *beaconRelay) committeeUpdates(req *protocol.GetBeaconUpdates) *protocol.BeaconUpdates {
	reply := &protocol.BeaconUpdates{ReqID: req.ReqID}
	opt, _ := r.latest()
	if opt == nil {
		return reply
	}
	current := btypes.SyncPeriod(opt.SignatureSlot)
	for p := req.StartPeriod; p < req.StartPeriod+req.Count && p <= current; {
		if u, ok := r.updates.Get(p); ok && p < current {
			reply.Updates = append(reply.Updates, u)
			p++
			continue
		}
		n := min(req.StartPeriod+req.Count, current+1) - p
		ups, err := r.src.Updates(p, n)
		if err != nil {
			r.s.cfg.Logger.Debug("No beacon committee updates", "from", p, "count", n, "err", err)
			return reply
		}
		for i, u := range ups {
			if p+uint64(i) < current {
				r.updates.Add(p+uint64(i), u)
			}
		}
		reply.Updates = append(reply.Updates, ups...)
		return reply
	}
	return reply
}

// queueLatest replaces what ch holds (capacity 1) with v.
func queueLatest[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}
