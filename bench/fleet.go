package bench

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/cashier"
	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/internal/cpustat"
	"github.com/lightmarket/lightmarket/internal/pgcluster"
	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/ledgerpg"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/protocol"
)

// FleetConfig configures the fleet benchmark.
type FleetConfig struct {
	// Command runs lightmarket (the benchmark's own binary): the fleet's
	// server processes are Command + "server" ….
	Command []string
	Servers int // servers of the fleet (default 3)
	Clients int // paying clients, one channel each (default 300)
	Each    int // vouchers each client sends in a measured phase (default 100)
	Logger  log.Logger
}

// FleetResult holds the fleet benchmark's figures, from two runs on one
// PostgreSQL and the dev chain, every client with one channel to the
// fleet's receiver:
//
//   - in process: the servers are the payment path of `lightmarket
//     server` (package cashier: voucher decoding, signature check, the
//     durable credit in the shared ledger), each with its own connections;
//     the clients call it directly, without the wire. This measures what
//     the fleet's payment path takes, saturated and at the protocol's
//     highest payment rate.
//   - over the wire: the servers are `lightmarket server` processes and
//     each client holds an lm session with every one and pays them in turn
//     (each session no more often than the protocol allows), as fast as
//     acknowledgements come; then again while one server is killed with
//     SIGKILL and PostgreSQL is stopped with -m immediate and started
//     again. The ledger is then audited against the acknowledgements.
type FleetResult struct {
	Servers int `json:"fleet_servers"`
	Clients int `json:"fleet_clients"`
	// In process, saturated: every client sends its next voucher, to the
	// next server, as soon as the last one is acknowledged. Vouchers
	// acknowledged (committed) per second by the fleet; the machine's CPU
	// time (all processes: the servers, PostgreSQL, the clients' loop) per
	// voucher; the p99 from a voucher's arrival to its acknowledgement,
	// which at saturation is queueing (Little: clients / rate).
	VouchersPerSec    float64 `json:"fleet_vouchers_per_sec"`
	CPUPerVoucherUs   float64 `json:"fleet_cpu_us_per_voucher"`
	AckSaturatedP99Ms float64 `json:"fleet_voucher_ack_saturated_p99_ms"`
	// Of it, this process's: the servers' payment path and the clients'
	// loop; the rest is PostgreSQL's (and the dev chain's, idle).
	ServersCPUPerVoucherUs float64 `json:"fleet_servers_cpu_us_per_voucher"`
	// In process, paced: every client pays as often as the lm protocol
	// lets one session (protocol.PayInterval apart); the rate achieved
	// and the time from a voucher's arrival to its acknowledgement.
	PacedPerSec float64 `json:"fleet_paced_vouchers_per_sec"`
	AckP50Ms    float64 `json:"fleet_voucher_ack_p50_ms"`
	AckP99Ms    float64 `json:"fleet_voucher_ack_p99_ms"`
	// Over the wire: vouchers acknowledged per second and the time from
	// sending a voucher to reading its acknowledgement.
	WirePerSec   float64 `json:"fleet_wire_vouchers_per_sec"`
	WireAckP50Ms float64 `json:"fleet_wire_voucher_ack_p50_ms"`
	WireAckP99Ms float64 `json:"fleet_wire_voucher_ack_p99_ms"`
	// Over the wire, with a server killed and the database restarted:
	// vouchers acknowledged and not (refused as unavailable, or lost with
	// the killed server's sessions); credit the ledger lacks against the
	// acknowledgements, and credit beyond what the vouchers pay, summed
	// over the channels (both must be 0).
	FaultAcked      int   `json:"fleet_fault_vouchers_acked"`
	FaultRefused    int   `json:"fleet_fault_vouchers_refused"`
	CreditLostWei   int64 `json:"fleet_credit_lost_wei"`
	CreditDoubleWei int64 `json:"fleet_credit_double_wei"`
	// Channels in the ledger per paying client: every client paid every
	// server on one channel to the fleet's receiver.
	ChannelsPerClient float64 `json:"fleet_channels_per_client"`
	// One server in process, the same clients and load: the ledger in
	// Pebble (the default, fsynced group commits) against the ledger in
	// PostgreSQL.
	OneServerPebblePerSec   float64 `json:"fleet_one_server_pebble_vouchers_per_sec"`
	OneServerPostgresPerSec float64 `json:"fleet_one_server_postgres_vouchers_per_sec"`
	PebbleVsPostgres        float64 `json:"pebble_vs_postgres_vouchers_ratio"`
}

// fleetPayer is a client of the fleet benchmark: its channel and the
// vouchers it has signed ahead, and what the fleet acknowledged.
type fleetPayer struct {
	id       ledger.ClientID
	channel  common.Hash
	vouchers [][]byte // cumulative: the i-th pays (i+1)*fleetStep wei in total
	next     int
	acked    int64 // highest cumulative amount acknowledged
	credited int64 // sum of the credit acknowledgements reported
}

