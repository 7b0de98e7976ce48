package chain

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/crypto"
)

// A state root after a change can need trie nodes no proof of the changed
// keys holds: deleting a key from a branch with two children collapses the
// branch into its other child, which must be read. TrieNode finds such a
// node for a server whose backend is another process's JSON-RPC, which
// serves no trie nodes by hash.

// RawReader is implemented by backends that can read their node's
// key-value store (geth's debug_dbGet): a trie node is there by its hash
// (hash scheme) or by its path (path scheme, for nodes unchanged since the
// node last wrote its state to disk).
type RawReader interface {
	RawGet(ctx context.Context, key []byte) ([]byte, error)
}

// ErrNodeUnavailable says that the backend offers no way to the trie node.
var ErrNodeUnavailable = errors.New("trie node unavailable")

// TrieNode returns the trie node with the given hash at path (nibbles) in
// the state of a block: in its account trie when account is nil, else in
// that account's storage trie. It reads the node's database when the
// backend can (RawReader), and otherwise proves a key under the path,
// whose proof passes through the node.
func TrieNode(ctx context.Context, b Backend, block common.Hash, account *common.Address, path []byte, hash common.Hash) ([]byte, error) {
	if r, ok := b.(RawReader); ok {
		keys := [][]byte{hash[:], append([]byte("A"), path...)}
		if account != nil {
			owner := crypto.Keccak256(account[:])
			keys[1] = append(append([]byte("O"), owner...), path...)
		}
		for _, key := range keys {
			if blob, err := r.RawGet(ctx, key); err == nil && crypto.Keccak256Hash(blob) == hash {
				return blob, nil
			}
		}
	}
	if len(path) > maxSearchNibbles {
		return nil, fmt.Errorf("%w: %x at path %x is too deep to search a key for", ErrNodeUnavailable, hash, path)
	}
	size := common.AddressLength
	if account != nil {
		size = common.HashLength
	}
	key := Preimage(ctx, path, size)
	if key == nil {
		return nil, fmt.Errorf("%w: no key under path %x found in time", ErrNodeUnavailable, path)
	}
	var proof [][]byte
	if account == nil {
		p, err := b.Proof(ctx, block, common.BytesToAddress(key), nil)
		if err != nil {
			return nil, err
		}
		proof = p.Account
	} else {
		p, err := b.Proof(ctx, block, *account, []common.Hash{common.BytesToHash(key)})
		if err != nil {
			return nil, err
		}
		proof = p.Storage[0]
	}
	for _, n := range proof {
		if crypto.Keccak256Hash(n) == hash {
			return n, nil
		}
	}
	return nil, fmt.Errorf("%w: %x is not on the path %x", ErrNodeUnavailable, hash, path)
}

// maxSearchNibbles is the longest path TrieNode finds a key under:
// finding one for a path of n nibbles takes 16^n hashes on average (for
// 4, 65,536 hashes: a few tens of milliseconds).
const maxSearchNibbles = 4

// searchPaths remembers the keys found, by kind and path.
var searchPaths = lru.NewCache[string, []byte](4096)

// Preimage returns a key of size bytes (an address or a storage slot)
// whose Keccak-256 hash begins with the nibbles of path, or nil if ctx
// ends first.
func Preimage(ctx context.Context, path []byte, size int) []byte {
	id := fmt.Sprintf("%d/%x", size, path)
	if key, ok := searchPaths.Get(id); ok {
		return key
	}
	hasher := crypto.NewKeccakState()
	key := make([]byte, size)
	var h [32]byte
	for i := uint64(0); ; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil
		}
		binary.BigEndian.PutUint64(key[size-8:], i)
		hasher.Reset()
		hasher.Write(key)
		hasher.Read(h[:])
		if hasPrefix(h[:], path) {
			searchPaths.Add(id, key)
			return key
		}
	}
}

// hasPrefix reports whether hash begins with the nibbles of path.
func hasPrefix(hash, path []byte) bool {
	for i, n := range path {
		b := hash[i/2]
		if i%2 == 0 {
			b >>= 4
		}
		if b&0x0f != n {
			return false
		}
	}
	return true
}
