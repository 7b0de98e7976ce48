package bench

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain/devchain"
)

// SoakConfig configures the soak: a `lightmarket devnet` process under
// steady wallet load, watched from outside.
type SoakConfig struct {
	// Command starts the devnet (e.g. the lightmarket binary and
	// "devnet"); the soak adds --http, --metrics and --datadir.
	Command  []string
	Duration time.Duration // default 1h
	Rate     int           // wallet calls per second (default 1100)
	Workers  int           // concurrent callers (default 16)
	TxEvery  time.Duration // one transfer this often (default 1s)
	Sample   time.Duration // how often the process is measured (default 10s)
	// WarmUp is left out of the trend (default a sixth of Duration).
	WarmUp time.Duration
	// InMemory runs the devnet without --datadir: its chain then grows in
	// the process's memory.
	InMemory bool
	// ProfileDir, when set, receives the devnet's heap profiles at the
	// end of the warm-up, of the load and of the 30 s after it
	// (heap-warm.pb.gz, heap-end.pb.gz, heap-idle.pb.gz), for
	// `go tool pprof -diff_base`.
	ProfileDir string
	Logger     log.Logger
}

// SoakSample is the devnet process measured at one moment.
type SoakSample struct {
	Seconds    float64 `json:"s"`
	RSSBytes   uint64  `json:"rss"`
	AnonBytes  uint64  `json:"rss_anon"` // RSS less the pages of the binary and other files (reclaimable)
	HeapBytes  uint64  `json:"heap_inuse"`
	LiveBytes  uint64  `json:"heap_live"`    // what the last GC kept: growth here is memory held, not garbage
	CacheBytes uint64  `json:"client_cache"` // the client's verified-state cache (bounded by --cache)
	GoSysBytes uint64  `json:"go_sys"`       // all the Go runtime holds; RSS less this is off the Go heap
	Goroutines int     `json:"goroutines"`
	Calls      uint64  `json:"calls"`
	Errors     uint64  `json:"errors"`
	Block      uint64  `json:"block"`
}

// SoakResult is what the soak measured.
type SoakResult struct {
	Seconds         float64 `json:"soak_seconds"`
	Calls           uint64  `json:"soak_calls"`
	CallsPerSec     float64 `json:"soak_calls_per_sec"`
	Txs             uint64  `json:"soak_txs"`
	Errors          uint64  `json:"soak_errors"`
	FirstError      string  `json:"soak_first_error,omitempty"`
	GoroutinesMin   int     `json:"soak_goroutines_min"`
	GoroutinesMax   int     `json:"soak_goroutines_max"`
	GoroutinesEnd   int     `json:"soak_goroutines_end"`
	RSSWarmMiB      float64 `json:"soak_rss_after_warmup_mib"`
	RSSEndMiB       float64 `json:"soak_rss_end_mib"`
	RSSSlopeMiBMin  float64 `json:"soak_rss_slope_mib_per_min"`      // after warm-up, least squares
	AnonSlopeMiBMin float64 `json:"soak_rss_anon_slope_mib_per_min"` // anonymous RSS, same
	HeapSlopeMiBMin float64 `json:"soak_heap_slope_mib_per_min"`     // Go heap in use, same
	LiveSlopeMiBMin float64 `json:"soak_live_slope_mib_per_min"`     // Go heap the GC kept, same
	RSSIdleMiB      float64 `json:"soak_rss_idle_after_mib"`         // 30 s after the load stopped
	// The first sample after the warm-up, and after the load the sample
	// 30 s later (its last one).
	Warm    SoakSample   `json:"soak_warm"`
	Idle    SoakSample   `json:"soak_idle"`
	Samples []SoakSample `json:"soak_samples"`
}

