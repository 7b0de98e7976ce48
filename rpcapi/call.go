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
	"github.com/ethereum/go-ethereum/consensus/misc/eip4844"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/crypto/kzg4844"
	"github.com/ethereum/go-ethereum/eth/gasestimator"
	"github.com/ethereum/go-ethereum/eth/tracers/logger"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/lightmarket/lightmarket/client"
)

// Limits of local execution, geth's defaults.
const (
	callGasCap            = 50_000_000 // --rpc.gascap
	callTimeout           = 5 * time.Second
	estimateGasErrorRatio = 0.015
)

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

// checkBlobFeeCap refuses a blob fee cap without blob hashes.
func (args *TransactionArgs) checkBlobFeeCap() error {
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
func (args *TransactionArgs) message(baseFee *big.Int) *core.Message {
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
	msg.SkipNonceCheck()
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

// execState is the verified state of a block, ready for the EVM.
type execState struct {
	header  *types.Header
	proven  *client.ProvenState
	statedb *state.StateDB
}

// openState resolves the block of a call and opens its proven state.
func (api *EthAPI) openState(ctx context.Context, bnh *rpc.BlockNumberOrHash) (*execState, error) {
	header, err := api.stateHeader(ctx, bnh)
	if err != nil {
		return nil, err
	}
	proven, statedb, err := api.c.ProvenState(ctx, header)
	if err != nil {
		return nil, err
	}
	return &execState{header: header, proven: proven, statedb: statedb}, nil
}

// check returns the error of a state fetch during execution, which wins
// over any result: nothing is answered from state that did not verify.
func (s *execState) check() error {
	if err := s.proven.Err(); err != nil {
		return stateErr(s.header, err)
	}
	return nil
}

// Call is eth_call, executed by the client's own EVM over state proven
// against the block's state root.
func (api *EthAPI) Call(ctx context.Context, args TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *StateOverride, blockOverrides *BlockOverrides) (hexutil.Bytes, error) {
	if err := args.checkBlobFeeCap(); err != nil {
		return nil, err
	}
	res, _, err := api.doCall(ctx, args, bnh, overrides, blockOverrides)
	if err != nil {
		return nil, err
	}
	if errors.Is(res.Err, vm.ErrExecutionReverted) {
		return nil, newRevertError(res.Revert())
	}
	return res.Return(), res.Err
}

// doCall runs args at a block as geth's eth_call does and reports how
// many proofs it fetched.
func (api *EthAPI) doCall(ctx context.Context, args TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *StateOverride, blockOverrides *BlockOverrides) (*core.ExecutionResult, int64, error) {
	st, err := api.openState(ctx, bnh)
	if err != nil {
		return nil, 0, err
	}
	cfg := api.c.ChainConfig()
	header := st.header
	blockCtx := core.NewEVMBlockContext(header, api.c.ChainContext(ctx), nil)
	if blockOverrides != nil {
		if err := blockOverrides.apply(&blockCtx); err != nil {
			return nil, 0, err
		}
		header = blockOverrides.header(header)
	}
	rules := cfg.Rules(blockCtx.BlockNumber, blockCtx.Random != nil, blockCtx.Time)
	precompiles := vm.ActivePrecompiledContracts(rules)
	if overrides != nil {
		if err := overrides.apply(st.statedb, precompiles); err != nil {
			return nil, 0, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	gp := core.NewGasPool(callGasCap)
	if err := args.callDefaults(gp.Available(false), blockCtx.BaseFee, cfg.ChainID); err != nil {
		return nil, 0, err
	}
	msg := args.message(header.BaseFee).SkipExecutionGasCapCheck()
	if msg.GasPrice.Sign() == 0 {
		blockCtx.BaseFee = new(big.Int)
	}
	if msg.BlobGasFeeCap != nil && msg.BlobGasFeeCap.BitLen() == 0 {
		blockCtx.BlobBaseFee = new(big.Int)
	}
	evm := vm.NewEVM(blockCtx, st.statedb, cfg, vm.Config{NoBaseFee: true})
	evm.SetPrecompiles(precompiles)
	go func() {
		<-ctx.Done()
		evm.Cancel()
	}()
	res, err := core.ApplyMessage(evm, msg, gp)
	if serr := st.check(); serr != nil {
		return nil, st.proven.Fetches(), serr
	}
	if evm.Cancelled() {
		return nil, st.proven.Fetches(), fmt.Errorf("execution aborted (timeout = %v)", callTimeout)
	}
	if err != nil {
		return res, st.proven.Fetches(), fmt.Errorf("err: %w (supplied gas %d)", err, msg.GasLimit)
	}
	return res, st.proven.Fetches(), nil
}

// EstimateGas is eth_estimateGas, by geth's own estimator running over
// proven state.
func (api *EthAPI) EstimateGas(ctx context.Context, args TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *StateOverride, blockOverrides *BlockOverrides) (hexutil.Uint64, error) {
	if err := args.checkBlobFeeCap(); err != nil {
		return 0, err
	}
	st, err := api.openState(ctx, bnh)
	if err != nil {
		return 0, err
	}
	cfg := api.c.ChainConfig()
	header := st.header
	chainCtx := api.c.ChainContext(ctx)
	blockCtx := core.NewEVMBlockContext(header, chainCtx, nil)
	if blockOverrides != nil {
		if err := blockOverrides.apply(&blockCtx); err != nil {
			return 0, err
		}
		header = blockOverrides.header(header)
	}
	rules := cfg.Rules(blockCtx.BlockNumber, blockCtx.Random != nil, blockCtx.Time)
	if overrides != nil {
		if err := overrides.apply(st.statedb, vm.ActivePrecompiledContracts(rules)); err != nil {
			return 0, err
		}
	}
	var blobBaseFee *big.Int
	if blockOverrides != nil && blockOverrides.BlobBaseFee != nil {
		blobBaseFee = blockOverrides.BlobBaseFee.ToInt()
	}
	opts := &gasestimator.Options{
		Config:      cfg,
		Chain:       chainCtx,
		Header:      header,
		State:       st.statedb,
		BlobBaseFee: blobBaseFee,
		ErrorRatio:  estimateGasErrorRatio,
	}
	if args.Gas == nil {
		args.Gas = new(hexutil.Uint64)
	}
	if err := args.callDefaults(callGasCap, header.BaseFee, cfg.ChainID); err != nil {
		return 0, err
	}
	gas, revert, err := gasestimator.Estimate(ctx, args.message(header.BaseFee), opts, callGasCap)
	if serr := st.check(); serr != nil {
		return 0, serr
	}
	if err != nil {
		if errors.Is(err, vm.ErrExecutionReverted) {
			return 0, newRevertError(revert)
		}
		return 0, err
	}
	return hexutil.Uint64(gas), nil
}

// AccessListResult is the answer of eth_createAccessList.
type AccessListResult struct {
	Accesslist *types.AccessList `json:"accessList"`
	Error      string            `json:"error,omitempty"`
	GasUsed    hexutil.Uint64    `json:"gasUsed"`
}

// CreateAccessList is eth_createAccessList: the call is run again and
// again with the access list the last run touched until it no longer
// changes, over proven state.
func (api *EthAPI) CreateAccessList(ctx context.Context, args TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *StateOverride) (*AccessListResult, error) {
	if err := args.checkBlobFeeCap(); err != nil {
		return nil, err
	}
	st, err := api.openState(ctx, bnh)
	if err != nil {
		return nil, err
	}
	acl, gasUsed, vmErr, err := api.accessList(ctx, st, args, overrides)
	if serr := st.check(); serr != nil {
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

func (api *EthAPI) accessList(ctx context.Context, st *execState, args TransactionArgs, overrides *StateOverride) (types.AccessList, uint64, error, error) {
	cfg := api.c.ChainConfig()
	header := st.header
	if overrides != nil {
		// geth moves no precompiles here.
		if err := overrides.apply(st.statedb, nil); err != nil {
			return nil, 0, nil, err
		}
	}
	if args.GasPrice != nil || args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil || args.BlobFeeCap != nil {
		if err := api.feeDefaults(ctx, &args, header); err != nil {
			return nil, 0, nil, err
		}
	}
	if args.Nonce == nil {
		nonce := hexutil.Uint64(st.statedb.GetNonce(args.from()))
		args.Nonce = &nonce
	}
	chainCtx := api.c.ChainContext(ctx)
	blockCtx := core.NewEVMBlockContext(header, chainCtx, nil)
	if err := args.callDefaults(callGasCap, blockCtx.BaseFee, cfg.ChainID); err != nil {
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
		statedb := st.statedb.Copy()
		args.AccessList = &acl
		msg := args.message(header.BaseFee)
		tracer := logger.NewAccessListTracer(acl, exclude)
		evm := vm.NewEVM(core.NewEVMBlockContext(header, chainCtx, nil), statedb, cfg, vm.Config{Tracer: tracer.Hooks(), NoBaseFee: true})
		if msg.GasPrice.Sign() == 0 {
			evm.Context.BaseFee = new(big.Int)
		}
		if msg.BlobGasFeeCap != nil && msg.BlobGasFeeCap.BitLen() == 0 {
			evm.Context.BlobBaseFee = new(big.Int)
		}
		res, err := core.ApplyMessage(evm, msg, nil)
		if st.proven.Err() != nil {
			return nil, 0, nil, nil // check() reports it
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
func (api *EthAPI) feeDefaults(ctx context.Context, args *TransactionArgs, head *types.Header) error {
	cfg := api.c.ChainConfig()
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
	if !london {
		if args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil {
			return errors.New("maxFeePerGas and maxPriorityFeePerGas are not valid before London is active")
		}
		tip, _, err := api.suggestTip(ctx)
		if err != nil {
			return err
		}
		args.GasPrice = (*hexutil.Big)(tip)
		return nil
	}
	if args.MaxPriorityFeePerGas == nil {
		tip, _, err := api.suggestTip(ctx)
		if err != nil {
			return err
		}
		args.MaxPriorityFeePerGas = (*hexutil.Big)(tip)
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

// revertError is geth's error for reverted calls: JSON-RPC code 3 with the
// revert data.
type revertError struct {
	error
	reason string
}

func (e *revertError) ErrorCode() int { return 3 }
func (e *revertError) ErrorData() any { return e.reason }

func newRevertError(revert []byte) *revertError {
	err := vm.ErrExecutionReverted
	if reason, uerr := abi.UnpackRevert(revert); uerr == nil {
		err = fmt.Errorf("%w: %v", vm.ErrExecutionReverted, reason)
	}
	return &revertError{error: err, reason: hexutil.Encode(revert)}
}
