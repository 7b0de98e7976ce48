package rpcapi_test

import (
	"bytes"
	"context"
	"fmt"
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

	chainpkg "github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/devnet"
	"github.com/lightmarket/lightmarket/rpcapi"
)

// TestFastPathAnswersAsTheServer sends the same requests to two endpoints
// over one client, one with the fast path and one without (go-ethereum's
// server alone), and requires the same HTTP answers: status, type, length
// and body, for calls that succeed, that fail in the method, and that the
// server refuses.
func TestFastPathAnswersAsTheServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := devnet.Start(ctx, devnet.Config{
		Servers: 1, HTTPAddr: "127.0.0.1:0", BlockTime: time.Hour,
		Logger: log.NewLogger(log.DiscardHandler()),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fast, err := rpcapi.New(rpcapi.Config{Client: d.Client, NoPrefetch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	slow, err := rpcapi.New(rpcapi.Config{Client: d.Client, NoPrefetch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	rpcapi.WithoutFastPath(slow)

	// A block with a log: a contract whose creation logs one topic.
	chain := d.Chain.DirectBackend()
	latest, err := chain.CurrentHeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := ethclient.NewClient(d.Chain.RPCClient()).PendingNonceAt(ctx, crypto.PubkeyToAddress(d.DevKey.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	logger := common.FromHex("0x7f" + strings.Repeat("11", 32) + "60006000a1")
	tx := types.MustSignNewTx(d.DevKey, types.LatestSignerForChainID(d.Chain.ChainConfig().ChainID), &types.DynamicFeeTx{
		ChainID: d.Chain.ChainConfig().ChainID, Nonce: nonce, Gas: 100_000,
		GasTipCap: big.NewInt(params.GWei), GasFeeCap: new(big.Int).Add(big.NewInt(params.GWei), new(big.Int).Mul(latest.BaseFee, big.NewInt(2))),
		Data: logger,
	})
	if err := chain.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	var included uint64
	for tries := 0; included == 0; tries++ {
		if tries == 20 {
			t.Fatal("the transaction with a log was not included")
		}
		d.Chain.Commit()
		loc, err := chain.TxLookup(ctx, tx.Hash())
		if err != nil {
			t.Fatal(err)
		}
		if loc.Status == chainpkg.TxIncluded {
			included = loc.BlockNumber
		}
	}
	for d.Client.Head().Number.Uint64() < included {
		if ctx.Err() != nil {
			t.Fatal("the client did not follow the chain")
		}
		time.Sleep(10 * time.Millisecond)
	}

	dev := crypto.PubkeyToAddress(d.DevKey.PublicKey).Hex()
	contract := d.Contract.Address().Hex()
	head := d.Client.Head()
	hash := head.Hash().Hex()
	topic := "0x" + strings.Repeat("11", 32)
	req := func(id, method, params string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":%q,"params":%s}`, id, method, params)
	}
	byTopic := req("24", "eth_getLogs", `[{"fromBlock":"0x0","toBlock":"latest","topics":[["`+topic+`"]]}]`)
	// Calls the fast path answers.
	answered := []string{
		req("1", "eth_chainId", "[]"),
		`{"jsonrpc":"2.0","id":2,"method":"eth_chainId"}`,
		req("3", "eth_chainId", "null"),
		req(`"a-string"`, "eth_blockNumber", "[]"),
		req("1.5e3", "eth_blockNumber", "[]"),
		req("-4", "eth_getBalance", `["`+dev+`"]`),
		req("5", "eth_getBalance", `["`+dev+`","latest"]`),
		req("6", "eth_getBalance", `["`+dev+`",null]`),
		req("7", "eth_getBalance", `["`+dev+`","0x0"]`),
		req("8", "eth_getBalance", `["`+dev+`",{"blockHash":"`+hash+`"}]`),
		req("9", "eth_getBalance", `["0x00000000000000000000000000000000000000aa","latest"]`),
		req("10", "eth_getBalance", `["`+dev+`","0xffffffff"]`),
		req("11", "eth_getBalance", `["`+dev+`",{"blockHash":"0x`+strings.Repeat("ab", 32)+`"}]`),
		req("12", "eth_getTransactionCount", `["`+dev+`","pending"]`),
		req("13", "eth_getTransactionCount", `["`+dev+`","latest"]`),
		req("14", "eth_getCode", `["`+contract+`","latest"]`),
		req("15", "eth_getStorageAt", `["`+contract+`","0x0","latest"]`),
		req("16", "eth_getStorageAt", `["`+contract+`","0xzz","latest"]`),
		req("17", "eth_call", `[{"to":"`+contract+`","data":"0xdeadbeef"},"latest"]`),
		req("18", "eth_call", `[{"from":"`+dev+`","to":"0x00000000000000000000000000000000000000aa","value":"0x1"}]`),
		req("19", "eth_call", `[{"to":"0x00000000000000000000000000000000000000aa"},"latest",{"0x00000000000000000000000000000000000000aa":{"code":"0x60016000526001601ff3"}}]`),
		req("20", "eth_estimateGas", `[{"from":"`+dev+`","to":"0x00000000000000000000000000000000000000aa","value":"0x1"}]`),
		req("21", "eth_estimateGas", `[{"from":"0x00000000000000000000000000000000000000bb","to":"0x00000000000000000000000000000000000000aa","value":"0x1"}]`),
		req("23", "eth_getLogs", `[{"fromBlock":"0x0","toBlock":"latest","address":"`+contract+`"}]`),
		byTopic,
		req("29", "eth_getLogs", `[{"fromBlock":"0x0","topics":[null,["`+hash+`"]]}]`),
		req("25", "eth_getLogs", `[{"blockHash":"`+hash+`"}]`),
		req("26", "eth_getLogs", `[{"fromBlock":"0x2","toBlock":"0x1"}]`),
		req("28", "eth_getLogs", `[{}]`),
		req("60", "eth_gasPrice", "[]"),
		req("61", "eth_maxPriorityFeePerGas", "[]"),
		req("62", "eth_getBlockByNumber", `["latest",false]`),
		req("63", "eth_getBlockByNumber", `["latest",true]`),
		req("64", "eth_getBlockByNumber", fmt.Sprintf(`["0x%x",true]`, included)),
		req("65", "eth_getBlockByNumber", `["earliest",false]`),
		req("66", "eth_getBlockByNumber", `["0xffffff",false]`),
		req("67", "eth_getBlockByNumber", `["finalized",false]`),
		req("68", "eth_getBlockByHash", `["`+hash+`",false]`),
		req("69", "eth_getBlockByHash", `["0x`+strings.Repeat("ab", 32)+`",true]`),
		req("70", "eth_getTransactionReceipt", `["`+tx.Hash().Hex()+`"]`),
		req("71", "eth_getTransactionReceipt", `["0x`+strings.Repeat("ab", 32)+`"]`),
		"  {\n\"id\" : 22 , \"params\":[ \"" + dev + "\" , \"latest\" ],\"method\":\"eth_getBalance\",\"jsonrpc\":\"2.0\"}\n",
	}
	// Calls the server answers (its refusals, and requests in forms the
	// fast path leaves to it).
	handed := []string{
		req("30", "eth_chainId", "[1]"),
		req("31", "eth_getBalance", `["0xzz","latest"]`),
		req("32", "eth_getBalance", `[]`),
		req("33", "eth_getBalance", `["`+dev+`","latest",1]`),
		req("34", "eth_getBalance", `[null,"latest"]`),
		req("35", "eth_getBalance", `{"a":1}`),
		req("36", "eth_getBalance", `["`+dev+`","nonsense"]`),
		req("37", "eth_getLogs", `[]`),
		req("27", "eth_getLogs", `[{"blockHash":"`+hash+`","fromBlock":"0x1"}]`),
		req("38", "eth_getLogs", `[null]`),
		req("39", "eth_getLogs", `[{"fromBlock":"earliest","address":"0xzz"}]`),
		req("null", "eth_getBalance", `["`+dev+`"]`),
		req(`{"x":1}`, "eth_getBalance", `["`+dev+`"]`),
		req(`"a\"b"`, "eth_chainId", "[]"),
		`{"jsonrpc":"2.0","method":"eth_chainId","params":[]}`,
		`{"jsonrpc":"1.0","id":40,"method":"eth_chainId","params":[]}`,
		`{"id":41,"method":"eth_chainId","params":[]}`,
		`{"JSONRPC":"2.0","id":42,"method":"eth_chainId","params":[]}`,
		`{"jsonrpc":"2.0","id":43,"method":"eth_chainId","params":[],"extra":true}`,
		`{"jsonrpc":"2.0","id":44,"id":45,"method":"eth_chainId","params":[]}`,
		`{"jsonrpc":"2.0","id":46,"meth\u006fd":"eth_chainId","params":[]}`,
		`[` + req("47", "eth_chainId", "[]") + `]`,
		req("48", "eth_feeHistory", `["0x1","latest",[]]`),
		req("72", "eth_getBlockByNumber", `["latest"]`),
		req("73", "eth_getBlockByNumber", `["latest","yes"]`),
		req("74", "eth_getBlockByNumber", `[null,false]`),
		req("75", "eth_getTransactionReceipt", `["0x12"]`),
		req("76", "eth_gasPrice", `[1]`),
		req("49", "eth_noSuchMethod", "[]"),
		req("50", "", "[]"),
		`{"jsonrpc":"2.0","id":51,"method":"eth_chainId","params":[]`,
		`null`,
		`{}`,
	}
	post := func(s *rpcapi.Server, body, contentType string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Host = "localhost"
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w
	}
	same := func(body, contentType string) {
		t.Helper()
		got, want := post(fast, body, contentType), post(slow, body, contentType)
		if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) ||
			got.Header().Get("Content-Type") != want.Header().Get("Content-Type") ||
			got.Header().Get("Content-Length") != want.Header().Get("Content-Length") {
			t.Errorf("request %s (%s):\n fast   %d %q %q %s\n server %d %q %q %s", body, contentType,
				got.Code, got.Header().Get("Content-Type"), got.Header().Get("Content-Length"), got.Body,
				want.Code, want.Header().Get("Content-Type"), want.Header().Get("Content-Length"), want.Body)
		}
		if a, b := fast.Serve(ctx, []byte(body)), slow.Serve(ctx, []byte(body)); !bytes.Equal(a, b) {
			t.Errorf("request %s in process:\n fast   %s\n server %s", body, a, b)
		}
	}
	for _, body := range answered {
		if _, ok := rpcapi.FastAnswer(fast, ctx, []byte(body)); !ok {
			t.Errorf("the fast path does not answer %s", body)
		}
		same(body, "application/json")
		same(body, "application/json; charset=utf-8")
	}
	for _, body := range handed {
		if out, ok := rpcapi.FastAnswer(fast, ctx, []byte(body)); ok {
			t.Errorf("the fast path answers %s: %s", body, out)
		}
		same(body, "application/json")
	}
	if out := fast.Serve(ctx, []byte(byTopic)); !bytes.Contains(out, []byte(topic)) {
		t.Errorf("no log in %s", out)
	}
	same(answered[0], "text/plain")
	if d.Client.Head().Hash() != head.Hash() {
		t.Fatal("the head moved during the test: answers at latest may differ")
	}
}
