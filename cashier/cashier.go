// Package cashier takes a server's money: it receives payment-channel
// vouchers (checks them against the channel on chain, stores them
// durably, credits the client), keeps the clients' accounts (bills
// capacity-time at the auction's price and requests, applies operator
// grants), and collects on chain: a settlement loop claims channels whose
// unclaimed amount passed a threshold and every closing channel before its
// challenge period ends.
//
// The cashier is the shell around the pure ledger: it holds the ledger's
// lock, its database and the chain. Nothing is acknowledged before it is
// on disk.
//
// With its ledger in PostgreSQL (package ledgerpg) the cashier is one
// server of a fleet: the database decides each voucher's credit, charges
// are stored as additions, the accounts of the clients it serves are read
// back every second, and the one process that holds the claimer's lease
// (and the receiver's key) claims and watches the channels.
package cashier

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/ledgerdb"
	"github.com/lightmarket/lightmarket/ledgerpg"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/protocol"
)

// ErrNoPayments says the server takes no payments.
var ErrNoPayments = errors.New("server takes no payments")

// Config configures a cashier. Zero values take the defaults noted.
type Config struct {
	Clock mclock.Clock // required: drives billing
	// Ledger is the postgres:// URL of the PostgreSQL database that holds
	// the ledger (package ledgerpg); when it is empty, DataDir holds it
	// (package ledgerdb; both empty: memory only).
	Ledger  string
	DataDir string
	// Contract is the Channels contract payments are made on (nil: no
	// payments are taken; accounts still hold operator grants).
	Contract *paychan.Contract
	// Key receives the payments: it claims them on chain. A server of a
	// fleet may do without it: it gives Receiver, verifies vouchers to
	// it, and leaves claims to the fleet's claimer (a server with Key).
	Key      *ecdsa.PrivateKey
	Receiver common.Address
	// Server names this server in a fleet's ledger (its node id).
	Server string
	// LeaseFor is how long the claimer's lease lasts unrenewed (default
	// 30s): the longest a fleet goes without a claimer when it dies.
	LeaseFor time.Duration
	// SyncEvery is how often a fleet's server stores its charges and
	// reads back its clients' accounts (default 1s).
	SyncEvery time.Duration
	// ClaimThreshold: see ledger.Config.
	ClaimThreshold *big.Int
	// ChainTimeout bounds one chain read or claim (default 30s).
	ChainTimeout time.Duration
	// Now is the chain's time (default the wall clock).
	Now    func() time.Time
	Logger log.Logger
	// OnSettle is called for every claim made on chain.
	OnSettle func(payment.Settlement)
	// AfterStore, for crash tests: called with a payment stored on disk
	// before the client is credited and acknowledged.
	AfterStore func()
}

// Cashier is a server's payment desk. Safe for concurrent use.
type Cashier struct {
	cfg      Config
	db       ledgerdb.Store // nil: memory only, or fleet
	fleet    *fleet         // nil: a lone server
	verifier *paychan.Verifier
	receiver common.Address

	mu      sync.Mutex
	ledger  *ledger.Ledger
	unknown map[common.Hash]time.Time // channels not found on chain, when
	storing map[common.Hash]bool      // channels with a voucher being stored
	settled []payment.Settlement
	claimMu sync.Mutex // one settlement at a time
}

// errStoring refuses a voucher of a channel whose previous voucher is
// still being stored: the client sends it again.
var errStoring = errors.New("a voucher of this channel is being stored")

// minChallengePeriod is the shortest challenge period the cashier accepts
// without a warning.
const minChallengePeriod = 10 * time.Minute

// unknownTTL is how long a channel not found on chain is not looked up
// again.
const unknownTTL = 10 * time.Second

