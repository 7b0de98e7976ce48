package evmcall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/consensus"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/consensus/misc/eip4844"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/types/bal"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

// Limits of eth_simulateV1, geth's.
const (
	maxSimulateBlocks        = 256
	maxSimulateCallsPerBlock = 5000
	maxSimulateTotalCalls    = 10000
	timestampIncrement       = 12 // seconds between simulated blocks by default
)

// SimBlock is one block of an eth_simulateV1 request: its overrides and
// its calls, run in order.
type SimBlock struct {
	BlockOverrides *BlockOverrides
	StateOverrides *StateOverride
	Calls          []TransactionArgs
}

// UnmarshalJSON reads a block as geth does, refusing override keys that
// name no field (encoding/json alone would ignore them).
func (b *SimBlock) UnmarshalJSON(input []byte) error {
	var dec struct {
		BlockOverrides json.RawMessage
		StateOverrides map[common.Address]json.RawMessage
		Calls          []TransactionArgs
	}
	if err := json.Unmarshal(input, &dec); err != nil {
		return err
	}
	var res SimBlock
	if dec.BlockOverrides != nil {
		if err := checkOverrideKeys(dec.BlockOverrides, reflect.TypeFor[BlockOverrides](), "block override"); err != nil {
			return err
		}
		if err := json.Unmarshal(dec.BlockOverrides, &res.BlockOverrides); err != nil {
			return err
		}
	}
	if dec.StateOverrides != nil {
		overrides := make(StateOverride, len(dec.StateOverrides))
		for addr, raw := range dec.StateOverrides {
			if err := checkOverrideKeys(raw, reflect.TypeFor[OverrideAccount](), "state override for "+addr.Hex()); err != nil {
				return err
			}
			var account OverrideAccount
			if err := json.Unmarshal(raw, &account); err != nil {
				return err
			}
			overrides[addr] = account
		}
		res.StateOverrides = &overrides
	}
	res.Calls = dec.Calls
	*b = res
	return nil
}

// checkOverrideKeys fails on a key of the JSON object that names no field
// of t, or names a field another key names already (matching case
// insensitively, as encoding/json does).
func checkOverrideKeys(input json.RawMessage, t reflect.Type, what string) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(input, &keys); err != nil || keys == nil {
		return nil
	}
	seen := make(map[int]string)
	for _, key := range slices.Sorted(maps.Keys(keys)) {
		field := -1
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if strings.EqualFold(key, name) {
				field = i
				break
			}
		}
		if field < 0 {
			return fmt.Errorf("unknown field %q in %s", key, what)
		}
		if prev, ok := seen[field]; ok {
			return fmt.Errorf("keys %q and %q in %s name the same field", prev, key, what)
		}
		seen[field] = key
	}
	return nil
}

// ErrUnprovable says a simulated block's state root needs trie nodes that
// no proof reached (a server without its state at hand cannot prove the
// nodes a deletion collapses).
var ErrUnprovable = errors.New("state not proven")

// SimOpts are the arguments of eth_simulateV1.
type SimOpts struct {
	BlockStateCalls        []SimBlock
	TraceTransfers         bool
	Validation             bool
	ReturnFullTransactions bool
}

// CheckSimOpts applies geth's limits on a simulation, before any state is
// read.
func CheckSimOpts(opts SimOpts) error {
	if len(opts.BlockStateCalls) == 0 {
		return &InvalidParamsError{"empty input"}
	}
	if len(opts.BlockStateCalls) > maxSimulateBlocks {
		return &ClientLimitExceededError{"too many blocks"}
	}
	total := 0
	for _, block := range opts.BlockStateCalls {
		if len(block.Calls) > maxSimulateCallsPerBlock {
			return &ClientLimitExceededError{fmt.Sprintf("too many calls in block: %d > %d", len(block.Calls), maxSimulateCallsPerBlock)}
		}
		if total += len(block.Calls); total > maxSimulateTotalCalls {
			return &ClientLimitExceededError{fmt.Sprintf("too many calls: %d > %d", total, maxSimulateTotalCalls)}
		}
	}
	return nil
}

