package client

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"
)

// Redialling. go-ethereum's dialer does not dial a node again until about
// 35 s after its last attempt (its dial history), which is far too long
// for a client whose head depends on a handful of configured servers. The
// client therefore keeps its configured servers connected itself: a server
// that went away, or could not be reached, is dialled again within a
// second (redialMax), and one that keeps dropping the connection soon
// after it is made is dialled less and less often (up to churnMax).
const (
	redialTick = 250 * time.Millisecond
	// backgroundTick is how often the loop looks in the background.
	backgroundTick = 30 * time.Second
	redialMin      = 250 * time.Millisecond
	redialMax      = time.Second      // between attempts while a server is unreachable
	churnMax       = 30 * time.Second // between attempts at a server that drops us at once
	stableAfter    = 10 * time.Second // a connection this old ends the churn backoff
	dialTimeout    = 5 * time.Second
	// staticDialed is go-ethereum's p2p staticDialedConn flag (1<<1): the
	// dial scheduler counts a connection set up with it as one it dialled,
	// so that it does not keep logging "Looking for peers".
	staticDialed = 1 << 1
)

var (
	errNoTCPEndpoint = errors.New("node record has no TCP endpoint")
	errNotFound      = errors.New("not found by discovery")
)

// dialState is what the redial loop knows of one configured server.
type dialState struct {
	node    *enode.Node
	up      bool      // connected when last looked
	upAt    time.Time // when the connection was made
	dialing bool
	next    time.Time // no attempt before this
	backoff time.Duration
	lastErr string // last dial error logged, so that each is logged once
	// discovered servers were found by discovery, not configured: they
	// come and go as the client chooses.
	discovered bool
}

type dialResult struct {
	id      enode.ID
	dialErr error // the server could not be reached
	setupOK bool  // the handshakes passed and it is a peer
	// resolved is the record discovery found of a server given by key.
	resolved *enode.Node
}

// redialLoop keeps every configured server connected while the client
// runs, except those banned for lying, and logs changes in the trusted
// servers and the head's age.
func (c *Client) redialLoop() {
	defer c.wg.Done()
	now := time.Now()
	states := make(map[enode.ID]*dialState)
	for _, n := range append(append([]*enode.Node{}, c.cfg.Trusted...), c.cfg.Servers...) {
		if states[n.ID()] == nil {
			states[n.ID()] = &dialState{node: n, next: now, backoff: redialMin}
		}
	}
	results := make(chan dialResult, len(states))
	tick := time.NewTicker(redialTick)
	defer tick.Stop()
	var watch trustWatch
	c.redial(states, results) // the first dials at once
	for {
		select {
		case <-c.ctx.Done():
			return
		case r := <-results:
			if st := states[r.id]; st != nil {
				c.dialDone(st, r)
			}
			// A dial that was under way when the app went to the
			// background is not left connected until the next look.
			c.pauseConnections()
		case n := <-c.dialAdd:
			if states[n.ID()] == nil {
				states[n.ID()] = &dialState{node: n, next: time.Now(), backoff: redialMin, discovered: true}
				c.redial(states, results)
			}
		case id := <-c.dialDrop:
			if st := states[id]; st != nil && st.discovered {
				delete(states, id)
				c.dropServer(id)
			}
		case <-c.powerWake:
			if c.Power().Background {
				// Nothing to dial: look seldom, so that a phone's CPU
				// sleeps.
				tick.Reset(backgroundTick)
			} else {
				tick.Reset(redialTick)
				now := time.Now()
				for _, st := range states {
					st.next, st.backoff = now, redialMin
				}
			}
			c.redial(states, results)
		case <-tick.C:
			c.redial(states, results)
			c.logTrustChanges(&watch)
		}
	}
}

// redial starts a dial to every configured server that is neither
// connected, being dialled, banned nor backing off.
func (c *Client) redial(states map[enode.ID]*dialState, results chan<- dialResult) {
	if c.pauseConnections() {
		for _, st := range states {
			st.up = false
		}
		return
	}
	now := time.Now()
	connected := make(map[enode.ID]bool)
	for _, p := range c.p2p.Peers() {
		connected[p.ID()] = true
	}
	c.mu.Lock()
	banned := make(map[enode.ID]bool, len(c.banned))
	for id, until := range c.banned {
		banned[id] = now.Before(until)
	}
	c.mu.Unlock()
	for id, st := range states {
		switch {
		case connected[id]:
			if !st.up {
				st.up, st.upAt = true, now
			}
			continue
		case st.up:
			// The server went away: dial again at once, unless it keeps
			// dropping us soon after we connect.
			st.up = false
			if now.Sub(st.upAt) >= stableAfter {
				st.backoff = redialMin
			} else {
				st.backoff = min(2*st.backoff, churnMax)
			}
			st.next = now.Add(st.backoff)
			continue
		case st.dialing || banned[id] || now.Before(st.next):
			continue
		}
		st.dialing = true
		if _, ok := st.node.TCPEndpoint(); !ok && c.cfg.Dialer == nil {
			// Given by key only: discovery finds its address.
			go func(st *dialState) { results <- c.resolveAndDial(st.node, st) }(st)
			continue
		}
		go func(n *enode.Node) { results <- c.dialOnce(n) }(st.node)
	}
}