// New opens the cashier's ledger.
func New(cfg Config) (*Cashier, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ChainTimeout == 0 {
		cfg.ChainTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	if cfg.LeaseFor == 0 {
		cfg.LeaseFor = 30 * time.Second
	}
	if cfg.SyncEvery == 0 {
		cfg.SyncEvery = time.Second
	}
	c := &Cashier{
		cfg:     cfg,
		ledger:  ledger.New(ledger.Config{Clock: cfg.Clock, ClaimThreshold: cfg.ClaimThreshold}),
		unknown: make(map[common.Hash]time.Time),
		storing: make(map[common.Hash]bool),
	}
	if cfg.Contract != nil {
		switch {
		case cfg.Key != nil && cfg.Receiver != (common.Address{}) && cfg.Receiver != paychan.Address(cfg.Key):
			return nil, fmt.Errorf("cashier: the payment key's address %v is not the receiver %v", paychan.Address(cfg.Key), cfg.Receiver)
		case cfg.Key != nil:
			c.receiver = paychan.Address(cfg.Key)
		case cfg.Receiver == (common.Address{}):
			return nil, errors.New("cashier: payments need a receiving key, or in a fleet the receiver's address")
		case !ledgerpg.IsURL(cfg.Ledger):
			return nil, errors.New("cashier: a server without the receiving key claims nothing: it needs the fleet's ledger (a postgres:// URL), where the claimer finds its vouchers")
		default:
			c.receiver = cfg.Receiver
		}
		c.verifier = paychan.NewVerifier(cfg.Contract.Domain(), c.receiver)
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ChainTimeout)
		period, err := cfg.Contract.ChallengePeriod(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("cashier: reading the contract's challenge period: %w", err)
		}
		if period < minChallengePeriod {
			cfg.Logger.Warn("Short challenge period: claims of closing channels must be mined within it", "challenge", period)
		}
	}
	var db ledgerdb.Store
	switch {
	case ledgerpg.IsURL(cfg.Ledger):
		if err := c.openFleet(); err != nil {
			return nil, err
		}
		return c, nil
	case cfg.Ledger != "":
		return nil, fmt.Errorf("cashier: ledger %q is not a postgres:// URL", redact(cfg.Ledger))
	case cfg.DataDir != "":
		pebble, err := ledgerdb.Open(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		db = pebble
	}
	if db != nil {
		chans, accts, err := db.Load()
		if err != nil {
			db.Close()
			return nil, err
		}
		c.ledger.Load(chans, accts)
		c.db = db
	}
	return c, nil
}

// redact hides a URL's password.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// Close closes the ledger database.
func (c *Cashier) Close() error {
	if c.fleet != nil {
		return c.closeFleet()
	}
	if c.db == nil {
		return nil
	}
	return c.db.Close()
}

// Method implements payment.Receiver.
func (c *Cashier) Method() string { return paychan.Method }

// Enabled reports whether the cashier takes payments.
func (c *Cashier) Enabled() bool { return c.cfg.Contract != nil }

// Receiver is the address payments go to (zero without payments).
func (c *Cashier) Receiver() common.Address { return c.receiver }

// Terms implements payment.Receiver.
func (c *Cashier) Terms() []byte {
	if c.cfg.Contract == nil {
		return nil
	}
	return paychan.Terms{ChainID: c.cfg.Contract.Domain().ChainID, Contract: c.cfg.Contract.Address(), Receiver: c.receiver,
		Confirmations: c.cfg.Contract.Confirmations}.Encode()
}

// store writes records (in call order: the caller holds mu) and returns
// the wait for them to be on disk.
func (c *Cashier) store(chans []ledger.Channel, accts map[ledger.ClientID]ledger.Account) <-chan error {
	if c.db == nil {
		done := make(chan error, 1)
		done <- nil
		return done
	}
	return c.db.Write(ledgerdb.Records{Channels: chans, Accounts: accts})
}

// Receive implements payment.Receiver: it verifies a voucher, reads the
// channel from the chain when it is new to the ledger or the voucher
// exceeds the deposit last seen, stores the voucher and the credit
// durably, and returns the credit and the client's balance.
func (c *Cashier) Receive(ctx context.Context, client [32]byte, pay []byte) (*big.Int, *big.Int, error) {
	if c.cfg.Contract == nil {
		return nil, nil, payment.Refuse(protocol.PayUnsupported, ErrNoPayments)
	}
	v, err := paychan.DecodeVoucher(pay)
	if err != nil {
		return nil, nil, payment.Refuse(protocol.PayMalformed, err)
	}
	if err := c.verifier.Verify(v); err != nil {
		return nil, nil, payment.Refuse(protocol.PayBadSignature, err)
	}
	id := v.Channel(c.receiver)
	c.mu.Lock()
	ch, known := c.ledger.Channel(id)
	lookedUp, missing := c.unknown[id]
	c.mu.Unlock()
	if !known || v.Amount.Cmp(ch.Deposit) > 0 {
		if missing && c.cfg.Now().Sub(lookedUp) < unknownTTL {
			return nil, nil, payment.Refuse(protocol.PayUnknownChannel, fmt.Errorf("%w: %x", ledger.ErrUnknownChannel, id[:8]))
		}
		if err := c.refresh(ctx, v.Sender, v.Nonce, id); err != nil {
			return nil, nil, err
		}
	}
	if c.fleet != nil {
		return c.receiveFleet(ledger.ClientID(client), id, v)
	}
	c.mu.Lock()
	if c.storing[id] {
		c.mu.Unlock()
		return nil, nil, payment.Refuse(protocol.PayUnavailable, fmt.Errorf("%w: %x", errStoring, id[:8]))
	}
	prev, _ := c.ledger.Channel(id)
	delta, chRec, acct, err := c.ledger.Accept(ledger.ClientID(client), id, v)
	if err != nil {
		c.mu.Unlock()
		return nil, nil, payment.Refuse(refusalCode(err), err)
	}
	var done <-chan error
	if delta.Sign() > 0 {
		done = c.store([]ledger.Channel{chRec}, map[ledger.ClientID]ledger.Account{ledger.ClientID(client): acct})
		c.storing[id] = true
	}
	c.mu.Unlock()
	if done != nil {
		err := <-done
		c.mu.Lock()
		delete(c.storing, id)
		if err != nil {
			// Not stored: not credited, so that no credit is spent that a
			// restart would not find.
			c.ledger.Revert(ledger.ClientID(client), prev, delta)
		}
		c.mu.Unlock()
		if err != nil {
			c.cfg.Logger.Error("Cannot store voucher", "channel", id, "err", err)
			return nil, nil, payment.Refuse(protocol.PayUnavailable, fmt.Errorf("storing voucher: %w", err))
		}
		if c.cfg.AfterStore != nil {
			c.cfg.AfterStore()
		}
	}
	return delta, c.Balance(client), nil
}

func refusalCode(err error) protocol.PayCode {
	switch {
	case errors.Is(err, ledger.ErrUnknownChannel):
		return protocol.PayUnknownChannel
	case errors.Is(err, ledger.ErrChannelClosing):
		return protocol.PayClosing
	case errors.Is(err, ledger.ErrChannelClosed):
		return protocol.PayClosed
	case errors.Is(err, ledger.ErrAboveDeposit):
		return protocol.PayAboveDeposit
	case errors.Is(err, ledger.ErrReplayed):
		return protocol.PayReplayed
	}
	return protocol.PayUnavailable
}

// refresh reads a channel from the chain into the ledger (and stores it).
func (c *Cashier) refresh(ctx context.Context, sender common.Address, nonce uint64, id common.Hash) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ChainTimeout)
	defer cancel()
	st, err := c.cfg.Contract.State(ctx, id)
	if err != nil {
		return fmt.Errorf("reading channel: %w", err)
	}
	c.mu.Lock()
	rec, ok := c.ledger.SetChain(sender, nonce, id, st)
	if !ok {
		c.unknown[id] = c.cfg.Now()
		if len(c.unknown) > 10_000 {
			clear(c.unknown)
		}
		c.mu.Unlock()
		return nil
	}
	delete(c.unknown, id)
	if c.fleet != nil {
		c.mu.Unlock()
		_, err := c.fleet.db.SetChain(rec).Wait()
		return err
	}
	done := c.store([]ledger.Channel{rec}, nil)
	c.mu.Unlock()
	return <-done
}

