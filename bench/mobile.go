package bench

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/lightclient"
)

// MobileConfig configures the mobile benchmark: an embedded client (this
// process) against a devnet process, as a phone app holds it.
type MobileConfig struct {
	// Command runs lightmarket (its "devnet" and "client" commands).
	Command []string
	// BlockTime is the devnet's (default 12 s, a mainnet slot).
	BlockTime time.Duration
	// Foreground is how long the client idles in the foreground, following
	// the head (default 5 min); Background how long each stay in the
	// background lasts (default 10 min) and Resumes how many there are
	// (default 5).
	Foreground time.Duration
	Background time.Duration
	Resumes    int
	// ColdStarts is how many new client processes are started on the
	// client's data directory (default 3).
	ColdStarts int
	Logger     log.Logger
}

// MobileResult holds the mobile benchmark's figures.
type MobileResult struct {
	// Bytes through the client's sockets (devp2p and discovery, both
	// directions) and CPU time of the process holding it, per hour.
	IdleBytesPerHour       float64 `json:"mobile_idle_bytes_per_hour"`
	BackgroundBytesPerHour float64 `json:"mobile_background_bytes_per_hour"`
	IdleCPUSecondsPerHour  float64 `json:"mobile_idle_cpu_seconds_per_hour"`
	BackCPUSecondsPerHour  float64 `json:"mobile_background_cpu_seconds_per_hour"`
	// Back in the foreground, to the first verified eth_getBalance at
	// the head (p50 of Resumes), and the round trips it took.
	ResumeFirstAnswerMs float64   `json:"mobile_resume_first_answer_ms"`
	ResumeMs            []float64 `json:"mobile_resume_ms"`
	ResumeRoundTrips    float64   `json:"mobile_resume_round_trips"`
	// A new client process on an existing data directory, to its first
	// verified eth_getBalance (p50 of ColdStarts).
	ColdStartFirstAnswerMs float64 `json:"mobile_cold_start_first_answer_ms"`
	// Resident memory (anonymous: the heap and stacks, not the binary's
	// pages) of the process holding the client after the foreground idle.
	RSSMB float64 `json:"mobile_rss_mb"`
	// Verified eth_getBalance in process over localhost HTTP, p50 (the
	// same account at the head: both answered from verified state).
	EmbedP50Us      float64 `json:"embed_request_p50_us"`
	EmbedHTTPP50Us  float64 `json:"embed_request_http_p50_us"`
	EmbedP50Ratio   float64 `json:"embed_request_p50_ratio"`
	DataDirBytes    int64   `json:"mobile_datadir_bytes"`
	MeasuredSeconds float64 `json:"mobile_bench_duration_s"`
}

