package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/paychan"
)

// paymentFlags are the flags that say where payments are made.
type paymentFlags struct {
	rpc, contract, key, keyfile, password *string
	confirmations                         *uint64
}

func addPaymentFlags(fs *flag.FlagSet, who string) paymentFlags {
	return paymentFlags{
		rpc:           fs.String("payment.rpc", "", "JSON-RPC URL of the chain payment channels live on"+map[string]string{"server": " (default: the embedded chain, when it runs)", "client": " (empty: the client pays nobody)"}[who]),
		contract:      fs.String("payment.contract", "", "address of the Channels contract"+map[string]string{"server": " (default on the embedded chain: deployed at start)", "client": ""}[who]),
		key:           fs.String("payment.key", "", "hex private key that "+map[string]string{"server": "receives and claims payments (default on the embedded chain: its funded key)", "client": "opens channels and signs vouchers"}[who]),
		keyfile:       fs.String("payment.keyfile", "", "keystore file holding the payment key (instead of --payment.key)"),
		password:      fs.String("payment.password", "", "file holding the keystore's password"),
		confirmations: fs.Uint64("payment.confirmations", 0, "blocks a channel's state and a transaction must be deep before they count"),
	}
}

// paymentKey reads the payment key from the flags; nil when none is given.
func (pf paymentFlags) paymentKey() (*ecdsa.PrivateKey, error) {
	switch {
	case *pf.key != "" && *pf.keyfile != "":
		return nil, errors.New("give --payment.key or --payment.keyfile, not both")
	case *pf.key != "":
		k, err := crypto.HexToECDSA(trim0x(*pf.key))
		if err != nil {
			return nil, fmt.Errorf("--payment.key: %w", err)
		}
		return k, nil
	case *pf.keyfile != "":
		blob, err := os.ReadFile(*pf.keyfile)
		if err != nil {
			return nil, fmt.Errorf("--payment.keyfile: %w", err)
		}
		var pass string
		if *pf.password != "" {
			p, err := os.ReadFile(*pf.password)
			if err != nil {
				return nil, fmt.Errorf("--payment.password: %w", err)
			}
			pass = strings.TrimRight(string(p), "\r\n")
		}
		k, err := keystore.DecryptKey(blob, pass)
		switch {
		case errors.Is(err, keystore.ErrDecrypt) && *pf.password == "":
			return nil, fmt.Errorf("--payment.keyfile %s is encrypted: give its password in a file with --payment.password", *pf.keyfile)
		case errors.Is(err, keystore.ErrDecrypt):
			return nil, fmt.Errorf("--payment.keyfile %s: the password in %s does not decrypt it", *pf.keyfile, *pf.password)
		case err != nil:
			return nil, fmt.Errorf("--payment.keyfile %s: %w", *pf.keyfile, err)
		}
		return k.PrivateKey, nil
	}
	return nil, nil
}

// setup connects to the payment chain: the one at --payment.rpc, or the
// embedded chain (when dev is not nil), where the contract is deployed
// unless given (once: a chain kept in datadir keeps its contract). A payer
// whose key has no ether is refused at once. It returns nil without a
// payment chain.
func (pf paymentFlags) setup(ctx context.Context, dev *devchain.Chain, datadir string, payer bool, out func(string, ...any)) (*paychan.Contract, *ecdsa.PrivateKey, error) {
	key, err := pf.paymentKey()
	if err != nil {
		return nil, nil, err
	}
	var backend paychan.Backend
	switch {
	case *pf.rpc != "":
		ec, err := ethclient.DialContext(ctx, *pf.rpc)
		if err != nil {
			return nil, nil, fmt.Errorf("--payment.rpc %s: %w", *pf.rpc, err)
		}
		backend = ec
	case dev != nil:
		backend = ethclient.NewClient(dev.RPCClient())
		if key == nil {
			key = dev.DevKey()
		}
	default:
		return nil, nil, nil
	}
	if key == nil {
		return nil, nil, errors.New("payments need a key: give --payment.key or --payment.keyfile")
	}
	var addr common.Address
	switch {
	case *pf.contract != "":
		if !common.IsHexAddress(*pf.contract) {
			return nil, nil, fmt.Errorf("--payment.contract %q is not an address", *pf.contract)
		}
		addr = common.HexToAddress(*pf.contract)
	case dev != nil && *pf.rpc == "" && datadir != "":
		deployed := false
		if addr, deployed, err = paychan.DeployRecorded(ctx, backend, key, devChallengePeriod, filepath.Join(datadir, "chain", "contract")); err != nil {
			return nil, nil, err
		}
		if deployed {
			out("Deployed the payment channel contract on the embedded chain")
		}
	case dev != nil && *pf.rpc == "":
		out("Deploying the payment channel contract on the embedded chain...")
		if addr, err = paychan.Deploy(ctx, backend, key, devChallengePeriod); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, errors.New("--payment.rpc needs --payment.contract")
	}
	c, err := paychan.Open(ctx, backend, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("payment contract: %w", err)
	}
	if b, ok := backend.(interface {
		BalanceAt(context.Context, common.Address, *big.Int) (*big.Int, error)
	}); ok {
		from := paychan.Address(key)
		bal, err := b.BalanceAt(ctx, from, nil)
		switch {
		case err != nil:
			return nil, nil, fmt.Errorf("payment chain: reading the balance of %v: %w", from, err)
		case bal.Sign() == 0 && payer:
			return nil, nil, fmt.Errorf("the payment key %v has no ether on chain %v: fund it with the channel deposits (--payment.deposit) and some gas, or run without --paid.capacity and payment flags", from, c.Domain().ChainID)
		case bal.Sign() == 0:
			out("Warning: the payment key %v has no ether on chain %v: vouchers are taken, but claims need gas: fund it", from, c.Domain().ChainID)
		}
	}
	c.Confirmations = *pf.confirmations
	out("Payments: contract %v on chain %d, paid by %v", addr, c.Domain().ChainID, paychan.Address(key))
	return c, key, nil
}

// devChallengePeriod is the challenge period (seconds) of contracts
// deployed on the embedded chain: short, for trying things out.
const devChallengePeriod = 3600

// crashHook returns a function that kills the process with SIGKILL the
// n-th time it runs, when LIGHTMARKET_CRASH names point (crash tests:
// "server-after-store", "client-before-send"; LIGHTMARKET_CRASH_AT=n,
// default 1). It returns nil otherwise.
func crashHook(point string) func() {
	if os.Getenv("LIGHTMARKET_CRASH") != point {
		return nil
	}
	n, err := strconv.Atoi(os.Getenv("LIGHTMARKET_CRASH_AT"))
	if err != nil || n < 1 {
		n = 1
	}
	var count atomic.Int64
	return func() {
		if count.Add(1) == int64(n) {
			log.Warn("Crashing for a test", "point", point)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never returns
		}
	}
}

// gweiFlag reads a gwei flag's value as wei.
func gweiFlag(name, value string) (*big.Int, error) {
	wei, err := parseGwei(value)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", name, err)
	}
	return wei, nil
}
