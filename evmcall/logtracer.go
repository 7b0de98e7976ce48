package evmcall

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
)

// ERC-7528: ether transfers shown as ERC-20 Transfer logs of this address.
var (
	transferTopic   = common.HexToHash("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef") // Transfer(address,address,uint256)
	transferAddress = common.HexToAddress("0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE")
)

// logTracer collects a simulated call's logs by call frame, dropping the
// logs of frames that revert, and, with traceTransfers, shows every ether
// transfer (call value, transaction value) as a log.
type logTracer struct {
	frames         [][]*types.Log
	count          int
	traceTransfers bool
	blockNumber    uint64
	blockTime      uint64
	txHash         common.Hash
	txIndex        uint
}

func newLogTracer(traceTransfers bool, blockNumber, blockTime uint64) *logTracer {
	return &logTracer{traceTransfers: traceTransfers, blockNumber: blockNumber, blockTime: blockTime}
}

func (t *logTracer) hooks() *tracing.Hooks {
	return &tracing.Hooks{OnEnter: t.onEnter, OnExit: t.onExit, OnLog: t.onLog}
}

func (t *logTracer) onEnter(depth int, typ byte, from, to common.Address, input []byte, gas uint64, value *big.Int) {
	t.frames = append(t.frames, make([]*types.Log, 0))
	if op := vm.OpCode(typ); op != vm.DELEGATECALL && op != vm.CALLCODE && value != nil && value.Sign() > 0 && t.traceTransfers {
		t.capture(transferAddress, []common.Hash{transferTopic, common.BytesToHash(from.Bytes()), common.BytesToHash(to.Bytes())}, common.BigToHash(value).Bytes())
	}
}

func (t *logTracer) onExit(depth int, output []byte, gasUsed uint64, err error, reverted bool) {
	if depth == 0 {
		if reverted {
			t.count -= len(t.frames[0])
			t.frames[0] = nil
		}
		return
	}
	n := len(t.frames)
	if n <= 1 {
		return
	}
	frame := t.frames[n-1]
	t.frames = t.frames[:n-1]
	if reverted {
		t.count -= len(frame) // the latest logs: their indexes are free again
	} else {
		t.frames[n-2] = append(t.frames[n-2], frame...)
	}
}

func (t *logTracer) onLog(l *types.Log) { t.capture(l.Address, l.Topics, l.Data) }

func (t *logTracer) capture(addr common.Address, topics []common.Hash, data []byte) {
	t.frames[len(t.frames)-1] = append(t.frames[len(t.frames)-1], &types.Log{
		Address: addr, Topics: topics, Data: data,
		BlockNumber: t.blockNumber, BlockTimestamp: t.blockTime,
		TxHash: t.txHash, TxIndex: t.txIndex, Index: uint(t.count),
	})
	t.count++
}

// reset starts the next transaction.
func (t *logTracer) reset(txHash common.Hash, index uint) {
	t.frames, t.txHash, t.txIndex = nil, txHash, index
}

func (t *logTracer) logs() []*types.Log { return t.frames[0] }