const (
	fleetStep  = 1000 // wei per voucher
	fleetPaced = 60   // vouchers each client sends in the paced phase
)

// Fleet runs the fleet benchmark. It needs PostgreSQL on the machine.
func Fleet(ctx context.Context, cfg FleetConfig) (*FleetResult, error) {
	if cfg.Servers == 0 {
		cfg.Servers = 3
	}
	if cfg.Clients == 0 {
		cfg.Clients = 300
	}
	if cfg.Each == 0 {
		cfg.Each = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewLogger(log.DiscardHandler())
	}
	pg, err := pgcluster.Start()
	if err != nil {
		return nil, err
	}
	defer pg.Close()
	env, err := newFleetChain(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer env.dc.Close()
	r := &FleetResult{Servers: cfg.Servers, Clients: cfg.Clients}
	dir, err := os.MkdirTemp("", "lightmarket-bench-fleet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	// One server: Pebble, then PostgreSQL, each a fresh ledger.
	env.sign(0, cfg.Each)
	pebble, err := env.cashier(cashier.Config{DataDir: filepath.Join(dir, "pebble"), Key: env.serverKey})
	if err != nil {
		return nil, err
	}
	if r.OneServerPebblePerSec, _, err = env.pay(ctx, []*cashier.Cashier{pebble}, 0); err != nil {
		return nil, fmt.Errorf("one server on Pebble: %w", err)
	}
	pebble.Close()
	url, err := pg.NewDatabase("one")
	if err != nil {
		return nil, err
	}
	one, err := env.cashier(cashier.Config{Ledger: url, Server: "one", Key: env.serverKey})
	if err != nil {
		return nil, err
	}
	env.reset()
	if r.OneServerPostgresPerSec, _, err = env.pay(ctx, []*cashier.Cashier{one}, 0); err != nil {
		return nil, fmt.Errorf("one server on PostgreSQL: %w", err)
	}
	one.Close()
	r.PebbleVsPostgres = r.OneServerPebblePerSec / r.OneServerPostgresPerSec

	// The fleet: its first server holds the key, the others the address.
	if url, err = pg.NewDatabase("fleet"); err != nil {
		return nil, err
	}
	fleet := make([]*cashier.Cashier, cfg.Servers)
	for i := range fleet {
		c := cashier.Config{Ledger: url, Server: fmt.Sprintf("server-%d", i), Receiver: paychan.Address(env.serverKey)}
		if i == 0 {
			c.Key = env.serverKey
		}
		if fleet[i], err = env.cashier(c); err != nil {
			return nil, err
		}
		defer fleet[i].Close()
	}
	env.reset()
	cpu0, own0 := cpustat.Machine(), cpustat.Process()
	var lat []time.Duration
	if r.VouchersPerSec, lat, err = env.pay(ctx, fleet, 0); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	perVoucher := func(d time.Duration) float64 {
		return float64(d) / float64(time.Microsecond) / float64(cfg.Clients*cfg.Each)
	}
	if cpu0 > 0 {
		r.CPUPerVoucherUs = perVoucher(cpustat.Machine() - cpu0)
	}
	r.ServersCPUPerVoucherUs = perVoucher(cpustat.Process() - own0)
	r.AckSaturatedP99Ms = pct(lat, 99)
	// Paced: every client at the protocol's highest payment rate.
	env.sign(cfg.Each, cfg.Each+fleetPaced)
	if r.PacedPerSec, lat, err = env.pay(ctx, fleet, protocol.PayInterval); err != nil {
		return nil, fmt.Errorf("fleet, paced: %w", err)
	}
	r.AckP50Ms, r.AckP99Ms = pct(lat, 50), pct(lat, 99)
	for _, c := range fleet {
		c.Close()
	}

	// The fleet as processes, paid over the wire, with faults.
	if err := env.wireFleet(ctx, pg, r); err != nil {
		return nil, fmt.Errorf("fleet over the wire: %w", err)
	}
	return r, nil
}

// fleetChain is the dev chain with the contract and a channel from every
// client to the fleet's receiver.
type fleetChain struct {
	cfg       FleetConfig
	dc        *devchain.Chain
	contract  *paychan.Contract
	serverKey *ecdsa.PrivateKey
	keys      []*ecdsa.PrivateKey
	payers    []*fleetPayer
}

func newFleetChain(ctx context.Context, cfg FleetConfig) (*fleetChain, error) {
	e := &fleetChain{cfg: cfg}
	e.serverKey, _ = crypto.GenerateKey()
	alloc := types.GenesisAlloc{paychan.Address(e.serverKey): {Balance: big.NewInt(params.Ether)}}
	for range cfg.Clients {
		k, _ := crypto.GenerateKey()
		e.keys = append(e.keys, k)
		alloc[paychan.Address(k)] = types.Account{Balance: big.NewInt(params.Ether)}
	}
	dc, err := devchain.New(devchain.Config{BlockTime: time.Second, Alloc: alloc, HTTPAddr: "127.0.0.1:0", Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	if err := dc.Start(); err != nil {
		dc.Close()
		return nil, err
	}
	e.dc = dc
	eth := ethclient.NewClient(dc.RPCClient())
	addr, err := paychan.Deploy(ctx, eth, dc.DevKey(), 3600)
	if err == nil {
		e.contract, err = paychan.Open(ctx, eth, addr)
	}
	if err != nil {
		dc.Close()
		return nil, err
	}
	// Open the channels, a few dozen transactions at a time.
	recv := paychan.Address(e.serverKey)
	deposit := new(big.Int).Div(big.NewInt(params.Ether), big.NewInt(10))
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, len(e.keys))
		fail error
		mu   sync.Mutex
	)
	for _, k := range e.keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := e.contract.OpenChannel(ctx, k, recv, 1, deposit); err != nil {
				mu.Lock()
				fail = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fail != nil {
		dc.Close()
		return nil, fmt.Errorf("opening channels: %w", fail)
	}
	for _, k := range e.keys {
		e.payers = append(e.payers, &fleetPayer{id: ledger.ClientID(crypto.Keccak256Hash(paychan.Address(k).Bytes())),
			channel: paychan.ChannelID(paychan.Address(k), recv, 1)})
	}
	return e, nil
}

// sign has every client sign its vouchers from..to-1 ahead (the clients'
// work, left out of the measured time).
func (e *fleetChain) sign(from, to int) {
	recv, d := paychan.Address(e.serverKey), e.contract.Domain()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				p := e.payers[i]
				p.vouchers = p.vouchers[:from]
				for j := from; j < to; j++ {
					v, err := d.Sign(e.keys[i], recv, 1, big.NewInt(int64(j+1)*fleetStep))
					if err != nil {
						panic(err)
					}
					p.vouchers = append(p.vouchers, v.Encode())
				}
			}
		}()
	}
	for i := range e.payers {
		work <- i
	}
	close(work)
	wg.Wait()
}

