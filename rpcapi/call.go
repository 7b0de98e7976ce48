package rpcapi

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
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/eth/gasestimator"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"
)

// Limits of local execution, geth's defaults.
const (
	callGasCap            = 50_000_000
	callTimeout           = 5 * time.Second
	estimateGasErrorRatio = 0.015
)

// CallArgs are the arguments of eth_call and eth_estimateGas, as geth reads
// them. Blob sidecars are not accepted: a call needs only the hashes.
type CallArgs struct {
	From                 *common.Address              `json:"from"`
	To                   *common.Address              `json:"to"`
	Gas                  *hexutil.Uint64              `json:"gas"`
	GasPrice             *hexutil.Big                 `json:"gasPrice"`
	MaxFeePerGas         *hexutil.Big                 `json:"maxFeePerGas"`
	MaxPriorityFeePerGas *hexutil.Big                 `json:"maxPriorityFeePerGas"`
	Value                *hexutil.Big                 `json:"value"`
	Nonce                *hexutil.Uint64              `json:"nonce"`
	Data                 *hexutil.Bytes               `json:"data"`
	Input                *hexutil.Bytes               `json:"input"`
	AccessList           *types.AccessList            `json:"accessList,omitempty"`
	ChainID              *hexutil.Big                 `json:"chainId,omitempty"`
	BlobFeeCap           *hexutil.Big                 `json:"maxFeePerBlobGas"`
	BlobHashes           []common.Hash                `json:"blobVersionedHashes,omitempty"`
	AuthorizationList    []types.SetCodeAuthorization `json:"authorizationList"`
}

