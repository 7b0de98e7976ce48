package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
)

// Witness asks a server for everything a call reads, in one round trip:
// the server runs method (an eth_ method taking a call) with params (the
// JSON array of its parameters without the block) at the block with the
// given header, and proves every account, storage slot and code it read.
// The client verifies all of it against the header's state root (a proof
// that does not verify is a lie) and keeps it for the run. It returns the
// server that sent the witness, for WitnessIncomplete.
func (c *Client) Witness(ctx context.Context, header *types.Header, method string, params []byte) (enode.ID, error) {
	var from enode.ID
	c.witnessAsks.Add(1)
	err := c.do(ctx, func(ctx context.Context, p *peer) error {
		id := reqIDs.Add(1)
		req := &protocol.GetWitness{ReqID: id, BlockHash: header.Hash(), Method: method, Params: params}
		reply, err := p.request(ctx, protocol.GetWitnessMsg, protocol.WitnessMsg, id, req)
		if err != nil {
			return err
		}
		if err := c.keepWitness(header, reply.(*protocol.Witness)); err != nil {
			c.cfg.Metrics.Witnesses.WithLabelValues(verify.Kind(err)).Inc()
			return err
		}
		from = p.id
		return nil
	})
	return from, err
}

// ErrBusy says a prefetch was not sent: no server had capacity to spare.
var ErrBusy = errors.New("no spare capacity")

// PrefetchWitness asks for a call's witness ahead of the call (at a new
// head, for a call a wallet keeps making), from spare capacity only: it
// asks the best server only when the request leaves at least half of the
// client's buffer there, and returns ErrBusy otherwise. It makes one
// attempt; what it proves is kept as Witness keeps it.
func (c *Client) PrefetchWitness(ctx context.Context, header *types.Header, method string, params []byte) error {
	c.mu.Lock()
	var best *peer
	for _, p := range c.peers {
		if best == nil || better(p, best) {
			best = p
		}
	}
	c.mu.Unlock()
	if best == nil {
		return ErrNoPeers
	}
	id := reqIDs.Add(1)
	req := &protocol.GetWitness{ReqID: id, BlockHash: header.Hash(), Method: method, Params: params}
	maxCost, _ := best.costs.MaxCost(uint64(protocol.GetWitnessMsg), req.Items())
	best.fcMu.Lock()
	spare := !best.stopped.Load() && best.fc.Value() >= maxCost+best.fc.Params().BufLimit/2
	best.fcMu.Unlock()
	if !spare {
		return ErrBusy
	}
	c.prefetches.Add(1)
	reply, err := best.request(ctx, protocol.GetWitnessMsg, protocol.WitnessMsg, id, req)
	if err != nil {
		return err
	}
	if err := c.keepWitness(header, reply.(*protocol.Witness)); err != nil {
		c.cfg.Metrics.Witnesses.WithLabelValues(verify.Kind(err)).Inc()
		c.punish(best, err)
		return err
	}
	c.cfg.Metrics.Witnesses.WithLabelValues("prefetched").Inc()
	return nil
}

// keepWitness verifies a witness and adds what it proves to the state
// cache. Nothing is kept unless all of it verifies.
func (c *Client) keepWitness(header *types.Header, w *protocol.Witness) error {
	nodes, hashes := verify.HashNodes(w.Nodes)
	block := header.Hash()
	type item struct {
		key stateKey
		val any
	}
	var items []item
	codeHashes := make(map[common.Hash]bool)
	for _, wa := range w.Accounts {
		acct, err := verify.AccountIn(header.Root, wa.Address, nodes)
		if err != nil {
			return err
		}
		items = append(items, item{accountKey(block, wa.Address), provenAccount{account: acct}})
		root := types.EmptyRootHash
		if acct != nil {
			root = acct.Root
			codeHashes[common.BytesToHash(acct.CodeHash)] = true
		}
		for _, slot := range wa.Slots {
			v, err := verify.StorageIn(root, slot, nodes)
			if err != nil {
				return err
			}
			items = append(items, item{slotKey(block, wa.Address, slot), provenSlot{value: v}})
		}
	}
	for _, code := range w.Codes {
		hash := crypto.Keccak256Hash(code)
		if !codeHashes[hash] {
			return fmt.Errorf("%w: witness code %x is no proven account's", verify.ErrCodeHash, hash)
		}
		items = append(items, item{codeKey(hash), code})
	}
	c.state.addNodes(w.Nodes, hashes)
	for _, it := range items {
		// A proof already held is kept: eth_getProof can use it.
		if _, ok := c.state.get(it.key); ok && it.key.kind != keyCode {
			continue
		}
		c.state.add(it.key, it.val)
	}
	return nil
}

// WitnessIncomplete counts against a server that a run over its witness
// still had to fetch state: not a lie (a witness may be cut short), but
// the client prefers servers whose witnesses are whole.
func (c *Client) WitnessIncomplete(server enode.ID) {
	c.cfg.Metrics.Witnesses.WithLabelValues("incomplete").Inc()
	c.mu.Lock()
	p := c.peers[server]
	if s := c.stats[server]; s != nil {
		s.Failures++
		s.LastError = "incomplete witness"
	}
	c.mu.Unlock()
	if p != nil {
		// A quarter slower in the client's eyes.
		p.latency.Store(p.latency.Load() * 5 / 4)
	}
}

// WitnessComplete counts a witness that held everything its run read.
func (c *Client) WitnessComplete() { c.cfg.Metrics.Witnesses.WithLabelValues("complete").Inc() }
