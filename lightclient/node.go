// Package lightclient is lightmarket's light client as a library: Start
// builds and connects one from a Config (the CLI's `client` command is a
// shell over it), and the Node it returns is what an app embeds: an
// in-process JSON-RPC client (RPC), the wallet endpoint as an
// http.Handler (Handler), the service model's choices as calls (Status,
// SetDemand) with events when they change (SubscribeStatus), and the
// app's state (SetAppState, SetNetwork) so that the client spends little
// on a phone in the background or on a metered network.
//
// It owns the wiring of a client (node key, payment wallet, the client,
// its JSON-RPC) and the app's power state; what a client does lives in
// package client, what it answers in package rpcapi. Packages mobile and
// cmd/liblightmarket translate it for gomobile and for C.
package lightclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmarket/lightmarket/beacon"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/internal/crash"
	"github.com/lightmarket/lightmarket/internal/dirlock"
	"github.com/lightmarket/lightmarket/internal/payconf"
	"github.com/lightmarket/lightmarket/metrics"
	"github.com/lightmarket/lightmarket/nodekey"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/rpcapi"
	"github.com/lightmarket/lightmarket/rpcauth"
	"github.com/lightmarket/lightmarket/wallet"
)

// Node is a running light client.
type Node struct {
	cfg        Config
	log        log.Logger
	client     *client.Client
	metricsRec *metrics.Client
	wallet     *wallet.Wallet // nil without payments
	api        *rpcapi.Server
	rpc        *rpc.Client // attached in process
	metrics    *metrics.Endpoint
	secretAt   string
	release    func()
	statusFed  event.Feed

	// change serializes the changes an app asks for (demand, app and
	// network state, stop), held across the client's calls; mu guards the
	// fields, and is never held across a call into the client.
	change   sync.Mutex
	mu       sync.Mutex
	app      AppState
	network  string
	metered  bool
	shelved  *client.Demand // the demand withdrawn for the background
	stopped  bool           // guarded by change
	quit     chan struct{}
	loopDone chan struct{}
}

// AppState is where the embedding app is: in the foreground, or in the
// background (see client.Power for what the client does there).
type AppState string

// The app states.
const (
	Foreground AppState = "foreground"
	Background AppState = "background"
)

