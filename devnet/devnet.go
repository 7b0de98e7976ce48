// Package devnet runs a whole lightmarket network in one process: the
// embedded development chain, several servers serving it, and a light
// client with its local JSON-RPC. It backs `lightmarket devnet` and the
// end-to-end tests.
package devnet

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/params"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmarket/lightmarket/beacon"
	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/chain/devbeacon"
	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/discovery"
	"github.com/lightmarket/lightmarket/lightclient"
	"github.com/lightmarket/lightmarket/metrics"
	"github.com/lightmarket/lightmarket/nodekey"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/rpcauth"
	"github.com/lightmarket/lightmarket/server"
	"github.com/lightmarket/lightmarket/wallet"
)

// Config configures a devnet. Zero values take the defaults noted.
type Config struct {
	Servers   int               // default 3
	HTTPAddr  string            // client JSON-RPC, default 127.0.0.1:8545
	ChainHTTP string            // the chain's own JSON-RPC; "" = off
	DevKey    *ecdsa.PrivateKey // funded at genesis; default devchain's
	BlockTime time.Duration     // default 1s
	// DataDir keeps node keys (so that enode URLs stay the same across
	// runs), the chain with its payment contract, the servers' ledgers and
	// the client's wallet, so that a devnet stopped or killed restarts
	// where it was; "" = fresh keys and a chain in memory every time.
	DataDir string
	// Fraction is the client's trusted-head threshold (default 75).
	Fraction int
	// HeadMaxAge is how old the client's head may be (default five block
	// times, at least 10 s; negative: any age).
	HeadMaxAge time.Duration
	// LogRange bounds eth_getLogs (default rpcapi.DefaultLogRange).
	LogRange uint64
	// NoPrefetch turns off the client's prefetching of calls at new heads.
	NoPrefetch bool
	// ClientCapacity is the flow-control capacity each server gives the
	// client (default server.DefaultCapacity).
	ClientCapacity uint64
	// MetricsAddr, when set, serves Prometheus metrics of every server
	// (labelled server="0", "1", ...) and of the client at /metrics.
	MetricsAddr string
	// WrapBackend, when set, wraps each server's backend (tests use it to
	// make a server lie). Index i is the server's position.
	WrapBackend func(i int, b chain.Backend) chain.Backend
	// NoPayments turns off payments. Otherwise the Channels contract is
	// deployed at start (ChallengePeriod, default 3600 s), every server
	// takes vouchers and sells Sellable capacity (default half of its
	// 2,000,000) at no less than Reserve wei per capacity-unit-second
	// (default 1,000), and the client pays from the funded account when it
	// is given a demand.
	NoPayments      bool
	ChallengePeriod uint64
	Sellable        uint64
	Reserve         *big.Int
	// Discovery runs the servers behind a discv5 bootnode, which the
	// client is given too: it knows the servers the devnet started and
	// finds any other there (needs payments: servers without an auction
	// run no discovery).
	Discovery bool
	Logger    log.Logger
	// ChainCacheMB is the embedded chain's cache budget (default
	// devchain.DefaultCacheMB).
	ChainCacheMB int
	// ClientCacheMB bounds the client's verified state (default
	// client.DefaultCacheBytes).
	ClientCacheMB int
	// ChainLogger is the embedded chain's logger (default Logger).
	ChainLogger log.Logger
	// BeaconHTTP, when set, runs a development consensus layer over the
	// chain (chain/devbeacon: beacon headers signed by a sync committee of
	// 512 BLS keys) and serves its beacon API on this address.
	BeaconHTTP string
	// Heads is the client's rule for heads (lightclient.Config.Heads:
	// "ulc" by default). With "beacon" or "both" (BeaconHTTP needed) the
	// servers relay the consensus layer and the client verifies its sync
	// committee from the slot-0 checkpoint; with "beacon" it is given the
	// servers as untrusted ones.
	Heads string
	// BeaconAPIFor, when set, gives the consensus layer server i relays
	// (tests make one relay another chain's).
	BeaconAPIFor func(i int, url string) string
}

// BeaconGenesisValidatorsRoot is the devnet consensus layer's genesis
// validators root, which a client verifying its sync committee is
// configured with.
var BeaconGenesisValidatorsRoot = crypto.Keccak256Hash([]byte("lightmarket devnet beacon"))

