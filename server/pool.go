package server

import (
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/auction"
	"github.com/lightmarket/lightmarket/clientpool"
	"github.com/lightmarket/lightmarket/protocol"
)

// admit asks the client pool for a place and a capacity. Admitting a client
// may reduce or disconnect others.
func (s *Server) admit(p *peer) (uint64, error) {
	want := s.cfg.PaidCapacity
	if s.market != nil {
		want = 0 // paid capacity is won in the auction
	}
	s.poolMu.Lock()
	c, changes, err := s.pool.Connect(clientpool.ID(p.ID()), remoteIP(p.Peer), want)
	if err == nil && s.market != nil && c.Tier == clientpool.Paid {
		// With an auction, paid capacity is what a client wins there;
		// until it bids and wins it is served from the free tier.
		for _, ch := range s.pool.SetPaidCapacity(c.ID, 0) {
			if ch.ID == c.ID {
				c.Capacity = ch.Capacity
			} else {
				changes = append(changes, ch)
			}
		}
	}
	s.poolMu.Unlock()
	if err != nil {
		return 0, err
	}
	s.apply(changes)
	return c.Capacity, nil
}

// tellPoolCapacity gives the client the capacity the pool holds for it
// now, if it was told another. Changes are applied after the pool's lock
// is released, from any goroutine; each sends the pool's latest value, in
// order, so that a late one cannot undo a newer one.
func (s *Server) tellPoolCapacity(p *peer) {
	p.capMu.Lock()
	defer p.capMu.Unlock()
	s.poolMu.Lock()
	capacity, ok := s.pool.CapacityOf(clientpool.ID(p.ID()))
	s.poolMu.Unlock()
	if !ok || capacity == p.told {
		return
	}
	s.sendCapacity(p, capacity)
}

// disconnectGrace is how long a client the pool turns away has to read
// why before it is disconnected.
const disconnectGrace = time.Second

// leave gives a departing client's capacity back to the pool.
func (s *Server) leave(p *peer) {
	s.poolMu.Lock()
	changes := s.pool.Disconnect(clientpool.ID(p.ID()))
	s.poolMu.Unlock()
	s.apply(changes)
}

// served records serving cost against the client's (free) allowance.
func (s *Server) served(p *peer, cost uint64) {
	s.poolMu.Lock()
	s.pool.Served(clientpool.ID(p.ID()), cost)
	s.poolMu.Unlock()
}

// apply carries out the pool's decisions: new capacities are sent to the
// clients, displaced clients are told why and disconnected.
func (s *Server) apply(changes []clientpool.Change) {
	for _, ch := range changes {
		id := enode.ID(ch.ID)
		if !ch.Disconnect {
			s.mu.Lock()
			p := s.peers[id]
			s.mu.Unlock()
			if p != nil {
				s.tellPoolCapacity(p)
			}
			// A client not registered yet is told when it is.
			continue
		}
		s.mu.Lock()
		p := s.peers[id]
		s.mu.Unlock()
		if p != nil {
			p.log.Debug("Disconnecting client", "reason", ch.Reason)
			// Told why first; a client that does not read is not waited for.
			var once sync.Once
			disconnect := func() { once.Do(func() { p.Disconnect(p2p.DiscTooManyPeers) }) }
			p.queue(protocol.ErrorMsg, &protocol.Error{Reason: ch.Reason}, func(error) { go disconnect() })
			time.AfterFunc(disconnectGrace, disconnect)
		}
	}
}

// SetBalance sets a client's balance in wei, as an operator's grant: a
// positive balance makes it a paid client. The ledger has it on disk
// before it takes effect.
func (s *Server) SetBalance(id enode.ID, wei *big.Int) error {
	if wei.Sign() < 0 {
		return fmt.Errorf("negative balance %v", wei)
	}
	if err := s.cashier.SetBalance(id, wei); err != nil {
		return fmt.Errorf("storing balance: %w", err)
	}
	s.setPoolBalance(id, s.cashier.Balance(id))
	return nil
}

// Balance is a client's balance in wei.
func (s *Server) Balance(id enode.ID) *big.Int { return s.cashier.Balance(id) }

// Clients lists the connected clients as the pool sees them, lowest
// priority first, with their flow-control buffers.
func (s *Server) Clients() []ClientInfo {
	s.poolMu.Lock()
	snap := s.pool.Snapshot()
	tiers := make([]clientpool.Tier, len(snap))
	for i, c := range snap {
		tiers[i] = clientpool.Free
		if s.paidLocked(c.ID, c.Tier) {
			tiers[i] = clientpool.Paid
		}
	}
	s.poolMu.Unlock()
	out := make([]ClientInfo, 0, len(snap))
	for i, c := range snap {
		info := ClientInfo{ID: enode.ID(c.ID).String(), IP: c.IP, Tier: string(tiers[i]), Capacity: c.Capacity,
			Priority: c.Priority, Balance: c.Balance.String(), Usage: c.Usage}
		s.mu.Lock()
		p := s.peers[enode.ID(c.ID)]
		s.mu.Unlock()
		if p != nil && p.buf != nil {
			p.mu.Lock()
			info.Buffer = p.buf.Value()
			p.mu.Unlock()
		}
		out = append(out, info)
	}
	return out
}

// ClientInfo describes a connected client.
type ClientInfo struct {
	ID       string  `json:"id"`
	IP       string  `json:"ip"`
	Tier     string  `json:"tier"`
	Capacity uint64  `json:"capacity"`
	Buffer   uint64  `json:"buffer"`
	Priority float64 `json:"priority"`
	Balance  string  `json:"balance"` // wei
	Usage    float64 `json:"usage"`   // recent cost units used by its IP
}

// CapacityInfo is the server's capacity: total, given to paid and to free
// clients.
type CapacityInfo struct {
	Total uint64 `json:"total"`
	Paid  uint64 `json:"paid"`
	Free  uint64 `json:"free"`
}

// Capacity reports the server's capacity use.
func (s *Server) Capacity() CapacityInfo {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	total, paid, free := s.pool.Capacity()
	return CapacityInfo{Total: total, Paid: paid, Free: free}
}

// remoteIP is the client's IP address, which its free usage is counted by.
func remoteIP(p *p2p.Peer) string {
	addr := p.RemoteAddr()
	if addr == nil {
		return ""
	}
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// isPaid reports whether a connected client is in the paid tier.
func (s *Server) isPaid(p *peer) bool {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	return s.paidLocked(clientpool.ID(p.ID()), s.pool.Tier(clientpool.ID(p.ID())))
}

// paidLocked says whether a client is served (and charged) as paid: with
// an auction, while it holds capacity won there, whatever its balance, so
// that client and server agree on the tier and money paid ahead is spent
// only on capacity held; without one, while it has a balance. poolMu is
// held.
func (s *Server) paidLocked(id clientpool.ID, tier clientpool.Tier) bool {
	if s.market != nil {
		return s.market.Allocation(auction.ID(id)) > 0
	}
	return tier == clientpool.Paid
}
