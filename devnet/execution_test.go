package devnet

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
)

// storeContract is a hand-assembled contract: called with 32 bytes of data
// it stores them in slot 0 and logs them as a topic; called without data it
// returns slot 0.
const storeContract = "0x601e600c600039601e6000f336156012576000358060005560006000a1005b60005460005260206000f3"

// sendTx signs a dynamic-fee transaction with key, sends it through
// wallet and waits for its receipt.
func sendTx(t *testing.T, ctx context.Context, wallet *ethclient.Client, key *ecdsa.PrivateKey, to *common.Address, value *big.Int, data []byte, gas uint64) *types.Receipt {
	t.Helper()
	nonce, err := wallet.PendingNonceAt(ctx, crypto.PubkeyToAddress(key.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	head, err := wallet.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	chainID, err := wallet.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tip := big.NewInt(params.GWei)
	tx := types.MustSignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2))),
		Gas: gas, To: to, Value: value, Data: data,
	})
	if err := wallet.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("send: %v", err)
	}
	return waitReceipt(t, ctx, wallet, tx.Hash())
}

// waitReceipt polls for a transaction's receipt until ctx ends.
func waitReceipt(t *testing.T, ctx context.Context, ec *ethclient.Client, hash common.Hash) *types.Receipt {
	t.Helper()
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for {
		if r, err := ec.TransactionReceipt(ctx, hash); err == nil {
			return r
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no receipt for %x", hash)
		case <-ticker.C:
		}
	}
}

func TestCallEstimateGasAndLogsMatchNode(t *testing.T) {
	d := startDevnet(t, Config{})
	ctx, light := session(t, d, 60*time.Second)
	node := d.Chain.RPCClient()
	wallet := ethclient.NewClient(light)

	deploy := sendTx(t, ctx, wallet, d.DevKey, nil, nil, hexutil.MustDecode(storeContract), 200_000)
	if deploy.Status != types.ReceiptStatusSuccessful || deploy.ContractAddress == (common.Address{}) {
		t.Fatalf("deploy failed: %+v", deploy)
	}
	contract := deploy.ContractAddress
	value := common.HexToHash("0x2a")
	set := sendTx(t, ctx, wallet, d.DevKey, &contract, nil, value[:], 100_000)
	if set.Status != types.ReceiptStatusSuccessful || len(set.Logs) != 1 {
		t.Fatalf("store failed: %+v", set)
	}
	num := hexutil.EncodeBig(set.BlockNumber)
	dev := crypto.PubkeyToAddress(d.DevKey.PublicKey)

	got := sameAnswer(t, ctx, light, node, "eth_call", map[string]any{"to": contract}, num)
	if common.BytesToHash(hexutil.MustDecode(unquote(got))) != value {
		t.Errorf("eth_call returned %s, want %x", got, value)
	}
	sameAnswer(t, ctx, light, node, "eth_call", map[string]any{"to": contract}, hexutil.EncodeBig(deploy.BlockNumber))
	sameAnswer(t, ctx, light, node, "eth_call", map[string]any{"from": dev, "to": contract, "input": hexutil.Encode(value[:])}, num)
	sameAnswer(t, ctx, light, node, "eth_estimateGas", map[string]any{"from": dev, "to": contract, "input": hexutil.Encode(common.Hash{7}.Bytes())}, num)
	sameAnswer(t, ctx, light, node, "eth_estimateGas", map[string]any{"from": dev, "to": common.Address{9}, "value": "0x1"}, num)
	sameAnswer(t, ctx, light, node, "eth_estimateGas", map[string]any{"from": dev, "input": storeContract}, num)

	first := hexutil.EncodeBig(deploy.BlockNumber)
	sameAnswer(t, ctx, light, node, "eth_getLogs", map[string]any{"fromBlock": first, "toBlock": num})
	sameAnswer(t, ctx, light, node, "eth_getLogs", map[string]any{"fromBlock": first, "toBlock": num, "address": contract})
	sameAnswer(t, ctx, light, node, "eth_getLogs", map[string]any{"fromBlock": "0x0", "toBlock": num, "topics": []any{value}})
	sameAnswer(t, ctx, light, node, "eth_getLogs", map[string]any{"fromBlock": first, "toBlock": num, "topics": []any{common.Hash{1}}})
	sameAnswer(t, ctx, light, node, "eth_getLogs", map[string]any{"blockHash": set.BlockHash})
	sameAnswer(t, ctx, light, node, "eth_getBlockReceipts", set.BlockHash)
}

func unquote(raw []byte) string { return string(raw[1 : len(raw)-1]) }

// TestFeeAnswersMatchNode compares the fee oracle's answers with the node's
// at the same head, with transactions of several tips in recent blocks.
func TestFeeAnswersMatchNode(t *testing.T) {
	d := startDevnet(t, Config{BlockTime: time.Hour, NoPayments: true}) // blocks only when the test commits
	ctx, light := session(t, d, 60*time.Second)
	node := d.Chain.RPCClient()
	nodeEC := ethclient.NewClient(node)
	chainID := d.Client.ChainConfig().ChainID
	signer := types.LatestSignerForChainID(chainID)
	from := crypto.PubkeyToAddress(d.DevKey.PublicKey)
	for block := range 3 {
		nonce, err := nodeEC.PendingNonceAt(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		head, err := nodeEC.HeaderByNumber(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			tip := big.NewInt(int64(block*4+i+1) * params.GWei)
			tx := types.MustSignNewTx(d.DevKey, signer, &types.DynamicFeeTx{
				ChainID: chainID, Nonce: nonce + uint64(i), GasTipCap: tip, GasFeeCap: new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2))),
				Gas: 21000, To: &common.Address{0xfe, byte(i)}, Value: big.NewInt(1),
			})
			if err := nodeEC.SendTransaction(ctx, tx); err != nil {
				t.Fatal(err)
			}
		}
		d.Chain.Commit()
	}
	head, err := nodeEC.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitHead(t, ctx, d, head.Number.Uint64())
	sameAnswer(t, ctx, light, node, "eth_gasPrice")
	sameAnswer(t, ctx, light, node, "eth_maxPriorityFeePerGas")
	sameAnswer(t, ctx, light, node, "eth_feeHistory", 4, "latest", []float64{10, 50, 90})
	sameAnswer(t, ctx, light, node, "eth_feeHistory", "0x2", hexutil.EncodeBig(head.Number), []float64{})
	sameAnswer(t, ctx, light, node, "eth_feeHistory", 100, "latest", []float64{25, 75})
	var out any
	if err := light.CallContext(ctx, &out, "eth_feeHistory", 4, "latest", []float64{50, 10}); err == nil || !strings.Contains(err.Error(), "invalid reward percentile") {
		t.Errorf("descending percentiles: %v", err)
	}
}
