package server

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/auction"
	"github.com/lightmarket/lightmarket/clientpool"
	"github.com/lightmarket/lightmarket/ledgerpg"
	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/protocol"
)

// sendTerms tells a client how it can pay, right after the handshake.
func (s *Server) sendTerms(p *peer) error {
	if !s.cashier.Enabled() {
		return nil
	}
	return protocol.Send(p.rw, protocol.PaymentTermsMsg, &protocol.PaymentTerms{
		Methods: []protocol.PaymentMethod{{Name: s.cashier.Method(), Terms: s.cashier.Terms()}},
	})
}

// handlePay takes a payment: the cashier stores it durably and credits
// the client's account; then the pool learns the new balance and the
// client is acknowledged. A refused payment credits nothing.
func (s *Server) handlePay(ctx context.Context, p *peer, m *protocol.Pay) {
	id := p.ID()
	ack := &protocol.PayAck{ReqID: m.ReqID, Credited: new(big.Int)}
	var (
		credited, balance *big.Int
		err               error
	)
	if m.Method != s.cashier.Method() || !s.cashier.Enabled() {
		err = payment.Refuse(protocol.PayUnsupported, fmt.Errorf("payment method %q not accepted", m.Method))
	} else {
		credited, balance, err = s.cashier.Receive(ctx, id, m.Payment)
	}
	if err != nil {
		ack.Code = payment.CodeOf(err)
		ack.Reason = err.Error()
		var r *payment.Refusal
		if errors.As(err, &r) {
			ack.Reason = r.Err.Error() // the code says it was refused
		}
		if len(ack.Reason) > protocol.MaxErrorReasonLen {
			ack.Reason = ack.Reason[:protocol.MaxErrorReasonLen]
		}
		ack.Balance = s.cashier.Balance(id)
		s.cfg.Metrics.Vouchers.WithLabelValues(ack.Code.String()).Inc()
		p.log.Debug("Payment refused", "code", ack.Code, "err", err)
	} else {
		ack.Credited, ack.Balance = credited, balance
		s.cfg.Metrics.Vouchers.WithLabelValues(protocol.PayAccepted.String()).Inc()
		s.cfg.Metrics.PaidWei.Add(weiFloat(credited))
		s.setPoolBalance(id, balance)
		p.log.Debug("Payment received", "credited", credited, "balance", balance)
	}
	if err := protocol.Send(p.rw, protocol.PayAckMsg, ack); err != nil {
		p.log.Debug("Cannot acknowledge payment", "err", err)
	}
}

// setPoolBalance gives the pool a client's balance from the ledger. A
// client whose money ran out loses its paid capacity.
func (s *Server) setPoolBalance(id enode.ID, balance *big.Int) {
	s.poolMu.Lock()
	changes := s.pool.SetBalance(clientpool.ID(id), balance)
	var market []auction.Change
	if balance.Sign() <= 0 && s.market != nil && s.market.Allocation(auction.ID(id)) > 0 {
		before := s.market.Price()
		market = s.withPriceChange(before, s.market.Withdraw(auction.ID(id)))
		changes = append(changes, s.applyMarket(market)...)
	}
	seq := s.marketSeq
	s.poolMu.Unlock()
	s.apply(changes)
	s.tellMarket(seq, market, auction.ID{})
}

// bill charges every client holding paid capacity for the time since the
// last bill at the clearing price.
func (s *Server) bill() {
	if s.market == nil {
		return
	}
	s.poolMu.Lock()
	price := s.market.Price()
	type holder struct {
		id       enode.ID
		capacity uint64
	}
	var holders []holder
	for _, c := range s.pool.Snapshot() {
		id := enode.ID(c.ID)
		alloc := s.market.Allocation(auction.ID(c.ID))
		switch {
		case alloc > 0 && !s.billing[id]:
			s.billing[id] = true
			s.cashier.StartBilling(id)
		case alloc > 0:
			holders = append(holders, holder{id, alloc})
		case s.billing[id]:
			delete(s.billing, id)
			s.cashier.StopBilling(id)
		}
	}
	s.poolMu.Unlock()
	s.cfg.Metrics.Price.Set(weiFloat(price))
	s.notePrice(price, time.Now())
	for _, h := range holders {
		before := s.cashier.Balance(h.id)
		balance := s.cashier.Bill(h.id, h.capacity, price)
		if charged := weiFloat(new(big.Int).Sub(before, balance)); charged > 0 {
			s.cfg.Metrics.ChargedWei.Add(charged)
		}
		s.setPoolBalance(h.id, balance)
	}
}

