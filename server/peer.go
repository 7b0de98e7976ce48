package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p"

	"github.com/lightmarket/lightmarket/flowcontrol"
	"github.com/lightmarket/lightmarket/protocol"
)

// peer is one connected client.
type peer struct {
	*p2p.Peer
	rw       p2p.MsgReadWriter
	log      log.Logger
	announce chan *protocol.Announce    // latest head to send; capacity 1
	roots    chan *protocol.HistoryRoot // latest history root to send; capacity 1
	// The latest beacon updates to send; capacity 1.
	beaconOpt chan *protocol.BeaconOptimistic
	beaconFin chan *protocol.BeaconFinality
	// out holds the replies and notices for the client, which one
	// goroutine sends.
	out *outbox

	// Flow control: the costs announced to this client and its buffer.
	table flowcontrol.CostTable
	mu    sync.Mutex // guards buf
	buf   *flowcontrol.ClientBuffer
	// capMu orders the capacity and allocation updates queued for the client;
	// told is the capacity it was last told (at the handshake or since),
	// allocTold the last Allocation, of the auction's decision allocSeq.
	capMu     sync.Mutex
	told      uint64
	allocSeq  uint64
	allocTold *protocol.Allocation
}

// send queues a message for the client.
func (p *peer) send(code protocol.Code, msg any) { p.queue(code, msg, nil) }

// queue queues a message for the client; sent, if set, is called once it
// was written or will not be. A client that has let its outbox fill is not
// reading its connection, and is disconnected.
func (p *peer) queue(code protocol.Code, msg any, sent func(error)) {
	if !p.out.push(code, msg, sent) {
		p.log.Debug("Client not reading: disconnecting", "queued", p.out.limit)
		if p.Peer != nil {
			go p.Disconnect(p2p.DiscNetworkError)
		}
	}
}

// accept charges a request's maximum cost to the client's buffer.
func (p *peer) accept(maxCost uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.buf.Accept(maxCost); err != nil {
		return fmt.Errorf("%w: %v", protocol.ErrBufferOverrun, err)
	}
	return nil
}

// done refunds what serving did not use and returns the buffer value.
func (p *peer) done(maxCost, realCost uint64) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Done(maxCost, realCost)
}

// sendSigned sends the client the latest head, history root and beacon
// updates as they come, paced to the protocol's rate of signed messages:
// a head every 100 ms and the beacon's two updates a slot would otherwise
// exceed it. While it waits, a newer message of a kind replaces the one
// queued, so what is late is skipped, not queued.
func (s *Server) sendSigned(ctx context.Context, p *peer, w p2p.MsgWriter) {
	rate := protocol.NewRate(s.cfg.Clock.Now(), protocol.ServerSignedBurst, protocol.SignedInterval)
	for {
		if wait := rate.Wait(s.cfg.Clock.Now()); wait > 0 {
			select {
			case <-s.cfg.Clock.After(wait):
			case <-ctx.Done():
				return
			}
		}
		var (
			code protocol.Code
			msg  any
		)
		select {
		case msg = <-p.announce:
			code = protocol.AnnounceMsg
		case msg = <-p.roots:
			code = protocol.HistoryRootMsg
		case msg = <-p.beaconOpt:
			code = protocol.BeaconOptimisticMsg
		case msg = <-p.beaconFin:
			code = protocol.BeaconFinalityMsg
		case <-ctx.Done():
			return
		}
		rate.Take(s.cfg.Clock.Now()) // a token waited for is still there
		if err := protocol.Send(w, code, msg); err != nil {
			return
		}
	}
}

