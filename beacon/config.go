// Package beacon owns lightmarket's use of the consensus layer's
// light-client data: the consensus configurations of the networks it
// knows, reading a consensus client's REST API (Source, for servers that
// relay it), and verifying the data with go-ethereum's light client
// (Verifier: the committee chain from a weak-subjectivity checkpoint and
// the head tracker), for clients that follow heads signed by the sync
// committee.
package beacon

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/beacon/params"
	"github.com/ethereum/go-ethereum/common"
	"gopkg.in/yaml.v3"
)

// ConfigForChain returns the consensus configuration of the network whose
// execution chain id is chainID: mainnet (1), sepolia (11155111) and hoodi
// (560048) are built in.
func ConfigForChain(chainID uint64) (*params.ChainConfig, bool) {
	var c *params.ChainConfig
	switch chainID {
	case 1:
		c = params.MainnetLightConfig
	case 11155111:
		c = params.SepoliaLightConfig
	case 560048:
		c = params.HoodiLightConfig
	default:
		return nil, false
	}
	cp := *c
	return &cp, true
}

// LoadConfig reads a consensus configuration file: the consensus
// specification's config.yaml (its *_FORK_VERSION and *_FORK_EPOCH keys)
// with two more keys, GENESIS_VALIDATORS_ROOT (required: it is in every
// signature's domain) and GENESIS_TIME (unix seconds of slot 0; 0 or
// absent when the chain's slots are not tied to time, as a devnet's).
func LoadConfig(path string) (*params.ChainConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("beacon config: %w", err)
	}
	var keys map[string]any
	if err := yaml.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("beacon config %s: %w", path, err)
	}
	c := new(params.ChainConfig)
	gvr, ok := keys["GENESIS_VALIDATORS_ROOT"].(string)
	if !ok || len(strings.TrimPrefix(gvr, "0x")) != 64 {
		return nil, fmt.Errorf("beacon config %s: GENESIS_VALIDATORS_ROOT missing or not a 32-byte hex string", path)
	}
	c.GenesisValidatorsRoot = common.HexToHash(gvr)
	switch t := keys["GENESIS_TIME"].(type) {
	case nil:
	case int:
		c.GenesisTime = uint64(t)
	case string:
		if c.GenesisTime, err = strconv.ParseUint(t, 10, 64); err != nil {
			return nil, fmt.Errorf("beacon config %s: GENESIS_TIME %q: %w", path, t, err)
		}
	default:
		return nil, fmt.Errorf("beacon config %s: GENESIS_TIME %v is not a number", path, t)
	}
	if err := c.LoadForks(data); err != nil {
		return nil, fmt.Errorf("beacon config %s: %w", path, err)
	}
	if len(c.Forks) == 0 {
		return nil, fmt.Errorf("beacon config %s: no forks", path)
	}
	return c, nil
}

// WriteConfig writes c as a file LoadConfig reads.
func WriteConfig(path string, c *params.ChainConfig) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Consensus configuration (lightmarket --beacon.config)\n")
	fmt.Fprintf(&b, "GENESIS_VALIDATORS_ROOT: \"%s\"\n", c.GenesisValidatorsRoot.Hex())
	fmt.Fprintf(&b, "GENESIS_TIME: %d\n", c.GenesisTime)
	for _, f := range c.Forks {
		fmt.Fprintf(&b, "%s_FORK_VERSION: \"0x%x\"\n", f.Name, f.Version)
		if f.Name != "GENESIS" {
			fmt.Fprintf(&b, "%s_FORK_EPOCH: %d\n", f.Name, f.Epoch)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// ErrNoConfig says the client has no consensus configuration for its chain.
var ErrNoConfig = errors.New("no consensus configuration for this chain: mainnet, sepolia and hoodi are built in; give others with --beacon.config FILE")
