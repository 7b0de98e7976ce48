// Package client is lightmarket's light client: it connects to servers over
// devp2p, follows the head that enough trusted servers sign, fetches
// headers, bodies, receipts, proofs and code on demand, and verifies every
// answer against trusted headers before handing it out.
//
// It owns peer sessions, request routing with retries and the verified
// header chain. What it hands out (to package rpcapi) is always verified;
// a server caught lying is disconnected and not asked again.
package client

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bparams "github.com/ethereum/go-ethereum/beacon/params"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/buyer"
	"github.com/lightmarket/lightmarket/discovery"
	"github.com/lightmarket/lightmarket/metrics"
	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/protocol"
)

// Errors the client returns to its callers. A *HeadError says why there
// is no usable head.
var (
	ErrNoPeers  = errors.New("no server available")
	ErrNotFound = errors.New("not found")
	ErrClosed   = errors.New("client closed")
	// ErrPaused is the answer to what needs a server while the app is in
	// the background (see Power).
	ErrPaused = errors.New("paused while the app is in the background: what needs a server waits for the foreground")
)

// Config configures a Client.
type Config struct {
	// ChainConfig is the chain the client follows; it must match the
	// servers' chain id.
	ChainConfig *params.ChainConfig
	// Genesis is the hash of block 0 of the chain. When zero, the client
	// adopts the genesis that Fraction of the trusted servers agree on.
	Genesis common.Hash
	// Trusted servers sign the heads the client accepts; Servers are
	// dialled too but only serve data. Both are verified alike.
	Trusted []*enode.Node
	Servers []*enode.Node
	// Fraction is the percentage of Trusted servers that must have signed a
	// head (or a descendant of it) before the client accepts it. Default 75.
	Fraction int
	// Heads says which heads the client accepts (default HeadsULC). With
	// HeadsBeacon or HeadsBoth the sync committee signs them, verified
	// with BeaconConfig from BeaconCheckpoint (the root of a finalized
	// beacon block within the weak-subjectivity period); the committee
	// chain is kept in BeaconDir ("" = in memory).
	Heads            HeadsMode
	BeaconConfig     *bparams.ChainConfig
	BeaconCheckpoint common.Hash
	BeaconDir        string
	// CacheBytes bounds the verified state (accounts, storage, code) kept
	// for later calls (default DefaultCacheBytes).
	CacheBytes int
	// HeadMaxAge is how old (by its timestamp) the accepted head may be
	// before the client stops answering from it (default 60 s, five
	// mainnet slots; negative: never).
	HeadMaxAge time.Duration
	// PrivateKey is the client's node key (default: a new random key).
	PrivateKey *ecdsa.PrivateKey
	// RequestTimeout bounds one request to one server (default 5s).
	RequestTimeout time.Duration
	// Retries is how many servers one request is tried on (default 3).
	Retries int
	// BanTime is how long a server caught lying is not dialled (default 1h).
	BanTime time.Duration
	// Metrics records what the client does (default: recorded nowhere).
	Metrics *metrics.Client
	// Clock drives flow-control estimates (default the system clock).
	Clock mclock.Clock
	// Dialer, when set, makes the connections to servers (for example from
	// a chosen local address).
	Dialer p2p.NodeDialer
	// Demand, when set, is bid at every server the client connects to;
	// servers where it wins serve it as a paid client, the others for free.
	Demand *Demand
	// Payer pays servers (nil: the client pays nobody, and is paid
	// service only where an operator granted it a balance). The client
	// pays ahead for about PayLead of the paid service it holds (default
	// 10s), never more than MaxExposure to one server at a time (default
	// 0.001 ether).
	Payer       payment.Payer
	PayLead     time.Duration
	MaxExposure *big.Int
	// Bootnodes and DNS (EIP-1459 enrtree:// lists) are where the client
	// finds servers beyond those configured: it keeps up to MaxServers of
	// them connected (default 6; negative: none), chosen by its buyer for price and the
	// quality of their free service. A trusted server may be given
	// without an address (enode://<key>); discovery resolves it.
	Bootnodes  []*enode.Node
	DNS        []string
	MaxServers int
	// DiscoveryAddr is where the client's discv5 socket listens (default:
	// an ephemeral UDP port on 127.0.0.1, or on every interface when a
	// server or bootnode is elsewhere).
	DiscoveryAddr string
	// ChannelCost is what the client counts for opening a payment
	// channel when it weighs a move (default 0).
	ChannelCost *big.Int
	// HistoryFile keeps the history roots the trusted servers signed and
	// recent canonical hashes across restarts ("" = kept in memory only).
	HistoryFile string
	// NodeDB is the directory of the discovery node database ("" = in
	// memory, where it grows with every contact).
	NodeDB string
	Logger log.Logger
}

