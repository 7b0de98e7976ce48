package devnet

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/rpcauth"
	"github.com/lightmarket/lightmarket/server"
)

// The crash tests run `lightmarket server` and `lightmarket client` as
// processes and kill them with SIGKILL at the worst moments (the crash
// hooks of cmd/lightmarket), against a dev chain in the test process.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func lightmarketBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lightmarket-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "lightmarket")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/lightmarket").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// proc is a running lightmarket process.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	err   error

	mu   sync.Mutex
	tail []string // the last tailLines lines of output
}

const tailLines = 300

// logTail logs the process's last output lines that contain any of subs,
// for a failed test to show what the process did.
func (p *proc) logTail(t *testing.T, name string, subs ...string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.tail {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				t.Logf("%s: %s", name, l)
				break
			}
		}
	}
}

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(lightmarketBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			if len(p.tail) == tailLines {
				p.tail = append(p.tail[:0], p.tail[1:]...)
			}
			p.tail = append(p.tail, sc.Text())
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitLine returns the rest of the first output line starting with prefix.
func (p *proc) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l := <-p.lines:
			if s, ok := strings.CutPrefix(strings.TrimSpace(l), prefix); ok {
				return strings.TrimSpace(s)
			}
		case <-p.done:
			t.Fatalf("process ended (%v) before printing %q", p.err, prefix)
		case <-timeout:
			t.Fatalf("no %q from the process", prefix)
		}
	}
}