// chargeRequest charges a paid client for a served request.
func (s *Server) chargeRequest(p *peer, cost uint64) {
	if s.cfg.RequestPrice == nil || s.cfg.RequestPrice.Sign() == 0 || !s.isPaid(p) {
		return
	}
	before := s.cashier.Balance(p.ID())
	balance := s.cashier.ChargeRequest(p.ID(), cost, s.cfg.RequestPrice)
	if balance.Cmp(before) != 0 {
		s.cfg.Metrics.ChargedWei.Add(weiFloat(new(big.Int).Sub(before, balance)))
		if balance.Sign() == 0 {
			s.setPoolBalance(p.ID(), balance)
		}
	}
}

// Earnings is what the server earned: the ledger's sums and the claims
// made since start.
type Earnings struct {
	Receiver  string               `json:"receiver"`
	Received  *big.Int             `json:"received"`
	Claimed   *big.Int             `json:"claimed"`
	Unclaimed *big.Int             `json:"unclaimed"`
	Charged   *big.Int             `json:"charged"`
	Channels  int                  `json:"channels"`
	Claims    []payment.Settlement `json:"claims"`
	// Fleet, for a server of a fleet (its ledger in PostgreSQL), sums the
	// fleet's ledger and lists what each server took; the fields above
	// are then the ledger as this server last read it.
	Fleet *ledgerpg.Totals `json:"fleet,omitempty"`
	// FleetError says why the fleet's sums could not be read.
	FleetError string `json:"fleetError,omitempty"`
	// Claimer says whether this server claims for the fleet now.
	Claimer bool `json:"claimer,omitempty"`
}

// Earnings reports the server's earnings.
func (s *Server) Earnings() Earnings {
	e := s.cashier.Earnings()
	out := Earnings{Receiver: s.cashier.Receiver().Hex(), Received: e.Received, Claimed: e.Claimed, Unclaimed: e.Unclaimed,
		Charged: e.Charged, Channels: e.Channels, Claims: s.cashier.Settled()}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	fleet, err := s.cashier.Fleet(ctx)
	out.Fleet, out.Claimer = fleet, s.cashier.Claimer()
	if err != nil {
		out.FleetError = err.Error()
	}
	return out
}

// fleetGaugesEvery is how often a server of a fleet reads the fleet's
// totals for its metrics: a sum over the whole ledger, so not every second.
const fleetGaugesEvery = 10 * time.Second