// Start builds a client from cfg, connects it to its servers and opens
// its JSON-RPC (in process, and on cfg.HTTP when set). It returns at once:
// until a head is verified, calls that need one say why there is none
// (WaitHead waits for it). Stop releases everything.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	cfg = cfg.withDefaults()
	logger := cfg.Logger
	if logger == nil && cfg.Verbosity != 0 {
		logger = newLogger(cfg.Verbosity)
	}
	if logger == nil {
		logger = log.Root()
	}
	ccfg, err := clientConfig(cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: logger, app: Foreground, network: "unknown", quit: make(chan struct{}), loopDone: make(chan struct{})}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if n.release, err = dirlock.Acquire(cfg.DataDir); err != nil {
		return nil, err
	}
	var keyPath string
	if cfg.DataDir != "" {
		keyPath = filepath.Join(cfg.DataDir, "nodekey")
		ccfg.HistoryFile = filepath.Join(cfg.DataDir, "history.json")
		if ccfg.Heads != client.HeadsULC {
			ccfg.BeaconDir = filepath.Join(cfg.DataDir, "beacon")
		}
		ccfg.NodeDB = filepath.Join(cfg.DataDir, "nodes")
	}
	if ccfg.PrivateKey, err = nodekey.LoadOrCreate(keyPath); err != nil {
		return nil, err
	}
	secret, secretAt, err := rpcauth.ControlSecret(cfg.ControlSecretFile, cfg.DataDir, "control.jwtsecret")
	if err != nil {
		return nil, fmt.Errorf("control secret: %w", err)
	}
	n.secretAt = secretAt
	progress := cfg.Progress
	if progress == nil {
		progress = func(msg string, kv ...any) { logger.Info(msg, kv...) }
	}
	if ccfg.Payer, ccfg.MaxExposure, err = n.openWallet(ctx, progress); err != nil {
		return nil, err
	}
	if ccfg.Demand != nil && ccfg.Payer == nil {
		return nil, fieldErr("paid", "", "the client has no payment method, so it could never pay for it: give payment.key or payment.keyFile (and dataDir)")
	}
	reg := metrics.NewRegistry()
	var registerer prometheus.Registerer = reg
	if cfg.Registerer != nil {
		registerer = cfg.Registerer
	}
	n.metricsRec = metrics.NewClient(registerer, func() float64 { return n.client.HeadLag() })
	ccfg.Metrics = n.metricsRec
	ccfg.Logger = logger
	if n.client, err = client.New(ccfg); err != nil {
		return nil, err
	}
	if err = n.client.Start(); err != nil {
		return nil, err
	}
	n.api, err = rpcapi.New(rpcapi.Config{Client: n.client, CORS: cfg.CORS, VHosts: cfg.VHosts,
		WSOrigins: cfg.WSOrigins, ControlSecret: &secret, LogRange: cfg.LogRange, NoPrefetch: cfg.NoPrefetch,
		Demands: demands{n}, Logger: logger})
	if err != nil {
		return nil, err
	}
	if cfg.HTTP != "" {
		if err = n.api.Listen(cfg.HTTP); err != nil {
			return nil, fieldErr("http", "", "%w", err)
		}
	}
	n.rpc = n.api.Attach()
	if cfg.Metrics != "" {
		if n.metrics, err = metrics.Serve(cfg.Metrics, reg); err != nil {
			return nil, fieldErr("metrics", "", "%w", err)
		}
	}
	go n.statusLoop()
	return n, nil
}

// clientConfig checks cfg and turns it into the client's configuration,
// less what needs the data directory.
func clientConfig(cfg Config) (client.Config, error) {
	var cc client.Config
	var err error
	if cc.Trusted, err = parseEnodes(cfg.Trusted); err != nil {
		return cc, fieldErr("trusted", "", "%w", err)
	}
	if cc.Heads, err = client.ParseHeads(cmp.Or(cfg.Heads, "ulc")); err != nil {
		return cc, fieldErr("heads", cfg.Heads, "want ulc, beacon or both")
	}
	if len(cc.Trusted) == 0 && cc.Heads != client.HeadsBeacon {
		return cc, fieldErr("trusted", "", "give at least one trusted server (or heads \"beacon\" with a checkpoint, trusting none)")
	}
	if cc.Bootnodes, err = parseEnodes(cfg.Bootnodes); err != nil {
		return cc, fieldErr("bootnodes", "", "%w", err)
	}
	for _, n := range cc.Trusted {
		if _, ok := n.TCPEndpoint(); !ok && len(cc.Bootnodes) == 0 && len(cfg.DNS) == 0 {
			return cc, fieldErr("trusted", "", "%s has no address; give it one, or bootnodes to find it", n.URLv4())
		}
	}
	if cc.Servers, err = parseEnodes(cfg.Servers); err != nil {
		return cc, fieldErr("servers", "", "%w", err)
	}
	if cfg.Fraction < 1 || cfg.Fraction > 100 {
		return cc, fieldErr("fraction", strconv.Itoa(cfg.Fraction), "must be a percentage from 1 to 100")
	}
	if cfg.CacheMB < 1 {
		return cc, fieldErr("cacheMB", strconv.Itoa(cfg.CacheMB), "give at least 1 MB")
	}
	if cc.ChainConfig, cc.Genesis, err = Network(cfg.Network); err != nil {
		return cc, err
	}
	if cfg.Genesis != "" {
		b, err := hexBytes(cfg.Genesis)
		if err != nil || len(b) != 32 {
			return cc, fieldErr("genesis", "", "%q is not a 32-byte hex hash", cfg.Genesis)
		}
		copy(cc.Genesis[:], b)
	}
	if cc.Heads != client.HeadsULC {
		if err := beaconConfig(cfg, &cc); err != nil {
			return cc, err
		}
	}
	if cfg.Paid != nil {
		if cc.Demand, err = cfg.Paid.clientDemand(); err != nil {
			return cc, fieldErr("paid", "", "%w", err)
		}
	}
	cc.Fraction = cfg.Fraction
	cc.DNS = cfg.DNS
	cc.MaxServers = cfg.MaxServers
	cc.DiscoveryAddr = cfg.DiscoveryAddr
	cc.HeadMaxAge = time.Duration(cfg.HeadMaxAge)
	cc.CacheBytes = cfg.CacheMB << 20
	cc.PayLead = time.Duration(cfg.Payment.Lead)
	return cc, nil
}

