// Package devchain is lightmarket's embedded development chain: an
// in-process go-ethereum node with a simulated beacon that seals a block
// every BlockTime, one account funded at genesis, and its own JSON-RPC
// in-process (and optionally on HTTP and WebSocket). It is the default
// backend of `lightmarket server` and `lightmarket devnet`.
package devchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/internal/dirlock"
)

// DefaultDevKey is the well-known development key funded at genesis unless
// another is given. Never use it on a real chain.
const DefaultDevKey = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"

// DefaultDevAddress is the address of DefaultDevKey.
var DefaultDevAddress = common.HexToAddress("0x71562b71999873DB5b286dF957af199Ec94617F7")

// DevFunds is the dev account's balance at genesis: one million ether.
var DevFunds = new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(params.Ether))

// ChainConfig is the dev chain's configuration: chain id 1337 and every
// fork that mainnet has (through Osaka) active from genesis, so that gas
// and opcodes behave as on mainnet.
func ChainConfig() *params.ChainConfig {
	cfg := *params.AllDevChainProtocolChanges
	cfg.BogotaTime = nil
	return &cfg
}

// Config configures the dev chain.
type Config struct {
	// BlockTime is the interval between blocks (default 1s).
	BlockTime time.Duration
	// DevKey is funded with DevFunds at genesis (default DefaultDevKey).
	DevKey *ecdsa.PrivateKey
	// Alloc holds further genesis accounts.
	Alloc types.GenesisAlloc
	// HTTPAddr, when set, serves the chain's own JSON-RPC (eth, net, web3)
	// on HTTP and WebSocket at this address; port 0 picks a free port.
	HTTPAddr string
	// DataDir, when set, keeps the chain there (blocks, receipts, every
	// block's state), so that it survives a restart, or a kill -9: the
	// state of each block is written with it (an archive node's hash-scheme
	// trie database) and synced to disk once the block is sealed. Empty:
	// the chain lives in memory.
	DataDir string
	// CacheMB is the memory go-ethereum's caches may take, in MB: 2/7
	// each for the database's block cache, clean and dirty trie nodes,
	// 1/7 for the snapshot (default 224). They fill as the chain grows,
	// and stay at this size.
	CacheMB int
	Logger  log.Logger
}

// minFastcacheMB is the least go-ethereum's clean-trie and snapshot
// caches hold once full, whatever size they are given: fastcache keeps 512
// buckets of at least one 64 KiB chunk each, allocated outside the Go heap.
const minFastcacheMB = 32

// fastcacheMB is a fastcache's share of the budget, or 0 (that cache off)
// when the share is below what a fastcache holds: a --chain.cache of 28
// would otherwise keep 64 MB in its clean-trie and snapshot caches.
func fastcacheMB(share int) int {
	if share < minFastcacheMB {
		return 0
	}
	return share
}

// DefaultCacheMB is the default of Config.CacheMB.
const DefaultCacheMB = 224

// Chain is a running dev chain.
type Chain struct {
	cfg    Config
	stack  *node.Node
	eth    *eth.Ethereum
	beacon *catalyst.SimulatedBeacon
	client *rpc.Client

	mu      sync.Mutex // serialises sealing
	quit    chan struct{}
	wg      sync.WaitGroup
	started bool
}

// Genesis returns the genesis of a dev chain funding devAddr.
func Genesis(devAddr common.Address, extra types.GenesisAlloc) *core.Genesis {
	alloc := core.SystemContractAllocs()
	alloc[devAddr] = types.Account{Balance: DevFunds}
	maps.Copy(alloc, extra)
	return &core.Genesis{
		Config:   ChainConfig(),
		GasLimit: ethconfig.Defaults.Miner.GasCeil,
		BaseFee:  big.NewInt(params.InitialBaseFee),
		Alloc:    alloc,
	}
}

