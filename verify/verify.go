// Package verify checks data served by untrusted peers against headers the
// caller already trusts: header hashes and hash chains, transaction,
// withdrawal and receipt tries, account and storage proofs, and code hashes.
//
// It owns no state and does no I/O. Every failure wraps one of the sentinel
// errors below, so callers can tell which check failed with errors.Is and
// count or penalise by kind; the wrapped message says what differed.
package verify

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/trie/trienode"
)

// The checks, one sentinel each. Their text names the check so that an error
// a wallet sees says what a server got wrong.
var (
	ErrHeaderHash      = errors.New("header hash check failed")
	ErrHeaderChain     = errors.New("header chain check failed")
	ErrTxRoot          = errors.New("transactions root check failed")
	ErrUncleHash       = errors.New("uncle hash check failed")
	ErrWithdrawalsRoot = errors.New("withdrawals root check failed")
	ErrReceiptsRoot    = errors.New("receipts root check failed")
	ErrAccountProof    = errors.New("account proof check failed")
	ErrStorageProof    = errors.New("storage proof check failed")
	ErrCodeHash        = errors.New("code hash check failed")
	ErrTxInclusion     = errors.New("transaction inclusion check failed")
	ErrHistoryProof    = errors.New("history proof check failed")
	// ErrBeacon is beacon light-client data that does not verify (package
	// beacon checks it).
	ErrBeacon = errors.New("beacon light-client data check failed")
)

// Kind returns a short name of the check that err failed ("header_hash",
// "account_proof", ...), or "" when err is not a verification failure. It
// is meant for metrics labels and statistics.
func Kind(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return ""
}

var kinds = []struct {
	err  error
	name string
}{
	{ErrHeaderHash, "header_hash"},
	{ErrHeaderChain, "header_chain"},
	{ErrTxRoot, "tx_root"},
	{ErrUncleHash, "uncle_hash"},
	{ErrWithdrawalsRoot, "withdrawals_root"},
	{ErrReceiptsRoot, "receipts_root"},
	{ErrAccountProof, "account_proof"},
	{ErrStorageProof, "storage_proof"},
	{ErrCodeHash, "code_hash"},
	{ErrTxInclusion, "tx_inclusion"},
	{ErrHistoryProof, "history_proof"},
	{ErrBeacon, "beacon"},
}

// Header checks that h hashes to want.
func Header(h *types.Header, want common.Hash) error {
	if h == nil {
		return fmt.Errorf("%w: missing header %x", ErrHeaderHash, want)
	}
	if got := h.Hash(); got != want {
		return fmt.Errorf("%w: header %d hashes to %x, want %x", ErrHeaderHash, h.Number, got, want)
	}
	return nil
}

// Parent checks that parent is the parent of child.
func Parent(child, parent *types.Header) error {
	if parent == nil || child == nil {
		return fmt.Errorf("%w: missing header", ErrHeaderChain)
	}
	if child.ParentHash != parent.Hash() {
		return fmt.Errorf("%w: header %d has parent %x, got %x", ErrHeaderChain, child.Number, child.ParentHash, parent.Hash())
	}
	if child.Number.Uint64() != parent.Number.Uint64()+1 {
		return fmt.Errorf("%w: header %d follows header %d", ErrHeaderChain, child.Number, parent.Number)
	}
	return nil
}

