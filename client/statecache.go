package client

import (
	"math"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/types"
)

// DefaultCacheBytes bounds the verified state a client keeps by default.
const DefaultCacheBytes = 64 << 20

// stateKey names a verified item: an account or a storage slot in the
// state of a block, or a contract code by its hash.
type stateKey struct {
	kind  byte // keyAccount, keySlot or keyCode
	block common.Hash
	addr  common.Address
	slot  common.Hash // the slot, or the code hash
}

const (
	keyAccount byte = iota
	keySlot
	keyCode
	keyNode
)

func accountKey(block common.Hash, addr common.Address) stateKey {
	return stateKey{kind: keyAccount, block: block, addr: addr}
}

func slotKey(block common.Hash, addr common.Address, slot common.Hash) stateKey {
	return stateKey{kind: keySlot, block: block, addr: addr, slot: slot}
}

func codeKey(hash common.Hash) stateKey { return stateKey{kind: keyCode, slot: hash} }

// nodeKey names a trie node by its hash: nodes of verified proofs, kept
// so that the state root after a simulated block can be computed.
func nodeKey(hash common.Hash) stateKey { return stateKey{kind: keyNode, slot: hash} }

// provenAccount is a verified account (nil when absent). Proof is the
// account's proof as a server sent it, or nil when it came in a witness
// (eth_getProof then fetches one).
type provenAccount struct {
	account *types.StateAccount
	proof   [][]byte
}

// provenSlot is a verified storage value and, as for accounts, its proof.
type provenSlot struct {
	value common.Hash
	proof [][]byte
}

// stateCache keeps verified accounts, slots and code within a byte
// budget, evicting the least recently used. A block's state never changes,
// so an item is never stale: a wallet polling a balance, or a dapp calling
// a contract again at the same block, is answered without a round trip.
type stateCache struct {
	mu     sync.Mutex
	items  lru.BasicLRU[stateKey, any]
	blocks map[common.Hash]int // accounts and slots held, by block
	bytes  int
	max    int
	gauge  func(float64)
}

func newStateCache(maxBytes int, gauge func(float64)) *stateCache {
	return &stateCache{items: lru.NewBasicLRU[stateKey, any](math.MaxInt32), blocks: make(map[common.Hash]int), max: maxBytes, gauge: gauge}
}

// holds reports whether the cache holds any account or slot of the state
// of a block: a run over the cache alone cannot succeed otherwise.
func (c *stateCache) holds(block common.Hash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blocks[block] > 0
}

// count keeps the per-block tally of accounts and slots.
func (c *stateCache) count(k stateKey, delta int) {
	if k.kind != keyAccount && k.kind != keySlot {
		return
	}
	if c.blocks[k.block] += delta; c.blocks[k.block] <= 0 {
		delete(c.blocks, k.block)
	}
}

// itemSize estimates what an item costs in memory: its data plus the
// cache's own bookkeeping (measured: an entry of the LRU's map and list,
// with its 88-byte key twice, and the boxed value take 300 to 460 bytes
// depending on how full the map is since it last grew;
// TestStateCacheHoldsItsBudget keeps this honest). A proof's nodes are
// the node entries' (see addNodes): it costs their slice headers.
func itemSize(v any) int {
	const overhead = 460
	proofSize := func(p [][]byte) int { return 24 * len(p) }
	switch v := v.(type) {
	case provenAccount:
		return overhead + 120 + proofSize(v.proof)
	case provenSlot:
		return overhead + 32 + proofSize(v.proof)
	case []byte:
		return overhead + len(v) + len(v)/12 // rounded up to the allocator's size classes
	}
	return overhead
}

func (c *stateCache) add(k stateKey, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(k, v)
}

func (c *stateCache) addLocked(k stateKey, v any) {
	if old, ok := c.items.Peek(k); ok {
		c.bytes -= itemSize(old)
		c.count(k, -1)
	}
	c.items.Add(k, v)
	c.bytes += itemSize(v)
	c.count(k, 1)
	for c.bytes > c.max {
		oldKey, old, ok := c.items.RemoveOldest()
		if !ok {
			break
		}
		c.bytes -= itemSize(old)
		c.count(oldKey, -1)
	}
	if c.gauge != nil {
		c.gauge(float64(c.bytes))
	}
}

func (c *stateCache) get(k stateKey) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.items.Get(k)
}

func (c *stateCache) account(block common.Hash, addr common.Address) (provenAccount, bool) {
	v, ok := c.get(accountKey(block, addr))
	if !ok {
		return provenAccount{}, false
	}
	return v.(provenAccount), true
}

func (c *stateCache) slot(block common.Hash, addr common.Address, slot common.Hash) (provenSlot, bool) {
	v, ok := c.get(slotKey(block, addr, slot))
	if !ok {
		return provenSlot{}, false
	}
	return v.(provenSlot), true
}

func (c *stateCache) code(hash common.Hash) ([]byte, bool) {
	v, ok := c.get(codeKey(hash))
	if !ok {
		return nil, false
	}
	return v.([]byte), true
}

// addNodes keeps trie nodes by their hashes (verify.HashNodes), and makes
// nodes refer to the copies kept: the proofs of one block then share their
// upper nodes (the state root is in every one of them) instead of holding
// a copy each. Call it before adding the item whose proof nodes is.
func (c *stateCache) addNodes(nodes [][]byte, hashes []common.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, h := range hashes {
		k := nodeKey(h)
		if kept, ok := c.items.Get(k); ok {
			nodes[i] = kept.([]byte)
			continue
		}
		c.addLocked(k, nodes[i])
	}
}

// node returns the trie node with the given hash.
func (c *stateCache) node(hash common.Hash) ([]byte, bool) {
	v, ok := c.get(nodeKey(hash))
	if !ok {
		return nil, false
	}
	return v.([]byte), true
}

// Bytes is what the cache holds now.
func (c *stateCache) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
