package devnet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/beacon/light"
	"github.com/ethereum/go-ethereum/beacon/light/api"
	"github.com/ethereum/go-ethereum/beacon/params"
	"github.com/ethereum/go-ethereum/common"
	ctypes "github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain/devbeacon"
	"github.com/lightmarket/lightmarket/chain/devchain"
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
	// A block with a transaction: its beacon block carries the execution
	// payload whole, which converts back to the chain's block.
	eth := ethclient.NewClient(d.Chain.RPCClient())
	key := d.Chain.DevKey()
	nonce, err := eth.PendingNonceAt(ctx, crypto.PubkeyToAddress(key.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := ctypes.SignNewTx(key, ctypes.LatestSignerForChainID(d.Chain.ChainConfig().ChainID), &ctypes.DynamicFeeTx{
		ChainID: d.Chain.ChainConfig().ChainID, Nonce: nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11), Gas: 21000,
		To: &common.Address{1}, Value: big.NewInt(1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := eth.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	receipt, err := bind.WaitMined(ctx, eth, tx.Hash())
	if err != nil {
		t.Fatal(err)
	}
	n := receipt.BlockNumber.Uint64()
	for {
		if h, _, _, err := beacon.GetHeader(common.Hash{}); err == nil && h.Slot >= n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get(fmt.Sprintf("%s/eth/v1/beacon/headers/%d", d.Beacon.URL(), n))
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Data struct {
			Root common.Hash `json:"root"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&hdr)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	block, err := beacon.GetBeaconBlock(hdr.Data.Root)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := block.ExecutionPayload()
	if err != nil {
		t.Fatal(err)
	}
	if payload.Hash() != receipt.BlockHash || len(payload.Transactions()) != 1 || payload.Transactions()[0].Hash() != tx.Hash() {
		t.Fatalf("beacon block %d's payload is block %x with %d transactions, the chain's is %x", n, payload.Hash(), len(payload.Transactions()), receipt.BlockHash)
	}
}

// A client that trusts no server (heads "beacon": a checkpoint and the
// servers' addresses only) follows the heads the devnet's sync committee
// signs, as the servers relay them, and answers as the chain does.
func TestClientFollowsTheSyncCommitteeTrustingNoServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := Start(ctx, Config{Servers: 2, HTTPAddr: "127.0.0.1:0", BlockTime: 100 * time.Millisecond, NoPayments: true,
		BeaconHTTP: "127.0.0.1:0", Heads: "beacon"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st := d.Client.HeadStatus()
	if st.Trusted != 0 || !st.Verified {
		t.Fatalf("head status %+v", st)
	}
	waitBeaconHead(ctx, t, d, 20)
	head := d.Client.Head()
	want, err := d.Chain.DirectBackend().HeaderByNumber(ctx, head.Number.Uint64())
	if err != nil || want.Hash() != head.Hash() {
		t.Fatalf("client head %d %x, chain's %v %v", head.Number, head.Hash(), want, err)
	}
	eth := ethclient.NewClient(d.Node.RPC())
	bal, err := eth.BalanceAt(ctx, devchain.DefaultDevAddress, head.Number)
	if err != nil {
		t.Fatal(err)
	}
	node := ethclient.NewClient(d.Chain.RPCClient())
	if nb, err := node.BalanceAt(ctx, devchain.DefaultDevAddress, head.Number); err != nil || nb.Cmp(bal) != 0 {
		t.Fatalf("balance %v, node's %v (%v)", bal, nb, err)
	}
	// The finalized block is the one the finality update proves: two
	// epochs behind the head the update was signed for.
	waitBeaconHead(ctx, t, d, devbeacon.FinalityLag+5)
	fin, err := eth.HeaderByNumber(ctx, big.NewInt(int64(rpc.FinalizedBlockNumber)))
	if err != nil {
		t.Fatal(err)
	}
	nodeFin, err := node.HeaderByNumber(ctx, fin.Number)
	if err != nil || nodeFin.Hash() != fin.Hash() {
		t.Fatalf("finalized %d %x, the chain's %v %v", fin.Number, fin.Hash(), nodeFin, err)
	}
	if lag := d.Client.Head().Number.Uint64() - fin.Number.Uint64(); lag < devbeacon.FinalityLag-2 {
		t.Fatalf("finalized block %d only %d behind the head", fin.Number, lag)
	}
	// Older blocks and log search work without trusted servers (no
	// history roots or tail signed: headers are linked back).
	old, err := eth.HeaderByNumber(ctx, big.NewInt(3))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := node.HeaderByNumber(ctx, big.NewInt(3)); want.Hash() != old.Hash() {
		t.Fatalf("block 3: %x, the chain's %x", old.Hash(), want.Hash())
	}
	q := ethereum.FilterQuery{FromBlock: big.NewInt(0), ToBlock: fin.Number}
	logs, err := eth.FilterLogs(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if want, err := node.FilterLogs(ctx, q); err != nil || len(want) != len(logs) {
		t.Fatalf("%d logs, the node's %d (%v)", len(logs), len(want), err)
	}
	if s := d.Client.BeaconStats(); s.Verified == 0 || s.Received < s.Verified {
		t.Fatalf("beacon stats %+v", s)
	}
	// Honest servers keep their sessions: a head and two beacon updates
	// every 100 ms are paced to the protocol's rate of signed messages.
	for _, s := range d.Client.Servers() {
		if s.Sessions != 1 || !s.Connected {
			t.Errorf("server %s: %d sessions, connected %v, last error %q", s.Enode, s.Sessions, s.Connected, s.LastError)
		}
	}
}

// waitBeaconHead waits until the client's head is at least number.
func waitBeaconHead(ctx context.Context, t *testing.T, d *Devnet, number uint64) {
	t.Helper()
	for {
		if h := d.Client.Head(); h != nil && h.Number.Uint64() >= number {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no head at %d: %s", number, d.Client.HeadStatus().Reason)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A server relaying another consensus layer (a committee the checkpoint
// does not lead to: what colluding servers would need to show a false
// head) is caught on its first update and banned; the head follows the
// honest relay.
func TestClientBansARelayOfAForgedConsensusLayer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var forged atomic.Pointer[devbeacon.Node]
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := forged.Load()
		if n == nil {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		u, _ := url.Parse(n.URL())
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.ErrorLog = log.New(io.Discard, "", 0) // the event stream is cut at the end
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	d, err := Start(ctx, Config{Servers: 2, HTTPAddr: "127.0.0.1:0", BlockTime: 100 * time.Millisecond, NoPayments: true,
		BeaconHTTP: "127.0.0.1:0", Heads: "beacon", BeaconAPIFor: func(i int, url string) string {
			if i == 1 {
				return proxy.URL
			}
			return url
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// The same execution chain, signed by another committee under the
	// devnet's genesis validators root.
	n, err := devbeacon.StartNode(ctx, d.Chain.DirectBackend(), devbeacon.NodeConfig{Addr: "127.0.0.1:0", Seed: "forged",
		GenesisValidatorsRoot: BeaconGenesisValidatorsRoot})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	forged.Store(n)
	liar := d.Servers[1].Enode().URLv4()
	for {
		var banned bool
		for _, s := range d.Client.Servers() {
			if s.Enode == liar && s.Banned && s.Lies > 0 {
				banned = true
			}
		}
		if banned {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the forged relay was not banned: %+v", d.Client.Servers())
		case <-time.After(100 * time.Millisecond):
		}
	}
	before := d.Client.Head().Number.Uint64()
	waitBeaconHead(ctx, t, d, before+3)
	head := d.Client.Head()
	want, _ := d.Chain.DirectBackend().HeaderByNumber(ctx, head.Number.Uint64())
	if want.Hash() != head.Hash() {
		t.Fatalf("head %x is not the chain's %x", head.Hash(), want.Hash())
	}
}

// With heads "both", a head needs the sync committee and the trusted
// servers.
func TestClientWithBothRules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := Start(ctx, Config{Servers: 2, HTTPAddr: "127.0.0.1:0", BlockTime: 100 * time.Millisecond, NoPayments: true,
		BeaconHTTP: "127.0.0.1:0", Heads: "both"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	waitBeaconHead(ctx, t, d, 10)
	st := d.Client.HeadStatus()
	if !st.Verified || st.Signers < st.Needed || st.Trusted != 2 {
		t.Fatalf("head status %+v", st)
	}
	if s := d.Client.BeaconStats(); s.Verified == 0 {
		t.Fatalf("no beacon update verified: %+v", s)
	}
}
