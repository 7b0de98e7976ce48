package chain_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/verify"
)

// tamperingProxy forwards JSON-RPC to the dev chain's HTTP endpoint and
// lets a test rewrite the answers of one method.
func tamperingProxy(t *testing.T, target, method string, tamper func(result string) string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		resp, err := http.Post(target, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		var req struct{ Method string }
		json.Unmarshal(body, &req)
		if req.Method == method {
			out = []byte(tamper(string(out)))
		}
		w.Header().Set("content-type", "application/json")
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func devChain(t *testing.T) *devchain.Chain {
	t.Helper()
	c, err := devchain.New(devchain.Config{BlockTime: time.Hour, HTTPAddr: "127.0.0.1:0", Logger: log.NewLogger(log.DiscardHandler())})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// transfer puts one transaction in a new block and returns its receipt.
func transfer(t *testing.T, c *devchain.Chain) *types.Receipt {
	t.Helper()
	ctx := context.Background()
	ec := ethclient.NewClient(c.RPCClient())
	head, _ := ec.HeaderByNumber(ctx, nil)
	cfg := c.ChainConfig()
	tx := types.MustSignNewTx(c.DevKey(), types.LatestSignerForChainID(cfg.ChainID), &types.DynamicFeeTx{
		ChainID: cfg.ChainID, GasTipCap: big.NewInt(params.GWei), GasFeeCap: new(big.Int).Mul(head.BaseFee, big.NewInt(3)),
		Gas: 21000, To: &common.Address{0x42}, Value: big.NewInt(1),
	})
	if err := ec.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	c.Commit()
	r, err := ec.TransactionReceipt(ctx, tx.Hash())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRPCBackendServesWhatVerifies(t *testing.T) {
	c := devChain(t)
	r := transfer(t, c)
	ctx := context.Background()
	b, err := c.RPCBackend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.ChainID() != 1337 {
		t.Errorf("chain id %d", b.ChainID())
	}
	h, err := b.HeaderByNumber(ctx, r.BlockNumber.Uint64())
	if err != nil || h.Hash() != r.BlockHash {
		t.Fatalf("header: %v %v", h, err)
	}
	body, err := b.Body(ctx, r.BlockHash)
	if err != nil || len(body.Transactions) != 1 {
		t.Fatalf("body: %v", err)
	}
	receipts, err := b.Receipts(ctx, r.BlockHash)
	if err != nil || len(receipts) != 1 {
		t.Fatalf("receipts: %v", err)
	}
	dev := crypto.PubkeyToAddress(c.DevKey().PublicKey)
	for _, addr := range []common.Address{dev, {0x42}, {0x99}} {
		p, err := b.Proof(ctx, r.BlockHash, addr, []common.Hash{{}, {1}})
		if err != nil || len(p.Storage) != 2 {
			t.Fatalf("proof of %x: %v", addr, err)
		}
	}
	loc, err := b.TxLookup(ctx, r.TxHash)
	if err != nil || loc.Status != chain.TxIncluded || loc.BlockHash != r.BlockHash || loc.Index != 0 {
		t.Fatalf("lookup: %+v %v", loc, err)
	}
	if loc, err := b.TxLookup(ctx, common.Hash{1}); err != nil || loc.Status != chain.TxUnknown {
		t.Fatalf("unknown lookup: %+v %v", loc, err)
	}
	if _, err := b.HeaderByHash(ctx, common.Hash{1}); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("unknown header: %v", err)
	}
	code, err := b.Code(ctx, r.BlockHash, common.HexToAddress("0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02"))
	if err != nil || len(code) == 0 {
		t.Fatalf("system contract code: %v", err)
	}
}

func TestRPCBackendRefusesTamperedAnswers(t *testing.T) {
	c := devChain(t)
	r := transfer(t, c)
	dev := crypto.PubkeyToAddress(c.DevKey().PublicKey)
	tests := []struct {
		method string
		tamper func(string) string
		call   func(b *chain.RPC) error
		check  error
	}{
		{"eth_getBlockByHash", func(s string) string { return strings.Replace(s, `"gasUsed":"0x5208"`, `"gasUsed":"0x5209"`, 1) },
			func(b *chain.RPC) error { _, err := b.HeaderByHash(context.Background(), r.BlockHash); return err }, verify.ErrHeaderHash},
		{"eth_getBlockReceipts", func(s string) string { return strings.Replace(s, `"status":"0x1"`, `"status":"0x0"`, 1) },
			func(b *chain.RPC) error { _, err := b.Receipts(context.Background(), r.BlockHash); return err }, verify.ErrReceiptsRoot},
		{"eth_getProof", func(s string) string {
			// Drop the last node of the account proof.
			i := strings.Index(s, `"],"balance"`)
			j := strings.LastIndex(s[:i], `","`)
			return s[:j] + s[i:]
		}, func(b *chain.RPC) error {
			_, err := b.Proof(context.Background(), r.BlockHash, dev, nil)
			return err
		}, verify.ErrAccountProof},
		{"eth_getCode", func(s string) string { return strings.Replace(s, `"result":"0x`, `"result":"0x00`, 1) },
			func(b *chain.RPC) error {
				_, err := b.Code(context.Background(), r.BlockHash, common.HexToAddress("0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02"))
				return err
			}, verify.ErrCodeHash},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			url := tamperingProxy(t, c.HTTPURL(), tt.method, tt.tamper)
			rc, err := rpc.Dial(url)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := chain.NewRPC(context.Background(), rc)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.call(b)
			if !errors.Is(err, chain.ErrBackendInvalid) || !errors.Is(err, tt.check) {
				t.Fatalf("got %v, want ErrBackendInvalid and %v", err, tt.check)
			}
		})
	}
}

func TestRPCBackendPollsHeadsOverHTTP(t *testing.T) {
	c := devChain(t)
	rc, err := rpc.Dial(c.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := chain.NewRPC(context.Background(), rc)
	if err != nil {
		t.Fatal(err)
	}
	heads := make(chan *types.Header, 4)
	unsub, err := b.SubscribeHeads(context.Background(), heads)
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	want := c.Commit()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case h := <-heads:
			if h.Hash() == want {
				return
			}
		case <-timeout:
			t.Fatal("new head not delivered")
		}
	}
}