// Soak runs a devnet process for cfg.Duration under a steady mix of wallet
// calls and a transfer every cfg.TxEvery, sampling its resident memory
// (from /proc), Go heap and goroutines (from its metrics) every
// cfg.Sample.
func Soak(ctx context.Context, cfg SoakConfig) (*SoakResult, error) {
	if cfg.Duration == 0 {
		cfg.Duration = time.Hour
	}
	if cfg.Rate == 0 {
		cfg.Rate = 1100
	}
	if cfg.Rate < 0 || cfg.Rate > 1_000_000 {
		return nil, fmt.Errorf("soak rate %d calls/s: give 1 to 1,000,000", cfg.Rate)
	}
	if len(cfg.Command) == 0 {
		return nil, errors.New("soak: no command to start the devnet")
	}
	if cfg.Workers == 0 {
		cfg.Workers = 16
	}
	if cfg.TxEvery == 0 {
		cfg.TxEvery = time.Second
	}
	if cfg.Sample == 0 {
		cfg.Sample = 10 * time.Second
	}
	if cfg.WarmUp == 0 {
		cfg.WarmUp = cfg.Duration / 6
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	httpAddr, metricsAddr := freeLoopback(), freeLoopback()
	args := append(append([]string{}, cfg.Command[1:]...), "--http", httpAddr, "--metrics", metricsAddr, "--verbosity", "2")
	if !cfg.InMemory {
		dir, err := os.MkdirTemp("", "lightmarket-soak-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		args = append(args, "--datadir", dir)
	}
	cmd := exec.CommandContext(ctx, cfg.Command[0], args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer stopProcess(cmd)
	url := "http://" + httpAddr
	rc, err := dialWhenUp(ctx, url)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	eth := ethclient.NewClient(rc)
	chainID, err := eth.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Logger.Info("Soak started", "devnet", url, "duration", cfg.Duration, "rate", cfg.Rate)

	l := &soakLoad{eth: eth, rc: rc, chainID: chainID}
	l.key, _ = crypto.HexToECDSA(devchain.DefaultDevKey)
	if err := l.deploy(ctx); err != nil {
		return nil, err
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	tick := time.Second / time.Duration(cfg.Rate)
	calls := make(chan struct{}, cfg.Workers)
	wg.Add(1)
	go func() { // paces the calls
		defer wg.Done()
		defer close(calls)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-t.C:
				select {
				case calls <- struct{}{}:
				default: // workers behind: the rate falls, and shows
				}
			}
		}
	}()
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				l.call(loadCtx)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(cfg.TxEvery)
		defer t.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-t.C:
				l.transfer(loadCtx)
			}
		}
	}()

	res := &SoakResult{}
	start := time.Now()
	sample := func() {
		s := SoakSample{Seconds: time.Since(start).Seconds(), Calls: l.calls.Load(), Errors: l.errors.Load()}
		s.RSSBytes, s.AnonBytes = rss(cmd.Process.Pid)
		s.goStats("http://" + metricsAddr + "/metrics")
		s.Block, _ = eth.BlockNumber(ctx)
		res.Samples = append(res.Samples, s)
		cfg.Logger.Info("Soak", "s", int(s.Seconds), "rss_mib", s.RSSBytes>>20, "heap_mib", s.HeapBytes>>20, "live_mib", s.LiveBytes>>20, "cache_mib", s.CacheBytes>>20, "goroutines", s.Goroutines, "calls", s.Calls, "errors", s.Errors, "block", s.Block)
	}
	profile := func(name string) {
		if cfg.ProfileDir == "" {
			return
		}
		if err := saveProfile("http://"+metricsAddr+"/debug/pprof/heap", filepath.Join(cfg.ProfileDir, name)); err != nil {
			cfg.Logger.Warn("Cannot save a heap profile", "err", err)
		}
	}
	sample()
	t := time.NewTicker(cfg.Sample)
	warmed := false
	for time.Since(start) < cfg.Duration && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			sample()
			if !warmed && time.Since(start) >= cfg.WarmUp {
				warmed = true
				profile("heap-warm.pb.gz")
			}
		}
	}
	t.Stop()
	profile("heap-end.pb.gz")
	stopLoad()
	wg.Wait()
	elapsed := time.Since(start)
	// After the load: does memory come back down, or jump?
	idle := time.NewTimer(30 * time.Second)
	select {
	case <-ctx.Done():
	case <-idle.C:
	}
	profile("heap-idle.pb.gz")
	s := SoakSample{Seconds: time.Since(start).Seconds(), Calls: l.calls.Load(), Errors: l.errors.Load()}
	s.RSSBytes, s.AnonBytes = rss(cmd.Process.Pid)
	s.goStats("http://" + metricsAddr + "/metrics")
	res.Idle = s
	res.RSSIdleMiB = float64(s.RSSBytes) / (1 << 20)

	res.Seconds = elapsed.Seconds()
	res.Calls, res.Errors, res.Txs = l.calls.Load(), l.errors.Load(), l.txs.Load()
	res.CallsPerSec = float64(res.Calls) / res.Seconds
	if e := l.firstErr.Load(); e != nil {
		res.FirstError = *e
	}
	res.GoroutinesMin = 1 << 30
	var warm []SoakSample
	for _, s := range res.Samples {
		res.GoroutinesMin = min(res.GoroutinesMin, s.Goroutines)
		res.GoroutinesMax = max(res.GoroutinesMax, s.Goroutines)
		if s.Seconds >= cfg.WarmUp.Seconds() {
			warm = append(warm, s)
		}
	}
	last := res.Samples[len(res.Samples)-1]
	res.GoroutinesEnd, res.RSSEndMiB = last.Goroutines, float64(last.RSSBytes)/(1<<20)
	if len(warm) > 0 {
		res.Warm = warm[0]
		res.RSSWarmMiB = float64(warm[0].RSSBytes) / (1 << 20)
	}
	res.RSSSlopeMiBMin = slope(warm, func(s SoakSample) float64 { return float64(s.RSSBytes) })
	res.AnonSlopeMiBMin = slope(warm, func(s SoakSample) float64 { return float64(s.AnonBytes) })
	res.HeapSlopeMiBMin = slope(warm, func(s SoakSample) float64 { return float64(s.HeapBytes) })
	res.LiveSlopeMiBMin = slope(warm, func(s SoakSample) float64 { return float64(s.LiveBytes) })
	return res, nil
}

