package evmcall

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
)

func TestSimBlockDecoding(t *testing.T) {
	for _, tc := range []struct {
		name, input, err string
	}{
		{"empty", `{}`, ""},
		{"overrides", `{"blockOverrides":{"number":"0x5","time":"0x10"},"stateOverrides":{"0x0000000000000000000000000000000000000001":{"balance":"0x1","movePrecompileToAddress":"0x0000000000000000000000000000000000000009"}},"calls":[{"to":"0x0000000000000000000000000000000000000002"}]}`, ""},
		{"unknown state field", `{"stateOverrides":{"0x0000000000000000000000000000000000000001":{"balanse":"0x1"}}}`, `unknown field "balanse" in state override for 0x0000000000000000000000000000000000000001`},
		{"unknown block field", `{"blockOverrides":{"numbr":"0x1"}}`, `unknown field "numbr" in block override`},
		{"one field twice", `{"blockOverrides":{"number":"0x1","Number":"0x2"}}`, `name the same field`},
		{"case of a field", `{"blockOverrides":{"Number":"0x1"}}`, ""},
		{"bad balance", `{"stateOverrides":{"0x0000000000000000000000000000000000000001":{"balance":"1"}}}`, `hex string without 0x prefix`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b SimBlock
			err := json.Unmarshal([]byte(tc.input), &b)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one saying %q", err, tc.err)
			}
		})
	}
}

func TestCheckSimOpts(t *testing.T) {
	blocks := func(n int) SimOpts { return SimOpts{BlockStateCalls: make([]SimBlock, n)} }
	var invalid *InvalidParamsError
	var limit *ClientLimitExceededError
	if err := CheckSimOpts(blocks(0)); !errors.As(err, &invalid) || invalid.ErrorCode() != -32602 {
		t.Errorf("no blocks: %v", err)
	}
	if err := CheckSimOpts(blocks(maxSimulateBlocks)); err != nil {
		t.Errorf("%d blocks: %v", maxSimulateBlocks, err)
	}
	if err := CheckSimOpts(blocks(maxSimulateBlocks + 1)); !errors.As(err, &limit) || limit.ErrorCode() != -38026 {
		t.Errorf("%d blocks: %v", maxSimulateBlocks+1, err)
	}
}

func TestCallDefaults(t *testing.T) {
	one := (*hexutil.Big)(big.NewInt(1))
	gas := hexutil.Uint64(1 << 40)
	chainID := big.NewInt(1337)
	for _, tc := range []struct {
		name    string
		args    TransactionArgs
		baseFee *big.Int
		err     string
		check   func(TransactionArgs) bool
	}{
		{name: "both fee kinds", args: TransactionArgs{GasPrice: one, MaxFeePerGas: one}, baseFee: big.NewInt(7), err: "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified"},
		{name: "1559 fees before London", args: TransactionArgs{MaxFeePerGas: one}, err: "maxFeePerGas and maxPriorityFeePerGas are not valid before London is active"},
		{name: "other chain", args: TransactionArgs{ChainID: (*hexutil.Big)(big.NewInt(1))}, baseFee: big.NewInt(7), err: "chainId does not match node's (have=1, want=1337)"},
		{name: "defaults after London", args: TransactionArgs{}, baseFee: big.NewInt(7),
			check: func(a TransactionArgs) bool {
				return uint64(*a.Gas) == 50_000_000 && a.Nonce != nil && a.Value != nil && a.MaxFeePerGas != nil
			}},
		{name: "gas above the cap", args: TransactionArgs{Gas: &gas}, baseFee: big.NewInt(7),
			check: func(a TransactionArgs) bool { return uint64(*a.Gas) == 50_000_000 }},
		{name: "legacy defaults", args: TransactionArgs{}, check: func(a TransactionArgs) bool { return a.GasPrice != nil && a.MaxFeePerGas == nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			err := args.callDefaults(50_000_000, tc.baseFee, chainID)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !tc.check(args) {
				t.Fatalf("defaults %+v, error %v", args, err)
			}
		})
	}
	create := TransactionArgs{BlobHashes: []common.Hash{{1}}}
	if err := create.callDefaults(0, big.NewInt(7), chainID); !errors.Is(err, core.ErrBlobTxCreate) {
		t.Errorf("a blob transaction creating a contract: %v", err)
	}
}
