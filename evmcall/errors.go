package evmcall

import (
	"errors"

	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/vm"
)

// JSON-RPC error codes of execution, geth's (execution-apis).
const (
	errCodeNonceTooHigh            = -38011
	errCodeNonceTooLow             = -38010
	errCodeBaseFeeTooLow           = -38012
	errCodeIntrinsicGas            = -38013
	errCodeInsufficientFunds       = -38014
	errCodeBlockGasLimitReached    = -38015
	errCodeBlockNumberInvalid      = -38020
	errCodeBlockTimestampInvalid   = -38021
	errCodeSenderIsNotEOA          = -38024
	errCodeMaxInitCodeSizeExceeded = -38025
	errCodeClientLimitExceeded     = -38026
	errCodeInternalError           = -32603
	errCodeInvalidParams           = -32602
	errCodeVMError                 = -32015
)

// InvalidParamsError is JSON-RPC's "invalid params" (-32602).
type InvalidParamsError struct{ Message string }

func (e *InvalidParamsError) Error() string { return e.Message }

// ErrorCode implements rpc.Error.
func (e *InvalidParamsError) ErrorCode() int { return errCodeInvalidParams }

// ClientLimitExceededError is a request over a limit (-38026).
type ClientLimitExceededError struct{ Message string }

func (e *ClientLimitExceededError) Error() string { return e.Message }

// ErrorCode implements rpc.Error.
func (e *ClientLimitExceededError) ErrorCode() int { return errCodeClientLimitExceeded }

// InvalidBlockNumberError is a simulated block out of order (-38020).
type InvalidBlockNumberError struct{ Message string }

func (e *InvalidBlockNumberError) Error() string { return e.Message }

// ErrorCode implements rpc.Error.
func (e *InvalidBlockNumberError) ErrorCode() int { return errCodeBlockNumberInvalid }

// InvalidBlockTimestampError is a simulated block's time out of order
// (-38021).
type InvalidBlockTimestampError struct{ Message string }

func (e *InvalidBlockTimestampError) Error() string { return e.Message }

// ErrorCode implements rpc.Error.
func (e *InvalidBlockTimestampError) ErrorCode() int { return errCodeBlockTimestampInvalid }

// BlockGasLimitReachedError is a simulated call asking more gas than its
// block has left (-38015).
type BlockGasLimitReachedError struct{ Message string }

func (e *BlockGasLimitReachedError) Error() string { return e.Message }

// ErrorCode implements rpc.Error.
func (e *BlockGasLimitReachedError) ErrorCode() int { return errCodeBlockGasLimitReached }

// InvalidTxError is a simulated transaction the chain would refuse, with
// the code execution-apis gives its reason.
type InvalidTxError struct {
	Message string `json:"message"`
	Code    int    `json:"code"`
}

func (e *InvalidTxError) Error() string { return e.Message }

// ErrorCode implements rpc.Error.
func (e *InvalidTxError) ErrorCode() int { return e.Code }

// TxValidationError gives a transaction's refusal its code.
func TxValidationError(err error) *InvalidTxError {
	code := errCodeInternalError
	switch {
	case errors.Is(err, core.ErrNonceTooHigh):
		code = errCodeNonceTooHigh
	case errors.Is(err, core.ErrNonceTooLow):
		code = errCodeNonceTooLow
	case errors.Is(err, core.ErrSenderNoEOA):
		code = errCodeSenderIsNotEOA
	case errors.Is(err, core.ErrFeeCapVeryHigh), errors.Is(err, core.ErrTipVeryHigh), errors.Is(err, core.ErrTipAboveFeeCap):
		code = errCodeInvalidParams
	case errors.Is(err, core.ErrFeeCapTooLow):
		code = errCodeBaseFeeTooLow
	case errors.Is(err, core.ErrInsufficientFunds), errors.Is(err, core.ErrInsufficientFundsForTransfer):
		code = errCodeInsufficientFunds
	case errors.Is(err, core.ErrIntrinsicGas):
		code = errCodeIntrinsicGas
	case errors.Is(err, vm.ErrMaxInitCodeSizeExceeded):
		code = errCodeMaxInitCodeSizeExceeded
	}
	return &InvalidTxError{Message: err.Error(), Code: code}
}