// Devnet is a running network.
type Devnet struct {
	Chain    *devchain.Chain
	Contract *paychan.Contract // nil with NoPayments
	Wallet   *wallet.Wallet    // the client's; nil with NoPayments
	Servers  []*server.Server
	Admins   []*server.Admin // each server's admin endpoint and status page
	// AdminSecret signs the tokens the admin endpoints want for their
	// control methods.
	AdminSecret [32]byte
	// ControlSecret signs the tokens that the client's spending controls
	// (lm_setDemand) want. Both secrets are kept in SecretDir (DataDir, or
	// a directory removed at Close) as admin.jwtsecret and
	// control.jwtsecret.
	ControlSecret [32]byte
	SecretDir     string
	// Bootnode is where the servers and the client meet, with Discovery.
	Bootnode *discovery.Node
	// Node is the light client, built as an app builds one; Client is
	// its client, and Node.URL its JSON-RPC.
	Node    *lightclient.Node
	Client  *client.Client
	Metrics *metrics.Endpoint // nil unless Config.MetricsAddr is set
	Beacon  *devbeacon.Node   // nil unless Config.BeaconHTTP is set
	// BeaconConfigFile is the consensus configuration of Beacon, as
	// clients and servers read it (--beacon.config), in SecretDir.
	BeaconConfigFile string
	// ClientMetrics are the client's metrics.
	ClientMetrics *metrics.Client
	DevKey        *ecdsa.PrivateKey
	tmpDir        string
}