// slope is the least-squares trend of f over the samples, in MiB a minute.
func slope(samples []SoakSample, f func(SoakSample) float64) float64 {
	if len(samples) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	n := float64(len(samples))
	for _, s := range samples {
		x, y := s.Seconds/60, f(s)/(1<<20)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// soakLoad is a wallet's traffic: reads of balances, blocks, logs, a
// contract call, fees; and transfers.
type soakLoad struct {
	eth     *ethclient.Client
	rc      *rpc.Client
	chainID *big.Int
	key     *ecdsa.PrivateKey
	store   common.Address // a contract with a storage slot to read

	nonce              uint64
	calls, errors, txs atomic.Uint64
	firstErr           atomic.Pointer[string]
}

// storeCode returns its first storage slot: PUSH0 SLOAD PUSH0 MSTORE
// PUSH1 32 PUSH0 RETURN; the init code stores 42 there and returns it.
var (
	storeRuntime = common.FromHex("5f545f5260205ff3")
	storeInit    = append(common.FromHex("602a5f55600880600d5f395ff3"), storeRuntime...)
)

func (l *soakLoad) deploy(ctx context.Context) error {
	from := crypto.PubkeyToAddress(l.key.PublicKey)
	nonce, err := l.eth.PendingNonceAt(ctx, from)
	if err != nil {
		return err
	}
	l.nonce = nonce
	tx, err := l.signed(ctx, nil, storeInit, 200_000)
	if err != nil {
		return err
	}
	if err := l.eth.SendTransaction(ctx, tx); err != nil {
		return fmt.Errorf("deploying the soak's contract: %w", err)
	}
	for ctx.Err() == nil {
		r, err := l.eth.TransactionReceipt(ctx, tx.Hash())
		if err == nil {
			l.store = r.ContractAddress
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return ctx.Err()
}

func (l *soakLoad) signed(ctx context.Context, to *common.Address, data []byte, gas uint64) (*types.Transaction, error) {
	head, err := l.eth.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, err
	}
	tx := types.MustSignNewTx(l.key, types.LatestSignerForChainID(l.chainID), &types.DynamicFeeTx{
		ChainID: l.chainID, Nonce: l.nonce, GasTipCap: big.NewInt(1e9),
		GasFeeCap: new(big.Int).Add(big.NewInt(1e9), new(big.Int).Mul(head.BaseFee, big.NewInt(2))),
		Gas:       gas, To: to, Value: big.NewInt(1), Data: data,
	})
	l.nonce++
	return tx, nil
}

func (l *soakLoad) transfer(ctx context.Context) {
	to := common.Address{0x50, byte(rand.IntN(256))}
	tx, err := l.signed(ctx, &to, nil, 21000)
	if err == nil {
		err = l.eth.SendTransaction(ctx, tx)
	}
	if err != nil && ctx.Err() == nil {
		l.nonce-- // not sent: the next transfer takes its nonce
		l.fail(fmt.Errorf("eth_sendRawTransaction: %w", err))
		return
	}
	l.txs.Add(1)
}

func (l *soakLoad) fail(err error) {
	l.errors.Add(1)
	msg := err.Error()
	l.firstErr.CompareAndSwap(nil, &msg)
}

// call makes one wallet call, drawn from a mix like a dapp's.
func (l *soakLoad) call(ctx context.Context) {
	var (
		out    any
		method string
		args   []any
	)
	switch r := rand.IntN(100); {
	case r < 25:
		method = "eth_blockNumber"
	case r < 45:
		method, args = "eth_getBalance", []any{common.Address{0x50, byte(rand.IntN(256))}, "latest"}
	case r < 60:
		method, args = "eth_call", []any{map[string]any{"to": l.store}, "latest"}
	case r < 70:
		method, args = "eth_getBlockByNumber", []any{"latest", false}
	case r < 78:
		method, args = "eth_getTransactionCount", []any{crypto.PubkeyToAddress(l.key.PublicKey), "latest"}
	case r < 85:
		method = "eth_gasPrice"
	case r < 90:
		method, args = "eth_getLogs", []any{map[string]any{"fromBlock": "latest", "toBlock": "latest"}}
	case r < 95:
		method, args = "eth_estimateGas", []any{map[string]any{"from": crypto.PubkeyToAddress(l.key.PublicKey), "to": common.Address{0x50}, "value": hexutil.Big(*big.NewInt(1))}}
	default:
		method = "eth_chainId"
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := l.rc.CallContext(cctx, &out, method, args...)
	if ctx.Err() != nil {
		return // the soak is over
	}
	l.calls.Add(1)
	if err != nil {
		l.fail(fmt.Errorf("%s: %w", method, err))
	}
}

// saveProfile copies a pprof profile from url to file.
func saveProfile(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

// rss is a process's resident memory, from /proc.
func rss(pid int) (rss, anon uint64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	kb := func(v string) uint64 {
		n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		return n << 10
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			rss = kb(v)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			anon = kb(v)
		}
	}
	return rss, anon
}

// goStats reads goroutines, heap in use and all the memory the Go
// runtime holds from a Prometheus endpoint.
func (s *SoakSample) goStats(url string) {
	resp, err := http.Get(url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	gauges := map[string]func(float64){
		"go_goroutines ":                        func(v float64) { s.Goroutines = int(v) },
		"go_memstats_heap_inuse_bytes ":         func(v float64) { s.HeapBytes = uint64(v) },
		"go_memstats_sys_bytes ":                func(v float64) { s.GoSysBytes = uint64(v) },
		"go_gc_heap_live_bytes ":                func(v float64) { s.LiveBytes = uint64(v) },
		"lightmarket_client_state_cache_bytes ": func(v float64) { s.CacheBytes = uint64(v) },
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for prefix, set := range gauges {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				f, _ := strconv.ParseFloat(v, 64)
				set(f)
			}
		}
	}
}

// freeLoopback picks a free port on 127.0.0.1.
func freeLoopback() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

// dialWhenUp waits for a JSON-RPC endpoint to answer.
func dialWhenUp(ctx context.Context, url string) (*rpc.Client, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rc, err := rpc.DialContext(ctx, url)
		if err == nil {
			var n hexutil.Uint64
			if err = rc.CallContext(ctx, &n, "eth_blockNumber"); err == nil {
				return rc, nil
			}
			rc.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, errors.Join(errors.New("the devnet did not come up"), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
