package devnet

import (
	"context"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/beacon/light"
	"github.com/ethereum/go-ethereum/beacon/light/api"
	"github.com/ethereum/go-ethereum/beacon/params"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"

	"github.com/lightmarket/lightmarket/chain/devbeacon"
)

// The devnet's consensus layer, read with go-ethereum's beacon API client
// from the genesis checkpoint, gives heads go-ethereum's light client
// accepts, whose execution blocks are the devnet chain's.
func TestDevnetBeaconHeadsAreTheChains(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := Start(ctx, Config{Servers: 1, HTTPAddr: "127.0.0.1:0", BlockTime: 100 * time.Millisecond, NoPayments: true, BeaconHTTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg := devbeacon.Config(BeaconGenesisValidatorsRoot)
	beacon := api.NewBeaconLightApi(d.Beacon.URL(), nil, cfg)
	bootstrap, err := beacon.GetCheckpointData(d.Beacon.Genesis())
	if err != nil {
		t.Fatalf("bootstrap at the genesis checkpoint: %v", err)
	}
	cc := light.NewCommitteeChain(memorydb.New(), cfg, params.SyncCommitteeSupermajority, true)
	if err := cc.CheckpointInit(*bootstrap); err != nil {
		t.Fatal(err)
	}
	ht := light.NewHeadTracker(cc, params.SyncCommitteeSupermajority, func(common.Hash) {})
	var slot uint64
	for slot < 5 {
		time.Sleep(100 * time.Millisecond)
		opt, err := beacon.GetOptimisticUpdate()
		if err != nil {
			t.Fatalf("optimistic update: %v", err)
		}
		if ok, err := ht.ValidateOptimistic(opt); err != nil || (!ok && opt.Attested.Slot > slot) {
			t.Fatalf("head %d not accepted: %v, %v", opt.Attested.Slot, ok, err)
		}
		slot = opt.Attested.Slot
		want, err := d.Chain.DirectBackend().HeaderByNumber(ctx, slot)
		if err != nil {
			t.Fatal(err)
		}
		if opt.Attested.BlockHash() != want.Hash() {
			t.Fatalf("beacon head %d carries execution block %x, the chain has %x", slot, opt.Attested.BlockHash(), want.Hash())
		}
	}
}