// openWallet connects to the payment chain and opens the wallet, when the
// configuration pays; it returns the payer and the exposure limit.
func (n *Node) openWallet(ctx context.Context, progress func(string, ...any)) (payment.Payer, *big.Int, error) {
	p := n.cfg.Payment
	exposure, err := gwei("payment.exposure", p.Exposure)
	if err != nil {
		return nil, nil, err
	}
	contract, key := n.cfg.Contract, n.cfg.PaymentKey
	if contract == nil {
		pc := payconf.Config{RPC: p.RPC, Contract: p.Contract, Key: p.Key, KeyFile: p.KeyFile, PasswordFile: p.PasswordFile, Confirmations: p.Confirmations}
		if contract, key, err = payconf.Connect(ctx, pc, nil, "", true, func(f string, a ...any) { progress(fmt.Sprintf(f, a...)) }); err != nil || contract == nil {
			return nil, exposure, err
		}
	} else if key == nil {
		return nil, nil, fieldErr("payment", "", "a contract without a key to pay with")
	}
	if n.cfg.DataDir == "" {
		return nil, nil, fieldErr("dataDir", "", "payments need one: vouchers are recorded there before they are sent")
	}
	deposit, err := gwei("payment.deposit", p.Deposit)
	if err != nil {
		return nil, nil, err
	}
	budget, err := gwei("payment.budget", p.Budget)
	if err != nil {
		return nil, nil, err
	}
	n.wallet, err = wallet.Open(wallet.Config{Contract: contract, Key: key, DataDir: filepath.Join(n.cfg.DataDir, "wallet"),
		Deposit: deposit, Budget: budget, Logger: n.log, BeforeSend: crash.Hook("client-before-send"), Progress: progress})
	if err != nil {
		return nil, nil, err
	}
	return n.wallet, exposure, nil
}

// Stop disconnects the client and closes its endpoint and its records;
// it returns once what was paid is on disk. Later calls do nothing.
func (n *Node) Stop() error {
	n.change.Lock()
	defer n.change.Unlock()
	if n.stopped {
		return nil
	}
	n.stopped = true
	close(n.quit)
	<-n.loopDone
	return n.close()
}

// close releases what Start made, in the reverse order.
func (n *Node) close() error {
	var errs []error
	if n.rpc != nil {
		n.rpc.Close()
	}
	if n.api != nil {
		errs = append(errs, n.api.Close())
	}
	if n.metrics != nil {
		errs = append(errs, n.metrics.Close())
	}
	if n.client != nil {
		n.client.Stop()
	}
	if n.wallet != nil {
		errs = append(errs, n.wallet.Close())
	}
	if n.release != nil {
		n.release()
	}
	return errors.Join(errs...)
}

// RPC is a JSON-RPC client of the node in this process, without a socket:
// ethclient.NewClient(node.RPC()) works, subscriptions included, and the
// control methods (lm_setDemand) need no token.
func (n *Node) RPC() *rpc.Client { return n.rpc }