// Mobile runs the mobile benchmark.
func Mobile(ctx context.Context, cfg MobileConfig) (*MobileResult, error) {
	if len(cfg.Command) == 0 {
		return nil, errors.New("mobile: no command to start the devnet")
	}
	if cfg.BlockTime == 0 {
		cfg.BlockTime = 12 * time.Second
	}
	if cfg.Foreground == 0 {
		cfg.Foreground = 5 * time.Minute
	}
	if cfg.Background == 0 {
		cfg.Background = 10 * time.Minute
	}
	if cfg.Resumes == 0 {
		cfg.Resumes = 5
	}
	if cfg.ColdStarts == 0 {
		cfg.ColdStarts = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	start := time.Now()
	devHTTP := freeLoopback()
	devnet := exec.CommandContext(ctx, cfg.Command[0], append(slices.Clone(cfg.Command[1:]), "devnet",
		"--block-time", cfg.BlockTime.String(), "--http", devHTTP, "--verbosity", "1")...)
	devnet.Stderr = os.Stderr
	if err := devnet.Start(); err != nil {
		return nil, err
	}
	defer stopProcess(devnet)
	rc, err := dialWhenUp(ctx, "http://"+devHTTP)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	trusted, err := devnetServers(ctx, rc)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lightmarket-mobile-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	quiet := log.NewLogger(log.DiscardHandler())
	lcfg := lightclient.Config{Trusted: trusted, DataDir: filepath.Join(dir, "client"), HTTP: "127.0.0.1:0", Logger: quiet}
	dev := crypto.PubkeyToAddress(mustKey(devchain.DefaultDevKey).PublicKey)
	res := &MobileResult{}

	// A first start fills the data directory; new processes start on it.
	node, err := lightclient.Start(ctx, lcfg)
	if err != nil {
		return nil, err
	}
	if _, err := firstBalance(ctx, node.RPC(), dev); err != nil {
		node.Stop()
		return nil, err
	}
	if err := node.Stop(); err != nil {
		return nil, err
	}
	var colds []time.Duration
	for range cfg.ColdStarts {
		d, err := coldStart(ctx, cfg.Command, lcfg, dev)
		if err != nil {
			return nil, fmt.Errorf("cold start: %w", err)
		}
		colds = append(colds, d)
	}
	res.ColdStartFirstAnswerMs = pct(colds, 50)
	cfg.Logger.Info("Mobile: cold starts", "ms", colds)

	if node, err = lightclient.Start(ctx, lcfg); err != nil {
		return nil, err
	}
	defer node.Stop()
	if _, err := firstBalance(ctx, node.RPC(), dev); err != nil {
		return nil, err
	}
	c := node.Client()

	cfg.Logger.Info("Mobile: foreground idle", "for", cfg.Foreground)
	bytes0, cpu0 := socketBytes(c), cpuSeconds()
	if !sleepCtx(ctx, cfg.Foreground) {
		return nil, ctx.Err()
	}
	hours := cfg.Foreground.Hours()
	res.IdleBytesPerHour = float64(socketBytes(c)-bytes0) / hours
	res.IdleCPUSecondsPerHour = (cpuSeconds() - cpu0) / hours
	_, anon := rss(os.Getpid())
	res.RSSMB = float64(anon) / (1 << 20)

	if res.EmbedP50Us, res.EmbedHTTPP50Us, err = embedRatio(ctx, node, dev); err != nil {
		return nil, err
	}
	res.EmbedP50Ratio = res.EmbedP50Us / res.EmbedHTTPP50Us

	var backBytes uint64
	var backCPU float64
	var trips []float64
	var resumes []time.Duration
	for i := range cfg.Resumes {
		cfg.Logger.Info("Mobile: background", "stay", i+1, "of", cfg.Resumes, "for", cfg.Background)
		if err := node.SetAppState(lightclient.Background); err != nil {
			return nil, err
		}
		// The connections close as the client goes: the stay counts from
		// the next second on.
		if !sleepCtx(ctx, time.Second) {
			return nil, ctx.Err()
		}
		b, cpu := socketBytes(c), cpuSeconds()
		if !sleepCtx(ctx, cfg.Background) {
			return nil, ctx.Err()
		}
		backBytes += socketBytes(c) - b
		backCPU += cpuSeconds() - cpu
		rt := c.RoundTrips()
		back := time.Now()
		if err := node.SetAppState(lightclient.Foreground); err != nil {
			return nil, err
		}
		if _, err := firstBalance(ctx, node.RPC(), dev); err != nil {
			return nil, err
		}
		resumes = append(resumes, time.Since(back))
		res.ResumeMs = append(res.ResumeMs, ms(resumes[len(resumes)-1]))
		trips = append(trips, float64(c.RoundTrips()-rt))
		// Back in the foreground for a while, as an app is between stays.
		if !sleepCtx(ctx, 2*cfg.BlockTime) {
			return nil, ctx.Err()
		}
	}
	backHours := float64(cfg.Resumes) * cfg.Background.Hours()
	res.BackgroundBytesPerHour = float64(backBytes) / backHours
	res.BackCPUSecondsPerHour = backCPU / backHours
	res.ResumeFirstAnswerMs = pct(resumes, 50)
	res.ResumeRoundTrips = median(trips)
	res.DataDirBytes = dirSize(lcfg.DataDir)
	res.MeasuredSeconds = time.Since(start).Seconds()
	return res, nil
}

// devnetServers asks a devnet's client for its servers' enode URLs.
func devnetServers(ctx context.Context, rc *rpc.Client) ([]string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		var servers []client.ServerStats
		if err := rc.CallContext(ctx, &servers, "lm_servers"); err != nil {
			return nil, err
		}
		var urls []string
		for _, s := range servers {
			if s.Connected && strings.Contains(s.Enode, "@") {
				urls = append(urls, s.Enode)
			}
		}
		if len(urls) == len(servers) && len(urls) > 0 {
			return urls, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the devnet's client knows %d servers, %d connected with an address", len(servers), len(urls))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// firstBalance asks for a verified balance at the head until the client
// answers one, and returns how long that took.
func firstBalance(ctx context.Context, rc *rpc.Client, addr common.Address) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(2 * time.Minute)
	for {
		var bal hexutil.Big
		err := rc.CallContext(ctx, &bal, "eth_getBalance", addr, "latest")
		if err == nil {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, fmt.Errorf("no verified balance: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// coldStart starts `lightmarket client` on the data directory and returns
// the time from starting the process to its first verified
// eth_getBalance.
func coldStart(ctx context.Context, command []string, cfg lightclient.Config, addr common.Address) (time.Duration, error) {
	httpAddr := freeLoopback()
	args := append(slices.Clone(command[1:]), "client", "--verbosity", "1", "--http", httpAddr,
		"--datadir", cfg.DataDir, "--ulc.servers", strings.Join(cfg.Trusted, ","))
	cmd := exec.CommandContext(ctx, command[0], args...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer stopProcess(cmd)
	var rc *rpc.Client
	for {
		var err error
		if rc, err = rpc.DialContext(ctx, "http://"+httpAddr); err == nil {
			if _, err = firstBalance(ctx, rc, addr); err == nil {
				break
			}
			rc.Close()
		}
		if time.Since(start) > 2*time.Minute {
			return 0, fmt.Errorf("the client process did not answer: %w", err)
		}
	}
	rc.Close()
	return time.Since(start), nil
}

// embedRatio measures a verified eth_getBalance in process and over the
// node's HTTP endpoint, interleaved, and returns both p50s in µs.
func embedRatio(ctx context.Context, node *lightclient.Node, addr common.Address) (inproc, overHTTP float64, err error) {
	hc, err := rpc.DialContext(ctx, node.URL())
	if err != nil {
		return 0, 0, err
	}
	defer hc.Close()
	var a, b []time.Duration
	for range 500 {
		for _, rc := range []*rpc.Client{node.RPC(), hc} {
			start := time.Now()
			var bal hexutil.Big
			if err := rc.CallContext(ctx, &bal, "eth_getBalance", addr, "latest"); err != nil {
				return 0, 0, err
			}
			if rc == hc {
				b = append(b, time.Since(start))
			} else {
				a = append(a, time.Since(start))
			}
		}
	}
	return 1000 * pct(a, 50), 1000 * pct(b, 50), nil
}

// socketBytes is all the client's sockets carried so far.
func socketBytes(c *client.Client) uint64 {
	servers, discovery := c.SocketBytes()
	return servers + discovery
}

// cpuSeconds is the CPU time this process used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// stopProcess interrupts a process and kills it when it has not ended
// within 10 s.
func stopProcess(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

func mustKey(hex string) *ecdsa.PrivateKey {
	k, err := crypto.HexToECDSA(hex)
	if err != nil {
		panic(err)
	}
	return k
}