func (c Config) withDefaults() Config {
	if c.Fraction == 0 {
		c.Fraction = 75
	}
	if c.HeadMaxAge == 0 {
		c.HeadMaxAge = DefaultHeadMaxAge
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.PayLead == 0 {
		c.PayLead = 10 * time.Second
	}
	if c.MaxExposure == nil {
		c.MaxExposure = big.NewInt(params.Ether / 1000)
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	if c.BanTime == 0 {
		c.BanTime = time.Hour
	}
	if c.Logger == nil {
		c.Logger = log.Root()
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewClient(nil, nil)
	}
	if c.Clock == nil {
		c.Clock = mclock.System{}
	}
	if c.MaxServers == 0 {
		c.MaxServers = 6
	}
	return c
}

// Validate refuses configurations the client cannot work with.
func (c Config) Validate() error {
	if c.ChainConfig == nil || c.ChainConfig.ChainID == nil {
		return errors.New("client: no chain config")
	}
	if len(c.Trusted) == 0 && c.Heads != HeadsBeacon {
		return errors.New("client: no trusted server given")
	}
	if c.Heads == HeadsBeacon && c.Genesis == (common.Hash{}) {
		return errors.New("client: heads signed by the sync committee need the chain's genesis hash (no trusted servers agree on one)")
	}
	if c.Fraction < 1 || c.Fraction > 100 {
		return fmt.Errorf("client: trusted fraction %d%% is not within 1..100", c.Fraction)
	}
	return nil
}

// DefaultHeadMaxAge is how old the head may be by default: five mainnet
// slots.
const DefaultHeadMaxAge = 60 * time.Second

// Client is a light client.
type Client struct {
	cfg     Config
	clock   mclock.Clock
	chainID uint64
	p2p     *p2p.Server
	trusted map[enode.ID]bool

	mu      sync.Mutex
	genesis common.Hash              // configured, or agreed by enough trusted servers
	votes   map[enode.ID]common.Hash // genesis of each trusted server, while undecided
	waiting map[enode.ID]*peer       // servers connected while the genesis is undecided
	peers   map[enode.ID]*peer
	stats   map[enode.ID]*ServerStats
	banned  map[enode.ID]time.Time
	chain   *headerChain
	heads   *headTracker
	bh      *beaconHeads // heads the sync committee signs; nil with HeadsULC

	// Caches of verified data, by block hash; state by block and key.
	blocks   *lru.Cache[common.Hash, *types.Block]
	receipts *lru.Cache[common.Hash, types.Receipts]
	state    *stateCache

	peerJoined chan struct{} // closed and replaced whenever a peer joins
	poke       chan struct{} // wakes the bidding loop
	payWake    chan struct{} // wakes the payment loop
	demand     *Demand       // guarded by mu
	// paidServers are the servers the client can pay, and spentCounted
	// what the spent-wei metric counted of each (both guarded by mu).
	paidServers  map[enode.ID]*paidServer
	spentCounted map[enode.ID]*big.Int
	bidding      bool         // the bidding loop runs; guarded by mu
	buyer        *buyer.Buyer // decides where to bid (bidding loop only)
	hist         *historyRoots
	discMu       sync.Mutex
	disc         *discovery.Node  // discv5, for price queries and discovery
	dialAdd      chan *enode.Node // servers found, for the redial loop
	dialDrop     chan enode.ID    // servers no longer wanted
	proofFetches atomic.Int64     // proofs fetched from servers, for statistics
	witnessAsks  atomic.Int64     // witnesses asked for
	prefetches   atomic.Int64     // witnesses asked for ahead of a call
	stateDBOnce  sync.Once
	stateDB      state.Database // see stateDatabase
	trips        tripCounter    // requests sent to servers
	bytesTotal   atomic.Uint64  // message bytes exchanged with servers
	bytesPayment atomic.Uint64  // of them, payment messages
	bytesBeacon  atomic.Uint64  // and beacon messages
	socketBytes  atomic.Uint64  // through the server connections' sockets
	headFeed     event.Feed
	// power is what the app lets the client spend (guarded by mu);
	// foreground is closed while it is in the foreground, powerWake wakes
	// the redial loop when it changes.
	power      Power
	resuming   bool // back from the background, no head signed since
	foreground chan struct{}
	powerWake  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New creates a client; Start connects it.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PrivateKey == nil {
		key, err := crypto.GenerateKey()
		if err != nil {
			return nil, err
		}
		cfg.PrivateKey = key
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:        cfg,
		clock:      cfg.Clock,
		chainID:    cfg.ChainConfig.ChainID.Uint64(),
		genesis:    cfg.Genesis,
		votes:      make(map[enode.ID]common.Hash),
		waiting:    make(map[enode.ID]*peer),
		trusted:    make(map[enode.ID]bool),
		peers:      make(map[enode.ID]*peer),
		stats:      make(map[enode.ID]*ServerStats),
		banned:     make(map[enode.ID]time.Time),
		chain:      newHeaderChain(),
		blocks:     lru.NewCache[common.Hash, *types.Block](256),
		receipts:   lru.NewCache[common.Hash, types.Receipts](256),
		state:      newStateCache(cfg.CacheBytes, cfg.Metrics.StateCache.Set),
		peerJoined: make(chan struct{}),
		poke:       make(chan struct{}, 1),
		buyer:      buyer.New(buyer.Config{Clock: cfg.Clock, ChannelCost: cfg.ChannelCost}),
		dialAdd:    make(chan *enode.Node),
		dialDrop:   make(chan enode.ID),
		payWake:    make(chan struct{}, 1),
		foreground: make(chan struct{}),
		powerWake:  make(chan struct{}, 1),
		ctx:        ctx,
		cancel:     cancel,
	}
	for _, n := range cfg.Trusted {
		c.trusted[n.ID()] = true
		c.stats[n.ID()] = &ServerStats{Enode: n.URLv4(), Trusted: true}
	}
	for _, n := range cfg.Servers {
		if !c.trusted[n.ID()] {
			c.stats[n.ID()] = &ServerStats{Enode: n.URLv4()}
		}
	}
	c.heads = newHeadTracker(len(c.trusted), cfg.Fraction)
	if cfg.Heads != HeadsULC {
		bh, err := openBeaconHeads(cfg)
		if err != nil {
			cancel()
			return nil, err
		}
		c.bh = bh
	}
	hist, err := newHistoryRoots(signersNeeded(len(c.trusted), cfg.Fraction), cfg.HistoryFile)
	if err != nil {
		cancel()
		return nil, err
	}
	c.hist = hist
	close(c.foreground)
	c.p2p = &p2p.Server{Config: p2p.Config{
		PrivateKey: cfg.PrivateKey,
		// The client dials its servers itself (redialLoop, with
		// cfg.Dialer); go-ethereum's dialer has nothing to dial.
		MaxPeers:    len(cfg.Trusted) + len(cfg.Servers) + max(cfg.MaxServers, 0) + 1,
		NoDiscovery: true,
		ListenAddr:  "",
		Name:        "lightmarket-client",
		Protocols: []p2p.Protocol{{
			Name:    protocol.Name,
			Version: protocol.Version,
			Length:  protocol.Length,
			Run:     c.runPeer,
		}},
		Logger: cfg.Logger,
	}}
	return c, nil
}

// Start dials the configured servers.
func (c *Client) Start() error {
	if err := c.p2p.Start(); err != nil {
		return fmt.Errorf("client: p2p: %w", err)
	}
	if c.cfg.Payer != nil {
		c.wg.Add(1)
		go c.payLoop()
	}
	if c.cfg.Demand != nil {
		if err := c.SetDemand(c.cfg.Demand); err != nil {
			return fmt.Errorf("client: %w", err)
		}
	}
	// The client dials its servers itself (redialLoop), not through
	// go-ethereum's static dialer: two dialers would race to the same
	// server, and the two ends could keep different connections.
	if len(c.cfg.Bootnodes) > 0 || len(c.cfg.DNS) > 0 {
		// Discovery first: the redial loop finds trusted servers given by
		// key only through it.
		udp, err := c.discovery()
		if err != nil {
			c.Stop()
			return fmt.Errorf("client: %w", err)
		}
		it, err := discovery.Servers(udp.UDPv5, c.cfg.DNS, protocol.Version, c.cfg.Logger)
		if err != nil {
			c.Stop()
			return fmt.Errorf("client: %w", err)
		}
		c.wg.Add(1)
		go c.discoverLoop(udp, it)
	}
	c.wg.Add(2)
	go c.redialLoop()
	go c.keepHistoryLoop()
	return nil
}

// keepInterval is how often recent canonical hashes are written to the
// history file.
const keepInterval = time.Minute

// keepHistoryLoop writes the history file now and then, and at the end.
func (c *Client) keepHistoryLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(keepInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			c.keepHistory()
		case <-c.ctx.Done():
			c.keepHistory()
			return
		}
	}
}

