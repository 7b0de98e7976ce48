// Package ledger is a server's payment accounting as a pure core: the
// payment channels clients pay it on (their state on chain and the latest
// voucher accepted on each), each client's account (what it paid, what the
// operator granted, what it was charged), and which channels are due to be
// claimed on chain.
//
// The ledger does no I/O and reads time only from its clock (for billing)
// and from its callers (chain time, for closing channels). Every change it
// makes returns the records to store; the server stores them durably
// before it acts on the change (credits a client, acknowledges a voucher).
package ledger

import (
	"errors"
	"fmt"
	"math/big"
	"sort"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"

	"github.com/lightmarket/lightmarket/paychan"
)

// ClientID identifies a client (its node id).
type ClientID [32]byte

func (id ClientID) String() string { return fmt.Sprintf("%x", id[:8]) }

// Errors of Accept: each says why a voucher was refused.
var (
	ErrUnknownChannel = errors.New("channel not open on chain")
	ErrChannelClosing = errors.New("channel closing")
	ErrChannelClosed  = errors.New("channel closed")
	ErrAboveDeposit   = errors.New("voucher amount above the channel's deposit")
	ErrReplayed       = errors.New("voucher amount below one already accepted")
)

// Channel is a payment channel to this server.
type Channel struct {
	ID     common.Hash
	Sender common.Address
	Nonce  uint64
	// Accepted is the cumulative amount of Voucher, the latest voucher
	// accepted (0 and no voucher before the first).
	Accepted *big.Int
	Voucher  paychan.Voucher
	// The channel on chain, as last read.
	Deposit  *big.Int
	Claimed  *big.Int
	CloseAt  uint64 // unix seconds; 0 while open
	Finished bool
}

// Unclaimed is what was accepted on the channel but not yet claimed.
func (c *Channel) Unclaimed() *big.Int {
	u := new(big.Int).Sub(c.Accepted, c.Claimed)
	if u.Sign() < 0 {
		u.SetInt64(0)
	}
	return u
}

// Copy returns a deep copy.
func (c *Channel) Copy() Channel {
	cp := *c
	cp.Accepted = new(big.Int).Set(c.Accepted)
	cp.Deposit = new(big.Int).Set(c.Deposit)
	cp.Claimed = new(big.Int).Set(c.Claimed)
	if c.Voucher.Amount != nil {
		cp.Voucher.Amount = new(big.Int).Set(c.Voucher.Amount)
	}
	return cp
}

// Account is a client's money at the server. All amounts only grow.
type Account struct {
	Credited *big.Int // paid with vouchers
	Granted  *big.Int // given by the operator
	Charged  *big.Int // charged for capacity-time and requests
}

// Balance is what the client has left: Credited + Granted - Charged.
func (a *Account) Balance() *big.Int {
	b := new(big.Int).Add(a.Credited, a.Granted)
	return b.Sub(b, a.Charged)
}

func newAccount() *Account {
	return &Account{Credited: new(big.Int), Granted: new(big.Int), Charged: new(big.Int)}
}

func (a *Account) copy() Account {
	return Account{Credited: new(big.Int).Set(a.Credited), Granted: new(big.Int).Set(a.Granted), Charged: new(big.Int).Set(a.Charged)}
}

// Config configures a ledger. Zero values take the defaults noted.
type Config struct {
	Clock mclock.Clock // required
	// ClaimThreshold is the unclaimed amount on a channel at which it is
	// claimed (default 0.001 ether).
	ClaimThreshold *big.Int
}

// Ledger is the accounting state. It is not safe for concurrent use.
type Ledger struct {
	cfg      Config
	channels map[common.Hash]*Channel
	accounts map[ClientID]*Account
	billing  map[ClientID]*meter
}

// meter is a client's running bill for capacity-time.
type meter struct {
	since mclock.AbsTime
	carry *big.Int // wei·10⁻⁹ not yet charged
}

// New returns an empty ledger.
func New(cfg Config) *Ledger {
	if cfg.ClaimThreshold == nil {
		cfg.ClaimThreshold = big.NewInt(1e15)
	}
	return &Ledger{
		cfg:      cfg,
		channels: make(map[common.Hash]*Channel),
		accounts: make(map[ClientID]*Account),
		billing:  make(map[ClientID]*meter),
	}
}