// Refresh re-reads every open channel from the chain: top-ups, claims and
// closes show up in the ledger.
func (c *Cashier) Refresh(ctx context.Context) error {
	if c.cfg.Contract == nil {
		return nil
	}
	if c.fleet != nil {
		return c.refreshFleet(ctx)
	}
	c.mu.Lock()
	chans := c.ledger.Channels()
	c.mu.Unlock()
	for _, ch := range chans {
		if ch.Finished {
			continue
		}
		if err := c.refresh(ctx, ch.Sender, ch.Nonce, ch.ID); err != nil {
			return err
		}
	}
	return nil
}

// Settle implements payment.Receiver: it claims the channels due (all:
// every channel with something unclaimed) on chain.
func (c *Cashier) Settle(ctx context.Context, all bool) ([]payment.Settlement, error) {
	if c.cfg.Contract == nil {
		return nil, ErrNoPayments
	}
	if c.fleet != nil {
		return c.settleFleet(ctx, all)
	}
	c.claimMu.Lock()
	defer c.claimMu.Unlock()
	c.mu.Lock()
	due := c.ledger.Due()
	if all {
		due = c.ledger.Claimable()
	}
	c.mu.Unlock()
	return claimEach(ctx, due, nil, c.claim)
}

// claimEach claims every channel due but those skipped, one at a time,
// and returns the settlements made (never nil: [] in JSON when nothing was
// due) and every claim's error.
func claimEach(ctx context.Context, due []ledger.Channel, skip map[common.Hash]bool, claim func(context.Context, ledger.Channel) (payment.Settlement, error)) ([]payment.Settlement, error) {
	var (
		out  = []payment.Settlement{}
		errs []error
	)
	for _, ch := range due {
		if skip[ch.ID] {
			continue
		}
		s, err := claim(ctx, ch)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

func (c *Cashier) claim(ctx context.Context, ch ledger.Channel) (payment.Settlement, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ChainTimeout)
	defer cancel()
	receipt, err := c.cfg.Contract.Claim(ctx, c.cfg.Key, &ch.Voucher)
	if err != nil {
		c.cfg.Logger.Warn("Claim failed", "channel", ch.ID, "amount", ch.Voucher.Amount, "err", err)
		// Perhaps claimed already (before a crash) or closed: re-read.
		c.refresh(ctx, ch.Sender, ch.Nonce, ch.ID)
		return payment.Settlement{}, fmt.Errorf("claiming channel %x: %w", ch.ID[:8], err)
	}
	return c.claimed(ctx, ch, receipt)
}

// claimed records a claim of ch's voucher mined in receipt.
func (c *Cashier) claimed(ctx context.Context, ch ledger.Channel, receipt *types.Receipt) (payment.Settlement, error) {
	paid := new(big.Int).Sub(ch.Voucher.Amount, ch.Claimed)
	s := payment.Settlement{Ref: ch.ID.Hex(), Amount: paid, Tx: receipt.TxHash, Block: receipt.BlockNumber.Uint64()}
	for _, l := range receipt.Logs {
		if ev, err := c.cfg.Contract.ClaimedEvent(l); err == nil && ev.Channel == ch.ID {
			s.Amount = ev.Paid
		}
	}
	c.cfg.Logger.Info("Claimed payments", "channel", ch.ID, "paid", s.Amount, "tx", s.Tx)
	c.mu.Lock()
	c.settled = append(c.settled, s)
	c.mu.Unlock()
	if c.cfg.OnSettle != nil {
		c.cfg.OnSettle(s)
	}
	if err := c.refresh(ctx, ch.Sender, ch.Nonce, ch.ID); err != nil {
		return s, err
	}
	return s, nil
}

// Run refreshes channels and settles what is due every interval until ctx
// ends.
func (c *Cashier) Run(ctx context.Context, interval time.Duration) {
	if c.fleet != nil {
		c.runFleet(ctx, interval)
		return
	}
	if c.cfg.Contract == nil {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("Cannot refresh channels", "err", err)
		}
		if _, err := c.Settle(ctx, false); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("Settlement failed", "err", err)
		}
	}
}

