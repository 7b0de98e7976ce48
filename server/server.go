// Package server is the serving side of lightmarket: it accepts light
// clients over devp2p, speaks the "lm" protocol (package protocol) with
// them, announces signed heads, and answers their requests from a
// chain.Backend.
//
// It owns peer sessions and request serving. What the data is and whether it
// is correct is the backend's business (package chain verifies what it
// returns); flow control, the client pool, the auction and payments plug in
// here in later versions.
package server

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	bparams "github.com/ethereum/go-ethereum/beacon/params"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/p2p/nat"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/auction"
	"github.com/lightmarket/lightmarket/cashier"
	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/clientpool"
	"github.com/lightmarket/lightmarket/discovery"
	"github.com/lightmarket/lightmarket/flowcontrol"
	"github.com/lightmarket/lightmarket/metrics"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/poolstore"
	"github.com/lightmarket/lightmarket/pricequery"
	"github.com/lightmarket/lightmarket/protocol"
)

// Config configures a Server. Zero values take the defaults noted.
type Config struct {
	Backend chain.Backend // required
	// ChainConfig is the configuration of the backend's chain, which the
	// server needs to run the calls it proves witnesses of (nil: it
	// serves no witnesses; clients prove what their calls read
	// themselves).
	ChainConfig *params.ChainConfig
	// WitnessTimeout bounds the run behind one witness (default
	// DefaultWitnessTimeout): what the run read by then is sent.
	WitnessTimeout time.Duration
	PrivateKey     *ecdsa.PrivateKey // node key; required
	ListenAddr     string            // default "127.0.0.1:0"
	// Bootnodes are the discv5 nodes through which the server joins the
	// discovery network, where clients find it (with an auction only).
	Bootnodes []*enode.Node
	// NAT finds or sets the address clients reach the server at (nil:
	// the listen address; see go-ethereum's nat package).
	NAT      nat.Interface
	MaxPeers int // default 100
	// HandshakeTimeout bounds the Status exchange (default 5s).
	HandshakeTimeout time.Duration
	// MaxInFlight bounds concurrently served requests per peer (default 8).
	MaxInFlight int
	// Capacity is the serving capacity shared by all clients, in cost units
	// (ns of serving) per millisecond: 1,000,000 is one serving thread
	// (default 2,000,000).
	Capacity uint64
	// FreeCapacity is what a free client gets, shared by all free clients
	// of one IP address (default DefaultCapacity).
	FreeCapacity uint64
	// PaidCapacity is what a paying client gets (default 10 × FreeCapacity).
	PaidCapacity uint64
	// Sellable is the capacity sold in the auction to clients with a
	// balance (0: no auction; paying clients get PaidCapacity). Reserve is
	// the lowest price, in wei per capacity-unit-second; Grace how long an
	// outbid winner keeps its capacity (default 5s).
	Sellable uint64
	Reserve  *big.Int
	Grace    time.Duration
	// Workers is the number of requests served at once (default
	// GOMAXPROCS); requests wait for a worker in a priority queue.
	Workers int
	// Clock drives flow control (default the system clock).
	Clock mclock.Clock
	// DataDir keeps the payment ledger (client accounts, vouchers) and free
	// usage across restarts; "" keeps them in memory only.
	DataDir string
	// Ledger, a postgres:// URL, keeps the payment ledger in PostgreSQL
	// instead of DataDir: the ledger of a fleet of servers, one payment
	// identity.
	Ledger string
	// Contract, when set, is the payment-channel contract clients pay on;
	// PaymentKey receives the payments and claims them (in a fleet: while
	// it holds the claimer's lease). ClaimThreshold is the unclaimed
	// amount at which a channel is claimed; SettleInterval is how often
	// channels are re-read and claims made (default 10s).
	Contract   *paychan.Contract
	PaymentKey *ecdsa.PrivateKey
	// PaymentReceiver, for a server of a fleet without PaymentKey, is the
	// fleet's receiving address (the ledger must be the fleet's, Ledger).
	PaymentReceiver common.Address
	ClaimThreshold  *big.Int
	SettleInterval  time.Duration
	// ClaimerLease is how long a fleet's claimer's lease lasts unrenewed
	// (default 30s): how soon another server with the key takes over.
	ClaimerLease time.Duration
	// RequestPrice is charged to paid clients per 1,000 cost units of
	// requests served, on top of capacity-time (default 0).
	RequestPrice *big.Int
	// BillInterval is how often paid capacity is billed (default 1s).
	BillInterval time.Duration
	// BeaconAPI, when set, is the REST API of the consensus client whose
	// light-client data the server relays to its clients, verified with
	// BeaconConfig; the relay's committee chain starts from
	// BeaconCheckpoint, or from that consensus client's finalized block.
	BeaconAPI        string
	BeaconConfig     *bparams.ChainConfig
	BeaconCheckpoint common.Hash
	// AfterPaymentStored, for crash tests: called with a payment on disk,
	// before it is credited and acknowledged.
	AfterPaymentStored func()
	// Metrics records what the server does (default: recorded nowhere).
	Metrics *metrics.Server
	Logger  log.Logger

	wrap  func(chain.Backend) chain.Backend // tests: wraps the backend
	alter func(reply any)                   // tests: changes replies before they are sent
}

