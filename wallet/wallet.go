// Package wallet is a client's payment-channel wallet: it opens and tops
// up one channel per server on chain, signs vouchers, and records every
// voucher durably (Pebble, synced) before it is sent, so that after a
// crash it neither forgets what it paid nor pays it twice. It pays only
// what the client decided to (PayAhead is that decision's rule), and
// never more than a server's budget in total.
package wallet

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/lightmarket/lightmarket/internal/dirlock"
	"github.com/lightmarket/lightmarket/internal/smalldb"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/payment"
)

// Errors of Pay.
var (
	ErrOverBudget  = errors.New("payment above the budget for this server")
	ErrOtherChain  = errors.New("server takes payments on another chain or contract")
	ErrNoChannel   = errors.New("no channel to this server")
	ErrChannelShut = errors.New("channel to this server is closing")
	ErrBadTerms    = errors.New("server's payment terms invalid")
	ErrBadAmount   = errors.New("payment amount must be positive")
)

// Config configures a wallet. Zero values take the defaults noted.
type Config struct {
	Contract *paychan.Contract // required
	Key      *ecdsa.PrivateKey // required: pays, and signs vouchers
	// DataDir holds the wallet's records (required: vouchers must survive).
	DataDir string
	// Deposit is locked in a new channel and added by each top-up
	// (default 0.01 ether).
	Deposit *big.Int
	// Budget bounds what one server is paid in total (default: 1 ether).
	Budget *big.Int
	Logger log.Logger
	// Progress reports long operations (opening a channel) to a person.
	Progress func(msg string, ctx ...any)
	// BeforeSend, for crash tests: called with a voucher recorded on disk
	// before it is returned to be sent.
	BeforeSend func()
}

// Wallet is a client's channel wallet. Safe for concurrent use.
type Wallet struct {
	cfg    Config
	db     *pebble.DB
	sender common.Address
	domain paychan.Domain
	mu     sync.Mutex
	chans  map[common.Address]*Channel // by receiver
	deep   map[common.Address]*big.Int // by receiver: the deposit seen at the depth its terms ask for
	payMu  sync.Mutex                  // one payment (and chain operation) at a time

	closeOnce sync.Once
}

// Channel is the wallet's record of its channel to one server.
type Channel struct {
	Receiver common.Address
	Nonce    uint64
	Opened   bool     // the open transaction is mined
	Deposit  *big.Int // locked on chain
	Signed   *big.Int // cumulative amount of the latest voucher
	Sig      [65]byte
	Closing  bool
}

// Open opens the wallet in cfg.DataDir.
func Open(cfg Config) (*Wallet, error) {
	if cfg.Contract == nil || cfg.Key == nil || cfg.DataDir == "" {
		return nil, errors.New("wallet: needs a contract, a key and a data directory")
	}
	if cfg.Deposit == nil {
		cfg.Deposit = new(big.Int).Div(big.NewInt(params.Ether), big.NewInt(100))
	}
	if cfg.Budget == nil {
		cfg.Budget = big.NewInt(params.Ether)
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	if cfg.Progress == nil {
		cfg.Progress = func(msg string, ctx ...any) { cfg.Logger.Info(msg, ctx...) }
	}
	db, err := pebble.Open(cfg.DataDir, smalldb.Options("Wallet database", cfg.Logger))
	if err != nil {
		return nil, fmt.Errorf("wallet: %w", dirlock.Explain(cfg.DataDir, err))
	}
	w := &Wallet{cfg: cfg, db: db, sender: paychan.Address(cfg.Key), domain: cfg.Contract.Domain(), chans: make(map[common.Address]*Channel), deep: make(map[common.Address]*big.Int)}
	if err := w.load(); err != nil {
		db.Close()
		return nil, err
	}
	return w, nil
}

// Close closes the wallet's records (once; later calls do nothing).
func (w *Wallet) Close() error {
	var err error
	w.closeOnce.Do(func() { err = w.db.Close() })
	return err
}

// Budget is the most one server may be paid in total, wei.
func (w *Wallet) Budget() *big.Int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return new(big.Int).Set(w.cfg.Budget)
}

