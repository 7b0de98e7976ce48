package server

import (
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"

	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/auction"
	"github.com/lightmarket/lightmarket/clientpool"
	"github.com/lightmarket/lightmarket/discovery"
	"github.com/lightmarket/lightmarket/pricequery"
	"github.com/lightmarket/lightmarket/protocol"
)

// handleBid places, updates or withdraws a client's bid and tells every
// client whose paid capacity changed. Only clients with a balance bid.
func (s *Server) handleBid(p *peer, b *protocol.Bid) {
	id := auction.ID(p.ID())
	s.poolMu.Lock()
	if s.market == nil || s.pool.Balance(clientpool.ID(id)).Sign() <= 0 {
		price := new(big.Int)
		if s.market != nil {
			price = s.market.Price()
		}
		seq := s.marketSeq
		s.poolMu.Unlock()
		p.tellAllocation(seq, &protocol.Allocation{ReqID: b.ReqID, Price: price}, true)
		return
	}
	before := s.market.Price()
	var changes []auction.Change
	if b.Max == 0 {
		changes = s.market.Withdraw(id)
	} else {
		changes, _ = s.market.Bid(id, auction.Demand{Max: b.Max, Min: b.Min, Price: b.Price}) // validated on decoding
	}
	changes = s.withPriceChange(before, changes)
	poolChanges := s.applyMarket(changes)
	alloc := &protocol.Allocation{ReqID: b.ReqID, Capacity: s.market.Allocation(id), Price: s.market.Price()}
	seq := s.marketSeq
	s.poolMu.Unlock()
	s.apply(poolChanges)
	s.tellMarket(seq, changes, id)
	p.tellAllocation(seq, alloc, true)
}

// withPriceChange adds every holder of paid capacity to changes when the
// clearing price moved, since all of them pay it; poolMu is held.
func (s *Server) withPriceChange(before *big.Int, changes []auction.Change) []auction.Change {
	price := s.market.Price()
	if price.Cmp(before) == 0 {
		return changes
	}
	listed := make(map[auction.ID]bool, len(changes))
	for _, ch := range changes {
		listed[ch.ID] = true
	}
	for _, info := range s.pool.Snapshot() {
		id := auction.ID(info.ID)
		if c := s.market.Allocation(id); c > 0 && !listed[id] {
			changes = append(changes, auction.Change{ID: id, Capacity: c, Price: price})
		}
	}
	return changes
}

// applyMarket gives the auction's decisions to the pool and numbers them
// (s.marketSeq); poolMu is held.
func (s *Server) applyMarket(changes []auction.Change) []clientpool.Change {
	s.marketSeq++
	var out []clientpool.Change
	for _, ch := range changes {
		out = append(out, s.pool.SetPaidCapacity(clientpool.ID(ch.ID), ch.Capacity)...)
	}
	return out
}

// tellMarket pushes Allocation to the clients whose allocation changed in
// the auction's decision seq, but skip (who gets the reply to its bid).
func (s *Server) tellMarket(seq uint64, changes []auction.Change, skip auction.ID) {
	for _, ch := range changes {
		if ch.ID == skip {
			continue
		}
		s.mu.Lock()
		p := s.peers[enode.ID(ch.ID)]
		s.mu.Unlock()
		if p == nil {
			continue
		}
		msg := &protocol.Allocation{Capacity: ch.Capacity, Price: ch.Price, Final: ch.Final}
		if ch.Until != 0 {
			msg.UntilMs = uint64(s.wallTime(ch.Until).UnixMilli())
		}
		p.tellAllocation(seq, msg, false)
	}
}

// tellAllocation sends the client its allocation as of the auction's
// decision seq, unless it was told of a later one: decisions are sent
// after the pool's lock is released, from the goroutines that made them.
// A reply to a bid is always sent, with the latest allocation told.
func (p *peer) tellAllocation(seq uint64, msg *protocol.Allocation, reply bool) {
	p.capMu.Lock()
	defer p.capMu.Unlock()
	if seq < p.allocSeq {
		if !reply {
			return
		}
		latest := *p.allocTold
		latest.ReqID = msg.ReqID
		msg = &latest
	} else {
		p.allocSeq, p.allocTold = seq, msg
	}
	p.send(protocol.AllocationMsg, msg)
}

// auctionTick ends grace periods that are over.
func (s *Server) auctionTick() {
	if s.market == nil {
		return
	}
	s.poolMu.Lock()
	at, ok := s.market.NextDeadline()
	if !ok || s.cfg.Clock.Now() < at {
		s.poolMu.Unlock()
		return
	}
	before := s.market.Price()
	changes := s.withPriceChange(before, s.market.Tick())
	poolChanges := s.applyMarket(changes)
	seq := s.marketSeq
	s.poolMu.Unlock()
	s.apply(poolChanges)
	s.tellMarket(seq, changes, auction.ID{})
}

// marketLeave withdraws a departing client's bid.
func (s *Server) marketLeave(p *peer) {
	if s.market == nil {
		return
	}
	s.poolMu.Lock()
	before := s.market.Price()
	changes := s.withPriceChange(before, s.market.Withdraw(auction.ID(p.ID())))
	poolChanges := s.applyMarket(changes)
	seq := s.marketSeq
	s.poolMu.Unlock()
	s.apply(poolChanges)
	s.tellMarket(seq, changes, auction.ID(p.ID()))
}

// Price is the auction's clearing price (nil without an auction).
func (s *Server) Price() *big.Int {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	if s.market == nil {
		return nil
	}
	return s.market.Price()
}

// wallTime converts a time of the server's clock to wall time, for
// messages.
func (s *Server) wallTime(at mclock.AbsTime) time.Time {
	return time.Now().Add(time.Duration(at - s.cfg.Clock.Now()))
}

// ENRKey is the node record entry that advertises a lightmarket server
// (value: the protocol version), so that clients can find servers through
// discovery.
const ENRKey = discovery.ENRKey

// Answer implements pricequery.Market.
func (s *Server) Answer(from enode.ID, max, min uint64, price *big.Int) pricequery.Response {
	head := s.currentHead()
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	resp := pricequery.Response{Sellable: s.cfg.Sellable, Free: s.cfg.FreeCapacity, Price: s.market.Price(), WinPrice: s.market.Price()}
	if head != nil {
		resp.HeadNumber = head.Number
	}
	resp.Sold = s.market.Sold()
	if max > 0 {
		if min == 0 {
			min = max
		}
		resp.WinCap, resp.WinPrice = s.market.QuoteFor(auction.ID(from), auction.Demand{Max: max, Min: min, Price: price})
	}
	return resp
}
