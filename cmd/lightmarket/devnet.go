package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/devnet"
	"github.com/lightmarket/lightmarket/internal/dirlock"
	"github.com/lightmarket/lightmarket/rpcapi"
)

func runDevnet(ctx context.Context, args []string, stdout io.Writer) error {
	fs, verbosity := newFlagSet("devnet", "Starts the embedded chain, several servers and one light client, and\nprints the client's JSON-RPC URL and the funded account. Ctrl-C stops it.")
	var (
		servers   = fs.Int("servers", 3, "number of servers")
		httpAddr  = fs.String("http", "127.0.0.1:8545", "client JSON-RPC listen address (HTTP and WebSocket)")
		chainHTTP = fs.String("chain.http", "", "serve the embedded chain's own, unverified JSON-RPC on this address (off unless given)")
		devKey    = fs.String("dev.key", devchain.DefaultDevKey, "hex private key of the account funded at genesis")
		blockTime = fs.Duration("block-time", time.Second, "interval between blocks")
		cacheMB   = fs.Int("cache", client.DefaultCacheBytes>>20, "MB of verified state (accounts, storage, code, trie nodes) the client keeps for later calls")
		chainMB   = fs.Int("chain.cache", devchain.DefaultCacheMB, "MB of caches of the embedded chain (database blocks 2/7; trie nodes: with --datadir 4/7 clean, else 2/7 dirty, 2/7 clean and a 1/7 snapshot; a clean or snapshot cache only from 32 MB); they fill as the chain grows")
		datadir   = fs.String("datadir", "", "directory that keeps the chain, its payment contract, node keys, ledgers and the wallet across runs (and a kill -9); empty = a fresh network in memory")
		fraction  = fs.Int("ulc.fraction", 75, "percentage of trusted servers that must sign a head")
		logRange  = fs.Uint64("logs.range", rpcapi.DefaultLogRange, "most blocks one eth_getLogs may cover")
		metricsAt = fs.String("metrics", "", "serve Prometheus metrics of the servers and the client on this address, e.g. 127.0.0.1:6060 (off unless given)")
		beacon    = fs.Bool("beacon", false, "also run a development consensus layer over the chain (beacon headers signed by a sync committee of 512 BLS keys) and serve its beacon API on --beacon.http")
		beaconAt  = fs.String("beacon.http", "127.0.0.1:5052", "listen address of the development consensus layer's beacon API (with --beacon)")
		heads     = fs.String("heads", "ulc", "which heads the devnet's client accepts: ulc (signed by its trusted servers), beacon (signed by the dev consensus layer's sync committee, trusting no server; needs --beacon) or both")
		memLimit  = memoryLimitFlag(fs, "1.5 × (64 + --cache + 3/7 of --chain.cache, an allowance for the chain's caches on the Go heap)")
	)
	if err := parseFlags(ctx, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	logger := setupLogging(*verbosity)
	if !*beacon {
		*beaconAt = ""
		if *heads != "ulc" {
			return fmt.Errorf("--heads %s needs --beacon (a consensus layer to follow)", *heads)
		}
	}
	if _, err := client.ParseHeads(*heads); err != nil {
		return fmt.Errorf("--%w", err)
	}
	if err := checkListen(map[string]string{"http": *httpAddr, "chain.http": *chainHTTP, "metrics": *metricsAt, "beacon.http": *beaconAt}); err != nil {
		return err
	}
	release, err := dirlock.Acquire(*datadir)
	if err != nil {
		return err
	}
	defer release()
	key, err := crypto.HexToECDSA(trim0x(*devKey))
	if err != nil {
		return fmt.Errorf("--dev.key: %w", err)
	}
	if *fraction < 1 || *fraction > 100 {
		return fmt.Errorf("--ulc.fraction %d: must be a percentage from 1 to 100", *fraction)
	}
	if *blockTime <= 0 {
		return fmt.Errorf("--block-time must be positive, got %v", *blockTime)
	}
	if err := setMemoryLimit(logger, *memLimit, derivedMemoryLimitMB(*cacheMB+*chainMB*3/7)); err != nil {
		return err
	}
	chainLog := chainLogger(fs, logger)
	if *beacon {
		quietUntimedBeacon(0) // the dev consensus layer's slots are its blocks
	}
	start := time.Now()
	d, err := devnet.Start(ctx, devnet.Config{
		Servers:       *servers,
		HTTPAddr:      *httpAddr,
		ChainHTTP:     *chainHTTP,
		DevKey:        key,
		BlockTime:     *blockTime,
		ChainCacheMB:  *chainMB,
		ClientCacheMB: *cacheMB,
		DataDir:       *datadir,
		Fraction:      *fraction,
		LogRange:      *logRange,
		MetricsAddr:   *metricsAt,
		Discovery:     true,
		Logger:        logger,
		ChainLogger:   chainLog,
		BeaconHTTP:    *beaconAt,
		Heads:         *heads,
	})
	if err != nil {
		return err
	}
	defer d.Close()

	fmt.Fprintf(stdout, "\nlightmarket devnet is up (%v to the first verified head).\n\n", time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "  Wallet JSON-RPC (verified):   %s   (WebSocket: %s)\n", d.Node.URL(), d.Node.WSURL())
	fmt.Fprintf(stdout, "  Client status page:           %s/status\n", d.Node.URL())
	if u := d.Chain.HTTPURL(); u != "" {
		fmt.Fprintf(stdout, "  Chain JSON-RPC (unverified):  %s\n", u)
	}
	if d.Metrics != nil {
		fmt.Fprintf(stdout, "  Metrics:                      %s\n", d.Metrics.URL())
	}
	if d.Beacon != nil {
		fmt.Fprintf(stdout, "  Beacon API (dev consensus):   %s\n", d.Beacon.URL())
		fmt.Fprintf(stdout, "    genesis validators root:    %s\n", devnet.BeaconGenesisValidatorsRoot)
		fmt.Fprintf(stdout, "    checkpoint (slot 0):        %s\n", d.Beacon.Genesis())
		fmt.Fprintf(stdout, "    consensus config file:      %s\n", d.BeaconConfigFile)
		fmt.Fprintf(stdout, "    servers relay it; the client's heads: %s\n", *heads)
	}
	fmt.Fprintf(stdout, "  Chain id:                     %d\n", d.Client.ChainID())
	fmt.Fprintf(stdout, "  Funded account:               %s\n", crypto.PubkeyToAddress(key.PublicKey))
	fmt.Fprintf(stdout, "  Its private key:              0x%x\n", crypto.FromECDSA(key))
	if d.Bootnode != nil {
		fmt.Fprintf(stdout, "  Bootnode (discv5):             %s\n", d.Bootnode.Self().URLv4())
	}
	for i, s := range d.Servers {
		fmt.Fprintf(stdout, "  Server %d:                     %s\n", i, s.Enode().URLv4())
		fmt.Fprintf(stdout, "    admin JSON-RPC, status page: %s, %s/status\n", d.Admins[i].URL(), d.Admins[i].URL())
	}
	if d.Contract != nil {
		fmt.Fprintf(stdout, "  Payment channels contract:    %s (the client pays from the funded account)\n", d.Contract.Address())
		fmt.Fprintf(stdout, "  Control secrets:              %s (client), %s (servers' admin)\n",
			filepath.Join(d.SecretDir, "control.jwtsecret"), filepath.Join(d.SecretDir, "admin.jwtsecret"))
		fmt.Fprintf(stdout, "\nServed free. For paid service, bid (lm_setDemand spends money, so it needs a token signed\nwith the control secret), e.g.:\n")
		fmt.Fprintf(stdout, "  go run ./cmd/lightmarket call --url %s --jwtsecret %s \\\n", d.Node.URL(), filepath.Join(d.SecretDir, "control.jwtsecret"))
		fmt.Fprintf(stdout, "    lm_setDemand '{\"max\":\"0x186a0\",\"min\":\"0x186a0\",\"maxPrice\":\"0x2710\"}'\n")
	}
	if d.Beacon != nil {
		fmt.Fprintf(stdout, "\nA client that trusts no server follows the sync committee from the checkpoint, e.g.:\n")
		fmt.Fprintf(stdout, "  go run ./cmd/lightmarket client --http 127.0.0.1:8546 --heads beacon --genesis %s \\\n", d.Chain.DirectBackend().Genesis())
		fmt.Fprintf(stdout, "    --beacon.checkpoint %s --beacon.config %s \\\n", d.Beacon.Genesis(), d.BeaconConfigFile)
		fmt.Fprintf(stdout, "    --servers %s\n", d.Servers[0].Enode().URLv4())
	}
	fmt.Fprintf(stdout, "\nPress Ctrl-C to stop.\n")
	<-ctx.Done()
	fmt.Fprintln(stdout, "Shutting down.")
	return nil
}

func trim0x(s string) string {
	if len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X") {
		return s[2:]
	}
	return s
}
