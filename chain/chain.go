// Package chain defines what a lightmarket server needs from the execution
// chain it serves (Backend) and implements it over an execution client's
// JSON-RPC. The implementation checks what the backend returns (header
// hashes, transaction and receipt roots, proofs) before anybody relays it,
// so a server never forwards data its own backend got wrong.
//
// The embedded development chain lives in package devchain; it exposes the
// same JSON-RPC in-process, so both are served through this package.
package chain

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/lightmarket/lightmarket/protocol"
)

// ErrNotFound is returned when the backend does not have the requested
// block, transaction or state.
var ErrNotFound = errors.New("not found")

// ErrBackendInvalid is wrapped by errors reporting that the backend returned
// data that does not verify (a header that does not hash to what was asked,
// a body or receipts that do not match the header's roots, a bad proof).
var ErrBackendInvalid = errors.New("backend returned invalid data")

// Backend is the chain a server serves from. All methods are safe for
// concurrent use. Block-scoped reads take the block hash, never a number, so
// an answer cannot mix two forks.
type Backend interface {
	// ChainID is the chain's EIP-155 id.
	ChainID() uint64
	// Genesis is the hash of block 0.
	Genesis() common.Hash

	// CurrentHeader returns the backend's canonical head.
	CurrentHeader(ctx context.Context) (*types.Header, error)
	// Finality returns the chain's safe and finalized blocks; either is
	// nil when the chain has none (for example a node without a consensus
	// client).
	Finality(ctx context.Context) (safe, finalized *types.Header, err error)
	// Retention says which history the backend serves (what the node's
	// eth_capabilities reports).
	Retention(ctx context.Context) (protocol.Retention, error)
	// HeaderByNumber returns the canonical header at number.
	HeaderByNumber(ctx context.Context, number uint64) (*types.Header, error)
	// HeaderByHash returns the header with the given hash.
	HeaderByHash(ctx context.Context, hash common.Hash) (*types.Header, error)
	// Body returns the transactions, uncles and withdrawals of a block.
	Body(ctx context.Context, blockHash common.Hash) (*types.Body, error)
	// Receipts returns the consensus receipts of a block.
	Receipts(ctx context.Context, blockHash common.Hash) (types.Receipts, error)
	// Proof returns the Merkle proofs of an account and of the given storage
	// slots in the state of a block.
	Proof(ctx context.Context, blockHash common.Hash, addr common.Address, slots []common.Hash) (*Proof, error)
	// Code returns the code of an account in the state of a block.
	Code(ctx context.Context, blockHash common.Hash, addr common.Address) ([]byte, error)
	// SendTransaction submits a signed transaction to the backend's pool.
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	// TxLookup says where a transaction is: in a canonical block, pending in
	// the pool, or unknown.
	TxLookup(ctx context.Context, txHash common.Hash) (*TxLocation, error)
	// SubscribeHeads delivers each new canonical head to ch until ctx ends
	// or the returned function is called. Heads may be skipped under load;
	// the last one delivered is always current.
	SubscribeHeads(ctx context.Context, ch chan<- *types.Header) (unsubscribe func(), err error)
}

// Prefetcher is implemented by backends in another process (a node over
// JSON-RPC), where each read is a round trip: a server asks which accounts
// and slots a call touches, and proves them all in one exchange, before
// the call's run reads them one by one.
type Prefetcher interface {
	// AccessList runs a call (eth_call's JSON object) in the state of a
	// block and returns the accounts and slots it touched, as
	// eth_createAccessList does (without the sender, the callee and the
	// precompiles).
	AccessList(ctx context.Context, blockHash common.Hash, call json.RawMessage) (types.AccessList, error)
	// Proofs proves each account of list with its slots, as Proof does,
	// in one exchange; the proof of an account that failed is nil.
	Proofs(ctx context.Context, blockHash common.Hash, list types.AccessList) []*Proof
}

// LocalState is implemented by backends that hold the chain's state in the
// server's own process (the embedded chain): a server runs calls over it
// directly, and their witnesses carry every trie node a run touches,
// including those computing a new state root needs.
type LocalState interface {
	StateDatabase() state.Database
	// Prover opens the state with the given root for proving many of its
	// keys, each trie opened once.
	Prover(root common.Hash) (Prover, error)
}

// Prover reads accounts and storage slots of one state from tries the
// caller trusts (its own node's), without verification, and proves what it
// read. It is not safe for concurrent use.
type Prover interface {
	// Account returns an account (nil when absent).
	Account(addr common.Address) (*types.StateAccount, error)
	// Storage returns a slot's value in the storage trie of an account
	// with the given storage root.
	Storage(addr common.Address, storageRoot, slot common.Hash) (common.Hash, error)
	// Code returns the code with the given hash.
	Code(codeHash common.Hash) ([]byte, error)
	// AccountProof and StorageProof return the proof of an account or a
	// slot read before.
	AccountProof(addr common.Address) [][]byte
	StorageProof(addr common.Address, slot common.Hash) [][]byte
}

// Proof is a Merkle proof of one account and some of its storage slots: the
// trie nodes on the path from the state root to the account, and for every
// slot (in the order asked) the nodes from the account's storage root.
type Proof struct {
	Account [][]byte
	Storage [][][]byte
}

// TxStatus says what a backend knows of a transaction.
type TxStatus uint8

const (
	TxUnknown  TxStatus = 0 // never seen, or dropped
	TxPending  TxStatus = 1 // in the pool, not in a block
	TxIncluded TxStatus = 2 // in a canonical block
)

// TxLocation is the answer to a transaction lookup.
type TxLocation struct {
	Status TxStatus
	// BlockHash, BlockNumber and Index locate an included transaction.
	BlockHash   common.Hash
	BlockNumber uint64
	Index       uint64
	// Tx is the transaction itself when it is pending (so that the
	// requester can check it hashes to what was asked).
	Tx *types.Transaction
}
