package devnet

import (
	"context"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/rpcapi"
	"github.com/lightmarket/lightmarket/server"
)

// gethBinary finds a geth to test against: $GETH, then PATH. CI installs
// the pinned version (see .ci/run); elsewhere the test is skipped without.
func gethBinary(t *testing.T) string {
	if p := os.Getenv("GETH"); p != "" {
		return p
	}
	if p, err := exec.LookPath("geth"); err == nil {
		return p
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(string(trimNL(gopath)), "bin", "geth")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("geth not found; CI must install it (go install github.com/ethereum/go-ethereum/cmd/geth@v1.17.10)")
	}
	t.Skip("geth not installed")
	return ""
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startGeth runs `geth --dev` on loopback and returns its HTTP RPC client.
func startGeth(t *testing.T) (*rpc.Client, string) {
	url := launchGeth(t, []string{"--dev", "--dev.period", "1", "--datadir", t.TempDir()}, 30*time.Second, func(ctx context.Context, c *rpc.Client) bool {
		var id hexutil.Big
		return c.CallContext(ctx, &id, "eth_chainId") == nil
	})
	c, err := rpc.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, url
}

// launchGeth runs geth with args plus loopback HTTP and auth ports, and
// returns the HTTP URL once ready reports true. The ports are picked free
// but may be taken before geth binds them (other packages' tests run
// beside this one): geth then exits at once, and it is started again on
// new ports.
func launchGeth(t *testing.T, args []string, timeout time.Duration, ready func(context.Context, *rpc.Client) bool) string {
	t.Helper()
	bin := gethBinary(t)
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		cmd := exec.Command(bin, append(append([]string{}, args...),
			"--ipcdisable", "--nodiscover", "--maxpeers", "0", "--port", "0",
			"--authrpc.addr", "127.0.0.1", "--authrpc.port", fmt.Sprint(freePort(t)),
			"--http", "--http.addr", "127.0.0.1", "--http.port", fmt.Sprint(port), "--http.api", "eth,net,web3",
			"--verbosity", "1")...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		deadline := time.Now().Add(timeout)
		for {
			if c, err := rpc.Dial(url); err == nil {
				// Whatever holds the port may accept and never answer.
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				ok := ready(ctx, c)
				cancel()
				c.Close()
				if ok {
					t.Cleanup(stop)
					return url
				}
			}
			select {
			case err := <-exited:
				if attempt == 3 {
					t.Fatalf("geth exited three times before answering on loopback (last: %v)", err)
				}
				t.Logf("geth exited before answering on %s (%v); starting it on other ports", url, err)
			case <-time.After(100 * time.Millisecond): // waiting for an external process
				if time.Now().After(deadline) {
					stop()
					t.Fatalf("geth on %s did not become ready in %v", url, timeout)
				}
				continue
			}
			break
		}
	}
}

func TestRealGethBackend(t *testing.T) {
	node, url := startGeth(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Two servers in front of geth, and a client trusting both.
	var trusted []*enode.Node
	for range 2 {
		rc, err := rpc.DialContext(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rc.Close)
		backend, err := chain.NewRPC(ctx, rc)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := crypto.GenerateKey()
		srv, err := server.New(server.Config{Backend: backend, PrivateKey: key, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
		trusted = append(trusted, srv.Enode())
	}
	lc, err := client.New(client.Config{ChainConfig: params.AllDevChainProtocolChanges, Trusted: trusted, Fraction: 100, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := lc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lc.Stop)
	if _, err := lc.WaitHead(ctx); err != nil {
		t.Fatal(err)
	}
	api, err := rpcapi.Start(rpcapi.Config{Client: lc, Addr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	light, err := rpc.DialContext(ctx, api.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer light.Close()

	// Fund a key of ours from geth's developer account.
	key, _ := crypto.GenerateKey()
	me := crypto.PubkeyToAddress(key.PublicKey)
	var accounts []common.Address
	if err := node.CallContext(ctx, &accounts, "eth_accounts"); err != nil || len(accounts) == 0 {
		t.Fatalf("geth dev account: %v %v", accounts, err)
	}
	var fundTx common.Hash
	if err := node.CallContext(ctx, &fundTx, "eth_sendTransaction", map[string]any{
		"from": accounts[0], "to": me, "value": hexutil.EncodeBig(new(big.Int).Mul(big.NewInt(10), big.NewInt(params.Ether))),
	}); err != nil {
		t.Fatal(err)
	}
	gethEC, wallet := ethclient.NewClient(node), ethclient.NewClient(light)
	waitReceipt(t, ctx, gethEC, fundTx)

	// geth --dev runs future forks whose gas rules differ from mainnet's:
	// be generous with gas.
	deploy := sendTx(t, ctx, wallet, key, nil, nil, hexutil.MustDecode(storeContract), 2_000_000)
	contract := deploy.ContractAddress
	value := common.HexToHash("0x1234")
	sameAnswer(t, ctx, light, node, "eth_estimateGas", map[string]any{"from": me, "to": contract, "input": hexutil.Encode(value[:])}, hexutil.EncodeBig(deploy.BlockNumber))
	set := sendTx(t, ctx, wallet, key, &contract, nil, value[:], 2_000_000)
	if set.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("store failed: %+v", set)
	}
	num := hexutil.EncodeBig(set.BlockNumber)
	sameAnswer(t, ctx, light, node, "eth_getTransactionReceipt", set.TxHash)
	sameAnswer(t, ctx, light, node, "eth_getBlockByNumber", num, true)
	got := sameAnswer(t, ctx, light, node, "eth_call", map[string]any{"to": contract}, num)
	if common.BytesToHash(hexutil.MustDecode(unquote(got))) != value {
		t.Errorf("eth_call = %s, want %x", got, value)
	}
	sameAnswer(t, ctx, light, node, "eth_getBalance", me, num)
	sameAnswer(t, ctx, light, node, "eth_getProof", contract, []string{"0x0"}, num)
	sameAnswer(t, ctx, light, node, "eth_getLogs", map[string]any{"fromBlock": num, "toBlock": num})
}
