package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/protocol"
)

// serve answers one validated request. Items the backend cannot provide end
// the reply early; the client sees a shorter list.
func (s *Server) serve(ctx context.Context, req protocol.Request) (protocol.Code, any) {
	switch r := req.(type) {
	case *protocol.GetBlockHeaders:
		return protocol.BlockHeadersMsg, &protocol.BlockHeaders{ReqID: r.ReqID, Headers: s.headers(ctx, r)}
	case *protocol.GetBlockBodies:
		bodies := collect(s, "body", s.blockHashes(ctx, r.Hashes, r.Numbers), func(h common.Hash) (*types.Body, error) {
			return s.cfg.Backend.Body(ctx, h)
		}, bodySize)
		return protocol.BlockBodiesMsg, &protocol.BlockBodies{ReqID: r.ReqID, Bodies: bodies}
	case *protocol.GetReceipts:
		return protocol.ReceiptsMsg, s.receipts(ctx, r)
	case *protocol.GetReceiptsPart:
		return protocol.ReceiptsPartMsg, s.receiptsPart(ctx, r)
	case *protocol.GetWitness:
		return protocol.WitnessMsg, s.witness(ctx, r)
	case *protocol.GetHeaderProofs:
		return protocol.HeaderProofsMsg, &protocol.HeaderProofs{ReqID: r.ReqID, Proofs: s.hist.headerProofs(ctx, r)}
	case *protocol.GetBloomBits:
		vectors, left := s.hist.bloomBits(r)
		return protocol.BloomBitsMsg, &protocol.BloomBits{ReqID: r.ReqID, Vectors: vectors, Left: left}
	case *protocol.GetRecentHeaders:
		return protocol.RecentHeadersMsg, s.recentHeaders(ctx, r)
	case *protocol.GetTail:
		return protocol.TailMsg, s.hist.tail(ctx, r)
	case *protocol.GetBeaconBootstrap:
		if s.beacon == nil {
			return protocol.BeaconBootstrapMsg, &protocol.BeaconBootstraps{ReqID: r.ReqID}
		}
		return protocol.BeaconBootstrapMsg, s.beacon.bootstrap(r)
	case *protocol.GetBeaconUpdates:
		if s.beacon == nil {
			return protocol.BeaconUpdatesMsg, &protocol.BeaconUpdates{ReqID: r.ReqID}
		}
		return protocol.BeaconUpdatesMsg, s.beacon.committeeUpdates(r)
	case *protocol.GetProofs:
		proofs := collect(s, "proof", r.Requests, func(pr protocol.ProofRequest) (protocol.AccountProof, error) {
			p, err := s.cfg.Backend.Proof(ctx, pr.BlockHash, pr.Address, pr.Slots)
			if err != nil {
				return protocol.AccountProof{}, err
			}
			return protocol.AccountProof{Account: p.Account, Storage: p.Storage}, nil
		}, proofSize)
		return protocol.ProofsMsg, &protocol.Proofs{ReqID: r.ReqID, Proofs: proofs}
	case *protocol.GetCode:
		codes := collect(s, "code", r.Requests, func(cr protocol.CodeRequest) ([]byte, error) {
			return s.cfg.Backend.Code(ctx, cr.BlockHash, cr.Address)
		}, func(code []byte) int { return len(code) })
		return protocol.CodeMsg, &protocol.CodeReply{ReqID: r.ReqID, Codes: codes}
	case *protocol.SendTx:
		reply := &protocol.TxStatus{ReqID: r.ReqID}
		for _, raw := range r.Txs {
			reply.Statuses = append(reply.Statuses, s.sendTx(ctx, raw))
		}
		return protocol.TxStatusMsg, reply
	case *protocol.GetTxStatus:
		reply := &protocol.TxStatus{ReqID: r.ReqID}
		for _, h := range r.Hashes {
			reply.Statuses = append(reply.Statuses, s.txStatus(ctx, h))
		}
		return protocol.TxStatusMsg, reply
	}
	// Decode returns only the types above as requests; a new request type
	// without a handler is answered with the peer's error, not a panic.
	return protocol.ErrorMsg, protocol.NewError(fmt.Errorf("%w: %T", protocol.ErrUnexpectedMsg, req))
}

// blockHashes is the blocks a request names: its hashes, or the hashes of
// the canonical blocks at its numbers (from the history index for blocks
// in its complete sections), up to the first number the backend has no
// block at (the reply stops there, as at an unknown hash).
func (s *Server) blockHashes(ctx context.Context, hashes []common.Hash, numbers []uint64) []common.Hash {
	if len(numbers) == 0 {
		return hashes
	}
	out := make([]common.Hash, 0, len(numbers))
	for _, n := range numbers {
		if hash, ok := s.hist.canonicalHash(n); ok {
			out = append(out, hash)
			continue
		}
		h, err := s.cfg.Backend.HeaderByNumber(ctx, n)
		if !s.ok(err, "header", n) {
			break
		}
		out = append(out, h.Hash())
	}
	return out
}

