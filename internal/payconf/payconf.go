// Package payconf turns the payment settings of a process (a chain's
// JSON-RPC, the Channels contract, a key in hex or in a keystore file)
// into a connected contract and a key. The CLI's flags and the embedded
// client's JSON configuration both end here, so that they say the same
// things about the same mistakes.
package payconf

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/paychan"
)

// Config says where payments are made; the field names are the flags'
// (--payment.rpc, ...), which the errors name.
type Config struct {
	RPC           string `json:"rpc,omitempty"`           // the chain's JSON-RPC URL
	Contract      string `json:"contract,omitempty"`      // the Channels contract's address
	Key           string `json:"key,omitempty"`           // hex private key
	KeyFile       string `json:"keyFile,omitempty"`       // keystore file (instead of Key)
	PasswordFile  string `json:"passwordFile,omitempty"`  // file holding the keystore's password
	Confirmations uint64 `json:"confirmations,omitempty"` // blocks a channel's state must be deep
	// Receiver is a fleet server's receiving address when it holds no key
	// (a server only: the fleet's claimer holds the key).
	Receiver string `json:"-"`
}

// DevChallengePeriod is the challenge period (seconds) of contracts
// deployed on the embedded chain: short, for trying things out.
const DevChallengePeriod = 3600

// LoadKey reads the payment key; nil when none is given.
func (c Config) LoadKey() (*ecdsa.PrivateKey, error) {
	switch {
	case c.Key != "" && c.KeyFile != "":
		return nil, errors.New("give --payment.key or --payment.keyfile, not both")
	case c.Key != "":
		k, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimPrefix(c.Key, "0x"), "0X"))
		if err != nil {
			return nil, fmt.Errorf("--payment.key: %w", err)
		}
		return k, nil
	case c.KeyFile != "":
		blob, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--payment.keyfile: %w", err)
		}
		var pass string
		if c.PasswordFile != "" {
			p, err := os.ReadFile(c.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("--payment.password: %w", err)
			}
			pass = strings.TrimRight(string(p), "\r\n")
		}
		k, err := keystore.DecryptKey(blob, pass)
		switch {
		case errors.Is(err, keystore.ErrDecrypt) && c.PasswordFile == "":
			return nil, fmt.Errorf("--payment.keyfile %s is encrypted: give its password in a file with --payment.password", c.KeyFile)
		case errors.Is(err, keystore.ErrDecrypt):
			return nil, fmt.Errorf("--payment.keyfile %s: the password in %s does not decrypt it", c.KeyFile, c.PasswordFile)
		case err != nil:
			return nil, fmt.Errorf("--payment.keyfile %s: %w", c.KeyFile, err)
		}
		return k.PrivateKey, nil
	}
	return nil, nil
}

// Connect connects to the payment chain: the one at RPC, or the embedded
// chain (when dev is not nil), where the contract is deployed unless given
// (once: a chain kept in datadir keeps its contract). A payer whose key
// has no ether is refused at once. It returns nil without a payment chain.
// out reports progress to the operator.
func Connect(ctx context.Context, c Config, dev *devchain.Chain, datadir string, payer bool, out func(string, ...any)) (*paychan.Contract, *ecdsa.PrivateKey, error) {
	key, err := c.LoadKey()
	if err != nil {
		return nil, nil, err
	}
	var backend paychan.Backend
	switch {
	case c.RPC != "":
		ec, err := ethclient.DialContext(ctx, c.RPC)
		if err != nil {
			return nil, nil, fmt.Errorf("--payment.rpc %s: %w", c.RPC, err)
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
	if c.Receiver != "" && !common.IsHexAddress(c.Receiver) {
		return nil, nil, fmt.Errorf("--payment.receiver %q is not an address", c.Receiver)
	}
	keyless := c.Receiver != "" && c.Key == "" && c.KeyFile == ""
	if keyless {
		if c.Contract == "" {
			return nil, nil, errors.New("--payment.receiver needs --payment.contract: the fleet's contract")
		}
		key = nil
	}
	if key == nil && !keyless {
		return nil, nil, errors.New("payments need a key: give --payment.key or --payment.keyfile")
	}
	var addr common.Address
	switch {
	case c.Contract != "":
		if !common.IsHexAddress(c.Contract) {
			return nil, nil, fmt.Errorf("--payment.contract %q is not an address", c.Contract)
		}
		addr = common.HexToAddress(c.Contract)
	case dev != nil && c.RPC == "" && datadir != "":
		deployed := false
		if addr, deployed, err = paychan.DeployRecorded(ctx, backend, key, DevChallengePeriod, filepath.Join(datadir, "chain", "contract")); err != nil {
			return nil, nil, err
		}
		if deployed {
			out("Deployed the payment channel contract on the embedded chain")
		}
	case dev != nil && c.RPC == "":
		out("Deploying the payment channel contract on the embedded chain...")
		if addr, err = paychan.Deploy(ctx, backend, key, DevChallengePeriod); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, errors.New("--payment.rpc needs --payment.contract")
	}
	contract, err := paychan.Open(ctx, backend, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("payment contract: %w", err)
	}
	contract.Confirmations = c.Confirmations
	if keyless {
		out("Payments: contract %v on chain %d, to %v (claimed by the fleet's claimer)", addr, contract.Domain().ChainID, common.HexToAddress(c.Receiver))
		return contract, nil, nil
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
			return nil, nil, fmt.Errorf("the payment key %v has no ether on chain %v: fund it with the channel deposits (--payment.deposit) and some gas, or run without --paid.capacity and payment flags", from, contract.Domain().ChainID)
		case bal.Sign() == 0:
			out("Warning: the payment key %v has no ether on chain %v: vouchers are taken, but claims need gas: fund it", from, contract.Domain().ChainID)
		}
	}
	out("Payments: contract %v on chain %d, paid by %v", addr, contract.Domain().ChainID, paychan.Address(key))
	return contract, key, nil
}