// waitKilled waits for the process to die of SIGKILL.
func (p *proc) waitKilled(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		if p.err == nil || !strings.Contains(p.err.Error(), "killed") {
			t.Fatalf("process ended with %v, want killed", p.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("process was not killed")
	}
}

// crashEnv is a chain with its JSON-RPC on loopback, a Channels contract
// deployed there by `lightmarket contract deploy`, and funded payment keys
// for a server and a client.
type crashEnv struct {
	chain     *devchain.Chain
	contract  *paychan.Contract
	serverPay *ecdsa.PrivateKey
	clientPay *ecdsa.PrivateKey
}

func newCrashEnv(t *testing.T) *crashEnv {
	t.Helper()
	e, _ := newPayEnv(t, 0)
	return e
}

// newPayEnv is a crashEnv with n more funded keys.
func newPayEnv(t *testing.T, n int) (*crashEnv, []*ecdsa.PrivateKey) {
	t.Helper()
	e := &crashEnv{}
	e.serverPay, _ = crypto.GenerateKey()
	e.clientPay, _ = crypto.GenerateKey()
	more := make([]*ecdsa.PrivateKey, n)
	for i := range more {
		more[i], _ = crypto.GenerateKey()
	}
	alloc := types.GenesisAlloc{}
	for _, k := range append([]*ecdsa.PrivateKey{e.serverPay, e.clientPay}, more...) {
		alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether))}
	}
	c, err := devchain.New(devchain.Config{BlockTime: 200 * time.Millisecond, Alloc: alloc, HTTPAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e.chain = c
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a busy CI machine under -race
	defer cancel()
	eth := ethclient.NewClient(c.RPCClient())
	// Deployed as an operator would, with lightmarket contract deploy.
	deploy := startProc(t, nil, "contract", "deploy", "--rpc", c.HTTPURL(), "--key", keyHex(c.DevKey()), "--challenge", "3600")
	addr := common.HexToAddress(deploy.waitLine(t, "Channels contract:"))
	<-deploy.done
	if deploy.err != nil {
		t.Fatalf("lightmarket contract deploy: %v", deploy.err)
	}
	if e.contract, err = paychan.Open(ctx, eth, addr); err != nil {
		t.Fatal(err)
	}
	return e, more
}

func keyHex(k *ecdsa.PrivateKey) string { return hex.EncodeToString(crypto.FromECDSA(k)) }

// startServer runs `lightmarket server` with payments on the env's chain.
func (e *crashEnv) startServer(t *testing.T, dir string, port int, env ...string) (*proc, *enode.Node, *rpc.Client) {
	t.Helper()
	p := startProc(t, env, "server", "--verbosity", "2", "--backend", e.chain.HTTPURL(), "--datadir", dir,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--admin.http", "127.0.0.1:0",
		"--sellable", "200000", "--reserve", "0.00001", "--payment.threshold", "1000000000",
		"--payment.rpc", e.chain.HTTPURL(), "--payment.contract", e.contract.Address().Hex(), "--payment.key", keyHex(e.serverPay))
	n, rc := serverStarted(t, p, dir)
	return p, n, rc
}

// serverStarted waits for a `lightmarket server` process to print its
// admin endpoint and enode URL, and dials the admin endpoint with a token
// signed with the secret the server keeps in its data directory (lm_claim
// needs it).
func serverStarted(t *testing.T, p *proc, dir string) (*enode.Node, *rpc.Client) {
	t.Helper()
	admin := strings.Fields(p.waitLine(t, "Admin JSON-RPC:"))[0]
	n, err := enode.ParseV4("enode://" + p.waitLine(t, "enode://"))
	if err != nil {
		t.Fatal(err)
	}
	return n, dialWithSecret(t, admin, filepath.Join(dir, "admin.jwtsecret"))
}

// dialWithSecret dials a JSON-RPC endpoint of a lightmarket process with
// a token signed with the secret it keeps in secretFile (its admin or
// control secret); the client is closed when the test ends.
func dialWithSecret(t *testing.T, url, secretFile string) *rpc.Client {
	t.Helper()
	secret, err := rpcauth.LoadSecret(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rpc.DialOptions(context.Background(), url, rpc.WithHTTPAuth(rpcauth.Auth(secret)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	return rc
}

func received(t *testing.T, admin *rpc.Client) *big.Int {
	t.Helper()
	var e server.Earnings
	if err := admin.Call(&e, "lm_earnings"); err != nil {
		t.Fatal(err)
	}
	return e.Received
}

// TestServerKilledBetweenStoringAndAcknowledging: the server process dies
// (SIGKILL) with a voucher on disk that it has not acknowledged. After a
// restart the voucher is there; the client resends it and is credited
// once.
func TestServerKilledBetweenStoringAndAcknowledging(t *testing.T) {
	e := newCrashEnv(t)
	dir, port := t.TempDir(), freePort(t)
	srv, node, admin := e.startServer(t, dir, port, "LIGHTMARKET_CRASH=server-after-store")

	w := newWallet(t, &payChain{chain: e.chain, contract: e.contract}, e.clientPay, t.TempDir())
	newPaying := func() *client.Client {
		c, err := client.New(client.Config{
			ChainConfig: devchain.ChainConfig(), Trusted: []*enode.Node{node}, Logger: quiet,
			Demand: &client.Demand{Max: 100_000, Min: 100_000, MaxPrice: big.NewInt(20_000)},
			Payer:  w, PayLead: 2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newPaying()
	srv.waitKilled(t)
	c.Stop()
	recv := paychan.Address(e.serverPay)
	signed := w.SpentTo(recv)
	if signed.Sign() == 0 {
		t.Fatal("the server died before the client signed anything")
	}

	// Restarted, the server has the voucher it stored but never
	// acknowledged.
	_, _, admin = e.startServer(t, dir, port)
	if got := received(t, admin); got.Cmp(signed) != 0 {
		t.Fatalf("after the restart the server holds %v, the client signed %v", got, signed)
	}
	// The client comes back, resends its latest voucher (credited once)
	// and pays on.
	c = newPaying()
	defer c.Stop()
	eventuallyWithin(t, 30*time.Second, "the client to be paid up at the restarted server", func() bool {
		sp := c.Spending()
		return len(sp) == 1 && sp[0].Balance != "0"
	})
	if err := c.SetDemand(nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // payments in flight land
	spent, got := w.SpentTo(recv), received(t, admin)
	t.Logf("signed %v before the crash; spent %v in all, server received %v", signed, spent, got)
	if got.Cmp(spent) != 0 {
		t.Fatalf("server received %v, client spent %v", got, spent)
	}
}

// TestClientKilledBetweenSigningAndSending: the client process dies
// (SIGKILL) with a voucher on disk that it never sent. After a restart it
// sends it; the server is paid exactly what the client signed.
func TestClientKilledBetweenSigningAndSending(t *testing.T) {
	e := newCrashEnv(t)
	_, node, admin := e.startServer(t, t.TempDir(), freePort(t))
	dir := t.TempDir()
	clientArgs := []string{"client", "--verbosity", "2", "--network", "dev", "--ulc.servers", node.URLv4(), "--datadir", dir,
		"--http", "127.0.0.1:0", "--paid.capacity", "100000", "--paid.maxprice", "0.00002", "--payment.lead", "2s",
		"--payment.rpc", e.chain.HTTPURL(), "--payment.contract", e.contract.Address().Hex(), "--payment.key", keyHex(e.clientPay)}
	// The first voucher goes out; the client dies having recorded the second.
	cl := startProc(t, []string{"LIGHTMARKET_CRASH=client-before-send", "LIGHTMARKET_CRASH_AT=2"}, clientArgs...)
	cl.waitKilled(t)
	first := received(t, admin)
	recv := paychan.Address(e.serverPay)
	w := newWallet(t, &payChain{chain: e.chain, contract: e.contract}, e.clientPay, filepath.Join(dir, "wallet"))
	signed := w.SpentTo(recv)
	w.Close()
	if first.Sign() == 0 || signed.Cmp(first) <= 0 {
		t.Fatalf("server received %v, client signed %v: want a voucher signed and not sent", first, signed)
	}

	// Restarted, the client sends the recorded voucher first.
	cl = startProc(t, nil, clientArgs...)
	rpcURL := cl.waitLine(t, "Wallet JSON-RPC:")
	rpcURL = strings.Fields(rpcURL)[0]
	eventuallyWithin(t, 30*time.Second, "the recorded voucher to reach the server", func() bool { return received(t, admin).Cmp(signed) >= 0 })
	rc := dialWithSecret(t, rpcURL, filepath.Join(dir, "control.jwtsecret"))
	if err := rc.Call(nil, "lm_setDemand", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // payments in flight land
	var spending []client.Spending
	if err := rc.Call(&spending, "lm_spent"); err != nil || len(spending) != 1 {
		t.Fatalf("lm_spent: %v %v", spending, err)
	}
	got := received(t, admin)
	t.Logf("server had %v at the crash, client had signed %v; now spent %s, received %v", first, signed, spending[0].Spent, got)
	if spending[0].Spent != got.String() {
		t.Fatalf("client spent %s, server received %v", spending[0].Spent, got)
	}
	// The operator claims everything now (the threshold is far away).
	var claims []payment.Settlement
	if err := admin.Call(&claims, "lm_claim"); err != nil || len(claims) != 1 {
		t.Fatalf("lm_claim: %+v %v", claims, err)
	}
	var earned server.Earnings
	if err := admin.Call(&earned, "lm_earnings"); err != nil {
		t.Fatal(err)
	}
	if earned.Unclaimed.Sign() != 0 || earned.Claimed.Cmp(got) != 0 || claims[0].Amount.Cmp(got) != 0 {
		t.Fatalf("after lm_claim: %+v, claim %+v, want %v claimed", earned, claims[0], got)
	}
}
