// Package bench measures lightmarket against its targets. Every benchmark
// runs its own devnet on loopback and reports ratios against a baseline
// measured in the same run, because absolute figures on a shared machine
// mean little.
package bench

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/devnet"
)

// RPCConfig configures the RPC benchmark.
type RPCConfig struct {
	Calls     int           // calls per method and endpoint (default 500)
	BlockTime time.Duration // default 200ms
	Logger    log.Logger
}

// RPCResult holds the RPC benchmark's figures, in milliseconds.
type RPCResult struct {
	StartupMs float64 `json:"startup_ms"` // devnet start to the first answered eth_blockNumber

	// eth_getBalance at the head when the run starts, of a different
	// account each call: every call through the client fetches and
	// verifies a proof.
	GetBalanceP50Ms     float64 `json:"rpc_getbalance_p50_ms"`
	GetBalanceP99Ms     float64 `json:"rpc_getbalance_p99_ms"`
	GetBalanceNodeP50Ms float64 `json:"rpc_getbalance_node_p50_ms"`
	GetBalanceNodeP99Ms float64 `json:"rpc_getbalance_node_p99_ms"`
	GetBalanceP50Ratio  float64 `json:"rpc_getbalance_p50_ratio"`
	GetBlockP50Ms       float64 `json:"rpc_getblock_p50_ms"`
	GetBlockNodeP50Ms   float64 `json:"rpc_getblock_node_p50_ms"`
	GetBlockP50Ratio    float64 `json:"rpc_getblock_p50_ratio"`

	// eth_getBalance of one account at one block: answered from the
	// client's cache of proven state after the first call.
	GetBalanceWarmP50Ms    float64 `json:"rpc_getbalance_warm_p50_ms"`
	GetBalanceWarmP50Ratio float64 `json:"rpc_getbalance_warm_p50_ratio"`

	// eth_call of a contract reading one storage slot, warm: repeated at
	// one block whose state the client holds.
	CallP50Ms     float64 `json:"rpc_call_p50_ms"`
	CallNodeP50Ms float64 `json:"rpc_call_node_p50_ms"`
	CallP50Ratio  float64 `json:"rpc_call_p50_ratio"`

	// Execution at a new block each time. "cold" is the same call at
	// every new block, as a dapp polls it (the client prefetches the
	// witnesses of calls it saw at the head from spare capacity); "first"
	// is a call never made before (one witness, one round trip). Round
	// trips count the client's requests for state during the call.
	CallColdP50Ms            float64 `json:"rpc_call_cold_p50_ms"`
	CallColdP50Ratio         float64 `json:"rpc_call_cold_p50_ratio"`
	CallColdRoundTrips       float64 `json:"rpc_call_cold_round_trips"`
	CallFirstP50Ms           float64 `json:"rpc_call_first_p50_ms"`
	CallFirstP50Ratio        float64 `json:"rpc_call_first_p50_ratio"`
	CallFirstRoundTrips      float64 `json:"rpc_call_first_round_trips"`
	EstimateGasColdP50Ms     float64 `json:"rpc_estimategas_cold_p50_ms"`
	EstimateGasColdP50Ratio  float64 `json:"rpc_estimategas_cold_p50_ratio"`
	EstimateGasFirstP50Ratio float64 `json:"rpc_estimategas_first_p50_ratio"`
	SimulateP50Ms            float64 `json:"rpc_simulate_p50_ms"`
	SimulateP50Ratio         float64 `json:"rpc_simulate_p50_ratio"`
	SimulateFirstP50Ratio    float64 `json:"rpc_simulate_first_p50_ratio"`
	CallHeavyColdP50Ms       float64 `json:"rpc_call_heavy_cold_p50_ms"`
	CallHeavyColdP50Ratio    float64 `json:"rpc_call_heavy_cold_p50_ratio"`
	CallHeavyFirstP50Ratio   float64 `json:"rpc_call_heavy_first_p50_ratio"`
	CallHeavyFirstRoundTrips float64 `json:"rpc_call_heavy_first_round_trips"`
	WitnessFetchesBeyond     float64 `json:"rpc_witness_fetches_beyond"` // proofs and codes a witness left out, per first call
}