// SimCallResult is the result of one simulated call.
type SimCallResult struct {
	ReturnValue hexutil.Bytes  `json:"returnData"`
	Logs        []*types.Log   `json:"logs"`
	GasUsed     hexutil.Uint64 `json:"gasUsed"`
	MaxUsedGas  hexutil.Uint64 `json:"maxUsedGas"`
	Status      hexutil.Uint64 `json:"status"`
	Error       *CallError     `json:"error,omitempty"`
}

// MarshalJSON writes no logs as an empty list, not null.
func (r *SimCallResult) MarshalJSON() ([]byte, error) {
	type alias SimCallResult
	if r.Logs == nil {
		r.Logs = []*types.Log{}
	}
	return json.Marshal((*alias)(r))
}

// CallError is a call's failure inside a simulation result.
type CallError struct {
	Message string `json:"message"`
	Code    int    `json:"code"`
	Data    string `json:"data,omitempty"`
}

// SimBlockResult is one simulated block: the block, its calls' results,
// and the senders of its transactions (which carry no signature).
type SimBlockResult struct {
	Block   *types.Block
	Calls   []SimCallResult
	Senders map[common.Hash]common.Address
}

// gasBudget is the gas a whole simulation may use (the RPC gas cap).
type gasBudget struct{ remaining uint64 }

func (b *gasBudget) cap(gas uint64) uint64 { return min(gas, b.remaining) }

func (b *gasBudget) consume(amount uint64) error {
	if amount > b.remaining {
		return fmt.Errorf("RPC gas cap exhausted: need %d, remaining %d", amount, b.remaining)
	}
	b.remaining -= amount
	return nil
}

// simulator runs the blocks of one eth_simulateV1 request.
type simulator struct {
	env            *Env
	state          *state.StateDB
	base           *types.Header
	config         *params.ChainConfig
	budget         *gasBudget
	traceTransfers bool
	validate       bool
}

// Simulate runs eth_simulateV1's blocks of calls on top of env's block,
// as geth does: blocks numbered and timed after it (gaps filled with empty
// blocks), state and block overrides per block, base fees and nonces
// checked only with Validation, ether transfers as ERC-7528 logs with
// TraceTransfers.
func Simulate(ctx context.Context, env *Env, opts SimOpts) ([]*SimBlockResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	// The blocks' overrides are filled in as the chain is sanitized: the
	// caller's are left as they are, so that it can run again.
	blocks := make([]SimBlock, len(opts.BlockStateCalls))
	for i, b := range opts.BlockStateCalls {
		if b.BlockOverrides != nil {
			o := *b.BlockOverrides
			b.BlockOverrides = &o
		}
		blocks[i] = b
	}
	opts.BlockStateCalls = blocks
	sim := &simulator{
		env: env, state: env.State, base: env.Header, config: env.Config,
		budget: &gasBudget{GasCap}, traceTransfers: opts.TraceTransfers, validate: opts.Validation,
	}
	blocks, err := sim.sanitizeChain(opts.BlockStateCalls)
	if err != nil {
		return nil, err
	}
	headers, err := sim.makeHeaders(blocks)
	if err != nil {
		return nil, err
	}
	results := make([]*SimBlockResult, len(blocks))
	parent := sim.base
	for i := range blocks {
		res, err := sim.processBlock(ctx, &blocks[i], headers[i], parent, headers[:i])
		if serr := env.failed(); serr != nil {
			return nil, serr
		}
		if err != nil {
			return nil, err
		}
		if err := sim.state.Error(); err != nil {
			return nil, fmt.Errorf("%w: state root of simulated block %d: %w", ErrUnprovable, res.Block.Number(), err)
		}
		headers[i] = res.Block.Header()
		results[i] = res
		parent = headers[i]
	}
	return results, nil
}

