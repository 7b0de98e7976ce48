// Package evmcall runs the EVM calls of the eth_ namespace as go-ethereum
// v1.17 does — eth_call, eth_estimateGas, eth_createAccessList and
// eth_simulateV1 — over whatever state it is given: the light client's
// proven state, or a server's backend while the server records what a call
// reads (its witness).
//
// It owns the arguments as geth reads them (TransactionArgs, state and
// block overrides, simulation options), the defaults geth fills in, and
// the errors geth gives, codes included. It does no I/O of its own: the
// state and the chain's headers come in an Env.
package evmcall

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/consensus/misc/eip4844"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/crypto/kzg4844"
	"github.com/ethereum/go-ethereum/eth/gasestimator"
	"github.com/ethereum/go-ethereum/eth/tracers/logger"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

// Limits of execution, geth's defaults.
const (
	GasCap                = 50_000_000 // --rpc.gascap
	Timeout               = 5 * time.Second
	estimateGasErrorRatio = 0.015
)

// Env is the block a call runs in and the state it starts from.
type Env struct {
	Config *params.ChainConfig
	Chain  core.ChainContext // headers for BLOCKHASH, the consensus engine
	Header *types.Header
	State  *state.StateDB // the state after Header; calls change it
	// Failed returns the first failure of the state source, if any: a
	// result computed after one is not an answer.
	Failed func() error
	// SuggestTip suggests a priority fee (eth_createAccessList's fee
	// defaults).
	SuggestTip func(ctx context.Context) (*big.Int, error)
}

func (env *Env) failed() error {
	if env.Failed == nil {
		return nil
	}
	return env.Failed()
}

// TransactionArgs are the arguments of eth_call, eth_estimateGas and
// eth_createAccessList, read as geth reads them.
type TransactionArgs struct {
	From                 *common.Address `json:"from"`
	To                   *common.Address `json:"to"`
	Gas                  *hexutil.Uint64 `json:"gas"`
	GasPrice             *hexutil.Big    `json:"gasPrice"`
	MaxFeePerGas         *hexutil.Big    `json:"maxFeePerGas"`
	MaxPriorityFeePerGas *hexutil.Big    `json:"maxPriorityFeePerGas"`
	Value                *hexutil.Big    `json:"value"`
	Nonce                *hexutil.Uint64 `json:"nonce"`
	// "input" is preferred; "data" is the older name.
	Data              *hexutil.Bytes               `json:"data"`
	Input             *hexutil.Bytes               `json:"input"`
	AccessList        *types.AccessList            `json:"accessList,omitempty"`
	ChainID           *hexutil.Big                 `json:"chainId,omitempty"`
	BlobFeeCap        *hexutil.Big                 `json:"maxFeePerBlobGas"`
	BlobHashes        []common.Hash                `json:"blobVersionedHashes,omitempty"`
	Blobs             []kzg4844.Blob               `json:"blobs"`
	Commitments       []kzg4844.Commitment         `json:"commitments"`
	Proofs            []kzg4844.Proof              `json:"proofs"`
	AuthorizationList []types.SetCodeAuthorization `json:"authorizationList"`
}

func (args *TransactionArgs) from() common.Address {
	if args.From == nil {
		return common.Address{}
	}
	return *args.From
}

func (args *TransactionArgs) data() []byte {
	switch {
	case args.Input != nil:
		return *args.Input
	case args.Data != nil:
		return *args.Data
	}
	return nil
}

// CheckBlobFeeCap refuses a blob fee cap without blob hashes; geth checks
// it before it opens any state.
func (args *TransactionArgs) CheckBlobFeeCap() error {
	if args.BlobFeeCap != nil && len(args.BlobHashes) == 0 {
		return errors.New("maxFeePerBlobGas specified without blobVersionedHashes")
	}
	return nil
}

