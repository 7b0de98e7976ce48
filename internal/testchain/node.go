package testchain

import (
	"fmt"

	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/rpc"
)

// Node is an in-process go-ethereum node holding a Chain: the same node
// `geth` runs, without its command line.
type Node struct {
	Stack *node.Node
	Eth   *eth.Ethereum
}

// NewNode starts a node with c's genesis and imports c's blocks. Its
// JSON-RPC (eth, net, web3 and filters) is reachable in-process through
// Stack.Attach.
func NewNode(c *Chain, logger log.Logger) (*Node, error) {
	n, err := StartNode(c.Genesis, "", false, logger)
	if err != nil {
		return nil, err
	}
	for _, b := range c.Blocks {
		if _, err := n.Eth.BlockChain().InsertChain([]*types.Block{b}); err != nil {
			n.Close()
			return nil, fmt.Errorf("importing block %d: %w", b.Number(), err)
		}
	}
	return n, nil
}

// StartNode starts a full-sync node with genesis, its database in dir
// ("" = in memory), with the filter API; with http it also serves its
// JSON-RPC on a loopback port (Stack.HTTPEndpoint).
func StartNode(genesis *core.Genesis, dir string, http bool, logger log.Logger) (*Node, error) {
	conf := node.DefaultConfig
	conf.DataDir = dir
	// go-ethereum keeps an instance's database in a directory named after
	// the executable unless told otherwise: every binary built under
	// another name generated and imported a kept chain again.
	conf.Name = "node"
	conf.P2P = p2p.Config{NoDiscovery: true, NoDial: true, MaxPeers: 0}
	conf.Logger = logger
	if http {
		conf.HTTPHost, conf.HTTPPort, conf.HTTPModules = "127.0.0.1", 0, []string{"eth"}
	}
	stack, err := node.New(&conf)
	if err != nil {
		return nil, err
	}
	ethConf := ethconfig.Defaults
	ethConf.Genesis = genesis
	ethConf.SyncMode = ethconfig.FullSync
	backend, err := eth.New(stack, &ethConf)
	if err != nil {
		stack.Close()
		return nil, err
	}
	fs := filters.NewFilterSystem(backend.APIBackend, filters.Config{})
	stack.RegisterAPIs([]rpc.API{{Namespace: "eth", Service: filters.NewFilterAPI(fs)}})
	if err := stack.Start(); err != nil {
		stack.Close()
		return nil, err
	}
	return &Node{Stack: stack, Eth: backend}, nil
}

// Close stops the node.
func (n *Node) Close() error { return n.Stack.Close() }
