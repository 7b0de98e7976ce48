package main

import (
	"context"
	"crypto/ecdsa"
	"flag"
	"fmt"
	"math/big"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/internal/payconf"
	"github.com/lightmarket/lightmarket/paychan"
)

// paymentFlags are the flags that say where payments are made.
type paymentFlags struct {
	rpc, contract, key, keyfile, password *string
	receiver                              *string // servers only
	confirmations                         *uint64
}

func addPaymentFlags(fs *flag.FlagSet, who string) paymentFlags {
	pf := paymentFlags{
		rpc:           fs.String("payment.rpc", "", "JSON-RPC URL of the chain payment channels live on"+map[string]string{"server": " (default: the embedded chain, when it runs)", "client": " (empty: the client pays nobody)"}[who]),
		contract:      fs.String("payment.contract", "", "address of the Channels contract"+map[string]string{"server": " (default on the embedded chain: deployed at start)", "client": ""}[who]),
		key:           fs.String("payment.key", "", "hex private key that "+map[string]string{"server": "receives and claims payments (default on the embedded chain: its funded key)", "client": "opens channels and signs vouchers"}[who]),
		keyfile:       fs.String("payment.keyfile", "", "keystore file holding the payment key (instead of --payment.key)"),
		password:      fs.String("payment.password", "", "file holding the keystore's password"),
		confirmations: fs.Uint64("payment.confirmations", 0, "blocks a channel's state and a transaction must be deep before they count"),
	}
	if who == "server" {
		pf.receiver = fs.String("payment.receiver", "", "a fleet's server without the receiving key: the fleet's receiving address, whose vouchers it verifies and stores in the fleet's ledger (--ledger postgres://…, with --payment.contract); the fleet's claimer, a server given the key, claims them")
	}
	return pf
}

// config is the settings the flags give.
// A command may define some of the flags only (contract deploy: the key's).
func (pf paymentFlags) config() payconf.Config {
	var c payconf.Config
	for _, f := range []struct {
		flag *string
		to   *string
	}{{pf.rpc, &c.RPC}, {pf.contract, &c.Contract}, {pf.key, &c.Key}, {pf.keyfile, &c.KeyFile}, {pf.password, &c.PasswordFile}} {
		if f.flag != nil {
			*f.to = *f.flag
		}
	}
	if pf.receiver != nil {
		c.Receiver = *pf.receiver
	}
	if pf.confirmations != nil {
		c.Confirmations = *pf.confirmations
	}
	return c
}

// paymentKey reads the payment key from the flags; nil when none is given.
func (pf paymentFlags) paymentKey() (*ecdsa.PrivateKey, error) { return pf.config().LoadKey() }

// setup connects to the payment chain (see payconf.Connect).
func (pf paymentFlags) setup(ctx context.Context, dev *devchain.Chain, datadir string, payer bool, out func(string, ...any)) (*paychan.Contract, *ecdsa.PrivateKey, error) {
	return payconf.Connect(ctx, pf.config(), dev, datadir, payer, out)
}

// gweiFlag reads a gwei flag's value as wei.
func gweiFlag(name, value string) (*big.Int, error) {
	wei, err := parseGwei(value)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", name, err)
	}
	return wei, nil
}
