// Package longchain generates long post-merge chains fast, for the tests
// and the benchmark of history: every fork through Osaka from genesis,
// empty blocks but for a rare event (one transaction whose receipt has one
// log), imported into an in-process go-ethereum node in batches.
package longchain

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus/beacon"
	"github.com/ethereum/go-ethereum/consensus/ethash"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/internal/testchain"
)

// ChainID of the generated chains.
const ChainID = 4243

var (
	key, _ = crypto.HexToECDSA("8a1f9a8f95be41cd7ccb6168179afb4504aefe388d1e14474d32c45c72ce7b7a")
	sender = crypto.PubkeyToAddress(key.PublicKey)
	// Emitter is the contract that emits the rare event.
	Emitter = common.HexToAddress("0x2000000000000000000000000000000000000001")
	// Topic is the rare event's first topic.
	Topic = crypto.Keccak256Hash([]byte("Rare(uint256)"))
)

// Config is the chain configuration: go-ethereum's merged test chain with
// its own chain id.
func Config() *params.ChainConfig {
	cfg := *params.MergedTestChainConfig
	cfg.ChainID = big.NewInt(ChainID)
	return &cfg
}

// Chain is a generated chain.
type Chain struct {
	Genesis *core.Genesis
	Blocks  []*types.Block // 1..n
	Events  []uint64       // blocks whose one transaction emits the event
}

// Generate builds n blocks after genesis, the event in every every-th one
// (none when every is 0).
func Generate(n, every int) *Chain {
	alloc := core.SystemContractAllocs()
	alloc[sender] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(params.Ether))}
	alloc[Emitter] = types.Account{Code: testchain.LoggerCode(Topic), Balance: new(big.Int)}
	genesis := &core.Genesis{Config: Config(), Timestamp: 1_700_000_000, GasLimit: 30_000_000, Difficulty: new(big.Int), Alloc: alloc,
		BaseFee: big.NewInt(params.InitialBaseFee)}
	c := &Chain{Genesis: genesis}
	signer := types.LatestSigner(genesis.Config)
	var nonce uint64
	_, blocks, _ := core.GenerateChainWithGenesis(genesis, beacon.New(ethash.NewFaker()), n, func(i int, b *core.BlockGen) {
		if every == 0 || (i+1)%every != 0 {
			return
		}
		word := common.BigToHash(b.Number())
		tx := types.MustSignNewTx(key, signer, &types.DynamicFeeTx{ChainID: genesis.Config.ChainID, Nonce: nonce, To: &Emitter,
			Gas: 60_000, GasTipCap: big.NewInt(1), GasFeeCap: new(big.Int).Add(b.BaseFee(), big.NewInt(1)), Data: word[:]})
		nonce++
		b.AddTx(tx)
		c.Events = append(c.Events, b.Number().Uint64())
	})
	c.Blocks = blocks
	return c
}

// Node is an in-process go-ethereum node holding a Chain.
type Node struct {
	Stack *node.Node
	Eth   *eth.Ethereum
}

// NewNode starts a node in memory with c's genesis and imports c's blocks.
func NewNode(c *Chain, logger log.Logger) (*Node, error) {
	n, err := start(c.Genesis, "", false, logger)
	if err != nil {
		return nil, err
	}
	if err := n.importBlocks(c.Blocks); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// OpenNode starts a node keeping its database in dir, holding a chain of
// blocks blocks with the event every every blocks: the one already there
// when dir holds it, else generated and imported (minutes for a long
// chain). With http the node serves its JSON-RPC on a loopback port
// (Stack.HTTPEndpoint). It returns the blocks with the event.
func OpenNode(dir string, blocks, every int, http bool, logger log.Logger) (*Node, []uint64, error) {
	genesis := Generate(0, every).Genesis
	n, err := start(genesis, dir, http, logger)
	if err != nil {
		return nil, nil, err
	}
	var events []uint64
	for b := every; every > 0 && b <= blocks; b += every {
		events = append(events, uint64(b))
	}
	if n.Eth.BlockChain().CurrentHeader().Number.Uint64() == uint64(blocks) {
		return n, events, nil
	}
	if n.Eth.BlockChain().CurrentHeader().Number.Uint64() != 0 {
		n.Close()
		return nil, nil, fmt.Errorf("longchain: %s holds another chain; remove it", dir)
	}
	c := Generate(blocks, every)
	if err := n.importBlocks(c.Blocks); err != nil {
		n.Close()
		return nil, nil, err
	}
	return n, events, nil
}

func start(genesis *core.Genesis, dir string, http bool, logger log.Logger) (*Node, error) {
	conf := node.DefaultConfig
	conf.DataDir = dir
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

func (n *Node) importBlocks(blocks []*types.Block) error {
	for i := 0; i < len(blocks); i += 1024 {
		batch := blocks[i:min(i+1024, len(blocks))]
		if _, err := n.Eth.BlockChain().InsertChain(batch); err != nil {
			return fmt.Errorf("importing blocks from %d: %w", batch[0].Number(), err)
		}
	}
	return nil
}

// Close stops the node.
func (n *Node) Close() error { return n.Stack.Close() }