// collect fetches one item per key, in order, and stops at the first key
// the backend cannot serve or once the items pass the soft response limit.
func collect[K, V any](s *Server, what string, keys []K, fetch func(K) (V, error), size func(V) int) []V {
	var (
		items []V
		total int
	)
	for _, k := range keys {
		item, err := fetch(k)
		if !s.ok(err, what, k) {
			break
		}
		items = append(items, item)
		if total += size(item); total >= protocol.SoftResponseLimit {
			break
		}
	}
	return items
}

// headers resolves a header request: the origin by hash or number, then
// canonical headers by number, or parents by hash when walking back
// without skipping from a hash (so that a client can fetch the ancestors
// of a head that is not yet canonical on this server).
func (s *Server) headers(ctx context.Context, r *protocol.GetBlockHeaders) []*types.Header {
	var (
		origin *types.Header
		err    error
	)
	if hash, ok := r.Origin.Hash(); ok {
		origin, err = s.cfg.Backend.HeaderByHash(ctx, hash)
	} else {
		number, _ := r.Origin.Number()
		origin, err = s.cfg.Backend.HeaderByNumber(ctx, number)
	}
	if !s.ok(err, "header", r.Origin) {
		return nil
	}
	headers := []*types.Header{origin}
	followParents := r.Reverse && r.Skip == 0
	step := r.Skip + 1
	for cur := origin; uint64(len(headers)) < r.Amount; {
		var next *types.Header
		n := cur.Number.Uint64()
		switch {
		case followParents:
			if n == 0 {
				return headers
			}
			next, err = s.cfg.Backend.HeaderByHash(ctx, cur.ParentHash)
		case r.Reverse:
			if n < step {
				return headers
			}
			next, err = s.cfg.Backend.HeaderByNumber(ctx, n-step)
		default:
			next, err = s.cfg.Backend.HeaderByNumber(ctx, n+step)
		}
		if !s.ok(err, "header", common.Hash{}) {
			return headers
		}
		headers = append(headers, next)
		cur = next
	}
	return headers
}

func (s *Server) sendTx(ctx context.Context, raw []byte) protocol.TxStatusItem {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(raw); err != nil {
		return protocol.TxStatusItem{Status: protocol.TxUnknown, Error: truncate("invalid transaction: " + err.Error())}
	}
	if err := s.cfg.Backend.SendTransaction(ctx, tx); err != nil {
		return protocol.TxStatusItem{Status: protocol.TxUnknown, Error: truncate(err.Error())}
	}
	return s.txStatus(ctx, tx.Hash())
}

func (s *Server) txStatus(ctx context.Context, hash common.Hash) protocol.TxStatusItem {
	loc, err := s.cfg.Backend.TxLookup(ctx, hash)
	if !s.ok(err, "tx status", hash) {
		return protocol.TxStatusItem{Status: protocol.TxUnknown}
	}
	item := protocol.TxStatusItem{
		Status:      uint64(loc.Status),
		BlockHash:   loc.BlockHash,
		BlockNumber: loc.BlockNumber,
		Index:       loc.Index,
	}
	if loc.Status == chain.TxPending && loc.Tx != nil {
		// Without a blob sidecar: the client checks the hash, which does
		// not cover it.
		item.Tx, _ = loc.Tx.WithoutBlobTxSidecar().MarshalBinary()
	}
	return item
}

// ok reports whether a backend call succeeded, logging the failures that
// are the backend's fault rather than an unknown item.
func (s *Server) ok(err error, what string, key any) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, chain.ErrNotFound), errors.Is(err, context.Canceled):
	case errors.Is(err, chain.ErrBackendInvalid):
		s.cfg.Metrics.BackendBad.Inc()
		s.cfg.Logger.Error("Backend returned invalid data, not serving it", "what", what, "key", key, "err", err)
	default:
		s.cfg.Logger.Warn("Backend request failed", "what", what, "key", key, "err", err)
	}
	return false
}

// The sizes below estimate encoded sizes from below, cheaply, for the soft
// response limit; the message size limit is checked on the encoding.

func bodySize(b *types.Body) int {
	n := len(b.Uncles)*500 + len(b.Withdrawals)*44
	for _, tx := range b.Transactions {
		n += int(tx.Size())
	}
	return n
}

func receiptsSize(rs []*types.Receipt) int {
	n := 0
	for _, r := range rs {
		n += receiptSize(r)
	}
	return n
}

func receiptSize(r *types.Receipt) int {
	n := types.BloomByteLength + 16
	for _, l := range r.Logs {
		n += common.AddressLength + len(l.Topics)*common.HashLength + len(l.Data)
	}
	return n
}

func proofSize(p protocol.AccountProof) int {
	n := 0
	for _, node := range p.Account {
		n += len(node)
	}
	for _, slot := range p.Storage {
		for _, node := range slot {
			n += len(node)
		}
	}
	return n
}

func truncate(s string) string {
	if len(s) > protocol.MaxErrorReasonLen {
		return s[:protocol.MaxErrorReasonLen]
	}
	return s
}
