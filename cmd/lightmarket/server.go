package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	bparams "github.com/ethereum/go-ethereum/beacon/params"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/nat"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/beacon"
	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/internal/crash"
	"github.com/lightmarket/lightmarket/internal/dirlock"
	"github.com/lightmarket/lightmarket/metrics"
	"github.com/lightmarket/lightmarket/nodekey"
	"github.com/lightmarket/lightmarket/server"
)

func runServer(ctx context.Context, args []string, stdout io.Writer) error {
	fs, verbosity := newFlagSet("server", "Serves light clients over devp2p from a chain: the embedded development\nchain by default, or an execution client's JSON-RPC given with --backend.")
	var (
		listen    = fs.String("listen", "127.0.0.1:30400", "devp2p listen address")
		natFlag   = fs.String("nat", "none", "how clients reach the server from outside: none, any, upnp, pmp, extip:<IP> or stun (go-ethereum's --nat)")
		extIP     = fs.String("extip", "", "the public IP address clients reach the server at (same as --nat extip:<IP>)")
		bootnodes = fs.String("bootnodes", "", "with an auction (--sellable): comma-separated enode URLs of discv5 bootnodes, where clients find the server")
		backend   = fs.String("backend", "", "execution client JSON-RPC URL (http://, ws:// or IPC path); empty = embedded dev chain")
		network   = fs.String("network", "", "with --backend: the backend's chain (mainnet, sepolia, hoodi, geth-dev or a genesis JSON file), to run the calls it serves witnesses of; default: recognised by its genesis")
		datadir   = fs.String("datadir", "", "directory for the node key, client balances and free usage; empty = a fresh key and nothing kept")
		ledgerURL = fs.String("ledger", "", "keep the payment ledger (channels, vouchers, client accounts) in this PostgreSQL database, postgres://user:password@host:port/database, instead of in --datadir; the servers of a fleet share one")
		maxPeers  = fs.Int("maxclients", 100, "maximum connected clients")
		capacity  = fs.Uint64("capacity", 2_000_000, "serving capacity shared by all clients, in cost units (ns of serving) per ms: 1000000 = one serving thread")
		freeCap   = fs.Uint64("capacity.free", server.DefaultCapacity, "capacity of a free client, shared by the free clients of one IP address")
		paidCap   = fs.Uint64("capacity.paid", 0, "capacity of a paying client (default 10 x capacity.free)")
		workers   = fs.Int("workers", 0, "requests served at once (default: the number of cores)")
		sellable  = fs.Uint64("sellable", 0, "capacity sold in the auction to clients with a balance (0: no auction; they get --capacity.paid)")
		reserve   = fs.String("reserve", "0", "auction reserve price, gwei per capacity-unit-second (decimal)")
		adminAt   = fs.String("admin.http", "127.0.0.1:8550", "admin JSON-RPC (lm_clients, lm_capacity, lm_setBalance, lm_earnings, lm_claim) listen address; keep it on loopback; empty = off")
		adminJWT  = fs.String("admin.jwtsecret", "", "file of the admin secret (32 bytes hex): lm_setBalance and lm_claim, and every call on an address beyond loopback, need a JWT signed with it (default <datadir>/admin.jwtsecret, created on first start)")
		chainHTTP = fs.String("chain.http", "", "embedded chain only: serve its own JSON-RPC on this address")
		devKey    = fs.String("dev.key", devchain.DefaultDevKey, "embedded chain only: hex private key funded at genesis")
		blockTime = fs.Duration("block-time", time.Second, "embedded chain only: interval between blocks")
		chainMB   = fs.Int("chain.cache", devchain.DefaultCacheMB, "embedded chain only: MB of its caches (database blocks 2/7; trie nodes: with --datadir 4/7 clean, else 2/7 dirty, 2/7 clean and a 1/7 snapshot; a clean or snapshot cache only from 32 MB)")
		metricsAt = fs.String("metrics", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:6060 (off unless given)")
		lease     = fs.Duration("payment.lease", 30*time.Second, "in a fleet (--ledger postgres://…): how long the claimer's lease lasts unrenewed, the longest the fleet goes without a claimer when it dies; far below the contract's challenge period")
		threshold = fs.String("payment.threshold", "1000000", "claim a channel once this much (gwei) is unclaimed on it")
		beaconAPI = fs.String("beacon.api", "", "REST API of the consensus client whose light-client data (sync committee updates, signed heads) the server relays to clients, e.g. http://127.0.0.1:5052")
		beaconCfg = fs.String("beacon.config", "", "with --beacon.api, on chains other than mainnet, sepolia and hoodi: the consensus configuration file (config.yaml with GENESIS_VALIDATORS_ROOT)")
		beaconCP  = fs.String("beacon.checkpoint", "", "with --beacon.api: the beacon block root the relay's committee chain starts from (default: its consensus client's finalized block)")
		reqPrice  = fs.String("price.request", "0", "charge paid clients this much (gwei) per 1000 cost units of requests, on top of capacity-time")
		pay       = addPaymentFlags(fs, "server")
		memLimit  = memoryLimitFlag(fs, "none (a server's memory grows with the clients it serves)")
	)
	if err := parseFlags(ctx, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	logger := setupLogging(*verbosity)
	bootNodes, err := parseEnodes(*bootnodes)
	if err != nil {
		return fmt.Errorf("--bootnodes: %w", err)
	}
	natm, err := natFlags(*natFlag, *extIP, *listen)
	if err != nil {
		return err
	}
	if err := setMemoryLimit(logger, *memLimit, 0); err != nil {
		return err
	}
	if err := checkListen(map[string]string{"listen": *listen, "admin.http": *adminAt, "chain.http": *chainHTTP, "metrics": *metricsAt}); err != nil {
		return err
	}
	release, err := dirlock.Acquire(*datadir)
	if err != nil {
		return err
	}
	defer release()
	var keyPath string
	if *datadir != "" {
		keyPath = filepath.Join(*datadir, "nodekey")
	}
	key, err := nodekey.LoadOrCreate(keyPath)
	if err != nil {
		return err
	}

	var (
		be       chain.Backend
		dc       *devchain.Chain
		chainCfg *params.ChainConfig
	)
	if *backend == "" {
		dk, err := crypto.HexToECDSA(trim0x(*devKey))
		if err != nil {
			return fmt.Errorf("--dev.key: %w", err)
		}
		chainDir := ""
		if *datadir != "" {
			chainDir = filepath.Join(*datadir, "chain")
		}
		dc, err = devchain.New(devchain.Config{BlockTime: *blockTime, CacheMB: *chainMB, DevKey: dk, HTTPAddr: *chainHTTP, DataDir: chainDir, Logger: chainLogger(fs, logger)})
		if err != nil {
			return err
		}
		if err := dc.Start(); err != nil {
			return err
		}
		defer dc.Close()
		if be, err = dc.Backend(ctx); err != nil {
			return err
		}
		chainCfg = dc.ChainConfig()
		if u := dc.HTTPURL(); u != "" {
			fmt.Fprintf(stdout, "Embedded chain JSON-RPC: %s\n", u)
		}
	} else {
		rc, err := rpc.DialContext(ctx, *backend)
		if err != nil {
			return fmt.Errorf("--backend %s: %w", *backend, err)
		}
		defer rc.Close()
		if err := waitSynced(ctx, rc, stdout); err != nil {
			return err
		}
		if be, err = chain.NewRPC(ctx, rc); err != nil {
			return fmt.Errorf("--backend %s: %w", *backend, err)
		}
		if chainCfg, err = backendChainConfig(*network, be); err != nil {
			return err
		}
		if chainCfg == nil {
			fmt.Fprintf(stdout, "Chain %d with genesis %x is not a known network: serving no call witnesses (give --network GENESIS.json to serve them)\n", be.ChainID(), be.Genesis())
		}
	}
	reservePrice, err := parseGwei(*reserve)
	if err != nil {
		return fmt.Errorf("--reserve: %w", err)
	}
	contract, payKey, err := pay.setup(ctx, dc, *datadir, false, func(f string, a ...any) { fmt.Fprintf(stdout, f+"\n", a...) })
	if err != nil {
		return err
	}
	claimAt, err := gweiFlag("payment.threshold", *threshold)
	if err != nil {
		return err
	}
	requestPrice, err := gweiFlag("price.request", *reqPrice)
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry()
	beaconConfig, checkpoint, err := serverBeacon(*beaconAPI, *beaconCfg, *beaconCP, be.ChainID())
	if err != nil {
		return err
	}
	if beaconConfig != nil {
		quietUntimedBeacon(beaconConfig.GenesisTime)
	}
	srv, err := server.New(server.Config{
		BeaconAPI: *beaconAPI, BeaconConfig: beaconConfig, BeaconCheckpoint: checkpoint,
		Contract: contract, PaymentKey: payKey, PaymentReceiver: common.HexToAddress(*pay.receiver), ClaimerLease: *lease, ClaimThreshold: claimAt, RequestPrice: requestPrice,
		AfterPaymentStored: crash.Hook("server-after-store"),
		Sellable:           *sellable, Reserve: reservePrice,
		Backend: be, ChainConfig: chainCfg, PrivateKey: key, ListenAddr: *listen, NAT: natm, MaxPeers: *maxPeers, Bootnodes: bootNodes,
		Capacity: *capacity, FreeCapacity: *freeCap, PaidCapacity: *paidCap, DataDir: *datadir, Ledger: *ledgerURL, Workers: *workers,
		Metrics: metrics.NewServer(reg), Logger: logger,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Stop()
	if *adminAt != "" {
		secret, where, err := controlSecret(*adminJWT, *datadir, "admin.jwtsecret")
		if err != nil {
			return fmt.Errorf("--admin.jwtsecret: %w", err)
		}
		admin, err := srv.StartAdmin(*adminAt, secret)
		if err != nil {
			return fmt.Errorf("--admin.http: %w", err)
		}
		defer admin.Close()
		fmt.Fprintf(stdout, "Admin JSON-RPC: %s (token secret: %s)\n", admin.URL(), where)
	}
	if *metricsAt != "" {
		ep, err := metrics.Serve(*metricsAt, reg)
		if err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		defer ep.Close()
		fmt.Fprintf(stdout, "Metrics: %s\n", ep.URL())
	}
	fmt.Fprintf(stdout, "Serving chain %d. Clients connect with:\n  %s\n", be.ChainID(), srv.Enode().URLv4())
	<-ctx.Done()
	return nil
}

// backendChainConfig returns the configuration of the backend's chain:
// that of the network named (a built-in name or a genesis file, whose
// chain id and genesis must be the backend's), or, by default, that of the
// built-in network with the backend's genesis; nil when there is none.
func backendChainConfig(network string, be chain.Backend) (*params.ChainConfig, error) {
	if network == "" {
		for _, name := range []string{"mainnet", "sepolia", "hoodi"} {
			if cfg, genesis, _ := networkConfig(name); genesis == be.Genesis() {
				return cfg, nil
			}
		}
		return nil, nil
	}
	cfg, genesis, err := networkConfig(network)
	if err != nil {
		return nil, err
	}
	if cfg.ChainID.Uint64() != be.ChainID() || genesis != (common.Hash{}) && genesis != be.Genesis() {
		return nil, fmt.Errorf("--network %s: chain %d with genesis %x, but the backend serves chain %d with genesis %x", network, cfg.ChainID, genesis, be.ChainID(), be.Genesis())
	}
	return cfg, nil
}

// waitSynced waits until the execution client has caught up with its
// network (eth_syncing false), saying how far it is every few seconds: a
// syncing node's head is not one to serve.
func waitSynced(ctx context.Context, rc *rpc.Client, stdout io.Writer) error {
	for {
		var raw json.RawMessage
		if err := rc.CallContext(ctx, &raw, "eth_syncing"); err != nil || string(raw) == "false" {
			return nil // synced, or a node that does not say: go on
		}
		var st struct{ CurrentBlock, HighestBlock hexutil.Uint64 }
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil
		}
		if st.CurrentBlock >= st.HighestBlock {
			// At the top of its chain, only indexing (geth --dev reports
			// that at block 0 until its first block): nothing to wait for.
			return nil
		}
		fmt.Fprintf(stdout, "Backend catching up with its network: block %d of %d\n", st.CurrentBlock, st.HighestBlock)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

// natFlags reads --nat and --extip. A server listening on every interface
// with no way to learn its public address would advertise 127.0.0.1, so
// that is refused with what to give instead.
func natFlags(natFlag, extIP, listen string) (nat.Interface, error) {
	if extIP != "" {
		ip := net.ParseIP(extIP)
		if ip == nil {
			return nil, fmt.Errorf("--extip %q is not an IP address", extIP)
		}
		if natFlag != "none" && natFlag != "" {
			return nil, errors.New("give --extip or --nat, not both")
		}
		return nat.ExtIP(ip), nil
	}
	m, err := nat.Parse(natFlag)
	if err != nil {
		return nil, fmt.Errorf("--nat %s: %w", natFlag, err)
	}
	host, _, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); m == nil && (host == "" || (ip != nil && ip.IsUnspecified())) {
		return nil, fmt.Errorf("--listen %s takes connections on every interface, but the enode URL would say 127.0.0.1: give --extip <your public IP> (or --nat any, upnp or pmp to ask the router)", listen)
	}
	return m, nil
}

// serverBeacon resolves the --beacon.* flags of a relaying server.
func serverBeacon(api, file, checkpoint string, chainID uint64) (*bparams.ChainConfig, common.Hash, error) {
	if api == "" {
		if file != "" || checkpoint != "" {
			return nil, common.Hash{}, errors.New("--beacon.config and --beacon.checkpoint need --beacon.api")
		}
		return nil, common.Hash{}, nil
	}
	var cp common.Hash
	if checkpoint != "" {
		b, err := hex.DecodeString(strings.TrimPrefix(checkpoint, "0x"))
		if err != nil || len(b) != 32 {
			return nil, cp, fmt.Errorf("--beacon.checkpoint %q: not a 32-byte hex block root", checkpoint)
		}
		cp = common.BytesToHash(b)
	}
	if file != "" {
		c, err := beacon.LoadConfig(file)
		if err != nil {
			return nil, cp, fmt.Errorf("--beacon.config: %w", err)
		}
		return c, cp, nil
	}
	c, ok := beacon.ConfigForChain(chainID)
	if !ok {
		return nil, cp, fmt.Errorf("--beacon.api: chain %d: %w", chainID, beacon.ErrNoConfig)
	}
	return c, cp, nil
}
