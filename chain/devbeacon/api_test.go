package devbeacon

import (
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/beacon/light"
	"github.com/ethereum/go-ethereum/beacon/light/api"
	"github.com/ethereum/go-ethereum/beacon/params"
	"github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"
	ctypes "github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	"github.com/ethereum/go-ethereum/trie"
)

// go-ethereum's beacon API client reads the dev consensus layer as it reads
// a consensus client: bootstrap, updates, optimistic and finality updates,
// headers and the event stream, all of which its light client accepts.
func TestGethBeaconAPIReadsTheChain(t *testing.T) {
	chain := NewChain(Config(common.Hash{2}), committee(t))
	a := NewAPI(chain)
	hs := execChain(120)
	for _, h := range hs[:100] {
		if err := a.Add(h); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	cfg := chain.Config()
	client := api.NewBeaconLightApi(srv.URL, nil, cfg)

	head, canonical, _, err := client.GetHeader(common.Hash{})
	if err != nil || !canonical || head.Slot != 99 {
		t.Fatalf("head: slot %d, canonical %v, %v", head.Slot, canonical, err)
	}
	checkpoint := chain.blocks[70].header.Hash()
	bootstrap, err := client.GetCheckpointData(checkpoint)
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	cc := light.NewCommitteeChain(memorydb.New(), cfg, params.SyncCommitteeSupermajority, true)
	if err := cc.CheckpointInit(*bootstrap); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	updates, committees, err := client.GetBestUpdatesAndCommittees(0, 1)
	if err != nil {
		t.Fatalf("updates: %v", err)
	}
	if err := cc.InsertUpdate(updates[0], committees[0]); err != nil {
		t.Fatalf("inserting the update: %v", err)
	}
	ht := light.NewHeadTracker(cc, params.SyncCommitteeSupermajority, func(common.Hash) {})
	opt, err := client.GetOptimisticUpdate()
	if err != nil {
		t.Fatalf("optimistic update: %v", err)
	}
	if ok, err := ht.ValidateOptimistic(opt); !ok || err != nil {
		t.Fatalf("optimistic update not accepted: %v, %v", ok, err)
	}
	if opt.Attested.BlockHash() != hs[99].Hash() {
		t.Fatalf("head's execution block %x, want %x", opt.Attested.BlockHash(), hs[99].Hash())
	}
	fin, err := client.GetFinalityUpdate()
	if err != nil {
		t.Fatalf("finality update: %v", err)
	}
	if ok, err := ht.ValidateFinality(fin); !ok || err != nil {
		t.Fatalf("finality update not accepted: %v, %v", ok, err)
	}

	// New heads arrive on the event stream. (The stream is stopped only
	// once the last block's events, the finality update last, have been
	// taken: the eventsource package go-ethereum uses closes its channels
	// with a racing send when it is stopped in the middle of one.)
	heads := make(chan types.OptimisticUpdate, 64)
	finals := make(chan types.FinalityUpdate, 64)
	stop := client.StartHeadListener(api.HeadEventListener{
		OnNewHead:    func(uint64, common.Hash) {},
		OnOptimistic: func(u types.OptimisticUpdate) { heads <- u },
		OnFinality:   func(u types.FinalityUpdate) { finals <- u },
		OnError:      func(err error) { t.Logf("event stream: %v", err) },
	})
	defer stop()
	timeout := time.After(10 * time.Second)
	next, sawHead := 100, false
	for {
		select {
		case u := <-heads:
			if ok, err := ht.ValidateOptimistic(u); err != nil || (!ok && u.Attested.Slot > 99) {
				t.Fatalf("streamed head %d not accepted: %v, %v", u.Attested.Slot, ok, err)
			}
			if u.Attested.Slot == 119 {
				if u.Attested.BlockHash() != hs[119].Hash() {
					t.Fatal("streamed head's execution block differs")
				}
				sawHead = true
			}
		case f := <-finals:
			if f.Attested.Slot == 119 {
				if !sawHead {
					t.Fatal("finality update of head 119 before the head")
				}
				if ok, err := ht.ValidateFinality(f); !ok || err != nil {
					t.Fatalf("streamed finality update not accepted: %v, %v", ok, err)
				}
				return
			}
		case <-time.After(50 * time.Millisecond):
			if next < len(hs) {
				if err := a.Add(hs[next]); err != nil {
					t.Fatal(err)
				}
				next++
			}
		case <-timeout:
			t.Fatalf("no head 119 on the event stream (added up to %d)", next-1)
		}
	}
}

func TestAPIRefusesBadRequests(t *testing.T) {
	a := NewAPI(NewChain(Config(common.Hash{2}), committee(t)))
	for _, h := range execChain(3) {
		a.Add(h)
	}
	for path, want := range map[string]int{
		"/eth/v1/beacon/light_client/bootstrap/0x12":                    400,
		"/eth/v1/beacon/light_client/bootstrap/" + common.Hash{9}.Hex(): 404,
		"/eth/v1/beacon/light_client/updates?start_period=x&count=1":    400,
		"/eth/v1/beacon/light_client/updates?start_period=0":            400,
		"/eth/v1/beacon/headers/" + common.Hash{9}.Hex():                404,
		"/eth/v1/beacon/headers/head":                                   200,
		"/eth/v1/nothing":                                               404,
		"/eth/v1/beacon/light_client/finality_update":                   200,
	} {
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
	}
}

func TestAPIUpdatesBeyondTheHeadAreEmpty(t *testing.T) {
	a := NewAPI(NewChain(Config(common.Hash{2}), committee(t)))
	for _, h := range execChain(3) {
		a.Add(h)
	}
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest("GET", "/eth/v1/beacon/light_client/updates?start_period=2251799813685248&count=128", nil))
	if rec.Code != 200 || rec.Body.String() != "[]" {
		t.Fatalf("updates beyond the head: %d %q, want 200 []", rec.Code, rec.Body.String())
	}
}

