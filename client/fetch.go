package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
)

// do runs fn on the best available server and retries on others when a
// server fails, does not have the data or lies. A server whose answer fails
// verification is punished. The error of the last attempt is returned.
func (c *Client) do(ctx context.Context, fn func(ctx context.Context, p *peer) error) error {
	return c.doTried(ctx, make(map[enode.ID]bool), fn)
}

// doPrefer is do asking the servers that hold what is asked (have says
// which; it is called without mu) before the others, when any does.
func (c *Client) doPrefer(ctx context.Context, have func(p *peer) bool, fn func(ctx context.Context, p *peer) error) error {
	tried := make(map[enode.ID]bool)
	c.mu.Lock()
	peers := slices.Collect(maps.Values(c.peers))
	c.mu.Unlock()
	any := false
	for _, p := range peers { // have may take mu
		if have(p) {
			any = true
		} else {
			tried[p.id] = true
		}
	}
	if !any {
		clear(tried)
	}
	return c.doTried(ctx, tried, fn)
}

// onOurChain says whether a server follows the client's chain: the last
// head it announced is a block the client holds, or beyond the client's
// head. A server of another chain has none of the client's blocks to give.
func (c *Client) onOurChain(p *peer) bool {
	ref := p.lastHead.Load()
	if ref == nil {
		return true // not announced yet
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	head := c.chain.head()
	return head == nil || ref.Number > head.Number.Uint64() || c.chain.get(ref.Hash) != nil
}

func (c *Client) doTried(ctx context.Context, tried map[enode.ID]bool, fn func(ctx context.Context, p *peer) error) error {
	var lastErr error
	for attempt := 0; attempt < c.cfg.Retries; attempt++ {
		p, err := c.pickPeer(ctx, tried)
		if err != nil {
			if lastErr != nil {
				return lastErr
			}
			return err
		}
		if attempt > 0 {
			c.trips.retry()
		}
		tried[p.id] = true
		err = fn(ctx, p) // each request times out by itself (peer.request)
		p.inflight.Add(-1)
		var up *upstreamError
		switch {
		case err == nil:
			c.recordAnswer(p)
			return nil
		case errors.As(err, &up):
			return up.err // another server's fault, already handled
		case verify.Kind(err) != "":
			c.punish(p, err)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrNotFound):
			c.recordAnswer(p)
		default:
			c.recordFailure(p, err)
		}
		lastErr = err
	}
	return lastErr
}

