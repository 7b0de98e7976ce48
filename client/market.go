package client

import (
	"errors"
	"math/big"
	"net"
	"time"

	"github.com/ethereum/go-ethereum/p2p/discover"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/pricequery"
	"github.com/lightmarket/lightmarket/protocol"
)

// bidSpacing keeps a client's bids to one server apart by more than the
// servers' minimum (100 ms).
const bidSpacing = 150 * time.Millisecond

// queryIP is the address the price-query socket binds: loopback when
// every configured server is on this machine, else every interface, so
// that queries reach servers elsewhere and their answers come back.
func (c *Client) queryIP() net.IP {
	for _, n := range append(append([]*enode.Node{}, c.cfg.Trusted...), c.cfg.Servers...) {
		if ip := n.IP(); ip != nil && !ip.IsLoopback() {
			return net.IPv4zero
		}
	}
	return net.IPv4(127, 0, 0, 1)
}

// marketInterval is how often a client with a demand looks for the server
// where it is best served.
const marketInterval = 5 * time.Second

// startMarket runs the bidding loop of a client with a demand: it asks
// every connected server over discv5 what the demand would win there, bids
// where the price divided by the quality measured so far is lowest among
// the servers where it would win within its price, withdraws elsewhere,
// and looks again when a server pokes it (a connection, an allocation
// change) or every marketInterval. Where no bid wins it is served free.
func (c *Client) startMarket() error {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: c.queryIP()})
	if err != nil {
		return err
	}
	db, err := enode.OpenDB("")
	if err != nil {
		conn.Close()
		return err
	}
	ln := enode.NewLocalNode(db, c.cfg.PrivateKey)
	ln.SetFallbackIP(net.IP{127, 0, 0, 1})
	ln.SetFallbackUDP(conn.LocalAddr().(*net.UDPAddr).Port)
	udp, err := discover.ListenV5(conn, ln, discover.Config{PrivateKey: c.cfg.PrivateKey})
	if err != nil {
		conn.Close()
		db.Close()
		return err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer db.Close()
		defer udp.Close()
		tick := time.NewTicker(marketInterval)
		defer tick.Stop()
		for {
			select {
			case <-c.poke:
			case <-tick.C:
			case <-c.ctx.Done():
				return
			}
			c.rebid(udp)
		}
	}()
	return nil
}

// marketPoke asks the bidding loop to look again.
func (c *Client) marketPoke() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// rebid picks the server to bid at and places or withdraws bids.
func (c *Client) rebid(udp *discover.UDPv5) {
	c.mu.Lock()
	d := c.demand
	peers := make([]*peer, 0, len(c.peers))
	for _, p := range c.peers {
		peers = append(peers, p)
	}
	c.mu.Unlock()
	// The best server is where the demand wins now at the lowest price per
	// unit of measured quality; when it wins nowhere, a standing bid goes
	// where the clearing price is lowest (it wins when capacity frees up,
	// and is served free meanwhile).
	var (
		best      *peer
		bestScore float64
		bestWins  bool
	)
	for _, p := range peers {
		if d == nil {
			break // no demand: withdraw everywhere
		}
		q, err := pricequery.Query(udp, p.node, d.Max, d.Min, d.MaxPrice)
		if err != nil {
			continue
		}
		wins := q.WinCap >= d.Min && q.WinPrice.Cmp(d.MaxPrice) <= 0
		price := q.WinPrice
		if !wins {
			if q.Price.Cmp(d.MaxPrice) > 0 {
				continue // even the current price is too high
			}
			price = q.Price
		}
		// A faster server is worth paying a little more.
		pf, _ := new(big.Float).SetInt(price).Float64()
		latency := float64(max(p.latency.Load(), int64(time.Millisecond)))
		score := (pf + 1) * latency
		if best == nil || (wins && !bestWins) || (wins == bestWins && score < bestScore) {
			best, bestScore, bestWins = p, score, wins
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range peers {
		want := p == best
		if want == p.bidding && (!want || p.sent == d) {
			continue // nothing new to say to this server
		}
		// Servers take at most one bid per 100 ms from a client.
		if wait := bidSpacing - time.Since(p.lastBid); wait > 0 {
			time.AfterFunc(wait, c.marketPoke)
			continue
		}
		bid := &protocol.Bid{ReqID: reqIDs.Add(1), Price: new(big.Int)}
		if want && c.cfg.Payer != nil {
			// Servers take bids only from clients with a balance there.
			c.mu.Unlock()
			c.payFirst(p, d)
			c.mu.Lock()
		}
		if want {
			bid.Max, bid.Min, bid.Price = d.Max, d.Min, d.MaxPrice
		}
		if protocol.Send(p.rw, protocol.BidMsg, bid) == nil {
			p.bidding, p.sent, p.lastBid = want, d, time.Now()
		}
	}
}

// Demand is the client's current demand (nil: free service only).
func (c *Client) Demand() *Demand {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.demand == nil {
		return nil
	}
	d := *c.demand
	d.MaxPrice = new(big.Int).Set(c.demand.MaxPrice)
	return &d
}

// SetDemand changes the client's demand (nil: free service only) and bids
// accordingly at once.
func (c *Client) SetDemand(d *Demand) error {
	if d != nil && (d.Max == 0 || d.Min == 0 || d.Min > d.Max || d.MaxPrice == nil || d.MaxPrice.Sign() < 0) {
		return errors.New("demand needs 0 < min <= max and a price")
	}
	c.mu.Lock()
	c.demand = d
	start := d != nil && !c.bidding
	c.bidding = c.bidding || start
	c.mu.Unlock()
	if start {
		if err := c.startMarket(); err != nil {
			return err
		}
	}
	c.marketPoke()
	return nil
}
