package cashier

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/ledgerdb"
	"github.com/lightmarket/lightmarket/ledgerpg"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/protocol"
)

// ErrNotClaimer says this process does not claim for the fleet now:
// another holds the claimer's lease, or it has no receiving key.
var ErrNotClaimer = errors.New("this server does not claim for the fleet")

// fleet is the cashier's state as one server of a fleet (its ledger in
// PostgreSQL). Its maps are guarded by the cashier's mu.
type fleet struct {
	db     *ledgerpg.DB
	holder string // this process, as a lease holder

	// Charges made here and not yet stored: unstored ones wait for the
	// next sync, sending ones are in a transaction now.
	unstored map[ledger.ClientID]*big.Int
	sending  map[ledger.ClientID]*big.Int
	// Clients served lately (their accounts are read back each sync), and
	// a count of each client's account updates, so that a read older
	// than a voucher's result does not overwrite it.
	active map[ledger.ClientID]time.Time
	gen    map[ledger.ClientID]uint64

	leaseMu sync.Mutex
	leased  time.Time // when the lease was last renewed (zero: not held)
}

// activeFor is how long after its last payment or charge a client's
// account is still read back.
const activeFor = time.Minute

func (c *Cashier) openFleet() error {
	var id *ledgerpg.Identity
	if c.cfg.Contract != nil {
		d := c.cfg.Contract.Domain()
		id = &ledgerpg.Identity{ChainID: new(big.Int).SetUint64(d.ChainID), Contract: c.cfg.Contract.Address(), Receiver: c.receiver}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ChainTimeout)
	defer cancel()
	db, err := ledgerpg.Open(ctx, ledgerpg.Config{URL: c.cfg.Ledger, Server: c.cfg.Server, Identity: id, Logger: c.cfg.Logger})
	if err != nil {
		return err
	}
	chans, accts, err := db.Load(ctx)
	if err != nil {
		db.Close()
		return err
	}
	c.ledger.Load(chans, accts)
	var r [6]byte
	crand.Read(r[:])
	c.fleet = &fleet{db: db, holder: fmt.Sprintf("%s/%x", c.cfg.Server, r),
		unstored: make(map[ledger.ClientID]*big.Int), sending: make(map[ledger.ClientID]*big.Int),
		active: make(map[ledger.ClientID]time.Time), gen: make(map[ledger.ClientID]uint64)}
	return nil
}

func (c *Cashier) closeFleet() error {
	c.syncFleet(context.Background())
	if c.claiming() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.fleet.db.Release(ctx, ledgerpg.ClaimerLease, c.fleet.holder)
		cancel()
	}
	return c.fleet.db.Close()
}

// receiveFleet takes a verified voucher whose channel is known: the
// database credits it, in the transaction that stores it.
func (c *Cashier) receiveFleet(client ledger.ClientID, id common.Hash, v *paychan.Voucher) (*big.Int, *big.Int, error) {
	c.mu.Lock()
	err := c.ledger.Check(id, v)
	c.mu.Unlock()
	if err != nil {
		return nil, nil, payment.Refuse(refusalCode(err), err)
	}
	res, err := c.fleet.db.Credit(client, id, v).Wait()
	switch {
	case errors.Is(err, ledgerpg.ErrAway) || errors.Is(err, ledgerdb.ErrClosed):
		c.cfg.Logger.Error("Cannot store voucher", "channel", id, "err", err)
		return nil, nil, payment.Refuse(protocol.PayUnavailable, fmt.Errorf("storing voucher: %w", err))
	case err != nil:
		return nil, nil, payment.Refuse(refusalCode(err), err)
	}
	c.mu.Lock()
	if cur, ok := c.ledger.Channel(id); !ok || res.Channel.Accepted.Cmp(cur.Accepted) >= 0 {
		c.ledger.Put(res.Channel)
	}
	c.setAccount(client, res.Account)
	balance := c.ledger.Balance(client)
	c.mu.Unlock()
	if c.cfg.AfterStore != nil {
		c.cfg.AfterStore()
	}
	return res.Delta, balance, nil
}

// setAccount records a client's account as stored, with what was charged
// here and not stored yet (the caller holds mu).
func (c *Cashier) setAccount(client ledger.ClientID, a ledger.Account) {
	f := c.fleet
	pending := new(big.Int)
	if p := f.unstored[client]; p != nil {
		pending.Add(pending, p)
	}
	if p := f.sending[client]; p != nil {
		pending.Add(pending, p)
	}
	c.ledger.SetAccount(client, a, pending)
	f.gen[client]++
	f.active[client] = time.Now()
}