// pickPeer returns the best connected server (better) that has not been
// tried yet, waiting briefly for one to connect. The caller is to
// decrement the server's inflight once its request is done.
func (c *Client) pickPeer(ctx context.Context, tried map[enode.ID]bool) (*peer, error) {
	wait := time.NewTimer(c.cfg.RequestTimeout)
	defer wait.Stop()
	for {
		c.mu.Lock()
		var best *peer
		for id, p := range c.peers {
			if tried[id] {
				continue
			}
			// A server that asked us to stop is the last choice.
			if best == nil || better(p, best) {
				best = p
			}
		}
		if best != nil {
			best.inflight.Add(1) // under mu: the next pick sees it
		}
		joined, paused := c.peerJoined, c.power.Background
		c.mu.Unlock()
		if best != nil {
			return best, nil
		}
		if paused {
			return nil, ErrPaused
		}
		if len(tried) > 0 {
			return nil, ErrNoPeers
		}
		select {
		case <-joined:
		case <-wait.C:
			return nil, ErrNoPeers
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// better reports whether p is a better choice than q: not stopped, then
// the sooner to answer: its latency times one more than the requests it
// is answering, so that requests sent together spread across servers.
func better(p, q *peer) bool {
	if ps, qs := p.stopped.Load(), q.stopped.Load(); ps != qs {
		return !ps
	}
	return p.latency.Load()*(1+p.inflight.Load()) < q.latency.Load()*(1+q.inflight.Load())
}

func (c *Client) recordAnswer(p *peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.stats[p.id]; s != nil {
		s.Answers++
	}
}

func (c *Client) recordFailure(p *peer, err error) {
	p.log.Debug("Request failed", "err", err)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.stats[p.id]; s != nil {
		s.Failures++
		s.LastError = err.Error()
	}
}

// punish disconnects a server whose answer failed verification and bans it
// for BanTime.
func (c *Client) punish(p *peer, err error) {
	p.log.Warn("Server sent data that does not verify; dropping it", "check", verify.Kind(err), "err", err)
	c.mu.Lock()
	if s := c.stats[p.id]; s != nil {
		s.Lies++
		s.LastError = err.Error()
	}
	c.banned[p.id] = time.Now().Add(c.cfg.BanTime)
	c.heads.forget(p.id)
	c.updateServerGauges()
	c.mu.Unlock()
	c.cfg.Metrics.Verifications.WithLabelValues(verify.Kind(err)).Inc()
	c.p2p.RemovePeer(p.node)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		select {
		case <-time.After(c.cfg.BanTime):
			c.mu.Lock()
			delete(c.banned, p.id)
			c.updateServerGauges()
			c.mu.Unlock() // the redial loop dials it again
		case <-c.ctx.Done():
		}
	}()
	// Told why, then dropped; the caller, a wallet's request, does not
	// wait for a server that does not read (go-ethereum's write timeout is
	// 20 s): the session ends within a second either way.
	stop := time.AfterFunc(time.Second, func() { c.disconnect(p) })
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		protocol.Send(p.rw, protocol.ErrorMsg, protocol.NewError(err))
		if stop.Stop() {
			c.disconnect(p)
		}
	}()
}

func (c *Client) disconnect(p *peer) {
	for _, pp := range c.p2p.Peers() {
		if pp.ID() == p.id {
			pp.Disconnect(p2p.DiscUselessPeer)
		}
	}
}

// fetchHeaders asks p for headers and checks the reply's shape; the caller
// verifies hashes.
func (c *Client) fetchHeaders(ctx context.Context, p *peer, origin protocol.HashOrNumber, amount, skip uint64, reverse bool) ([]*types.Header, error) {
	id := reqIDs.Add(1)
	req := &protocol.GetBlockHeaders{ReqID: id, Origin: origin, Amount: amount, Skip: skip, Reverse: reverse}
	reply, err := p.request(ctx, protocol.GetBlockHeadersMsg, protocol.BlockHeadersMsg, id, req)
	if err != nil {
		return nil, err
	}
	headers := reply.(*protocol.BlockHeaders).Headers
	if uint64(len(headers)) > amount {
		return nil, fmt.Errorf("%w: %d headers for %d asked", verify.ErrHeaderChain, len(headers), amount)
	}
	if len(headers) == 0 {
		return nil, ErrNotFound
	}
	return headers, nil
}

// fetchHeader fetches and verifies the header with the given hash from p.
func (c *Client) fetchHeader(ctx context.Context, p *peer, hash common.Hash) (*types.Header, error) {
	headers, err := c.fetchHeaders(ctx, p, protocol.ByHash(hash), 1, 0, false)
	if err != nil {
		return nil, err
	}
	if err := verify.Header(headers[0], hash); err != nil {
		return nil, err
	}
	return headers[0], nil
}

// fetchAncestors fetches up to amount ancestors of the header with hash
// child's parent, following parent hashes, and verifies the links. The
// result is ordered from child's parent downwards.
func (c *Client) fetchAncestors(ctx context.Context, p *peer, child *types.Header, amount uint64) ([]*types.Header, error) {
	headers, err := c.fetchHeaders(ctx, p, protocol.ByHash(child.ParentHash), amount, 0, true)
	if err != nil {
		return nil, err
	}
	prev := child
	for _, h := range headers {
		if err := verify.Parent(prev, h); err != nil {
			return nil, err
		}
		prev = h
	}
	return headers, nil
}

func (c *Client) fetchBody(ctx context.Context, p *peer, header *types.Header) (*types.Body, error) {
	id := reqIDs.Add(1)
	req := &protocol.GetBlockBodies{ReqID: id, Hashes: []common.Hash{header.Hash()}}
	reply, err := p.request(ctx, protocol.GetBlockBodiesMsg, protocol.BlockBodiesMsg, id, req)
	if err != nil {
		return nil, err
	}
	bodies := reply.(*protocol.BlockBodies).Bodies
	if len(bodies) == 0 {
		return nil, ErrNotFound
	}
	if err := verify.Body(header, bodies[0]); err != nil {
		return nil, err
	}
	return bodies[0], nil
}

// fetchReceipts fetches the receipts of the block with the given header
// and txs transactions from p: whole, or in parts when they are too large
// for one message.
func (c *Client) fetchReceipts(ctx context.Context, p *peer, header *types.Header, txs int) (types.Receipts, error) {
	id := reqIDs.Add(1)
	req := &protocol.GetReceipts{ReqID: id, Hashes: []common.Hash{header.Hash()}}
	reply, err := p.request(ctx, protocol.GetReceiptsMsg, protocol.ReceiptsMsg, id, req)
	if err != nil {
		return nil, err
	}
	rep := reply.(*protocol.Receipts)
	if len(rep.Receipts) == 0 {
		if rep.Oversize {
			return c.fetchReceiptParts(ctx, p, header, txs)
		}
		return nil, ErrNotFound
	}
	receipts := types.Receipts(rep.Receipts[0])
	if err := verify.Receipts(header, receipts); err != nil {
		return nil, err
	}
	return receipts, nil
}

// fetchReceiptParts fetches a block's receipts part by part, verifying
// each receipt of a part against the header's receipts root.
func (c *Client) fetchReceiptParts(ctx context.Context, p *peer, header *types.Header, txs int) (types.Receipts, error) {
	receipts := make(types.Receipts, 0, txs)
	for len(receipts) < txs {
		id := reqIDs.Add(1)
		req := &protocol.GetReceiptsPart{ReqID: id, BlockHash: header.Hash(), Start: uint64(len(receipts))}
		reply, err := p.request(ctx, protocol.GetReceiptsPartMsg, protocol.ReceiptsPartMsg, id, req)
		if err != nil {
			return nil, err
		}
		part := reply.(*protocol.ReceiptsPart)
		if part.Count == 0 {
			return nil, ErrNotFound
		}
		got, err := verify.ReceiptsPart(header, txs, len(receipts), int(min(part.Count, protocol.MaxPartReceipts)), part.Nodes)
		if err != nil {
			return nil, err
		}
		receipts = append(receipts, got...)
	}
	return receipts, nil
}

func (c *Client) fetchProof(ctx context.Context, p *peer, block common.Hash, addr common.Address, slots []common.Hash) (*protocol.AccountProof, error) {
	id := reqIDs.Add(1)
	req := &protocol.GetProofs{ReqID: id, Requests: []protocol.ProofRequest{{BlockHash: block, Address: addr, Slots: slots}}}
	reply, err := p.request(ctx, protocol.GetProofsMsg, protocol.ProofsMsg, id, req)
	if err != nil {
		return nil, err
	}
	proofs := reply.(*protocol.Proofs).Proofs
	if len(proofs) == 0 {
		return nil, ErrNotFound
	}
	if len(proofs[0].Storage) != len(slots) {
		return nil, fmt.Errorf("%w: %d storage proofs for %d slots", verify.ErrStorageProof, len(proofs[0].Storage), len(slots))
	}
	return &proofs[0], nil
}

func (c *Client) fetchCode(ctx context.Context, p *peer, block common.Hash, addr common.Address, codeHash common.Hash) ([]byte, error) {
	id := reqIDs.Add(1)
	req := &protocol.GetCode{ReqID: id, Requests: []protocol.CodeRequest{{BlockHash: block, Address: addr}}}
	reply, err := p.request(ctx, protocol.GetCodeMsg, protocol.CodeMsg, id, req)
	if err != nil {
		return nil, err
	}
	codes := reply.(*protocol.CodeReply).Codes
	if len(codes) == 0 {
		return nil, ErrNotFound
	}
	if err := verify.Code(codeHash, codes[0]); err != nil {
		return nil, err
	}
	return codes[0], nil
}

func (c *Client) fetchTxStatus(ctx context.Context, p *peer, code protocol.Code, req protocol.Request, n int) ([]protocol.TxStatusItem, error) {
	reply, err := p.request(ctx, code, protocol.TxStatusMsg, req.RequestID(), req)
	if err != nil {
		return nil, err
	}
	items := reply.(*protocol.TxStatus).Statuses
	if len(items) != n {
		return nil, fmt.Errorf("%w: %d statuses for %d transactions", protocol.ErrInvalidRequest, len(items), n)
	}
	return slices.Clone(items), nil
}

// upstreamError carries the failure of a nested request (made to complete
// another one) out of do's callback without blaming the callback's server.
type upstreamError struct{ err error }

func (e *upstreamError) Error() string { return e.err.Error() }

// upstream marks err as the result of a nested request.
func upstream(err error) error {
	if err == nil {
		return nil
	}
	return &upstreamError{err}
}