// runPeer runs one client session: handshake, then requests until the
// client leaves or breaks a rule.
func (s *Server) runPeer(p2pPeer *p2p.Peer, rw p2p.MsgReadWriter) error {
	p := &peer{
		Peer:      p2pPeer,
		rw:        rw,
		log:       s.cfg.Logger.New("peer", p2pPeer.ID().TerminalString(), "addr", p2pPeer.RemoteAddr()),
		announce:  make(chan *protocol.Announce, 1),
		roots:     make(chan *protocol.HistoryRoot, 1),
		beaconOpt: make(chan *protocol.BeaconOptimistic, 1),
		beaconFin: make(chan *protocol.BeaconFinality, 1),
		table:     s.costs.table(),
		out:       newOutbox(s.cfg.MaxInFlight),
	}
	capacity, err := s.admit(p)
	if err != nil {
		p.log.Debug("Client not admitted", "err", err)
		return p2p.DiscTooManyPeers
	}
	defer s.leave(p)
	defer s.marketLeave(p)
	defer s.sched.forget(p)
	p.buf = flowcontrol.NewClientBuffer(s.cfg.Clock, flowcontrol.ParamsFor(capacity))
	p.told = capacity
	if err := s.handshake(p); err != nil {
		p.log.Debug("Handshake failed", "err", err)
		return s.violation(p, err)
	}
	if err := s.sendTerms(p); err != nil {
		return err
	}
	s.mu.Lock()
	s.peers[p.ID()] = p
	s.mu.Unlock()
	// The pool may have changed the client's capacity since it was
	// admitted, when updates could not reach it yet.
	s.tellPoolCapacity(p)
	s.cfg.Metrics.Clients.Inc()
	defer func() {
		s.mu.Lock()
		delete(s.peers, p.ID())
		s.mu.Unlock()
		s.cfg.Metrics.Clients.Dec()
	}()
	p.log.Debug("Client connected")

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// The announcer sends the latest head and history root; it never
	// queues stale ones.
	queueLatest(p.announce, s.currentHead())
	if r := s.hist.signed(); r != nil {
		queueLatest(p.roots, r)
	}
	if s.beacon != nil {
		opt, fin := s.beacon.latest()
		if opt != nil {
			queueLatest(p.beaconOpt, opt)
		}
		if fin != nil {
			queueLatest(p.beaconFin, fin)
		}
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.sendSigned(ctx, p, rw)
	}()
	go func() {
		defer wg.Done()
		p.out.run(ctx, rw)
	}()

	slots := make(chan struct{}, s.cfg.MaxInFlight)
	bids := protocol.NewRate(s.cfg.Clock.Now(), protocol.BidBurst, protocol.BidInterval)
	pays := protocol.NewRate(s.cfg.Clock.Now(), protocol.PayBurst, protocol.PayInterval)
	for {
		code, msg, err := protocol.ReadMsg(rw)
		if err != nil {
			return s.violation(p, err)
		}
		if b, ok := msg.(*protocol.Bid); ok {
			// Bids cost no flow control, but each one reruns the auction and
			// may message every winner.
			if !bids.Take(s.cfg.Clock.Now()) {
				return s.violation(p, fmt.Errorf("%w: bids beyond %s", protocol.ErrInvalidRequest, bids.Limit()))
			}
			s.handleBid(p, b)
			continue
		}
		if m, ok := msg.(*protocol.Pay); ok {
			if !pays.Take(s.cfg.Clock.Now()) {
				return s.violation(p, fmt.Errorf("%w: payments beyond %s", protocol.ErrInvalidRequest, pays.Limit()))
			}
			s.handlePay(ctx, p, m)
			continue
		}
		req, ok := msg.(protocol.Request)
		if !ok {
			return s.violation(p, fmt.Errorf("%w: %v from a client", protocol.ErrUnexpectedMsg, code))
		}
		maxCost, _ := p.table.MaxCost(uint64(code), req.Items())
		if err := p.accept(maxCost); err != nil {
			return s.violation(p, fmt.Errorf("%v: %w", code, err))
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Add(1)
		s.sched.submit(p, s.isPaid(p), maxCost, func() {
			replyCode, reply := s.process(ctx, p, code, req, maxCost)
			if s.cfg.alter != nil {
				s.cfg.alter(reply)
			}
			// The request's slot is taken until its reply is written: a
			// client that does not read stops being read.
			p.queue(replyCode, reply, func(err error) {
				if err != nil {
					p.log.Debug("Cannot send reply", "code", replyCode, "err", err)
				}
				<-slots
				wg.Done()
			})
		})
	}
}

// process serves an accepted request and does its accounting: the real
// cost is observed for the cost table, refunded to the client's buffer
// (whose value the reply carries), counted against its free usage and
// charged to its balance.
func (s *Server) process(ctx context.Context, p *peer, code protocol.Code, req protocol.Request, maxCost uint64) (protocol.Code, any) {
	start := s.cfg.Clock.Now()
	replyCode, reply := s.serve(ctx, req)
	took := time.Duration(s.cfg.Clock.Now() - start)
	realCost := uint64((took + requestOverhead).Nanoseconds())
	s.costs.observe(code, req.Items(), realCost)
	setBV(reply, p.done(maxCost, realCost))
	s.served(p, realCost)
	s.chargeRequest(p, realCost)
	s.record(code, reply, took)
	return replyCode, reply
}

// handshake exchanges Status messages.
func (s *Server) handshake(p *peer) error {
	head := s.currentHead()
	s.mu.Lock()
	retention := s.retention
	s.mu.Unlock()
	status := &protocol.Status{
		ProtocolVersion: protocol.Version,
		ChainID:         s.chainID,
		Genesis:         s.genesis,
		HeadHash:        head.Hash,
		HeadNumber:      head.Number,
		FlowControl:     flowParams(p.buf.Params(), p.table),
		Retention:       retention,
	}
	errc := make(chan error, 2)
	go func() { errc <- protocol.Send(p.rw, protocol.StatusMsg, status) }()
	go func() {
		code, msg, err := protocol.ReadMsg(p.rw)
		switch {
		case err != nil:
			errc <- err
		case code != protocol.StatusMsg:
			errc <- fmt.Errorf("%w: %v before Status", protocol.ErrUnexpectedMsg, code)
		default:
			theirs := msg.(*protocol.Status)
			if theirs.Genesis == (common.Hash{}) {
				// A client that has not configured the genesis decides on
				// one with its trusted servers; it says so with a zero hash.
				theirs.Genesis = s.genesis
			}
			errc <- theirs.Validate(s.chainID, s.genesis)
		}
	}()
	timer := time.NewTimer(s.cfg.HandshakeTimeout)
	defer timer.Stop()
	for range 2 {
		select {
		case err := <-errc:
			if err != nil {
				return err
			}
		case <-timer.C:
			return p2p.DiscReadTimeout
		}
	}
	return nil
}

// violation tells the peer which rule it broke, if it is a protocol error,
// and returns err so that the session ends.
func (s *Server) violation(p *peer, err error) error {
	if isPeerFault(err) {
		s.cfg.Metrics.Violations.WithLabelValues(protocol.RuleName(err)).Inc()
		p.log.Debug("Client broke protocol", "err", err)
		protocol.Send(p.rw, protocol.ErrorMsg, protocol.NewError(err))
	}
	return err
}

func isPeerFault(err error) bool {
	for _, e := range []error{
		protocol.ErrMsgTooLarge, protocol.ErrDecode, protocol.ErrUnexpectedMsg,
		protocol.ErrTooManyItems, protocol.ErrInvalidRequest, protocol.ErrProtocolVersion,
		protocol.ErrChainMismatch, protocol.ErrBufferOverrun,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// record counts a served request and its items.
func (s *Server) record(code protocol.Code, reply any, took time.Duration) {
	m := s.cfg.Metrics
	name := code.String()
	m.Requests.WithLabelValues(name).Inc()
	m.ServingTime.WithLabelValues(name).Observe(took.Seconds())
	var items int
	switch r := reply.(type) {
	case *protocol.BlockHeaders:
		items = len(r.Headers)
	case *protocol.BlockBodies:
		items = len(r.Bodies)
	case *protocol.Receipts:
		items = len(r.Receipts)
	case *protocol.Proofs:
		items = len(r.Proofs)
	case *protocol.CodeReply:
		items = len(r.Codes)
	case *protocol.TxStatus:
		items = len(r.Statuses)
	case *protocol.ReceiptsPart:
		items = int(r.Count)
	case *protocol.Witness:
		items = len(r.Accounts)
	case *protocol.HeaderProofs:
		items = len(r.Proofs)
	case *protocol.BloomBits:
		items = len(r.Vectors)
	case *protocol.RecentHeaders:
		items = len(r.Headers)
	case *protocol.BeaconBootstraps:
		items = len(r.Bootstraps)
	case *protocol.BeaconUpdates:
		items = len(r.Updates)
	}
	m.Items.WithLabelValues(name).Add(float64(items))
}
