package rpcapi

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/forkid"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/chain"
)

// ForkConfig is one fork's entry of eth_config (EIP-7910).
type ForkConfig struct {
	ActivationTime  uint64                    `json:"activationTime"`
	BlobSchedule    *params.BlobConfig        `json:"blobSchedule"`
	ChainId         *hexutil.Big              `json:"chainId"`
	ForkId          hexutil.Bytes             `json:"forkId"`
	Precompiles     map[string]common.Address `json:"precompiles"`
	SystemContracts map[string]common.Address `json:"systemContracts"`
}

// ConfigResult is the answer of eth_config: the fork in force at the
// head, the next scheduled one and the last scheduled one.
type ConfigResult struct {
	Current *ForkConfig `json:"current"`
	Next    *ForkConfig `json:"next"`
	Last    *ForkConfig `json:"last"`
}

// Config is eth_config (EIP-7910), computed from the chain configuration
// and the verified genesis.
func (api *EthAPI) Config(ctx context.Context) (*ConfigResult, error) {
	head, err := api.c.CurrentHead()
	if err != nil {
		return nil, err
	}
	genesis, err := api.c.HeaderByNumber(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("unable to load genesis: %w", err)
	}
	c := api.c.ChainConfig()
	assemble := func(ts *uint64) *ForkConfig {
		if ts == nil {
			return nil
		}
		t := *ts
		rules := c.Rules(c.LondonBlock, true, t)
		precompiles := make(map[string]common.Address)
		for addr, p := range vm.ActivePrecompiledContracts(rules) {
			precompiles[p.Name()] = addr
		}
		activation := t
		if genesis.Time >= t {
			activation = 0 // active from genesis
		}
		id := forkid.NewID(c, types.NewBlockWithHeader(genesis), ^uint64(0), t).Hash
		return &ForkConfig{
			ActivationTime:  activation,
			BlobSchedule:    c.BlobConfig(c.LatestFork(t)),
			ChainId:         (*hexutil.Big)(c.ChainID),
			ForkId:          id[:],
			Precompiles:     precompiles,
			SystemContracts: c.ActiveSystemContracts(t),
		}
	}
	current := c.LatestFork(head.Time)
	last := c.LatestFork(^uint64(0))
	// The next scheduled fork skips optional forks left unconfigured.
	var next *uint64
	for f := current + 1; f <= last; f++ {
		if ts := c.Timestamp(f); ts != nil {
			next = ts
			break
		}
	}
	res := &ConfigResult{Current: assemble(c.Timestamp(current)), Next: assemble(next), Last: assemble(c.Timestamp(last))}
	if res.Next == nil {
		res.Last = nil
	}
	return res, nil
}

// Capabilities is eth_capabilities: the history the connected servers can
// serve together, at the client's head.
func (api *EthAPI) Capabilities() (*chain.Capabilities, error) {
	head, err := api.c.CurrentHead()
	if err != nil {
		return nil, err
	}
	n := head.Number.Uint64()
	return chain.NewCapabilities(api.c.Retention(n), n, head.Hash()), nil
}
