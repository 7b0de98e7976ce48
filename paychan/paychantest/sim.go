// Package paychantest runs a Channels contract on go-ethereum's simulated
// backend for tests: blocks are sealed every few milliseconds so that
// transactions get mined.
package paychantest

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/paychan"
)

// Sim is a simulated chain with a deployed contract.
type Sim struct {
	Backend  *simulated.Backend
	Contract *paychan.Contract
	mu       sync.Mutex // the simulated beacon takes one caller at a time
}

// AdjustTime moves the chain's clock forward by d (in a new block).
func (s *Sim) AdjustTime(d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Backend.AdjustTime(d)
}

// Funds is each funded key's balance at genesis: 1,000 ether.
var Funds = new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))

// New starts a simulated chain funding keys, deploys a contract with the
// challenge period (seconds) from the first key, and stops it all when
// the test ends.
func New(t testing.TB, challenge uint64, keys ...*ecdsa.PrivateKey) *Sim {
	t.Helper()
	alloc := types.GenesisAlloc{}
	for _, k := range keys {
		alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: Funds}
	}
	sim := simulated.NewBackend(alloc)
	s := &Sim{Backend: sim}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				s.mu.Lock()
				sim.Commit()
				s.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		sim.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	backend := sim.Client().(paychan.Backend)
	addr, err := paychan.Deploy(ctx, backend, keys[0], challenge)
	if err != nil {
		t.Fatal(err)
	}
	c, err := paychan.Open(ctx, backend, addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Contract = c
	return s
}
