package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/flowcontrol"
	"github.com/lightmarket/lightmarket/metrics"
	"github.com/lightmarket/lightmarket/protocol"
)

var errPeerGone = errors.New("server disconnected")

var reqIDs atomic.Uint64

// peer is one connected server.
type peer struct {
	id      enode.ID
	node    *enode.Node
	rw      p2p.MsgReadWriter
	log     log.Logger
	trusted bool
	// sections is the count of the last history root the server signed.
	sections atomic.Uint64
	// relaysBeacon is set once the server relayed beacon data.
	relaysBeacon atomic.Bool
	// lastHead is the last head the server announced.
	lastHead atomic.Pointer[protocol.BlockRef]
	status   *protocol.Status

	mu      sync.Mutex
	pending map[uint64]pendingReq
	closed  chan struct{}
	// latency is an exponential moving average of round trips, in ns,
	// what requests are routed by: of every request until the server has
	// answered one that reads the state, then of those only (readsState:
	// headers and beacon updates come from memory as quickly from a
	// server slow at the rest).
	latency   atomic.Int64
	readState atomic.Bool // it has answered a request that reads the state
	// inflight counts the requests picked for it and not answered yet.
	inflight atomic.Int64
	// observed records a round trip of a request in the server's
	// statistics.
	observed func(code protocol.Code, d time.Duration)
	metrics  *metrics.Client
	// drop ends the session (nil in tests without one).
	drop    func()
	trips   *tripCounter  // the client's count of requests sent
	timeout time.Duration // for one request, from when it is sent

	// stopped is set while an overloaded server has asked the client to
	// hold its requests.
	stopped atomic.Bool
	// ready is set once the server is on the client's chain (its genesis
	// is the agreed one); before, its latest announcement is held
	// (guarded by Client.mu).
	ready   bool
	held    *protocol.Announce
	heldSeq uint64
	// bidding is set while the client has a bid at this server, sent is
	// the demand it bid and lastBid when (guarded by Client.mu).
	bidding bool
	sent    *Demand
	lastBid time.Time

	// Payments: pay is guarded by mu; payMu serialises payments, and
	// lastPay (guarded by payMu) spaces them.
	pay     payState
	payMu   sync.Mutex
	lastPay time.Time

	// Flow control: the server's announced costs and the client's estimate
	// of its buffer there.
	costs flowcontrol.CostTable
	fcMu  sync.Mutex
	fc    *flowcontrol.ServerBuffer
}

type pendingReq struct {
	code protocol.Code // expected reply code
	ch   chan protocol.Reply
}

// runPeer runs one server session: handshake, then replies and
// announcements until the server leaves or breaks a rule.
func (c *Client) runPeer(p2pPeer *p2p.Peer, rw p2p.MsgReadWriter) error {
	rw = meteredRW{rw, c}
	id := p2pPeer.ID()
	c.mu.Lock()
	_, known := c.stats[id]
	until, banned := c.banned[id]
	c.mu.Unlock()
	if !known {
		return p2p.DiscUselessPeer // only configured servers are spoken to
	}
	if banned && time.Now().Before(until) {
		return p2p.DiscUselessPeer
	}
	p := &peer{
		id:      id,
		node:    p2pPeer.Node(),
		rw:      rw,
		log:     c.cfg.Logger.New("server", id.TerminalString()),
		trusted: c.trusted[id],
		pending: make(map[uint64]pendingReq),
		closed:  make(chan struct{}),
		metrics: c.cfg.Metrics,
		trips:   &c.trips,
		timeout: c.cfg.RequestTimeout,
		drop:    func() { p2pPeer.Disconnect(p2p.DiscNetworkError) },
		observed: func(code protocol.Code, d time.Duration) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if s := c.stats[id]; s != nil {
				s.observe(code, d)
			}
		},
	}
	status, err := c.handshake(p)
	if err != nil {
		c.noteTrouble(p, "handshake failed: "+err.Error())
		return err
	}
	p.status = status
	p.costs = make(flowcontrol.CostTable, len(status.FlowControl.Costs))
	for _, rc := range status.FlowControl.Costs {
		p.costs[uint64(rc.Code)] = flowcontrol.Cost{Base: rc.Base, PerItem: rc.PerItem}
	}
	p.fc = flowcontrol.NewServerBuffer(c.clock, flowcontrol.Params{BufLimit: status.FlowControl.BufferLimit, Recharge: status.FlowControl.Recharge})
	defer c.removePeer(p)
	defer close(p.closed)
	c.join(p)
	p.log.Info("Connected to server", "trusted", p.trusted, "head", status.HeadNumber)

	var announced uint64 // arrival order of announcements
	signed := protocol.NewRate(c.clock.Now(), protocol.SignedBurst, protocol.SignedInterval)

	for {
		code, msg, err := protocol.ReadMsg(rw)
		if err != nil {
			return c.peerViolation(p, err)
		}
		if protocol.Signed(code) && !signed.Take(c.clock.Now()) {
			return c.peerViolation(p, fmt.Errorf("%w: %v beyond %s", protocol.ErrMsgRate, code, signed.Limit()))
		}
		switch m := msg.(type) {
		case *protocol.Announce:
			if err := c.checkAnnounce(p, m); err != nil {
				return c.peerViolation(p, err)
			}
			p.lastHead.Store(&protocol.BlockRef{Hash: m.Hash, Number: m.Number})
			announced++
			if c.hold(p, m, announced) {
				continue
			}
			c.goHandleAnnounce(p, m, announced)
		case *protocol.HistoryRoot:
			if err := c.noteHistoryRoot(p, m); err != nil {
				return c.peerViolation(p, err)
			}
		case *protocol.BeaconOptimistic:
			c.goHandleBeacon(p, m, nil)
		case *protocol.BeaconFinality:
			c.goHandleBeacon(p, nil, m)
		case *protocol.Allocation:
			c.noteAllocation(p, m)
		case *protocol.PaymentTerms:
			c.noteTerms(p, m)
		case *protocol.PayAck:
			if err := c.noteAck(p, m); err != nil {
				return c.peerViolation(p, err)
			}
		case *protocol.Stop:
			p.log.Debug("Server overloaded: holding requests")
			p.stopped.Store(true)
		case *protocol.Resume:
			p.stopped.Store(false)
		case *protocol.CapacityUpdate:
			p.fcMu.Lock()
			p.fc.SetParams(flowcontrol.Params{BufLimit: m.BufferLimit, Recharge: m.Recharge})
			p.fcMu.Unlock()
		case *protocol.Error:
			c.noteError(p, "server disconnected us: "+m.Reason)
			return fmt.Errorf("server reported: %s", m.Reason)
		case protocol.Reply:
			if err := p.deliver(code, m); err != nil {
				return c.peerViolation(p, err)
			}
		default:
			return c.peerViolation(p, fmt.Errorf("%w: %v from a server", protocol.ErrUnexpectedMsg, code))
		}
	}
}