func (sim *simulator) processBlock(ctx context.Context, block *SimBlock, header, parent *types.Header, headers []*types.Header) (*SimBlockResult, error) {
	cfg := sim.config
	header.ParentHash = parent.Hash()
	if cfg.IsLondon(header.Number) && header.BaseFee == nil {
		// Without validation the base fee is zero unless overridden: a
		// gas price below it would break the EVM.
		if sim.validate {
			header.BaseFee = eip1559.CalcBaseFee(cfg, parent)
		} else {
			header.BaseFee = big.NewInt(0)
		}
	}
	if cfg.IsCancun(header.Number, header.Time) {
		var excess uint64
		if cfg.IsCancun(parent.Number, parent.Time) {
			excess = eip4844.CalcExcessBlobGas(cfg, parent, header.Time)
		}
		header.ExcessBlobGas = &excess
	}
	chain := &simChain{ChainContext: sim.env.Chain, base: sim.base, headers: headers}
	blockCtx := core.NewEVMBlockContext(header, chain, nil)
	if block.BlockOverrides.BlobBaseFee != nil {
		blockCtx.BlobBaseFee = block.BlockOverrides.BlobBaseFee.ToInt()
	}
	precompiles := vm.ActivePrecompiledContracts(cfg.Rules(header.Number, header.Difficulty.Sign() == 0, header.Time))
	if block.StateOverrides != nil {
		if err := block.StateOverrides.Apply(sim.state, precompiles); err != nil {
			return nil, err
		}
	}
	var (
		gp             = core.NewGasPool(blockCtx.GasLimit)
		blobGasUsed    uint64
		txs            = make([]*types.Transaction, len(block.Calls))
		calls          = make([]SimCallResult, len(block.Calls))
		receipts       = make([]*types.Receipt, len(block.Calls))
		accessList     = bal.NewConstructionBlockAccessList()
		traceTransfers = sim.traceTransfers && !cfg.IsAmsterdam(header.Number, header.Time)
		tracer         = newLogTracer(traceTransfers, blockCtx.BlockNumber.Uint64(), blockCtx.Time)
		senders        = make(map[common.Hash]common.Address)
		allLogs        []*types.Log
	)
	hooked := vm.StateDB(sim.state)
	if hooks := tracer.hooks(); hooks != nil {
		hooked = state.NewHookedState(sim.state, hooks)
	}
	evm := vm.NewEVM(blockCtx, hooked, cfg, vm.Config{NoBaseFee: !sim.validate, Tracer: tracer.hooks()})
	defer evm.Release()
	evm.SetPrecompiles(precompiles)
	stop := context.AfterFunc(ctx, evm.Cancel)
	defer stop()
	accessList.Merge(core.PreExecution(ctx, header.ParentBeaconRoot, parent, cfg, evm, header.Number, header.Time))
	for i, call := range block.Calls {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		capped, err := sim.sanitizeCall(&call, header, gp)
		if err != nil {
			return nil, err
		}
		if !sim.validate {
			// EIP-2681 limits the nonce even when nonces are not checked.
			if from := call.from(); sim.state.GetNonce(from) == math.MaxUint64 {
				return nil, TxValidationError(fmt.Errorf("%w: address %v, nonce: %d", core.ErrNonceMax, from.Hex(), uint64(math.MaxUint64)))
			}
		}
		tx := call.toTransaction()
		txs[i] = tx
		senders[tx.Hash()] = call.from()
		tracer.reset(tx.Hash(), uint(i))
		sim.state.SetTxContext(tx.Hash(), i, uint32(i+1))
		msg := call.message(header.BaseFee, !sim.validate)
		if !sim.validate {
			msg.SkipExecutionGasCapCheck()
		}
		result, err := core.ApplyMessage(evm, msg, gp)
		switch {
		case evm.Cancelled():
			return nil, TxValidationError(fmt.Errorf("execution aborted (timeout = %v)", Timeout))
		case err != nil:
			return nil, TxValidationError(fmt.Errorf("err: %w (supplied gas %d)", err, msg.GasLimit))
		}
		var root []byte
		if cfg.IsByzantium(blockCtx.BlockNumber) {
			accessList.Merge(hooked.Finalise(evm.GetRules()))
		} else {
			root = sim.state.IntermediateRoot(evm.GetRules()).Bytes()
		}
		receipts[i] = core.MakeReceipt(evm, result, sim.state, blockCtx.BlockNumber, common.Hash{}, blockCtx.Time, tx, gp.CumulativeUsed(), root)
		blobGasUsed += receipts[i].BlobGasUsed
		if err := sim.budget.consume(result.UsedGas); err != nil {
			return nil, err
		}
		res := SimCallResult{ReturnValue: result.Return(), Logs: tracer.logs(), GasUsed: hexutil.Uint64(result.UsedGas), MaxUsedGas: hexutil.Uint64(result.MaxUsedGas)}
		if result.Failed() {
			res.Status = hexutil.Uint64(types.ReceiptStatusFailed)
			if errors.Is(result.Err, vm.ErrExecutionReverted) {
				revert := NewRevertError(result.Revert())
				res.Error = &CallError{Message: revert.Error(), Code: revert.ErrorCode(), Data: revert.ErrorData().(string)}
			} else {
				msg := result.Err.Error()
				if capped {
					msg += " (gas limit was capped by the RPC server's global gas cap)"
				}
				res.Error = &CallError{Message: msg, Code: errCodeVMError}
			}
		} else {
			res.Status = hexutil.Uint64(types.ReceiptStatusSuccessful)
			allLogs = append(allLogs, res.Logs...)
		}
		calls[i] = res
	}
	header.GasUsed = gp.Used()
	if cfg.IsCancun(header.Number, header.Time) {
		header.BlobGasUsed = &blobGasUsed
	}
	body := &types.Body{Transactions: txs}
	if cfg.IsShanghai(header.Number, header.Time) {
		body.Withdrawals = *block.BlockOverrides.Withdrawals
	}
	requests, postAccessList, err := core.PostExecution(ctx, cfg, header.Number, header.Time, allLogs, body.Withdrawals, evm, uint32(len(block.Calls)+1))
	if err != nil {
		return nil, err
	}
	if requests != nil {
		h := types.CalcRequestsHash(requests)
		header.RequestsHash = &h
	}
	accessList.Merge(postAccessList)
	sim.env.Chain.Engine().Finalize(chain, header, sim.state, body)
	b := core.AssembleBlock(chain, header, sim.state, body, receipts, accessList)
	for i := range calls {
		for _, l := range calls[i].Logs {
			l.BlockHash = b.Hash()
		}
	}
	return &SimBlockResult{Block: b, Calls: calls, Senders: senders}, nil
}