// New creates the chain; Start begins sealing blocks.
func New(cfg Config) (*Chain, error) {
	if cfg.BlockTime == 0 {
		cfg.BlockTime = time.Second
	}
	if cfg.BlockTime < 0 {
		return nil, fmt.Errorf("devchain: negative block time %v", cfg.BlockTime)
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	if cfg.DevKey == nil {
		key, err := crypto.HexToECDSA(DefaultDevKey)
		if err != nil {
			return nil, err
		}
		cfg.DevKey = key
	}
	nodeConf := node.DefaultConfig
	nodeConf.DataDir = cfg.DataDir
	nodeConf.IPCPath = "" // no unauthenticated IPC endpoint in the data directory
	// No peers (MaxPeers 0 also means no dials; NoDial would only add a
	// warning that the P2P server is useless).
	nodeConf.P2P = p2p.Config{NoDiscovery: true, MaxPeers: 0}
	nodeConf.Logger = cfg.Logger
	if cfg.HTTPAddr != "" {
		host, port, err := freeAddr(cfg.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("devchain: --chain.http %s: %w", cfg.HTTPAddr, err)
		}
		nodeConf.HTTPHost, nodeConf.HTTPPort = host, port
		nodeConf.WSHost, nodeConf.WSPort = host, port
		nodeConf.HTTPModules = []string{"eth", "net", "web3"}
		nodeConf.WSModules = nodeConf.HTTPModules
	}
	stack, err := node.New(&nodeConf)
	if errors.Is(err, node.ErrDatadirUsed) {
		return nil, fmt.Errorf("devchain: %s is %w: is another lightmarket running with this --datadir? Stop it or give another --datadir", cfg.DataDir, dirlock.ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("devchain: %w", err)
	}
	ethConf := ethconfig.Defaults
	ethConf.Genesis = Genesis(crypto.PubkeyToAddress(cfg.DevKey.PublicKey), cfg.Alloc)
	ethConf.SyncMode = ethconfig.FullSync
	ethConf.TxPool.NoLocals = true
	// Caches sized for a development chain, not for mainnet: go-ethereum's
	// defaults (2 GB of database cache, 614 MB of clean trie nodes, 1 GB
	// of dirty ones, 409 MB of snapshot) fill as the chain grows, and a
	// devnet's memory would grow with them for hours.
	cache := cfg.CacheMB
	if cache <= 0 {
		cache = DefaultCacheMB
	}
	ethConf.DatabaseCache = max(cache*2/7, 1)
	ethConf.TrieCleanCache = fastcacheMB(cache * 2 / 7)
	ethConf.TrieDirtyCache = max(cache*2/7, 1)
	ethConf.SnapshotCache = fastcacheMB(cache / 7)
	// Reverse state diffs for rewinding, kept (in memory, for a chain
	// without DataDir) for this many blocks, not go-ethereum's 90,000.
	ethConf.StateHistory = 1024
	if cfg.DataDir != "" {
		// Every block's state goes to the database with the block (go-
		// ethereum's path scheme keeps recent states in memory and loses
		// them, with the head, on an unclean exit).
		ethConf.StateScheme = rawdb.HashScheme
		ethConf.NoPruning = true
		ethConf.SnapshotCache = 0
		// An archive node writes every block's trie nodes at once: go-
		// ethereum would move the dirty share to the clean cache. Do it
		// here, so that the clean cache is off when the two together are
		// less than a fastcache holds.
		ethConf.TrieCleanCache = fastcacheMB(cache * 4 / 7)
		ethConf.TrieDirtyCache = 0
	}
	backend, err := eth.New(stack, &ethConf)
	if err != nil {
		stack.Close()
		return nil, fmt.Errorf("devchain: %w", err)
	}
	filterSystem := filters.NewFilterSystem(backend.APIBackend, filters.Config{})
	stack.RegisterAPIs([]rpc.API{{Namespace: "eth", Service: filters.NewFilterAPI(filterSystem)}})
	if err := stack.Start(); err != nil {
		stack.Close()
		return nil, fmt.Errorf("devchain: %w", err)
	}
	beacon, err := catalyst.NewSimulatedBeacon(0, common.Address{}, backend)
	if err != nil {
		stack.Close()
		return nil, fmt.Errorf("devchain: %w", err)
	}
	return &Chain{
		cfg:    cfg,
		stack:  stack,
		eth:    backend,
		beacon: beacon,
		client: stack.Attach(),
		quit:   make(chan struct{}),
	}, nil
}

// freeAddr splits addr into host and port, resolving port 0 to a free one
// (the node's HTTP server takes a numeric port).
func freeAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", 0, err
	}
	if port != 0 {
		return host, port, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", 0, err
	}
	defer ln.Close()
	return host, ln.Addr().(*net.TCPAddr).Port, nil
}

// Start seals a first block at once, then one every BlockTime until
// Close.
func (c *Chain) Start() error {
	if c.started {
		return errors.New("devchain: already started")
	}
	c.started = true
	c.Commit()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ticker := time.NewTicker(c.cfg.BlockTime)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				c.Commit()
			case <-c.quit:
				return
			}
		}
	}()
	return nil
}

// Commit seals a block now with the pending transactions and returns its
// hash. A chain with a DataDir has the block on disk when Commit returns.
func (c *Chain) Commit() common.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.beacon.Commit()
	if c.cfg.DataDir != "" {
		if err := c.eth.ChainDb().SyncKeyValue(); err != nil {
			c.cfg.Logger.Error("Cannot sync the chain database", "err", err)
		}
	}
	return h
}

// Fork rewinds the chain's head to parent so that the next blocks build a
// side chain (for reorg tests); it becomes canonical once longer.
func (c *Chain) Fork(parent common.Hash) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.beacon.Fork(parent)
}

// Close stops sealing and shuts the node down.
func (c *Chain) Close() error {
	select {
	case <-c.quit:
		return nil
	default:
	}
	close(c.quit)
	c.wg.Wait()
	c.client.Close()
	err := c.beacon.Stop()
	return errors.Join(err, c.stack.Close())
}

// RPCClient is an in-process client of the chain's own JSON-RPC.
func (c *Chain) RPCClient() *rpc.Client { return c.client }

// HTTPURL is the chain's own HTTP JSON-RPC endpoint, or "" when off.
func (c *Chain) HTTPURL() string {
	if c.cfg.HTTPAddr == "" {
		return ""
	}
	return c.stack.HTTPEndpoint()
}

// ChainConfig is the chain's configuration.
func (c *Chain) ChainConfig() *params.ChainConfig { return c.eth.BlockChain().Config() }

// DevKey is the key funded at genesis.
func (c *Chain) DevKey() *ecdsa.PrivateKey { return c.cfg.DevKey }

// Backend returns the server backend for the chain: Direct, which reads
// the chain in-process.
func (c *Chain) Backend(ctx context.Context) (chain.Backend, error) {
	return c.DirectBackend(), nil
}

// RPCBackend returns a server backend over the chain's in-process JSON-RPC,
// the same path a server takes to an external execution client.
func (c *Chain) RPCBackend(ctx context.Context) (*chain.RPC, error) {
	return chain.NewRPC(ctx, c.stack.Attach())
}