// updateFleetGauges reads the fleet's ledger into the metrics.
func (s *Server) updateFleetGauges() {
	m := s.cfg.Metrics.Fleet
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	t, err := s.cashier.Fleet(ctx)
	m.Claimer.Set(b2f(s.cashier.Claimer()))
	m.LedgerUp.Set(b2f(err == nil))
	if err != nil || t == nil {
		return
	}
	for kind, v := range map[string]*big.Int{"received": t.Received, "claimed": t.Claimed, "unclaimed": t.Unclaimed, "charged": t.Charged} {
		m.Wei.WithLabelValues(kind).Set(weiFloat(v))
	}
	m.Channels.Set(float64(t.Channels))
	for _, st := range t.Servers {
		m.ServerWei.WithLabelValues(st.ID, "credited").Set(weiFloat(st.Credited))
		m.ServerWei.WithLabelValues(st.ID, "charged").Set(weiFloat(st.Charged))
		m.ServerVouch.WithLabelValues(st.ID).Set(float64(st.Vouchers))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// weiFloat is wei as a metric's value (exact up to 2^53 wei, about 0.009
// ether; a metric shows magnitudes, the ledger holds the exact amounts).
func weiFloat(v *big.Int) float64 {
	f, _ := new(big.Float).SetInt(v).Float64()
	return f
}

// Claim claims everything unclaimed on chain now.
func (s *Server) Claim(ctx context.Context) ([]payment.Settlement, error) {
	return s.cashier.Settle(ctx, true)
}

// settled records a claim in the metrics.
func (s *Server) settled(st payment.Settlement) {
	s.cfg.Metrics.Claims.Inc()
	s.cfg.Metrics.ClaimedWei.Add(weiFloat(st.Amount))
}

// StatusInfo says who the server is, for its status page.
type StatusInfo struct {
	ID       string `json:"id"`
	Enode    string `json:"enode"`
	ChainID  uint64 `json:"chainId"`
	Head     uint64 `json:"head"`
	Payments bool   `json:"payments"`
	Receiver string `json:"receiver,omitempty"`
	Auction  bool   `json:"auction"`
	Sellable uint64 `json:"sellable"`
	Sold     uint64 `json:"sold"`
}

// Status reports who the server is and what it serves.
func (s *Server) Status() StatusInfo {
	st := StatusInfo{ID: s.Enode().ID().String(), Enode: s.Enode().URLv4(), ChainID: s.chainID,
		Payments: s.cashier.Enabled(), Auction: s.market != nil, Sellable: s.cfg.Sellable}
	if h := s.currentHead(); h != nil {
		st.Head = h.Number
	}
	if st.Payments {
		st.Receiver = s.cashier.Receiver().Hex()
	}
	if s.market != nil {
		s.poolMu.Lock()
		st.Sold = s.market.Sold()
		s.poolMu.Unlock()
	}
	return st
}

// PricePoint is the clearing price from Time (unix seconds) on.
type PricePoint struct {
	Time  int64    `json:"time"`
	Price *big.Int `json:"price"`
}

// priceHistoryLen is how long the price history reaches back.
const priceHistoryLen = time.Hour

// notePrice records the clearing price in the history: a point when it
// changes, and one a minute while it does not.
func (s *Server) notePrice(price *big.Int, now time.Time) {
	s.priceMu.Lock()
	defer s.priceMu.Unlock()
	h := s.prices
	if n := len(h); n > 0 && h[n-1].Price.Cmp(price) == 0 && now.Unix()-h[n-1].Time < 60 {
		return
	}
	cut := 0
	for cut < len(h) && now.Unix()-h[cut].Time > int64(priceHistoryLen/time.Second) {
		cut++
	}
	s.prices = append(h[cut:], PricePoint{Time: now.Unix(), Price: new(big.Int).Set(price)})
}

// PriceHistory is the clearing price over the last hour.
func (s *Server) PriceHistory() []PricePoint {
	s.priceMu.Lock()
	defer s.priceMu.Unlock()
	return append([]PricePoint{}, s.prices...)
}

// updateGauges sets the capacity and tier gauges.
func (s *Server) updateGauges() {
	stopped := s.sched.stoppedIDs()
	s.poolMu.Lock()
	total, paid, free := s.pool.Capacity()
	var sold, frozen uint64
	if s.market != nil {
		sold = s.market.Sold()
	}
	tiers := map[string]float64{"paid": 0, "free": 0}
	for _, c := range s.pool.Snapshot() {
		if s.paidLocked(c.ID, c.Tier) {
			tiers["paid"]++
		} else {
			tiers["free"]++
		}
		if stopped[enode.ID(c.ID)] {
			frozen += c.Capacity
		}
	}
	s.poolMu.Unlock()
	m := s.cfg.Metrics
	for kind, v := range map[string]uint64{"total": total, "paid": paid, "free": free, "sold": sold, "frozen": frozen} {
		m.Capacity.WithLabelValues(kind).Set(float64(v))
	}
	for tier, n := range tiers {
		m.Tiers.WithLabelValues(tier).Set(n)
	}
}
