package devnet

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/crypto/kzg4844"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/internal/testchain"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/rpcapi"
	"github.com/lightmarket/lightmarket/server"
)

// These tests pin the wallet endpoint's answers to the findings of issue
// #11, each of which a wallet met.

// openRPC starts the JSON-RPC endpoint of c on loopback and returns a
// client of it.
func openRPC(t *testing.T, ctx context.Context, c *client.Client) *rpc.Client {
	t.Helper()
	rs, err := rpcapi.Start(rpcapi.Config{Client: c, Addr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	light, err := rpc.DialContext(ctx, rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(light.Close)
	return light
}

// clientWith starts a client trusting servers with cfg's other settings.
func clientWith(t *testing.T, cfg client.Config, servers ...*server.Server) *client.Client {
	t.Helper()
	for _, s := range servers {
		cfg.Trusted = append(cfg.Trusted, s.Enode())
	}
	if cfg.ChainConfig == nil {
		cfg.ChainConfig = devchain.ChainConfig()
	}
	cfg.Logger = quiet
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Finding 1: a zero hash was sent as "block number 0"; the honest genesis
// failed the hash check and every trusted server was banned.
func TestZeroHashNeverGetsAServerBanned(t *testing.T) {
	d := startDevnet(t, Config{})
	ctx, light := session(t, d, 30*time.Second)
	node := d.Chain.RPCClient()
	zero := common.Hash{}
	for _, call := range [][]any{
		{"eth_getBlockByHash", zero, false},
		{"eth_getBlockByHash", zero, true},
		{"eth_getHeaderByHash", zero},
		{"eth_getBlockReceipts", zero},
		{"eth_getBlockReceipts", map[string]any{"blockHash": zero}},
		{"eth_getBalance", common.Address{1}, map[string]any{"blockHash": zero}},
		{"eth_getCode", common.Address{1}, map[string]any{"blockHash": zero}},
		{"eth_getLogs", map[string]any{"blockHash": zero}},
		{"eth_getTransactionByBlockHashAndIndex", zero, "0x0"},
		{"eth_getUncleCountByBlockHash", zero},
		{"eth_getTransactionByHash", zero},
		{"eth_getTransactionReceipt", zero},
	} {
		differ(t, ctx, light, node, call[0].(string), call[1:]...)
	}
	noneBanned(t, d.Client)
	// The client still answers.
	var n hexutil.Uint64
	if err := light.CallContext(ctx, &n, "eth_blockNumber"); err != nil {
		t.Fatalf("after the zero-hash calls: %v", err)
	}
}

// Finding 2: eth_getLogs with toBlock beyond the head returned [] and
// dropped logs that exist. geth refuses the range.
func TestLogsBeyondTheHeadAreAnError(t *testing.T) {
	d := startDevnet(t, Config{Servers: 1})
	ctx, light := session(t, d, 30*time.Second)
	head := d.Client.Head().Number.Uint64()
	q := map[string]any{"fromBlock": hexutil.EncodeUint64(head), "toBlock": hexutil.EncodeUint64(head + 1000)}
	var logs []any
	err := light.CallContext(ctx, &logs, "eth_getLogs", q)
	var rpcErr rpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.ErrorCode() != -32602 || rpcErr.Error() != "block range extends beyond current head block" {
		t.Fatalf("eth_getLogs beyond the head = %v, %v; want geth's invalid-params error", logs, err)
	}
	// A range over the limit is refused as geth refuses it.
	q = map[string]any{"fromBlock": "0x0", "toBlock": hexutil.EncodeUint64(rpcapi.DefaultLogRange + 1)}
	if err := light.CallContext(ctx, &logs, "eth_getLogs", q); !errors.As(err, &rpcErr) || !strings.Contains(err.Error(), "exceed maximum block range") {
		t.Fatalf("eth_getLogs over the range limit = %v", err)
	}
}

// Finding 4: safe and finalized were answered with the latest head. They
// are the blocks the trusted servers sign as safe and finalized.
func TestSafeAndFinalizedAreWhatTheTrustedServersSign(t *testing.T) {
	ch := newChain(t)
	c := clientWith(t, client.Config{Fraction: 67, HeadMaxAge: -1}, newServer(t, ch), newServer(t, ch), newServer(t, ch))
	for range 40 {
		ch.Commit()
	}
	waitFor(t, c, headHash(t, ch))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	light := openRPC(t, ctx, c)
	node := ch.RPCClient()
	// The dev chain's beacon makes the head (41) safe and the last epoch
	// boundary (block 32) final; the servers sign both.
	eventuallyWithin(t, 20*time.Second, "the safe block to be signed", func() bool {
		h, err := c.TaggedHeader(ctx, client.Safe)
		return err == nil && h.Hash() == c.Head().Hash()
	})
	for _, call := range [][]any{
		{"eth_getBlockByNumber", "safe", false},
		{"eth_getBlockByNumber", "finalized", true},
		{"eth_getHeaderByNumber", "safe"},
		{"eth_getHeaderByNumber", "finalized"},
		{"eth_getBalance", devchain.DefaultDevAddress, "finalized"},
		{"eth_getLogs", map[string]any{"fromBlock": "finalized", "toBlock": "safe"}},
		{"eth_feeHistory", "0x4", "finalized", []float64{50}},
		{"eth_getBlockReceipts", "finalized"},
	} {
		if got := differ(t, ctx, light, node, call[0].(string), call[1:]...); got.Message != "" {
			t.Errorf("%s %v: %s", call[0], call[1:], got.Message)
		}
	}
	var fin map[string]any
	if err := light.CallContext(ctx, &fin, "eth_getBlockByNumber", "finalized", false); err != nil || fin["number"] != "0x20" {
		t.Errorf("finalized block = %v, %v; want block 32", fin["number"], err)
	}
}

// Finding 5: a blob transaction with its sidecar exceeded the 128 KiB
// transaction limit and could never be relayed.
func TestBlobTransactionWithSidecarIsRelayed(t *testing.T) {
	d := startDevnet(t, Config{Servers: 1, NoPayments: true})
	ctx, light := session(t, d, 60*time.Second)
	wallet := ethclient.NewClient(light)
	var blob kzg4844.Blob
	for i := range blob {
		if i%32 != 0 { // every field element below the modulus
			blob[i] = byte(i)
		}
	}
	commitment, err := kzg4844.BlobToCommitment(&blob)
	if err != nil {
		t.Fatal(err)
	}
	proofs, err := kzg4844.ComputeCellProofs(&blob)
	if err != nil {
		t.Fatal(err)
	}
	sidecar := types.NewBlobTxSidecar(types.BlobSidecarVersion1, []kzg4844.Blob{blob}, []kzg4844.Commitment{commitment}, proofs)
	versioned := kzg4844.CalcBlobHashV1(sha256.New(), &commitment)
	nonce, err := wallet.PendingNonceAt(ctx, crypto.PubkeyToAddress(d.DevKey.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	head, err := wallet.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := d.Chain.ChainConfig()
	tx := types.MustSignNewTx(d.DevKey, types.LatestSigner(cfg), &types.BlobTx{
		ChainID: uint256.MustFromBig(cfg.ChainID), Nonce: nonce, To: common.Address{0xb1, 0x0b}, Gas: 21000,
		GasTipCap: uint256.NewInt(params.GWei), GasFeeCap: uint256.MustFromBig(new(big.Int).Add(big.NewInt(params.GWei), new(big.Int).Mul(head.BaseFee, big.NewInt(2)))),
		BlobFeeCap: uint256.NewInt(params.GWei), BlobHashes: []common.Hash{versioned}, Sidecar: sidecar,
	})
	raw, _ := tx.MarshalBinary()
	if len(raw) <= 128*1024 {
		t.Fatalf("blob transaction is only %d bytes", len(raw))
	}
	if err := wallet.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("sending a %d-byte blob transaction: %v", len(raw), err)
	}
	r := waitReceipt(t, ctx, wallet, tx.Hash())
	if r.Status != types.ReceiptStatusSuccessful || r.BlobGasUsed == 0 {
		t.Fatalf("blob transaction receipt: %+v", r)
	}
	sameAnswer(t, ctx, light, d.Chain.RPCClient(), "eth_getTransactionReceipt", tx.Hash())
	sameAnswer(t, ctx, light, d.Chain.RPCClient(), "eth_getTransactionByHash", tx.Hash())
}

// otherChain starts a dev chain whose genesis funds another key, so that
// it is another chain with the same chain id.
func otherChain(t *testing.T) *devchain.Chain {
	t.Helper()
	key, _ := crypto.GenerateKey()
	c, err := devchain.New(devchain.Config{BlockTime: time.Hour, DevKey: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Finding 6: with fraction 100 and one trusted server on another chain the
// JSON-RPC never opened and the log never said why; and without a
// configured genesis the first trusted server to answer chose the chain.
func TestGenesisIsAgreedByTheTrustedServers(t *testing.T) {
	honest, stranger := newChain(t), otherChain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("fraction 100 with a server on another chain", func(t *testing.T) {
		c := clientWith(t, client.Config{Fraction: 100}, newServer(t, stranger), newServer(t, honest), newServer(t, honest))
		light := openRPC(t, ctx, c) // open before any head
		honest.Commit()
		eventuallyWithin(t, 20*time.Second, "the stranger's vote to be counted", func() bool {
			return strings.Contains(c.HeadStatus().Reason, "of 3 trusted servers voted") && strings.Contains(c.HeadStatus().Reason, "3 of 3")
		})
		var n hexutil.Uint64
		err := light.CallContext(ctx, &n, "eth_blockNumber")
		if err == nil || !strings.Contains(err.Error(), "no verified head yet") || !strings.Contains(err.Error(), "no genesis agreed") {
			t.Fatalf("eth_blockNumber = %d, %v; want an error saying the trusted servers do not agree", n, err)
		}
		var syncing any
		if err := light.CallContext(ctx, &syncing, "eth_syncing"); err != nil || syncing == false {
			t.Errorf("eth_syncing = %v, %v; want the client's progress", syncing, err)
		}
	})
	t.Run("two of three agree", func(t *testing.T) {
		strangerSrv := newServer(t, stranger)
		c := clientWith(t, client.Config{Fraction: 67}, strangerSrv, newServer(t, honest), newServer(t, honest))
		honest.Commit()
		waitFor(t, c, headHash(t, honest))
		eventuallyWithin(t, 20*time.Second, "the stranger to be turned away", func() bool {
			for _, s := range c.Servers() {
				if s.Enode == strangerSrv.Enode().URLv4() {
					return !s.Connected && strings.Contains(s.LastError, "chain mismatch")
				}
			}
			return false
		})
		st, err := c.State(ctx, c.Head(), devchain.DefaultDevAddress, nil)
		if err != nil || st.Balance().Sign() == 0 {
			t.Fatalf("dev account on the agreed chain: %v, %v", st, err)
		}
	})
}

// Finding 7: when the trusted servers went away, eth_blockNumber kept
// answering an old head. Past HeadMaxAge the head is an error that says
// why, eth_syncing reports it, and lm_head shows it.
func TestStaleHeadIsAnErrorNotAnAnswer(t *testing.T) {
	ch := newChain(t)
	srv, other := newServer(t, ch), newServer(t, ch)
	c := clientWith(t, client.Config{Fraction: 100, HeadMaxAge: 2 * time.Second}, srv, other)
	ch.Commit()
	waitFor(t, c, headHash(t, ch))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	light := openRPC(t, ctx, c)
	var n hexutil.Uint64
	if err := light.CallContext(ctx, &n, "eth_blockNumber"); err != nil {
		t.Fatalf("fresh head: %v", err)
	}
	srv.Stop() // a trusted server goes away; no block comes
	eventuallyWithin(t, 20*time.Second, "the head to grow stale", func() bool { return !c.HeadStatus().Verified })
	err := light.CallContext(ctx, &n, "eth_blockNumber")
	if err == nil || !strings.Contains(err.Error(), "old, more than the 2s allowed") || !strings.Contains(err.Error(), "1 of 2 trusted servers connected") {
		t.Fatalf("eth_blockNumber on a stale head = %d, %v", n, err)
	}
	var bal hexutil.Big
	if err := light.CallContext(ctx, &bal, "eth_getBalance", devchain.DefaultDevAddress, "latest"); err == nil {
		t.Error("eth_getBalance at latest answered from a stale head")
	}
	var syncing map[string]any
	if err := light.CallContext(ctx, &syncing, "eth_syncing"); err != nil || syncing["reason"] == nil {
		t.Errorf("eth_syncing = %v, %v; want the reason", syncing, err)
	}
	var head client.HeadStatus
	if err := light.CallContext(ctx, &head, "lm_head"); err != nil || head.Verified || head.Reason == "" {
		t.Errorf("lm_head = %+v, %v", head, err)
	}
	// Blocks at or below the old head are still verified answers.
	var block map[string]any
	if err := light.CallContext(ctx, &block, "eth_getBlockByNumber", "0x1", false); err != nil || block == nil {
		t.Errorf("block 1 under a stale head: %v, %v", block, err)
	}
}

// ethersDir is where the ethers v6 check lives; .ci/run installs its
// packages.
const ethersDir = "testdata/ethers"

// TestEthersListensOverHTTPAndWebSocket runs ethers v6, unchanged, against
// the wallet endpoint: contract.on over HTTP (eth_newFilter and
// eth_getFilterChanges) and over WebSocket (eth_subscribe "logs").
func TestEthersListensOverHTTPAndWebSocket(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(ethersDir, "node_modules", "ethers"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node with ethers not found (%v); CI installs it (npm ci in devnet/testdata/ethers)", err)
		}
		t.Skip("node or ethers not installed: npm ci in devnet/testdata/ethers")
	}
	d := startDevnet(t, Config{Servers: 2, NoPayments: true})
	ctx, light := session(t, d, 2*time.Minute)
	wallet := ethclient.NewClient(light)
	deploy := sendTx(t, ctx, wallet, d.DevKey, nil, nil, testchain.InitCode(testchain.LoggerCode(crypto.Keccak256Hash([]byte("Ping(address,uint256)")))), 200_000)
	cmd := exec.CommandContext(ctx, nodeBin, "listen.mjs", d.Node.URL(), d.Node.WSURL(), hexutil.Encode(crypto.FromECDSA(d.DevKey)), deploy.ContractAddress.Hex())
	cmd.Dir = ethersDir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ethers: %v\n%s", err, stderr.String())
	}
	var got map[string]struct {
		From  string `json:"from"`
		Value string `json:"value"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("ethers printed %q: %v", out, err)
	}
	dev := crypto.PubkeyToAddress(d.DevKey.PublicKey).Hex()
	for _, via := range []string{"http", "ws"} {
		if got[via].Value != "42" || got[via].From != dev {
			t.Errorf("event seen over %s: %+v, want Ping(%s, 42)", via, got[via], dev)
		}
	}
}

// Findings 3 and 5: blocks with uncles could not be served from a
// --backend (the uncle request sent an argument geth refuses), and a block
// whose receipts exceed the 10 MiB message limit disconnected every server
// in turn. Over a node holding the test chain, both answer as the node
// does, the big block's receipts in verified parts.
func TestUnclesAndOversizedReceiptsThroughAnRPCBackend(t *testing.T) {
	c := testchain.Generate(uint64(time.Now().Unix()) - 10*testchain.Blocks)
	n, err := testchain.NewNode(c, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	timeout := time.Minute
	if raceEnabled {
		timeout = 5 * time.Minute // 11 MiB of receipts, proven in parts
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	node := n.Stack.Attach()
	defer node.Close()
	ln := startLight(t, ctx, c, 2, overRPC(t, ctx, func() (*rpc.Client, error) { return n.Stack.Attach(), nil }), 0)
	for _, num := range c.UncleBlocks {
		differ(t, ctx, ln.light, node, "eth_getBlockByNumber", hexutil.EncodeUint64(num), true)
		differ(t, ctx, ln.light, node, "eth_getUncleByBlockNumberAndIndex", hexutil.EncodeUint64(num), "0x0")
		differ(t, ctx, ln.light, node, "eth_getBlockReceipts", hexutil.EncodeUint64(num))
	}
	big := differ(t, ctx, ln.light, node, "eth_getBlockReceipts", hexutil.EncodeUint64(testchain.BigReceiptsBlock))
	if rs, _ := big.Result.([]any); len(rs) != len(c.BigReceiptsTx) {
		t.Fatalf("big block receipts: %v", big)
	}
	for _, h := range c.BigReceiptsTx {
		differ(t, ctx, ln.light, node, "eth_getTransactionReceipt", h)
	}
	differ(t, ctx, ln.light, node, "eth_getLogs", map[string]any{"blockHash": c.Block(testchain.BigReceiptsBlock).Hash()})
	if parts := testutil.ToFloat64(ln.metrics.Requests.WithLabelValues(protocol.GetReceiptsPartMsg.String(), "answered")); parts < float64(len(c.BigReceiptsTx)) {
		t.Errorf("%v receipt parts fetched, want one per 1.75 MiB receipt", parts)
	}
	noneBanned(t, ln.client)
}