func (c Config) withDefaults() Config {
	if c.WitnessTimeout == 0 {
		c.WitnessTimeout = DefaultWitnessTimeout
	}
	if c.ListenAddr == "" {
		c.ListenAddr = "127.0.0.1:0"
	}
	if c.MaxPeers == 0 {
		c.MaxPeers = 100
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 8
	}
	if c.Capacity == 0 {
		c.Capacity = 2_000_000
	}
	if c.FreeCapacity == 0 {
		c.FreeCapacity = min(DefaultCapacity, c.Capacity)
	}
	if c.PaidCapacity == 0 {
		c.PaidCapacity = min(10*c.FreeCapacity, c.Capacity)
	}
	if c.Clock == nil {
		c.Clock = mclock.System{}
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = log.Root()
	}
	if c.SettleInterval == 0 {
		c.SettleInterval = 10 * time.Second
	}
	if c.BillInterval == 0 {
		c.BillInterval = time.Second
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewServer(nil)
	}
	return c
}

// Server serves light clients.
type Server struct {
	cfg     Config
	p2p     *p2p.Server
	chainID uint64
	genesis [32]byte
	key     signer

	costs *costs

	poolMu sync.Mutex // guards pool
	pool   *clientpool.Pool
	store  *poolstore.Store // nil without DataDir

	cashier *cashier.Cashier
	billing map[enode.ID]bool // clients on a capacity-time meter; poolMu

	priceMu sync.Mutex
	prices  []PricePoint     // clearing price over the last hour
	market  *auction.Auction // guarded by poolMu; nil without Sellable
	// marketSeq numbers the auction's decisions (poolMu), so that their
	// Allocation messages, sent after the lock is released, are not
	// applied out of order.
	marketSeq uint64
	sched     *scheduler

	rtries *lru.Cache[common.Hash, *receiptTrie] // of oversized blocks
	codes  *lru.SizeConstrainedCache[common.Hash, []byte]
	hist   *historyIndex
	beacon *beaconRelay // nil without a beacon API

	mu        sync.Mutex
	peers     map[enode.ID]*peer
	head      *protocol.Announce
	retention protocol.Retention

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New creates a server; Start makes it listen.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if cfg.Backend == nil {
		return nil, errors.New("server: no chain backend")
	}
	if cfg.PrivateKey == nil {
		return nil, errors.New("server: no node key")
	}
	pool, err := clientpool.New(clientpool.Config{
		Clock:         cfg.Clock,
		TotalCapacity: cfg.Capacity,
		MaxClients:    cfg.MaxPeers,
		FreeCapacity:  cfg.FreeCapacity,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	ccfg := cashier.Config{Clock: cfg.Clock, Contract: cfg.Contract, Key: cfg.PaymentKey, Receiver: cfg.PaymentReceiver,
		Server: enode.PubkeyToIDV4(&cfg.PrivateKey.PublicKey).String(), ClaimThreshold: cfg.ClaimThreshold, LeaseFor: cfg.ClaimerLease,
		Ledger: cfg.Ledger, Logger: cfg.Logger, AfterStore: cfg.AfterPaymentStored}
	var srv *Server
	ccfg.OnSettle = func(st payment.Settlement) { srv.settled(st) }
	if cfg.DataDir != "" {
		ccfg.DataDir = filepath.Join(cfg.DataDir, "ledger")
	}
	cash, err := cashier.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	var store *poolstore.Store
	usage := clientpool.State{Usage: make(map[string]float64)}
	if cfg.DataDir != "" {
		if store, err = poolstore.Open(filepath.Join(cfg.DataDir, "pool")); err != nil {
			cash.Close()
			return nil, fmt.Errorf("server: %w", err)
		}
		if usage, err = store.Load(time.Now(), pool.HalfLife()); err != nil {
			store.Close()
			cash.Close()
			return nil, fmt.Errorf("server: loading free usage: %w", err)
		}
	}
	usage.Balances = make(map[clientpool.ID]*big.Int)
	for id, b := range cash.Balances() {
		usage.Balances[clientpool.ID(id)] = b
	}
	pool.Import(usage)
	var market *auction.Auction
	if cfg.Sellable > 0 {
		if cfg.Sellable > cfg.Capacity {
			return nil, fmt.Errorf("server: sellable capacity %d above the total %d", cfg.Sellable, cfg.Capacity)
		}
		if market, err = auction.New(auction.Config{Clock: cfg.Clock, Sellable: cfg.Sellable, Reserve: cfg.Reserve, Grace: cfg.Grace}); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		market:  market,
		pool:    pool,
		store:   store,
		cashier: cash,
		billing: make(map[enode.ID]bool),
		cfg:     cfg,
		chainID: cfg.Backend.ChainID(),
		genesis: cfg.Backend.Genesis(),
		key:     signer{cfg.PrivateKey},
		costs:   &costs{tracker: flowcontrol.NewCostTracker(initialCosts())},
		peers:   make(map[enode.ID]*peer),
		rtries:  lru.NewCache[common.Hash, *receiptTrie](receiptTries),
		codes:   lru.NewSizeConstrainedCache[common.Hash, []byte](codeCacheBytes),
		ctx:     ctx,
		cancel:  cancel,
	}
	srv = s
	s.sched = newScheduler(s, cfg.Workers)
	if s.hist, err = openHistory(s, cfg.DataDir); err != nil {
		if store != nil {
			store.Close()
		}
		cash.Close()
		return nil, err
	}
	if cfg.BeaconAPI != "" {
		if s.beacon, err = openBeaconRelay(s, cfg.BeaconAPI, cfg.BeaconConfig, cfg.DataDir); err != nil {
			s.hist.close()
			if store != nil {
				store.Close()
			}
			cash.Close()
			return nil, err
		}
	}
	// The nodes discovery meets are kept with the data (in memory,
	// go-ethereum's node database grows with every contact).
	nodeDB := ""
	if cfg.DataDir != "" && market != nil {
		nodeDB = filepath.Join(cfg.DataDir, "nodes")
	}
	s.p2p = &p2p.Server{Config: p2p.Config{
		// With an auction, discv5 runs (on the same port, UDP) to answer
		// price queries and to advertise the service in the node record.
		NoDiscovery:      market == nil,
		DiscoveryV5:      market != nil,
		BootstrapNodesV5: cfg.Bootnodes,
		NodeDatabase:     nodeDB,
		PrivateKey:       cfg.PrivateKey,
		// The client pool decides who stays; devp2p lets a few more in so
		// that a higher-priority newcomer can reach the pool when it is full.
		MaxPeers:   cfg.MaxPeers + max(cfg.MaxPeers/10, 1),
		NoDial:     true,
		ListenAddr: cfg.ListenAddr,
		NAT:        cfg.NAT,
		Name:       "lightmarket-server",
		Protocols:  s.Protocols(),
		Logger:     cfg.Logger,
	}}
	return s, nil
}

// Protocols returns the devp2p protocols the server runs.
func (s *Server) Protocols() []p2p.Protocol {
	return []p2p.Protocol{{
		Name:    protocol.Name,
		Version: protocol.Version,
		Length:  protocol.Length,
		Run:     s.runPeer,
	}}
}

// Start reads the backend's head, starts listening and follows new heads.
func (s *Server) Start() error {
	head, err := s.cfg.Backend.CurrentHeader(s.ctx)
	if err != nil {
		return fmt.Errorf("server: reading head: %w", err)
	}
	retention, err := s.cfg.Backend.Retention(s.ctx)
	if err != nil {
		return fmt.Errorf("server: reading the backend's history retention: %w", err)
	}
	s.mu.Lock()
	s.retention = retention
	s.mu.Unlock()
	if err := s.setHead(head); err != nil {
		return err
	}
	heads := make(chan *types.Header, 16)
	unsub, err := s.cfg.Backend.SubscribeHeads(s.ctx, heads)
	if err != nil {
		return fmt.Errorf("server: subscribing to heads: %w", err)
	}
	if err := s.p2p.Start(); err != nil {
		unsub()
		return fmt.Errorf("server: p2p: %w", err)
	}
	if s.market != nil {
		s.p2p.DiscoveryV5().RegisterTalkHandler(pricequery.Protocol, pricequery.Handler(s, pricequery.NewLimiter(s.cfg.Clock, 10, 100*time.Millisecond)))
		s.p2p.LocalNode().Set(discovery.Entry(protocol.Version))
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.hist.loop(s.ctx)
	}()
	if s.beacon != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.beacon.run(s.ctx, s.cfg.BeaconCheckpoint)
		}()
	}
	go func() {
		defer s.wg.Done()
		defer unsub()
		save := time.NewTicker(usageSaveInterval)
		defer save.Stop()
		graces := time.NewTicker(100 * time.Millisecond)
		defer graces.Stop()
		finality := time.NewTicker(finalityPoll)
		defer finality.Stop()
		bill := time.NewTicker(s.cfg.BillInterval)
		defer bill.Stop()
		for {
			select {
			case <-graces.C:
				s.auctionTick()
			case <-finality.C:
				s.refreshFinality()
			case <-bill.C:
				s.bill()
				s.updateGauges()
			case <-save.C:
				s.saveUsage()
			case h := <-heads:
				if err := s.setHead(h); err != nil {
					s.cfg.Logger.Warn("Cannot announce head", "number", h.Number, "err", err)
				}
			case <-s.ctx.Done():
				return
			}
		}
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.cashier.Run(s.ctx, s.cfg.SettleInterval) // returns at once with nothing to do
	}()
	if s.cashier.InFleet() {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t := time.NewTicker(fleetGaugesEvery)
			defer t.Stop()
			for {
				s.updateFleetGauges()
				select {
				case <-t.C:
				case <-s.ctx.Done():
					return
				}
			}
		}()
	}
	s.cfg.Logger.Info("Light server started", "enode", s.Enode().URLv4(), "head", head.Number)
	return nil
}