// callDefaults checks the arguments of a call and fills in geth's defaults:
// gas up to gasCap, zero nonce, value and fees.
func (args *TransactionArgs) callDefaults(gasCap uint64, baseFee, chainID *big.Int) error {
	if args.GasPrice != nil && (args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil) {
		return errors.New("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
	}
	if args.To == nil {
		if args.BlobHashes != nil {
			return core.ErrBlobTxCreate
		}
		if args.AuthorizationList != nil {
			return core.ErrSetCodeTxCreate
		}
	}
	if args.ChainID == nil {
		args.ChainID = (*hexutil.Big)(chainID)
	} else if have := (*big.Int)(args.ChainID); have.Cmp(chainID) != 0 {
		return fmt.Errorf("chainId does not match node's (have=%v, want=%v)", have, chainID)
	}
	if args.Gas == nil {
		gas := gasCap
		if gas == 0 {
			gas = uint64(math.MaxUint64 / 2)
		}
		args.Gas = (*hexutil.Uint64)(&gas)
	} else if gasCap > 0 && gasCap < uint64(*args.Gas) {
		args.Gas = (*hexutil.Uint64)(&gasCap)
	}
	if args.Nonce == nil {
		args.Nonce = new(hexutil.Uint64)
	}
	if args.Value == nil {
		args.Value = new(hexutil.Big)
	}
	if baseFee == nil {
		if args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil {
			return errors.New("maxFeePerGas and maxPriorityFeePerGas are not valid before London is active")
		}
		if args.GasPrice == nil {
			args.GasPrice = new(hexutil.Big)
		}
	} else {
		if args.MaxFeePerGas == nil {
			args.MaxFeePerGas = new(hexutil.Big)
		}
		if args.MaxPriorityFeePerGas == nil {
			args.MaxPriorityFeePerGas = new(hexutil.Big)
		}
	}
	if args.BlobFeeCap == nil && args.BlobHashes != nil {
		args.BlobFeeCap = new(hexutil.Big)
	}
	return nil
}

// message builds the EVM message of defaulted arguments.
func (args *TransactionArgs) message(baseFee *big.Int, skipNonceCheck bool) *core.Message {
	var gasPrice, feeCap, tipCap *uint256.Int
	switch {
	case baseFee == nil || args.GasPrice != nil:
		gasPrice, _ = args.GasPrice.ToUint256()
		feeCap, tipCap = gasPrice, gasPrice
	default:
		feeCap, _ = args.MaxFeePerGas.ToUint256()
		tipCap, _ = args.MaxPriorityFeePerGas.ToUint256()
		gasPrice = new(uint256.Int)
		if feeCap.BitLen() > 0 || tipCap.BitLen() > 0 {
			gasPrice.Add(tipCap, uint256.MustFromBig(baseFee))
			if gasPrice.Cmp(feeCap) > 0 {
				gasPrice = feeCap
			}
		}
	}
	var accessList types.AccessList
	if args.AccessList != nil {
		accessList = *args.AccessList
	}
	value, _ := args.Value.ToUint256()
	blobFeeCap, _ := args.BlobFeeCap.ToUint256()
	msg := &core.Message{
		From:                  args.from(),
		To:                    args.To,
		Value:                 value,
		Nonce:                 uint64(*args.Nonce),
		GasLimit:              uint64(*args.Gas),
		GasPrice:              gasPrice,
		GasFeeCap:             feeCap,
		GasTipCap:             tipCap,
		Data:                  args.data(),
		AccessList:            accessList,
		BlobGasFeeCap:         blobFeeCap,
		BlobHashes:            args.BlobHashes,
		SetCodeAuthorizations: args.AuthorizationList,
	}
	if skipNonceCheck {
		msg.SkipNonceCheck()
	}
	return msg.SkipEOACheck().SkipGasLimitCapCheck()
}

// legacyHash is the hash of the arguments as a legacy transaction, which
// geth's eth_createAccessList names in its errors.
func (args *TransactionArgs) legacyHash() common.Hash {
	return types.NewTx(&types.LegacyTx{
		To: args.To, Nonce: uint64(*args.Nonce), Gas: uint64(*args.Gas), GasPrice: (*big.Int)(args.GasPrice),
		Value: (*big.Int)(args.Value), Data: args.data(),
	}).Hash()
}

// Call runs args as geth's eth_call does. A reverted call is a result with
// Err set (RevertError makes geth's error of it).
func Call(ctx context.Context, env *Env, args TransactionArgs, overrides *StateOverride, blockOverrides *BlockOverrides) (*core.ExecutionResult, error) {
	header := env.Header
	blockCtx := core.NewEVMBlockContext(header, env.Chain, nil)
	if blockOverrides != nil {
		if err := blockOverrides.Apply(&blockCtx); err != nil {
			return nil, err
		}
		header = blockOverrides.Header(header)
	}
	rules := env.Config.Rules(blockCtx.BlockNumber, blockCtx.Random != nil, blockCtx.Time)
	precompiles := vm.ActivePrecompiledContracts(rules)
	if overrides != nil {
		if err := overrides.Apply(env.State, precompiles); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	gp := core.NewGasPool(GasCap)
	if err := args.callDefaults(gp.Available(false), blockCtx.BaseFee, env.Config.ChainID); err != nil {
		return nil, err
	}
	msg := args.message(header.BaseFee, true).SkipExecutionGasCapCheck()
	if msg.GasPrice.Sign() == 0 {
		blockCtx.BaseFee = new(big.Int)
	}
	if msg.BlobGasFeeCap != nil && msg.BlobGasFeeCap.BitLen() == 0 {
		blockCtx.BlobBaseFee = new(big.Int)
	}
	evm := vm.NewEVM(blockCtx, env.State, env.Config, vm.Config{NoBaseFee: true})
	defer evm.Release() // its stack back to go-ethereum's pool (32 KB and more a call otherwise)
	evm.SetPrecompiles(precompiles)
	// Stopped at the timeout, without a goroutine waiting for it.
	stop := context.AfterFunc(ctx, evm.Cancel)
	defer stop()
	res, err := core.ApplyMessage(evm, msg, gp)
	if serr := env.failed(); serr != nil {
		return nil, serr
	}
	if evm.Cancelled() {
		return nil, fmt.Errorf("execution aborted (timeout = %v)", Timeout)
	}
	if err != nil {
		return res, fmt.Errorf("err: %w (supplied gas %d)", err, msg.GasLimit)
	}
	return res, nil
}

// EstimateGas finds the least gas args need, by geth's own estimator. A
// revert is a *RevertError.
func EstimateGas(ctx context.Context, env *Env, args TransactionArgs, overrides *StateOverride, blockOverrides *BlockOverrides) (uint64, error) {
	header := env.Header
	blockCtx := core.NewEVMBlockContext(header, env.Chain, nil)
	if blockOverrides != nil {
		if err := blockOverrides.Apply(&blockCtx); err != nil {
			return 0, err
		}
		header = blockOverrides.Header(header)
	}
	rules := env.Config.Rules(blockCtx.BlockNumber, blockCtx.Random != nil, blockCtx.Time)
	if overrides != nil {
		if err := overrides.Apply(env.State, vm.ActivePrecompiledContracts(rules)); err != nil {
			return 0, err
		}
	}
	var blobBaseFee *big.Int
	if blockOverrides != nil && blockOverrides.BlobBaseFee != nil {
		blobBaseFee = blockOverrides.BlobBaseFee.ToInt()
	}
	opts := &gasestimator.Options{
		Config:      env.Config,
		Chain:       env.Chain,
		Header:      header,
		State:       env.State,
		BlobBaseFee: blobBaseFee,
		ErrorRatio:  estimateGasErrorRatio,
	}
	if args.Gas == nil {
		args.Gas = new(hexutil.Uint64)
	}
	if err := args.callDefaults(GasCap, header.BaseFee, env.Config.ChainID); err != nil {
		return 0, err
	}
	gas, revert, err := gasestimator.Estimate(ctx, args.message(header.BaseFee, true), opts, GasCap)
	if serr := env.failed(); serr != nil {
		return 0, serr
	}
	if err != nil {
		if errors.Is(err, vm.ErrExecutionReverted) {
			return 0, NewRevertError(revert)
		}
		return 0, err
	}
	return gas, nil
}

// AccessListResult is the answer of eth_createAccessList.
type AccessListResult struct {
	Accesslist *types.AccessList `json:"accessList"`
	Error      string            `json:"error,omitempty"`
	GasUsed    hexutil.Uint64    `json:"gasUsed"`
}

// CreateAccessList runs args again and again with the access list the
// last run touched until it no longer changes, as geth's
// eth_createAccessList does.
func CreateAccessList(ctx context.Context, env *Env, args TransactionArgs, overrides *StateOverride) (*AccessListResult, error) {
	acl, gasUsed, vmErr, err := accessList(ctx, env, args, overrides)
	if serr := env.failed(); serr != nil {
		return nil, serr
	}
	if err != nil {
		return nil, err
	}
	res := &AccessListResult{Accesslist: &acl, GasUsed: hexutil.Uint64(gasUsed)}
	if vmErr != nil {
		res.Error = vmErr.Error()
	}
	return res, nil
}

func accessList(ctx context.Context, env *Env, args TransactionArgs, overrides *StateOverride) (types.AccessList, uint64, error, error) {
	cfg, header := env.Config, env.Header
	if overrides != nil {
		// geth moves no precompiles here.
		if err := overrides.Apply(env.State, nil); err != nil {
			return nil, 0, nil, err
		}
	}
	if args.GasPrice != nil || args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil || args.BlobFeeCap != nil {
		if err := feeDefaults(ctx, env, &args); err != nil {
			return nil, 0, nil, err
		}
	}
	if args.Nonce == nil {
		nonce := hexutil.Uint64(env.State.GetNonce(args.from()))
		args.Nonce = &nonce
	}
	blockCtx := core.NewEVMBlockContext(header, env.Chain, nil)
	if err := args.callDefaults(GasCap, blockCtx.BaseFee, cfg.ChainID); err != nil {
		return nil, 0, nil, err
	}
	to := crypto.CreateAddress(args.from(), uint64(*args.Nonce))
	if args.To != nil {
		to = *args.To
	}
	isPostMerge := header.Difficulty.Sign() == 0
	exclude := map[common.Address]struct{}{args.from(): {}, to: {}}
	for _, addr := range vm.ActivePrecompiles(cfg.Rules(header.Number, isPostMerge, header.Time)) {
		exclude[addr] = struct{}{}
	}
	for _, auth := range args.AuthorizationList {
		if (!auth.ChainID.IsZero() && auth.ChainID.CmpBig(cfg.ChainID) != 0) || auth.Nonce+1 < auth.Nonce {
			continue
		}
		if authority, err := auth.Authority(); err == nil {
			exclude[authority] = struct{}{}
		}
	}
	var start types.AccessList
	if args.AccessList != nil {
		start = *args.AccessList
	}
	prev := logger.NewAccessListTracer(start, exclude)
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, nil, err
		}
		acl := prev.AccessList()
		statedb := env.State.Copy()
		args.AccessList = &acl
		msg := args.message(header.BaseFee, true)
		tracer := logger.NewAccessListTracer(acl, exclude)
		evm := vm.NewEVM(core.NewEVMBlockContext(header, env.Chain, nil), statedb, cfg, vm.Config{Tracer: tracer.Hooks(), NoBaseFee: true})
		if msg.GasPrice.Sign() == 0 {
			evm.Context.BaseFee = new(big.Int)
		}
		if msg.BlobGasFeeCap != nil && msg.BlobGasFeeCap.BitLen() == 0 {
			evm.Context.BlobBaseFee = new(big.Int)
		}
		res, err := core.ApplyMessage(evm, msg, nil)
		evm.Release()
		if env.failed() != nil {
			return nil, 0, nil, nil // the caller reports it
		}
		if err != nil {
			return nil, 0, nil, fmt.Errorf("failed to apply transaction: %v err: %v", args.legacyHash(), err)
		}
		if tracer.Equal(prev) {
			return acl, res.UsedGas, res.Err, nil
		}
		prev = tracer
	}
}

