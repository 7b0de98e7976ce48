package devbeacon

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/beacon/light"
	"github.com/ethereum/go-ethereum/beacon/params"
	"github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"
	ctypes "github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
)

// execChain is n linked execution headers.
func execChain(n int) []*ctypes.Header {
	var hs []*ctypes.Header
	parent := common.Hash{}
	for i := range n {
		h := &ctypes.Header{Number: big.NewInt(int64(i)), ParentHash: parent, Difficulty: new(big.Int), GasLimit: 30_000_000,
			Time: uint64(1_700_000_000 + i), BaseFee: big.NewInt(1_000_000_000), Extra: []byte("devbeacon")}
		hs = append(hs, h)
		parent = h.Hash()
	}
	return hs
}

var testCommittee *Committee

func committee(t *testing.T) *Committee {
	t.Helper()
	if testCommittee == nil {
		c, err := NewCommittee("test")
		if err != nil {
			t.Fatal(err)
		}
		testCommittee = c
	}
	return testCommittee
}

func testChain(t *testing.T, n int) (*Chain, []*ctypes.Header) {
	t.Helper()
	c := NewChain(Config(common.Hash{1}), committee(t))
	hs := execChain(n)
	for _, h := range hs {
		if err := c.Add(h); err != nil {
			t.Fatal(err)
		}
	}
	return c, hs
}