// resolveAndDial looks up a server given without an address through
// discovery, then dials it. The address found is kept in st only by the
// redial loop (through the result), so this reads st.node alone.
func (c *Client) resolveAndDial(n *enode.Node, st *dialState) dialResult {
	c.discMu.Lock()
	udp := c.disc
	c.discMu.Unlock()
	if udp == nil {
		return dialResult{id: n.ID(), dialErr: errNoTCPEndpoint}
	}
	found := udp.ResolveNodeId(n.ID())
	if found == nil {
		return dialResult{id: n.ID(), dialErr: errNotFound}
	}
	if _, ok := found.TCPEndpoint(); !ok {
		return dialResult{id: n.ID(), dialErr: errNotFound}
	}
	r := c.dialOnce(found)
	r.resolved = found
	return r
}

// dropServer disconnects a discovered server the client no longer wants,
// unless it holds paid capacity or a bid there.
func (c *Client) dropServer(id enode.ID) {
	c.mu.Lock()
	p := c.peers[id]
	busy := p != nil && p.bidding
	if s := c.stats[id]; s != nil && s.PaidCapacity > 0 {
		busy = true
	}
	c.mu.Unlock()
	if p == nil || busy {
		return
	}
	for _, pp := range c.p2p.Peers() {
		if pp.ID() == id {
			pp.Disconnect(p2p.DiscRequested)
		}
	}
}

// dialOnce connects to n and runs the devp2p handshakes.
func (c *Client) dialOnce(n *enode.Node) dialResult {
	ctx, cancel := context.WithTimeout(c.ctx, dialTimeout)
	defer cancel()
	var (
		conn net.Conn
		err  error
	)
	if c.cfg.Dialer != nil {
		conn, err = c.cfg.Dialer.Dial(ctx, n)
	} else {
		var d net.Dialer
		addr, ok := n.TCPEndpoint()
		if !ok {
			return dialResult{id: n.ID(), dialErr: errNoTCPEndpoint}
		}
		conn, err = d.DialContext(ctx, "tcp", addr.String())
	}
	if err != nil {
		return dialResult{id: n.ID(), dialErr: err}
	}
	conn = &countingConn{Conn: conn, bytes: &c.socketBytes}
	// SetupConn closes conn when it fails; an error here (already
	// connected, handshake refused) is the server's answer, not an
	// unreachable server.
	return dialResult{id: n.ID(), setupOK: c.p2p.SetupConn(conn, staticDialed, n) == nil}
}

// countingConn counts the bytes through a server connection.
type countingConn struct {
	net.Conn
	bytes *atomic.Uint64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.bytes.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.bytes.Add(uint64(n))
	return n, err
}

func (c *Client) dialDone(st *dialState, r dialResult) {
	now := time.Now()
	st.dialing = false
	if r.resolved != nil && r.setupOK {
		st.node = r.resolved
		c.mu.Lock()
		if s := c.stats[r.id]; s != nil {
			s.Enode = r.resolved.URLv4()
		}
		c.mu.Unlock()
	}
	switch {
	case r.dialErr != nil:
		// Unreachable: try again soon, a restarting server is back in
		// a second or two.
		st.backoff = min(max(2*st.backoff, redialMin), redialMax)
		st.next = now.Add(st.backoff)
		if msg := r.dialErr.Error(); msg != st.lastErr {
			st.lastErr = msg
			c.logUnreachable(st.node, r.dialErr)
		}
	case r.setupOK:
		st.up, st.upAt, st.lastErr = true, now, ""
	default:
		st.backoff = min(2*st.backoff, churnMax)
		st.next = now.Add(st.backoff)
	}
}

func (c *Client) logUnreachable(n *enode.Node, err error) {
	if errors.Is(err, errNotFound) {
		c.cfg.Logger.Info("Looking for server through discovery", "server", n.ID().TerminalString(), "trusted", c.trusted[n.ID()])
		return
	}
	addr, _ := n.TCPEndpoint()
	log := c.cfg.Logger.New("server", n.ID().TerminalString(), "addr", addr)
	if c.trusted[n.ID()] {
		log.Warn("Cannot reach trusted server; retrying every second", "err", err)
	} else {
		log.Info("Cannot reach server; retrying every second", "err", err)
	}
}