// charge notes wei charged here, stored at the next sync (the caller
// holds mu).
func (f *fleet) charge(client ledger.ClientID, wei *big.Int) {
	f.active[client] = time.Now()
	if wei.Sign() == 0 {
		return
	}
	p := f.unstored[client]
	if p == nil {
		p = new(big.Int)
		f.unstored[client] = p
	}
	p.Add(p, wei)
}

// syncFleet stores the charges made since the last sync and reads back
// the accounts of the clients served lately: what they paid and were
// charged at the fleet's other servers shows in their balance here.
func (c *Cashier) syncFleet(ctx context.Context) {
	f := c.fleet
	c.mu.Lock()
	f.sending, f.unstored = f.unstored, make(map[ledger.ClientID]*big.Int)
	charges := f.sending
	c.mu.Unlock()
	var changes []*ledgerpg.Change
	for client, wei := range charges {
		changes = append(changes, f.db.Charge(client, wei))
	}
	var lost int
	for _, ch := range changes {
		if err := <-ch.Done(); err != nil {
			lost++
		}
	}
	if lost > 0 {
		// Lost in the clients' favour: the database was away.
		c.cfg.Logger.Warn("Charges not stored", "clients", lost)
	}
	c.mu.Lock()
	f.sending = make(map[ledger.ClientID]*big.Int)
	var clients []ledger.ClientID
	gens := make(map[ledger.ClientID]uint64)
	for id, at := range f.active {
		if time.Since(at) > activeFor {
			delete(f.active, id)
			delete(f.gen, id)
			continue
		}
		clients = append(clients, id)
		gens[id] = f.gen[id]
	}
	c.mu.Unlock()
	if len(clients) == 0 {
		return
	}
	accts, err := f.db.Accounts(ctx, clients)
	if err != nil {
		c.cfg.Logger.Debug("Cannot read the fleet's accounts", "err", err)
		return
	}
	c.mu.Lock()
	for id, a := range accts {
		if f.gen[id] == gens[id] {
			at := f.active[id]
			c.setAccount(id, a)
			f.active[id] = at // a read is not activity
		}
	}
	c.mu.Unlock()
}

func (c *Cashier) setBalanceFleet(client ledger.ClientID, wei *big.Int) error {
	res, err := c.fleet.db.SetBalance(client, wei).Wait()
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.setAccount(client, res.Account)
	c.mu.Unlock()
	return nil
}

// Fleet sums the fleet's ledger (nil for a lone server).
func (c *Cashier) Fleet(ctx context.Context) (*ledgerpg.Totals, error) {
	if c.fleet == nil {
		return nil, nil
	}
	t, err := c.fleet.db.Totals(ctx)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// InFleet reports whether the cashier keeps its ledger with a fleet's.
func (c *Cashier) InFleet() bool { return c.fleet != nil }

// Claimer reports whether this process claims for the fleet now (holds the
// claimer's lease).
func (c *Cashier) Claimer() bool { return c.fleet != nil && c.claiming() }

// claiming says whether this process holds the claimer's lease now.
func (c *Cashier) claiming() bool {
	f := c.fleet
	f.leaseMu.Lock()
	defer f.leaseMu.Unlock()
	return !f.leased.IsZero() && time.Since(f.leased) < c.cfg.LeaseFor/2
}

// lease takes or renews the claimer's lease, for a process with the key.
func (c *Cashier) lease(ctx context.Context) bool {
	f := c.fleet
	if c.cfg.Key == nil || c.cfg.Contract == nil {
		return false
	}
	start := time.Now()
	held, err := f.db.Lease(ctx, ledgerpg.ClaimerLease, f.holder, c.cfg.LeaseFor)
	f.leaseMu.Lock()
	defer f.leaseMu.Unlock()
	was := !f.leased.IsZero()
	if err != nil || !held {
		f.leased = time.Time{}
	} else {
		f.leased = start
	}
	switch {
	case held && !was:
		c.cfg.Logger.Info("Claiming for the fleet", "holder", f.holder)
	case !held && was:
		c.cfg.Logger.Warn("No longer claiming for the fleet", "err", err)
	}
	return held
}

// runFleet syncs every SyncEvery and, in the process with the lease,
// watches the channels and settles every interval.
func (c *Cashier) runFleet(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(min(c.cfg.SyncEvery, c.cfg.LeaseFor/4))
	defer tick.Stop()
	var lastSettle time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.syncFleet(ctx)
		if !c.lease(ctx) || time.Since(lastSettle) < interval {
			continue
		}
		lastSettle = time.Now()
		if err := c.refreshFleet(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("Cannot refresh channels", "err", err)
		}
		if _, err := c.settleFleet(ctx, false); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("Settlement failed", "err", err)
		}
	}
}

