package testchain

import (
	"fmt"

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
	conf := node.DefaultConfig
	conf.DataDir = ""
	conf.P2P = p2p.Config{NoDiscovery: true, NoDial: true, MaxPeers: 0}
	conf.Logger = logger
	stack, err := node.New(&conf)
	if err != nil {
		return nil, err
	}
	ethConf := ethconfig.Defaults
	ethConf.Genesis = c.Genesis
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
	for _, b := range c.Blocks {
		if _, err := backend.BlockChain().InsertChain([]*types.Block{b}); err != nil {
			stack.Close()
			return nil, fmt.Errorf("importing block %d: %w", b.Number(), err)
		}
	}
	return &Node{Stack: stack, Eth: backend}, nil
}

// Close stops the node.
func (n *Node) Close() error { return n.Stack.Close() }