// go-ethereum's beacon API client reads the chain's blocks: each hashes to
// its header's root, and its execution payload converts back to the
// execution block, transactions and withdrawals included.
func TestGethReadsTheBlocks(t *testing.T) {
	key, _ := crypto.GenerateKey()
	signer := ctypes.LatestSignerForChainID(big.NewInt(1337))
	var blocks []*ctypes.Block
	parent := common.Hash{}
	for i := range 4 {
		var txs []*ctypes.Transaction
		for n := range i {
			tx, err := ctypes.SignNewTx(key, signer, &ctypes.DynamicFeeTx{ChainID: big.NewInt(1337), Nonce: uint64(n), GasTipCap: big.NewInt(1),
				GasFeeCap: big.NewInt(2e9), Gas: 21000, To: &common.Address{byte(n)}, Value: big.NewInt(int64(n))})
			if err != nil {
				t.Fatal(err)
			}
			txs = append(txs, tx)
		}
		withdrawals := []*ctypes.Withdrawal{{Index: uint64(i), Validator: 7, Address: common.Address{9}, Amount: 32}}
		empty := ctypes.EmptyRequestsHash
		zero := common.Hash{}
		var blobGas uint64
		h := &ctypes.Header{Number: big.NewInt(int64(i)), ParentHash: parent, Difficulty: new(big.Int), GasLimit: 30_000_000,
			Time: uint64(1_700_000_000 + i), BaseFee: big.NewInt(1_000_000_000), ParentBeaconRoot: &zero, RequestsHash: &empty,
			BlobGasUsed: &blobGas, ExcessBlobGas: &blobGas, UncleHash: ctypes.EmptyUncleHash}
		b := ctypes.NewBlock(h, &ctypes.Body{Transactions: txs, Withdrawals: withdrawals}, nil, trie.NewStackTrie(nil))
		blocks = append(blocks, b)
		parent = b.Hash()
	}
	chain := NewChain(Config(common.Hash{3}), committee(t))
	a := NewAPI(chain)
	for _, b := range blocks {
		if err := a.AddBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	client := api.NewBeaconLightApi(srv.URL, nil, chain.Config())
	for slot, want := range blocks {
		root, _ := chain.Root(uint64(slot))
		block, err := client.GetBeaconBlock(root)
		if err != nil {
			t.Fatalf("block %d: %v", slot, err)
		}
		got, err := block.ExecutionPayload()
		if err != nil {
			t.Fatalf("block %d's payload: %v", slot, err)
		}
		if got.Hash() != want.Hash() || len(got.Transactions()) != slot || len(got.Withdrawals()) != 1 {
			t.Fatalf("block %d: execution block %x with %d transactions, want %x with %d", slot, got.Hash(), len(got.Transactions()), want.Hash(), slot)
		}
	}
	// The light client's execution proof commits to the same payload.
	opt, err := client.GetOptimisticUpdate()
	if err != nil {
		t.Fatal(err)
	}
	if err := opt.Validate(chain.Config()); err != nil || opt.Attested.BlockHash() != blocks[3].Hash() {
		t.Fatalf("optimistic update: %v, block %x", err, opt.Attested.BlockHash())
	}
	for _, id := range []string{"head", "genesis", "finalized", "2"} {
		resp, err := http.Get(srv.URL + "/eth/v2/beacon/blocks/" + id)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("block %s: %v %v", id, resp.Status, err)
		}
		resp.Body.Close()
	}
	for id, status := range map[string]int{"9": http.StatusNotFound, "nope": http.StatusBadRequest, "0x01": http.StatusBadRequest} {
		resp, err := http.Get(srv.URL + "/eth/v2/beacon/blocks/" + id)
		if err != nil || resp.StatusCode != status {
			t.Fatalf("block %s: %v %v, want %d", id, resp.Status, err, status)
		}
		resp.Body.Close()
	}
}
