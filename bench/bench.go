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
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/devnet"
)

// RPCConfig configures the RPC benchmark.
type RPCConfig struct {
	Calls     int           // calls per method and endpoint (default 500)
	BlockTime time.Duration // default 1s
	Logger    log.Logger
}

// RPCResult holds the RPC benchmark's figures, in milliseconds.
type RPCResult struct {
	StartupMs float64 `json:"startup_ms"` // devnet start to the first answered eth_blockNumber

	// eth_getBalance at the head when the run starts, alternating between
	// the funded account and accounts that do not exist; every call through
	// the client fetches and verifies a proof.
	GetBalanceP50Ms     float64 `json:"rpc_getbalance_p50_ms"`
	GetBalanceP99Ms     float64 `json:"rpc_getbalance_p99_ms"`
	GetBalanceNodeP50Ms float64 `json:"rpc_getbalance_node_p50_ms"`
	GetBalanceNodeP99Ms float64 `json:"rpc_getbalance_node_p99_ms"`
	GetBalanceP50Ratio  float64 `json:"rpc_getbalance_p50_ratio"`
	GetBlockP50Ms       float64 `json:"rpc_getblock_p50_ms"`
	GetBlockNodeP50Ms   float64 `json:"rpc_getblock_node_p50_ms"`
	GetBlockP50Ratio    float64 `json:"rpc_getblock_p50_ratio"`
}

// RPC starts a devnet with the chain's own JSON-RPC on and compares calls
// through the light client with the same calls straight to the chain node.
func RPC(ctx context.Context, cfg RPCConfig) (*RPCResult, error) {
	if cfg.Calls == 0 {
		cfg.Calls = 500
	}
	if cfg.BlockTime == 0 {
		cfg.BlockTime = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewLogger(log.DiscardHandler())
	}
	start := time.Now()
	d, err := devnet.Start(ctx, devnet.Config{
		HTTPAddr:  "127.0.0.1:0",
		ChainHTTP: "127.0.0.1:0",
		BlockTime: cfg.BlockTime,
		Logger:    cfg.Logger,
	})
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
		if i%2 == 0 {
			addr = dev
		}
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
