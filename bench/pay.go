package bench

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/internal/pgcluster"
	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/ledgerdb"
	"github.com/lightmarket/lightmarket/ledgerpg"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/server"
	"github.com/lightmarket/lightmarket/wallet"
)

// PayConfig configures the payments benchmark.
type PayConfig struct {
	Session time.Duration // length of the paid session (default 10s)
	Logger  log.Logger
}

// PayResult holds the payments benchmark's figures.
type PayResult struct {
	// Vouchers verified per second on one core: steady state (the
	// sender's key known) and first vouchers of new senders.
	VoucherVerifyPerSec      float64 `json:"voucher_verify_per_sec"`
	VoucherVerifyFirstPerSec float64 `json:"voucher_verify_first_per_sec"`
	// Durable (fsynced) ledger writes per second from 64 concurrent
	// payers, and how many writes shared one fsync.
	LedgerWritesPerSec    float64 `json:"ledger_writes_per_sec"`
	LedgerWritesPerCommit float64 `json:"ledger_writes_per_commit"`
	// The same load on the ledger in PostgreSQL (package ledgerpg, a
	// local server started for the run; absent without PostgreSQL on the
	// machine), and Pebble's rate over it.
	PGLedgerWritesPerSec    float64 `json:"pg_ledger_writes_per_sec,omitempty"`
	PGLedgerWritesPerCommit float64 `json:"pg_ledger_writes_per_commit,omitempty"`
	PebbleVsPostgres        float64 `json:"pebble_vs_postgres_ledger_writes_ratio,omitempty"`
	PGSkipped               string  `json:"-"` // why there is no PostgreSQL figure
	// A paid session: payment messages' share of all message bytes.
	PaymentBytesShare float64 `json:"payment_bytes_share"`
	PaymentBytes      uint64  `json:"payment_bytes"`
	SessionBytes      uint64  `json:"session_bytes"`
	SessionPayments   float64 `json:"session_spent_wei"`
	// Gas of the contract's transactions on the dev chain (mainnet's
	// forks through Osaka).
	GasOpen        uint64 `json:"gas_open"`
	GasTopUp       uint64 `json:"gas_topup"`
	GasClaim       uint64 `json:"gas_claim"`
	GasStartClose  uint64 `json:"gas_start_close"`
	GasFinishClose uint64 `json:"gas_finish_close"`
	GasClose       uint64 `json:"gas_close"` // startClose + finishClose
}

