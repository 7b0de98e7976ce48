// Package embedtest starts what the tests of the embedded client (package
// lightclient, the mobile binding and the C library) run against: a
// devnet with fast blocks and payments, and a key funded on it for the
// embedded client to pay from.
package embedtest

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/devnet"
)

// Env is a running devnet and a funded key.
type Env struct {
	Devnet *devnet.Devnet
	Key    *ecdsa.PrivateKey
}

// Start starts a devnet sealing every 250 ms, with its chain's own
// JSON-RPC open (the embedded client pays through it), and funds a new
// key with 10 ether; both end with the test.
func Start(t testing.TB) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := devnet.Start(ctx, devnet.Config{BlockTime: 250 * time.Millisecond, HTTPAddr: "127.0.0.1:0", ChainHTTP: "127.0.0.1:0",
		Logger: log.NewLogger(log.DiscardHandler())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	key, _ := crypto.GenerateKey()
	if err := d.Fund(ctx, crypto.PubkeyToAddress(key.PublicKey), new(big.Int).Mul(big.NewInt(10), big.NewInt(params.Ether))); err != nil {
		t.Fatal(err)
	}
	return &Env{Devnet: d, Key: key}
}

// Trusted are the devnet's servers' enode URLs.
func (e *Env) Trusted() []string {
	var urls []string
	for _, s := range e.Devnet.Servers {
		urls = append(urls, s.Enode().URLv4())
	}
	return urls
}

// Payment is the "payment" part of an embedded client's configuration
// (lightclient.Payment's JSON): the devnet's chain and contract, the
// funded key, and a short lead so that payments come soon.
func (e *Env) Payment() map[string]any {
	return map[string]any{"rpc": e.Devnet.Chain.HTTPURL(), "contract": e.Devnet.Contract.Address().Hex(),
		"key": hex.EncodeToString(crypto.FromECDSA(e.Key)), "lead": "2s"}
}

// Config is a configuration (lightclient.Config's JSON) of an embedded
// client of the devnet's servers, keeping its data in dataDir and paying
// from the funded key.
func (e *Env) Config(dataDir string) map[string]any {
	return map[string]any{"trusted": e.Trusted(), "dataDir": dataDir, "payment": e.Payment()}
}