func (c *Client) handshake(p *peer) (*protocol.Status, error) {
	c.mu.Lock()
	ours := &protocol.Status{
		ProtocolVersion: protocol.Version,
		ChainID:         c.chainID,
		Genesis:         c.genesis,
	}
	c.mu.Unlock()
	errc := make(chan error, 2)
	var theirs *protocol.Status
	go func() { errc <- protocol.Send(p.rw, protocol.StatusMsg, ours) }()
	go func() {
		code, msg, err := protocol.ReadMsg(p.rw)
		switch {
		case err != nil:
			errc <- err
		case code == protocol.ErrorMsg:
			errc <- fmt.Errorf("server refused the handshake: %s", msg.(*protocol.Error).Reason)
		case code != protocol.StatusMsg:
			errc <- fmt.Errorf("%w: %v before Status", protocol.ErrUnexpectedMsg, code)
		default:
			theirs = msg.(*protocol.Status)
			c.mu.Lock()
			genesis := c.genesis // zero while undecided: join decides
			c.mu.Unlock()
			errc <- theirs.Validate(c.chainID, genesis)
		}
	}()
	timer := time.NewTimer(c.cfg.RequestTimeout)
	defer timer.Stop()
	for range 2 {
		select {
		case err := <-errc:
			if err != nil {
				return nil, err
			}
		case <-timer.C:
			return nil, p2p.DiscReadTimeout
		}
	}
	return theirs, nil
}

// checkAnnounce checks that an announcement is signed by the server that
// sent it.
func (c *Client) checkAnnounce(p *peer, a *protocol.Announce) error {
	signer, err := a.Signer(c.chainID)
	if err != nil {
		return err
	}
	if !bytes.Equal(signer, crypto.CompressPubkey(p.node.Pubkey())) {
		return fmt.Errorf("%w: head %d signed by another key", protocol.ErrBadAnnounce, a.Number)
	}
	return nil
}

func (c *Client) peerViolation(p *peer, err error) error {
	if isProtocolError(err) {
		c.noteError(p, err.Error())
		p.log.Warn("Server broke protocol", "err", err)
		protocol.Send(p.rw, protocol.ErrorMsg, protocol.NewError(err))
	}
	return err
}

