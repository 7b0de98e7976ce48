package devnet

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/params"
	"github.com/jackc/pgx/v5"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/internal/pgtest"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/server"
	"github.com/lightmarket/lightmarket/wallet"
)

// payChain is a dev chain sealing every 200 ms with a Channels contract
// (challenge period challenge seconds) and keys funded with 100 ether.
type payChain struct {
	chain    *devchain.Chain
	eth      *ethclient.Client
	contract *paychan.Contract
}

func newPayChain(t *testing.T, challenge uint64, keys ...*ecdsa.PrivateKey) *payChain {
	t.Helper()
	alloc := types.GenesisAlloc{}
	for _, k := range keys {
		alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether))}
	}
	c, err := devchain.New(devchain.Config{BlockTime: 200 * time.Millisecond, Alloc: alloc, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eth := ethclient.NewClient(c.RPCClient())
	addr, err := paychan.Deploy(ctx, eth, c.DevKey(), challenge)
	if err != nil {
		t.Fatal(err)
	}
	contract, err := paychan.Open(ctx, eth, addr)
	if err != nil {
		t.Fatal(err)
	}
	return &payChain{chain: c, eth: eth, contract: contract}
}

func newWallet(t *testing.T, pc *payChain, key *ecdsa.PrivateKey, dir string) *wallet.Wallet {
	t.Helper()
	w, err := wallet.Open(wallet.Config{Contract: pc.contract, Key: key, DataDir: dir, Deposit: big.NewInt(1e16), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// TestPaidSessionSettlesToTheWei is the whole service model on the embedded
// chain: a client opens a channel, bids, pays with vouchers while it is
// served at the paid tier, a free client beside it gets lower priority, the
// server claims on chain, the client closes its channel; afterwards the
// server's on-chain receipts, its ledger, the client's wallet and the
// client's refund agree to the wei.
func TestPaidSessionSettlesToTheWei(t *testing.T) { testPaidSession(t, "") }

// The same with the server's ledger in PostgreSQL: its tables agree too.
func TestPaidSessionSettlesToTheWeiOnPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "ledger")
	spent := testPaidSession(t, url)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var accepted, credited, lastVoucher string
	var vouchers int
	if err := conn.QueryRow(context.Background(), `SELECT (SELECT accepted::text FROM channels), (SELECT credited::text FROM accounts),
		(SELECT max(amount)::text FROM vouchers), (SELECT count(*) FROM vouchers)`).Scan(&accepted, &credited, &lastVoucher, &vouchers); err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL ledger: accepted %s, credited %s, %d vouchers logged", accepted, credited, vouchers)
	for what, got := range map[string]string{"channels.accepted": accepted, "accounts.credited": credited, "the last voucher logged": lastVoucher} {
		if got != spent.String() {
			t.Errorf("%s %s, wallet spent %v", what, got, spent)
		}
	}
	if vouchers < 2 {
		t.Errorf("%d vouchers logged", vouchers)
	}
}

// testPaidSession runs the session with the server's ledger in ledgerURL
// (empty: its datadir) and returns what the wallet spent.
func testPaidSession(t *testing.T, ledgerURL string) *big.Int {
	serverPay, _ := crypto.GenerateKey()
	clientPay, _ := crypto.GenerateKey()
	const challenge = 6
	pc := newPayChain(t, challenge, serverPay, clientPay)
	srv := newServerWith(t, pc.chain, server.Config{
		Capacity: 1_000_000, FreeCapacity: 50_000, Sellable: 200_000, Reserve: big.NewInt(10_000),
		Contract: pc.contract, PaymentKey: serverPay, DataDir: t.TempDir(), Ledger: ledgerURL,
		ClaimThreshold: big.NewInt(2e9), SettleInterval: 300 * time.Millisecond,
		RequestPrice: big.NewInt(10),
	})
	w := newWallet(t, pc, clientPay, t.TempDir())
	paid, err := client.New(client.Config{
		ChainConfig: devchain.ChainConfig(), Trusted: []*enode.Node{srv.Enode()}, Logger: quiet,
		Demand: &client.Demand{Max: 100_000, Min: 100_000, MaxPrice: big.NewInt(20_000)},
		Payer:  w, PayLead: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := paid.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(paid.Stop)
	free := newClient(t, 100, srv)

	// The paying client opens a channel, pays, wins the auction at the
	// reserve price and is served at the paid tier.
	eventuallyWithin(t, 30*time.Second, "the paying client to win paid capacity", func() bool {
		tier, capacity, price := tierAt(paid)
		return tier == "paid" && capacity == 100_000 && price == "10000"
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Both clients are served; the free one sits below the paid one in the
	// server's priority order.
	for _, c := range []*client.Client{paid, free} {
		if _, err := c.WaitHead(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.HeaderByNumber(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	clients := srv.Clients()
	if len(clients) != 2 || clients[0].ID != free.Self().ID().String() || clients[0].Tier != "free" || clients[1].Tier != "paid" {
		t.Fatalf("server's clients, lowest priority first: %+v", clients)
	}

	// Service goes on at 10^9 wei a second; the client keeps paying ahead
	// and the server claims whenever the unclaimed amount passes its
	// threshold.
	eventuallyWithin(t, 30*time.Second, "claims on chain", func() bool {
		_, _ = paid.HeaderByNumber(ctx, 0)
		e := srv.Earnings()
		return len(e.Claims) >= 2 && e.Charged.Cmp(big.NewInt(4e9)) > 0
	})
	if tier, _, _ := tierAt(paid); tier != "paid" {
		t.Fatalf("client paying ahead fell to the %s tier", tier)
	}
	if err := paid.SetDemand(nil); err != nil {
		t.Fatal(err)
	}
	spending := paid.Spending()
	if len(spending) != 1 || spending[0].Spent == "0" {
		t.Fatalf("lm_spent: %+v", spending)
	}

	// The client closes its channel; the server claims what is left within
	// the challenge period; the client gets the rest back.
	receiver := srv.Earnings().Receiver
	recv := paychan.Address(serverPay)
	if receiver != recv.Hex() {
		t.Fatalf("receiver %s, want %s", receiver, recv.Hex())
	}
	time.Sleep(300 * time.Millisecond) // payments in flight land
	if err := w.StartClose(ctx, recv); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "the server to claim everything before the channel closes", func() bool {
		e := srv.Earnings()
		return e.Unclaimed.Sign() == 0 && e.Claimed.Cmp(w.SpentTo(recv)) == 0
	})
	time.Sleep((challenge + 1) * time.Second)
	refund, err := w.FinishClose(ctx, recv)
	if err != nil {
		t.Fatal(err)
	}

	// Everything agrees to the wei.
	spent := w.SpentTo(recv)
	e := srv.Earnings()
	onChain := new(big.Int)
	for _, st := range e.Claims {
		receipt, err := pc.eth.TransactionReceipt(ctx, st.Tx)
		if err != nil || receipt.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("claim %v: %v", st.Tx, err)
		}
		for _, l := range receipt.Logs {
			if ev, err := pc.contract.ClaimedEvent(l); err == nil {
				onChain.Add(onChain, ev.Paid)
			}
		}
	}
	deposit := w.Channels()[0].Deposit
	t.Logf("spent %v, claimed on chain %v in %d claims, ledger received %v claimed %v charged %v, deposit %v, refund %v",
		spent, onChain, len(e.Claims), e.Received, e.Claimed, e.Charged, deposit, refund)
	for what, got := range map[string]*big.Int{"on-chain claims": onChain, "ledger received": e.Received, "ledger claimed": e.Claimed} {
		if got.Cmp(spent) != 0 {
			t.Errorf("%s %v, wallet spent %v", what, got, spent)
		}
	}
	if want := new(big.Int).Sub(deposit, spent); refund.Cmp(want) != 0 {
		t.Errorf("refund %v, want deposit - spent = %v", refund, want)
	}
	if e.Charged.Sign() == 0 || e.Charged.Cmp(e.Received) > 0 {
		t.Errorf("charged %v of %v received", e.Charged, e.Received)
	}
	return spent
}

// TestPayingAheadStaysWithinExposure: a client that would pay ahead ten
// seconds of service (10 gwei) but may have only 2 gwei outstanding at a
// server pays in steps and never has more than that there.
func TestPayingAheadStaysWithinExposure(t *testing.T) {
	serverPay, _ := crypto.GenerateKey()
	clientPay, _ := crypto.GenerateKey()
	pc := newPayChain(t, 3600, serverPay, clientPay)
	srv := newServerWith(t, pc.chain, server.Config{
		Capacity: 1_000_000, FreeCapacity: 50_000, Sellable: 200_000, Reserve: big.NewInt(10_000),
		Contract: pc.contract, PaymentKey: serverPay,
	})
	w := newWallet(t, pc, clientPay, t.TempDir())
	exposure := big.NewInt(2e9)
	c, err := client.New(client.Config{
		ChainConfig: devchain.ChainConfig(), Trusted: []*enode.Node{srv.Enode()}, Logger: quiet,
		Demand: &client.Demand{Max: 100_000, Min: 100_000, MaxPrice: big.NewInt(20_000)},
		Payer:  w, PayLead: 10 * time.Second, MaxExposure: exposure,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	eventuallyWithin(t, 30*time.Second, "paid capacity", func() bool { tier, _, _ := tierAt(c); return tier == "paid" })
	recv := paychan.Address(serverPay)
	first := w.SpentTo(recv)
	// Held at 10^9 wei a second, the client pays about every second.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if b := srv.Balance(c.Self().ID()); b.Cmp(exposure) > 0 {
			t.Fatalf("balance at the server %v, above the exposure limit %v", b, exposure)
		}
	}
	spent := w.SpentTo(recv)
	if first.Cmp(exposure) > 0 || new(big.Int).Sub(spent, first).Cmp(big.NewInt(2e9)) < 0 {
		t.Fatalf("first payment %v, then %v more in 5 s: want steps within %v", first, new(big.Int).Sub(spent, first), exposure)
	}
}