// sanitizeCall fills in a call's nonce and gas (what the block has left,
// within the simulation's budget) and geth's call defaults; it reports
// whether the budget cut the gas.
func (sim *simulator) sanitizeCall(call *TransactionArgs, header *types.Header, gp *core.GasPool) (bool, error) {
	if call.Nonce == nil {
		nonce := sim.state.GetNonce(call.from())
		call.Nonce = (*hexutil.Uint64)(&nonce)
	}
	amsterdam := sim.config.IsAmsterdam(header.Number, header.Time)
	remaining := gp.Available(amsterdam)
	if amsterdam && !sim.validate {
		remaining = min(remaining, header.GasLimit-gp.CumulativeExecution())
	}
	if call.Gas == nil {
		call.Gas = (*hexutil.Uint64)(&remaining)
	}
	if remaining < uint64(*call.Gas) {
		return false, &BlockGasLimitReachedError{fmt.Sprintf("block gas limit reached: remaining: %d, required: %d", remaining, *call.Gas)}
	}
	gas := sim.budget.cap(uint64(*call.Gas))
	capped := gas < uint64(*call.Gas)
	call.Gas = (*hexutil.Uint64)(&gas)
	return capped, call.callDefaults(0, header.BaseFee, sim.config.ChainID)
}

// sanitizeChain numbers and times the blocks after the base block (each
// strictly after the one before), filling gaps in numbers with empty
// blocks. It changes the blocks' overrides.
func (sim *simulator) sanitizeChain(blocks []SimBlock) ([]SimBlock, error) {
	var (
		res        = make([]SimBlock, 0, len(blocks))
		base       = sim.base
		prevNumber = base.Number
		prevTime   = base.Time
	)
	for _, block := range blocks {
		if block.BlockOverrides == nil {
			block.BlockOverrides = new(BlockOverrides)
		}
		if block.BlockOverrides.Number == nil {
			block.BlockOverrides.Number = (*hexutil.Big)(new(big.Int).Add(prevNumber, big.NewInt(1)))
		}
		if block.BlockOverrides.Withdrawals == nil {
			block.BlockOverrides.Withdrawals = &types.Withdrawals{}
		}
		diff := new(big.Int).Sub(block.BlockOverrides.Number.ToInt(), prevNumber)
		if diff.Sign() <= 0 {
			return nil, &InvalidBlockNumberError{fmt.Sprintf("block numbers must be in order: %d <= %d", block.BlockOverrides.Number.ToInt().Uint64(), prevNumber)}
		}
		if total := new(big.Int).Sub(block.BlockOverrides.Number.ToInt(), base.Number); total.Cmp(big.NewInt(maxSimulateBlocks)) > 0 {
			return nil, &ClientLimitExceededError{"too many blocks"}
		}
		if diff.Cmp(big.NewInt(1)) > 0 {
			gap := new(big.Int).Sub(diff, big.NewInt(1))
			for i := uint64(0); i < gap.Uint64(); i++ {
				n := new(big.Int).Add(prevNumber, new(big.Int).SetUint64(i+1))
				t := prevTime + timestampIncrement
				res = append(res, SimBlock{BlockOverrides: &BlockOverrides{Number: (*hexutil.Big)(n), Time: (*hexutil.Uint64)(&t), Withdrawals: &types.Withdrawals{}}})
				prevTime = t
			}
		}
		prevNumber = block.BlockOverrides.Number.ToInt()
		var t uint64
		if block.BlockOverrides.Time == nil {
			t = prevTime + timestampIncrement
			block.BlockOverrides.Time = (*hexutil.Uint64)(&t)
		} else if t = uint64(*block.BlockOverrides.Time); t <= prevTime {
			return nil, &InvalidBlockTimestampError{fmt.Sprintf("block timestamps must be in order: %d <= %d", t, prevTime)}
		}
		prevTime = t
		res = append(res, block)
	}
	return res, nil
}