// reset starts the clients' vouchers again, for a fresh ledger.
func (e *fleetChain) reset() {
	for _, p := range e.payers {
		p.next, p.acked, p.credited = 0, 0, 0
	}
}

func (e *fleetChain) cashier(c cashier.Config) (*cashier.Cashier, error) {
	c.Clock, c.Contract, c.Logger = mclock.System{}, e.contract, e.cfg.Logger
	c.ClaimThreshold = new(big.Int).Lsh(big.NewInt(1), 200) // no claims: they are not measured here
	return cashier.New(c)
}

// pay has every client send its vouchers not yet sent, each to the next
// server, and returns the acknowledged rate and latencies; with pace, each
// client sends one voucher every pace (their starts spread over it), else
// the next as soon as the last is acknowledged.
func (e *fleetChain) pay(ctx context.Context, servers []*cashier.Cashier, pace time.Duration) (float64, []time.Duration, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lat   []time.Duration
		acked int
		fail  error
	)
	start := time.Now()
	for i, p := range e.payers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, len(p.vouchers)-p.next)
			slot := start.Add(pace * time.Duration(i) / time.Duration(len(e.payers)))
			for ; p.next < len(p.vouchers); p.next++ {
				if pace > 0 {
					time.Sleep(time.Until(slot))
					slot = slot.Add(pace)
				}
				t0 := time.Now()
				credited, _, err := servers[(i+p.next)%len(servers)].Receive(ctx, [32]byte(p.id), p.vouchers[p.next])
				if err != nil {
					mu.Lock()
					fail = err
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
				p.acked = int64(p.next+1) * fleetStep
				p.credited += credited.Int64()
			}
			mu.Lock()
			lat = append(lat, mine...)
			acked += len(mine)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if fail != nil {
		return 0, nil, fail
	}
	return float64(acked) / elapsed.Seconds(), lat, nil
}

// audit compares the fleet's ledger with what the clients were told:
// credit acknowledged and missing from the ledger, credit beyond what
// the vouchers pay, and the ledger's channels per client.
func (e *fleetChain) audit(ctx context.Context, db *ledgerpg.DB) (lost, double int64, perClient float64, err error) {
	chans, accts, err := db.Load(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	byID := make(map[common.Hash]ledger.Channel, len(chans))
	for _, c := range chans {
		byID[c.ID] = c
	}
	for _, p := range e.payers {
		c, ok := byID[p.channel]
		accepted := int64(0)
		if ok {
			accepted = c.Accepted.Int64()
		}
		if d := p.acked - accepted; d > 0 {
			lost += d
		}
		credited := int64(0)
		if a, ok := accts[p.id]; ok {
			credited = a.Credited.Int64()
		}
		if d := credited - accepted; d != 0 {
			double += max(d, -d)
		}
		if d := p.credited - accepted; d > 0 {
			double += d
		}
	}
	return lost, double, float64(len(chans)) / float64(len(e.payers)), nil
}