// Stop disconnects all clients and stops the server.
func (s *Server) Stop() {
	s.cancel()
	s.p2p.Stop() // sessions end once their queued requests are served
	s.sched.close()
	s.wg.Wait()
	if s.store != nil {
		s.saveUsage()
		s.store.Close()
	}
	s.hist.close()
	if s.beacon != nil {
		s.beacon.close()
	}
	s.cashier.Close()
}

// usageSaveInterval is how often free usage is written to disk (balances
// are in the payment ledger, written at once); losing a few seconds of free usage in a crash only
// makes the server a little more generous.
const usageSaveInterval = 30 * time.Second

func (s *Server) saveUsage() {
	if s.store == nil {
		return
	}
	s.poolMu.Lock()
	usage := s.pool.Export().Usage
	s.poolMu.Unlock()
	if err := s.store.SaveUsage(usage, time.Now()); err != nil {
		s.cfg.Logger.Error("Cannot save free usage", "err", err)
	}
}

// Enode is the server's node record, for clients to dial.
func (s *Server) Enode() *enode.Node { return s.p2p.Self() }

// PeerCount is the number of connected clients.
func (s *Server) PeerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.peers)
}

// finalityPoll is how often the server looks for a new safe or finalized
// block between heads: a consensus client may move them after the head.
const finalityPoll = time.Second