// makeHeaders makes the simulated blocks' headers with what is known before
// they run.
func (sim *simulator) makeHeaders(blocks []SimBlock) ([]*types.Header, error) {
	res := make([]*types.Header, len(blocks))
	header := sim.base
	for i, block := range blocks {
		o := block.BlockOverrides
		if o == nil || o.Number == nil {
			return nil, errors.New("empty block number")
		}
		number, timestamp := o.Number.ToInt(), uint64(*o.Time)
		var withdrawalsHash *common.Hash
		if sim.config.IsShanghai(number, timestamp) {
			withdrawalsHash = &types.EmptyWithdrawalsHash
		}
		var beaconRoot *common.Hash
		if sim.config.IsCancun(number, timestamp) {
			beaconRoot = &common.Hash{}
			if o.BeaconRoot != nil {
				beaconRoot = o.BeaconRoot
			}
		}
		// Blocks after the merge have no difficulty: without this, forks
		// after it would stay inactive.
		difficulty := header.Difficulty
		if sim.config.IsPostMerge(number.Uint64(), timestamp) {
			difficulty = big.NewInt(0)
		}
		if o.Difficulty != nil && difficulty.Sign() == 0 {
			return nil, &InvalidParamsError{fmt.Sprintf("block %d: difficulty override is not allowed after the merge", number)}
		}
		var slot *uint64
		if header.SlotNumber != nil {
			s := *header.SlotNumber + 1
			slot = &s
		}
		header = o.Header(&types.Header{
			UncleHash:        types.EmptyUncleHash,
			ReceiptHash:      types.EmptyReceiptsHash,
			TxHash:           types.EmptyTxsHash,
			Coinbase:         header.Coinbase,
			Difficulty:       difficulty,
			GasLimit:         header.GasLimit,
			WithdrawalsHash:  withdrawalsHash,
			ParentBeaconRoot: beaconRoot,
			SlotNumber:       slot,
		})
		res[i] = header
	}
	return res, nil
}

