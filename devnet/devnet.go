// Package devnet runs a whole lightmarket network in one process: the
// embedded development chain, several servers serving it, and a light
// client with its local JSON-RPC. It backs `lightmarket devnet` and the
// end-to-end tests.
package devnet

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/metrics"
	"github.com/lightmarket/lightmarket/nodekey"
	"github.com/lightmarket/lightmarket/rpcapi"
	"github.com/lightmarket/lightmarket/server"
)

// Config configures a devnet. Zero values take the defaults noted.
type Config struct {
	Servers   int               // default 3
	HTTPAddr  string            // client JSON-RPC, default 127.0.0.1:8545
	ChainHTTP string            // the chain's own JSON-RPC; "" = off
	DevKey    *ecdsa.PrivateKey // funded at genesis; default devchain's
	BlockTime time.Duration     // default 1s
	// DataDir keeps node keys so that enode URLs stay the same across
	// runs; "" = fresh keys every time.
	DataDir string
	// Fraction is the client's trusted-head threshold (default 75).
	Fraction int
	// LogRange bounds eth_getLogs (default rpcapi.DefaultLogRange).
	LogRange uint64
	// ClientCapacity is the flow-control capacity each server gives the
	// client (default server.DefaultCapacity).
	ClientCapacity uint64
	// MetricsAddr, when set, serves Prometheus metrics of every server
	// (labelled server="0", "1", ...) and of the client at /metrics.
	MetricsAddr string
	// WrapBackend, when set, wraps each server's backend (tests use it to
	// make a server lie). Index i is the server's position.
	WrapBackend func(i int, b chain.Backend) chain.Backend
	Logger      log.Logger
}

// Devnet is a running network.
type Devnet struct {
	Chain   *devchain.Chain
	Servers []*server.Server
	Client  *client.Client
	RPC     *rpcapi.Server
	Metrics *metrics.Endpoint // nil unless Config.MetricsAddr is set
	DevKey  *ecdsa.PrivateKey
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
	if cfg.DevKey == nil {
		cfg.DevKey, err = crypto.HexToECDSA(devchain.DefaultDevKey)
		if err != nil {
			return nil, err
		}
	}
	d := &Devnet{DevKey: cfg.DevKey}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	d.Chain, err = devchain.New(devchain.Config{
		BlockTime: cfg.BlockTime,
		DevKey:    cfg.DevKey,
		HTTPAddr:  cfg.ChainHTTP,
		Logger:    cfg.Logger.New("part", "chain"),
	})
	if err != nil {
		return nil, fmt.Errorf("devnet: chain: %w", err)
	}
	if err := d.Chain.Start(); err != nil {
		return nil, fmt.Errorf("devnet: chain: %w", err)
	}
	reg := metrics.NewRegistry()
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
		srv, err := server.New(server.Config{
			Backend:      backend,
			PrivateKey:   key,
			ListenAddr:   "127.0.0.1:0",
			FreeCapacity: cfg.ClientCapacity,
			Metrics:      metrics.NewServer(prometheus.WrapRegistererWith(prometheus.Labels{"server": strconv.Itoa(i)}, reg)),
			Logger:       cfg.Logger.New("part", fmt.Sprintf("server-%d", i)),
		})
		if err != nil {
			return nil, err
		}
		if err := srv.Start(); err != nil {
			return nil, err
		}
		d.Servers = append(d.Servers, srv)
		trusted = append(trusted, srv.Enode())
	}
	key, err := nodeKey(cfg.DataDir, "client")
	if err != nil {
		return nil, err
	}
	backend, err := d.Chain.Backend(ctx)
	if err != nil {
		return nil, err
	}
	d.Client, err = client.New(client.Config{
		ChainConfig: d.Chain.ChainConfig(),
		Genesis:     backend.Genesis(),
		Trusted:     trusted,
		Fraction:    cfg.Fraction,
		PrivateKey:  key,
		Metrics:     metrics.NewClient(reg, func() float64 { return d.Client.HeadLag() }),
		Logger:      cfg.Logger.New("part", "client"),
	})
	if err != nil {
		return nil, err
	}
	if err := d.Client.Start(); err != nil {
		return nil, err
	}
	if _, err := d.Client.WaitHead(ctx); err != nil {
		return nil, fmt.Errorf("devnet: waiting for the client's first head: %w", err)
	}
	if cfg.MetricsAddr != "" {
		if d.Metrics, err = metrics.Serve(cfg.MetricsAddr, reg); err != nil {
			return nil, fmt.Errorf("devnet: metrics: %w", err)
		}
	}
	d.RPC, err = rpcapi.Start(rpcapi.Config{Client: d.Client, Addr: cfg.HTTPAddr, LogRange: cfg.LogRange, Logger: cfg.Logger.New("part", "rpc")})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Close stops everything, client first.
func (d *Devnet) Close() {
	if d.RPC != nil {
		d.RPC.Close()
	}
	if d.Metrics != nil {
		d.Metrics.Close()
	}
	if d.Client != nil {
		d.Client.Stop()
	}
	for _, s := range d.Servers {
		s.Stop()
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
