package beacon_test

import (
	"context"
	"errors"
	"math/big"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/beacon/params"
	btypes "github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"
	ctypes "github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	"github.com/ethereum/go-ethereum/ethdb/pebble"

	"github.com/lightmarket/lightmarket/beacon"
	"github.com/lightmarket/lightmarket/chain/devbeacon"
	"github.com/lightmarket/lightmarket/protocol"
)

func execChain(n int) []*ctypes.Header {
	var hs []*ctypes.Header
	parent := common.Hash{}
	for i := range n {
		h := &ctypes.Header{Number: big.NewInt(int64(i)), ParentHash: parent, Difficulty: new(big.Int), GasLimit: 30_000_000,
			Time: uint64(1_700_000_000 + i), BaseFee: big.NewInt(1_000_000_000)}
		hs = append(hs, h)
		parent = h.Hash()
	}
	return hs
}

type testNet struct {
	chain  *devbeacon.Chain
	api    *devbeacon.API
	url    string
	hs     []*ctypes.Header
	config *params.ChainConfig
}

func newTestNet(t *testing.T, seed string, n int) *testNet {
	return newTestNetOf(t, seed, common.Hash{7}, n)
}

// newTestNetOf is a chain of n blocks whose committee has the keys of seed,
// on the network of genesis validators root gvr.
func newTestNetOf(t *testing.T, seed string, gvr common.Hash, n int) *testNet {
	t.Helper()
	committee, err := devbeacon.NewCommittee(seed)
	if err != nil {
		t.Fatal(err)
	}
	c := devbeacon.NewChain(devbeacon.Config(gvr), committee)
	a := devbeacon.NewAPI(c)
	hs := execChain(n)
	for _, h := range hs {
		if err := a.Add(h); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &testNet{chain: c, api: a, url: srv.URL, hs: hs, config: c.Config()}
}

// bootstrap reads the bootstrap at slot through a Source.
func (n *testNet) bootstrap(t *testing.T, slot uint64) (*beacon.Source, common.Hash, *protocol.BeaconBootstrap) {
	t.Helper()
	src := beacon.NewSource(n.url, n.config)
	checkpoint := n.root(t, slot)
	boot, err := src.Bootstrap(checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	return src, checkpoint, boot
}

func (n *testNet) root(t *testing.T, slot uint64) common.Hash {
	t.Helper()
	r, ok := n.chain.Root(slot)
	if !ok {
		t.Fatalf("no block at slot %d", slot)
	}
	return r
}

// A verifier fed by a Source over the beacon API follows the chain's heads
// and finality from a checkpoint, and takes each head's execution block
// from its proof.
func TestSourceAndVerifierFollowTheChain(t *testing.T) {
	net := newTestNet(t, "test", 100)
	src, checkpoint, boot := net.bootstrap(t, 64)
	ctx := context.Background()
	v := beacon.NewVerifier(memorydb.New(), net.config, params.SyncCommitteeSupermajority)
	if v.Initialized(checkpoint) {
		t.Fatal("initialized before Init")
	}
	if err := v.Init(checkpoint, boot); err != nil {
		t.Fatal(err)
	}
	if !v.Initialized(checkpoint) || v.Initialized(common.Hash{1}) {
		t.Fatal("Initialized does not name the checkpoint")
	}
	opt, err := src.Optimistic(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := v.Optimistic(opt); !ok || err != nil {
		t.Fatalf("optimistic update not accepted: %v %v", ok, err)
	}
	head, _ := v.Head()
	if head.Attested.BlockHash() != net.hs[99].Hash() {
		t.Fatalf("head's execution block %x, want %x", head.Attested.BlockHash(), net.hs[99].Hash())
	}
	fin, err := src.Finality(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := v.Finality(fin); !ok || err != nil {
		t.Fatalf("finality update not accepted: %v %v", ok, err)
	}
	final, _ := v.Finalized()
	if want := net.hs[99-devbeacon.FinalityLag].Hash(); final.Finalized.BlockHash() != want {
		t.Fatalf("finalized execution block %x, want %x", final.Finalized.BlockHash(), want)
	}
	// Updates survive the wire encoding and are accepted (period 0's is
	// the only one the chain has).
	ups, err := src.Updates(0, 1)
	if err != nil || len(ups) != 1 {
		t.Fatalf("updates: %d, %v", len(ups), err)
	}
	msg := &protocol.BeaconUpdates{Updates: ups}
	if err := msg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := v.AddUpdate(&ups[0]); err != nil && !errors.Is(err, beacon.ErrLowParticipation) {
		t.Fatalf("update: %v", err)
	}

	// The event stream delivers each new head.
	events := make(chan beacon.Event, 64)
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Follow(fctx, func(e beacon.Event) { events <- e }, func(error) {})
	}()
	more := execChain(103)
	for _, h := range more[100:] {
		h.ParentHash = net.hs[len(net.hs)-1].Hash()
		net.hs = append(net.hs, h)
	}
	timeout := time.After(10 * time.Second)
	for _, h := range net.hs[100:] {
		if err := net.api.Add(h); err != nil {
			t.Fatal(err)
		}
	wait:
		for {
			select {
			case e := <-events:
				if e.Optimistic == nil {
					continue
				}
				if _, err := v.Optimistic(e.Optimistic); err != nil {
					t.Fatal(err)
				}
				if head, _ := v.Head(); head.Attested.BlockHash() == h.Hash() {
					break wait
				}
			case <-timeout:
				t.Fatalf("head %d not followed", h.Number)
			}
		}
	}
	cancel()
	<-done
}

// What is wrong moves no head, and only what is provably wrong is
// ErrInvalid.
func TestVerifierRefusesWhatIsWrong(t *testing.T) {
	net := newTestNet(t, "test", 100)
	src, checkpoint, boot := net.bootstrap(t, 64)
	ctx := context.Background()
	newVerifier := func() *beacon.Verifier {
		v := beacon.NewVerifier(memorydb.New(), net.config, params.SyncCommitteeSupermajority)
		if err := v.Init(checkpoint, boot); err != nil {
			t.Fatal(err)
		}
		return v
	}
	good, err := src.Optimistic(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clone := func() *protocol.BeaconOptimistic {
		o := *good
		o.Attested.Exec.Branch = append([]common.Hash(nil), good.Attested.Exec.Branch...)
		o.Attested.Exec.PayloadHeader = append([]byte(nil), good.Attested.Exec.PayloadHeader...)
		return &o
	}
	for _, tt := range []struct {
		name   string
		tamper func(*protocol.BeaconOptimistic)
		want   error
	}{
		{"a forged signature", func(o *protocol.BeaconOptimistic) { o.Aggregate.Signature[5] ^= 1 }, beacon.ErrInvalid},
		{"participation below the threshold", func(o *protocol.BeaconOptimistic) {
			o.Aggregate.Signers = [64]byte{}
			o.Aggregate.Signers[0] = 0xff
		}, beacon.ErrLowParticipation},
		{"a tampered execution branch", func(o *protocol.BeaconOptimistic) { o.Attested.Exec.Branch[0][0] ^= 1 }, beacon.ErrInvalid},
		{"another execution block", func(o *protocol.BeaconOptimistic) { o.Attested.Exec.PayloadHeader[40] ^= 1 }, beacon.ErrInvalid},
		{"a header of another fork", func(o *protocol.BeaconOptimistic) { o.Attested.Header.ParentRoot[0] ^= 1 }, beacon.ErrInvalid},
		{"a signature of a period not synced", func(o *protocol.BeaconOptimistic) { o.SignatureSlot += 2 * params.SyncPeriodLength }, beacon.ErrUnknownPeriod},
		{"a payload header that does not decode", func(o *protocol.BeaconOptimistic) { o.Attested.Exec.PayloadHeader = o.Attested.Exec.PayloadHeader[:10] }, beacon.ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier()
			o := clone()
			tt.tamper(o)
			ok, err := v.Optimistic(o)
			if ok || !errors.Is(err, tt.want) {
				t.Fatalf("got %v, %v; want %v", ok, err, tt.want)
			}
			if _, has := v.Head(); has {
				t.Fatal("a head moved")
			}
		})
	}
	t.Run("a tampered finality branch", func(t *testing.T) {
		fin, err := src.Finality(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fin.FinalityBranch = append([]common.Hash(nil), fin.FinalityBranch...)
		fin.FinalityBranch[1][0] ^= 1
		v := newVerifier()
		if ok, err := v.Finality(fin); ok || !errors.Is(err, beacon.ErrInvalid) {
			t.Fatalf("got %v, %v", ok, err)
		}
	})
	// Heads of other chains: another committee's, and the same committee's
	// under another genesis validators root (another signature domain, as
	// a head of another network or signed for another fork version has).
	for name, seedAndRoot := range map[string]struct {
		seed string
		gvr  common.Hash
	}{
		"signed by another committee":                      {"other", common.Hash{7}},
		"signed by the same committee for another network": {"test", common.Hash{8}},
	} {
		t.Run(name, func(t *testing.T) {
			other := newTestNetOf(t, seedAndRoot.seed, seedAndRoot.gvr, 100)
			forged, err := beacon.NewSource(other.url, other.config).Optimistic(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := newVerifier().Optimistic(forged); ok || !errors.Is(err, beacon.ErrInvalid) {
				t.Fatalf("got %v, %v", ok, err)
			}
		})
	}
	t.Run("an older head replayed", func(t *testing.T) {
		v := newVerifier()
		if ok, err := v.Optimistic(good); !ok || err != nil {
			t.Fatal(ok, err)
		}
		// The same chain 9 blocks earlier: a validly signed older head.
		older, err := beacon.NewSource(newTestNet(t, "test", 91).url, net.config).Optimistic(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := v.Optimistic(older); ok || err != nil {
			t.Fatalf("older head: %v, %v", ok, err)
		}
		if head, _ := v.Head(); head.Attested.Slot != 99 {
			t.Fatalf("head at slot %d after the replay, want 99", head.Attested.Slot)
		}
	})
	t.Run("the bootstrap of another block", func(t *testing.T) {
		v := beacon.NewVerifier(memorydb.New(), net.config, params.SyncCommitteeSupermajority)
		if err := v.Init(net.root(t, 65), boot); !errors.Is(err, beacon.ErrWrongCheckpoint) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a tampered committee branch", func(t *testing.T) {
		b := *boot
		b.CommitteeBranch = append([]common.Hash(nil), boot.CommitteeBranch...)
		b.CommitteeBranch[2][0] ^= 1
		v := beacon.NewVerifier(memorydb.New(), net.config, params.SyncCommitteeSupermajority)
		if err := v.Init(checkpoint, &b); !errors.Is(err, beacon.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
}

// A checkpoint older than the weak-subjectivity period is refused, saying
// so and what to do.
func TestCheckpointOlderThanTheWeakSubjectivityPeriod(t *testing.T) {
	net := newTestNet(t, "test", 70)
	cfg := *net.config
	// Slot 64 of a chain that began three weeks ago is three weeks old.
	cfg.GenesisTime = uint64(time.Now().Add(-21 * 24 * time.Hour).Unix())
	boot, err := beacon.NewSource(net.url, net.config).Bootstrap(net.root(t, 64))
	if err != nil {
		t.Fatal(err)
	}
	v := beacon.NewVerifier(memorydb.New(), &cfg, params.SyncCommitteeSupermajority)
	err = v.Init(net.root(t, 64), boot)
	if !errors.Is(err, beacon.ErrCheckpointAge) {
		t.Fatalf("got %v", err)
	}
	t.Log(err)
	// A day-old one is fine.
	cfg.GenesisTime = uint64(time.Now().Add(-24 * time.Hour).Unix())
	if err := beacon.NewVerifier(memorydb.New(), &cfg, params.SyncCommitteeSupermajority).Init(net.root(t, 64), boot); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFileRoundTrips(t *testing.T) {
	cfg := devbeacon.Config(common.Hash{9})
	cfg.GenesisTime = 1_700_000_000
	path := filepath.Join(t.TempDir(), "beacon.yaml")
	if err := beacon.WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := beacon.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.GenesisValidatorsRoot != cfg.GenesisValidatorsRoot || got.GenesisTime != cfg.GenesisTime || len(got.Forks) != len(cfg.Forks) {
		t.Fatalf("got %+v, want %+v", got, cfg)
	}
	for _, slot := range []uint64{0, 1 << 20} {
		if got.ForkNameAtSlot(slot) != cfg.ForkNameAtSlot(slot) {
			t.Fatalf("fork at %d: %s, want %s", slot, got.ForkNameAtSlot(slot), cfg.ForkNameAtSlot(slot))
		}
	}
	if c, ok := beacon.ConfigForChain(11155111); !ok || c.GenesisValidatorsRoot != params.SepoliaLightConfig.GenesisValidatorsRoot {
		t.Fatal("sepolia not built in")
	}
	if _, ok := beacon.ConfigForChain(1337); ok {
		t.Fatal("a config for a chain nobody runs")
	}
}

// The committee chain is kept in its database: reopened, the verifier
// needs no bootstrap to verify heads.
func TestVerifierKeepsItsCommitteeChain(t *testing.T) {
	net := newTestNet(t, "test", 100)
	src, checkpoint, boot := net.bootstrap(t, 64)
	dir := filepath.Join(t.TempDir(), "beacon")
	db, err := pebble.New(dir, 16, 16, "", false)
	if err != nil {
		t.Fatal(err)
	}
	v := beacon.NewVerifier(db, net.config, params.SyncCommitteeSupermajority)
	if err := v.Init(checkpoint, boot); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = pebble.New(dir, 16, 16, "", false); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v = beacon.NewVerifier(db, net.config, params.SyncCommitteeSupermajority)
	if !v.Initialized(checkpoint) {
		t.Fatal("the committee chain was not kept")
	}
	opt, err := src.Optimistic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := v.Optimistic(opt); !ok || err != nil {
		t.Fatalf("head not verified after reopening: %v %v", ok, err)
	}
}

// Committee updates are taken in order: one for a period whose
// committee is not known yet is refused (not the sender's fault), one
// with a tampered branch is invalid, and after the right one the next
// period's heads verify.
func TestVerifierTakesCommitteeUpdatesInOrder(t *testing.T) {
	committee, err := devbeacon.NewCommittee("test")
	if err != nil {
		t.Fatal(err)
	}
	c := devbeacon.NewChain(devbeacon.Config(common.Hash{7}), committee)
	n := params.SyncPeriodLength + 700
	for _, h := range execChain(int(n)) {
		if err := c.Add(h); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint, _ := c.Root(64)
	bd, err := c.Bootstrap(checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	boot := protocol.BeaconBootstrapOf(bd)
	v := beacon.NewVerifier(memorydb.New(), c.Config(), params.SyncCommitteeSupermajority)
	if err := v.Init(checkpoint, &boot); err != nil {
		t.Fatal(err)
	}
	update := func(period uint64) protocol.BeaconUpdate {
		u, next, err := c.Update(period, devbeacon.AllSign())
		if err != nil {
			t.Fatal(err)
		}
		return protocol.BeaconUpdateOf(u, next)
	}
	// A head signed in period 1 cannot be judged yet.
	opt, err := c.Optimistic(devbeacon.AllSign())
	if err != nil {
		t.Fatal(err)
	}
	wire := protocol.BeaconOptimistic{Version: devbeacon.Version, Attested: protocol.BeaconHeaderExec{Header: protocol.BeaconHeaderOf(opt.Attested.Header)},
		Aggregate: protocol.SyncAggregateOf(opt.Signature), SignatureSlot: opt.SignatureSlot}
	proof := opt.Attested.Proof.(*btypes.LegacyHeaderProof)
	wire.Attested.Exec.Branch = protocol.Branch(proof.Branch)
	if wire.Attested.Exec.PayloadHeader, err = c.PayloadHeaderSSZ(opt.Attested.Slot); err != nil {
		t.Fatal(err)
	}
	if ok, err := v.Optimistic(&wire); ok || !errors.Is(err, beacon.ErrUnknownPeriod) {
		t.Fatalf("head of period 1 before its committee: %v, %v", ok, err)
	}
	// Period 1's update before period 0's: not the sender's fault.
	p1 := update(1)
	if err := v.AddUpdate(&p1); !errors.Is(err, beacon.ErrUnknownPeriod) || errors.Is(err, beacon.ErrInvalid) {
		t.Fatalf("period 1 first: %v", err)
	}
	// Period 0's with a tampered next-committee branch: invalid.
	p0 := update(0)
	bad := p0
	bad.NextCommitteeBranch = append([]common.Hash(nil), p0.NextCommitteeBranch...)
	bad.NextCommitteeBranch[0][0] ^= 1
	if err := v.AddUpdate(&bad); !errors.Is(err, beacon.ErrInvalid) {
		t.Fatalf("tampered update: %v", err)
	}
	if err := v.AddUpdate(&p0); err != nil {
		t.Fatal(err)
	}
	if next, _ := v.NextPeriod(); next != 1 {
		t.Fatalf("next period %d after period 0's update", next)
	}
	if ok, err := v.Optimistic(&wire); !ok || err != nil {
		t.Fatalf("head of period 1 after its committee: %v, %v", ok, err)
	}
}
