package evmcall

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/consensus"
	"github.com/ethereum/go-ethereum/consensus/beacon"
	"github.com/ethereum/go-ethereum/consensus/ethash"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
)

// headerChain is a chain of one header.
type headerChain struct{ header *types.Header }

func (c headerChain) Config() *params.ChainConfig                 { return params.MergedTestChainConfig }
func (c headerChain) CurrentHeader() *types.Header                { return c.header }
func (c headerChain) GetHeader(common.Hash, uint64) *types.Header { return nil }
func (c headerChain) GetHeaderByNumber(uint64) *types.Header      { return nil }
func (c headerChain) GetHeaderByHash(common.Hash) *types.Header   { return nil }
func (c headerChain) Engine() consensus.Engine                    { return beacon.New(ethash.NewFaker()) }

// TestCallStopsAtTheDeadline runs a call that would loop until its gas
// (the cap, about 60 ms of looping) is gone: it ends at the caller's
// deadline, as an aborted execution, and a call after it runs normally
// (the EVM's stack went back to go-ethereum's pool).
func TestCallStopsAtTheDeadline(t *testing.T) {
	header := &types.Header{Number: big.NewInt(1), Time: 1, GasLimit: 30_000_000, BaseFee: big.NewInt(params.InitialBaseFee), Difficulty: new(big.Int)}
	env := func() *Env {
		st, err := state.New(types.EmptyRootHash, state.NewDatabaseForTesting())
		if err != nil {
			t.Fatal(err)
		}
		return &Env{Config: params.MergedTestChainConfig, Chain: headerChain{header}, Header: header, State: st}
	}
	loop, answer := common.Address{0x10}, common.Address{0x20}
	overrides := StateOverride{
		loop:   {Code: ptr(hexutil.Bytes{0x5b, 0x60, 0x00, 0x56})},                                     // JUMPDEST PUSH1 0 JUMP
		answer: {Code: ptr(hexutil.Bytes{0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3})}, // MSTORE 42, RETURN 32 bytes
	}
	gas := hexutil.Uint64(1 << 40)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Call(ctx, env(), TransactionArgs{To: &loop, Gas: &gas}, &overrides, nil)
	if err == nil || !strings.Contains(err.Error(), "execution aborted") {
		t.Fatalf("a call that loops: %v, want an aborted execution", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the loop stopped after %v", took)
	}
	res, err := Call(context.Background(), env(), TransactionArgs{To: &answer}, &overrides, nil)
	if err != nil || res.Err != nil || new(big.Int).SetBytes(res.ReturnData).Int64() != 42 {
		t.Fatalf("a call after: %v %+v", err, res)
	}
}

func ptr[T any](v T) *T { return &v }