// RPC starts a devnet with the chain's own JSON-RPC on and compares calls
// through the light client with the same calls straight to the chain node.
func RPC(ctx context.Context, cfg RPCConfig) (*RPCResult, error) {
	if cfg.Calls == 0 {
		cfg.Calls = 500
	}
	if cfg.BlockTime == 0 {
		cfg.BlockTime = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewLogger(log.DiscardHandler())
	}
	start := time.Now()
	d, err := devnet.Start(ctx, devnet.Config{
		HTTPAddr:  "127.0.0.1:0",
		ChainHTTP: "127.0.0.1:0",
		BlockTime: cfg.BlockTime,
		// The rpc benchmark measures the free path; payments have bench pay.
		NoPayments: true,
		Logger:     cfg.Logger,
	})
	// (The devnet seals a block every BlockTime; cold eth_calls wait for
	// new blocks.)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	light, err := rpc.DialContext(ctx, d.Node.URL())
	if err != nil {
		return nil, err
	}
	defer light.Close()
	var head hexutil.Uint64
	if err := light.CallContext(ctx, &head, "eth_blockNumber"); err != nil {
		return nil, err
	}
	res := &RPCResult{StartupMs: ms(time.Since(start))}
	node, err := rpc.DialContext(ctx, d.Chain.HTTPURL())
	if err != nil {
		return nil, err
	}
	defer node.Close()

	block := hexutil.EncodeUint64(uint64(head))
	dev := crypto.PubkeyToAddress(d.DevKey.PublicKey)
	// Interleave the two endpoints so that both see the same machine load.
	var lightBal, nodeBal, lightBlk, nodeBlk []time.Duration
	for i := range cfg.Calls {
		addr := common.BigToAddress(big.NewInt(int64(i) + 1))
		for _, c := range []struct {
			cl  *rpc.Client
			out *[]time.Duration
		}{{light, &lightBal}, {node, &nodeBal}} {
			t0 := time.Now()
			var bal hexutil.Big
			if err := c.cl.CallContext(ctx, &bal, "eth_getBalance", addr, block); err != nil {
				return nil, fmt.Errorf("eth_getBalance: %w", err)
			}
			*c.out = append(*c.out, time.Since(t0))
		}
		num := hexutil.EncodeUint64(uint64(head) - uint64(i)%uint64(head))
		for _, c := range []struct {
			cl  *rpc.Client
			out *[]time.Duration
		}{{light, &lightBlk}, {node, &nodeBlk}} {
			t0 := time.Now()
			var blk map[string]any
			if err := c.cl.CallContext(ctx, &blk, "eth_getBlockByNumber", num, false); err != nil {
				return nil, fmt.Errorf("eth_getBlockByNumber: %w", err)
			}
			*c.out = append(*c.out, time.Since(t0))
		}
	}
	storeAt, err := benchCall(ctx, d, light, node, cfg.Calls, res)
	if err != nil {
		return nil, err
	}
	var warmBal, warmNodeBal []time.Duration
	for range cfg.Calls {
		for _, c := range []struct {
			cl  *rpc.Client
			out *[]time.Duration
		}{{light, &warmBal}, {node, &warmNodeBal}} {
			t0 := time.Now()
			var bal hexutil.Big
			if err := c.cl.CallContext(ctx, &bal, "eth_getBalance", dev, block); err != nil {
				return nil, fmt.Errorf("eth_getBalance: %w", err)
			}
			*c.out = append(*c.out, time.Since(t0))
		}
	}
	res.GetBalanceWarmP50Ms = pct(warmBal, 50)
	res.GetBalanceWarmP50Ratio = res.GetBalanceWarmP50Ms / pct(warmNodeBal, 50)
	res.GetBalanceP50Ms, res.GetBalanceP99Ms = pct(lightBal, 50), pct(lightBal, 99)
	res.GetBalanceNodeP50Ms, res.GetBalanceNodeP99Ms = pct(nodeBal, 50), pct(nodeBal, 99)
	res.GetBalanceP50Ratio = res.GetBalanceP50Ms / res.GetBalanceNodeP50Ms
	res.GetBlockP50Ms, res.GetBlockNodeP50Ms = pct(lightBlk, 50), pct(nodeBlk, 50)
	res.GetBlockP50Ratio = res.GetBlockP50Ms / res.GetBlockNodeP50Ms
	if err := benchExecution(ctx, d, light, node, res, storeAt); err != nil {
		return nil, err
	}
	return res, nil
}

