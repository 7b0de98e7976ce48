package client

import (
	"context"
	"errors"
	"net"
	"time"

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
	redialTick  = 250 * time.Millisecond
	redialMin   = 250 * time.Millisecond
	redialMax   = time.Second      // between attempts while a server is unreachable
	churnMax    = 30 * time.Second // between attempts at a server that drops us at once
	stableAfter = 10 * time.Second // a connection this old ends the churn backoff
	dialTimeout = 5 * time.Second
	// staticDialed is go-ethereum's p2p staticDialedConn flag (1<<1): the
	// dial scheduler counts a connection set up with it as one it dialled,
	// so that it does not keep logging "Looking for peers".
	staticDialed = 1 << 1
)

var errNoTCPEndpoint = errors.New("node record has no TCP endpoint")

// dialState is what the redial loop knows of one configured server.
type dialState struct {
	node    *enode.Node
	up      bool      // connected when last looked
	upAt    time.Time // when the connection was made
	dialing bool
	next    time.Time // no attempt before this
	backoff time.Duration
	lastErr string // last dial error logged, so that each is logged once
}

type dialResult struct {
	id      enode.ID
	dialErr error // the server could not be reached
	setupOK bool  // the handshakes passed and it is a peer
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
			c.dialDone(states[r.id], r)
		case <-tick.C:
			c.redial(states, results)
			c.logTrustChanges(&watch)
		}
	}
}

// redial starts a dial to every configured server that is neither
// connected, being dialled, banned nor backing off.
func (c *Client) redial(states map[enode.ID]*dialState, results chan<- dialResult) {
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
		go func(n *enode.Node) { results <- c.dialOnce(n) }(st.node)
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
	// SetupConn closes conn when it fails; an error here (already
	// connected, handshake refused) is the server's answer, not an
	// unreachable server.
	return dialResult{id: n.ID(), setupOK: c.p2p.SetupConn(conn, staticDialed, n) == nil}
}

func (c *Client) dialDone(st *dialState, r dialResult) {
	now := time.Now()
	st.dialing = false
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
	addr, _ := n.TCPEndpoint()
	log := c.cfg.Logger.New("server", n.ID().TerminalString(), "addr", addr)
	if c.trusted[n.ID()] {
		log.Warn("Cannot reach trusted server; retrying every second", "err", err)
	} else {
		log.Info("Cannot reach server; retrying every second", "err", err)
	}
}