// keepHistory remembers the canonical hashes linked so far that lie more
// than HistoryConfirmations below the head, and saves the file.
func (c *Client) keepHistory() {
	c.mu.Lock()
	keep := make(map[uint64]common.Hash)
	if head := c.chain.head(); head != nil && head.Number.Uint64() > historyConfirmations {
		// The file keeps the newest keptCanon of them: only those are
		// looked at.
		limit := head.Number.Uint64() - historyConfirmations
		for n := limit; n >= c.chain.low && limit-n < keptCanon; n-- {
			if h, ok := c.chain.canon[n]; ok {
				keep[n] = h
			}
			if n == 0 {
				break
			}
		}
	}
	c.mu.Unlock()
	if len(keep) > 0 {
		c.hist.remember(keep)
	}
	if err := c.hist.save(); err != nil {
		c.cfg.Logger.Warn("Cannot keep the history roots", "err", err)
	}
}

// historyConfirmations is how deep below the head a canonical hash must be
// to be remembered across a restart (as deep as servers wait before they
// sign a history section).
const historyConfirmations = 128

// Stop disconnects and stops the client.
func (c *Client) Stop() {
	c.cancel()
	c.p2p.Stop()
	c.wg.Wait()
	c.discMu.Lock()
	if c.disc != nil {
		c.disc.Close()
		c.disc = nil
	}
	c.discMu.Unlock()
	if c.bh != nil {
		c.bh.db.Close()
	}
}