// Bill charges a client for capacity held at price since its last bill
// and returns its balance. The account is written without waiting: a
// crash loses at most the charges of the last moments, in the client's
// favour.
func (c *Cashier) Bill(client [32]byte, capacity uint64, price *big.Int) *big.Int {
	c.mu.Lock()
	defer c.mu.Unlock()
	charged, acct := c.ledger.Bill(ledger.ClientID(client), capacity, price)
	if c.fleet != nil {
		c.fleet.charge(ledger.ClientID(client), charged)
	} else if charged.Sign() > 0 {
		c.store(nil, map[ledger.ClientID]ledger.Account{ledger.ClientID(client): acct})
	}
	return acct.Balance()
}

// StartBilling starts a client's capacity-time meter.
func (c *Cashier) StartBilling(client [32]byte) {
	c.mu.Lock()
	c.ledger.StartBilling(ledger.ClientID(client))
	c.mu.Unlock()
}

// StopBilling stops it.
func (c *Cashier) StopBilling(client [32]byte) {
	c.mu.Lock()
	c.ledger.StopBilling(ledger.ClientID(client))
	c.mu.Unlock()
}

// ChargeRequest charges a client cost units of requests at price wei per
// 1,000 units, and returns its balance.
func (c *Cashier) ChargeRequest(client [32]byte, cost uint64, price *big.Int) *big.Int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if charged := c.ledger.ChargeRequest(ledger.ClientID(client), cost, price); c.fleet != nil {
		c.fleet.charge(ledger.ClientID(client), charged)
	} else if charged.Sign() > 0 {
		id := ledger.ClientID(client)
		c.store(nil, map[ledger.ClientID]ledger.Account{id: c.ledger.Account(id)})
	}
	return c.ledger.Balance(ledger.ClientID(client))
}

