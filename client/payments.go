package client

import (
	"context"
	"errors"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/wallet"
)

// payInterval is how often the client checks whether to pay ahead.
const payInterval = time.Second

// payState is what the client knows about paying one server (guarded by
// peer.mu).
type payState struct {
	terms     []byte // the terms of the method the client pays with; nil: none
	resent    bool   // the latest payment was resent after connecting
	balance   *big.Int
	balanceAt time.Time
	acks      map[uint64]chan *protocol.PayAck
	allocCap  uint64   // paid capacity held there
	price     *big.Int // clearing price there
	fail      payFailure
}

// noteTerms picks the payment method the client can pay the server with.
func (c *Client) noteTerms(p *peer, t *protocol.PaymentTerms) {
	if c.cfg.Payer == nil {
		return
	}
	for _, m := range t.Methods {
		if m.Name == c.cfg.Payer.Method() && c.cfg.Payer.Accepts(m.Terms) {
			p.mu.Lock()
			p.pay.terms = m.Terms
			p.mu.Unlock()
			c.mu.Lock()
			if c.paidServers == nil {
				c.paidServers = make(map[enode.ID]*paidServer)
			}
			if c.paidServers[p.id] == nil {
				c.paidServers[p.id] = &paidServer{enode: p.node.URLv4(), balance: new(big.Int)}
			}
			c.paidServers[p.id].terms = m.Terms
			c.mu.Unlock()
			c.syncSpentMetric(p.id, m.Terms) // what was paid before a restart
			c.payPoke()
			c.marketPoke()
			return
		}
	}
	p.log.Debug("Server takes no payment method the client has", "methods", len(t.Methods))
}

// noteAck hands a payment acknowledgement to the payment waiting for it.
func (c *Client) noteAck(p *peer, a *protocol.PayAck) error {
	p.mu.Lock()
	ch := p.pay.acks[a.ReqID]
	delete(p.pay.acks, a.ReqID)
	p.mu.Unlock()
	if ch == nil {
		// The payment timed out here; the server may still have taken it
		// (the next voucher, cumulative, settles that). Not a violation.
		p.log.Debug("Late payment acknowledgement", "reqid", a.ReqID, "code", a.Code)
		return nil
	}
	ch <- a
	return nil
}

func (c *Client) payPoke() {
	select {
	case c.payWake <- struct{}{}:
	default:
	}
}

// payLoop pays ahead: every payInterval (or when poked) it resends the
// latest payment to newly connected servers and tops up the balance at
// servers where the client wants paid service.
func (c *Client) payLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(payInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-c.payWake:
		case <-c.ctx.Done():
			return
		}
		c.mu.Lock()
		peers := slices.Collect(maps.Values(c.peers))
		d := c.demand
		c.mu.Unlock()
		for _, p := range peers {
			c.payAhead(p, d)
		}
	}
}

// payAhead pays server p what keeps about PayLead of paid service paid
// for, within the exposure limit.
func (c *Client) payAhead(p *peer, d *Demand) {
	p.mu.Lock()
	terms, resent := p.pay.terms, p.pay.resent
	p.mu.Unlock()
	if terms == nil {
		return
	}
	if !resent {
		// After a reconnect or a crash the server may not have the latest
		// voucher: it credits a resent one only once.
		p.mu.Lock()
		p.pay.resent = true
		p.mu.Unlock()
		if latest := c.cfg.Payer.Latest(terms); latest != nil {
			if _, err := c.sendPayment(p, latest); err != nil {
				p.log.Warn("Resending the latest payment failed", "err", err)
			}
		}
	}
	c.mu.Lock()
	bidding := p.bidding
	c.mu.Unlock()
	if !bidding || d == nil {
		return
	}
	p.mu.Lock()
	waiting := time.Now().Before(p.pay.fail.until)
	p.mu.Unlock()
	if waiting {
		return
	}
	rate, balance := c.spendRate(p, d)
	if wallet.PayAhead(balance, rate, c.cfg.PayLead, c.cfg.MaxExposure).Sign() > 0 {
		c.topUp(p, d, terms)
	}
}

// payFailure is what the client remembers of failed payments to a server:
// it tries again later and later (from a second to five minutes), and logs
// a failure only when it differs from the last one.
type payFailure struct {
	until   time.Time
	backoff time.Duration
	lastErr string
}

const (
	payBackoffMin = time.Second
	payBackoffMax = 5 * time.Minute
)

// notePayResult backs payments to p off after a failure, and logs each
// change once; what is a failure of this moment goes on.
func (c *Client) notePayResult(p *peer, what string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := &p.pay.fail
	if err == nil {
		if f.lastErr != "" {
			p.log.Info("Payments work again")
		}
		*f = payFailure{}
		return
	}
	f.backoff = min(max(2*f.backoff, payBackoffMin), payBackoffMax)
	f.until = time.Now().Add(f.backoff)
	if msg := what + ": " + err.Error(); msg != f.lastErr {
		f.lastErr = msg
		p.log.Warn("Payment failed; retrying with backoff", "what", what, "err", err, "retry", f.backoff)
	} else {
		p.log.Debug("Payment failed again", "what", what, "err", err, "retry", f.backoff)
	}
}

