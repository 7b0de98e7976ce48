package bench

import (
	"bufio"
	"context"
	"fmt"
	"math/big"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/server"
)

// ServeConfig configures the serving benchmark.
type ServeConfig struct {
	Duration time.Duration // of each throughput measurement (default 3s)
	Clients  int           // connected for the memory figure (default 10,000)
	// ConnCommand runs HoldConns in another process (`lightmarket
	// benchconns`), so that the clients' sockets and memory are not the
	// server's; without it they are held in this process.
	ConnCommand []string
	Logger      log.Logger
}

// ServeResult holds the serving benchmark's figures.
type ServeResult struct {
	// Items served per second straight from the backend, and through the
	// server's admission, flow control, scheduling, serving and accounting;
	// the overhead is 1 - served/raw. The backend is the one a server uses
	// beside an execution client: its JSON-RPC on loopback, every answer
	// verified.
	HeadersRawPerSec    float64 `json:"serve_headers_raw_per_sec"`
	HeadersServedPerSec float64 `json:"serve_headers_per_sec"`
	OverheadHeaders     float64 `json:"serve_overhead_headers"`
	ProofsRawPerSec     float64 `json:"serve_proofs_raw_per_sec"`
	ProofsServedPerSec  float64 `json:"serve_proofs_per_sec"`
	OverheadProofs      float64 `json:"serve_overhead_proofs"`
	// The same against the embedded chain's in-process backend (a header
	// is a cache lookup of a few hundred ns there, so this shows the
	// server's own cost per request, about a microsecond).
	HeadersInProcessRawPerSec    float64 `json:"serve_headers_inprocess_raw_per_sec"`
	HeadersInProcessServedPerSec float64 `json:"serve_headers_inprocess_per_sec"`
	OverheadHeadersInProcess     float64 `json:"serve_overhead_headers_inprocess"`
	ProofsInProcessRawPerSec     float64 `json:"serve_proofs_inprocess_raw_per_sec"`
	ProofsInProcessServedPerSec  float64 `json:"serve_proofs_inprocess_per_sec"`
	OverheadProofsInProcess      float64 `json:"serve_overhead_proofs_inprocess"`
	// Memory (heap and stacks) the server holds per connected client, with
	// Clients connected over loopback.
	Clients           int     `json:"serve_clients"`
	MemPerClientBytes float64 `json:"mem_per_client_bytes"`
	ConnectSeconds    float64 `json:"serve_connect_seconds"`
}