// SetBudget changes the most one server may be paid in total from now on
// (wei, at least 0); what was signed before stays signed.
func (w *Wallet) SetBudget(budget *big.Int) error {
	if budget == nil || budget.Sign() < 0 {
		return errors.New("wallet: a budget is 0 wei or more")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cfg.Budget = new(big.Int).Set(budget)
	return nil
}

// Address is the wallet's (the channels' sender's) address.
func (w *Wallet) Address() common.Address { return w.sender }

const channelPrefix = 'c'

type record struct {
	Nonce   uint64
	Opened  bool
	Deposit *big.Int
	Signed  *big.Int
	Sig     [65]byte
	Closing bool
	// The domain the channel lives in.
	ChainID  uint64
	Contract common.Address
}

func (w *Wallet) load() error {
	it, err := w.db.NewIter(nil)
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		key := it.Key()
		if len(key) != 21 || key[0] != channelPrefix {
			continue
		}
		var r record
		if err := rlp.DecodeBytes(it.Value(), &r); err != nil {
			return fmt.Errorf("wallet: record %x: %w", key[1:], err)
		}
		if r.ChainID != w.domain.ChainID || r.Contract != w.domain.Contract {
			continue // a channel on another chain or contract
		}
		recv := common.BytesToAddress(key[1:])
		w.chans[recv] = &Channel{Receiver: recv, Nonce: r.Nonce, Opened: r.Opened, Deposit: r.Deposit, Signed: r.Signed, Sig: r.Sig, Closing: r.Closing}
	}
	return it.Error()
}

// save writes a channel's record, synced, before it returns.
func (w *Wallet) save(c *Channel) error {
	val, err := rlp.EncodeToBytes(&record{Nonce: c.Nonce, Opened: c.Opened, Deposit: c.Deposit, Signed: c.Signed, Sig: c.Sig,
		Closing: c.Closing, ChainID: w.domain.ChainID, Contract: w.domain.Contract})
	if err != nil {
		return err
	}
	return w.db.Set(append([]byte{channelPrefix}, c.Receiver[:]...), val, pebble.Sync)
}

// Method implements payment.Payer.
func (w *Wallet) Method() string { return paychan.Method }

func (w *Wallet) receiverOf(terms []byte) (common.Address, error) {
	t, err := w.decodeTerms(terms)
	return t.Receiver, err
}

func (w *Wallet) decodeTerms(terms []byte) (paychan.Terms, error) {
	t, err := paychan.DecodeTerms(terms)
	if err != nil {
		return t, fmt.Errorf("%w: %v", ErrBadTerms, err)
	}
	if t.ChainID != w.domain.ChainID || t.Contract != w.domain.Contract {
		return t, fmt.Errorf("%w: chain %d contract %v, ours chain %d contract %v", ErrOtherChain, t.ChainID, t.Contract, w.domain.ChainID, w.domain.Contract)
	}
	if t.Receiver == (common.Address{}) {
		return t, fmt.Errorf("%w: no receiver", ErrBadTerms)
	}
	if t.Confirmations > MaxConfirmations {
		return t, fmt.Errorf("%w: %d confirmations asked, more than %d", ErrBadTerms, t.Confirmations, MaxConfirmations)
	}
	return t, nil
}

// MaxConfirmations is the most confirmations of a deposit a wallet waits
// for: a server's terms asking for more are refused (a payment waits for
// them with the wallet's other payments held up).
const MaxConfirmations = 64

// Accepts implements payment.Payer.
func (w *Wallet) Accepts(terms []byte) bool {
	_, err := w.receiverOf(terms)
	return err == nil
}

