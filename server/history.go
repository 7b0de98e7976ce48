package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/lru"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	"github.com/ethereum/go-ethereum/ethdb/pebble"
	"github.com/ethereum/go-ethereum/params"

	"github.com/lightmarket/lightmarket/history"
	"github.com/lightmarket/lightmarket/protocol"
)

// HistoryConfirmations is how far below the head a section must end
// before the server builds it, when the backend reports no finalized
// block: a section, once signed, never changes.
const HistoryConfirmations = 128

// historyFetchers is how many headers the indexer reads from the backend
// at once.
const historyFetchers = 8

// historyIndex builds the history sections of the backend's canonical
// chain (package history), keeps them (in DataDir/history, or in memory),
// signs the root over them and proves headers and bloom bits against it.
type historyIndex struct {
	s    *Server
	db   ethdb.KeyValueStore
	poke chan struct{}
	// trees caches sections' hash trees (256 KiB each) for header proofs,
	// bloomTrees their bloom trees (128 KiB) for bloom bits.
	trees      *lru.Cache[uint64, [][]common.Hash]
	bloomTrees *lru.Cache[uint64, [][]common.Hash]
	// vectors caches the bloom bit vectors asked for lately (512 bytes
	// each): the popular addresses and topics, whose reads from the
	// index (about 9 µs each) were most of a GetBloomBits.
	vectors *lru.Cache[protocol.BloomBitsRef, []byte]
	// roots caches sections' hash and bloom roots (64 bytes each).
	roots *lru.Cache[uint64, [2]common.Hash]
	// lastWake is the head number / 64 at the last wake.
	lastWake atomic.Uint64

	mu   sync.Mutex // guards top and root
	top  history.Top
	root *protocol.HistoryRoot // the latest signed root, nil before a section

	tailMu sync.Mutex // serializes tail builds
	tails  *tails
}

// Database keys, per section: its root; the roots of its two trees
// (hash root, bloom root: 64 bytes); its tree of block hashes and its
// tree of bloom vector hashes (levels, leaves first); each bloom bit's
// vector. A proof reads a tree, the other tree's root and at most one
// vector.
func rootKey(k uint64) []byte      { return binary.BigEndian.AppendUint64([]byte("r"), k) }
func subRootsKey(k uint64) []byte  { return binary.BigEndian.AppendUint64([]byte("s"), k) }
func hashTreeKey(k uint64) []byte  { return binary.BigEndian.AppendUint64([]byte("u"), k) }
func bloomTreeKey(k uint64) []byte { return binary.BigEndian.AppendUint64([]byte("t"), k) }
func vectorKey(k uint64, bit uint64) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64([]byte("v"), k), uint16(bit))
}

func openHistory(s *Server, dataDir string) (*historyIndex, error) {
	var db ethdb.KeyValueStore = memorydb.New()
	if dataDir != "" {
		pdb, err := pebble.New(filepath.Join(dataDir, "history"), 16, 16, "lightmarket/history/", false)
		if err != nil {
			return nil, fmt.Errorf("server: history index: %w", err)
		}
		db = pdb
	}
	h := &historyIndex{s: s, db: db, poke: make(chan struct{}, 1), trees: lru.NewCache[uint64, [][]common.Hash](32),
		bloomTrees: lru.NewCache[uint64, [][]common.Hash](64), vectors: lru.NewCache[protocol.BloomBitsRef, []byte](vectorCache),
		roots: lru.NewCache[uint64, [2]common.Hash](4096)}
	h.tails = newTails(s)
	for k := uint64(0); ; k++ {
		r, err := db.Get(rootKey(k))
		if err != nil {
			break
		}
		h.top.Append(common.BytesToHash(r))
	}
	if h.top.Count() > 0 {
		if err := h.sign(); err != nil {
			db.Close()
			return nil, err
		}
	}
	return h, nil
}

func (h *historyIndex) close() { h.db.Close() }

// sign signs the root over every section built; mu may be held.
func (h *historyIndex) sign() error {
	count := h.top.Count()
	r := &protocol.HistoryRoot{Count: count, Root: h.top.Root(count)}
	if err := r.Sign(h.s.chainID, h.s.key); err != nil {
		return err
	}
	h.root = r
	return nil
}

// signed is the latest signed root (nil before the first section).
func (h *historyIndex) signed() *protocol.HistoryRoot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.root
}

// headMoved wakes the indexer once every 64 blocks of head movement (a
// section completes every SectionSize blocks).
func (h *historyIndex) headMoved(number uint64) {
	if last := h.lastWake.Swap(number / 64); last != number/64 {
		h.wake()
	}
}

// wake asks the indexer to look for complete sections.
func (h *historyIndex) wake() {
	select {
	case h.poke <- struct{}{}:
	default:
	}
}