// refreshFinality re-announces the head when the chain's safe or
// finalized block moved since it was announced.
func (s *Server) refreshFinality() {
	cur := s.currentHead()
	if cur == nil {
		return
	}
	safe, final, err := s.cfg.Backend.Finality(s.ctx)
	if err != nil || (sameRef(cur.Safe, safe) && sameRef(cur.Finalized, final)) {
		return
	}
	h, err := s.cfg.Backend.HeaderByHash(s.ctx, cur.Hash)
	if err != nil {
		return
	}
	if err := s.announceHead(h, safe, final); err != nil {
		s.cfg.Logger.Warn("Cannot announce head", "number", h.Number, "err", err)
	}
}

func sameRef(r *protocol.BlockRef, h *types.Header) bool {
	if r == nil || h == nil {
		return r == nil && h == nil
	}
	return r.Hash == h.Hash()
}

// setHead signs an announcement of h, with the chain's safe and finalized
// blocks, and sends it to every peer.
func (s *Server) setHead(h *types.Header) error {
	if s.hist != nil {
		s.hist.headMoved(h.Number.Uint64())
		s.hist.headMovedTail(h.Hash())
	}
	safe, final, err := s.cfg.Backend.Finality(s.ctx)
	if err != nil {
		s.cfg.Logger.Warn("Cannot read the safe and finalized blocks", "err", err)
	}
	return s.announceHead(h, safe, final)
}

