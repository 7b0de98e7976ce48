package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/lightmarket/lightmarket/paychan"
)

// runContract is `lightmarket contract deploy`: puts the Channels contract
// on a chain, for servers and clients to name with --payment.contract.
func runContract(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "deploy" {
		return errors.New("usage: lightmarket contract deploy --rpc URL (--key HEX | --keyfile FILE [--password FILE]) [--challenge SECONDS]")
	}
	fs, _ := newFlagSet("contract deploy", "Deploys the payment channel contract (contracts/Channels.sol, compiled into\nthe binary) and prints its address.")
	var (
		url       = fs.String("rpc", "", "JSON-RPC URL of the chain")
		challenge = fs.Uint64("challenge", 86400, "challenge period in seconds: how long a closing channel waits for the receiver's last claim (fixed for the contract's life; make it longer than your worst time to get a transaction mined)")
		timeout   = fs.Duration("timeout", 10*time.Minute, "give up waiting for the deployment to be mined after this long")
		pay       = paymentFlags{
			key:      fs.String("key", "", "hex private key that pays for the deployment"),
			keyfile:  fs.String("keyfile", "", "keystore file of that key (instead of --key)"),
			password: fs.String("password", "", "file holding the keystore's password"),
		}
	)
	if err := parseFlags(ctx, fs, args[1:]); err != nil {
		return err
	}
	if *url == "" {
		return errors.New("--rpc: give the chain's JSON-RPC URL")
	}
	if *challenge == 0 {
		return errors.New("--challenge must be at least 1 second")
	}
	key, err := pay.paymentKey()
	if err != nil {
		return err
	}
	if key == nil {
		return errors.New("give --key or --keyfile: the deployer pays the gas")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ec, err := ethclient.DialContext(ctx, *url)
	if err != nil {
		return fmt.Errorf("--rpc %s: %w", *url, err)
	}
	defer ec.Close()
	chainID, err := ec.ChainID(ctx)
	if err != nil {
		return fmt.Errorf("--rpc %s: %w", *url, err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	balance, err := ec.BalanceAt(ctx, from, nil)
	if err != nil {
		return fmt.Errorf("--rpc %s: %w", *url, err)
	}
	if balance.Sign() == 0 {
		return fmt.Errorf("the deployer %v has no ether on chain %v to pay for the deployment: fund it first", from, chainID)
	}
	if *challenge < 600 {
		fmt.Fprintf(stdout, "Warning: a challenge period of %d s is short: claims of closing channels must be mined within it\n", *challenge)
	}
	fmt.Fprintf(stdout, "Deploying the Channels contract on chain %v from %v...\n", chainID, from)
	addr, err := paychan.Deploy(ctx, ec, key, *challenge)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Channels contract: %s\n", addr.Hex())
	fmt.Fprintf(stdout, "Give servers and clients --payment.rpc %s --payment.contract %s\n", *url, addr.Hex())
	return nil
}
