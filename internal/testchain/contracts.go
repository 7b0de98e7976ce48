package testchain

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// The contracts are small enough to write in bytecode; none uses PUSH0,
// which the chain's first blocks predate.

// loggerCode: LOG2(calldata, Ping(uint256), caller); return calldata.
var loggerCode = LoggerCode(PingTopic)

// LoggerCode returns the runtime code of a contract that emits a log with
// two topics, topic and its caller, and its call data as data, and returns
// the call data.
func LoggerCode(topic common.Hash) []byte {
	return concat(
		hexutil.MustDecode("0x3660006000373"+"3"), // CALLDATASIZE 0 0 CALLDATACOPY CALLER
		[]byte{0x7f}, topic[:], // PUSH32 topic
		hexutil.MustDecode("0x366000a2366000f3"), // CALLDATASIZE 0 LOG2 CALLDATASIZE 0 RETURN
	)
}

// reverterCode: revert Nope(7).
var reverterCode = concat(
	[]byte{0x63}, NopeSelector, // PUSH4 selector
	hexutil.MustDecode("0x60e01b600052600760045260246000fd"), // <<224, MSTORE at 0, MSTORE 7 at 4, REVERT(0, 36)
)

// storeCode: with call data, store its first word in slot 0; without,
// return slot 0.
var storeCode = hexutil.MustDecode("0x36600f57600054600052602060" + "00f35b600035600055" + "00")

// bigLoggerCode: seven LOG0 of 256 KiB of memory (zeros).
var bigLoggerCode = func() []byte {
	var code []byte
	for range 7 {
		code = append(code, 0x62, 0x04, 0x00, 0x00, 0x60, 0x00, 0xa0) // PUSH3 262144 PUSH1 0 LOG0
	}
	return append(code, 0x00)
}()

// InitCode returns creation code that deploys runtime (under 256 bytes).
func InitCode(runtime []byte) []byte { return initCode(runtime) }

func initCode(runtime []byte) []byte {
	return concat([]byte{0x60, byte(len(runtime)), 0x80, 0x60, 0x0b, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3}, runtime)
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