// Load adds stored channels and accounts (at startup).
func (l *Ledger) Load(channels []Channel, accounts map[ClientID]Account) {
	for _, c := range channels {
		c := c.Copy()
		l.channels[c.ID] = &c
	}
	for id, a := range accounts {
		a := a.copy()
		// A charge stored before the credit it was made against (a crash
		// between the two writes) cannot take a balance below zero.
		if a.Balance().Sign() < 0 {
			a.Charged.Add(a.Credited, a.Granted)
		}
		l.accounts[id] = &a
	}
}

// ClaimThreshold is the unclaimed amount at which a channel is due.
func (l *Ledger) ClaimThreshold() *big.Int { return new(big.Int).Set(l.cfg.ClaimThreshold) }

// Channel returns a channel's state.
func (l *Ledger) Channel(id common.Hash) (Channel, bool) {
	c := l.channels[id]
	if c == nil {
		return Channel{}, false
	}
	return c.Copy(), true
}

// Channels lists the channels, by id.
func (l *Ledger) Channels() []Channel {
	out := make([]Channel, 0, len(l.channels))
	for _, c := range l.channels {
		out = append(out, c.Copy())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Cmp(out[j].ID) < 0 })
	return out
}

// SetChain records a channel's state as read from the chain and returns
// the record to store. A channel not opened on chain is not recorded.
func (l *Ledger) SetChain(sender common.Address, nonce uint64, id common.Hash, st paychan.State) (Channel, bool) {
	c := l.channels[id]
	if c == nil {
		if !st.Exists() {
			return Channel{}, false
		}
		c = &Channel{ID: id, Sender: sender, Nonce: nonce, Accepted: new(big.Int)}
		l.channels[id] = c
	}
	c.Deposit = new(big.Int).Set(st.Deposit)
	c.Claimed = new(big.Int).Set(st.Claimed)
	c.CloseAt, c.Finished = st.CloseAt, st.Finished
	return c.Copy(), true
}

// Accept checks voucher v (its signature already verified) on channel id
// against the channel's state, and takes it (Take): the client is
// credited what it adds, which Accept returns with the records to store.
// A voucher for the amount already accepted credits nothing (a client
// resending after a crash); a lower one is refused.
func (l *Ledger) Accept(client ClientID, id common.Hash, v *paychan.Voucher) (*big.Int, Channel, Account, error) {
	c := l.channels[id]
	if c == nil {
		return nil, Channel{}, Account{}, fmt.Errorf("%w: %x", ErrUnknownChannel, id[:8])
	}
	if v.Amount.Cmp(c.Accepted) < 0 {
		return nil, Channel{}, Account{}, fmt.Errorf("%w: %v < %v", ErrReplayed, v.Amount, c.Accepted)
	}
	delta, _, err := Take(c, v)
	if err != nil {
		return nil, Channel{}, Account{}, err
	}
	a := l.account(client)
	a.Credited.Add(a.Credited, delta)
	return delta, c.Copy(), a.copy(), nil
}

// Take applies voucher v to channel c: a voucher above the accepted
// amount becomes the channel's latest (moved) and credits what it adds,
// counted from the larger of the accepted and the claimed amount (claims
// pay vouchers some ledger accepted: a channel claimed beyond what this
// ledger accepted, after a ledger was lost and started afresh, is
// credited only above the claim). A voucher at or below the accepted
// amount changes nothing and credits nothing. Vouchers of a closing or
// closed channel, or above its deposit, are refused.
func Take(c *Channel, v *paychan.Voucher) (delta *big.Int, moved bool, err error) {
	switch {
	case c.Finished:
		return nil, false, fmt.Errorf("%w: %x", ErrChannelClosed, c.ID[:8])
	case c.CloseAt != 0:
		// Its sender is leaving: nothing more is credited on it, and what
		// was is claimed at once (Due).
		return nil, false, fmt.Errorf("%w: challenge period ends at %d", ErrChannelClosing, c.CloseAt)
	case v.Amount.Cmp(c.Deposit) > 0:
		return nil, false, fmt.Errorf("%w: %v > %v", ErrAboveDeposit, v.Amount, c.Deposit)
	case v.Amount.Cmp(c.Accepted) <= 0:
		return new(big.Int), false, nil
	}
	base := c.Accepted
	if c.Claimed != nil && c.Claimed.Cmp(base) > 0 {
		base = c.Claimed
	}
	delta = new(big.Int).Sub(v.Amount, base)
	if delta.Sign() < 0 {
		delta.SetInt64(0) // at or below the claim: taken, credits nothing
	}
	c.Accepted = new(big.Int).Set(v.Amount)
	c.Voucher = *v
	c.Voucher.Amount = new(big.Int).Set(v.Amount)
	return delta, true, nil
}