// waitDeep waits until the channel's deposit covers total at the depth the
// receiver's terms ask for, so that the receiver credits the voucher
// instead of refusing it as above the deposit it sees.
func (w *Wallet) waitDeep(ctx context.Context, c *Channel, total *big.Int, confirmations uint64) error {
	if confirmations == 0 {
		return nil
	}
	w.mu.Lock()
	seen := w.deep[c.Receiver]
	w.mu.Unlock()
	if seen != nil && seen.Cmp(total) >= 0 {
		return nil // this deposit was deep enough before
	}
	id := paychan.ChannelID(w.sender, c.Receiver, c.Nonce)
	said := false
	for {
		st, err := w.cfg.Contract.StateDeep(ctx, id, confirmations)
		if err != nil {
			return err
		}
		if st.Exists() && st.Deposit.Cmp(total) >= 0 {
			w.mu.Lock()
			w.deep[c.Receiver] = st.Deposit
			w.mu.Unlock()
			return nil
		}
		if !said {
			w.cfg.Progress("Waiting for the server's confirmations of the deposit", "server", c.Receiver, "confirmations", confirmations)
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Pay implements payment.Payer: it signs a voucher for amount more than
// the server was paid so far, opening or topping up the channel on chain
// first when its deposit does not cover it, and records the voucher on
// disk before returning it.
func (w *Wallet) Pay(ctx context.Context, terms []byte, amount *big.Int) ([]byte, error) {
	if amount == nil || amount.Sign() <= 0 {
		return nil, ErrBadAmount
	}
	t, err := w.decodeTerms(terms)
	if err != nil {
		return nil, err
	}
	recv := t.Receiver
	w.payMu.Lock()
	defer w.payMu.Unlock()
	c, err := w.ensureChannel(ctx, recv)
	if err != nil {
		return nil, err
	}
	if c.Closing {
		return nil, fmt.Errorf("%w: %v", ErrChannelShut, recv)
	}
	total := new(big.Int).Add(c.Signed, amount)
	if budget := w.Budget(); total.Cmp(budget) > 0 {
		return nil, fmt.Errorf("%w: %v in total, budget %v", ErrOverBudget, total, budget)
	}
	if total.Cmp(c.Deposit) > 0 {
		if err := w.topUp(ctx, c, total); err != nil {
			return nil, err
		}
	}
	if err := w.waitDeep(ctx, c, total, t.Confirmations); err != nil {
		return nil, err
	}
	v, err := w.domain.Sign(w.cfg.Key, recv, c.Nonce, total)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	next := *c
	next.Signed, next.Sig = total, v.Sig
	w.mu.Unlock()
	if err := w.save(&next); err != nil {
		return nil, fmt.Errorf("wallet: recording voucher: %w", err)
	}
	w.mu.Lock()
	*c = next
	w.mu.Unlock()
	if w.cfg.BeforeSend != nil {
		w.cfg.BeforeSend()
	}
	return v.Encode(), nil
}

// ensureChannel returns the channel to recv, opening it on chain when
// there is none. The nonce is recorded before the open transaction is
// sent, so that a crash in between finds the channel again.
func (w *Wallet) ensureChannel(ctx context.Context, recv common.Address) (*Channel, error) {
	w.mu.Lock()
	c := w.chans[recv]
	w.mu.Unlock()
	if c != nil && c.Opened {
		return c, nil
	}
	if c == nil {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		c = &Channel{Receiver: recv, Nonce: binary.BigEndian.Uint64(b[:]) >> 1, Deposit: new(big.Int).Set(w.cfg.Deposit), Signed: new(big.Int)}
		if err := w.save(c); err != nil {
			return nil, fmt.Errorf("wallet: recording channel: %w", err)
		}
		w.mu.Lock()
		w.chans[recv] = c
		w.mu.Unlock()
	}
	id := paychan.ChannelID(w.sender, recv, c.Nonce)
	st, err := w.cfg.Contract.State(ctx, id)
	if err != nil {
		return nil, err
	}
	if !st.Exists() {
		w.cfg.Progress("Opening payment channel", "server", recv, "deposit", c.Deposit)
		if _, err := w.cfg.Contract.OpenChannel(ctx, w.cfg.Key, recv, c.Nonce, c.Deposit); err != nil {
			return nil, fmt.Errorf("opening channel: %w", err)
		}
		if st, err = w.cfg.Contract.State(ctx, id); err != nil {
			return nil, err
		}
		w.cfg.Progress("Payment channel open", "server", recv, "channel", id)
	}
	w.mu.Lock()
	next := *c
	next.Opened, next.Deposit = true, st.Deposit
	next.Closing = st.CloseAt != 0 || st.Finished
	w.mu.Unlock()
	if err := w.save(&next); err != nil {
		return nil, err
	}
	w.mu.Lock()
	*c = next
	w.mu.Unlock()
	return c, nil
}

// topUp adds deposits until total is covered.
func (w *Wallet) topUp(ctx context.Context, c *Channel, total *big.Int) error {
	add := new(big.Int).Set(w.cfg.Deposit)
	for need := new(big.Int).Sub(total, c.Deposit); add.Cmp(need) < 0; {
		add.Add(add, w.cfg.Deposit)
	}
	w.cfg.Progress("Topping up payment channel", "server", c.Receiver, "amount", add)
	if _, err := w.cfg.Contract.TopUp(ctx, w.cfg.Key, c.Receiver, c.Nonce, add); err != nil {
		return fmt.Errorf("topping up channel: %w", err)
	}
	st, err := w.cfg.Contract.State(ctx, paychan.ChannelID(w.sender, c.Receiver, c.Nonce))
	if err != nil {
		return err
	}
	w.mu.Lock()
	next := *c
	next.Deposit = st.Deposit
	w.mu.Unlock()
	if err := w.save(&next); err != nil {
		return err
	}
	w.mu.Lock()
	*c = next
	w.mu.Unlock()
	return nil
}

// Latest implements payment.Payer.
func (w *Wallet) Latest(terms []byte) []byte {
	recv, err := w.receiverOf(terms)
	if err != nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.chans[recv]
	if c == nil || c.Signed.Sign() == 0 {
		return nil
	}
	v := paychan.Voucher{Sender: w.sender, Nonce: c.Nonce, Amount: new(big.Int).Set(c.Signed), Sig: c.Sig}
	return v.Encode()
}

// Spent implements payment.Payer.
func (w *Wallet) Spent(terms []byte) *big.Int {
	recv, err := w.receiverOf(terms)
	if err != nil {
		return new(big.Int)
	}
	return w.SpentTo(recv)
}

// SpentTo is what was signed over to receiver in total.
func (w *Wallet) SpentTo(recv common.Address) *big.Int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.chans[recv]; c != nil {
		return new(big.Int).Set(c.Signed)
	}
	return new(big.Int)
}

// Channels lists the wallet's channels, by receiver.
func (w *Wallet) Channels() []Channel {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Channel, 0, len(w.chans))
	for _, c := range w.chans {
		cp := *c
		cp.Deposit, cp.Signed = new(big.Int).Set(c.Deposit), new(big.Int).Set(c.Signed)
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Receiver.Cmp(out[j].Receiver) < 0 })
	return out
}

