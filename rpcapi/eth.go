package rpcapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/client"
)

// The answers geth gives for blocks and state it does not have, worded as
// geth words them (a wallet may match on them).
var (
	errHeaderNotFound       = errors.New("header not found")
	errHeaderHashNotFound   = errors.New("header for hash not found")
	errNotCanonical         = errors.New("hash is not currently canonical")
	errNeitherNumberNorHash = errors.New("invalid arguments; neither block nor hash specified")
)

// EthAPI is the eth_ namespace, answered from verified data.
type EthAPI struct {
	c        *client.Client
	oracle   *FeeOracle
	logRange uint64 // blocks per eth_getLogs
	events   *events
	prefetch *prefetcher // nil: calls are not prefetched
}

// newEthAPI creates the eth_ namespace over a light client. logRange
// bounds the blocks of one eth_getLogs (0: DefaultLogRange).
func newEthAPI(c *client.Client, logRange uint64, ev *events) *EthAPI {
	if logRange == 0 {
		logRange = DefaultLogRange
	}
	return &EthAPI{c: c, oracle: NewFeeOracle(FeeOracleConfig{}), logRange: logRange, events: ev}
}

// ChainId is eth_chainId.
func (api *EthAPI) ChainId() *hexutil.Big {
	return (*hexutil.Big)(new(big.Int).SetUint64(api.c.ChainID()))
}

// BlockNumber is eth_blockNumber: the accepted head, when it is recent
// enough to answer from.
func (api *EthAPI) BlockNumber() (hexutil.Uint64, error) {
	h, err := api.c.CurrentHead()
	if err != nil {
		return 0, err
	}
	return hexutil.Uint64(h.Number.Uint64()), nil
}

// Syncing is eth_syncing: false while the client answers from a verified,
// recent head; otherwise how far it is and why it cannot answer.
func (api *EthAPI) Syncing() (any, error) {
	st := api.c.HeadStatus()
	if st.Verified {
		return false, nil
	}
	return map[string]any{
		"startingBlock": hexutil.Uint64(0),
		"currentBlock":  hexutil.Uint64(st.Number),
		"highestBlock":  hexutil.Uint64(max(st.Highest, st.Number)),
		"reason":        st.Reason,
	}, nil
}

// Accounts is eth_accounts: the client holds no keys.
func (api *EthAPI) Accounts() []common.Address { return []common.Address{} }

// numbered resolves a block number or tag to a canonical header of the
// accepted chain, or (nil, nil) when the chain has no such block. Tags
// need a head the client may answer from (a *client.HeadError otherwise);
// safe and finalized fail with a *client.TagError when the trusted servers
// vouch for none. A number at or below a head that has grown old is still
// answered: the canonical chain below it is verified.
func (api *EthAPI) numbered(ctx context.Context, n rpc.BlockNumber) (*types.Header, error) {
	switch n {
	case rpc.LatestBlockNumber, rpc.PendingBlockNumber:
		return api.c.CurrentHead()
	case rpc.SafeBlockNumber:
		return api.c.TaggedHeader(ctx, client.Safe)
	case rpc.FinalizedBlockNumber:
		return api.c.TaggedHeader(ctx, client.Finalized)
	case rpc.EarliestBlockNumber:
		n = 0
	}
	if n < 0 {
		return nil, fmt.Errorf("invalid block number %d", n)
	}
	if _, err := api.c.CurrentHead(); err != nil {
		if h := api.c.Head(); h == nil || uint64(n) > h.Number.Uint64() {
			return nil, err
		}
	}
	h, err := api.c.HeaderByNumber(ctx, uint64(n))
	if errors.Is(err, client.ErrNotFound) {
		return nil, nil
	}
	return h, err
}

// hashed returns the verified header with the given hash, or (nil, nil)
// when no server has it.
func (api *EthAPI) hashed(ctx context.Context, hash common.Hash) (*types.Header, error) {
	h, err := api.c.HeaderByHash(ctx, hash)
	if errors.Is(err, client.ErrNotFound) {
		return nil, nil
	}
	return h, err
}

// stateHeader resolves the block of a state query as geth does: a missing
// block is an error ("header not found", "header for hash not found"), and
// so is a non-canonical one when the caller requires a canonical block.
func (api *EthAPI) stateHeader(ctx context.Context, bnh *rpc.BlockNumberOrHash) (*types.Header, error) {
	if bnh == nil {
		latest := rpc.BlockNumberOrHashWithNumber(rpc.LatestBlockNumber)
		bnh = &latest
	}
	if n, ok := bnh.Number(); ok {
		h, err := api.numbered(ctx, n)
		if err == nil && h == nil {
			err = errHeaderNotFound
		}
		return h, err
	}
	hash, ok := bnh.Hash()
	if !ok {
		return nil, errNeitherNumberNorHash
	}
	h, err := api.hashed(ctx, hash)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errHeaderHashNotFound
	}
	if bnh.RequireCanonical {
		canon, err := api.c.IsCanonical(ctx, h)
		if err != nil {
			return nil, err
		}
		if !canon {
			return nil, errNotCanonical
		}
	}
	return h, nil
}

// stateErr words a failure to read state at header as geth does: state
// that no server has any more is "historical state ... is not available".
func stateErr(header *types.Header, err error) error {
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("historical state %x is not available", header.Root)
	}
	return err
}

// NetAPI is the net_ namespace.
type NetAPI struct{ c *client.Client }

// Version is net_version: the network id, which for the chains lightmarket
// serves is the chain id.
func (api *NetAPI) Version() string { return new(big.Int).SetUint64(api.c.ChainID()).String() }

// Listening is net_listening: the client takes no connections, but is up.
func (api *NetAPI) Listening() bool { return true }

// PeerCount is net_peerCount: the servers the client is connected to.
func (api *NetAPI) PeerCount() hexutil.Uint {
	n := 0
	for _, s := range api.c.Servers() {
		if s.Connected {
			n++
		}
	}
	return hexutil.Uint(n)
}

// Web3API is the web3_ namespace.
type Web3API struct{ version string }

// ClientVersion is web3_clientVersion.
func (api *Web3API) ClientVersion() string { return api.version }

// Sha3 is web3_sha3: keccak256 of the input.
func (api *Web3API) Sha3(input hexutil.Bytes) hexutil.Bytes { return crypto.Keccak256(input) }

// clientVersion is web3_clientVersion's answer, in geth's form:
// name/version/os-arch/go-version.
func clientVersion() string {
	v := "dev"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = strings.TrimPrefix(info.Main.Version, "v")
	}
	return fmt.Sprintf("lightmarket/v%s/%s-%s/%s", v, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// decodeStorageKey parses a storage key as geth does: hex with or without
// 0x, odd length allowed, at most 32 bytes. It also returns the input's
// byte length, which decides how eth_getProof prints the key.
func decodeStorageKey(s string) (common.Hash, int, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		s = s[2:]
	}
	if len(s)%2 == 1 {
		s = "0" + s
	}
	if len(s) > 64 {
		return common.Hash{}, len(s) / 2, errors.New("storage key too long (want at most 32 bytes)")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return common.Hash{}, 0, errors.New("invalid hex in storage key")
	}
	return common.BytesToHash(b), len(b), nil
}
