package rpcapi

import (
	"context"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/evmcall"
)

// openEnv resolves the block of a call and opens its proven state.
func (api *EthAPI) openEnv(ctx context.Context, bnh *rpc.BlockNumberOrHash) (*evmcall.Env, error) {
	header, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return nil, err
	}
	proven, statedb, err := api.c.ProvenState(ctx, header)
	if err != nil {
		return nil, err
	}
	return &evmcall.Env{
		Config: api.c.ChainConfig(),
		Chain:  api.c.ChainContext(ctx),
		Header: header,
		State:  statedb,
		Failed: func() error {
			if err := proven.Err(); err != nil {
				return stateErr(header, err)
			}
			return nil
		},
		SuggestTip: func(ctx context.Context) (*big.Int, error) {
			tip, _, err := api.suggestTip(ctx)
			return tip, err
		},
	}, nil
}

// Call is eth_call, executed by the client's own EVM over state proven
// against the block's state root.
func (api *EthAPI) Call(ctx context.Context, args evmcall.TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *evmcall.StateOverride, blockOverrides *evmcall.BlockOverrides) (hexutil.Bytes, error) {
	if err := args.CheckBlobFeeCap(); err != nil {
		return nil, err
	}
	env, err := api.openEnv(ctx, bnh)
	if err != nil {
		return nil, err
	}
	res, err := evmcall.Call(ctx, env, args, overrides, blockOverrides)
	if err != nil {
		return nil, err
	}
	if errors.Is(res.Err, vm.ErrExecutionReverted) {
		return nil, evmcall.NewRevertError(res.Revert())
	}
	return res.Return(), res.Err
}

// EstimateGas is eth_estimateGas, by geth's own estimator running over
// proven state.
func (api *EthAPI) EstimateGas(ctx context.Context, args evmcall.TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *evmcall.StateOverride, blockOverrides *evmcall.BlockOverrides) (hexutil.Uint64, error) {
	if err := args.CheckBlobFeeCap(); err != nil {
		return 0, err
	}
	env, err := api.openEnv(ctx, bnh)
	if err != nil {
		return 0, err
	}
	gas, err := evmcall.EstimateGas(ctx, env, args, overrides, blockOverrides)
	return hexutil.Uint64(gas), err
}

// CreateAccessList is eth_createAccessList over proven state.
func (api *EthAPI) CreateAccessList(ctx context.Context, args evmcall.TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *evmcall.StateOverride) (*evmcall.AccessListResult, error) {
	if err := args.CheckBlobFeeCap(); err != nil {
		return nil, err
	}
	env, err := api.openEnv(ctx, bnh)
	if err != nil {
		return nil, err
	}
	return evmcall.CreateAccessList(ctx, env, args, overrides)
}
