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

	// eth_call of a contract reading one storage slot: warm (state of the
	// block already proven) and cold (first call at a new block: every
	// account, slot and code is fetched and verified).
	CallP50Ms        float64 `json:"rpc_call_p50_ms"`
	CallNodeP50Ms    float64 `json:"rpc_call_node_p50_ms"`
	CallP50Ratio     float64 `json:"rpc_call_p50_ratio"`
	CallColdP50Ms    float64 `json:"rpc_call_cold_p50_ms"`
	CallColdP50Ratio float64 `json:"rpc_call_cold_p50_ratio"`
	CallColdFetches  float64 `json:"rpc_call_cold_fetches"` // proofs and codes per cold call
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
	light, err := rpc.DialContext(ctx, d.RPC.URL())
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
	if err := benchCall(ctx, d, light, node, cfg.Calls, res); err != nil {
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

// coldCalls is how many blocks the cold eth_call is measured at.
const coldCalls = 20

func benchCall(ctx context.Context, d *devnet.Devnet, light, node *rpc.Client, calls int, res *RPCResult) error {
	contract, err := deploy(ctx, d, light)
	if err != nil {
		return err
	}
	args := map[string]any{"to": contract}
	call := func(c *rpc.Client, block string) (time.Duration, error) {
		t0 := time.Now()
		var out hexutil.Bytes
		err := c.CallContext(ctx, &out, "eth_call", args, block)
		return time.Since(t0), err
	}
	// Cold: the first call at each new head.
	heads := make(chan *types.Header, 16)
	sub := d.Client.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	var cold, coldNode []time.Duration
	var fetches int64
	for range coldCalls {
		var h *types.Header
		select {
		case h = <-heads:
		case <-ctx.Done():
			return ctx.Err()
		}
		for len(heads) > 0 {
			h = <-heads
		}
		block := hexutil.EncodeBig(h.Number)
		before := d.Client.Fetches()
		dl, err := call(light, block)
		if err != nil {
			return fmt.Errorf("eth_call: %w", err)
		}
		fetches += d.Client.Fetches() - before
		dn, err := call(node, block)
		if err != nil {
			return fmt.Errorf("eth_call on the node: %w", err)
		}
		cold, coldNode = append(cold, dl), append(coldNode, dn)
	}
	// Warm: repeated calls at one block.
	block := hexutil.EncodeBig(d.Client.Head().Number)
	var warm, warmNode []time.Duration
	for range calls {
		dl, err := call(light, block)
		if err != nil {
			return err
		}
		dn, err := call(node, block)
		if err != nil {
			return err
		}
		warm, warmNode = append(warm, dl), append(warmNode, dn)
	}
	res.CallP50Ms, res.CallNodeP50Ms = pct(warm, 50), pct(warmNode, 50)
	res.CallP50Ratio = res.CallP50Ms / res.CallNodeP50Ms
	res.CallColdP50Ms = pct(cold, 50)
	res.CallColdP50Ratio = res.CallColdP50Ms / pct(coldNode, 50)
	res.CallColdFetches = float64(fetches) / coldCalls
	return nil
}

// deploy deploys storeContract through the light client and waits for it.
func deploy(ctx context.Context, d *devnet.Devnet, light *rpc.Client) (common.Address, error) {
	wallet := ethclient.NewClient(light)
	from := crypto.PubkeyToAddress(d.DevKey.PublicKey)
	nonce, err := wallet.PendingNonceAt(ctx, from)
	if err != nil {
		return common.Address{}, err
	}
	head := d.Client.Head()
	chainID := d.Client.ChainConfig().ChainID
	tx := types.MustSignNewTx(d.DevKey, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, GasTipCap: big.NewInt(1e9),
		GasFeeCap: new(big.Int).Add(big.NewInt(1e9), new(big.Int).Mul(head.BaseFee, big.NewInt(2))),
		Gas:       200_000, Data: storeContract,
	})
	if err := wallet.SendTransaction(ctx, tx); err != nil {
		return common.Address{}, err
	}
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for {
		if r, err := wallet.TransactionReceipt(ctx, tx.Hash()); err == nil {
			return r.ContractAddress, nil
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return common.Address{}, ctx.Err()
		}
	}
}