// Handler is the wallet endpoint as an http.Handler, for an app that
// serves it itself: JSON-RPC over HTTP and WebSocket, and the status page.
// Its control methods want the control token, as on cfg.HTTP.
func (n *Node) Handler() http.Handler { return n.api.Handler() }

// Request answers one JSON-RPC request or batch, as the HTTP endpoint
// answers a caller with the control token: errors are JSON-RPC errors.
func (n *Node) Request(ctx context.Context, body []byte) []byte { return n.api.Serve(ctx, body) }

// URL is the HTTP endpoint ("" when cfg.HTTP is empty); WSURL its
// WebSocket.
func (n *Node) URL() string   { return n.api.URL() }
func (n *Node) WSURL() string { return n.api.WSURL() }

// MetricsURL is where Prometheus metrics are served ("" when not).
func (n *Node) MetricsURL() string {
	if n.metrics == nil {
		return ""
	}
	return n.metrics.URL()
}

// ControlSecretFile says where the HTTP endpoint's control secret is.
func (n *Node) ControlSecretFile() string { return n.secretAt }

// Client is the client underneath, for tools that measure it.
func (n *Node) Client() *client.Client { return n.client }

// Metrics is what the client records (see Config.Registerer).
func (n *Node) Metrics() *metrics.Client { return n.metricsRec }

// Wallet is the client's payment wallet (nil without payments).
func (n *Node) Wallet() *wallet.Wallet { return n.wallet }

// WaitHead waits until the client has verified a head.
func (n *Node) WaitHead(ctx context.Context) (*types.Header, error) { return n.client.WaitHead(ctx) }

// Demand is the demand bid (nil: free service only), with the budget in
// force.
func (n *Node) Demand() *Demand {
	d := demands{n}.Demand()
	if d == nil {
		return nil
	}
	out := &Demand{Capacity: d.Max, Min: d.Min, MaxPrice: d.MaxPrice}
	if n.wallet != nil {
		out.Budget = n.wallet.Budget()
	}
	return out
}

// ErrStopped is the answer to a change asked of a stopped node.
var ErrStopped = errors.New("lightclient: node stopped")

// SetDemand bids d from now on; nil: free service only. A demand needs a
// payment method (Config.Payment and DataDir). In the background without
// KeepPaidInBackground it is bid on return. lm_setDemand, through RPC,
// Request or Handler, does the same.
func (n *Node) SetDemand(d *Demand) error {
	var cd *client.Demand
	if d != nil {
		if !n.client.CanPay() {
			return rpcapi.ErrNoPayment
		}
		var err error
		if cd, err = d.clientDemand(); err != nil {
			return err
		}
		if d.Budget != nil {
			if err := n.wallet.SetBudget(d.Budget); err != nil {
				return err
			}
		}
	}
	return demands{n}.SetDemand(cd)
}

// demands is where the node's JSON-RPC reads and sets the demand: the
// client's, or the one shelved while the app is in the background.
type demands struct{ n *Node }

func (ds demands) Demand() *client.Demand {
	n := ds.n
	n.mu.Lock()
	d := n.shelved
	n.mu.Unlock()
	if d != nil {
		return d
	}
	return n.client.Demand()
}

func (ds demands) SetDemand(d *client.Demand) error {
	if err := d.Validate(); err != nil {
		return err
	}
	n := ds.n
	n.change.Lock()
	defer n.change.Unlock()
	if n.stopped {
		return ErrStopped
	}
	n.mu.Lock()
	shelve := n.app == Background && !n.cfg.KeepPaidInBackground
	if shelve {
		n.shelved = d
	}
	n.mu.Unlock()
	if shelve {
		return nil
	}
	return n.client.SetDemand(d)
}

