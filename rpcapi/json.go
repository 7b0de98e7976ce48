package rpcapi

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/client"
)

// The JSON in this file is go-ethereum's (internal/ethapi, v1.17.10): the
// same field names, encodings and presence rules, so that libraries written
// against geth read the client's answers unchanged. The end-to-end tests
// compare it with a geth node's own answers.

// MarshalHeader is a header as eth_getBlockBy* and newHeads give it.
func MarshalHeader(h *types.Header) map[string]any {
	m := map[string]any{
		"number":           (*hexutil.Big)(h.Number),
		"hash":             h.Hash(),
		"parentHash":       h.ParentHash,
		"nonce":            h.Nonce,
		"mixHash":          h.MixDigest,
		"sha3Uncles":       h.UncleHash,
		"logsBloom":        h.Bloom,
		"stateRoot":        h.Root,
		"miner":            h.Coinbase,
		"difficulty":       (*hexutil.Big)(h.Difficulty),
		"extraData":        hexutil.Bytes(h.Extra),
		"gasLimit":         hexutil.Uint64(h.GasLimit),
		"gasUsed":          hexutil.Uint64(h.GasUsed),
		"timestamp":        hexutil.Uint64(h.Time),
		"transactionsRoot": h.TxHash,
		"receiptsRoot":     h.ReceiptHash,
	}
	// Fields of later forks appear only when the header has them.
	if h.BaseFee != nil {
		m["baseFeePerGas"] = (*hexutil.Big)(h.BaseFee)
	}
	if h.WithdrawalsHash != nil {
		m["withdrawalsRoot"] = h.WithdrawalsHash
	}
	if h.BlobGasUsed != nil {
		m["blobGasUsed"] = hexutil.Uint64(*h.BlobGasUsed)
	}
	if h.ExcessBlobGas != nil {
		m["excessBlobGas"] = hexutil.Uint64(*h.ExcessBlobGas)
	}
	if h.ParentBeaconRoot != nil {
		m["parentBeaconBlockRoot"] = h.ParentBeaconRoot
	}
	if h.RequestsHash != nil {
		m["requestsHash"] = h.RequestsHash
	}
	if h.BlockAccessListHash != nil {
		m["blockAccessListHash"] = h.BlockAccessListHash
	}
	if h.SlotNumber != nil {
		m["slotNumber"] = hexutil.Uint64(*h.SlotNumber)
	}
	return m
}

// MarshalBlock is a block as eth_getBlockBy* give it: transaction hashes,
// or full transactions when fullTx is set (and none unless inclTx).
func MarshalBlock(b *types.Block, inclTx, fullTx bool, config *params.ChainConfig) map[string]any {
	m := MarshalHeader(b.Header())
	m["size"] = hexutil.Uint64(b.Size())
	if inclTx {
		txs := b.Transactions()
		out := make([]any, len(txs))
		for i, tx := range txs {
			if fullTx {
				out[i] = NewRPCTransaction(tx, b.Hash(), b.NumberU64(), b.Time(), uint64(i), b.BaseFee(), config)
			} else {
				out[i] = tx.Hash()
			}
		}
		m["transactions"] = out
	}
	uncles := make([]common.Hash, len(b.Uncles()))
	for i, u := range b.Uncles() {
		uncles[i] = u.Hash()
	}
	m["uncles"] = uncles
	if b.Withdrawals() != nil {
		m["withdrawals"] = b.Withdrawals()
	}
	return m
}