// TestDirectBackendServesWhatTheNodeSays checks the embedded chain's direct
// backend against the JSON-RPC one, item by item, byte for byte.
func TestDirectBackendServesWhatTheNodeSays(t *testing.T) {
	c := devChain(t)
	r := transfer(t, c)
	ctx := context.Background()
	viaRPC, err := c.RPCBackend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	direct := c.DirectBackend()
	same := func(what string, a, b any) {
		t.Helper()
		ea, _ := rlp.EncodeToBytes(a)
		eb, _ := rlp.EncodeToBytes(b)
		if !bytes.Equal(ea, eb) {
			t.Errorf("%s differs:\n direct %x\n rpc    %x", what, ea, eb)
		}
	}
	if direct.Genesis() != viaRPC.Genesis() || direct.ChainID() != viaRPC.ChainID() {
		t.Fatal("chain identity differs")
	}
	for _, n := range []uint64{0, 1, r.BlockNumber.Uint64()} {
		h1, err1 := direct.HeaderByNumber(ctx, n)
		h2, err2 := viaRPC.HeaderByNumber(ctx, n)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		same("header", h1, h2)
		b1, _ := direct.Body(ctx, h1.Hash())
		b2, _ := viaRPC.Body(ctx, h1.Hash())
		same("body", b1, b2)
		rs1, _ := direct.Receipts(ctx, h1.Hash())
		rs2, _ := viaRPC.Receipts(ctx, h1.Hash())
		same("receipts", rs1, rs2)
	}
	dev := crypto.PubkeyToAddress(c.DevKey().PublicKey)
	beacon := common.HexToAddress("0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02")
	for _, addr := range []common.Address{dev, {0x42}, {0x99}, beacon} {
		slots := []common.Hash{{}, {31: 1}}
		p1, err1 := direct.Proof(ctx, r.BlockHash, addr, slots)
		p2, err2 := viaRPC.Proof(ctx, r.BlockHash, addr, slots)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		same(fmt.Sprintf("proof of %x", addr), p1, p2)
		c1, _ := direct.Code(ctx, r.BlockHash, addr)
		c2, _ := viaRPC.Code(ctx, r.BlockHash, addr)
		if !bytes.Equal(c1, c2) {
			t.Errorf("code of %x differs", addr)
		}
	}
	l1, _ := direct.TxLookup(ctx, r.TxHash)
	l2, _ := viaRPC.TxLookup(ctx, r.TxHash)
	if *l1 != *l2 {
		t.Errorf("tx lookup: direct %+v, rpc %+v", l1, l2)
	}
	if _, err := direct.HeaderByHash(ctx, common.Hash{1}); !errors.Is(err, chain.ErrNotFound) {
		t.Errorf("unknown header: %v", err)
	}
}