func (s *Server) announceHead(h *types.Header, safe, final *types.Header) error {
	a := &protocol.Announce{Hash: h.Hash(), Number: h.Number.Uint64(), ParentHash: h.ParentHash}
	// Only blocks at or below the head are announced with it: the backend's
	// view may have moved on since h.
	if safe != nil && safe.Number.Cmp(h.Number) <= 0 {
		a.Safe = &protocol.BlockRef{Hash: safe.Hash(), Number: safe.Number.Uint64()}
	}
	if final != nil && final.Number.Cmp(h.Number) <= 0 && (a.Safe == nil || final.Number.Uint64() <= a.Safe.Number) {
		a.Finalized = &protocol.BlockRef{Hash: final.Hash(), Number: final.Number.Uint64()}
	}
	if err := a.Sign(s.chainID, s.key); err != nil {
		return err
	}
	s.cfg.Metrics.Head.Set(float64(a.Number))
	s.mu.Lock()
	s.head = a
	s.mu.Unlock()
	s.eachPeer(func(p *peer) { queueLatest(p.announce, a) })
	return nil
}

// eachPeer calls f for every connected client, without holding s.mu.
func (s *Server) eachPeer(f func(*peer)) {
	s.mu.Lock()
	peers := make([]*peer, 0, len(s.peers))
	for _, p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.Unlock()
	for _, p := range peers {
		f(p)
	}
}

func (s *Server) currentHead() *protocol.Announce {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head
}

// signer signs announcements with the node key.
type signer struct{ key *ecdsa.PrivateKey }

func (k signer) Sign(hash []byte) ([]byte, error) { return crypto.Sign(hash, k.key) }
