package rpcapi

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
)

// Limits of sending, geth's defaults.
var (
	txFeeCap = big.NewInt(params.Ether) // --rpc.txfeecap: 1 ether
)

const (
	txSyncDefaultTimeout = 20 * time.Second
	txSyncMaxTimeout     = time.Minute
)

// GetTransactionByHash is eth_getTransactionByHash.
func (api *EthAPI) GetTransactionByHash(ctx context.Context, hash common.Hash) (*RPCTransaction, error) {
	info, err := api.c.Transaction(ctx, hash)
	if err != nil || info == nil {
		return nil, err
	}
	cfg := api.c.ChainConfig()
	if info.Header == nil {
		return NewRPCPendingTransaction(info.Tx, api.c.Head(), cfg), nil
	}
	h := info.Header
	return NewRPCTransaction(info.Tx, h.Hash(), h.Number.Uint64(), h.Time, info.Index, h.BaseFee, cfg), nil
}

// GetRawTransactionByHash is eth_getRawTransactionByHash.
func (api *EthAPI) GetRawTransactionByHash(ctx context.Context, hash common.Hash) (hexutil.Bytes, error) {
	info, err := api.c.Transaction(ctx, hash)
	if err != nil || info == nil {
		return nil, err
	}
	return info.Tx.MarshalBinary()
}

// GetTransactionReceipt is eth_getTransactionReceipt.
func (api *EthAPI) GetTransactionReceipt(ctx context.Context, hash common.Hash) (map[string]any, error) {
	info, err := api.c.Transaction(ctx, hash)
	if err != nil || info == nil || info.Header == nil {
		return nil, err
	}
	receipts, err := api.c.Receipts(ctx, info.Header.Hash())
	if err != nil {
		return nil, err
	}
	if info.Index >= uint64(len(receipts)) {
		return nil, fmt.Errorf("receipt %d missing from block %d", info.Index, info.Header.Number)
	}
	h := info.Header
	signer := types.LatestSigner(api.c.ChainConfig())
	return MarshalReceipt(receipts[info.Index], h.Hash(), h.Number.Uint64(), signer, info.Tx, int(info.Index)), nil
}

// SendRawTransaction is eth_sendRawTransaction. Blob transactions come with
// their sidecar.
func (api *EthAPI) SendRawTransaction(ctx context.Context, input hexutil.Bytes) (common.Hash, error) {
	tx, err := api.decodeTx(input)
	if err != nil {
		return common.Hash{}, err
	}
	if err := api.submit(ctx, tx); err != nil {
		return common.Hash{}, err
	}
	return tx.Hash(), nil
}

// decodeTx decodes a signed transaction as geth's eth_sendRawTransaction
// does, converting a blob sidecar to the form the chain's current fork
// wants.
func (api *EthAPI) decodeTx(input []byte) (*types.Transaction, error) {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(input); err != nil {
		return nil, err
	}
	if sc := tx.BlobTxSidecar(); sc != nil && sc.Version == types.BlobSidecarVersion0 {
		if head := api.c.Head(); head != nil && api.c.ChainConfig().IsOsaka(head.Number, head.Time) {
			sc = sc.Copy()
			if err := sc.ToV1(); err != nil {
				return nil, fmt.Errorf("blob sidecar conversion failed: %v", err)
			}
			tx = tx.WithBlobTxSidecar(sc)
		}
	}
	return tx, nil
}

// submit relays tx after geth's checks of a submitted transaction.
func (api *EthAPI) submit(ctx context.Context, tx *types.Transaction) error {
	if err := checkTxFee(tx.GasPrice(), tx.Gas()); err != nil {
		return err
	}
	if !tx.Protected() {
		return errors.New("only replay-protected (EIP-155) transactions allowed over RPC")
	}
	if err := api.c.SendTransaction(ctx, tx); err != nil {
		return err
	}
	api.events.sent(tx, api.c.ChainConfig(), api.c.Head())
	return nil
}

// checkTxFee refuses a transaction whose fee (gas price times gas) exceeds
// the cap, 1 ether, as geth's default --rpc.txfeecap does.
func checkTxFee(gasPrice *big.Int, gas uint64) error {
	fee := new(big.Int).Mul(gasPrice, new(big.Int).SetUint64(gas))
	if fee.Cmp(txFeeCap) <= 0 {
		return nil
	}
	ether := new(big.Rat).SetFrac(fee, big.NewInt(params.Ether))
	capEther := new(big.Rat).SetFrac(txFeeCap, big.NewInt(params.Ether))
	return fmt.Errorf("tx fee (%s ether) exceeds the configured cap (%s ether)", ether.FloatString(2), capEther.FloatString(2))
}

// txSyncTimeoutError is geth's answer when a transaction sent with
// eth_sendRawTransactionSync is not in a block in time: code 4, with the
// transaction's hash as data.
type txSyncTimeoutError struct {
	msg  string
	hash common.Hash
}

func (e *txSyncTimeoutError) Error() string  { return e.msg }
func (e *txSyncTimeoutError) ErrorCode() int { return 4 }
func (e *txSyncTimeoutError) ErrorData() any { return e.hash.Hex() }

// SendRawTransactionSync is eth_sendRawTransactionSync (EIP-7966): send,
// then wait for the receipt, up to timeoutMs (default 20 s, at most 1 min).
func (api *EthAPI) SendRawTransactionSync(ctx context.Context, input hexutil.Bytes, timeoutMs *uint64) (map[string]any, error) {
	tx, err := api.decodeTx(input)
	if err != nil {
		return nil, err
	}
	heads := make(chan *types.Header, 16)
	sub := api.c.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	if err := api.submit(ctx, tx); err != nil {
		return nil, err
	}
	timeout := txSyncDefaultTimeout
	if timeoutMs != nil && *timeoutMs > 0 {
		timeout = min(time.Duration(*timeoutMs)*time.Millisecond, txSyncMaxTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if r, err := api.GetTransactionReceipt(ctx, tx.Hash()); err == nil && r != nil {
			return r, nil
		}
		select {
		case <-heads:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, &txSyncTimeoutError{
					msg:  fmt.Sprintf("The transaction was added to the transaction pool but wasn't processed in %v", timeout),
					hash: tx.Hash(),
				}
			}
			return nil, ctx.Err()
		}
	}
}