// message applies geth's call defaults and builds the EVM message.
func (args *CallArgs) message(gasCap uint64, baseFee, chainID *big.Int) (*core.Message, error) {
	if args.GasPrice != nil && (args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil) {
		return nil, errors.New("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
	}
	if args.To == nil {
		if args.BlobHashes != nil {
			return nil, core.ErrBlobTxCreate
		}
		if args.AuthorizationList != nil {
			return nil, core.ErrSetCodeTxCreate
		}
	}
	if args.ChainID != nil && (*big.Int)(args.ChainID).Cmp(chainID) != 0 {
		return nil, fmt.Errorf("chainId does not match node's (have=%v, want=%v)", (*big.Int)(args.ChainID), chainID)
	}
	gas := gasCap
	if args.Gas != nil && (gasCap == 0 || uint64(*args.Gas) < gasCap) {
		gas = uint64(*args.Gas)
	}
	if gas == 0 && args.Gas == nil {
		gas = math.MaxUint64 / 2
	}
	if baseFee == nil && (args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil) {
		return nil, errors.New("maxFeePerGas and maxPriorityFeePerGas are not valid before London is active")
	}
	var gasPrice, feeCap, tipCap *uint256.Int
	switch {
	case args.GasPrice != nil || baseFee == nil:
		gasPrice = toU256(args.GasPrice)
		feeCap, tipCap = gasPrice, gasPrice
	default:
		feeCap, tipCap = toU256(args.MaxFeePerGas), toU256(args.MaxPriorityFeePerGas)
		gasPrice = new(uint256.Int)
		if feeCap.Sign() > 0 || tipCap.Sign() > 0 {
			gasPrice.Add(tipCap, uint256.MustFromBig(baseFee))
			if gasPrice.Cmp(feeCap) > 0 {
				gasPrice = feeCap
			}
		}
	}
	msg := &core.Message{
		To:                    args.To,
		Value:                 toU256(args.Value),
		GasLimit:              gas,
		GasPrice:              gasPrice,
		GasFeeCap:             feeCap,
		GasTipCap:             tipCap,
		Data:                  args.data(),
		BlobHashes:            args.BlobHashes,
		SetCodeAuthorizations: args.AuthorizationList,
	}
	if args.From != nil {
		msg.From = *args.From
	}
	if args.Nonce != nil {
		msg.Nonce = uint64(*args.Nonce)
	}
	if args.AccessList != nil {
		msg.AccessList = *args.AccessList
	}
	if args.BlobHashes != nil || args.BlobFeeCap != nil {
		msg.BlobGasFeeCap = toU256(args.BlobFeeCap)
	}
	msg.SkipNonceCheck()
	return msg.SkipEOACheck().SkipGasLimitCapCheck(), nil
}

func (args *CallArgs) data() []byte {
	switch {
	case args.Input != nil:
		return *args.Input
	case args.Data != nil:
		return *args.Data
	}
	return nil
}

func toU256(b *hexutil.Big) *uint256.Int {
	if b == nil {
		return new(uint256.Int)
	}
	v, _ := uint256.FromBig((*big.Int)(b))
	return v
}

// Call is eth_call, executed by the client's own EVM over state proven
// against the block's state root.
func (api *EthAPI) Call(ctx context.Context, args CallArgs, bnh *rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	res, _, err := api.call(ctx, args, bnh)
	if err != nil {
		return nil, err
	}
	if errors.Is(res.Err, vm.ErrExecutionReverted) {
		return nil, newRevertError(res.Revert())
	}
	return res.Return(), res.Err
}

// call runs args at a block and reports how many proofs it fetched.
func (api *EthAPI) call(ctx context.Context, args CallArgs, bnh *rpc.BlockNumberOrHash) (*core.ExecutionResult, int64, error) {
	header, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	cfg := api.c.ChainConfig()
	msg, err := args.message(callGasCap, header.BaseFee, cfg.ChainID)
	if err != nil {
		return nil, 0, err
	}
	proven, statedb, err := api.c.ProvenState(ctx, header)
	if err != nil {
		return nil, 0, err
	}
	blockCtx := core.NewEVMBlockContext(header, api.c.ChainContext(ctx), nil)
	if msg.GasPrice.Sign() == 0 {
		blockCtx.BaseFee = new(big.Int)
	}
	if msg.BlobGasFeeCap != nil && msg.BlobGasFeeCap.Sign() == 0 {
		blockCtx.BlobBaseFee = new(big.Int)
	}
	evm := vm.NewEVM(blockCtx, statedb, cfg, vm.Config{NoBaseFee: true})
	go func() {
		<-ctx.Done()
		evm.Cancel()
	}()
	res, err := core.ApplyMessage(evm, msg, core.NewGasPool(callGasCap))
	if perr := proven.Err(); perr != nil {
		return nil, proven.Fetches(), perr // never answer from state that did not verify
	}
	if evm.Cancelled() {
		return nil, proven.Fetches(), fmt.Errorf("execution aborted (timeout = %v)", callTimeout)
	}
	if err != nil {
		return res, proven.Fetches(), fmt.Errorf("err: %w (supplied gas %d)", err, msg.GasLimit)
	}
	return res, proven.Fetches(), nil
}

// EstimateGas is eth_estimateGas, by geth's own estimator running over
// proven state.
func (api *EthAPI) EstimateGas(ctx context.Context, args CallArgs, bnh *rpc.BlockNumberOrHash) (hexutil.Uint64, error) {
	header, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	cfg := api.c.ChainConfig()
	if args.Gas == nil {
		args.Gas = new(hexutil.Uint64)
	}
	msg, err := args.message(callGasCap, header.BaseFee, cfg.ChainID)
	if err != nil {
		return 0, err
	}
	proven, statedb, err := api.c.ProvenState(ctx, header)
	if err != nil {
		return 0, err
	}
	opts := &gasestimator.Options{
		Config:     cfg,
		Chain:      api.c.ChainContext(ctx),
		Header:     header,
		State:      statedb,
		ErrorRatio: estimateGasErrorRatio,
	}
	gas, revert, err := gasestimator.Estimate(ctx, msg, opts, callGasCap)
	if perr := proven.Err(); perr != nil {
		return 0, perr
	}
	if err != nil {
		if errors.Is(err, vm.ErrExecutionReverted) {
			return 0, newRevertError(revert)
		}
		return 0, err
	}
	return hexutil.Uint64(gas), nil
}

// revertError is geth's error for reverted calls: JSON-RPC code 3 with the
// revert data.
type revertError struct {
	error
	reason string
}

func (e *revertError) ErrorCode() int         { return 3 }
func (e *revertError) ErrorData() interface{} { return e.reason }

func newRevertError(revert []byte) *revertError {
	err := vm.ErrExecutionReverted
	if reason, uerr := abi.UnpackRevert(revert); uerr == nil {
		err = fmt.Errorf("%w: %v", vm.ErrExecutionReverted, reason)
	}
	return &revertError{error: err, reason: hexutil.Encode(revert)}
}