// SetAppState tells the client where the app is. In the background the
// client pauses (client.Power) and, unless KeepPaidInBackground, withdraws
// its demand until the app comes back.
func (n *Node) SetAppState(s AppState) error {
	if s != Foreground && s != Background {
		return fmt.Errorf("app state %q: want %q or %q", s, Foreground, Background)
	}
	n.change.Lock()
	defer n.change.Unlock()
	if n.stopped {
		return ErrStopped
	}
	n.mu.Lock()
	if s == n.app {
		n.mu.Unlock()
		return nil
	}
	n.app = s
	power := n.powerLocked()
	n.mu.Unlock()
	if s == Background && !n.cfg.KeepPaidInBackground {
		if d := n.client.Demand(); d != nil {
			n.mu.Lock()
			n.shelved = d
			n.mu.Unlock()
			if err := n.client.SetDemand(nil); err != nil {
				return err
			}
		}
	}
	n.client.SetPower(power)
	n.mu.Lock()
	d := n.shelved
	if s == Foreground {
		n.shelved = nil
	}
	n.mu.Unlock()
	if s == Foreground && d != nil {
		return n.client.SetDemand(d)
	}
	return nil
}

// Networks an app reports.
var networkKinds = map[string]bool{"wifi": true, "cellular": true, "ethernet": true, "none": true, "unknown": true}

// SetNetwork tells the client what network the device is on ("wifi",
// "cellular", "ethernet", "none" or "unknown") and whether it is metered.
// On a metered network the client prefetches nothing and keeps fewer
// servers.
func (n *Node) SetNetwork(kind string, metered bool) error {
	if !networkKinds[kind] {
		return fmt.Errorf("network kind %q: want wifi, cellular, ethernet, none or unknown", kind)
	}
	n.change.Lock()
	defer n.change.Unlock()
	if n.stopped {
		return ErrStopped
	}
	n.mu.Lock()
	n.network, n.metered = kind, metered
	power := n.powerLocked()
	n.mu.Unlock()
	n.client.SetPower(power)
	return nil
}

// powerLocked is the client's power mode for the app's state; n.mu is
// held.
func (n *Node) powerLocked() client.Power {
	return client.Power{Background: n.app == Background, KeepPaid: n.cfg.KeepPaidInBackground, Metered: n.metered}
}

func parseEnodes(list []string) ([]*enode.Node, error) {
	var nodes []*enode.Node
	for _, s := range list {
		n, err := enode.ParseV4(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func gwei(name, value string) (*big.Int, error) {
	wei, err := paychan.ParseGwei(value)
	if err != nil {
		return nil, fieldErr(name, "", "%w", err)
	}
	return wei, nil
}

// beaconConfig fills what heads signed by the sync committee need: the
// checkpoint, the consensus configuration and the genesis.
func beaconConfig(cfg Config, cc *client.Config) error {
	if cfg.BeaconCheckpoint == "" {
		return fieldErr("beaconCheckpoint", "", "heads %q need the root of a recent finalized beacon block to start from "+
			"(a consensus client's /eth/v1/beacon/headers/finalized, or a block explorer)", cfg.Heads)
	}
	b, err := hexBytes(cfg.BeaconCheckpoint)
	if err != nil || len(b) != 32 {
		return fieldErr("beaconCheckpoint", cfg.BeaconCheckpoint, "not a 32-byte hex block root")
	}
	copy(cc.BeaconCheckpoint[:], b)
	if cfg.BeaconConfig != "" {
		if cc.BeaconConfig, err = beacon.LoadConfig(cfg.BeaconConfig); err != nil {
			return fieldErr("beaconConfig", cfg.BeaconConfig, "%w", err)
		}
	} else {
		var ok bool
		if cc.BeaconConfig, ok = beacon.ConfigForChain(cc.ChainConfig.ChainID.Uint64()); !ok {
			return fieldErr("beaconConfig", "", "%w", beacon.ErrNoConfig)
		}
	}
	if cc.Heads == client.HeadsBeacon && cc.Genesis == (common.Hash{}) {
		return fieldErr("genesis", "", "heads \"beacon\" trust no server to name the chain's genesis: give its hash")
	}
	return nil
}