// topUp pays server p what brings the balance there to what pays for
// PayLead, within the exposure limit. The estimate of the balance that
// called for it may be off (the server bills in arrears, and charges
// requests too), so the server is asked first: the latest voucher, sent
// again, credits nothing and is acknowledged with the exact balance.
func (c *Client) topUp(p *peer, d *Demand, terms []byte) {
	if latest := c.cfg.Payer.Latest(terms); latest != nil {
		if _, err := c.sendPayment(p, latest); err != nil {
			c.notePayResult(p, "asking the server for the balance", err)
			return
		}
	}
	rate, balance := c.spendRate(p, d)
	amount := wallet.PayAhead(balance, rate, c.cfg.PayLead, c.cfg.MaxExposure)
	if amount.Sign() == 0 {
		return
	}
	c.notePayResult(p, "paying "+amount.String()+" wei", c.pay(p, amount))
}

// spendRate is what paid service at p costs per second (the capacity held
// at the clearing price, or while none is held what the demand would cost
// at its price), and the balance there now: the last one acknowledged,
// less the capacity held since at its price (nothing else is billed).
func (c *Client) spendRate(p *peer, d *Demand) (rate, balance *big.Int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	billed := new(big.Int)
	if p.pay.allocCap > 0 && p.pay.price != nil {
		billed.Mul(new(big.Int).SetUint64(p.pay.allocCap), p.pay.price)
	}
	balance = new(big.Int)
	if p.pay.balance != nil {
		used := new(big.Int).Mul(billed, big.NewInt(int64(time.Since(p.pay.balanceAt)/time.Millisecond)))
		used.Div(used, big.NewInt(1000))
		balance.Sub(p.pay.balance, used)
		if balance.Sign() < 0 {
			balance.SetInt64(0)
		}
	}
	rate = billed
	if rate.Sign() == 0 && d != nil {
		rate = new(big.Int).Mul(new(big.Int).SetUint64(d.Max), d.MaxPrice)
	}
	return rate, balance
}

// payFirst pays a server the client is about to bid at but has no balance
// at: servers take bids only from clients with a balance.
func (c *Client) payFirst(p *peer, d *Demand) {
	if c.cfg.Payer == nil {
		return
	}
	p.mu.Lock()
	terms, known := p.pay.terms, p.pay.balance != nil && p.pay.balance.Sign() > 0
	p.mu.Unlock()
	if terms == nil || known {
		return
	}
	c.topUp(p, d, terms)
}

// pay pays amount more to server p.
func (c *Client) pay(p *peer, amount *big.Int) error {
	p.payMu.Lock()
	defer p.payMu.Unlock()
	p.mu.Lock()
	terms := p.pay.terms
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Minute) // may open a channel on chain
	defer cancel()
	pay, err := c.cfg.Payer.Pay(ctx, terms, amount)
	if err != nil {
		return err
	}
	// Signed is spent, whether or not the server acknowledges it (the
	// voucher is on disk and will be resent): the metric counts what
	// lm_spent shows.
	c.syncSpentMetric(p.id, terms)
	_, err = c.sendPaymentLocked(p, pay)
	return err
}

// syncSpentMetric brings the spent-wei counter of a server up to what the
// payer has signed to it in total.
func (c *Client) syncSpentMetric(id enode.ID, terms []byte) {
	total := c.cfg.Payer.Spent(terms)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spentCounted == nil {
		c.spentCounted = make(map[enode.ID]*big.Int)
	}
	counted := c.spentCounted[id]
	if counted == nil {
		counted = new(big.Int)
	}
	if diff := new(big.Int).Sub(total, counted); diff.Sign() > 0 {
		c.cfg.Metrics.SpentWei.WithLabelValues(id.TerminalString()).Add(weiFloat(diff))
		c.spentCounted[id] = total
	}
}

// sendPayment sends a payment and waits for its acknowledgement.
func (c *Client) sendPayment(p *peer, pay []byte) (*protocol.PayAck, error) {
	p.payMu.Lock()
	defer p.payMu.Unlock()
	return c.sendPaymentLocked(p, pay)
}

// minPaySpacing keeps a client's payments to a server apart by more than
// the protocol's steady rate (protocol.PayInterval); the server's burst
// absorbs what the way bunches together.
const minPaySpacing = protocol.PayInterval + 10*time.Millisecond

