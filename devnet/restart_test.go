package devnet

import (
	"context"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/paychan"
)

// TestEmbeddedChainSurvivesKill9: a server on its embedded chain, with a
// client paying it over a channel on that chain, is killed with SIGKILL
// and restarted on the same --datadir. The chain goes on from where it was
// (the blocks, the contract at the same address, the client's channel),
// the ledger and the client's wallet agree to the wei, and payments go on.
func TestEmbeddedChainSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	p2pPort, chainPort := freePort(t), freePort(t)
	chainURL := fmt.Sprintf("http://127.0.0.1:%d", chainPort)
	serverArgs := []string{"server", "--verbosity", "2", "--datadir", dir, "--listen", fmt.Sprintf("127.0.0.1:%d", p2pPort),
		"--chain.http", fmt.Sprintf("127.0.0.1:%d", chainPort), "--block-time", "200ms", "--admin.http", "127.0.0.1:0",
		"--sellable", "200000", "--reserve", "0.00001", "--payment.threshold", "1000000000"}
	start := func() (*proc, common.Address, *rpc.Client, *enode.Node) {
		p := startProc(t, nil, serverArgs...)
		n, rc := serverStarted(t, p, dir)
		addr, err := paychan.ReadRecorded(filepath.Join(dir, "chain", "contract"))
		if err != nil {
			t.Fatal(err)
		}
		return p, addr, rc, n
	}
	srv, contract, admin, node := start()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eth, err := ethclient.DialContext(ctx, chainURL)
	if err != nil {
		t.Fatal(err)
	}
	defer eth.Close()
	// The client pays from a key of its own, funded by the dev account.
	devKey, _ := crypto.HexToECDSA(devchain.DefaultDevKey)
	payKey, _ := crypto.GenerateKey()
	payAddr := crypto.PubkeyToAddress(payKey.PublicKey)
	sendTx(t, ctx, eth, devKey, &payAddr, big.NewInt(params.Ether), nil, 21000)

	clientDir := t.TempDir()
	cl := startProc(t, nil, "client", "--verbosity", "2", "--network", "dev", "--ulc.servers", node.URLv4(), "--datadir", clientDir,
		"--http", "127.0.0.1:0", "--paid.capacity", "100000", "--paid.maxprice", "0.00002", "--payment.lead", "2s",
		"--payment.rpc", chainURL, "--payment.contract", contract.Hex(), "--payment.key", fmt.Sprintf("%x", crypto.FromECDSA(payKey)))
	wallet := strings.Fields(cl.waitLine(t, "Wallet JSON-RPC:"))[0]
	eventuallyWithin(t, 30*time.Second, "the client to pay", func() bool { return received(t, admin).Sign() > 0 })
	before, err := eth.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	paid := received(t, admin)

	srv.cmd.Process.Kill()
	srv.waitKilled(t)
	srv, again, admin, _ := start()
	if again != contract {
		t.Fatalf("contract moved from %v to %v", contract, again)
	}
	after, err := eth.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after < before {
		t.Fatalf("chain went back from block %d to %d", before, after)
	}
	if got := received(t, admin); got.Cmp(paid) < 0 {
		t.Fatalf("ledger has %v after the restart, had %v", got, paid)
	}
	code, err := eth.CodeAt(ctx, contract, nil)
	if err != nil || len(code) == 0 {
		t.Fatalf("no contract code after the restart (%v)", err)
	}
	// Payments go on: the server takes new vouchers on the same channel.
	eventuallyWithin(t, 30*time.Second, "payments to resume", func() bool { return received(t, admin).Cmp(paid) > 0 })

	// Stop bidding, let payments in flight land: the client's record and
	// the server's ledger agree to the wei.
	rc := dialWithSecret(t, wallet, filepath.Join(clientDir, "control.jwtsecret"))
	if err := rc.Call(nil, "lm_setDemand", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	var spending []client.Spending
	if err := rc.Call(&spending, "lm_spent"); err != nil || len(spending) != 1 {
		t.Fatalf("lm_spent: %v %v", spending, err)
	}
	got := received(t, admin)
	t.Logf("chain at block %d before the kill, %d after; received %v before, %v at the end; client spent %s", before, after, paid, got, spending[0].Spent)
	if spending[0].Spent != got.String() {
		t.Fatalf("client spent %s, server received %v", spending[0].Spent, got)
	}
}