// loop builds sections as they complete, until ctx ends.
func (h *historyIndex) loop(ctx context.Context) {
	h.wake()
	for {
		select {
		case <-h.poke:
		case <-ctx.Done():
			return
		}
		if err := h.catchUp(ctx); err != nil && ctx.Err() == nil {
			h.s.cfg.Logger.Warn("Cannot build history sections; retrying at the next head", "err", err)
		}
	}
}

// confirmed is the highest block no reorganisation will undo: the
// finalized block, or HistoryConfirmations below the head.
func (h *historyIndex) confirmed(ctx context.Context) (uint64, bool, error) {
	head, err := h.s.cfg.Backend.CurrentHeader(ctx)
	if err != nil {
		return 0, false, err
	}
	_, final, err := h.s.cfg.Backend.Finality(ctx)
	if err == nil && final != nil {
		return final.Number.Uint64(), true, nil
	}
	if n := head.Number.Uint64(); n >= HistoryConfirmations {
		return n - HistoryConfirmations, true, nil
	}
	return 0, false, nil
}

// catchUp builds every section that is complete and confirmed.
func (h *historyIndex) catchUp(ctx context.Context) error {
	conf, ok, err := h.confirmed(ctx)
	if err != nil || !ok {
		return err
	}
	target := (conf + 1) / history.SectionSize
	h.mu.Lock()
	count := h.top.Count()
	h.mu.Unlock()
	if count < target {
		h.s.cfg.Logger.Info("Building history sections", "from", count, "to", target, "blocks", target*history.SectionSize)
	}
	start := time.Now()
	for k := count; k < target; k++ {
		sec, err := h.build(ctx, k)
		if err != nil {
			return err
		}
		batch := h.db.NewBatch()
		root := sec.Root()
		batch.Put(hashTreeKey(k), history.Flatten(sec.HashTree()))
		batch.Put(bloomTreeKey(k), history.Flatten(sec.BloomTree()))
		for bit, v := range sec.Blooms {
			batch.Put(vectorKey(k, uint64(bit)), v)
		}
		hashRoot, bloomRoot := sec.HashRoot(), sec.BloomRoot()
		batch.Put(subRootsKey(k), append(hashRoot[:], bloomRoot[:]...))
		batch.Put(rootKey(k), root[:])
		if err := batch.Write(); err != nil {
			return err
		}
		h.trees.Add(k, sec.HashTree())
		h.mu.Lock()
		h.top.Append(root)
		err = h.sign()
		r := h.root
		h.mu.Unlock()
		if err != nil {
			return err
		}
		h.s.pushHistoryRoot(r)
	}
	if count < target {
		h.s.cfg.Logger.Info("History sections built", "sections", target, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// build reads section k's headers from the backend, checks that they form
// one chain (linked to the section before), and builds the section.
func (h *historyIndex) build(ctx context.Context, k uint64) (*history.Section, error) {
	first := k * history.SectionSize
	headers := make([]*types.Header, history.SectionSize)
	errs := make(chan error, historyFetchers)
	next := make(chan int)
	var wg sync.WaitGroup
	for range historyFetchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				hd, err := h.s.cfg.Backend.HeaderByNumber(ctx, first+uint64(i))
				if err != nil {
					errs <- fmt.Errorf("header %d: %w", first+uint64(i), err)
					return
				}
				headers[i] = hd
			}
		}()
	}
	var ferr error
feed:
	for i := range headers {
		select {
		case next <- i:
		case ferr = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if ferr == nil {
		select {
		case ferr = <-errs:
		default:
		}
	}
	if ferr != nil {
		return nil, ferr
	}
	hashes := make([]common.Hash, history.SectionSize)
	blooms := make([]types.Bloom, history.SectionSize)
	for i, hd := range headers {
		hashes[i], blooms[i] = hd.Hash(), hd.Bloom
		if hd.Number.Uint64() != first+uint64(i) {
			return nil, fmt.Errorf("backend gave block %d for %d", hd.Number, first+uint64(i))
		}
		if i > 0 && hd.ParentHash != hashes[i-1] {
			return nil, fmt.Errorf("block %d does not link to %d: the chain moved while indexed", first+uint64(i), first+uint64(i)-1)
		}
	}
	if k > 0 {
		prev, err := h.hashTree(k - 1)
		if err != nil {
			return nil, err
		}
		if headers[0].ParentHash != prev[0][history.SectionSize-1] {
			return nil, fmt.Errorf("section %d does not link to the section before: the backend's chain is not the one indexed", k)
		}
	}
	return history.NewSection(k, hashes, blooms)
}

// hashTree loads section k's tree of block hashes.
func (h *historyIndex) hashTree(k uint64) ([][]common.Hash, error) {
	if t, ok := h.trees.Get(k); ok {
		return t, nil
	}
	flat, err := h.db.Get(hashTreeKey(k))
	if err != nil {
		return nil, fmt.Errorf("history section %d: %w", k, err)
	}
	t, err := history.Unflatten(flat, history.SectionSize)
	if err != nil {
		return nil, fmt.Errorf("history section %d is damaged: %w", k, err)
	}
	h.trees.Add(k, t)
	return t, nil
}

// canonicalHash returns the hash of block n from the tree of its section
// when the section is complete: without the backend's lookup of the
// canonical hash (a read of its ancient store for old blocks) or hashing
// the header.
func (h *historyIndex) canonicalHash(n uint64) (common.Hash, bool) {
	k := n / history.SectionSize
	h.mu.Lock()
	have := h.top.Count()
	h.mu.Unlock()
	if k >= have {
		return common.Hash{}, false
	}
	tree, err := h.hashTree(k)
	if err != nil {
		return common.Hash{}, false
	}
	return tree[0][n%history.SectionSize], true
}

// subRoots reads the roots of section k's hash tree and bloom tree. An
// index built before they were kept apart reads them from the trees
// once, and keeps them.
func (h *historyIndex) subRoots(k uint64) (hashRoot, bloomRoot common.Hash, err error) {
	if r, ok := h.roots.Get(k); ok {
		return r[0], r[1], nil
	}
	defer func() {
		if err == nil {
			h.roots.Add(k, [2]common.Hash{hashRoot, bloomRoot})
		}
	}()
	if v, err := h.db.Get(subRootsKey(k)); err == nil && len(v) == 2*common.HashLength {
		return common.BytesToHash(v[:common.HashLength]), common.BytesToHash(v[common.HashLength:]), nil
	}
	ht, err := h.hashTree(k)
	if err != nil {
		return common.Hash{}, common.Hash{}, err
	}
	bt, err := h.bloomTree(k)
	if err != nil {
		return common.Hash{}, common.Hash{}, err
	}
	hashRoot, bloomRoot = ht[len(ht)-1][0], bt[len(bt)-1][0]
	if err := h.db.Put(subRootsKey(k), append(hashRoot[:], bloomRoot[:]...)); err != nil {
		h.s.cfg.Logger.Warn("Cannot keep a history section's tree roots", "section", k, "err", err)
	}
	return hashRoot, bloomRoot, nil
}

// vectorCache is how many bloom bit vectors the server keeps in memory
// (8192: 4 MiB, the six vectors of an address and a topic over 1,300
// sections).
const vectorCache = 8192

// vector reads a bloom bit vector of a signed section.
func (h *historyIndex) vector(ref protocol.BloomBitsRef) ([]byte, error) {
	if v, ok := h.vectors.Get(ref); ok {
		return v, nil
	}
	v, err := h.db.Get(vectorKey(ref.Section, ref.Bit))
	if err != nil {
		return nil, err
	}
	h.vectors.Add(ref, v)
	return v, nil
}

// bloomTree reads section k's tree of bloom vector hashes.
func (h *historyIndex) bloomTree(k uint64) ([][]common.Hash, error) {
	if t, ok := h.bloomTrees.Get(k); ok {
		return t, nil
	}
	flat, err := h.db.Get(bloomTreeKey(k))
	if err != nil {
		return nil, fmt.Errorf("history section %d: %w", k, err)
	}
	t, err := history.Unflatten(flat, history.BloomBits)
	if err != nil {
		return nil, fmt.Errorf("history section %d is damaged: %w", k, err)
	}
	h.bloomTrees.Add(k, t)
	return t, nil
}

// headerProofs answers GetHeaderProofs.
func (h *historyIndex) headerProofs(ctx context.Context, r *protocol.GetHeaderProofs) []protocol.HeaderProof {
	h.mu.Lock()
	have := h.top.Count()
	h.mu.Unlock()
	if r.Count == 0 || r.Count > have {
		return nil
	}
	// Trees and headers first, without the lock (the backend may be
	// slow); then the paths in the tree over sections.
	var out []protocol.HeaderProof
	var sections []uint64
	for _, n := range r.Numbers {
		k := n / history.SectionSize
		if k >= r.Count {
			break
		}
		tree, err := h.hashTree(k)
		if err != nil {
			break
		}
		_, blooms, err := h.subRoots(k)
		if err != nil {
			break
		}
		// By hash, from the tree: the backend caches headers by hash, and
		// has no cache of canonical hashes by number.
		want := tree[0][n%history.SectionSize]
		hd, err := h.s.cfg.Backend.HeaderByHash(ctx, want)
		if err != nil || hd.Hash() != want {
			break
		}
		out = append(out, protocol.HeaderProof{Header: hd, HashPath: history.PathIn(tree, int(n%history.SectionSize)),
			BloomRoot: blooms})
		sections = append(sections, k)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, p := range h.top.SharedPaths(r.Count, sections) {
		out[i].SectionPath = p
	}
	return out
}

// bloomBits answers GetBloomBits: the vectors proven, in order, and, for
// a request with AllOf, the indices of those left out.
func (h *historyIndex) bloomBits(r *protocol.GetBloomBits) ([]protocol.BloomBitsProof, []uint64) {
	h.mu.Lock()
	have := h.top.Count()
	h.mu.Unlock()
	if r.Count == 0 || r.Count > have {
		return nil, nil
	}
	var (
		out  []protocol.BloomBitsProof
		refs []protocol.BloomBitsRef // out's
	)
	type section struct {
		bloomTree [][]common.Hash
		hashRoot  common.Hash
	}
	sections := make(map[uint64]section)
	for _, ref := range r.Refs {
		if ref.Section >= r.Count {
			break
		}
		sec, ok := sections[ref.Section]
		if !ok {
			bt, err := h.bloomTree(ref.Section)
			if err != nil {
				break
			}
			hashRoot, _, err := h.subRoots(ref.Section)
			if err != nil {
				break
			}
			sec = section{bt, hashRoot}
			sections[ref.Section] = sec
		}
		v, err := h.vector(ref)
		if err != nil {
			break
		}
		out = append(out, protocol.BloomBitsProof{Vector: v, BloomPath: history.PathIn(sec.bloomTree, int(ref.Bit)), HashRoot: sec.hashRoot})
		refs = append(refs, ref)
	}
	var left []uint64
	if r.AllOf {
		out, refs, left = leaveOut(out, refs)
	}
	// The sections share one climb: a path ends where an earlier one
	// reached (and a section's later vectors have none: the client proves
	// them by their bloom root, the first one's).
	ks := make([]uint64, len(refs))
	for i, ref := range refs {
		ks[i] = ref.Section
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, p := range h.top.SharedPaths(r.Count, ks) {
		out[i].SectionPath = p
	}
	return out, left
}

// leaveOut drops, section by section, the vectors whose zeros the
// section's other vectors hold (history.Cover), and returns what is kept
// and the indices of what was dropped.
func leaveOut(proofs []protocol.BloomBitsProof, refs []protocol.BloomBitsRef) ([]protocol.BloomBitsProof, []protocol.BloomBitsRef, []uint64) {
	bySection := make(map[uint64][]int)
	for i, ref := range refs {
		bySection[ref.Section] = append(bySection[ref.Section], i)
	}
	keep := make([]bool, len(refs))
	for _, idx := range bySection {
		vectors := make([][]byte, len(idx))
		for j, i := range idx {
			vectors[j] = proofs[i].Vector
		}
		for _, j := range history.Cover(vectors) {
			keep[idx[j]] = true
		}
	}
	var left []uint64
	n := 0
	for i := range proofs {
		if !keep[i] {
			left = append(left, uint64(i))
			continue
		}
		proofs[n], refs[n] = proofs[i], refs[i]
		n++
	}
	return proofs[:n], refs[:n], left
}

// pushHistoryRoot queues a new signed root to every client.
func (s *Server) pushHistoryRoot(r *protocol.HistoryRoot) {
	s.eachPeer(func(p *peer) { queueLatest(p.roots, r) })
}

// recentHeaders answers GetRecentHeaders: the canonical headers asked for
// within protocol.RecentWindow blocks behind the head named, with the
// proof of their hashes in the EIP-2935 contract's storage at that head.
// A head not on the backend's canonical chain gets an empty answer.
func (s *Server) recentHeaders(ctx context.Context, r *protocol.GetRecentHeaders) *protocol.RecentHeaders {
	out := &protocol.RecentHeaders{ReqID: r.ReqID}
	head, err := s.cfg.Backend.HeaderByHash(ctx, r.Head)
	if err != nil || head == nil {
		return out
	}
	n := head.Number.Uint64()
	if canon, err := s.cfg.Backend.HeaderByNumber(ctx, n); err != nil || canon.Hash() != r.Head {
		return out
	}
	var (
		slots   []common.Hash
		headers []*types.Header
	)
	for _, num := range r.Numbers {
		if num >= n || n-num > protocol.RecentWindow {
			break
		}
		h, err := s.cfg.Backend.HeaderByNumber(ctx, num)
		if err != nil {
			break
		}
		slots = append(slots, common.BigToHash(new(big.Int).SetUint64(num%protocol.RecentWindow)))
		headers = append(headers, h)
	}
	if len(headers) == 0 {
		return out
	}
	p, err := s.cfg.Backend.Proof(ctx, r.Head, params.HistoryStorageAddress, slots)
	if err != nil {
		return out
	}
	out.Headers, out.Proof = headers, protocol.AccountProof{Account: p.Account, Storage: p.Storage}
	return out
}