// go-ethereum's light client, from a checkpoint, follows the chain's heads
// and finality and takes each head's execution block from its proof.
func TestGethLightClientFollowsTheChain(t *testing.T) {
	c, hs := testChain(t, 100)
	cfg := c.Config()
	boot := c.blocks[70].header
	bootstrap, err := c.Bootstrap(boot.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if err := bootstrap.Validate(cfg); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	cc := light.NewCommitteeChain(memorydb.New(), cfg, params.SyncCommitteeSupermajority, true)
	if err := cc.CheckpointInit(*bootstrap); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	update, next, err := c.Update(0, AllSign())
	if err != nil {
		t.Fatal(err)
	}
	if err := update.Validate(cfg); err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := cc.InsertUpdate(update, next); err != nil {
		t.Fatalf("inserting the update: %v", err)
	}
	// With the committees of periods 0 and 1, the update of period 1 is
	// the next one needed.
	if p, ok := cc.NextSyncPeriod(); !ok || p != 1 {
		t.Fatalf("next sync period %d (%v), want 1", p, ok)
	}

	ht := light.NewHeadTracker(cc, params.SyncCommitteeSupermajority, func(common.Hash) {})
	opt, err := c.Optimistic(AllSign())
	if err != nil {
		t.Fatal(err)
	}
	if err := opt.Validate(cfg); err != nil {
		t.Fatalf("optimistic update: %v", err)
	}
	if ok, err := ht.ValidateOptimistic(opt); !ok || err != nil {
		t.Fatalf("optimistic update not accepted: %v, %v", ok, err)
	}
	head, _ := ht.ValidatedOptimistic()
	if got, want := head.Attested.BlockHash(), hs[99].Hash(); got != want {
		t.Fatalf("head's execution block %x, want %x", got, want)
	}
	fin, err := c.Finality(AllSign())
	if err != nil {
		t.Fatal(err)
	}
	if err := fin.Validate(cfg); err != nil {
		t.Fatalf("finality update: %v", err)
	}
	if ok, err := ht.ValidateFinality(fin); !ok || err != nil {
		t.Fatalf("finality update not accepted: %v, %v", ok, err)
	}
	f, _ := ht.ValidatedFinality()
	if got, want := f.Finalized.BlockHash(), hs[99-FinalityLag].Hash(); got != want {
		t.Fatalf("finalized execution block %x, want %x", got, want)
	}
}

// Data that is wrong is refused by go-ethereum's light client.
func TestGethLightClientRefusesWhatIsWrong(t *testing.T) {
	c, _ := testChain(t, 100)
	cfg := c.Config()
	newTracker := func() *light.HeadTracker {
		bootstrap, err := c.Bootstrap(c.blocks[70].header.Hash())
		if err != nil {
			t.Fatal(err)
		}
		cc := light.NewCommitteeChain(memorydb.New(), cfg, params.SyncCommitteeSupermajority, true)
		if err := cc.CheckpointInit(*bootstrap); err != nil {
			t.Fatal(err)
		}
		return light.NewHeadTracker(cc, params.SyncCommitteeSupermajority, func(common.Hash) {})
	}

	t.Run("participation below the threshold", func(t *testing.T) {
		opt, err := c.Optimistic(FirstSign(params.SyncCommitteeSupermajority - 1))
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := newTracker().ValidateOptimistic(opt); ok {
			t.Fatal("accepted a head signed by fewer than the threshold")
		}
	})
	t.Run("signed by another committee", func(t *testing.T) {
		other, err := NewCommittee("other")
		if err != nil {
			t.Fatal(err)
		}
		forged := NewChain(cfg, other)
		for _, h := range execChain(100) {
			forged.Add(h)
		}
		opt, err := forged.Optimistic(AllSign())
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := newTracker().ValidateOptimistic(opt); ok {
			t.Fatal("accepted a head signed by another committee")
		}
	})
	t.Run("a signature of another header", func(t *testing.T) {
		opt, _ := c.Optimistic(AllSign())
		other, _ := c.sign(c.blocks[98].header, AllSign())
		opt.Signature = other.Signature
		if ok, _ := newTracker().ValidateOptimistic(opt); ok {
			t.Fatal("accepted a head with another header's signature")
		}
	})
	t.Run("a tampered execution branch", func(t *testing.T) {
		opt, _ := c.Optimistic(AllSign())
		proof := *opt.Attested.Proof.(*types.LegacyHeaderProof)
		proof.Branch = append(proof.Branch[:0:0], proof.Branch...)
		proof.Branch[0][0] ^= 1
		opt.Attested.Proof = &proof
		if err := opt.Validate(cfg); err == nil {
			t.Fatal("a tampered execution branch validated")
		}
	})
	t.Run("a tampered finality branch", func(t *testing.T) {
		fin, _ := c.Finality(AllSign())
		fin.FinalityBranch = append(fin.FinalityBranch[:0:0], fin.FinalityBranch...)
		fin.FinalityBranch[1][0] ^= 1
		if err := fin.Validate(cfg); err == nil {
			t.Fatal("a tampered finality branch validated")
		}
	})
	t.Run("an older head replayed", func(t *testing.T) {
		ht := newTracker()
		opt, _ := c.Optimistic(AllSign())
		if ok, err := ht.ValidateOptimistic(opt); !ok || err != nil {
			t.Fatalf("head not accepted: %v, %v", ok, err)
		}
		older, _ := c.sign(c.blocks[90].header, AllSign())
		replay := types.OptimisticUpdate{Attested: c.blocks[90].exec, Signature: older.Signature, SignatureSlot: older.SignatureSlot}
		if ok, _ := ht.ValidateOptimistic(replay); ok {
			t.Fatal("an older head replaced a newer one")
		}
		if head, _ := ht.ValidatedOptimistic(); head.Attested.Slot != 99 {
			t.Fatalf("head at slot %d after the replay, want 99", head.Attested.Slot)
		}
	})
}

// A period the chain has not reached has no update, however large (its
// start slot would overflow to an earlier period's).
func TestNoUpdateBeyondTheHead(t *testing.T) {
	c, _ := testChain(t, 100)
	for _, period := range []uint64{1, 1 << 51, 1<<64 - 1} {
		if u, _, err := c.Update(period, AllSign()); !errors.Is(err, ErrNoBlock) {
			t.Errorf("period %d: update %v, error %v; want ErrNoBlock", period, u != nil, err)
		}
	}
	if _, _, err := c.Update(0, AllSign()); err != nil {
		t.Fatalf("period 0: %v", err)
	}
}
