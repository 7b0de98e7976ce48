package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/beacon"
	"github.com/lightmarket/lightmarket/chain/devbeacon"
	"github.com/lightmarket/lightmarket/devnet"
	"github.com/lightmarket/lightmarket/lightclient"
)

// BeaconConfig configures the beacon benchmark.
type BeaconConfig struct {
	// BlockTime is the devnet's (default 1 s: a beacon slot per block).
	BlockTime time.Duration
	// Heads is how many heads the following client's lag is measured
	// over (default 30); FreshClients how many fresh clients are timed
	// to their first head (default 5).
	Heads        int
	FreshClients int
	Logger       log.Logger
}

// BeaconResult holds the beacon benchmark's figures.
type BeaconResult struct {
	// A fresh client (heads "beacon", a checkpoint in the current period,
	// the relaying servers' addresses), from its start to its first
	// verified head, p50.
	FirstHeadMs  float64   `json:"beacon_first_head_ms"`
	FirstHeadsMs []float64 `json:"beacon_first_heads_ms"`
	// From the consensus layer's optimistic update event (read by this
	// process from its event stream) to the client's verified head at
	// that block, p50 and p99 over Heads heads.
	HeadLagP50Ms float64 `json:"beacon_head_lag_ms"`
	HeadLagP99Ms float64 `json:"beacon_head_lag_p99_ms"`
	// Time verifying the updates that moved a head or the finalized block
	// (committee chain and head tracker: BLS aggregate and Merkle
	// branches), per head; and the beacon messages' bytes per head (both
	// directions, all servers), with the bootstrap excluded.
	VerifyUsPerHead float64 `json:"beacon_verify_us_per_head"`
	BytesPerHead    float64 `json:"beacon_bytes_per_head"`
	Servers         int     `json:"beacon_servers"`
}

// Beacon measures heads signed by the sync committee on a devnet with its
// development consensus layer, relayed by three servers.
func Beacon(ctx context.Context, cfg BeaconConfig) (*BeaconResult, error) {
	if cfg.BlockTime == 0 {
		cfg.BlockTime = time.Second
	}
	if cfg.Heads == 0 {
		cfg.Heads = 30
	}
	if cfg.FreshClients == 0 {
		cfg.FreshClients = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	quiet := log.NewLogger(log.DiscardHandler())
	d, err := devnet.Start(ctx, devnet.Config{Servers: 3, HTTPAddr: "127.0.0.1:0", BlockTime: cfg.BlockTime, NoPayments: true,
		BeaconHTTP: "127.0.0.1:0", Logger: quiet, ChainLogger: quiet})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	res := &BeaconResult{Servers: len(d.Servers)}
	src := beacon.NewSource(d.Beacon.URL(), devbeacon.Config(devnet.BeaconGenesisValidatorsRoot))
	var servers []string
	for _, s := range d.Servers {
		servers = append(servers, s.Enode().URLv4())
	}
	base := lightclient.Config{Heads: "beacon", BeaconConfig: d.BeaconConfigFile, Servers: servers,
		Genesis: d.Chain.DirectBackend().Genesis().Hex(), Logger: quiet}

	// Fresh clients, each from the latest finalized block.
	for range cfg.FreshClients {
		fin, err := src.Finality(ctx)
		if err != nil {
			return nil, fmt.Errorf("beacon: finality update: %w", err)
		}
		h := fin.Finalized.Header.Geth()
		lc := base
		lc.BeaconCheckpoint = h.Hash().Hex()
		start := time.Now()
		node, err := lightclient.Start(ctx, lc)
		if err != nil {
			return nil, err
		}
		_, err = node.Client().WaitHead(ctx)
		took := time.Since(start)
		node.Stop()
		if err != nil {
			return nil, err
		}
		res.FirstHeadsMs = append(res.FirstHeadsMs, float64(took)/float64(time.Millisecond))
	}
	res.FirstHeadMs = median(res.FirstHeadsMs)
	cfg.Logger.Info("Beacon: first heads", "ms", res.FirstHeadsMs)

	// One client follows the chain: the lag from the consensus layer's
	// event to its verified head, block by block.
	fin, err := src.Finality(ctx)
	if err != nil {
		return nil, err
	}
	h := fin.Finalized.Header.Geth()
	lc := base
	lc.BeaconCheckpoint = h.Hash().Hex()
	node, err := lightclient.Start(ctx, lc)
	if err != nil {
		return nil, err
	}
	defer node.Stop()
	c := node.Client()
	if _, err := c.WaitHead(ctx); err != nil {
		return nil, err
	}
	var (
		mu      sync.Mutex
		emitted = make(map[uint64]time.Time) // slot = block number
		reached = make(map[uint64]time.Time)
	)
	heads := make(chan *types.Header, 64)
	sub := c.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		src.Follow(fctx, func(e beacon.Event) {
			if e.Optimistic == nil {
				return
			}
			mu.Lock()
			if _, ok := emitted[e.Optimistic.Attested.Header.Slot]; !ok {
				emitted[e.Optimistic.Attested.Header.Slot] = time.Now()
			}
			mu.Unlock()
		}, func(error) {})
	}()
	before := c.BeaconStats()
	for len(reached) < cfg.Heads {
		select {
		case h := <-heads:
			reached[h.Number.Uint64()] = time.Now()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	after := c.BeaconStats()
	cancel()
	wg.Wait()
	var lags []float64
	mu.Lock()
	for n, at := range reached {
		if ev, ok := emitted[n]; ok {
			lags = append(lags, float64(at.Sub(ev))/float64(time.Millisecond))
		}
	}
	mu.Unlock()
	if len(lags) == 0 {
		return nil, fmt.Errorf("beacon: no head followed after its event")
	}
	slices.Sort(lags)
	res.HeadLagP50Ms = lags[len(lags)/2]
	res.HeadLagP99Ms = lags[(len(lags)-1)*99/100]
	n := float64(len(reached))
	res.VerifyUsPerHead = float64(after.VerifyTime-before.VerifyTime) / float64(time.Microsecond) / n
	res.BytesPerHead = float64(after.Bytes-before.Bytes) / n
	return res, nil
}
