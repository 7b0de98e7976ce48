package bench

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/history"
	"github.com/lightmarket/lightmarket/internal/longchain"
	"github.com/lightmarket/lightmarket/rpcapi"
	"github.com/lightmarket/lightmarket/server"
)

// HistoryConfig configures the history benchmark.
type HistoryConfig struct {
	Blocks     int    // default 200,000
	EventEvery int    // the rare event's spacing, default 10,000 blocks
	Dir        string // the chain's database, kept for later runs (default in the user's cache directory)
	Samples    int    // headers timed, and fresh clients timed searching logs (default 50; at least 9)
	Logger     log.Logger
}

// HistoryResult holds the history benchmark's figures.
type HistoryResult struct {
	Blocks       uint64  `json:"history_blocks"`
	SetupSeconds float64 `json:"history_setup_seconds"` // chain (generated or reopened) and servers' sections
	// Requests a fresh client makes to verify one header 1,000 and
	// 100,000 blocks behind the head (each request is one round trip).
	Header1kRoundTrips   float64 `json:"history_header_1k_round_trips"`
	Header100kRoundTrips float64 `json:"history_header_100k_round_trips"`
	Header100kP50Ms      float64 `json:"history_header_100k_p50_ms"`
	// eth_getLogs over the last 100,000 blocks for the rare event, each
	// through a fresh client, against the node's own JSON-RPC.
	Logs100kP50Ms     float64 `json:"history_logs_100k_p50_ms"`
	Logs100kNodeP50Ms float64 `json:"history_logs_100k_node_p50_ms"`
	Logs100kP50Ratio  float64 `json:"history_logs_100k_p50_ratio"`
	Logs100kRequests  float64 `json:"history_logs_100k_requests"`
	// Round trips one after the other (client.SequentialRoundTrips: the
	// requests of one step of the search count once, a retry counts).
	Logs100kRoundTrips float64 `json:"history_logs_100k_round_trips"`
	Logs100kMatches    int     `json:"history_logs_100k_matches"`
}