// Serve runs the serving benchmark.
func Serve(ctx context.Context, cfg ServeConfig) (*ServeResult, error) {
	if cfg.Duration == 0 {
		cfg.Duration = 3 * time.Second
	}
	if cfg.Clients == 0 {
		cfg.Clients = 10_000
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewLogger(log.DiscardHandler())
	}
	// A chain of 128 blocks and 1,000 funded accounts.
	alloc := types.GenesisAlloc{}
	var accounts []common.Address
	for range 1000 {
		k, _ := crypto.GenerateKey()
		a := crypto.PubkeyToAddress(k.PublicKey)
		accounts = append(accounts, a)
		alloc[a] = types.Account{Balance: big.NewInt(params.Ether)}
	}
	dc, err := devchain.New(devchain.Config{BlockTime: time.Hour, Alloc: alloc, HTTPAddr: "127.0.0.1:0", Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	if err := dc.Start(); err != nil {
		return nil, err
	}
	defer dc.Close()
	for range 127 {
		dc.Commit()
	}
	backend, err := dc.Backend(ctx)
	if err != nil {
		return nil, err
	}
	head, err := backend.CurrentHeader(ctx)
	if err != nil {
		return nil, err
	}
	r := &ServeResult{}
	rpcBackend, err := dc.RPCBackend(ctx)
	if err != nil {
		return nil, err
	}
	if r.HeadersRawPerSec, r.HeadersServedPerSec, r.ProofsRawPerSec, r.ProofsServedPerSec, err = serveOverhead(ctx, cfg, rpcBackend, head, accounts); err != nil {
		return nil, err
	}
	if r.HeadersInProcessRawPerSec, r.HeadersInProcessServedPerSec, r.ProofsInProcessRawPerSec, r.ProofsInProcessServedPerSec, err = serveOverhead(ctx, cfg, backend, head, accounts); err != nil {
		return nil, err
	}
	over := func(raw, served float64) float64 { return max(0, 1-served/raw) }
	r.OverheadHeaders, r.OverheadProofs = over(r.HeadersRawPerSec, r.HeadersServedPerSec), over(r.ProofsRawPerSec, r.ProofsServedPerSec)
	r.OverheadHeadersInProcess = over(r.HeadersInProcessRawPerSec, r.HeadersInProcessServedPerSec)
	r.OverheadProofsInProcess = over(r.ProofsInProcessRawPerSec, r.ProofsInProcessServedPerSec)
	if err := serveMemory(ctx, cfg, backend, r); err != nil {
		return nil, err
	}
	return r, nil
}

// rate runs f on workers goroutines for d and returns calls per second.
func rate(ctx context.Context, d time.Duration, workers int, f func(worker, i int) error) (float64, error) {
	var (
		wg    sync.WaitGroup
		calls atomic.Int64
		fail  atomic.Value
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				if err := f(w, i); err != nil {
					fail.Store(err)
					return
				}
				calls.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := fail.Load().(error); ok {
		return 0, err
	}
	return float64(calls.Load()) / time.Since(start).Seconds(), nil
}

// serveOverhead compares headers and proofs straight from the backend with
// the same items served to paying local sessions.
func serveOverhead(ctx context.Context, cfg ServeConfig, backend chain.Backend, head *types.Header, accounts []common.Address) (headersRaw, headersServed, proofsRaw, proofsServed float64, err error) {
	key, _ := crypto.GenerateKey()
	srv, err := server.New(server.Config{
		Backend: backend, PrivateKey: key, Logger: cfg.Logger, Workers: 4 * runtime.GOMAXPROCS(0),
		// Capacity far above what two cores serve: flow control accounts
		// every request but never has to hold one back.
		Capacity: 16_000_000_000, PaidCapacity: 1_000_000_000,
	})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if err := srv.Start(); err != nil {
		return 0, 0, 0, 0, err
	}
	defer srv.Stop()
	workers := 4 * runtime.GOMAXPROCS(0) // backend calls wait on I/O
	sessions := make([]*server.LocalSession, workers)
	for i := range sessions {
		id := enode.ID{byte(i), 1}
		if err := srv.SetBalance(id, big.NewInt(params.Ether)); err != nil {
			return 0, 0, 0, 0, err
		}
		if sessions[i], err = srv.NewLocalSession(id); err != nil {
			return 0, 0, 0, 0, err
		}
		defer sessions[i].Close()
	}
	top := head.Number.Uint64()
	headerRaw := func(_, i int) error {
		_, err := backend.HeaderByNumber(ctx, uint64(i)%top+1)
		return err
	}
	headerServed := func(w, i int) error {
		rep, err := sessions[w].Do(ctx, protocol.GetBlockHeadersMsg, &protocol.GetBlockHeaders{ReqID: uint64(i), Origin: protocol.ByNumber(uint64(i)%top + 1), Amount: 1})
		if err == nil && len(rep.(*protocol.BlockHeaders).Headers) != 1 {
			err = fmt.Errorf("no header served")
		}
		return err
	}
	proofRaw := func(w, i int) error {
		_, err := backend.Proof(ctx, head.Hash(), accounts[(i*7+w)%len(accounts)], nil)
		return err
	}
	proofServed := func(w, i int) error {
		req := &protocol.GetProofs{ReqID: uint64(i), Requests: []protocol.ProofRequest{{BlockHash: head.Hash(), Address: accounts[(i*7+w)%len(accounts)]}}}
		rep, err := sessions[w].Do(ctx, protocol.GetProofsMsg, req)
		if err == nil && len(rep.(*protocol.Proofs).Proofs) != 1 {
			err = fmt.Errorf("no proof served")
		}
		return err
	}
	// Alternate raw and served runs, four of each, and keep each one's
	// best, so that a noisy moment on the machine (the devnet sealing, a
	// collection) decides neither.
	const rounds = 4
	alternate := func(raw, served func(int, int) error) (r, s float64, err error) {
		for range rounds {
			v, err := rate(ctx, cfg.Duration/rounds, workers, raw)
			if err != nil {
				return 0, 0, err
			}
			r = max(r, v)
			if v, err = rate(ctx, cfg.Duration/rounds, workers, served); err != nil {
				return 0, 0, err
			}
			s = max(s, v)
		}
		return r, s, nil
	}
	if headersRaw, headersServed, err = alternate(headerRaw, headerServed); err != nil {
		return
	}
	proofsRaw, proofsServed, err = alternate(proofRaw, proofServed)
	return
}

// serveMemory connects cfg.Clients idle clients to a server and measures
// what the server's heap and stacks grew by per client.
func serveMemory(ctx context.Context, cfg ServeConfig, backend chain.Backend, r *ServeResult) error {
	key, _ := crypto.GenerateKey()
	srv, err := server.New(server.Config{
		Backend: backend, PrivateKey: key, Logger: cfg.Logger, MaxPeers: cfg.Clients,
		Capacity: 1_000_000_000, FreeCapacity: 10_000,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Stop()
	before := heapAndStacks()
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := srv.Enode()
	if len(cfg.ConnCommand) > 0 {
		args := append(cfg.ConnCommand[1:], "--enode", n.URLv4(), "--clients", strconv.Itoa(cfg.Clients),
			"--chainid", strconv.FormatUint(backend.ChainID(), 10), "--genesis", backend.Genesis().Hex())
		cmd := exec.CommandContext(ctx, cfg.ConnCommand[0], args...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("connections process: %w", err)
		}
		defer cmd.Wait()
		defer cancel()
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			return fmt.Errorf("connections process: %w", err)
		}
		if _, err := strconv.Atoi(strings.TrimSpace(line)); err != nil {
			return fmt.Errorf("connections process said %q", line)
		}
	} else {
		ready := make(chan int, 1)
		go HoldConns(ctx, n, cfg.Clients, backend.ChainID(), backend.Genesis(), func(k int) { ready <- k })
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// The sessions finish their handshakes.
	for deadline := time.Now().Add(30 * time.Second); srv.PeerCount() < cfg.Clients && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	r.ConnectSeconds = time.Since(start).Seconds()
	r.Clients = srv.PeerCount()
	time.Sleep(time.Second)
	after := heapAndStacks()
	if r.Clients > 0 {
		r.MemPerClientBytes = float64(int64(after)-int64(before)) / float64(r.Clients)
	}
	return nil
}

func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