// refreshFleet re-reads the fleet's open channels from the chain: the
// claimer's watch for top-ups, claims and closes.
func (c *Cashier) refreshFleet(ctx context.Context) error {
	if !c.claiming() && !c.lease(ctx) {
		return nil
	}
	chans, err := c.fleet.db.Open(ctx)
	if err != nil {
		return err
	}
	for _, ch := range chans {
		if err := c.refresh(ctx, ch.Sender, ch.Nonce, ch.ID); err != nil {
			return err
		}
	}
	return nil
}

// settleFleet claims the fleet's channels due, in the process that holds
// the claimer's lease: first it settles the claims recorded and not seen
// mined (a claimer before it may have died between sending one and
// seeing its receipt), then claims, recording each claim before sending
// it.
func (c *Cashier) settleFleet(ctx context.Context, all bool) ([]payment.Settlement, error) {
	if c.cfg.Key == nil {
		return nil, fmt.Errorf("%w: it has no receiving key", ErrNotClaimer)
	}
	if !c.lease(ctx) {
		holder, until, _ := c.fleet.db.Holder(ctx, ledgerpg.ClaimerLease)
		return nil, fmt.Errorf("%w: %s holds the claimer's lease until %v", ErrNotClaimer, holder, until.Format(time.RFC3339))
	}
	c.claimMu.Lock()
	defer c.claimMu.Unlock()
	inFlight, err := c.settleSending(ctx)
	if err != nil {
		return nil, err
	}
	due, err := c.fleet.db.Due(ctx, c.ledger.ClaimThreshold(), all)
	if err != nil {
		return nil, err
	}
	return claimEach(ctx, due, inFlight, c.claimFleet)
}

// settleSending settles the claims recorded as sending: mined ones are
// marked so, ones the chain's node never heard of (or dropped) failed;
// ones still pending are left to be mined, and their channels are
// returned so that nothing more is claimed on them now.
func (c *Cashier) settleSending(ctx context.Context) (map[common.Hash]bool, error) {
	sending, err := c.fleet.db.Sending(ctx)
	if err != nil {
		return nil, err
	}
	inFlight := make(map[common.Hash]bool)
	for _, cl := range sending {
		receipt, pending, err := c.cfg.Contract.TxStatus(ctx, cl.Tx)
		if err != nil {
			return nil, fmt.Errorf("looking up claim %v: %w", cl.Tx, err)
		}
		state := "failed"
		switch {
		case pending:
			inFlight[cl.Channel] = true
			c.cfg.Logger.Info("A claim sent before is still pending", "channel", cl.Channel, "tx", cl.Tx, "by", cl.Claimer)
			continue
		case receipt != nil && receipt.Status == types.ReceiptStatusSuccessful:
			state = "mined"
			c.cfg.Logger.Info("A claim sent before was mined", "channel", cl.Channel, "tx", cl.Tx, "by", cl.Claimer)
		}
		if err := c.fleet.db.SetClaimState(ctx, cl.Channel, cl.Amount, state); err != nil {
			return nil, err
		}
		if ch, ok, err := c.fleet.db.Channel(ctx, cl.Channel); err == nil && ok {
			c.refresh(ctx, ch.Sender, ch.Nonce, ch.ID)
		}
	}
	return inFlight, nil
}

// claimFleet claims a channel's latest voucher: the signed transaction's
// hash is recorded (under the lease) before it is sent.
func (c *Cashier) claimFleet(ctx context.Context, ch ledger.Channel) (payment.Settlement, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ChainTimeout)
	defer cancel()
	tx, err := c.cfg.Contract.SignClaim(ctx, c.cfg.Key, &ch.Voucher)
	if err != nil {
		c.cfg.Logger.Warn("Claim refused", "channel", ch.ID, "amount", ch.Voucher.Amount, "err", err)
		c.refresh(ctx, ch.Sender, ch.Nonce, ch.ID)
		return payment.Settlement{}, fmt.Errorf("claiming channel %x: %w", ch.ID[:8], err)
	}
	if err := c.fleet.db.RecordClaim(ctx, ledgerpg.ClaimerLease, c.fleet.holder, ch.ID, ch.Voucher.Amount, tx.Hash()); err != nil {
		return payment.Settlement{}, fmt.Errorf("claiming channel %x: %w", ch.ID[:8], err)
	}
	receipt, err := c.cfg.Contract.SendSigned(ctx, tx)
	if err != nil {
		// Left as sending: the next round finds out what became of it.
		c.cfg.Logger.Warn("Claim failed", "channel", ch.ID, "amount", ch.Voucher.Amount, "err", err)
		return payment.Settlement{}, fmt.Errorf("claiming channel %x: %w", ch.ID[:8], err)
	}
	c.fleet.db.SetClaimState(ctx, ch.ID, ch.Voucher.Amount, "mined")
	return c.claimed(ctx, ch, receipt)
}
