package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/lightmarket/lightmarket/discovery"
	"github.com/lightmarket/lightmarket/internal/dirlock"
	"github.com/lightmarket/lightmarket/nodekey"
)

func runBootnode(ctx context.Context, args []string, stdout io.Writer) error {
	fs, verbosity := newFlagSet("bootnode", "Runs a discv5 bootnode: servers join the discovery network through it and\nclients find servers through it (give its enode URL to both as --bootnodes).")
	var (
		listen  = fs.String("listen", "127.0.0.1:30300", "UDP listen address")
		extIP   = fs.String("extip", "", "the public IP address put in the node record (default: the listen address)")
		datadir = fs.String("datadir", "", "directory for the node key, so that the enode URL stays the same; empty = a fresh key each run")
	)
	if err := parseFlags(ctx, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	logger := setupLogging(*verbosity)
	var ip net.IP
	if *extIP != "" {
		if ip = net.ParseIP(*extIP); ip == nil {
			return fmt.Errorf("--extip %q is not an IP address", *extIP)
		}
	}
	release, err := dirlock.Acquire(*datadir)
	if err != nil {
		return err
	}
	defer release()
	key, err := crypto.GenerateKey()
	if *datadir != "" {
		key, err = nodekey.LoadOrCreate(filepath.Join(*datadir, "nodekey"))
	}
	if err != nil {
		return err
	}
	n, err := discovery.Listen(*listen, key, nil, ip, nodeDBPath(*datadir), logger)
	if err != nil {
		return err
	}
	defer n.Close()
	fmt.Fprintf(stdout, "Bootnode listening\n  enode: %s\n", n.Self().URLv4())
	<-ctx.Done()
	return nil
}