// pct returns the p-th percentile of ds in milliseconds.
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return ms(s[i])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// storeContract returns slot 0 when called without data (see
// devnet/execution_test.go for its assembly).
var storeContract = common.FromHex("0x601e600c600039601e6000f336156012576000358060005560006000a1005b60005460005260206000f3")

// benchCall measures warm eth_calls of the store contract, which it
// deploys, and returns its address.
func benchCall(ctx context.Context, d *devnet.Devnet, light, node *rpc.Client, calls int, res *RPCResult) (common.Address, error) {
	contract, err := deploy(ctx, d, light)
	if err != nil {
		return common.Address{}, err
	}
	args := map[string]any{"to": contract}
	call := func(c *rpc.Client, block string) (time.Duration, error) {
		t0 := time.Now()
		var out hexutil.Bytes
		err := c.CallContext(ctx, &out, "eth_call", args, block)
		return time.Since(t0), err
	}
	// Warm: repeated calls at one block.
	block := hexutil.EncodeBig(d.Client.Head().Number)
	var warm, warmNode []time.Duration
	for range calls {
		dl, err := call(light, block)
		if err != nil {
			return common.Address{}, err
		}
		dn, err := call(node, block)
		if err != nil {
			return common.Address{}, err
		}
		warm, warmNode = append(warm, dl), append(warmNode, dn)
	}
	res.CallP50Ms, res.CallNodeP50Ms = pct(warm, 50), pct(warmNode, 50)
	res.CallP50Ratio = res.CallP50Ms / res.CallNodeP50Ms
	return contract, nil
}

// deploy deploys storeContract through the light client and waits for it.
func deploy(ctx context.Context, d *devnet.Devnet, light *rpc.Client) (common.Address, error) {
	rs, err := send(ctx, d, light, []txSpec{{gas: 200_000, data: storeContract}})
	if err != nil {
		return common.Address{}, err
	}
	return rs[0].ContractAddress, nil
}

// txSpec is a transaction of the dev account: a creation without to.
type txSpec struct {
	to   *common.Address
	gas  uint64
	data []byte
}

// send sends transactions of the dev account through the light client, in
// order, and returns their receipts once all are mined; a transaction
// that failed is an error.
func send(ctx context.Context, d *devnet.Devnet, light *rpc.Client, txs []txSpec) ([]*types.Receipt, error) {
	wallet := ethclient.NewClient(light)
	from := crypto.PubkeyToAddress(d.DevKey.PublicKey)
	nonce, err := wallet.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, err
	}
	head := d.Client.Head()
	chainID := d.Client.ChainConfig().ChainID
	signed := make([]*types.Transaction, len(txs))
	for i, t := range txs {
		signed[i] = types.MustSignNewTx(d.DevKey, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
			ChainID: chainID, Nonce: nonce + uint64(i), GasTipCap: big.NewInt(1e9),
			GasFeeCap: new(big.Int).Add(big.NewInt(1e9), new(big.Int).Mul(head.BaseFee, big.NewInt(2))),
			Gas:       t.gas, To: t.to, Data: t.data,
		})
		if err := wallet.SendTransaction(ctx, signed[i]); err != nil {
			return nil, err
		}
	}
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	receipts := make([]*types.Receipt, len(txs))
	for i, tx := range signed {
		for receipts[i] == nil {
			if r, err := wallet.TransactionReceipt(ctx, tx.Hash()); err == nil {
				if r.Status != types.ReceiptStatusSuccessful {
					return nil, fmt.Errorf("transaction %d of %d failed", i, len(txs))
				}
				receipts[i] = r
				break
			}
			select {
			case <-ticker.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return receipts, nil
}