// StartClose starts closing the channel to receiver: no more vouchers are
// signed for it, and after the contract's challenge period FinishClose
// refunds what the server did not claim.
func (w *Wallet) StartClose(ctx context.Context, recv common.Address) error {
	w.payMu.Lock()
	defer w.payMu.Unlock()
	w.mu.Lock()
	c := w.chans[recv]
	w.mu.Unlock()
	if c == nil || !c.Opened {
		return fmt.Errorf("%w: %v", ErrNoChannel, recv)
	}
	next := *c
	next.Closing = true
	if err := w.save(&next); err != nil {
		return err
	}
	w.mu.Lock()
	*c = next
	w.mu.Unlock()
	if _, err := w.cfg.Contract.StartClose(ctx, w.cfg.Key, recv, c.Nonce); err != nil {
		return fmt.Errorf("closing channel: %w", err)
	}
	return nil
}

// FinishClose ends a closed channel after its challenge period and returns
// the refund.
func (w *Wallet) FinishClose(ctx context.Context, recv common.Address) (*big.Int, error) {
	w.payMu.Lock()
	defer w.payMu.Unlock()
	w.mu.Lock()
	c := w.chans[recv]
	w.mu.Unlock()
	if c == nil || !c.Opened {
		return nil, fmt.Errorf("%w: %v", ErrNoChannel, recv)
	}
	receipt, err := w.cfg.Contract.FinishClose(ctx, w.cfg.Key, recv, c.Nonce)
	if err != nil {
		return nil, fmt.Errorf("finishing close: %w", err)
	}
	for _, l := range receipt.Logs {
		if ev, err := w.cfg.Contract.ClosedEvent(l); err == nil {
			return ev.Refund, nil
		}
	}
	return nil, errors.New("finishClose without a Closed event")
}

// PayAhead is how much to pay a server now so that, with balance left there
// and spending at rate wei per second, about lead of service is paid for:
// nothing while more than half of that is left, and never so much that
// more than maxExposure is paid ahead.
func PayAhead(balance, rate *big.Int, lead time.Duration, maxExposure *big.Int) *big.Int {
	target := new(big.Int).Mul(rate, big.NewInt(int64(lead/time.Millisecond)))
	target.Div(target, big.NewInt(1000))
	if target.Cmp(maxExposure) > 0 {
		target.Set(maxExposure)
	}
	half := new(big.Int).Rsh(target, 1)
	if balance.Cmp(half) > 0 || target.Sign() == 0 {
		return new(big.Int)
	}
	return target.Sub(target, balance)
}

var _ payment.Payer = (*Wallet)(nil)