// Check says whether Take would refuse v on the channel as this ledger
// last saw it (a channel it does not know is ErrUnknownChannel). Where
// other servers share the ledger, that view may be behind: a refusal
// holds (a channel's deposit and close only move one way, and the stored
// record is checked again), a pass is only a first look.
func (l *Ledger) Check(id common.Hash, v *paychan.Voucher) error {
	c := l.channels[id]
	if c == nil {
		return fmt.Errorf("%w: %x", ErrUnknownChannel, id[:8])
	}
	cp := c.Copy()
	_, _, err := Take(&cp, v)
	return err
}

// Put records a channel as another holder of the ledger stored it (the
// fleet's database): what was accepted there, and the chain state it
// recorded.
func (l *Ledger) Put(c Channel) {
	cp := c.Copy()
	l.channels[c.ID] = &cp
}

// SetAccount records a client's account as stored elsewhere (the fleet's
// database), with pending, the charges of this ledger not yet stored,
// added.
func (l *Ledger) SetAccount(id ClientID, a Account, pending *big.Int) {
	cp := a.copy()
	if pending != nil {
		cp.Charged.Add(cp.Charged, pending)
	}
	l.accounts[id] = &cp
}

// Revert undoes an Accept whose records could not be stored, so that no
// credit is spent that a restart would not find: the channel's latest
// voucher goes back to prev's (the channel as it was before Accept) and
// the client's credit down by delta. Chain state read in between is kept.
// The caller lets no other voucher of the channel in until it knows
// whether the records were stored.
func (l *Ledger) Revert(client ClientID, prev Channel, delta *big.Int) {
	if c := l.channels[prev.ID]; c != nil {
		p := prev.Copy()
		c.Accepted, c.Voucher = p.Accepted, p.Voucher
	}
	if a := l.accounts[client]; a != nil {
		a.Credited.Sub(a.Credited, delta)
	}
}

func (l *Ledger) account(id ClientID) *Account {
	a := l.accounts[id]
	if a == nil {
		a = newAccount()
		l.accounts[id] = a
	}
	return a
}

// Account returns a client's account.
func (l *Ledger) Account(id ClientID) Account {
	if a := l.accounts[id]; a != nil {
		return a.copy()
	}
	return newAccount().copy()
}

// Accounts returns every account.
func (l *Ledger) Accounts() map[ClientID]Account {
	out := make(map[ClientID]Account, len(l.accounts))
	for id, a := range l.accounts {
		out[id] = a.copy()
	}
	return out
}

// Balance is a client's balance.
func (l *Ledger) Balance(id ClientID) *big.Int {
	if a := l.accounts[id]; a != nil {
		return a.Balance()
	}
	return new(big.Int)
}

// SetBalance makes a client's balance wei by changing what the operator
// granted it (or, below what it paid, by charging it).
func (l *Ledger) SetBalance(id ClientID, wei *big.Int) Account {
	a := l.account(id)
	*a = SetAccountBalance(*a, wei)
	return a.copy()
}

// SetAccountBalance returns account a with its balance made wei: what the
// operator granted is changed (or, below what it paid, what it was
// charged).
func SetAccountBalance(a Account, wei *big.Int) Account {
	out := a.copy()
	// Granted = wei + Charged - Credited, when not negative.
	g := new(big.Int).Add(wei, a.Charged)
	g.Sub(g, a.Credited)
	if g.Sign() >= 0 {
		out.Granted = g
	} else {
		out.Granted = new(big.Int)
		out.Charged = new(big.Int).Sub(a.Credited, wei)
	}
	return out
}

