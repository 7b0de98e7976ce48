package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/bench"
	"github.com/lightmarket/lightmarket/internal/pgcluster"
	"github.com/lightmarket/lightmarket/sim"
)

func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	fs, verbosity := newFlagSet("bench", "Runs the benchmarks, each on its own devnet on loopback, and prints a\ntable. Benchmarks: devnet (`lightmarket devnet` as a process, to its banner), rpc, serve, qos, pay, fleet, market, history, beacon (default: all;\nfleet needs PostgreSQL's programs on the machine; history generates a 200,000-block chain on first use, minutes, and keeps it in the\nuser's cache directory), soak (an hour of wallet load on a devnet\nprocess) and mobile (an embedded client against a devnet process with 12 s\nblocks: idle, background and resume, about an hour), run only when named.\n\nUsage: lightmarket bench [flags] [devnet] [rpc] [serve] [qos] [pay] [fleet] [market] [history] [beacon] [soak] [mobile]")
	var (
		jsonOut    = fs.String("json", "", "also write every figure to this JSON file")
		compare    = fs.Bool("compare", false, "compare two --json files instead of running: lightmarket bench --compare OLD.json NEW.json prints each figure's change and fails when one moved the wrong way by more than its run-to-run noise")
		calls      = fs.Int("calls", 500, "rpc: calls per method and endpoint")
		phase      = fs.Duration("qos.phase", 10*time.Second, "qos: length of each idle and each flood phase (three of each)")
		cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of the whole run (client, servers and chain node: one process) to this file")
		execTrace  = fs.String("trace", "", "write an execution trace of the whole run to this file (go tool trace; -pprof=sched shows where goroutines waited for a core)")
		session    = fs.Duration("pay.session", 10*time.Second, "pay: length of the paid session")
		fleetN     = fs.Int("fleet.clients", 300, "fleet: paying clients, one channel each")
		fleetEach  = fs.Int("fleet.vouchers", 100, "fleet: vouchers each client sends in each measured phase")
		clients    = fs.Int("serve.clients", 10_000, "serve: clients connected for the memory figure")
		soakFor    = fs.Duration("soak.duration", time.Hour, "soak: how long the devnet runs under load")
		soakMem    = fs.Bool("soak.inmemory", false, "soak: run the devnet without --datadir (its chain then grows in memory)")
		soakRPS    = fs.Int("soak.rate", 1100, "soak: wallet calls per second")
		soakPro    = fs.String("soak.profiles", "", "soak: save the devnet's heap profiles after the warm-up and at the end in this directory")
		histBlocks = fs.Int("history.blocks", 200_000, "history: blocks of the generated chain")
		histDir    = fs.String("history.dir", "", "history: where the generated chain is kept for later runs (default: the user's cache directory)")
		mobileFg   = fs.Duration("mobile.foreground", 5*time.Minute, "mobile: how long the embedded client idles in the foreground")
		mobileBg   = fs.Duration("mobile.background", 10*time.Minute, "mobile: how long each stay in the background lasts")
		mobileN    = fs.Int("mobile.resumes", 5, "mobile: stays in the background, each ended by a verified call")
		mobileBT   = fs.Duration("mobile.blocktime", 12*time.Second, "mobile: the devnet's block time")
		soakArg    = fs.String("soak.devnet", "--chain.cache 28 --cache 16", "soak: further flags for the devnet, space-separated; the default's caches are small enough to fill within the warm-up, so that what grows after it is what no bound holds")
	)
	// Benchmark names and flags may come in any order.
	var which []string
	for {
		if err := parseFlags(ctx, fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		which = append(which, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *compare {
		return compareFigures(stdout, which)
	}
	logger := setupLogging(*verbosity - 1)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *execTrace != "" {
		f, err := os.Create(*execTrace)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		defer trace.Stop()
	}
	if len(which) == 0 {
		which = []string{"devnet", "rpc", "serve", "qos", "pay", "fleet", "market", "history", "beacon"}
	}
	figures := map[string]any{}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tfigure\tvalue\ttarget")
	for _, name := range which {
		if !slices.Contains([]string{"devnet", "rpc", "serve", "qos", "pay", "fleet", "market", "history", "beacon", "soak", "mobile"}, name) {
			return fmt.Errorf("unknown benchmark %q (have: devnet, rpc, serve, qos, pay, fleet, market, history, beacon, soak, mobile)", name)
		}
	}
	for _, name := range which {
		switch name {
		case "devnet":
			self, err := os.Executable()
			if err != nil {
				return err
			}
			r, err := bench.DevnetStart(ctx, bench.DevnetStartConfig{Command: []string{self}})
			if err != nil {
				return fmt.Errorf("devnet: %w", err)
			}
			fmt.Fprintf(tw, "devnet\tlightmarket devnet as a process: start to its banner, p50 and slowest of 3\t%.2f / %.2f s\t<= 2 %s\n",
				r.FirstHeadSeconds, r.FirstHeadMaxSeconds, met(r.FirstHeadMaxSeconds <= 2))
			fmt.Fprintf(tw, "devnet\twarnings and errors before the banner (3 starts)\t%d\t0 %s\n", r.Warnings, met(r.Warnings == 0))
			addFigures(figures, r)
		case "rpc":
			r, err := bench.RPC(ctx, bench.RPCConfig{Calls: *calls, Logger: logger})
			if err != nil {
				return fmt.Errorf("rpc: %w", err)
			}
			fmt.Fprintf(tw, "rpc\tdevnet start to first eth_blockNumber\t%.0f ms\t\n", r.StartupMs)
			fmt.Fprintf(tw, "rpc\teth_getBalance p50 client / node\t%.3f / %.3f ms\t\n", r.GetBalanceP50Ms, r.GetBalanceNodeP50Ms)
			fmt.Fprintf(tw, "rpc\teth_getBalance p99 client / node\t%.3f / %.3f ms\t\n", r.GetBalanceP99Ms, r.GetBalanceNodeP99Ms)
			fmt.Fprintf(tw, "rpc\teth_getBalance p50 ratio (cold: new account each call)\t%.2f\t<= 1.2 %s\n", r.GetBalanceP50Ratio, met(r.GetBalanceP50Ratio <= 1.2))
			fmt.Fprintf(tw, "rpc\teth_getBalance p50 ratio (warm: same account and block)\t%.2f\t\n", r.GetBalanceWarmP50Ratio)
			fmt.Fprintf(tw, "rpc\teth_getBlockByNumber p50 client / node\t%.3f / %.3f ms\t\n", r.GetBlockP50Ms, r.GetBlockNodeP50Ms)
			fmt.Fprintf(tw, "rpc\teth_getBlockByNumber p50 ratio\t%.2f\t\n", r.GetBlockP50Ratio)
			fmt.Fprintf(tw, "rpc\teth_call warm p50 client / node\t%.3f / %.3f ms (ratio %.2f)\t\n", r.CallP50Ms, r.CallNodeP50Ms, r.CallP50Ratio)
			fmt.Fprintf(tw, "rpc\teth_call polled at each new head: p50 client, ratio\t%.3f ms, %.2f\t<= 1.2 %s\n", r.CallColdP50Ms, r.CallColdP50Ratio, met(r.CallColdP50Ratio <= 1.2))
			fmt.Fprintf(tw, "rpc\teth_call polled: requests for state during the call\t%.2f\t<= 1 %s\n", r.CallColdRoundTrips, met(r.CallColdRoundTrips <= 1))
			fmt.Fprintf(tw, "rpc\teth_call never made before, at a new block: p50 client, ratio\t%.3f ms, %.2f (%.2f requests)\t<= 1.2 %s\n", r.CallFirstP50Ms, r.CallFirstP50Ratio, r.CallFirstRoundTrips, met(r.CallFirstP50Ratio <= 1.2))
			fmt.Fprintf(tw, "rpc\teth_estimateGas polled: p50 client, ratio (new: ratio)\t%.3f ms, %.2f (%.2f)\t<= 1.2 %s\n", r.EstimateGasColdP50Ms, r.EstimateGasColdP50Ratio, r.EstimateGasFirstP50Ratio, met(r.EstimateGasColdP50Ratio <= 1.2))
			fmt.Fprintf(tw, "rpc\teth_simulateV1 polled: p50 client, ratio (new: ratio)\t%.3f ms, %.2f (%.2f)\t\n", r.SimulateP50Ms, r.SimulateP50Ratio, r.SimulateFirstP50Ratio)
			fmt.Fprintf(tw, "rpc\teth_call of 50 slots in 5 contracts polled: p50 client, ratio (new: ratio, requests)\t%.3f ms, %.2f (%.2f, %.2f)\t<= 1.5 %s\n", r.CallHeavyColdP50Ms, r.CallHeavyColdP50Ratio, r.CallHeavyFirstP50Ratio, r.CallHeavyFirstRoundTrips, met(r.CallHeavyColdP50Ratio <= 1.5))
			fmt.Fprintf(tw, "rpc\tproofs and codes a witness left out, per new call\t%.2f\t\n", r.WitnessFetchesBeyond)
			addFigures(figures, r)
		case "qos":
			self, err := os.Executable()
			if err != nil {
				return err
			}
			r, err := bench.QoS(ctx, bench.QoSConfig{Phase: *phase, FloodCommand: []string{self, "benchflood"}, Logger: logger})
			if err != nil {
				return fmt.Errorf("qos: %w", err)
			}
			fmt.Fprintf(tw, "qos\tpaid p50 / p99 idle\t%.3f / %.3f ms\t\n", r.PaidP50IdleMs, r.PaidP99IdleMs)
			fmt.Fprintf(tw, "qos\tpaid p50 / p99 under a flood of %.0f free clients\t%.3f / %.3f ms\t\n", r.FreeClients, r.PaidP50FloodMs, r.PaidP99FloodMs)
			fmt.Fprintf(tw, "qos\tpaid p99 ratio flood / idle\t%.2f\t<= 1.5 %s\n", r.PaidP99Ratio, met(r.PaidP99Ratio <= 1.5))
			fmt.Fprintf(tw, "qos\tpaid requests served within 1 s\t%.1f %%\t>= 98 %% %s\n", 100*r.PaidCapacityShare, met(r.PaidCapacityShare >= 0.98))
			fmt.Fprintf(tw, "qos\tfree requests served\t%.0f /s\t\n", r.FreeServedPerSec)
			fmt.Fprintf(tw, "qos\tserver CPU per request under flood: all / serving / session\t%.0f / %.0f / %.0f µs\t\n", r.CPUPerRequestUs, r.ServingPerRequestUs, r.SessionPerRequestUs)
			addFigures(figures, r)
		case "serve":
			self, err := os.Executable()
			if err != nil {
				return err
			}
			r, err := bench.Serve(ctx, bench.ServeConfig{Clients: *clients, ConnCommand: []string{self, "benchconns"}, Logger: logger})
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			fmt.Fprintf(tw, "serve\theaders per second raw / served (JSON-RPC backend)\t%.0f / %.0f\t\n", r.HeadersRawPerSec, r.HeadersServedPerSec)
			fmt.Fprintf(tw, "serve\toverhead headers (flow control, scheduling, accounting)\t%.1f %%\t<= 10 %% %s\n", 100*r.OverheadHeaders, met(r.OverheadHeaders <= 0.1))
			fmt.Fprintf(tw, "serve\tproofs per second raw / served (JSON-RPC backend)\t%.0f / %.0f\t\n", r.ProofsRawPerSec, r.ProofsServedPerSec)
			fmt.Fprintf(tw, "serve\toverhead proofs\t%.1f %%\t<= 10 %% %s\n", 100*r.OverheadProofs, met(r.OverheadProofs <= 0.1))
			fmt.Fprintf(tw, "serve\tin-process backend: overhead headers, proofs\t%.1f %%, %.1f %%\t\n", 100*r.OverheadHeadersInProcess, 100*r.OverheadProofsInProcess)
			fmt.Fprintf(tw, "serve\tmemory per connected client (%d connected in %.1f s)\t%.0f bytes\t\n", r.Clients, r.ConnectSeconds, r.MemPerClientBytes)
			addFigures(figures, r)
		case "pay":
			r, err := bench.Pay(ctx, bench.PayConfig{Session: *session, Logger: logger})
			if err != nil {
				return fmt.Errorf("pay: %w", err)
			}
			fmt.Fprintf(tw, "pay\tvouchers verified per second, one core\t%.0f\t>= 20000 %s\n", r.VoucherVerifyPerSec, met(r.VoucherVerifyPerSec >= 20000))
			fmt.Fprintf(tw, "pay\tfirst vouchers of new senders per second\t%.0f\t\n", r.VoucherVerifyFirstPerSec)
			fmt.Fprintf(tw, "pay\tdurable ledger writes per second\t%.0f (%.1f per fsync)\t>= 10000 %s\n", r.LedgerWritesPerSec, r.LedgerWritesPerCommit, met(r.LedgerWritesPerSec >= 10000))
			if r.PGSkipped != "" {
				fmt.Fprintf(tw, "pay\tdurable ledger writes per second, PostgreSQL\tnot measured: %s\t\n", r.PGSkipped)
			} else {
				fmt.Fprintf(tw, "pay\tdurable ledger writes per second, PostgreSQL (Pebble / PostgreSQL)\t%.0f (%.1f per commit; %.2f)\t\n", r.PGLedgerWritesPerSec, r.PGLedgerWritesPerCommit, r.PebbleVsPostgres)
			}
			fmt.Fprintf(tw, "pay\tpayment bytes / session bytes\t%d / %d = %.4f %%\t<= 1 %% %s\n", r.PaymentBytes, r.SessionBytes, 100*r.PaymentBytesShare, met(r.PaymentBytesShare <= 0.01))
			fmt.Fprintf(tw, "pay\tgas open / topUp\t%d / %d\topen <= 60000 %s\n", r.GasOpen, r.GasTopUp, met(r.GasOpen <= 60000))
			fmt.Fprintf(tw, "pay\tgas claim\t%d\t<= 60000 %s\n", r.GasClaim, met(r.GasClaim <= 60000))
			fmt.Fprintf(tw, "pay\tgas close (start + finish)\t%d + %d = %d\t\n", r.GasStartClose, r.GasFinishClose, r.GasClose)
			addFigures(figures, r)
		case "fleet":
			self, err := os.Executable()
			if err != nil {
				return err
			}
			r, err := bench.Fleet(ctx, bench.FleetConfig{Command: []string{self}, Clients: *fleetN, Each: *fleetEach, Logger: logger})
			if errors.Is(err, pgcluster.ErrNotInstalled) {
				fmt.Fprintf(tw, "fleet\tnot measured: %v\t\t\n", err)
				continue
			}
			if err != nil {
				return fmt.Errorf("fleet: %w", err)
			}
			fmt.Fprintf(tw, "fleet\t%d servers, one PostgreSQL, %d clients: vouchers acknowledged per second\t%.0f\t>= 20000 %s\n", r.Servers, r.Clients, r.VouchersPerSec, met(r.VouchersPerSec >= 20000))
			fmt.Fprintf(tw, "fleet\tmachine CPU per voucher (of it the servers and clients' loop, the rest PostgreSQL); saturated ack p99\t%.0f µs (%.0f µs); %.1f ms\t\n", r.CPUPerVoucherUs, r.ServersCPUPerVoucherUs, r.AckSaturatedP99Ms)
			fmt.Fprintf(tw, "fleet\tevery client paying as often as the protocol allows: vouchers per second, ack p50 / p99\t%.0f, %.2f / %.2f ms\tp99 <= 20 %s\n", r.PacedPerSec, r.AckP50Ms, r.AckP99Ms, met(r.AckP99Ms <= 20))
			fmt.Fprintf(tw, "fleet\tover the wire (server processes, lm sessions): vouchers per second, ack p50 / p99\t%.0f, %.2f / %.2f ms\t\n", r.WirePerSec, r.WireAckP50Ms, r.WireAckP99Ms)
			fmt.Fprintf(tw, "fleet\tover the wire, a server killed (SIGKILL) and the database restarted: vouchers acknowledged / not\t%d / %d\t\n", r.FaultAcked, r.FaultRefused)
			fmt.Fprintf(tw, "fleet\tcredit lost / credited twice\t%d / %d wei\t0 %s\n", r.CreditLostWei, r.CreditDoubleWei, met(r.CreditLostWei == 0 && r.CreditDoubleWei == 0))
			fmt.Fprintf(tw, "fleet\tchannels per client (paying every server)\t%.2f\t1 %s\n", r.ChannelsPerClient, met(r.ChannelsPerClient == 1))
			fmt.Fprintf(tw, "fleet\tone server: vouchers per second, Pebble / PostgreSQL\t%.0f / %.0f = %.2f\t\n", r.OneServerPebblePerSec, r.OneServerPostgresPerSec, r.PebbleVsPostgres)
			addFigures(figures, r)
		case "market":
			// The simulator at its default size (10,000 clients, 50
			// servers, a day), its clients running the client's buyer.
			r, err := sim.Run(sim.Config{})
			if err != nil {
				return fmt.Errorf("market: %w", err)
			}
			fmt.Fprintf(tw, "market	allocative efficiency, %d clients, %d servers, a day	%.3f	>= 0.98 %s\n", r.Clients, r.Servers, r.AllocativeEfficiency, met(r.AllocativeEfficiency >= 0.98))
			fmt.Fprintf(tw, "market	price dispersion across servers (quality-adjusted)	%.3f (%.3f)	\n", r.PriceDispersion, r.AdjustedDispersion)
			fmt.Fprintf(tw, "market	moves per client-hour (rebids after losing capacity)	%.3f (%.3f)	\n", r.MovesPerClientHour, r.RebidsPerClientHour)
			fmt.Fprintf(tw, "market	wall time of the simulated day	%.1f s	<= 60 s %s\n", r.WallSeconds, met(r.WallSeconds <= 60))
			figures["allocative_efficiency"] = r.AllocativeEfficiency
			figures["price_dispersion"] = r.PriceDispersion
			figures["price_dispersion_quality_adjusted"] = r.AdjustedDispersion
			figures["moves_per_client_hour"] = r.MovesPerClientHour
			figures["rebids_per_client_hour"] = r.RebidsPerClientHour
			figures["channels_per_client"] = r.ChannelsPerClient
			figures["wall_seconds"] = r.WallSeconds
		case "beacon":
			quietUntimedBeacon(0) // the dev consensus layer's slots are its blocks
			r, err := bench.Beacon(ctx, bench.BeaconConfig{Logger: logger})
			if err != nil {
				return fmt.Errorf("beacon: %w", err)
			}
			fmt.Fprintf(tw, "beacon\tfresh client, checkpoint in the current period, to its first verified head (p50 of %d)\t%.0f ms\t<= 1000 %s\n", len(r.FirstHeadsMs), r.FirstHeadMs, met(r.FirstHeadMs <= 1000))
			fmt.Fprintf(tw, "beacon\tconsensus layer's head event to the client's verified head: p50 (p99)\t%.1f (%.1f) ms\t<= 300 %s\n", r.HeadLagP50Ms, r.HeadLagP99Ms, met(r.HeadLagP50Ms <= 300))
			fmt.Fprintf(tw, "beacon\tclient's verification time per head\t%.0f µs\t\n", r.VerifyUsPerHead)
			fmt.Fprintf(tw, "beacon\tbeacon message bytes per head (%d relaying servers)\t%.0f\t\n", r.Servers, r.BytesPerHead)
			addFigures(figures, r)
		case "history":
			r, err := bench.History(ctx, bench.HistoryConfig{Blocks: *histBlocks, Dir: *histDir, Logger: logger})
			if err != nil {
				return fmt.Errorf("history: %w", err)
			}
			fmt.Fprintf(tw, "history\tchain of %d blocks: set up (chain, servers' sections)\t%.1f s\t\n", r.Blocks, r.SetupSeconds)
			fmt.Fprintf(tw, "history\theader 1,000 blocks deep from a fresh client: round trips\t%.0f\t1 %s\n", r.Header1kRoundTrips, met(r.Header1kRoundTrips <= 1))
			fmt.Fprintf(tw, "history\theader 100,000 blocks deep from a fresh client: round trips\t%.0f\t<= 2 %s\n", r.Header100kRoundTrips, met(r.Header100kRoundTrips <= 2))
			fmt.Fprintf(tw, "history\theader 100,000 blocks deep: p50\t%.3f ms\t\n", r.Header100kP50Ms)
			fmt.Fprintf(tw, "history\teth_getLogs over 100,000 blocks (%d matches): p50 client / node, requests\t%.1f / %.1f ms, %.0f\t\n", r.Logs100kMatches, r.Logs100kP50Ms, r.Logs100kNodeP50Ms, r.Logs100kRequests)
			fmt.Fprintf(tw, "history\teth_getLogs over 100,000 blocks: p50 ratio\t%.2f\t<= 3 %s\n", r.Logs100kP50Ratio, met(r.Logs100kP50Ratio <= 3))
			fmt.Fprintf(tw, "history\teth_getLogs over 100,000 blocks: round trips one after the other\t%.1f\t<= 3 %s\n", r.Logs100kRoundTrips, met(r.Logs100kRoundTrips <= 3))
			addFigures(figures, r)
		case "soak":
			self, err := os.Executable()
			if err != nil {
				return err
			}
			r, err := bench.Soak(ctx, bench.SoakConfig{Command: append([]string{self, "devnet"}, strings.Fields(*soakArg)...), Duration: *soakFor, Rate: *soakRPS, InMemory: *soakMem, ProfileDir: *soakPro, Logger: logger})
			if err != nil {
				return fmt.Errorf("soak: %w", err)
			}
			fmt.Fprintf(tw, "soak\tcalls, per second, errors (first)\t%d, %.0f/s, %d %s\t0 errors %s\n", r.Calls, r.CallsPerSec, r.Errors, r.FirstError, met(r.Errors == 0))
			fmt.Fprintf(tw, "soak\ttransfers sent\t%d\t\n", r.Txs)
			fmt.Fprintf(tw, "soak\tgoroutines min / max / end\t%d / %d / %d\t\n", r.GoroutinesMin, r.GoroutinesMax, r.GoroutinesEnd)
			fmt.Fprintf(tw, "soak\tRSS after warm-up / end / 30 s after the load\t%.1f / %.1f / %.1f MiB\t\n", r.RSSWarmMiB, r.RSSEndMiB, r.RSSIdleMiB)
			fmt.Fprintf(tw, "soak\tanonymous RSS after warm-up / end / 30 s after the load\t%.1f / %.1f / %.1f MiB\t\n", mib(r.Warm.AnonBytes), mib(r.Samples[len(r.Samples)-1].AnonBytes), mib(r.Idle.AnonBytes))
			fmt.Fprintf(tw, "soak\tRSS, anonymous RSS, Go heap in use, Go heap kept by GC: trend after warm-up\t%+.3f, %+.3f, %+.3f, %+.3f MiB/min\t\n", r.RSSSlopeMiBMin, r.AnonSlopeMiBMin, r.HeapSlopeMiBMin, r.LiveSlopeMiBMin)
			end := r.Samples[len(r.Samples)-1]
			fmt.Fprintf(tw, "soak\tGo heap kept by GC, client's state cache: after warm-up / end\t%.1f / %.1f, %.1f / %.1f MiB\t\n", mib(r.Warm.LiveBytes), mib(end.LiveBytes), mib(r.Warm.CacheBytes), mib(end.CacheBytes))
			fmt.Fprintf(tw, "soak\tat the end / 30 s after: Go heap in use, Go runtime total, RSS beyond it\t%.0f / %.0f, %.0f / %.0f, %.0f / %.0f MiB\t\n",
				mib(end.HeapBytes), mib(r.Idle.HeapBytes), mib(end.GoSysBytes), mib(r.Idle.GoSysBytes), mib(end.RSSBytes)-mib(end.GoSysBytes), mib(r.Idle.RSSBytes)-mib(r.Idle.GoSysBytes))
			addFigures(figures, r)
		case "mobile":
			self, err := os.Executable()
			if err != nil {
				return err
			}
			r, err := bench.Mobile(ctx, bench.MobileConfig{Command: []string{self}, BlockTime: *mobileBT, Foreground: *mobileFg,
				Background: *mobileBg, Resumes: *mobileN, Logger: logger})
			if err != nil {
				return fmt.Errorf("mobile: %w", err)
			}
			fmt.Fprintf(tw, "mobile	bytes per hour, foreground idle following the head (%v blocks)	%.0f	<= 2 MB %s\n", *mobileBT, r.IdleBytesPerHour, met(r.IdleBytesPerHour <= 2e6))
			fmt.Fprintf(tw, "mobile	bytes per hour, background	%.0f	<= 0.5 MB %s\n", r.BackgroundBytesPerHour, met(r.BackgroundBytesPerHour <= 0.5e6))
			fmt.Fprintf(tw, "mobile	CPU seconds per hour, foreground / background	%.1f / %.1f	<= 20 / 5 %s\n", r.IdleCPUSecondsPerHour, r.BackCPUSecondsPerHour, met(r.IdleCPUSecondsPerHour <= 20 && r.BackCPUSecondsPerHour <= 5))
			fmt.Fprintf(tw, "mobile	first verified answer after %v in the background, p50 of %d (round trips)	%.1f ms (%.0f)	<= 1000 ms %s\n", *mobileBg, len(r.ResumeMs), r.ResumeFirstAnswerMs, r.ResumeRoundTrips, met(r.ResumeFirstAnswerMs <= 1000))
			fmt.Fprintf(tw, "mobile	first verified answer of a new process on its data directory, p50	%.0f ms	<= 1500 ms %s\n", r.ColdStartFirstAnswerMs, met(r.ColdStartFirstAnswerMs <= 1500))
			fmt.Fprintf(tw, "mobile	anonymous RSS of the process holding the client, foreground	%.1f MB	<= 60 MB %s\n", r.RSSMB, met(r.RSSMB <= 60))
			fmt.Fprintf(tw, "mobile	verified eth_getBalance in process / over localhost HTTP, p50	%.0f / %.0f µs (ratio %.2f)	<= 1.0 %s\n", r.EmbedP50Us, r.EmbedHTTPP50Us, r.EmbedP50Ratio, met(r.EmbedP50Ratio <= 1))
			fmt.Fprintf(tw, "mobile	data directory at the end	%d bytes	\n", r.DataDirBytes)
			addFigures(figures, r)
		}
	}
	tw.Flush()
	if *jsonOut != "" {
		enc, _ := json.MarshalIndent(figures, "", "  ")
		if err := os.WriteFile(*jsonOut, append(enc, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func met(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(NOT met)"
}

// compareFigures prints what changed between two --json files and fails
// when a figure moved the wrong way beyond its noise.
func compareFigures(stdout io.Writer, files []string) error {
	if len(files) != 2 {
		return errors.New("usage: lightmarket bench --compare OLD.json NEW.json")
	}
	old, err := bench.ReadFigures(files[0])
	if err != nil {
		return err
	}
	cur, err := bench.ReadFigures(files[1])
	if err != nil {
		return err
	}
	changes := bench.Compare(old, cur, bench.Noise)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\told\tnew\tchange\tnoise\t")
	worse := 0
	for _, c := range changes {
		mark := ""
		switch {
		case c.Worse:
			mark, worse = "WORSE", worse+1
		case c.Better == bench.Either:
			mark = "(count)"
		}
		fmt.Fprintf(tw, "%s\t%.4g\t%.4g\t%+.1f %%\t±%.0f %%\t%s\n", c.Key, c.Old, c.New, 100*c.Relative, 100*c.Noise, mark)
	}
	tw.Flush()
	if len(changes) == 0 {
		return errors.New("the two files share no figure")
	}
	if worse > 0 {
		return fmt.Errorf("%d of %d figures moved the wrong way by more than their run-to-run noise", worse, len(changes))
	}
	fmt.Fprintf(stdout, "%d figures compared, none worse beyond its noise\n", len(changes))
	return nil
}

// addFigures merges the JSON fields of v into figures.
func addFigures(figures map[string]any, v any) {
	enc, _ := json.Marshal(v)
	json.Unmarshal(enc, &figures)
}

// runBenchFlood is the flood process of `bench qos`: free clients asking a
// server for proofs as fast as flow control allows. It prints the number of
// requests served.
func runBenchFlood(ctx context.Context, args []string, stdout io.Writer) error {
	fs, verbosity := newFlagSet("benchflood", "The free clients of `lightmarket bench qos`, run in their own process.")
	var (
		url      = fs.String("enode", "", "server to flood")
		clients  = fs.Int("clients", 20, "free clients, from 127.0.0.2 on")
		duration = fs.Duration("duration", 10*time.Second, "how long to flood")
	)
	if err := parseFlags(ctx, fs, args); err != nil {
		return err
	}
	logger := setupLogging(*verbosity - 2)
	n, err := enode.ParseV4(*url)
	if err != nil {
		return fmt.Errorf("--enode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	served, err := bench.Flood(ctx, n, *clients, logger)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, served)
	return nil
}

func runBenchConns(ctx context.Context, args []string, stdout io.Writer) error {
	fs, verbosity := newFlagSet("benchconns", "The idle clients of `lightmarket bench serve`, held in their own process.")
	var (
		url     = fs.String("enode", "", "server to connect to")
		clients = fs.Int("clients", 10_000, "connections to hold")
		chainID = fs.Uint64("chainid", 0, "the server's chain id")
		genesis = fs.String("genesis", "", "the server's genesis hash")
	)
	if err := parseFlags(ctx, fs, args); err != nil {
		return err
	}
	setupLogging(*verbosity - 2)
	n, err := enode.ParseV4(*url)
	if err != nil {
		return fmt.Errorf("--enode: %w", err)
	}
	g, err := parseHash(*genesis)
	if err != nil {
		return fmt.Errorf("--genesis: %w", err)
	}
	return bench.HoldConns(ctx, n, *clients, *chainID, g, func(k int) { fmt.Fprintln(stdout, k) })
}