// Body checks that body belongs to the block with header h: its
// transactions, uncles and withdrawals must hash to the header's roots.
func Body(h *types.Header, body *types.Body) error {
	if body == nil {
		return fmt.Errorf("%w: missing body of block %d", ErrTxRoot, h.Number)
	}
	if got := types.DeriveSha(types.Transactions(body.Transactions), trie.NewStackTrie(nil)); got != h.TxHash {
		return fmt.Errorf("%w: block %d transactions hash to %x, header has %x", ErrTxRoot, h.Number, got, h.TxHash)
	}
	if got := types.CalcUncleHash(body.Uncles); got != h.UncleHash {
		return fmt.Errorf("%w: block %d uncles hash to %x, header has %x", ErrUncleHash, h.Number, got, h.UncleHash)
	}
	switch {
	case h.WithdrawalsHash == nil && body.Withdrawals != nil:
		return fmt.Errorf("%w: block %d has withdrawals but its header has no withdrawals root", ErrWithdrawalsRoot, h.Number)
	case h.WithdrawalsHash != nil && body.Withdrawals == nil:
		return fmt.Errorf("%w: block %d withdrawals missing", ErrWithdrawalsRoot, h.Number)
	case h.WithdrawalsHash != nil:
		if got := types.DeriveSha(types.Withdrawals(body.Withdrawals), trie.NewStackTrie(nil)); got != *h.WithdrawalsHash {
			return fmt.Errorf("%w: block %d withdrawals hash to %x, header has %x", ErrWithdrawalsRoot, h.Number, got, *h.WithdrawalsHash)
		}
	}
	return nil
}

// Receipts checks that receipts are the receipts of the block with header h.
func Receipts(h *types.Header, receipts types.Receipts) error {
	if got := types.DeriveSha(receipts, trie.NewStackTrie(nil)); got != h.ReceiptHash {
		return fmt.Errorf("%w: block %d receipts hash to %x, header has %x", ErrReceiptsRoot, h.Number, got, h.ReceiptHash)
	}
	return nil
}

// ReceiptsPart reads the receipts of transactions start to
// start+count-1 of the block with header h from nodes, the receipt trie
// nodes a server sent to prove them, and checks that each is in the trie
// under the header's receipts root. txs is the number of transactions in
// the block.
func ReceiptsPart(h *types.Header, txs, start, count int, nodes [][]byte) (types.Receipts, error) {
	if count <= 0 || start < 0 || start+count > txs {
		return nil, fmt.Errorf("%w: block %d: %d receipts from index %d of %d", ErrReceiptsRoot, h.Number, count, start, txs)
	}
	set := NewNodes(nodes)
	out := make(types.Receipts, count)
	for i := range count {
		key, _ := rlp.EncodeToBytes(uint(start + i))
		val, err := trie.VerifyProof(h.ReceiptHash, key, set)
		if err == nil && val == nil {
			err = errors.New("not in the trie")
		}
		if err != nil {
			return nil, fmt.Errorf("%w: block %d: receipt %d: %v", ErrReceiptsRoot, h.Number, start+i, err)
		}
		r := new(types.Receipt)
		if err := r.UnmarshalBinary(val); err != nil {
			return nil, fmt.Errorf("%w: block %d: receipt %d: %v", ErrReceiptsRoot, h.Number, start+i, err)
		}
		out[i] = r
	}
	return out, nil
}

// Account checks an account proof against a state root and returns the
// account it proves. A valid proof of absence returns (nil, nil): the
// account does not exist in that state.
func Account(stateRoot common.Hash, addr common.Address, proof [][]byte) (*types.StateAccount, error) {
	val, err := proofValue(stateRoot, crypto.Keccak256(addr[:]), proof)
	if err != nil {
		return nil, fmt.Errorf("%w: account %x: %v", ErrAccountProof, addr, err)
	}
	return decodeAccount(addr, val)
}

func decodeAccount(addr common.Address, val []byte) (*types.StateAccount, error) {
	if val == nil {
		return nil, nil
	}
	var acct types.StateAccount
	if err := rlp.DecodeBytes(val, &acct); err != nil {
		return nil, fmt.Errorf("%w: account %x: bad leaf: %v", ErrAccountProof, addr, err)
	}
	return &acct, nil
}

// Storage checks a storage proof against an account's storage root and
// returns the slot's value (zero when the proof shows the slot is empty).
func Storage(storageRoot common.Hash, slot common.Hash, proof [][]byte) (common.Hash, error) {
	if storageRoot == types.EmptyRootHash && len(proof) == 0 {
		return common.Hash{}, nil
	}
	val, err := proofValue(storageRoot, crypto.Keccak256(slot[:]), proof)
	if err != nil {
		return common.Hash{}, fmt.Errorf("%w: slot %x: %v", ErrStorageProof, slot, err)
	}
	return decodeSlot(slot, val)
}