// Fetches is the number of proofs and codes fetched from servers so far
// (requests the caches could not answer).
func (c *Client) Fetches() int64 { return c.proofFetches.Load() }

// StateRequests is the number of requests for state so far: proofs,
// codes and witnesses (a call's round trips, when nothing else asks).
func (c *Client) StateRequests() int64 { return c.proofFetches.Load() + c.witnessAsks.Load() }

// Prefetches is the number of witnesses asked for ahead of the calls
// that will want them.
func (c *Client) Prefetches() int64 { return c.prefetches.Load() }

// SocketBytes is what the client's sockets sent and received so far: its
// server connections (devp2p, with their encryption and framing) and its
// discovery socket (discv5, open once the client looks for servers or
// asks prices).
func (c *Client) SocketBytes() (servers, discovery uint64) {
	c.discMu.Lock()
	if c.disc != nil {
		discovery = c.disc.Bytes()
	}
	c.discMu.Unlock()
	return c.socketBytes.Load(), discovery
}

// RoundTrips is the number of requests sent to servers so far.
func (c *Client) RoundTrips() uint64 { return c.trips.sent.Load() }

// SequentialRoundTrips counts the round trips one after the other: the
// times a request was sent while no other was waiting for its answer, and
// the retries of a failed request. Requests sent together count once,
// also when the goroutines sending them start apart: the requests of one
// phase of a log search (together) do not wait for each other's answers
// and count as one.
func (c *Client) SequentialRoundTrips() uint64 { return c.trips.waves.Load() }

// tripCounter counts requests, and the waves of requests that overlap.
type tripCounter struct {
	sent     atomic.Uint64
	waves    atomic.Uint64
	inflight atomic.Int64
}

func (t *tripCounter) begin() {
	t.sent.Add(1)
	t.open()
}

func (t *tripCounter) open() {
	if t.inflight.Add(1) == 1 {
		t.waves.Add(1)
	}
}

// together opens a wave for requests sent at once (none waits for
// another's answer) until the returned function is called.
func (t *tripCounter) together() (done func()) {
	t.open()
	return t.end
}

// retry counts a request sent again after one failed: it waited for the
// failed one's answer. A wave held open by together would hide it.
func (t *tripCounter) retry() {
	if t.inflight.Load() > 0 {
		t.waves.Add(1)
	}
}

func (t *tripCounter) end() { t.inflight.Add(-1) }

// ChainID is the chain's EIP-155 id.
func (c *Client) ChainID() uint64 { return c.chainID }

// ChainConfig is the configuration of the chain the client follows.
func (c *Client) ChainConfig() *params.ChainConfig { return c.cfg.ChainConfig }

// Head returns the accepted head, or nil before there is one.
func (c *Client) Head() *types.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.chain.head()
}

// WaitHead waits until the client has accepted a head.
func (c *Client) WaitHead(ctx context.Context) (*types.Header, error) {
	ch := make(chan *types.Header, 1)
	sub := c.headFeed.Subscribe(ch)
	defer sub.Unsubscribe()
	if h := c.Head(); h != nil {
		return h, nil
	}
	select {
	case h := <-ch:
		return h, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, ErrClosed
	}
}