// Pay runs the payments benchmark.
func Pay(ctx context.Context, cfg PayConfig) (*PayResult, error) {
	if cfg.Session == 0 {
		cfg.Session = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewLogger(log.DiscardHandler())
	}
	r := &PayResult{}
	r.VoucherVerifyPerSec, r.VoucherVerifyFirstPerSec = verifyRate()
	var err error
	dir, err := os.MkdirTemp("", "lightmarket-bench-ledger-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	pebble, err := ledgerdb.Open(dir)
	if err != nil {
		return nil, err
	}
	r.LedgerWritesPerSec, r.LedgerWritesPerCommit, err = ledgerRate(2*time.Second, pebble)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if err := pgLedgerRate(ctx, 2*time.Second, r); err != nil {
		return nil, fmt.Errorf("ledger in PostgreSQL: %w", err)
	}
	if err := paidSession(ctx, cfg, r); err != nil {
		return nil, fmt.Errorf("paid session: %w", err)
	}
	return r, nil
}

// verifyRate measures voucher verification on one goroutine.
func verifyRate() (steady, first float64) {
	d := paychan.NewDomain(1337, common.HexToAddress("0x1"))
	receiver := common.HexToAddress("0x2")
	const senders, each = 64, 64
	vouchers := make([]paychan.Voucher, 0, senders*each)
	for range senders {
		key, _ := crypto.GenerateKey()
		for i := range each {
			v, _ := d.Sign(key, receiver, 1, big.NewInt(int64(1000+i)))
			vouchers = append(vouchers, v)
		}
	}
	// First vouchers: every sender new to the verifier.
	vf := paychan.NewVerifier(d, receiver)
	start := time.Now()
	for i := 0; i < len(vouchers); i += each {
		vf.Verify(&vouchers[i])
	}
	first = float64(senders) / time.Since(start).Seconds()
	// Steady state: a second of vouchers from known senders.
	n := 0
	start = time.Now()
	for time.Since(start) < time.Second {
		for i := range 256 {
			if err := vf.Verify(&vouchers[(n+i)%len(vouchers)]); err != nil {
				panic(err)
			}
		}
		n += 256
	}
	return float64(n) / time.Since(start).Seconds(), first
}

// pgLedgerRate measures ledgerRate on a PostgreSQL server of its own,
// when the machine has PostgreSQL.
func pgLedgerRate(ctx context.Context, d time.Duration, r *PayResult) error {
	pg, err := pgcluster.Start()
	if errors.Is(err, pgcluster.ErrNotInstalled) {
		r.PGSkipped = err.Error()
		return nil
	}
	if err != nil {
		return err
	}
	defer pg.Close()
	url, err := pg.NewDatabase("bench")
	if err != nil {
		return err
	}
	db, err := ledgerpg.Open(ctx, ledgerpg.Config{URL: url, Server: "bench", Logger: log.NewLogger(log.DiscardHandler())})
	if err != nil {
		return err
	}
	if r.PGLedgerWritesPerSec, r.PGLedgerWritesPerCommit, err = fleetCreditRate(ctx, d, db, 64); err != nil {
		return err
	}
	r.PebbleVsPostgres = r.LedgerWritesPerSec / r.PGLedgerWritesPerSec
	return nil
}

// fleetCreditRate measures vouchers credited by a fleet's ledger: payers
// each crediting a voucher of its channel and waiting for the commit, as
// a fleet's server does. It closes db.
func fleetCreditRate(ctx context.Context, d time.Duration, db *ledgerpg.DB, payers int) (perSec, perCommit float64, err error) {
	defer db.Close()
	for w := range payers {
		c := ledger.Channel{ID: common.Hash{byte(w), byte(w >> 8)}, Deposit: big.NewInt(1e18), Claimed: new(big.Int)}
		if _, err := db.SetChain(c).Wait(); err != nil {
			return 0, 0, err
		}
	}
	c0, n0 := db.Stats()
	perSec, err = rate(ctx, d, payers, func(w, i int) error {
		v := paychan.Voucher{Amount: big.NewInt(int64(i + 1))}
		_, err := db.Credit(ledger.ClientID{byte(w), byte(w >> 8)}, common.Hash{byte(w), byte(w >> 8)}, &v).Wait()
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	commits, n := db.Stats()
	return perSec, float64(n-n0) / float64(max(commits-c0, 1)), nil
}

// ledgerRate measures durable ledger writes: 64 payers each storing a
// voucher and its credit and waiting for the commit, as the server does.
// It closes db.
func ledgerRate(d time.Duration, db ledgerdb.Store) (perSec, perCommit float64, err error) {
	defer db.Close()
	// Each payer writes its channel and account, as the cashier does.
	const payers = 64
	chans := make([]ledger.Channel, payers)
	accts := make([]ledger.Account, payers)
	for w := range payers {
		chans[w] = ledger.Channel{ID: common.Hash{byte(w)}, Accepted: new(big.Int), Deposit: big.NewInt(1e18), Claimed: new(big.Int),
			Voucher: paychan.Voucher{Amount: new(big.Int)}}
		accts[w] = ledger.Account{Credited: new(big.Int), Granted: new(big.Int), Charged: new(big.Int)}
	}
	perSec, err = rate(context.Background(), d, payers, func(w, i int) error {
		ch, acct := chans[w], accts[w]
		ch.Accepted.SetInt64(int64(i + 1))
		ch.Voucher.Amount.SetInt64(int64(i + 1))
		acct.Credited.SetInt64(int64(i + 1))
		return <-db.Write(ledgerdb.Records{Channels: []ledger.Channel{ch}, Accounts: map[ledger.ClientID]ledger.Account{{byte(w)}: acct}})
	})
	if err != nil {
		return 0, 0, err
	}
	commits, n := db.Stats()
	return perSec, float64(n) / float64(max(commits, 1)), nil
}

// paidSession runs a chain with the contract, a server taking payments and
// a client paying it while it fetches headers and proofs, and then
// measures the contract's gas.
func paidSession(ctx context.Context, cfg PayConfig, r *PayResult) error {
	serverPay, _ := crypto.GenerateKey()
	clientPay, _ := crypto.GenerateKey()
	alloc := types.GenesisAlloc{}
	for _, k := range []*ecdsa.PrivateKey{serverPay, clientPay} {
		alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether))}
	}
	dc, err := devchain.New(devchain.Config{BlockTime: 200 * time.Millisecond, Alloc: alloc, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	if err := dc.Start(); err != nil {
		return err
	}
	defer dc.Close()
	eth := ethclient.NewClient(dc.RPCClient())
	addr, err := paychan.Deploy(ctx, eth, dc.DevKey(), 1)
	if err != nil {
		return err
	}
	contract, err := paychan.Open(ctx, eth, addr)
	if err != nil {
		return err
	}
	backend, err := dc.Backend(ctx)
	if err != nil {
		return err
	}
	nodeKey, _ := crypto.GenerateKey()
	dir, err := os.MkdirTemp("", "lightmarket-bench-pay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := server.New(server.Config{
		Backend: backend, PrivateKey: nodeKey, Logger: cfg.Logger, DataDir: dir + "/server",
		Capacity: 1_000_000, Sellable: 500_000, Reserve: big.NewInt(10_000),
		Contract: contract, PaymentKey: serverPay,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Stop()
	w, err := wallet.Open(wallet.Config{Contract: contract, Key: clientPay, DataDir: dir + "/wallet", Logger: cfg.Logger})
	if err != nil {
		return err
	}
	defer w.Close()
	c, err := client.New(client.Config{
		ChainConfig: dc.ChainConfig(), Trusted: []*enode.Node{srv.Enode()}, Logger: cfg.Logger,
		Demand: &client.Demand{Max: 200_000, Min: 100_000, MaxPrice: big.NewInt(20_000)},
		Payer:  w, PayLead: 2 * time.Second, Clock: mclock.System{},
	})
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Stop()
	if _, err := c.WaitHead(ctx); err != nil {
		return err
	}
	// Wait to hold paid capacity, then fetch headers and account proofs of
	// the recent blocks for the session.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if s := c.Servers(); len(s) == 1 && s[0].Tier == "paid" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the client never won paid capacity")
		}
	}
	pay0, total0 := c.Traffic()
	end := time.Now().Add(cfg.Session)
	rng := rand.New(rand.NewPCG(1, 2))
	for time.Now().Before(end) {
		head := c.Head()
		n := head.Number.Uint64() - rng.Uint64N(min(head.Number.Uint64(), 64))
		h, err := c.HeaderByNumber(ctx, n)
		if err != nil {
			return err
		}
		var a common.Address
		binary := rng.Uint64()
		a[0], a[1], a[2], a[3] = byte(binary), byte(binary>>8), byte(binary>>16), byte(binary>>24)
		if _, err := c.State(ctx, h, a, nil); err != nil {
			return err
		}
	}
	pay1, total1 := c.Traffic()
	r.PaymentBytes, r.SessionBytes = pay1-pay0, total1-total0
	r.PaymentBytesShare = float64(r.PaymentBytes) / float64(max(r.SessionBytes, 1))
	r.SessionPayments, _ = new(big.Float).SetInt(w.SpentTo(paychan.Address(serverPay))).Float64()
	return contractGas(ctx, contract, clientPay, serverPay, r)
}

// contractGas measures a channel's life on chain: open, top-up, claim and
// close (start and finish).
func contractGas(ctx context.Context, c *paychan.Contract, sender, receiver *ecdsa.PrivateKey, r *PayResult) error {
	to := paychan.Address(receiver)
	const nonce = 1 << 40 // not the wallet's
	rec, err := c.OpenChannel(ctx, sender, to, nonce, big.NewInt(1e15))
	if err != nil {
		return err
	}
	r.GasOpen = rec.GasUsed
	if rec, err = c.TopUp(ctx, sender, to, nonce, big.NewInt(1e15)); err != nil {
		return err
	}
	r.GasTopUp = rec.GasUsed
	v, err := c.Domain().Sign(sender, to, nonce, big.NewInt(1e14))
	if err != nil {
		return err
	}
	if rec, err = c.Claim(ctx, receiver, &v); err != nil {
		return err
	}
	r.GasClaim = rec.GasUsed
	if rec, err = c.StartClose(ctx, sender, to, nonce); err != nil {
		return err
	}
	r.GasStartClose = rec.GasUsed
	time.Sleep(1500 * time.Millisecond) // the contract's challenge period is 1 s
	for try := 0; ; try++ {
		rec, err = c.FinishClose(ctx, sender, to, nonce)
		if err == nil {
			break
		}
		if ctx.Err() != nil || try == 30 {
			return err
		}
		time.Sleep(200 * time.Millisecond) // blocks come every 200 ms
	}
	r.GasFinishClose = rec.GasUsed
	r.GasClose = r.GasStartClose + r.GasFinishClose
	return nil
}
