package rpcapi

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/evmcall"
	"github.com/lightmarket/lightmarket/protocol"
)

// Limits of state queries, geth's.
const (
	maxGetProofKeys    = 1024 // storage keys of one eth_getProof
	maxGetStorageSlots = 1024 // slots of one eth_getStorageValues
)

// state returns an account and some of its slots at a block.
func (api *EthAPI) state(ctx context.Context, addr common.Address, slots []common.Hash, bnh *rpc.BlockNumberOrHash) (*client.AccountState, error) {
	h, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return nil, err
	}
	return api.stateAt(ctx, h, addr, slots)
}

// stateAt returns an account and some of its slots at the block with
// header h.
func (api *EthAPI) stateAt(ctx context.Context, h *types.Header, addr common.Address, slots []common.Hash) (*client.AccountState, error) {
	var st *client.AccountState
	// Storage proofs are fetched in chunks the protocol allows.
	for start := 0; start == 0 || start < len(slots); start += protocol.MaxSlotsPerProof {
		end := min(start+protocol.MaxSlotsPerProof, len(slots))
		part, err := api.c.State(ctx, h, addr, slots[start:end])
		if err != nil {
			return nil, stateErr(h, err)
		}
		if st == nil {
			st = part
		} else {
			st.Slots = append(st.Slots, part.Slots...)
			st.Values = append(st.Values, part.Values...)
			st.SlotProofs = append(st.SlotProofs, part.SlotProofs...)
		}
	}
	return st, nil
}

// GetBalance is eth_getBalance.
func (api *EthAPI) GetBalance(ctx context.Context, addr common.Address, bnh *rpc.BlockNumberOrHash) (*hexutil.Big, error) {
	st, err := api.state(ctx, addr, nil, bnh)
	if err != nil {
		return nil, err
	}
	return (*hexutil.Big)(st.Balance()), nil
}

// GetTransactionCount is eth_getTransactionCount. For "pending" it counts
// the transactions sent through this client that no block holds yet.
func (api *EthAPI) GetTransactionCount(ctx context.Context, addr common.Address, bnh *rpc.BlockNumberOrHash) (*hexutil.Uint64, error) {
	st, err := api.state(ctx, addr, nil, bnh)
	if err != nil {
		return nil, err
	}
	n := st.Nonce()
	if bnh != nil {
		if num, ok := bnh.Number(); ok && num == rpc.PendingBlockNumber {
			n = max(n, api.events.pendingNonce(addr))
		}
	}
	return (*hexutil.Uint64)(&n), nil
}

// GetCode is eth_getCode.
func (api *EthAPI) GetCode(ctx context.Context, addr common.Address, bnh *rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	h, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return nil, err
	}
	code, err := api.c.Code(ctx, h, addr)
	if err != nil {
		return nil, stateErr(h, err)
	}
	return code, nil
}

// GetStorageAt is eth_getStorageAt.
func (api *EthAPI) GetStorageAt(ctx context.Context, addr common.Address, hexKey string, bnh *rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	// geth resolves the block before it parses the key.
	h, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return nil, err
	}
	key, _, err := decodeStorageKey(hexKey)
	if err != nil {
		// geth opens the block's state before it reads the key: state that
		// is not available is the answer even for a bad key.
		if _, serr := api.stateAt(ctx, h, addr, nil); serr != nil {
			return nil, serr
		}
		return nil, &evmcall.InvalidParamsError{Message: fmt.Sprintf("%v: %q", err, hexKey)}
	}
	st, err := api.c.State(ctx, h, addr, []common.Hash{key})
	if err != nil {
		return nil, stateErr(h, err)
	}
	return st.Values[0][:], nil
}

// GetStorageValues is eth_getStorageValues: many slots of many accounts at
// one block.
func (api *EthAPI) GetStorageValues(ctx context.Context, requests map[common.Address][]common.Hash, bnh *rpc.BlockNumberOrHash) (map[common.Address][]hexutil.Bytes, error) {
	total := 0
	for _, keys := range requests {
		if total += len(keys); total > maxGetStorageSlots {
			return nil, &evmcall.ClientLimitExceededError{Message: fmt.Sprintf("too many slots (max %d)", maxGetStorageSlots)}
		}
	}
	if total == 0 {
		return nil, &evmcall.InvalidParamsError{Message: "empty request"}
	}
	h, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return nil, err
	}
	out := make(map[common.Address][]hexutil.Bytes, len(requests))
	for addr, keys := range requests {
		st, err := api.stateAt(ctx, h, addr, keys)
		if err != nil {
			return nil, err
		}
		vals := make([]hexutil.Bytes, len(keys))
		for i := range keys {
			vals[i] = st.Values[i][:]
		}
		out[addr] = vals
	}
	return out, nil
}

// GetProof is eth_getProof: the proofs the client verified, as the node
// gave them.
func (api *EthAPI) GetProof(ctx context.Context, addr common.Address, storageKeys []string, bnh *rpc.BlockNumberOrHash) (*AccountResult, error) {
	if len(storageKeys) > maxGetProofKeys {
		return nil, &evmcall.InvalidParamsError{Message: fmt.Sprintf("too many storage keys requested (max %d, got %d)", maxGetProofKeys, len(storageKeys))}
	}
	keys := make([]common.Hash, len(storageKeys))
	lengths := make([]int, len(storageKeys))
	for i, k := range storageKeys {
		var err error
		if keys[i], lengths[i], err = decodeStorageKey(k); err != nil {
			return nil, &evmcall.InvalidParamsError{Message: fmt.Sprintf("%v: %q", err, k)}
		}
	}
	st, err := api.state(ctx, addr, keys, bnh)
	if err != nil {
		return nil, err
	}
	return NewAccountResult(st, lengths), nil
}
