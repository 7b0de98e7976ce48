package client

import (
	"context"
	crand "crypto/rand"
	"errors"
	"maps"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/p2p/discover"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/buyer"
	"github.com/lightmarket/lightmarket/pricequery"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
)

// bidSpacing keeps a client's bids to one server apart by more than the
// protocol's steady rate (protocol.BidInterval); the server's burst
// absorbs what the way bunches together.
const bidSpacing = protocol.BidInterval + 50*time.Millisecond

// marketInterval is how often a client with a demand looks at the market
// at least; its buyer may ask to look sooner.
const marketInterval = 5 * time.Second

// qualityRef is the round trip at which a server's measured quality is
// half of perfect: quality = ref / (ref + latency).
const qualityRef = 50 * time.Millisecond

// qualityFloor is the round trip below which servers rank equal: a
// wallet's user cannot tell 5 ms from 20 ms, and the client's own machine
// (a phone, or a host running it beside other work) moves its round trips
// by that much from one moment to the next, so that below it a measure
// says more about the moment a server was measured than about the server,
// and would outweigh the prices it is set against.
const qualityFloor = 20 * time.Millisecond

// startMarket runs the bidding loop of a client with a demand: its buyer
// (package buyer) decides from the servers' price quotes (asked over
// discv5) and the quality their service measured where the demand
// stands; the loop bids there, withdraws elsewhere, and looks again when
// a server pokes it (a connection, an allocation lost) or when the buyer
// asks. Where no bid wins the client is served free.
func (c *Client) startMarket() error {
	udp, err := c.discovery()
	if err != nil {
		return err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-c.poke:
			case <-timer.C:
			case <-c.ctx.Done():
				return
			}
			next := c.rebid(udp.UDPv5)
			timer.Reset(min(max(time.Duration(next-c.clock.Now()), bidSpacing), marketInterval))
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

// quality is what the client measured of a server's service: the median
// of its last round trips of requests that read the state (readsState),
// mapped into (0, buyer.QualityScale] as ref / (ref + max(median,
// qualityFloor)), 0 before the first. A median, not
// a moving average: one slow answer in a busy moment must not decide
// where a client pays for an hour, and a server the client's requests
// avoid after it would keep such an average for good.
func (s *ServerStats) quality() uint32 {
	if s.stateLatencies.n == 0 {
		return 0
	}
	l := max(s.stateLatencies.at(50), qualityFloor)
	return uint32(buyer.QualityScale * int64(qualityRef) / (int64(qualityRef) + int64(l)))
}

// observe records the round trip of a request of this code.
func (s *ServerStats) observe(code protocol.Code, d time.Duration) {
	s.latencies.add(d)
	if readsState(code) {
		s.stateLatencies.add(d)
	}
}

// readsState tells whether a request of this code reads the chain's state
// at a block: the work a wallet's calls are made of and paid capacity is
// bought for. A server answers headers of recent blocks and the beacon
// chain's updates from memory, as quickly when it is slow at the rest:
// their round trips would hide how it serves a wallet.
func readsState(code protocol.Code) bool {
	switch code {
	case protocol.GetProofsMsg, protocol.GetCodeMsg, protocol.GetWitnessMsg:
		return true
	}
	return false
}

// qualitySamples is how many round trips a server's quality rests on
// before a market decision weighs it; probe measures those with fewer.
// Five: their median holds against two answers slowed by a busy moment,
// on the machine or at the server's node.
const qualitySamples = 5

// probe measures the servers of peers with fewer than qualitySamples
// round trips as a wallet's request would: each is asked, one request
// after another and the servers at once, for the proof of an account
// never asked for at the head.
func (c *Client) probe(peers []*peer) {
	head := c.Head()
	if head == nil {
		return
	}
	hash := head.Hash()
	// A server that does not answer holds the decision one timeout at most.
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range peers {
		c.mu.Lock()
		var have int
		if s := c.stats[p.id]; s != nil {
			have = s.stateLatencies.n
		}
		c.mu.Unlock()
		if have >= qualitySamples {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range qualitySamples - have {
				var addr common.Address
				crand.Read(addr[:])
				// Checked as any answer: a server cannot tell a probe from a
				// wallet's call, nor answer one quickly with a false proof.
				proof, err := c.fetchProof(ctx, p, hash, addr, nil)
				if err == nil {
					_, err = verify.Account(head.Root, addr, proof.Account)
				}
				if err != nil {
					if verify.Kind(err) != "" {
						c.punish(p, err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
}

// offers asks every connected server what the demand would win there.
func (c *Client) offers(udp *discover.UDPv5, d *Demand, peers []*peer) []buyer.Offer {
	offers := make([]buyer.Offer, 0, len(peers))
	for _, p := range peers {
		q, err := pricequery.Query(udp, p.node, d.Max, d.Min, d.MaxPrice)
		if err != nil {
			continue
		}
		o := buyer.Offer{Server: buyer.ID(p.id), Price: q.Price, WinCap: q.WinCap, WinPrice: q.WinPrice}
		c.mu.Lock()
		if s := c.stats[p.id]; s != nil {
			o.Held, o.Quality = s.PaidCapacity, s.quality()
		}
		c.mu.Unlock()
		// Without a payer, bidding costs nothing (the server takes bids
		// from clients its operator gave a balance); with one, it needs a
		// channel.
		o.Channel = c.cfg.Payer == nil
		if c.cfg.Payer != nil {
			p.mu.Lock()
			terms := p.pay.terms
			p.mu.Unlock()
			o.Channel = terms != nil && c.cfg.Payer.Latest(terms) != nil
		}
		offers = append(offers, o)
	}
	return offers
}

// rebid lets the buyer decide and places or withdraws bids accordingly;
// it returns when the buyer wants to look again.
func (c *Client) rebid(udp *discover.UDPv5) mclock.AbsTime {
	c.mu.Lock()
	if c.power.Background {
		// No market moves in the background: a bid kept stands as sent.
		c.mu.Unlock()
		return c.clock.Now().Add(marketInterval)
	}
	d := c.demand
	peers := slices.Collect(maps.Values(c.peers))
	c.mu.Unlock()
	var dec buyer.Decision
	if d == nil {
		dec = c.buyer.Decide(nil, nil)
	} else {
		c.probe(peers)
		dec = c.buyer.Decide(&buyer.Demand{Max: d.Max, Min: d.Min, Price: d.MaxPrice}, c.offers(udp, d, peers))
	}
	c.cfg.Logger.Debug("Market decision", "bid", dec.Bid, "server", enode.ID(dec.Server).TerminalString(), "standing", dec.Standing, "offers", len(peers))
	switch {
	case dec.Moved:
		c.cfg.Logger.Info("Moving paid capacity to a better server", "server", enode.ID(dec.Server).TerminalString(), "moves", c.buyer.Moves())
	case dec.Rebid:
		c.cfg.Logger.Info("Bidding at another server after losing capacity", "server", enode.ID(dec.Server).TerminalString())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range peers {
		want := dec.Bid && buyer.ID(p.id) == dec.Server
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
			// Servers take bids only from clients with a balance there:
			// the channel is opened (or topped up) here, where the client
			// is about to pay, and nowhere else.
			c.mu.Unlock()
			c.payFirst(p, d)
			c.mu.Lock()
		}
		if want {
			bid.Max, bid.Min, bid.Price = d.Max, d.Min, d.MaxPrice
		}
		// Sent without the client's lock: a server slow to read its
		// connection holds up this loop, not the client.
		c.mu.Unlock()
		err := protocol.Send(p.rw, protocol.BidMsg, bid)
		c.mu.Lock()
		if err == nil {
			p.bidding, p.sent, p.lastBid = want, d, time.Now()
		}
	}
	return dec.Next
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

// Validate refuses a demand the client cannot bid (nil is free service
// only, and valid).
func (d *Demand) Validate() error {
	if d != nil && (d.Max == 0 || d.Min == 0 || d.Min > d.Max || d.MaxPrice == nil || d.MaxPrice.Sign() < 0) {
		return errors.New("demand needs 0 < min <= max and a price")
	}
	return nil
}

// SetDemand changes the client's demand (nil: free service only) and bids
// accordingly at once.
func (c *Client) SetDemand(d *Demand) error {
	if err := d.Validate(); err != nil {
		return err
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
