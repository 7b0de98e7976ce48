package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/flowcontrol"
	"github.com/lightmarket/lightmarket/metrics"
	"github.com/lightmarket/lightmarket/server"
)

// QoSConfig configures the quality-of-service benchmark.
type QoSConfig struct {
	Phase       time.Duration // length of each idle and each flood phase (default 10s; three of each)
	PaidRate    int           // paid client's requests per second (default 200)
	FreeClients int           // flooding free clients, each from its own loopback IP (default 20)
	// FloodCommand, when set, runs the free clients in a separate process
	// at the lowest CPU priority (`nice -n 19 FloodCommand... `), standing in
	// for clients on other machines: on a two-core box the flood's own work
	// would otherwise compete with the server for the CPU. It is run as
	// FloodCommand[0] FloodCommand[1:]... --enode URL --clients N --duration D
	// and must print the requests it got served as a number on stdout.
	FloodCommand []string
	Logger       log.Logger
}

// QoSResult holds the QoS benchmark's figures: the paid latencies are the
// medians over the phases of each kind of the phase's p50 and p99.
type QoSResult struct {
	PaidP50IdleMs     float64 `json:"paid_p50_idle_ms"`
	PaidP99IdleMs     float64 `json:"paid_p99_idle_ms"`
	PaidP50FloodMs    float64 `json:"paid_p50_flood_ms"`
	PaidP99FloodMs    float64 `json:"paid_p99_flood_ms"`
	PaidP99Ratio      float64 `json:"paid_p99_ratio"`
	PaidCapacityShare float64 `json:"paid_capacity_share"` // paid requests answered within 1 s, of those sent, under flood
	FreeServedPerSec  float64 `json:"free_served_per_sec"`
	FreeClients       float64 `json:"free_clients"` // each with 8 workers asking as fast as flow control allows
	// Under the flood: the server process's CPU per request served, the
	// part of it the server measures as serving, and the rest (reading,
	// decrypting, decoding, scheduling, encoding, sending), which flow
	// control charges as a flat overhead per request.
	CPUPerRequestUs     float64 `json:"qos_cpu_per_request_us"`
	ServingPerRequestUs float64 `json:"qos_serving_per_request_us"`
	SessionPerRequestUs float64 `json:"qos_session_per_request_us"`
}

// paidDeadline is how long a paid request may take and still count as
// served at its capacity.
const paidDeadline = time.Second