func decodeSlot(slot common.Hash, val []byte) (common.Hash, error) {
	if val == nil {
		return common.Hash{}, nil
	}
	_, content, _, err := rlp.Split(val)
	if err != nil || len(content) > 32 {
		return common.Hash{}, fmt.Errorf("%w: slot %x: bad leaf", ErrStorageProof, slot)
	}
	return common.BytesToHash(content), nil
}

// Code checks that code hashes to the code hash of a proven account.
func Code(codeHash common.Hash, code []byte) error {
	if got := crypto.Keccak256Hash(code); got != codeHash {
		return fmt.Errorf("%w: code hashes to %x, account has %x", ErrCodeHash, got, codeHash)
	}
	return nil
}

// TxInBody checks that the transaction at index in a verified body has hash
// want.
func TxInBody(body *types.Body, index uint64, want common.Hash) (*types.Transaction, error) {
	if index >= uint64(len(body.Transactions)) {
		return nil, fmt.Errorf("%w: index %d beyond the %d transactions of the block", ErrTxInclusion, index, len(body.Transactions))
	}
	tx := body.Transactions[index]
	if tx.Hash() != want {
		return nil, fmt.Errorf("%w: transaction %d is %x, want %x", ErrTxInclusion, index, tx.Hash(), want)
	}
	return tx, nil
}

// Nodes is a set of trie nodes by hash, proving many keys at once (a
// witness, a multiproof).
type Nodes = *trienode.ProofSet

// NewNodes indexes trie nodes by their hash.
func NewNodes(nodes [][]byte) Nodes {
	set, _ := HashNodes(nodes)
	return set
}

// HashNodes is NewNodes that also returns the nodes' hashes, in order, for
// a caller that keeps the nodes by hash too: each is hashed once.
func HashNodes(nodes [][]byte) (Nodes, []common.Hash) {
	set := trienode.NewProofSet()
	hashes := make([]common.Hash, len(nodes))
	h := crypto.NewKeccakState()
	for i, n := range nodes {
		h.Reset()
		h.Write(n)
		h.Read(hashes[i][:])
		set.Put(hashes[i][:], n)
	}
	return set, hashes
}

// AccountIn is Account with the proof's nodes in a set that may hold the
// nodes of other proofs too.
func AccountIn(stateRoot common.Hash, addr common.Address, nodes Nodes) (*types.StateAccount, error) {
	val, err := setValue(stateRoot, crypto.Keccak256(addr[:]), nodes)
	if err != nil {
		return nil, fmt.Errorf("%w: account %x: %v", ErrAccountProof, addr, err)
	}
	return decodeAccount(addr, val)
}

// StorageIn is Storage with the proof's nodes in a set that may hold the
// nodes of other proofs too.
func StorageIn(storageRoot common.Hash, slot common.Hash, nodes Nodes) (common.Hash, error) {
	if storageRoot == types.EmptyRootHash {
		return common.Hash{}, nil
	}
	val, err := setValue(storageRoot, crypto.Keccak256(slot[:]), nodes)
	if err != nil {
		return common.Hash{}, fmt.Errorf("%w: slot %x: %v", ErrStorageProof, slot, err)
	}
	return decodeSlot(slot, val)
}

func setValue(root common.Hash, key []byte, nodes Nodes) ([]byte, error) {
	if root == types.EmptyRootHash {
		return nil, nil
	}
	val, err := trie.VerifyProof(root, key, nodes)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(val), nil
}

func proofValue(root common.Hash, key []byte, proof [][]byte) ([]byte, error) {
	if len(proof) == 0 {
		if root == types.EmptyRootHash {
			return nil, nil
		}
		return nil, errors.New("empty proof")
	}
	return setValue(root, key, NewNodes(proof))
}
