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
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/params"

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
type Node = testchain.Node

// NewNode starts a node in memory with c's genesis and imports c's blocks.
func NewNode(c *Chain, logger log.Logger) (*Node, error) {
	n, err := testchain.StartNode(c.Genesis, "", false, logger)
	if err != nil {
		return nil, err
	}
	if err := importBlocks(n, c.Blocks); err != nil {
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
	n, err := testchain.StartNode(Generate(0, every).Genesis, dir, http, logger)
	if err != nil {
		return nil, nil, err
	}
	var events []uint64
	for b := every; every > 0 && b <= blocks; b += every {
		events = append(events, uint64(b))
	}
	switch head := n.Eth.BlockChain().CurrentHeader().Number.Uint64(); head {
	case uint64(blocks):
		return n, events, nil
	case 0:
	default:
		n.Close()
		return nil, nil, fmt.Errorf("longchain: %s holds another chain; remove it", dir)
	}
	if err := importBlocks(n, Generate(blocks, every).Blocks); err != nil {
		n.Close()
		return nil, nil, err
	}
	return n, events, nil
}

// importBlocks inserts blocks in batches (much faster than one by one).
func importBlocks(n *Node, blocks []*types.Block) error {
	for i := 0; i < len(blocks); i += 1024 {
		batch := blocks[i:min(i+1024, len(blocks))]
		if _, err := n.Eth.BlockChain().InsertChain(batch); err != nil {
			return fmt.Errorf("importing blocks from %d: %w", batch[0].Number(), err)
		}
	}
	return nil
}