// History measures verified history on a long chain: two servers on an
// in-process node with the chain, clients trusting both.
func History(ctx context.Context, cfg HistoryConfig) (*HistoryResult, error) {
	if cfg.Blocks == 0 {
		cfg.Blocks = 200_000
	}
	if cfg.EventEvery == 0 {
		cfg.EventEvery = 10_000
	}
	if cfg.Samples == 0 {
		cfg.Samples = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	if cfg.Dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, err
		}
		cfg.Dir = filepath.Join(cache, "lightmarket", fmt.Sprintf("bench-history-%d-%d", cfg.Blocks, cfg.EventEvery))
	}
	quiet := log.NewLogger(log.DiscardHandler())
	start := time.Now()
	cfg.Logger.Info("Opening the history benchmark's chain (generated on first use: minutes)", "blocks", cfg.Blocks, "dir", cfg.Dir)
	node, events, err := longchain.OpenNode(cfg.Dir, cfg.Blocks, cfg.EventEvery, true, quiet)
	if err != nil {
		return nil, err
	}
	defer node.Close()
	head := uint64(cfg.Blocks)
	var trusted []*enode.Node
	for i := range 2 {
		key, _ := crypto.GenerateKey()
		// The servers' sections are kept beside the chain: built once.
		srv, err := server.New(server.Config{Backend: devchain.NewDirect(node.Eth, node.Stack.Attach()), ChainConfig: longchain.Config(),
			PrivateKey: key, Logger: quiet, DataDir: filepath.Join(cfg.Dir, fmt.Sprintf("server-%d", i))})
		if err != nil {
			return nil, err
		}
		if err := srv.Start(); err != nil {
			return nil, err
		}
		defer srv.Stop()
		trusted = append(trusted, srv.Enode())
	}
	sections := (head - server.HistoryConfirmations + 1) / history.SectionSize
	fresh := func() (*client.Client, error) {
		key, _ := crypto.GenerateKey()
		c, err := client.New(client.Config{ChainConfig: longchain.Config(), Trusted: trusted, Fraction: 100, HeadMaxAge: -1,
			PrivateKey: key, Logger: quiet})
		if err != nil {
			return nil, err
		}
		if err := c.Start(); err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		for {
			if n, _, _ := c.HistoryRoot(); n == sections && c.Head() != nil {
				return c, nil
			}
			select {
			case <-wctx.Done():
				c.Stop()
				return nil, fmt.Errorf("no history root over %d sections accepted: %w", sections, wctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	c, err := fresh() // waits for the servers to build their sections
	if err != nil {
		return nil, err
	}
	res := &HistoryResult{Blocks: head, SetupSeconds: time.Since(start).Seconds()}
	trips := func(c *client.Client, number uint64) (float64, time.Duration, error) {
		before, t0 := c.RoundTrips(), time.Now()
		if _, err := c.HeaderByNumber(ctx, number); err != nil {
			return 0, 0, fmt.Errorf("header %d: %w", number, err)
		}
		return float64(c.RoundTrips() - before), time.Since(t0), nil
	}
	if res.Header1kRoundTrips, _, err = trips(c, head-1000); err != nil {
		return nil, err
	}
	// 100,000 blocks deep (half the chain on a shorter one).
	deep := min(100_000, head/2)
	if res.Header100kRoundTrips, _, err = trips(c, head-deep); err != nil {
		return nil, err
	}
	var took []time.Duration
	for i := range cfg.Samples {
		_, d, err := trips(c, head-deep-uint64(i+1)*13)
		if err != nil {
			return nil, err
		}
		took = append(took, d)
	}
	res.Header100kP50Ms = pct(took, 50)
	c.Stop()

	// eth_getLogs over the last 100,000 blocks.
	from := head - deep
	q := ethereum.FilterQuery{FromBlock: new(big.Int).SetUint64(from), ToBlock: new(big.Int).SetUint64(head),
		Addresses: []common.Address{longchain.Emitter}, Topics: [][]common.Hash{{longchain.Topic}}}
	nodeRPC, err := rpc.DialContext(ctx, node.Stack.HTTPEndpoint())
	if err != nil {
		return nil, err
	}
	defer nodeRPC.Close()
	nodeEth := ethclient.NewClient(nodeRPC)
	// The node indexes logs in the background after an import (geth's
	// log index); until it has, it searches block by block. It is compared
	// at its best: once a query takes under half a second, or after five
	// minutes of waiting.
	for deadline := time.Now().Add(5 * time.Minute); ; {
		t0 := time.Now()
		if _, err := nodeEth.FilterLogs(ctx, q); err != nil {
			return nil, fmt.Errorf("node eth_getLogs: %w", err)
		}
		if time.Since(t0) < 500*time.Millisecond || time.Now().After(deadline) {
			break
		}
		cfg.Logger.Info("Waiting for the node's log index", "query", time.Since(t0).Round(time.Millisecond))
		time.Sleep(5 * time.Second)
	}
	want := 0
	for _, e := range events {
		if e >= from {
			want++
		}
	}
	var light, nodeTook []time.Duration
	var requests, waves float64
	// One query first, not counted: the servers build the tail of the
	// head on the first request for it (and, while clients ask, on every
	// new head before it is asked for), as the node built its log index.
	runs := max(cfg.Samples, 9)
	for run := range runs + 1 {
		c, err := fresh()
		if err != nil {
			return nil, err
		}
		api, err := rpcapi.Start(rpcapi.Config{Client: c, Addr: "127.0.0.1:0", Logger: quiet})
		if err != nil {
			c.Stop()
			return nil, err
		}
		lightRPC, err := rpc.DialContext(ctx, api.URL())
		if err != nil {
			api.Close()
			c.Stop()
			return nil, err
		}
		// The connection to the client's JSON-RPC is made first, as the
		// node's is: the search is measured, not a TCP handshake.
		if _, err := ethclient.NewClient(lightRPC).ChainID(ctx); err != nil {
			lightRPC.Close()
			api.Close()
			c.Stop()
			return nil, fmt.Errorf("client eth_chainId: %w", err)
		}
		before, sequential, t0 := c.RoundTrips(), c.SequentialRoundTrips(), time.Now()
		logs, err := ethclient.NewClient(lightRPC).FilterLogs(ctx, q)
		if run > 0 {
			light = append(light, time.Since(t0))
			requests += float64(c.RoundTrips() - before)
			waves += float64(c.SequentialRoundTrips() - sequential)
		}
		lightRPC.Close()
		api.Close()
		c.Stop()
		if err != nil {
			return nil, fmt.Errorf("client eth_getLogs: %w", err)
		}
		if len(logs) != want {
			return nil, fmt.Errorf("client eth_getLogs: %d logs, the chain has %d", len(logs), want)
		}
		t0 = time.Now()
		nlogs, err := nodeEth.FilterLogs(ctx, q)
		if run > 0 {
			nodeTook = append(nodeTook, time.Since(t0))
		}
		if err != nil || len(nlogs) != want {
			return nil, fmt.Errorf("node eth_getLogs: %d logs, %v", len(nlogs), err)
		}
	}
	res.Logs100kP50Ms, res.Logs100kNodeP50Ms = pct(light, 50), pct(nodeTook, 50)
	res.Logs100kP50Ratio = res.Logs100kP50Ms / res.Logs100kNodeP50Ms
	res.Logs100kRequests = requests / float64(runs)
	res.Logs100kRoundTrips = waves / float64(runs)
	res.Logs100kMatches = want
	return res, nil
}