// SetBalance makes a client's balance wei (an operator's grant), durably.
func (c *Cashier) SetBalance(client [32]byte, wei *big.Int) error {
	if c.fleet != nil {
		return c.setBalanceFleet(ledger.ClientID(client), wei)
	}
	c.mu.Lock()
	acct := c.ledger.SetBalance(ledger.ClientID(client), wei)
	done := c.store(nil, map[ledger.ClientID]ledger.Account{ledger.ClientID(client): acct})
	c.mu.Unlock()
	return <-done
}

// Balance is a client's balance.
func (c *Cashier) Balance(client [32]byte) *big.Int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ledger.Balance(ledger.ClientID(client))
}

// Balances lists every positive balance.
func (c *Cashier) Balances() map[[32]byte]*big.Int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[[32]byte]*big.Int)
	for id, a := range c.ledger.Accounts() {
		if b := a.Balance(); b.Sign() > 0 {
			out[id] = b
		}
	}
	return out
}

// Earnings sums the ledger.
func (c *Cashier) Earnings() ledger.Earnings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ledger.Earnings()
}

// Settled lists the claims made since start.
func (c *Cashier) Settled() []payment.Settlement {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]payment.Settlement{}, c.settled...) // [] in JSON when there are none
}

var _ payment.Receiver = (*Cashier)(nil)