func isProtocolError(err error) bool {
	for _, e := range []error{
		protocol.ErrMsgTooLarge, protocol.ErrDecode, protocol.ErrUnexpectedMsg,
		protocol.ErrTooManyItems, protocol.ErrInvalidRequest, protocol.ErrBadAnnounce,
		protocol.ErrUnknownRequestID, protocol.ErrBadHistoryRoot, protocol.ErrMsgRate,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// stoppedPoll is how often a client held by Stop checks for Resume.
const stoppedPoll = 20 * time.Millisecond

// errTooCostly says a request's maximum cost exceeds the server's buffer
// limit: it can never be sent there.
var errTooCostly = errors.New("request costs more than the server's flow-control buffer holds")

// reserve waits until the estimate of the buffer can pay for a request of
// maxCost and charges it.
func (p *peer) reserve(ctx context.Context, reqID, maxCost uint64) error {
	for {
		p.fcMu.Lock()
		wait := p.fc.CanSend(maxCost)
		if p.stopped.Load() {
			wait = stoppedPoll
		} else if wait == 0 {
			p.fc.Sent(reqID, maxCost)
		}
		p.fcMu.Unlock()
		switch {
		case wait == 0:
			return nil
		case wait < 0:
			return errTooCostly
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-p.closed:
			timer.Stop()
			return errPeerGone
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}

// request sends req and waits for the reply with the expected code. It
// first waits until the server's flow control allows it.
func (p *peer) request(ctx context.Context, code, replyCode protocol.Code, reqID uint64, req protocol.Request) (protocol.Reply, error) {
	reserveStack()
	maxCost, _ := p.costs.MaxCost(uint64(code), req.Items())
	if err := p.reserve(ctx, reqID, maxCost); err != nil {
		return nil, err
	}
	// The timeout runs from the sending: waiting for the buffer is not the
	// server's slowness.
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	answered := false
	defer func() {
		if !answered {
			p.fcMu.Lock()
			p.fc.Forget(reqID)
			p.fcMu.Unlock()
		}
	}()
	ch := make(chan protocol.Reply, 1)
	p.mu.Lock()
	p.pending[reqID] = pendingReq{code: replyCode, ch: ch}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.pending, reqID)
		p.mu.Unlock()
	}()
	start := time.Now()
	name := code.String()
	p.trips.begin()
	defer p.trips.end()
	// A server that does not read its connection holds a write for up to
	// go-ethereum's 20 s write timeout, and every request after it; one
	// that has not taken the request in the request's time is dropped,
	// which fails the write, so that the call goes to another server.
	var written atomic.Bool
	stuck := time.AfterFunc(p.timeout, func() {
		if !written.Load() && p.drop != nil {
			p.log.Debug("Server not reading its connection: disconnecting")
			p.drop()
		}
	})
	err := protocol.Send(p.rw, code, req)
	written.Store(true)
	stuck.Stop()
	if err != nil {
		p.metrics.Requests.WithLabelValues(name, "gone").Inc()
		return nil, fmt.Errorf("%w: %v", errPeerGone, err)
	}
	select {
	case reply := <-ch:
		answered = true
		p.fcMu.Lock()
		p.fc.Received(reqID, reply.BufferValue())
		p.fcMu.Unlock()
		took := time.Since(start)
		p.observeLatency(code, took)
		p.metrics.Requests.WithLabelValues(name, "answered").Inc()
		p.metrics.RequestTime.WithLabelValues(name).Observe(took.Seconds())
		return reply, nil
	case <-p.closed:
		p.metrics.Requests.WithLabelValues(name, "gone").Inc()
		return nil, errPeerGone
	case <-ctx.Done():
		p.metrics.Requests.WithLabelValues(name, "timeout").Inc()
		return nil, ctx.Err()
	}
}

// deliver hands a reply to the request waiting for it.
func (p *peer) deliver(code protocol.Code, reply protocol.Reply) error {
	p.mu.Lock()
	req, ok := p.pending[reply.RequestID()]
	p.mu.Unlock()
	if !ok {
		// A reply to a request that timed out is not the server's fault.
		return nil
	}
	if req.code != code {
		return fmt.Errorf("%w: %v in reply to a request answered by %v", protocol.ErrUnexpectedMsg, code, req.code)
	}
	select {
	case req.ch <- reply:
	default:
		return fmt.Errorf("%w: second reply to request %d", protocol.ErrUnknownRequestID, reply.RequestID())
	}
	return nil
}

func (p *peer) observeLatency(code protocol.Code, d time.Duration) {
	p.observed(code, d)
	if readsState(code) {
		p.readState.Store(true)
	} else if p.readState.Load() {
		return
	}
	old := p.latency.Load()
	if old == 0 {
		p.latency.Store(int64(d))
		return
	}
	p.latency.Store(old + (int64(d)-old)/8)
}

// goHandleAnnounce handles an announcement in the background: fetching
// the header takes a round trip.
func (c *Client) goHandleAnnounce(p *peer, a *protocol.Announce, seq uint64) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.handleAnnounce(p, a, seq)
	}()
}

// hold keeps the latest announcement of a server that is not ready yet and
// reports whether it did.
func (c *Client) hold(p *peer, a *protocol.Announce, seq uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.ready {
		return false
	}
	p.held, p.heldSeq = a, seq
	return true
}

