package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/lightmarket/lightmarket/internal/embedtest"
)

// TestCProgramEmbedsTheClient builds liblightmarket.so with
// -buildmode=c-shared, compiles testdata/embed.c against it with cc, and
// runs it against a devnet: the program starts a client from a JSON
// configuration, gets a verified eth_getBalance and an eth_call (compared
// here with the chain's own answers), asks from four threads at once,
// receives newHeads through its callback, sets a paid demand and sees it
// paid for, and stops.
func TestCProgramEmbedsTheClient(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Fatal("no C compiler (cc): install gcc to test the C library")
	}
	dir := t.TempDir()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(goTool, "build", "-buildmode=c-shared", "-o", filepath.Join(dir, "liblightmarket.so"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildmode=c-shared: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "liblightmarket.h")); err != nil {
		t.Fatalf("no header next to the library: %v", err)
	}
	prog := filepath.Join(dir, "embed")
	compile := exec.Command(cc, "-Wall", "-Werror", "-o", prog, "testdata/embed.c", "-I", dir, "-L", dir, "-llightmarket", "-lpthread", "-Wl,-rpath,"+dir)
	if out, err := compile.CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := embedtest.Start(t)
	d := e.Devnet
	cfg, _ := json.Marshal(e.Config(filepath.Join(dir, "client")))
	eth := ethclient.NewClient(d.Chain.RPCClient())
	block := d.Client.Head().Number
	dev := crypto.PubkeyToAddress(d.DevKey.PublicKey)
	wantBalance, err := eth.BalanceAt(ctx, dev, block)
	if err != nil {
		t.Fatal(err)
	}
	calldata := crypto.Keccak256([]byte("domainSeparator()"))[:4]
	contract := d.Contract.Address()
	wantCall, err := eth.CallContract(ctx, ethereum.CallMsg{To: &contract, Data: calldata}, block)
	if err != nil {
		t.Fatal(err)
	}

	run := exec.CommandContext(ctx, prog, string(cfg), dev.Hex(), hexutil.EncodeBig(block), contract.Hex(), hexutil.Encode(calldata))
	run.Stderr = os.Stderr
	out, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	lines, seen := make(map[string]string), make(map[string]bool)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		tag, rest, _ := strings.Cut(sc.Text(), " ")
		lines[tag], seen[tag] = rest, true
		t.Log(sc.Text())
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("the C program failed: %v (%s)", err, lines["FAIL"])
	}
	if !seen["OK"] {
		t.Fatal("the C program did not finish")
	}
	var balance struct{ Result *hexutil.Big }
	if err := json.Unmarshal([]byte(lines["BALANCE"]), &balance); err != nil || balance.Result == nil {
		t.Fatalf("eth_getBalance through the C library: %s", lines["BALANCE"])
	}
	if balance.Result.ToInt().Cmp(wantBalance) != 0 {
		t.Errorf("balance at %d: %v through the C library, %v from the chain", block, balance.Result.ToInt(), wantBalance)
	}
	var call struct{ Result hexutil.Bytes }
	if err := json.Unmarshal([]byte(lines["CALL"]), &call); err != nil || hexutil.Encode(call.Result) != hexutil.Encode(wantCall) {
		t.Errorf("eth_call through the C library: %s, want %x", lines["CALL"], wantCall)
	}
	if !strings.Contains(lines["AFTERSTOP"], `"error"`) {
		t.Errorf("a request on a stopped node: %s, want a JSON-RPC error", lines["AFTERSTOP"])
	}
}