// RPCTransaction is a transaction as eth_getTransactionBy* give it.
type RPCTransaction struct {
	BlockHash           *common.Hash                 `json:"blockHash"`
	BlockNumber         *hexutil.Big                 `json:"blockNumber"`
	BlockTimestamp      *hexutil.Uint64              `json:"blockTimestamp"`
	From                common.Address               `json:"from"`
	Gas                 hexutil.Uint64               `json:"gas"`
	GasPrice            *hexutil.Big                 `json:"gasPrice"`
	GasFeeCap           *hexutil.Big                 `json:"maxFeePerGas,omitempty"`
	GasTipCap           *hexutil.Big                 `json:"maxPriorityFeePerGas,omitempty"`
	MaxFeePerBlobGas    *hexutil.Big                 `json:"maxFeePerBlobGas,omitempty"`
	Hash                common.Hash                  `json:"hash"`
	Input               hexutil.Bytes                `json:"input"`
	Nonce               hexutil.Uint64               `json:"nonce"`
	To                  *common.Address              `json:"to"`
	TransactionIndex    *hexutil.Uint64              `json:"transactionIndex"`
	Value               *hexutil.Big                 `json:"value"`
	Type                hexutil.Uint64               `json:"type"`
	Accesses            *types.AccessList            `json:"accessList,omitempty"`
	ChainID             *hexutil.Big                 `json:"chainId,omitempty"`
	BlobVersionedHashes []common.Hash                `json:"blobVersionedHashes,omitempty"`
	AuthorizationList   []types.SetCodeAuthorization `json:"authorizationList,omitempty"`
	V                   *hexutil.Big                 `json:"v"`
	R                   *hexutil.Big                 `json:"r"`
	S                   *hexutil.Big                 `json:"s"`
	YParity             *hexutil.Uint64              `json:"yParity,omitempty"`
}

// NewRPCTransaction describes tx at position index of a block. A zero
// blockHash leaves the block fields null (a pending transaction).
func NewRPCTransaction(tx *types.Transaction, blockHash common.Hash, blockNumber, blockTime, index uint64, baseFee *big.Int, config *params.ChainConfig) *RPCTransaction {
	signer := types.MakeSigner(config, new(big.Int).SetUint64(blockNumber), blockTime)
	from, _ := types.Sender(signer, tx)
	v, r, s := tx.RawSignatureValues()
	out := &RPCTransaction{
		Type:     hexutil.Uint64(tx.Type()),
		From:     from,
		Gas:      hexutil.Uint64(tx.Gas()),
		GasPrice: (*hexutil.Big)(tx.GasPrice()),
		Hash:     tx.Hash(),
		Input:    tx.Data(),
		Nonce:    hexutil.Uint64(tx.Nonce()),
		To:       tx.To(),
		Value:    (*hexutil.Big)(tx.Value()),
		V:        (*hexutil.Big)(v),
		R:        (*hexutil.Big)(r),
		S:        (*hexutil.Big)(s),
	}
	mined := blockHash != (common.Hash{})
	if mined {
		out.BlockHash = &blockHash
		out.BlockNumber = (*hexutil.Big)(new(big.Int).SetUint64(blockNumber))
		out.BlockTimestamp = (*hexutil.Uint64)(&blockTime)
		out.TransactionIndex = (*hexutil.Uint64)(&index)
	}
	if tx.Type() == types.LegacyTxType {
		if id := tx.ChainId(); id.Sign() != 0 {
			out.ChainID = (*hexutil.Big)(id)
		}
		return out
	}
	// Every typed transaction has an access list, a chain id and a parity.
	al := tx.AccessList()
	parity := hexutil.Uint64(v.Sign())
	out.Accesses = &al
	out.ChainID = (*hexutil.Big)(tx.ChainId())
	out.YParity = &parity
	if tx.Type() == types.AccessListTxType {
		return out
	}
	// 1559-style fees: dynamic fee, blob and set-code transactions.
	out.GasFeeCap = (*hexutil.Big)(tx.GasFeeCap())
	out.GasTipCap = (*hexutil.Big)(tx.GasTipCap())
	out.GasPrice = (*hexutil.Big)(tx.GasFeeCap())
	if mined && baseFee != nil {
		out.GasPrice = (*hexutil.Big)(effectiveGasPrice(tx, baseFee))
	}
	switch tx.Type() {
	case types.BlobTxType:
		out.MaxFeePerBlobGas = (*hexutil.Big)(tx.BlobGasFeeCap())
		out.BlobVersionedHashes = tx.BlobHashes()
	case types.SetCodeTxType:
		out.AuthorizationList = tx.SetCodeAuthorizations()
	}
	return out
}

// NewRPCPendingTransaction describes a transaction in the pool, priced at
// the base fee of the block after current.
func NewRPCPendingTransaction(tx *types.Transaction, current *types.Header, config *params.ChainConfig) *RPCTransaction {
	var (
		baseFee           *big.Int
		number, blockTime uint64
	)
	if current != nil {
		baseFee = eip1559.CalcBaseFee(config, current)
		number, blockTime = current.Number.Uint64(), current.Time
	}
	return NewRPCTransaction(tx, common.Hash{}, number, blockTime, 0, baseFee, config)
}