func (c *Client) sendPaymentLocked(p *peer, pay []byte) (*protocol.PayAck, error) {
	if wait := minPaySpacing - time.Since(p.lastPay); wait > 0 {
		time.Sleep(wait)
	}
	id := reqIDs.Add(1)
	ch := make(chan *protocol.PayAck, 1)
	p.mu.Lock()
	if p.pay.acks == nil {
		p.pay.acks = make(map[uint64]chan *protocol.PayAck)
	}
	p.pay.acks[id] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.pay.acks, id)
		p.mu.Unlock()
	}()
	p.lastPay = time.Now()
	p.mu.Lock()
	p.pay.resent = true // a voucher is cumulative: the newest one is all the server needs
	p.mu.Unlock()
	if err := protocol.Send(p.rw, protocol.PayMsg, &protocol.Pay{ReqID: id, Method: c.cfg.Payer.Method(), Payment: pay}); err != nil {
		return nil, err
	}
	timer := time.NewTimer(c.cfg.RequestTimeout + 30*time.Second) // the server may read the chain
	defer timer.Stop()
	select {
	case a := <-ch:
		c.cfg.Metrics.Vouchers.WithLabelValues(a.Code.String()).Inc()
		p.mu.Lock()
		before := p.pay.balance
		p.pay.balance, p.pay.balanceAt = a.Balance, time.Now()
		p.mu.Unlock()
		if (before == nil || before.Sign() == 0) && a.Balance.Sign() > 0 {
			// A bid sent without a balance was not taken: bid again.
			c.mu.Lock()
			p.sent = nil
			c.mu.Unlock()
			c.marketPoke()
		}
		if a.Code != protocol.PayAccepted {
			return a, &payment.Refusal{Code: a.Code, Err: errors.New(a.Reason)}
		}
		return a, nil
	case <-p.closed:
		return nil, errPeerGone
	case <-timer.C:
		return nil, errors.New("payment not acknowledged in time")
	case <-c.ctx.Done():
		return nil, c.ctx.Err()
	}
}

func weiFloat(x *big.Int) float64 {
	f, _ := new(big.Float).SetInt(x).Float64()
	return f
}

// Spending is what the client paid one server.
type Spending struct {
	Server  string `json:"server"`  // node id
	Enode   string `json:"enode"`   // node URL
	Spent   string `json:"spent"`   // wei, in total
	Balance string `json:"balance"` // wei left there: as last acknowledged, less the paid capacity used since
}

// paidServer is a server the client can pay, remembered while it is
// disconnected.
type paidServer struct {
	enode   string
	terms   []byte
	balance *big.Int // as last known when it disconnected
}

// rememberSpending keeps the balance at a server that goes away.
func (c *Client) rememberSpending(p *peer) {
	c.mu.Lock()
	ps, d := c.paidServers[p.id], c.demand
	c.mu.Unlock()
	if ps == nil {
		return
	}
	_, balance := c.spendRate(p, d)
	c.mu.Lock()
	ps.balance = balance
	c.mu.Unlock()
}

// Spending lists what the client paid each server it can pay, connected
// now or not (an empty list, never nil).
func (c *Client) Spending() []Spending {
	out := []Spending{}
	if c.cfg.Payer == nil {
		return out
	}
	type entry struct {
		id enode.ID
		ps paidServer
		p  *peer
	}
	c.mu.Lock()
	var servers []entry
	for id, ps := range c.paidServers {
		servers = append(servers, entry{id, *ps, c.peers[id]})
	}
	d := c.demand
	c.mu.Unlock()
	for _, e := range servers {
		balance := e.ps.balance
		if e.p != nil {
			_, balance = c.spendRate(e.p, d) // as last acknowledged, less what was used since
		}
		out = append(out, Spending{Server: e.id.String(), Enode: e.ps.enode, Spent: c.cfg.Payer.Spent(e.ps.terms).String(), Balance: balance.String()})
	}
	slices.SortFunc(out, func(a, b Spending) int { return strings.Compare(a.Server, b.Server) })
	return out
}

// meteredRW counts the bytes of a server session's messages, in both
// directions, and those of them that are about payments.
type meteredRW struct {
	p2p.MsgReadWriter
	c *Client
}

func (rw meteredRW) count(code uint64, size uint32) {
	rw.c.bytesTotal.Add(uint64(size))
	switch protocol.Code(code) {
	case protocol.PaymentTermsMsg, protocol.PayMsg, protocol.PayAckMsg:
		rw.c.bytesPayment.Add(uint64(size))
	case protocol.BeaconOptimisticMsg, protocol.BeaconFinalityMsg, protocol.GetBeaconBootstrapMsg,
		protocol.BeaconBootstrapMsg, protocol.GetBeaconUpdatesMsg, protocol.BeaconUpdatesMsg:
		rw.c.bytesBeacon.Add(uint64(size))
	}
}

func (rw meteredRW) ReadMsg() (p2p.Msg, error) {
	msg, err := rw.MsgReadWriter.ReadMsg()
	if err == nil {
		rw.count(msg.Code, msg.Size)
	}
	return msg, err
}

func (rw meteredRW) WriteMsg(msg p2p.Msg) error {
	rw.count(msg.Code, msg.Size)
	return rw.MsgReadWriter.WriteMsg(msg)
}

// Traffic is the message bytes exchanged with servers so far (both
// directions), and the part of them that was about payments.
func (c *Client) Traffic() (payment, total uint64) {
	return c.bytesPayment.Load(), c.bytesTotal.Load()
}

// CanPay reports whether the client has a payment method, so that a demand
// can be paid for.
func (c *Client) CanPay() bool { return c.cfg.Payer != nil }