// join makes a server that passed the handshake usable, or, while the
// genesis is undecided, counts its vote and keeps it waiting.
func (c *Client) join(p *peer) {
	c.mu.Lock()
	if genesis := c.genesis; genesis != (common.Hash{}) {
		// Decided since the handshake checked it, perhaps.
		if p.status.Genesis != genesis {
			c.mu.Unlock()
			c.refuseChain(p, genesis)
			return
		}
		c.readyLocked(p)
		c.mu.Unlock()
		c.marketPoke()
		return
	}
	c.waiting[p.id] = p
	if p.trusted {
		c.votes[p.id] = p.status.Genesis
	}
	decided := c.decideGenesisLocked()
	c.mu.Unlock()
	if decided {
		c.settleWaiting()
	}
}

// decideGenesisLocked adopts the genesis that enough trusted servers agree
// on, if any; c.mu is held.
func (c *Client) decideGenesisLocked() bool {
	count := make(map[common.Hash]int)
	for _, g := range c.votes {
		count[g]++
		if count[g] >= c.heads.need {
			c.genesis = g
			c.votes = make(map[enode.ID]common.Hash)
			c.cfg.Logger.Info("Genesis agreed by the trusted servers", "genesis", g, "servers", count[g], "needed", c.heads.need)
			return true
		}
	}
	return false
}

// settleWaiting makes the waiting servers on the agreed chain ready and
// disconnects the others.
func (c *Client) settleWaiting() {
	c.mu.Lock()
	var mismatched []*peer
	for id, p := range c.waiting {
		delete(c.waiting, id)
		if p.status.Genesis == c.genesis {
			c.readyLocked(p)
		} else {
			mismatched = append(mismatched, p)
		}
	}
	genesis := c.genesis
	c.mu.Unlock()
	c.marketPoke()
	for _, p := range mismatched {
		c.refuseChain(p, genesis)
	}
}

// refuseChain turns away a server on another chain than the agreed one.
func (c *Client) refuseChain(p *peer, genesis common.Hash) {
	err := fmt.Errorf("%w: genesis %x, the trusted servers agree on %x", protocol.ErrChainMismatch, p.status.Genesis, genesis)
	c.noteTrouble(p, err.Error())
	protocol.Send(p.rw, protocol.ErrorMsg, protocol.NewError(err))
	c.disconnect(p)
}

// readyLocked adds a server on the client's chain to the usable ones and
// handles the announcement it held; c.mu is held.
func (c *Client) readyLocked(p *peer) {
	p.ready = true
	c.peers[p.id] = p
	c.updateServerGauges()
	close(c.peerJoined)
	c.peerJoined = make(chan struct{})
	if s := c.stats[p.id]; s != nil {
		s.LastError, s.trouble = "", ""
		s.Sessions++
	}
	if p.held != nil {
		c.goHandleAnnounce(p, p.held, p.heldSeq)
		p.held = nil
	}
}

func (c *Client) removePeer(p *peer) {
	c.rememberSpending(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peers[p.id] == p {
		delete(c.peers, p.id)
	}
	if c.waiting[p.id] == p {
		delete(c.waiting, p.id)
		delete(c.votes, p.id)
	}
	c.updateServerGauges()
	c.heads.forget(p.id)
}

// noteTrouble records why a server cannot be used and logs it once per
// change: a trusted server at WARN, since the head depends on it.
func (c *Client) noteTrouble(p *peer, msg string) {
	c.mu.Lock()
	s := c.stats[p.id]
	changed := s != nil && s.trouble != msg
	if s != nil {
		s.LastError, s.trouble = msg, msg
	}
	c.mu.Unlock()
	switch {
	case !changed:
	case p.trusted:
		p.log.Warn("Trusted server unusable", "err", msg)
	default:
		p.log.Info("Server unusable", "err", msg)
	}
}

func (c *Client) noteError(p *peer, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.stats[p.id]; s != nil {
		s.LastError = msg
	}
}

// noteAllocation records the paid capacity a server gave us.
func (c *Client) noteAllocation(p *peer, a *protocol.Allocation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.stats[p.id]; s != nil {
		if s.PaidCapacity > 0 && a.Capacity == 0 {
			// Outbid, or the balance there ran dry and the server dropped
			// the bid: look again, and bid again if it is still the place.
			p.sent = nil
			defer c.marketPoke()
		}
		s.PaidCapacity, s.PaidUntil = a.Capacity, a.UntilMs
		if a.Price != nil {
			s.Price = a.Price.String()
		}
	}
	p.mu.Lock()
	p.pay.allocCap = a.Capacity
	if a.Price != nil {
		p.pay.price = new(big.Int).Set(a.Price)
	}
	p.mu.Unlock()
}