// effectiveGasPrice is min(tip + baseFee, feeCap).
func effectiveGasPrice(tx *types.Transaction, baseFee *big.Int) *big.Int {
	price := new(big.Int).Add(tx.GasTipCap(), baseFee)
	if tx.GasFeeCapIntCmp(price) < 0 {
		return tx.GasFeeCap()
	}
	return price
}

// MarshalReceipt is a receipt as eth_getTransactionReceipt gives it. The
// receipt must have its derived fields set.
func MarshalReceipt(r *types.Receipt, blockHash common.Hash, blockNumber uint64, signer types.Signer, tx *types.Transaction, txIndex int) map[string]any {
	from, _ := types.Sender(signer, tx)
	logs := r.Logs
	if logs == nil {
		logs = []*types.Log{}
	}
	m := map[string]any{
		"blockHash":         blockHash,
		"blockNumber":       hexutil.Uint64(blockNumber),
		"transactionHash":   tx.Hash(),
		"transactionIndex":  hexutil.Uint64(txIndex),
		"from":              from,
		"to":                tx.To(),
		"gasUsed":           hexutil.Uint64(r.GasUsed),
		"cumulativeGasUsed": hexutil.Uint64(r.CumulativeGasUsed),
		"contractAddress":   nil,
		"logs":              logs,
		"logsBloom":         r.Bloom,
		"type":              hexutil.Uint(tx.Type()),
		"effectiveGasPrice": (*hexutil.Big)(r.EffectiveGasPrice),
	}
	if len(r.PostState) > 0 {
		m["root"] = hexutil.Bytes(r.PostState)
	} else {
		m["status"] = hexutil.Uint(r.Status)
	}
	if tx.Type() == types.BlobTxType {
		m["blobGasUsed"] = hexutil.Uint64(r.BlobGasUsed)
		m["blobGasPrice"] = (*hexutil.Big)(r.BlobGasPrice)
	}
	if r.ContractAddress != (common.Address{}) {
		m["contractAddress"] = r.ContractAddress
	}
	return m
}

// AccountResult is the answer of eth_getProof.
type AccountResult struct {
	Address      common.Address  `json:"address"`
	AccountProof []string        `json:"accountProof"`
	Balance      *hexutil.Big    `json:"balance"`
	CodeHash     common.Hash     `json:"codeHash"`
	Nonce        hexutil.Uint64  `json:"nonce"`
	StorageHash  common.Hash     `json:"storageHash"`
	StorageProof []StorageResult `json:"storageProof"`
}

// StorageResult is one slot of an eth_getProof answer.
type StorageResult struct {
	Key   string       `json:"key"`
	Value *hexutil.Big `json:"value"`
	Proof []string     `json:"proof"`
}

// NewAccountResult renders verified state as eth_getProof does. keyLengths
// are the byte lengths of the keys as the caller wrote them: a 32-byte key
// is echoed as 32 bytes, a shorter one as a quantity. A missing account has
// zero code and storage hashes, as in geth.
func NewAccountResult(st *client.AccountState, keyLengths []int) *AccountResult {
	res := &AccountResult{
		Address:      st.Address,
		AccountProof: hexList(st.Proof),
		Balance:      (*hexutil.Big)(st.Balance()),
		Nonce:        hexutil.Uint64(st.Nonce()),
		StorageProof: make([]StorageResult, len(st.Slots)),
	}
	if st.Account != nil {
		res.CodeHash = st.CodeHash()
		res.StorageHash = st.StorageRoot()
	}
	emptyStorage := res.StorageHash == types.EmptyRootHash || res.StorageHash == (common.Hash{})
	for i, slot := range st.Slots {
		key := hexutil.EncodeBig(slot.Big())
		if keyLengths[i] == common.HashLength {
			key = hexutil.Encode(slot[:])
		}
		proof := []string{}
		if !emptyStorage {
			proof = hexList(st.SlotProofs[i])
		}
		res.StorageProof[i] = StorageResult{Key: key, Value: (*hexutil.Big)(st.Values[i].Big()), Proof: proof}
	}
	return res
}

func hexList(nodes [][]byte) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = hexutil.Encode(n)
	}
	return out
}
