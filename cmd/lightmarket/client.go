package main

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/beacon"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/lightclient"
	"github.com/lightmarket/lightmarket/rpcapi"
)

func runClient(ctx context.Context, args []string, stdout io.Writer) error {
	fs, verbosity := newFlagSet("client", "Runs a light client: connects to servers, follows the head its trusted\nservers sign, verifies every answer and serves a JSON-RPC for wallets.")
	var (
		trusted   = fs.String("ulc.servers", "", "comma-separated enode URLs of trusted servers (they sign heads); enode://<key> without an address is found through --bootnodes")
		servers   = fs.String("servers", "", "comma-separated enode URLs of further, untrusted servers (data only)")
		bootnodes = fs.String("bootnodes", "", "comma-separated enode URLs of discv5 bootnodes, to find servers")
		dnsLists  = fs.String("discovery.dns", "", "comma-separated EIP-1459 node lists (enrtree://…) to find servers in")
		maxSrv    = fs.Int("maxservers", 6, "servers found by discovery kept connected (for free service, and to buy from)")
		discAddr  = fs.String("discovery.addr", "", "UDP address of the client's discv5 socket (default: an ephemeral port)")
		fraction  = fs.Int("ulc.fraction", 75, "percentage (1-100) of trusted servers that must sign a head")
		heads     = fs.String("heads", "ulc", "which heads to accept: ulc (signed by --ulc.fraction of the trusted servers), beacon (signed by the beacon chain's sync committee, from --beacon.checkpoint: no trusted server needed) or both")
		beaconCP  = fs.String("beacon.checkpoint", "", "with --heads beacon or both: root of a recent finalized beacon block (within the weak-subjectivity period, two weeks) to start from")
		beaconCfg = fs.String("beacon.config", "", "with --heads beacon or both, on chains other than mainnet, sepolia and hoodi: the consensus configuration file (config.yaml with GENESIS_VALIDATORS_ROOT)")
		network   = fs.String("network", "dev", "chain: dev (lightmarket's embedded dev chain), geth-dev (geth --dev), mainnet, sepolia, hoodi, or the path of a geth-style genesis JSON file")
		genesis   = fs.String("genesis", "", "genesis hash; dev networks default: the one --ulc.fraction of the trusted servers agree on")
		maxAge    = fs.Duration("head.maxage", client.DefaultHeadMaxAge, "answer nothing that needs the head once the verified head is older than this (0: any age)")
		httpAddr  = fs.String("http", "127.0.0.1:8545", "JSON-RPC listen address (HTTP and WebSocket)")
		cors      = fs.String("http.corsdomain", "", "comma-separated browser origins allowed to call the JSON-RPC")
		vhosts    = fs.String("http.vhosts", "localhost", "comma-separated Host header values accepted (IP addresses always are), against DNS rebinding; * = any")
		wsOrigins = fs.String("ws.origins", "", "comma-separated browser origins allowed to open a WebSocket, each exact with its port (e.g. http://localhost:3000); programs send no origin and are always allowed")
		control   = fs.String("control.jwtsecret", "", "file of the control secret (32 bytes hex): lm_setDemand needs a JWT signed with it (default <datadir>/control.jwtsecret, created on first start)")
		logRange  = fs.Uint64("logs.range", rpcapi.DefaultLogRange, "most blocks one eth_getLogs may cover")
		cacheMB   = fs.Int("cache", client.DefaultCacheBytes>>20, "MB of verified state (accounts, storage, code, trie nodes) kept for later calls")
		datadir   = fs.String("datadir", "", "directory for the node key and the payment wallet; empty = a fresh key each run, and no payments")
		metricsAt = fs.String("metrics", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:6061 (off unless given)")
		paidCap   = fs.Uint64("paid.capacity", 0, "capacity to bid for at every server (cost units per ms); 0: free service only")
		paidMin   = fs.Uint64("paid.min", 0, "least capacity worth paying for (default: all of --paid.capacity)")
		maxPrice  = fs.String("paid.maxprice", "0", "highest price bid, gwei per capacity-unit-second (decimal)")
		deposit   = fs.String("payment.deposit", "10000000", "gwei locked in a new channel, and added by each top-up")
		budget    = fs.String("payment.budget", "1000000000", "most gwei paid to one server in total")
		exposure  = fs.String("payment.exposure", "1000000", "most gwei paid ahead to one server at a time")
		lead      = fs.Duration("payment.lead", 10*time.Second, "pay ahead for about this much paid service")
		pay       = addPaymentFlags(fs, "client")
		memLimit  = memoryLimitFlag(fs, "1.5 × (64 + --cache)")
	)
	if err := parseFlags(ctx, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	logger := setupLogging(*verbosity)
	if err := checkListen(map[string]string{"http": *httpAddr, "metrics": *metricsAt}); err != nil {
		return err
	}
	if *maxSrv < 0 {
		return fmt.Errorf("--maxservers %d: give 0 or more", *maxSrv)
	}
	if *cacheMB < 1 {
		return fmt.Errorf("--cache %d: give at least 1 MB", *cacheMB)
	}
	if *fraction < 1 || *fraction > 100 { // 0 in the configuration is the default
		return fmt.Errorf("--ulc.fraction %d: must be a percentage from 1 to 100", *fraction)
	}
	if err := setMemoryLimit(logger, *memLimit, derivedMemoryLimitMB(*cacheMB)); err != nil {
		return err
	}
	headMaxAge := *maxAge
	if headMaxAge == 0 {
		headMaxAge = -1 // any age
	}
	cfg := lightclient.Config{
		Network:           *network,
		Genesis:           *genesis,
		Trusted:           splitList(*trusted),
		Fraction:          *fraction,
		Heads:             *heads,
		BeaconCheckpoint:  *beaconCP,
		BeaconConfig:      *beaconCfg,
		Servers:           splitList(*servers),
		Bootnodes:         splitList(*bootnodes),
		DNS:               splitList(*dnsLists),
		MaxServers:        cmp.Or(*maxSrv, -1), // 0 here: none; 0 in the config: the default
		DiscoveryAddr:     *discAddr,
		HeadMaxAge:        lightclient.Duration(headMaxAge),
		HTTP:              *httpAddr,
		CORS:              splitList(*cors),
		VHosts:            splitList(*vhosts),
		WSOrigins:         splitList(*wsOrigins),
		ControlSecretFile: *control,
		LogRange:          *logRange,
		CacheMB:           *cacheMB,
		DataDir:           *datadir,
		Metrics:           *metricsAt,
		Payment: lightclient.Payment{
			RPC: *pay.rpc, Contract: *pay.contract, Key: *pay.key, KeyFile: *pay.keyfile, PasswordFile: *pay.password,
			Confirmations: *pay.confirmations, Deposit: *deposit, Budget: *budget, Exposure: *exposure, Lead: lightclient.Duration(*lead),
		},
		Logger:   logger,
		Progress: func(msg string, kv ...any) { fmt.Fprintln(stdout, progressLine(msg, kv...)) },
	}
	if *paidCap > 0 {
		price, err := parseGwei(*maxPrice)
		if err != nil {
			return fmt.Errorf("--paid.maxprice: %w", err)
		}
		cfg.Paid = &lightclient.Demand{Capacity: *paidCap, Min: *paidMin, MaxPrice: price}
	}
	if *beaconCfg != "" {
		if bc, err := beacon.LoadConfig(*beaconCfg); err == nil {
			quietUntimedBeacon(bc.GenesisTime)
		}
	}
	node, err := lightclient.Start(ctx, cfg)
	if err != nil {
		return flagError(err)
	}
	defer node.Stop()
	fmt.Fprintf(stdout, "Wallet JSON-RPC: %s (WebSocket %s; control secret: %s)\n", node.URL(), node.WSURL(), node.ControlSecretFile())
	switch *heads {
	case "beacon":
		fmt.Fprintf(stdout, "Waiting for a head the sync committee signed, from checkpoint %s...\n", *beaconCP)
	case "both":
		fmt.Fprintf(stdout, "Waiting for a head the sync committee and %d%% of %d trusted servers signed...\n", *fraction, len(cfg.Trusted))
	default:
		fmt.Fprintf(stdout, "Waiting for %d%% of %d trusted servers to sign a head...\n", *fraction, len(cfg.Trusted))
	}
	head, err := waitWithProgress(ctx, node.Client(), stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Head %d accepted.\n", head.Number)
	if u := node.MetricsURL(); u != "" {
		fmt.Fprintf(stdout, "Metrics: %s\n", u)
	}
	<-ctx.Done()
	return nil
}

// waitWithProgress waits for the client's first head, saying every two
// seconds how many servers it reached and how far the head is.
func waitWithProgress(ctx context.Context, c *client.Client, stdout io.Writer) (*types.Header, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			fmt.Fprintf(stdout, "  %s\n", c.HeadStatus().Reason)
		}
	}()
	return c.WaitHead(ctx)
}

// progressLine formats a progress report for the terminal.
func progressLine(msg string, kv ...any) string {
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	return b.String()
}

// networkConfig returns the chain configuration and genesis hash of a
// built-in network or a genesis file (lightclient.Network).
func networkConfig(name string) (*params.ChainConfig, common.Hash, error) {
	cfg, hash, err := lightclient.Network(name)
	return cfg, hash, flagError(err)
}

// flagNames are the flags of the client's configuration fields whose
// names differ.
var flagNames = map[string]string{
	"trusted": "ulc.servers", "fraction": "ulc.fraction", "servers": "servers", "dns": "discovery.dns",
	"cacheMB": "cache", "dataDir": "datadir", "paid": "paid.capacity", "payment.exposure": "payment.exposure",
	"beaconCheckpoint": "beacon.checkpoint", "beaconConfig": "beacon.config",
}

// flagError names the flag of a configuration field in err.
func flagError(err error) error {
	var fe *lightclient.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	name := fe.Field
	if f, ok := flagNames[name]; ok {
		name = f
	}
	renamed := *fe
	renamed.Field = "--" + name
	return &renamed
}

func parseEnodes(list string) ([]*enode.Node, error) {
	var nodes []*enode.Node
	for _, s := range splitList(list) {
		n, err := enode.ParseV4(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func parseHash(s string) (common.Hash, error) {
	b, err := hexBytes(s)
	if err != nil || len(b) != common.HashLength {
		return common.Hash{}, fmt.Errorf("%q is not a 32-byte hex hash", s)
	}
	return common.BytesToHash(b), nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func hexBytes(s string) ([]byte, error) { return hex.DecodeString(trim0x(s)) }

// nodeDBPath is where a process with a data directory keeps the nodes
// discovery met ("": in memory).
func nodeDBPath(datadir string) string {
	if datadir == "" {
		return ""
	}
	return filepath.Join(datadir, "nodes")
}
