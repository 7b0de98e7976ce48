package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/flowcontrol"
	"github.com/lightmarket/lightmarket/protocol"
)

// LocalSession is a client session without a connection: its requests go
// through the same admission, flow control, scheduling, serving and
// accounting as a remote client's, minus the wire. Benchmarks use it to
// measure what the server adds to its backend.
type LocalSession struct {
	s *Server
	p *peer
}

// NewLocalSession admits a client with node id id to the pool (local
// sessions share one pseudo IP address, "pipe").
func (s *Server) NewLocalSession(id enode.ID) (*LocalSession, error) {
	p := &peer{
		Peer:     p2p.NewPeer(id, "local", nil),
		rw:       discardRW{},
		log:      s.cfg.Logger.New("peer", id.TerminalString()),
		announce: make(chan *protocol.Announce, 1),
		roots:    make(chan *protocol.HistoryRoot, 1),
		table:    s.costs.table(),
	}
	capacity, err := s.admit(p)
	if err != nil {
		return nil, err
	}
	p.buf = flowcontrol.NewClientBuffer(s.cfg.Clock, flowcontrol.ParamsFor(capacity))
	return &LocalSession{s: s, p: p}, nil
}

// Close gives the session's capacity back.
func (ls *LocalSession) Close() {
	ls.s.sched.forget(ls.p)
	ls.s.leave(ls.p)
}

// Do serves one request and returns the reply.
func (ls *LocalSession) Do(ctx context.Context, code protocol.Code, req protocol.Request) (any, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	maxCost, _ := ls.p.table.MaxCost(uint64(code), req.Items())
	if err := ls.p.accept(maxCost); err != nil {
		return nil, fmt.Errorf("%v: %w", code, err)
	}
	var reply any
	done := make(chan struct{})
	ls.s.sched.submit(ls.p, ls.s.isPaid(ls.p), maxCost, func() {
		defer close(done)
		_, reply = ls.s.process(ctx, ls.p, code, req, maxCost)
	})
	select {
	case <-done:
		return reply, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// discardRW drops what the server sends a local session (Stop, Resume).
type discardRW struct{}

func (discardRW) ReadMsg() (p2p.Msg, error) { return p2p.Msg{}, errors.New("local session") }
func (discardRW) WriteMsg(msg p2p.Msg) error {
	msg.Discard()
	return nil
}