// SubscribeHeads delivers every newly accepted head to ch.
func (c *Client) SubscribeHeads(ch chan<- *types.Header) event.Subscription {
	return c.headFeed.Subscribe(ch)
}

// HeadLag is the age of the accepted head: now minus its timestamp, in
// seconds (0 before there is a head).
func (c *Client) HeadLag() float64 {
	h := c.Head()
	if h == nil {
		return 0
	}
	return time.Since(time.Unix(int64(h.Time), 0)).Seconds()
}

// updateServerGauges refreshes the servers-by-state gauges; c.mu is held.
func (c *Client) updateServerGauges() {
	c.cfg.Metrics.Servers.WithLabelValues("connected").Set(float64(len(c.peers)))
	c.cfg.Metrics.Servers.WithLabelValues("banned").Set(float64(len(c.banned)))
}

// ServerStats describes one server as the client has seen it.
type ServerStats struct {
	Enode             string  `json:"enode"`
	Trusted           bool    `json:"trusted"`
	Discovered        bool    `json:"discovered"` // found by discovery, not configured
	Connected         bool    `json:"connected"`
	Sessions          uint64  `json:"sessions"` // times it was connected and usable
	Head              uint64  `json:"head"`
	Answers           uint64  `json:"answers"`
	Failures          uint64  `json:"failures"`
	Lies              uint64  `json:"lies"`
	LatencyP50Ms      float64 `json:"latencyP50Ms"`
	LatencyP99Ms      float64 `json:"latencyP99Ms"`
	StateLatencyP50Ms float64 `json:"stateLatencyP50Ms"`   // of requests that read the state: the market's quality (readsState)
	Tier              string  `json:"tier"`                // "paid" while the client holds paid capacity there
	PaidCapacity      uint64  `json:"paidCapacity"`        // won in the server's auction
	Price             string  `json:"price,omitempty"`     // clearing price there, wei per capacity-unit-second
	PaidUntil         uint64  `json:"paidUntil,omitempty"` // unix ms when outbid capacity ends

	Capacity  uint64 `json:"capacity"` // flow-control recharge, cost units per ms
	Buffer    uint64 `json:"buffer"`   // estimate of the buffer at the server
	Banned    bool   `json:"banned"`
	LastError string `json:"lastError,omitempty"`

	trouble string // the last problem logged

	latencies latencyWindow
	// stateLatencies are the round trips of requests that read the state
	// (readsState): what a server's quality rests on.
	stateLatencies latencyWindow
}

// latencyWindow keeps the last round trips of a server for percentiles.
type latencyWindow struct {
	ring [256]time.Duration
	n    int
}

func (w *latencyWindow) add(d time.Duration) {
	w.ring[w.n%len(w.ring)] = d
	w.n++
}

// at is the p-th percentile of the round trips kept, 0 when empty.
func (w *latencyWindow) at(p int) time.Duration {
	n := min(w.n, len(w.ring))
	if n == 0 {
		return 0
	}
	s := slices.Clone(w.ring[:n])
	slices.Sort(s)
	return s[(n-1)*p/100]
}

// percentile returns the p-th percentile in milliseconds, 0 when empty.
func (w *latencyWindow) percentile(p int) float64 {
	return float64(w.at(p)) / float64(time.Millisecond)
}

// Servers returns a snapshot of every server's statistics, ordered by
// enode URL.
func (c *Client) Servers() []ServerStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ServerStats, 0, len(c.stats))
	for id, s := range c.stats {
		st := *s
		if p, ok := c.peers[id]; ok {
			st.Connected = true
			p.fcMu.Lock()
			st.Capacity, st.Buffer = p.fc.Params().Recharge, p.fc.Value()
			p.fcMu.Unlock()
		}
		_, st.Banned = c.banned[id]
		st.LatencyP50Ms, st.LatencyP99Ms = s.latencies.percentile(50), s.latencies.percentile(99)
		st.StateLatencyP50Ms = s.stateLatencies.percentile(50)
		st.Tier = "free"
		if st.PaidCapacity > 0 {
			st.Tier = "paid"
		}
		st.latencies, st.stateLatencies, st.trouble = latencyWindow{}, latencyWindow{}, ""
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ServerStats) int { return strings.Compare(a.Enode, b.Enode) })
	return out
}

// Demand is what a client bids for paid capacity: up to Max capacity units
// (cost units per ms), at least Min, at no more than MaxPrice wei per
// capacity-unit-second.
type Demand struct {
	Max, Min uint64
	MaxPrice *big.Int
}

// Self is the client's own node record.
func (c *Client) Self() *enode.Node { return c.p2p.Self() }
