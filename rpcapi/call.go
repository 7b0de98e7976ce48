package rpcapi

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/evmcall"
)

// execute runs a call at a block in the client's EVM over verified state:
// first over the state the client holds, without a round trip; when the
// call reads state the client lacks, it asks a server for the call's
// witness (one round trip), verifies it and runs again, fetching on demand
// whatever the witness left out.
func (api *EthAPI) execute(ctx context.Context, bnh *rpc.BlockNumberOrHash, method string, params []any, run func(*evmcall.Env) error) error {
	header, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return err
	}
	enc, err := json.Marshal(trimNulls(params))
	if err != nil {
		return err
	}
	block := header.Hash()
	if api.prefetch != nil && followsHead(bnh) {
		api.prefetch.note(method, enc)
	}
	offline := func() (bool, error) {
		if !api.c.HoldsState(block) {
			return false, nil
		}
		env, proven, err := api.env(ctx, header, true)
		if err != nil {
			return true, err
		}
		err = run(env)
		return !errors.Is(proven.Err(), client.ErrStateMissing), err
	}
	if done, err := offline(); done {
		return err
	}
	if api.prefetch != nil && api.prefetch.wait(ctx, block, method, enc) {
		if done, err := offline(); done {
			return err
		}
	}
	server, werr := api.c.Witness(ctx, header, method, enc)
	if !api.c.HoldsState(block) {
		// The witness proved nothing: the servers may not have the state
		// (geth opens it before anything else, and fails), or the run
		// fails before it reads any. Whether the state is there decides
		// which error is geth's.
		if _, err := api.c.StateValues(ctx, header, common.Address{}, nil); err != nil {
			return stateErr(header, err)
		}
	}
	env, proven, err := api.env(ctx, header, false)
	if err != nil {
		return err
	}
	err = run(env)
	if werr == nil {
		if proven.Fetches() > 0 {
			api.c.WitnessIncomplete(server)
		} else {
			api.c.WitnessComplete()
		}
	}
	return err
}

// followsHead reports whether a block parameter names the head (absent,
// "latest" or "pending"): a call a dapp may repeat at every head.
func followsHead(bnh *rpc.BlockNumberOrHash) bool {
	if bnh == nil {
		return true
	}
	n, ok := bnh.Number()
	return ok && (n == rpc.LatestBlockNumber || n == rpc.PendingBlockNumber)
}

// trimNulls drops trailing absent parameters.
func trimNulls(params []any) []any {
	for len(params) > 0 {
		v := params[len(params)-1]
		switch v := v.(type) {
		case *evmcall.StateOverride:
			if v != nil {
				return params
			}
		case *evmcall.BlockOverrides:
			if v != nil {
				return params
			}
		default:
			if v != nil {
				return params
			}
		}
		params = params[:len(params)-1]
	}
	return params
}

// env opens the verified state of a block for a run: offline (over what
// the client holds) or fetching what it lacks.
func (api *EthAPI) env(ctx context.Context, header *types.Header, offline bool) (*evmcall.Env, *client.ProvenState, error) {
	open := api.c.ProvenState
	if offline {
		open = api.c.CachedState
	}
	proven, statedb, err := open(ctx, header)
	if err != nil {
		return nil, nil, err
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
	}, proven, nil
}

// Call is eth_call, executed by the client's own EVM over state proven
// against the block's state root.
func (api *EthAPI) Call(ctx context.Context, args evmcall.TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *evmcall.StateOverride, blockOverrides *evmcall.BlockOverrides) (hexutil.Bytes, error) {
	if err := args.CheckBlobFeeCap(); err != nil {
		return nil, err
	}
	var res *core.ExecutionResult
	err := api.execute(ctx, bnh, "eth_call", []any{args, overrides, blockOverrides}, func(env *evmcall.Env) (err error) {
		res, err = evmcall.Call(ctx, env, args, overrides, blockOverrides)
		return err
	})
	if err != nil {
		return nil, err
	}
	if errors.Is(res.Err, vm.ErrExecutionReverted) {
		return nil, evmcall.NewRevertError(res.Revert())
	}
	return res.Return(), res.Err
}

// EstimateGas is eth_estimateGas, by geth's own estimator running over
// proven state: one witness serves the whole search.
func (api *EthAPI) EstimateGas(ctx context.Context, args evmcall.TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *evmcall.StateOverride, blockOverrides *evmcall.BlockOverrides) (hexutil.Uint64, error) {
	if err := args.CheckBlobFeeCap(); err != nil {
		return 0, err
	}
	var gas uint64
	err := api.execute(ctx, bnh, "eth_estimateGas", []any{args, overrides, blockOverrides}, func(env *evmcall.Env) (err error) {
		gas, err = evmcall.EstimateGas(ctx, env, args, overrides, blockOverrides)
		return err
	})
	return hexutil.Uint64(gas), err
}

// CreateAccessList is eth_createAccessList over proven state.
func (api *EthAPI) CreateAccessList(ctx context.Context, args evmcall.TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *evmcall.StateOverride) (*evmcall.AccessListResult, error) {
	if err := args.CheckBlobFeeCap(); err != nil {
		return nil, err
	}
	var res *evmcall.AccessListResult
	err := api.execute(ctx, bnh, "eth_createAccessList", []any{args, overrides}, func(env *evmcall.Env) (err error) {
		res, err = evmcall.CreateAccessList(ctx, env, args, overrides)
		return err
	})
	return res, err
}

// SimulateV1 is eth_simulateV1: blocks of calls on top of a block, run in
// the client's EVM over proven state. One witness covers all the blocks.
func (api *EthAPI) SimulateV1(ctx context.Context, opts evmcall.SimOpts, bnh *rpc.BlockNumberOrHash) ([]*SimBlockResult, error) {
	if err := evmcall.CheckSimOpts(opts); err != nil {
		return nil, err
	}
	var results []*evmcall.SimBlockResult
	err := api.execute(ctx, bnh, "eth_simulateV1", []any{opts}, func(env *evmcall.Env) (err error) {
		results, err = evmcall.Simulate(ctx, env, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]*SimBlockResult, len(results))
	for i, r := range results {
		out[i] = &SimBlockResult{res: r, fullTx: opts.ReturnFullTransactions, config: api.c.ChainConfig()}
	}
	return out, nil
}

// SimBlockResult is a simulated block as eth_simulateV1 gives it: the block
// as eth_getBlockByHash does, with its calls' results.
type SimBlockResult struct {
	res    *evmcall.SimBlockResult
	fullTx bool
	config *params.ChainConfig
}

// MarshalJSON implements json.Marshaler.
func (r *SimBlockResult) MarshalJSON() ([]byte, error) {
	block := MarshalBlock(r.res.Block, true, r.fullTx, r.config)
	block["calls"] = r.res.Calls
	if r.fullTx {
		// The transactions carry no signature: their senders are known.
		for _, tx := range block["transactions"].([]any) {
			rt := tx.(*RPCTransaction)
			rt.From = r.res.Senders[rt.Hash]
		}
	}
	return json.Marshal(block)
}