// QoS runs one server, a paid client making proof requests at a fixed rate,
// and then free clients flooding the server, each from its own loopback
// address (so each has its own free allowance), granted together about ten
// times what the machine can serve.
func QoS(ctx context.Context, cfg QoSConfig) (*QoSResult, error) {
	if cfg.Phase == 0 {
		cfg.Phase = 10 * time.Second
	}
	if cfg.PaidRate == 0 {
		cfg.PaidRate = 200
	}
	if cfg.FreeClients == 0 {
		cfg.FreeClients = 20
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewLogger(log.DiscardHandler())
	}
	chain, err := devchain.New(devchain.Config{BlockTime: time.Hour, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	if err := chain.Start(); err != nil {
		return nil, err
	}
	defer chain.Close()
	backend, err := chain.Backend(ctx)
	if err != nil {
		return nil, err
	}
	// The server is configured with one serving thread (1,000,000 units per
	// ms) of the two cores: the other is for networking. The paid client
	// buys a quarter of it; the free clients share the rest, and each asks
	// for proofs with 8 workers at once, as fast as its flow control lets
	// it: their demand has no bound.
	const thread = 1_000_000
	machine := uint64(thread)
	paidCap := machine / 4
	freeCap := (machine - paidCap) / uint64(cfg.FreeClients)
	key, _ := crypto.GenerateKey()
	reg := prometheus.NewRegistry()
	srv, err := server.New(server.Config{
		Backend: backend, PrivateKey: key, MaxPeers: cfg.FreeClients + 10,
		Capacity: machine, FreeCapacity: freeCap, PaidCapacity: paidCap,
		MaxInFlight: 16, Logger: cfg.Logger, Metrics: metrics.NewServer(reg),
	})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer srv.Stop()

	paid, err := newBenchClient(srv.Enode(), "127.0.0.1", cfg.Logger)
	if err != nil {
		return nil, err
	}
	if err := srv.SetBalance(paid.Self().ID(), big.NewInt(1e18)); err != nil {
		return nil, err
	}
	if err := paid.Start(); err != nil {
		return nil, err
	}
	defer paid.Stop()
	if _, err := paid.WaitHead(ctx); err != nil {
		return nil, err
	}

	// Idle and flood phases interleaved, three of each: a single phase's
	// p99 on a small machine swings with what else it does, so each kind's
	// figure is the median of its phases'.
	res := &QoSResult{FreeClients: float64(cfg.FreeClients)}
	var (
		idleP50, idleP99, floodP50, floodP99 []time.Duration
		shares                               []float64
		freeServed                           float64
		floodTime                            time.Duration
	)
	for phase := range qosPhases {
		idle, _, err := paidLoad(ctx, paid, cfg.PaidRate, cfg.Phase, int64(2*phase+1))
		if err != nil {
			return nil, err
		}
		idleP50, idleP99 = append(idleP50, pctDuration(idle, 50)), append(idleP99, pctDuration(idle, 99))
		flood, share, served, took, err := floodPhase(ctx, cfg, srv, paid, reg, res, int64(2*phase+2))
		if err != nil {
			return nil, err
		}
		floodP50, floodP99 = append(floodP50, pctDuration(flood, 50)), append(floodP99, pctDuration(flood, 99))
		shares, freeServed, floodTime = append(shares, share), freeServed+served, floodTime+took
		// The free clients' sessions end; the server settles before the
		// next idle phase.
		if err := sleep(ctx, 2*time.Second); err != nil {
			return nil, err
		}
	}
	res.PaidP50IdleMs, res.PaidP99IdleMs = pct(idleP50, 50), pct(idleP99, 50)
	res.PaidP50FloodMs, res.PaidP99FloodMs = pct(floodP50, 50), pct(floodP99, 50)
	res.PaidP99Ratio = res.PaidP99FloodMs / res.PaidP99IdleMs
	res.PaidCapacityShare = slices.Min(shares)
	res.FreeServedPerSec = freeServed / floodTime.Seconds()
	return res, nil
}

// qosPhases is how many idle and how many flood phases a QoS run has.
const qosPhases = 3

// floodPhase runs the free clients' flood and, once they have used up
// their buffers (6 s of recharge) and are held to their capacity, the paid
// load. It returns the paid latencies, the share of paid requests served
// in time, the free requests served and how long the flood ran.
func floodPhase(ctx context.Context, cfg QoSConfig, srv *server.Server, paid *client.Client, reg *prometheus.Registry, res *QoSResult, salt int64) ([]time.Duration, float64, float64, time.Duration, error) {
	settle := flowcontrol.BufferTime + 2*time.Second
	floodFor := settle + cfg.Phase
	if len(cfg.FloodCommand) > 0 {
		args := append([]string{"-n", "19"}, cfg.FloodCommand...)
		args = append(args, "--enode", srv.Enode().URLv4(), "--clients", fmt.Sprint(cfg.FreeClients), "--duration", floodFor.String())
		cmd := exec.CommandContext(ctx, "nice", args...)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			return nil, 0, 0, 0, fmt.Errorf("flood process: %w", err)
		}
		if err := sleep(ctx, settle); err != nil {
			return nil, 0, 0, 0, err
		}
		before := sampleLoad(reg)
		flood, share, err := paidLoad(ctx, paid, cfg.PaidRate, cfg.Phase, salt)
		if err != nil {
			return nil, 0, 0, 0, err
		}
		res.setLoad(before, sampleLoad(reg))
		if err := cmd.Wait(); err != nil {
			return nil, 0, 0, 0, fmt.Errorf("flood process: %w", err)
		}
		served, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
		if err != nil {
			return nil, 0, 0, 0, fmt.Errorf("flood process output %q: %w", out.String(), err)
		}
		return flood, share, served, floodFor, nil
	}
	floodCtx, stopFlood := context.WithTimeout(ctx, floodFor)
	defer stopFlood()
	done := make(chan int64, 1)
	go func() {
		n, _ := Flood(floodCtx, srv.Enode(), cfg.FreeClients, cfg.Logger)
		done <- n
	}()
	if err := sleep(ctx, settle); err != nil {
		return nil, 0, 0, 0, err
	}
	flood, share, err := paidLoad(ctx, paid, cfg.PaidRate, cfg.Phase, salt)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	return flood, share, float64(<-done), floodFor, nil
}

// pctDuration is pct as a duration.
func pctDuration(ds []time.Duration, p int) time.Duration {
	return time.Duration(pct(ds, p) * float64(time.Millisecond))
}

// Flood runs n free clients against srv, each from its own loopback
// address (127.0.0.2, ...), each with 8 workers asking for proofs as fast as
// flow control lets them, until ctx ends. It returns the requests served.
func Flood(ctx context.Context, srv *enode.Node, n int, logger log.Logger) (int64, error) {
	var served atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		fc, err := newBenchClient(srv, fmt.Sprintf("127.0.0.%d", i+2), logger)
		if err != nil {
			return 0, err
		}
		if err := fc.Start(); err != nil {
			return 0, err
		}
		defer fc.Stop()
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h, err := fc.WaitHead(ctx)
				if err != nil {
					return
				}
				for k := 0; ctx.Err() == nil; k++ {
					addr := common.BigToAddress(big.NewInt(int64(i)<<40 | int64(w)<<32 | int64(k)))
					if _, err := fc.State(ctx, h, addr, nil); err == nil {
						served.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	return served.Load(), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newBenchClient(srv *enode.Node, localIP string, logger log.Logger) (*client.Client, error) {
	return client.New(client.Config{
		ChainConfig:    devchain.ChainConfig(),
		Trusted:        []*enode.Node{srv},
		Fraction:       100,
		RequestTimeout: 10 * time.Second,
		HeadMaxAge:     -1, // the chain seals no block while measured
		Dialer:         localDialer{net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}, Timeout: 5 * time.Second}},
		Logger:         logger,
	})
}

// localDialer dials servers from a chosen local address.
type localDialer struct{ d net.Dialer }

func (l localDialer) Dial(ctx context.Context, n *enode.Node) (net.Conn, error) {
	return l.d.DialContext(ctx, "tcp", fmt.Sprintf("%v:%d", n.IP(), n.TCP()))
}

// paidLoad makes proof requests at rate per second for d, each for an
// account not asked before, and returns their latencies and the share
// answered within paidDeadline.
func paidLoad(ctx context.Context, c *client.Client, rate int, d time.Duration, salt int64) ([]time.Duration, float64, error) {
	head := c.Head()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		sent, ok  int
		wg        sync.WaitGroup
	)
	end := time.Now().Add(d)
	for n := int64(0); time.Now().Before(end); n++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, paidDeadline)
			defer cancel()
			t0 := time.Now()
			_, err := c.State(rctx, head, common.BigToAddress(big.NewInt(salt<<50|n)), nil)
			took := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, took)
			if err == nil {
				ok++
			}
		}()
	}
	wg.Wait()
	return latencies, float64(ok) / float64(max(sent, 1)), nil
}

// load is what the server did up to a moment: process CPU time, requests
// served and the serving time it measured.
type load struct {
	cpu      time.Duration
	requests float64
	serving  float64 // seconds
}

func sampleLoad(reg *prometheus.Registry) load {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	l := load{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() != "lightmarket_server_serving_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			l.requests += float64(m.GetHistogram().GetSampleCount())
			l.serving += m.GetHistogram().GetSampleSum()
		}
	}
	return l
}

func (r *QoSResult) setLoad(a, b load) {
	n := b.requests - a.requests
	if n <= 0 {
		return
	}
	r.CPUPerRequestUs = float64((b.cpu - a.cpu).Microseconds()) / n
	r.ServingPerRequestUs = (b.serving - a.serving) * 1e6 / n
	r.SessionPerRequestUs = r.CPUPerRequestUs - r.ServingPerRequestUs
}