// chargeNano charges a client nano-wei (wei·10⁻⁹), carrying fractions of a
// wei to the next charge, never below a zero balance. It returns the wei
// charged.
func (l *Ledger) chargeNano(id ClientID, nano *big.Int) *big.Int {
	m := l.meter(id)
	m.carry.Add(m.carry, nano)
	wei, rem := new(big.Int).QuoRem(m.carry, big.NewInt(1e9), new(big.Int))
	m.carry = rem
	a := l.account(id)
	if bal := a.Balance(); wei.Cmp(bal) > 0 {
		wei = bal
		m.carry.SetInt64(0)
	}
	a.Charged.Add(a.Charged, wei)
	return wei
}

func (l *Ledger) meter(id ClientID) *meter {
	m := l.billing[id]
	if m == nil {
		m = &meter{since: l.cfg.Clock.Now(), carry: new(big.Int)}
		l.billing[id] = m
	}
	return m
}

// Bill charges a client for holding capacity at price (wei per
// capacity-unit-second) since its last bill (or since StartBilling), and
// returns the wei charged and its account.
func (l *Ledger) Bill(id ClientID, capacity uint64, price *big.Int) (*big.Int, Account) {
	m := l.meter(id)
	now := l.cfg.Clock.Now()
	elapsed := now - m.since
	m.since = now
	nano := new(big.Int).SetUint64(capacity)
	nano.Mul(nano, price)
	nano.Mul(nano, big.NewInt(int64(elapsed))) // ns × wei/s = nano-wei
	wei := l.chargeNano(id, nano)
	return wei, l.account(id).copy()
}

// StartBilling starts a client's capacity-time meter now (when it wins
// capacity); StopBilling drops it (the caller bills first).
func (l *Ledger) StartBilling(id ClientID) {
	m := l.meter(id)
	m.since = l.cfg.Clock.Now()
}

// StopBilling drops a client's meter.
func (l *Ledger) StopBilling(id ClientID) { delete(l.billing, id) }

// ChargeRequest charges a client for cost units of requests at price wei
// per 1,000 units.
func (l *Ledger) ChargeRequest(id ClientID, cost uint64, price *big.Int) *big.Int {
	if price == nil || price.Sign() == 0 {
		return new(big.Int)
	}
	nano := new(big.Int).SetUint64(cost)
	nano.Mul(nano, price)
	nano.Mul(nano, big.NewInt(1e6)) // /1000 units, ×1e9 nano
	return l.chargeNano(id, nano)
}

// Due lists the channels to claim now: those whose
// unclaimed amount reached the threshold, and closing ones with anything
// unclaimed.
func (l *Ledger) Due() []Channel {
	var out []Channel
	for _, c := range l.channels {
		if c.Finished || c.Voucher.Amount == nil {
			continue
		}
		u := c.Unclaimed()
		if u.Sign() == 0 {
			continue
		}
		if u.Cmp(l.cfg.ClaimThreshold) >= 0 || c.CloseAt != 0 {
			out = append(out, c.Copy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Cmp(out[j].ID) < 0 })
	return out
}

// Claimable lists every channel with something unclaimed.
func (l *Ledger) Claimable() []Channel {
	var out []Channel
	for _, c := range l.channels {
		if !c.Finished && c.Voucher.Amount != nil && c.Unclaimed().Sign() > 0 {
			out = append(out, c.Copy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Cmp(out[j].ID) < 0 })
	return out
}

// Earnings sums the ledger: wei received in vouchers, claimed on chain,
// still to claim, and charged to clients.
type Earnings struct {
	Received  *big.Int `json:"received"`
	Claimed   *big.Int `json:"claimed"`
	Unclaimed *big.Int `json:"unclaimed"`
	Charged   *big.Int `json:"charged"`
	Channels  int      `json:"channels"`
}

// Earnings sums the ledger.
func (l *Ledger) Earnings() Earnings {
	e := Earnings{Received: new(big.Int), Claimed: new(big.Int), Unclaimed: new(big.Int), Charged: new(big.Int), Channels: len(l.channels)}
	for _, c := range l.channels {
		e.Received.Add(e.Received, c.Accepted)
		e.Claimed.Add(e.Claimed, c.Claimed)
		e.Unclaimed.Add(e.Unclaimed, c.Unclaimed())
	}
	for _, a := range l.accounts {
		e.Charged.Add(e.Charged, a.Charged)
	}
	return e
}