// simChain gives the simulated blocks their headers: the chain's up to the
// base block, the simulated ones above it.
type simChain struct {
	core.ChainContext
	base    *types.Header
	headers []*types.Header
}

var _ consensus.ChainHeaderReader = (*simChain)(nil)

func (c *simChain) GetHeader(hash common.Hash, number uint64) *types.Header {
	h := c.GetHeaderByNumber(number)
	if h == nil || h.Hash() != hash {
		return nil
	}
	return h
}

func (c *simChain) GetHeaderByNumber(number uint64) *types.Header {
	switch base := c.base.Number.Uint64(); {
	case number == base:
		return c.base
	case number < base:
		return c.ChainContext.GetHeaderByNumber(number)
	}
	for _, h := range c.headers {
		if h.Number.Uint64() == number {
			return h
		}
	}
	return nil
}

func (c *simChain) GetHeaderByHash(hash common.Hash) *types.Header {
	if c.base.Hash() == hash {
		return c.base
	}
	if h := c.ChainContext.GetHeaderByHash(hash); h != nil {
		return h
	}
	for _, h := range c.headers {
		if h.Hash() == hash {
			return h
		}
	}
	return nil
}

// toTransaction makes an unsigned transaction of a simulated call
// (defaulted), as geth does: a dynamic fee transaction unless the call's
// fields ask for another type.
func (args *TransactionArgs) toTransaction() *types.Transaction {
	typ := types.DynamicFeeTxType
	switch {
	case args.AuthorizationList != nil:
		typ = types.SetCodeTxType
	case args.BlobHashes != nil:
		typ = types.BlobTxType
	}
	if args.GasPrice != nil {
		typ = types.LegacyTxType
		if args.AccessList != nil {
			typ = types.AccessListTxType
		}
	}
	al := types.AccessList{}
	if args.AccessList != nil {
		al = *args.AccessList
	}
	u := func(b *hexutil.Big) *uint256.Int { return uint256.MustFromBig((*big.Int)(b)) }
	var data types.TxData
	switch typ {
	case types.SetCodeTxType:
		auths := []types.SetCodeAuthorization{}
		if args.AuthorizationList != nil {
			auths = args.AuthorizationList
		}
		data = &types.SetCodeTx{To: *args.To, ChainID: u(args.ChainID), Nonce: uint64(*args.Nonce), Gas: uint64(*args.Gas),
			GasFeeCap: u(args.MaxFeePerGas), GasTipCap: u(args.MaxPriorityFeePerGas), Value: u(args.Value), Data: args.data(), AccessList: al, AuthList: auths}
	case types.BlobTxType:
		data = &types.BlobTx{To: *args.To, ChainID: u(args.ChainID), Nonce: uint64(*args.Nonce), Gas: uint64(*args.Gas),
			GasFeeCap: u(args.MaxFeePerGas), GasTipCap: u(args.MaxPriorityFeePerGas), Value: u(args.Value), Data: args.data(), AccessList: al,
			BlobHashes: args.BlobHashes, BlobFeeCap: u(args.BlobFeeCap)}
	case types.DynamicFeeTxType:
		data = &types.DynamicFeeTx{To: args.To, ChainID: (*big.Int)(args.ChainID), Nonce: uint64(*args.Nonce), Gas: uint64(*args.Gas),
			GasFeeCap: (*big.Int)(args.MaxFeePerGas), GasTipCap: (*big.Int)(args.MaxPriorityFeePerGas), Value: (*big.Int)(args.Value), Data: args.data(), AccessList: al}
	case types.AccessListTxType:
		data = &types.AccessListTx{To: args.To, ChainID: (*big.Int)(args.ChainID), Nonce: uint64(*args.Nonce), Gas: uint64(*args.Gas),
			GasPrice: (*big.Int)(args.GasPrice), Value: (*big.Int)(args.Value), Data: args.data(), AccessList: *args.AccessList}
	default:
		data = &types.LegacyTx{To: args.To, Nonce: uint64(*args.Nonce), Gas: uint64(*args.Gas), GasPrice: (*big.Int)(args.GasPrice),
			Value: (*big.Int)(args.Value), Data: args.data()}
	}
	return types.NewTx(data)
}
