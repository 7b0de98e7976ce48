package client

import (
	"math/big"
	"net"
	"time"

	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/buyer"
	"github.com/lightmarket/lightmarket/discovery"
	"github.com/lightmarket/lightmarket/pricequery"
)

// Discovery bounds: how many servers found are remembered, how often one
// is asked for its prices again, how often the kept set is chosen again,
// and how fast nodes are taken from the discovery walk.
const (
	maxCandidates  = 64
	requeryAfter   = 30 * time.Second
	chooseInterval = 10 * time.Second
	discoverPace   = 100 * time.Millisecond
	// exploreEvery is how often a client with more servers found than it
	// keeps gives its last place to one it has not measured.
	exploreEvery = 5 * time.Minute
)

// discovery returns the client's discv5 node, starting it on first use. It
// answers nothing; the client uses it to ask servers for prices and, with
// bootnodes, to find servers.
func (c *Client) discovery() (*discovery.Node, error) {
	c.discMu.Lock()
	defer c.discMu.Unlock()
	if c.disc != nil {
		return c.disc, nil
	}
	addr := c.cfg.DiscoveryAddr
	if addr == "" {
		addr = net.JoinHostPort(c.queryIP().String(), "0")
	}
	n, err := discovery.Listen(addr, c.cfg.PrivateKey, c.cfg.Bootnodes, nil, c.cfg.NodeDB, c.cfg.Logger.New("module", "discv5"))
	if err != nil {
		return nil, err
	}
	c.disc = n
	return n, nil
}

// queryIP is the address the discv5 socket binds by default: loopback when
// every configured server and bootnode is on this machine, else every
// interface, so that queries reach servers elsewhere and their answers
// come back.
func (c *Client) queryIP() net.IP {
	nodes := append(append(append([]*enode.Node{}, c.cfg.Trusted...), c.cfg.Servers...), c.cfg.Bootnodes...)
	for _, n := range nodes {
		if ip := n.IP(); ip != nil && !ip.IsLoopback() {
			return net.IPv4zero
		}
	}
	if len(c.cfg.DNS) > 0 {
		return net.IPv4zero
	}
	return net.IPv4(127, 0, 0, 1)
}

// candidate is a server found by discovery.
type candidate struct {
	node  *enode.Node
	price *big.Int
	asked time.Time
}

// discoverLoop takes servers from the discovery iterator, asks each for
// its prices, and keeps the best MaxServers of them connected, as the
// buyer ranks them: where the client holds paid capacity first, then by
// price per unit of the quality their free service measured, with one
// place for a server not tried yet.
func (c *Client) discoverLoop(udp *discovery.Node, it enode.Iterator) {
	defer c.wg.Done()
	found := make(chan *enode.Node)
	go func() {
		<-c.ctx.Done()
		it.Close()
	}()
	go func() {
		for c.waitForeground() && it.Next() {
			select {
			case found <- it.Node():
			case <-c.ctx.Done():
				return
			}
			time.Sleep(discoverPace)
		}
	}()
	cands := make(map[enode.ID]*candidate)
	kept := make(map[enode.ID]bool)
	var explored time.Time
	tick := time.NewTicker(chooseInterval)
	defer tick.Stop()
	for {
		select {
		case n := <-found:
			id := n.ID()
			if c.configured(id) {
				continue
			}
			if old := cands[id]; old != nil && time.Since(old.asked) < requeryAfter && old.node.Seq() >= n.Seq() {
				continue
			}
			q, err := pricequery.Query(udp.UDPv5, n, 0, 0, new(big.Int))
			if err != nil {
				c.cfg.Logger.Debug("Discovered server did not answer a price query", "server", id.TerminalString(), "err", err)
				continue
			}
			if cands[id] == nil {
				c.cfg.Logger.Info("Discovered server", "server", id.TerminalString(), "price", q.Price, "sellable", q.Sellable)
			}
			cands[id] = &candidate{node: n, price: q.Price, asked: time.Now()}
			if len(cands) > maxCandidates {
				c.forgetWorst(cands, kept)
			}
			c.chooseServers(cands, kept, &explored)
		case <-tick.C:
			c.chooseServers(cands, kept, &explored)
		case <-c.ctx.Done():
			return
		}
	}
}

// configured says whether a server was given in the configuration.
func (c *Client) configured(id enode.ID) bool {
	if c.trusted[id] {
		return true
	}
	for _, n := range c.cfg.Servers {
		if n.ID() == id {
			return true
		}
	}
	return false
}

// rank lists the candidates as the buyer sees them.
func (c *Client) rank(cands map[enode.ID]*candidate) []buyer.Candidate {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]buyer.Candidate, 0, len(cands))
	for id, cand := range cands {
		if until, ok := c.banned[id]; ok && time.Now().Before(until) {
			continue
		}
		bc := buyer.Candidate{Server: buyer.ID(id), Price: cand.price}
		if s := c.stats[id]; s != nil {
			bc.Paid, bc.Quality = s.PaidCapacity > 0, s.quality()
		}
		out = append(out, bc)
	}
	return out
}

// chooseServers hands the servers to keep to the redial loop and takes the
// others away from it; every exploreEvery it tries one not measured yet.
func (c *Client) chooseServers(cands map[enode.ID]*candidate, kept map[enode.ID]bool, explored *time.Time) {
	if c.Power().Background {
		return // nothing is dialled in the background: keep the choice for the return
	}
	ranked := c.rank(cands)
	explore := time.Since(*explored) >= exploreEvery
	keep := c.buyer.Keep(ranked, c.keptDiscovered(), explore)
	if explore && len(ranked) > len(keep) {
		*explored = time.Now()
	}
	want := make(map[enode.ID]bool, len(keep))
	for _, id := range keep {
		want[enode.ID(id)] = true
	}
	for id := range kept {
		if !want[id] {
			delete(kept, id)
			select {
			case c.dialDrop <- id:
			case <-c.ctx.Done():
				return
			}
		}
	}
	for id := range want {
		if kept[id] {
			continue
		}
		kept[id] = true
		n := cands[enode.ID(id)].node
		c.mu.Lock()
		if c.stats[id] == nil {
			c.stats[id] = &ServerStats{Enode: n.URLv4(), Discovered: true}
		}
		c.mu.Unlock()
		select {
		case c.dialAdd <- n:
		case <-c.ctx.Done():
			return
		}
	}
}

// forgetWorst drops the candidate the buyer ranks last among those not
// kept.
func (c *Client) forgetWorst(cands map[enode.ID]*candidate, kept map[enode.ID]bool) {
	ranked := c.buyer.Keep(c.rank(cands), len(cands), false)
	for i := len(ranked) - 1; i >= 0; i-- {
		if id := enode.ID(ranked[i]); !kept[id] {
			delete(cands, id)
			return
		}
	}
}