// Start starts the chain, the servers and the client, and opens the client's
// JSON-RPC. It returns once the client has accepted a head.
func Start(ctx context.Context, cfg Config) (_ *Devnet, err error) {
	if cfg.Servers == 0 {
		cfg.Servers = 3
	}
	if cfg.Servers < 0 {
		return nil, fmt.Errorf("devnet: %d servers", cfg.Servers)
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8545"
	}
	if cfg.BlockTime == 0 {
		cfg.BlockTime = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	if cfg.ChainLogger == nil {
		cfg.ChainLogger = cfg.Logger.New("part", "chain")
	}
	if cfg.DevKey == nil {
		cfg.DevKey, err = crypto.HexToECDSA(devchain.DefaultDevKey)
		if err != nil {
			return nil, err
		}
	}
	if cfg.HeadMaxAge == 0 {
		cfg.HeadMaxAge = max(10*time.Second, 5*cfg.BlockTime)
	}
	if cfg.ChallengePeriod == 0 {
		cfg.ChallengePeriod = 3600
	}
	if cfg.Sellable == 0 {
		cfg.Sellable = 1_000_000
	}
	if cfg.Reserve == nil {
		cfg.Reserve = big.NewInt(1000)
	}
	d := &Devnet{DevKey: cfg.DevKey}
	// Each server receives payments on a key of its own, funded at genesis
	// so that it can pay for its claims.
	payKeys := make([]*ecdsa.PrivateKey, cfg.Servers)
	alloc := types.GenesisAlloc{}
	for i := range payKeys {
		if payKeys[i], err = nodeKey(cfg.DataDir, fmt.Sprintf("server-%d/payment", i)); err != nil {
			return nil, err
		}
		alloc[crypto.PubkeyToAddress(payKeys[i].PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether))}
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	chainDir := ""
	if cfg.DataDir != "" {
		chainDir = filepath.Join(cfg.DataDir, "chain")
	}
	d.Chain, err = devchain.New(devchain.Config{
		BlockTime: cfg.BlockTime,
		CacheMB:   cfg.ChainCacheMB,
		DevKey:    cfg.DevKey,
		Alloc:     alloc,
		HTTPAddr:  cfg.ChainHTTP,
		DataDir:   chainDir,
		Logger:    cfg.ChainLogger,
	})
	if err != nil {
		return nil, fmt.Errorf("devnet: chain: %w", err)
	}
	if err := d.Chain.Start(); err != nil {
		return nil, fmt.Errorf("devnet: chain: %w", err)
	}
	if cfg.BeaconHTTP != "" {
		d.Beacon, err = devbeacon.StartNode(ctx, d.Chain.DirectBackend(), devbeacon.NodeConfig{
			Addr: cfg.BeaconHTTP, Seed: "lightmarket devnet", GenesisValidatorsRoot: BeaconGenesisValidatorsRoot, Logger: cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
	}
	if !cfg.NoPayments {
		eth := ethclient.NewClient(d.Chain.RPCClient())
		// The deployment is sealed at once, not at the next block time:
		// the devnet is up about a block time sooner.
		deployer := sealing{Backend: eth, chain: d.Chain}
		var addr common.Address
		if chainDir != "" {
			addr, _, err = paychan.DeployRecorded(ctx, deployer, cfg.DevKey, cfg.ChallengePeriod, filepath.Join(chainDir, "contract"))
		} else {
			addr, err = paychan.Deploy(ctx, deployer, cfg.DevKey, cfg.ChallengePeriod)
		}
		if err != nil {
			return nil, fmt.Errorf("devnet: deploying the payment contract: %w", err)
		}
		if d.Contract, err = paychan.Open(ctx, eth, addr); err != nil {
			return nil, err
		}
	}
	// The control secrets are files, so that a terminal can sign tokens
	// (lightmarket call --jwtsecret).
	d.SecretDir = cfg.DataDir
	if d.SecretDir == "" {
		if d.tmpDir, err = os.MkdirTemp("", "lightmarket-devnet-"); err != nil {
			return nil, err
		}
		d.SecretDir = d.tmpDir
	}
	if d.AdminSecret, err = rpcauth.LoadOrCreateSecret(filepath.Join(d.SecretDir, "admin.jwtsecret")); err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	if d.ControlSecret, err = rpcauth.LoadOrCreateSecret(filepath.Join(d.SecretDir, "control.jwtsecret")); err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	if cfg.Heads != "" && cfg.Heads != "ulc" && d.Beacon == nil {
		return nil, fmt.Errorf("devnet: heads %q need the development consensus layer (BeaconHTTP)", cfg.Heads)
	}
	if d.Beacon != nil {
		d.BeaconConfigFile = filepath.Join(d.SecretDir, "beacon-config.yaml")
		if err := beacon.WriteConfig(d.BeaconConfigFile, devbeacon.Config(BeaconGenesisValidatorsRoot)); err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
	}
	reg := metrics.NewRegistry()
	var bootnodes []*enode.Node
	if cfg.Discovery && !cfg.NoPayments {
		key, err := nodeKey(cfg.DataDir, "bootnode")
		if err != nil {
			return nil, err
		}
		if d.Bootnode, err = discovery.Listen("127.0.0.1:0", key, nil, nil, nodeDB(cfg.DataDir, "bootnode"), cfg.Logger.New("part", "bootnode")); err != nil {
			return nil, fmt.Errorf("devnet: bootnode: %w", err)
		}
		bootnodes = []*enode.Node{d.Bootnode.Self()}
	}
	var trusted []*enode.Node
	for i := range cfg.Servers {
		backend, err := d.Chain.Backend(ctx)
		if err != nil {
			return nil, fmt.Errorf("devnet: backend: %w", err)
		}
		if cfg.WrapBackend != nil {
			backend = cfg.WrapBackend(i, backend)
		}
		key, err := nodeKey(cfg.DataDir, fmt.Sprintf("server-%d", i))
		if err != nil {
			return nil, err
		}
		scfg := server.Config{
			Backend:      backend,
			ChainConfig:  d.Chain.ChainConfig(),
			PrivateKey:   key,
			ListenAddr:   "127.0.0.1:0",
			FreeCapacity: cfg.ClientCapacity,
			Metrics:      metrics.NewServer(prometheus.WrapRegistererWith(prometheus.Labels{"server": strconv.Itoa(i)}, reg)),
			Logger:       cfg.Logger.New("part", fmt.Sprintf("server-%d", i)),
		}
		if d.Beacon != nil {
			scfg.BeaconAPI, scfg.BeaconConfig = d.Beacon.URL(), devbeacon.Config(BeaconGenesisValidatorsRoot)
			if cfg.BeaconAPIFor != nil {
				scfg.BeaconAPI = cfg.BeaconAPIFor(i, scfg.BeaconAPI)
			}
		}
		if d.Contract != nil {
			scfg.Contract, scfg.PaymentKey = d.Contract, payKeys[i]
			scfg.Sellable, scfg.Reserve = cfg.Sellable, cfg.Reserve
			scfg.Bootnodes = bootnodes
			// Dev money: claim from 1 gwei on, every 5 s, to see claims soon.
			scfg.ClaimThreshold, scfg.SettleInterval = big.NewInt(1e9), 5*time.Second
			if cfg.DataDir != "" {
				scfg.DataDir = filepath.Join(cfg.DataDir, fmt.Sprintf("server-%d", i))
			}
		}
		srv, err := server.New(scfg)
		if err != nil {
			return nil, err
		}
		if err := srv.Start(); err != nil {
			return nil, err
		}
		d.Servers = append(d.Servers, srv)
		admin, err := srv.StartAdmin("127.0.0.1:0", d.AdminSecret)
		if err != nil {
			return nil, err
		}
		d.Admins = append(d.Admins, admin)
		// The client is given the servers the devnet started, with their
		// addresses, so that its first head waits for no discovery walk;
		// with Discovery it finds any other server through the bootnode.
		trusted = append(trusted, srv.Enode())
	}
	// The client is built as an app builds one (package lightclient), on
	// the devnet's contract and funded key.
	clientDir := filepath.Join(d.tmpDir, "client")
	if cfg.DataDir != "" {
		clientDir = filepath.Join(cfg.DataDir, "client")
	}
	backend, err := d.Chain.Backend(ctx)
	if err != nil {
		return nil, err
	}
	headMaxAge := cfg.HeadMaxAge
	lcfg := lightclient.Config{
		Genesis:           backend.Genesis().Hex(),
		Fraction:          cfg.Fraction,
		HeadMaxAge:        lightclient.Duration(headMaxAge),
		HTTP:              cfg.HTTPAddr,
		ControlSecretFile: filepath.Join(d.SecretDir, "control.jwtsecret"),
		LogRange:          cfg.LogRange,
		CacheMB:           cfg.ClientCacheMB,
		DataDir:           clientDir,
		NoPrefetch:        cfg.NoPrefetch,
		Registerer:        reg,
		Logger:            cfg.Logger.New("part", "client"),
	}
	if cfg.Heads != "" && cfg.Heads != "ulc" {
		lcfg.Heads, lcfg.BeaconConfig, lcfg.BeaconCheckpoint = cfg.Heads, d.BeaconConfigFile, d.Beacon.Genesis().Hex()
	}
	for _, n := range trusted {
		if cfg.Heads == "beacon" {
			lcfg.Servers = append(lcfg.Servers, n.URLv4())
		} else {
			lcfg.Trusted = append(lcfg.Trusted, n.URLv4())
		}
	}
	for _, n := range bootnodes {
		lcfg.Bootnodes = append(lcfg.Bootnodes, n.URLv4())
	}
	if d.Contract != nil {
		lcfg.Contract, lcfg.PaymentKey = d.Contract, cfg.DevKey
	}
	if d.Node, err = lightclient.Start(ctx, lcfg); err != nil {
		return nil, err
	}
	d.Client, d.Wallet, d.ClientMetrics = d.Node.Client(), d.Node.Wallet(), d.Node.Metrics()
	if _, err := d.Client.WaitHead(ctx); err != nil {
		return nil, fmt.Errorf("devnet: waiting for the client's first head: %w", err)
	}
	if cfg.MetricsAddr != "" {
		if d.Metrics, err = metrics.Serve(cfg.MetricsAddr, reg); err != nil {
			return nil, fmt.Errorf("devnet: metrics: %w", err)
		}
	}
	return d, nil
}

// Close stops everything, client first.
func (d *Devnet) Close() {
	if d.Node != nil {
		d.Node.Stop()
	}
	if d.Metrics != nil {
		d.Metrics.Close()
	}
	for _, a := range d.Admins {
		a.Close()
	}
	for _, s := range d.Servers {
		s.Stop()
	}
	if d.Bootnode != nil {
		d.Bootnode.Close()
	}
	if d.Beacon != nil {
		d.Beacon.Close()
	}
	if d.tmpDir != "" {
		os.RemoveAll(d.tmpDir)
	}
	if d.Chain != nil {
		d.Chain.Close()
	}
}

func nodeKey(dir, name string) (*ecdsa.PrivateKey, error) {
	if dir == "" {
		return nodekey.LoadOrCreate("")
	}
	return nodekey.LoadOrCreate(filepath.Join(dir, name, "nodekey"))
}

// nodeDB is where a part of the devnet keeps the nodes discovery met ("":
// in memory).
func nodeDB(dataDir, part string) string {
	if dataDir == "" {
		return ""
	}
	return filepath.Join(dataDir, part, "nodes")
}

// Fund sends wei from the devnet's funded account to addr and waits until
// a block holds the transfer.
func (d *Devnet) Fund(ctx context.Context, addr common.Address, wei *big.Int) error {
	eth := ethclient.NewClient(d.Chain.RPCClient())
	from := crypto.PubkeyToAddress(d.DevKey.PublicKey)
	nonce, err := eth.PendingNonceAt(ctx, from)
	if err != nil {
		return err
	}
	cfg := d.Chain.ChainConfig()
	tx, err := types.SignNewTx(d.DevKey, types.LatestSigner(cfg), &types.DynamicFeeTx{
		ChainID: cfg.ChainID, Nonce: nonce, To: &addr, Value: wei, Gas: params.TxGas,
		GasFeeCap: big.NewInt(100 * params.GWei), GasTipCap: big.NewInt(params.GWei),
	})
	if err != nil {
		return err
	}
	if err := eth.SendTransaction(ctx, tx); err != nil {
		return err
	}
	for {
		r, err := eth.TransactionReceipt(ctx, tx.Hash())
		if err == nil && r.Status == types.ReceiptStatusSuccessful {
			return nil
		}
		if err == nil {
			return fmt.Errorf("devnet: funding %v failed", addr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devnet: funding %v: %w", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sealing is a chain backend that seals a block as soon as it has sent a
// transaction.
type sealing struct {
	paychan.Backend
	chain *devchain.Chain
}

func (s sealing) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	if err := s.Backend.SendTransaction(ctx, tx); err != nil {
		return err
	}
	s.chain.Commit()
	return nil
}