// feeDefaults fills in the fee fields a transaction leaves out, as geth
// does before creating an access list.
func feeDefaults(ctx context.Context, env *Env, args *TransactionArgs) error {
	cfg, head := env.Config, env.Header
	if args.BlobFeeCap != nil && args.BlobFeeCap.ToInt().Sign() == 0 {
		return errors.New("maxFeePerBlobGas, if specified, must be non-zero")
	}
	if cfg.IsCancun(head.Number, head.Time) && args.BlobHashes != nil && args.BlobFeeCap == nil {
		args.BlobFeeCap = (*hexutil.Big)(new(big.Int).Mul(eip4844.CalcBlobFee(cfg, head), big.NewInt(2)))
	}
	if args.GasPrice != nil && (args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil) {
		return errors.New("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
	}
	if args.GasPrice != nil && args.AuthorizationList != nil {
		return errors.New("both gasPrice and authorizationList specified")
	}
	if args.GasPrice == nil && args.MaxFeePerGas != nil && args.MaxPriorityFeePerGas != nil {
		if args.MaxFeePerGas.ToInt().Sign() == 0 {
			return errors.New("maxFeePerGas must be non-zero")
		}
		if args.MaxFeePerGas.ToInt().Cmp(args.MaxPriorityFeePerGas.ToInt()) < 0 {
			return fmt.Errorf("maxFeePerGas (%v) < maxPriorityFeePerGas (%v)", args.MaxFeePerGas, args.MaxPriorityFeePerGas)
		}
		return nil
	}
	london := cfg.IsLondon(head.Number)
	if args.GasPrice != nil {
		if args.GasPrice.ToInt().Sign() == 0 && london {
			return errors.New("gasPrice must be non-zero after london fork")
		}
		return nil
	}
	tip := func() (*big.Int, error) {
		if env.SuggestTip == nil {
			return new(big.Int), nil
		}
		return env.SuggestTip(ctx)
	}
	if !london {
		if args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil {
			return errors.New("maxFeePerGas and maxPriorityFeePerGas are not valid before London is active")
		}
		t, err := tip()
		if err != nil {
			return err
		}
		args.GasPrice = (*hexutil.Big)(t)
		return nil
	}
	if args.MaxPriorityFeePerGas == nil {
		t, err := tip()
		if err != nil {
			return err
		}
		args.MaxPriorityFeePerGas = (*hexutil.Big)(t)
	}
	if args.MaxFeePerGas == nil {
		fee := new(big.Int).Add(args.MaxPriorityFeePerGas.ToInt(), new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
		args.MaxFeePerGas = (*hexutil.Big)(fee)
	}
	if args.MaxFeePerGas.ToInt().Cmp(args.MaxPriorityFeePerGas.ToInt()) < 0 {
		return fmt.Errorf("maxFeePerGas (%v) < maxPriorityFeePerGas (%v)", args.MaxFeePerGas, args.MaxPriorityFeePerGas)
	}
	return nil
}

// RevertError is geth's error for reverted calls: JSON-RPC code 3 with the
// revert data.
type RevertError struct {
	error
	reason string
}

// ErrorCode implements rpc.Error.
func (e *RevertError) ErrorCode() int { return 3 }

// ErrorData implements rpc.DataError: the revert data, hex.
func (e *RevertError) ErrorData() any { return e.reason }

// NewRevertError makes geth's error of a call's revert data.
func NewRevertError(revert []byte) *RevertError {
	err := vm.ErrExecutionReverted
	if reason, uerr := abi.UnpackRevert(revert); uerr == nil {
		err = fmt.Errorf("%w: %v", vm.ErrExecutionReverted, reason)
	}
	return &RevertError{error: err, reason: hexutil.Encode(revert)}
}
