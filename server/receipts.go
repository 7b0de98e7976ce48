package server

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb/memorydb"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/triedb"

	"github.com/lightmarket/lightmarket/protocol"
)

// receipts answers GetReceipts with whole receipt lists, stopping at a
// block it does not have, once the reply passes the soft response limit,
// or before a list too large to send whole (Oversize).
func (s *Server) receipts(ctx context.Context, r *protocol.GetReceipts) *protocol.Receipts {
	reply := &protocol.Receipts{ReqID: r.ReqID}
	total := 0
	for _, h := range s.blockHashes(ctx, r.Hashes, r.Numbers) {
		rs, err := s.cfg.Backend.Receipts(ctx, h)
		if !s.ok(err, "receipts", h) {
			break
		}
		size := receiptsSize(rs)
		if size > protocol.SoftResponseLimit {
			// The client asks for parts next: prove them from these.
			if _, err := s.newReceiptTrie(ctx, h, rs); err != nil {
				s.cfg.Logger.Error("Cannot build receipt trie", "block", h, "err", err)
				break
			}
			reply.Oversize = true
			break
		}
		reply.Receipts = append(reply.Receipts, rs)
		if total += size; total >= protocol.SoftResponseLimit {
			break
		}
	}
	return reply
}

// receiptTrie is a block's receipt trie, kept while a client fetches its
// parts.
type receiptTrie struct {
	trie  *trie.Trie
	sizes []int // of each receipt's consensus encoding
}

// receiptTries caches the tries of the last oversized blocks asked for.
const receiptTries = 4

// receiptsPart answers GetReceiptsPart: the trie nodes proving the
// receipts from the index asked on, up to about the soft response limit.
func (s *Server) receiptsPart(ctx context.Context, r *protocol.GetReceiptsPart) *protocol.ReceiptsPart {
	reply := &protocol.ReceiptsPart{ReqID: r.ReqID}
	rt, err := s.receiptTrie(ctx, r.BlockHash)
	if !s.ok(err, "receipts part", r.BlockHash) || r.Start >= uint64(len(rt.sizes)) {
		return reply
	}
	nodes := memorydb.New()
	size := 0
	for i := int(r.Start); i < len(rt.sizes) && reply.Count < protocol.MaxPartReceipts; i++ {
		if reply.Count > 0 && size+rt.sizes[i] > protocol.SoftResponseLimit {
			break
		}
		if err := rt.trie.Prove(receiptKey(i), nodes); err != nil {
			s.cfg.Logger.Error("Cannot prove receipt", "block", r.BlockHash, "index", i, "err", err)
			return &protocol.ReceiptsPart{ReqID: r.ReqID}
		}
		size += rt.sizes[i]
		reply.Count++
	}
	it := nodes.NewIterator(nil, nil)
	for it.Next() {
		reply.Nodes = append(reply.Nodes, common.CopyBytes(it.Value()))
	}
	it.Release()
	return reply
}

// receiptTrie builds (or finds) the receipt trie of a block.
func (s *Server) receiptTrie(ctx context.Context, hash common.Hash) (*receiptTrie, error) {
	if rt, ok := s.rtries.Get(hash); ok {
		return rt, nil
	}
	rs, err := s.cfg.Backend.Receipts(ctx, hash)
	if err != nil {
		return nil, err
	}
	return s.newReceiptTrie(ctx, hash, rs)
}

// newReceiptTrie builds the receipt trie of the block with the given hash
// from its receipts and caches it.
func (s *Server) newReceiptTrie(ctx context.Context, hash common.Hash, rs types.Receipts) (*receiptTrie, error) {
	header, err := s.cfg.Backend.HeaderByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	tr := trie.NewEmpty(triedb.NewDatabase(rawdb.NewMemoryDatabase(), nil))
	rt := &receiptTrie{trie: tr, sizes: make([]int, len(rs))}
	for i := range rs {
		var buf bytes.Buffer
		types.Receipts(rs).EncodeIndex(i, &buf)
		enc := buf.Bytes()
		rt.sizes[i] = len(enc)
		if err := tr.Update(receiptKey(i), enc); err != nil {
			return nil, err
		}
	}
	if root := tr.Hash(); root != header.ReceiptHash {
		// The backend checked the receipts against the header; this is a
		// bug, not a lie.
		return nil, fmt.Errorf("receipt trie of %x has root %x, header says %x", hash, root, header.ReceiptHash)
	}
	s.rtries.Add(hash, rt)
	return rt, nil
}

// receiptKey is the receipt trie's key of transaction index i: rlp(i).
func receiptKey(i int) []byte {
	k, _ := rlp.EncodeToBytes(uint(i))
	return k
}
