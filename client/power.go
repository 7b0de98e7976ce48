package client

import (
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"
)

// Power is what the app embedding the client lets it spend on the network
// and the CPU. The zero value is a foreground app on an unmetered network:
// everything runs.
//
// In the background the client pauses: it closes its server connections,
// takes no servers from discovery, prefetches nothing and makes no market
// moves, so it sends and receives nothing but discv5's own upkeep. When
// KeepPaid is set, the server where the client holds paid capacity (or
// bids) stays connected and its bid stands; otherwise the app withdraws
// its demand itself (package lightclient does). Coming back, the client
// dials its servers at once and accepts the first head that enough
// trusted servers sign without fetching the headers it missed: older
// headers are proven on demand (EIP-2935 or a history section).
//
// On a metered network the client prefetches nothing and keeps at most
// one server found by discovery besides its configured ones.
type Power struct {
	Background bool `json:"background"`
	KeepPaid   bool `json:"keepPaid"`
	Metered    bool `json:"metered"`
}

// meteredServers is how many discovered servers a client on a metered
// network keeps connected at most.
const meteredServers = 1

// SetPower changes what the client may spend. Coming out of the
// background it redials its servers at once.
func (c *Client) SetPower(p Power) {
	c.mu.Lock()
	old := c.power
	c.power = p
	if old.Background && !p.Background {
		close(c.foreground)
		// The head was not followed in the background: it is not
		// answered from until the trusted servers sign one again.
		c.resuming = true
	}
	if !old.Background && p.Background {
		c.foreground = make(chan struct{})
	}
	c.mu.Unlock()
	if old != p {
		c.cfg.Logger.Info("Power mode", "background", p.Background, "keepPaid", p.KeepPaid, "metered", p.Metered)
		select {
		case c.powerWake <- struct{}{}:
		default:
		}
		c.marketPoke()
	}
}

// Power is what the client may spend now.
func (c *Client) Power() Power {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.power
}

// Prefetching says whether the client may fetch what nobody asked for yet
// (the witnesses of calls a wallet keeps making).
func (c *Client) Prefetching() bool {
	p := c.Power()
	return !p.Background && !p.Metered
}

// keptDiscovered is how many servers found by discovery the client keeps
// connected in its power mode.
func (c *Client) keptDiscovered() int {
	p := c.Power()
	n := max(c.cfg.MaxServers, 0)
	if p.Metered {
		n = min(n, meteredServers)
	}
	return n
}

// waitForeground blocks until the client is in the foreground or stops,
// and reports whether it is in the foreground.
func (c *Client) waitForeground() bool {
	c.mu.Lock()
	fg := c.foreground
	c.mu.Unlock()
	select {
	case <-fg:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// pauseConnections closes, in the background, every server connection
// the app did not ask to keep: all of them, or all but those where the
// client holds paid capacity or bids when KeepPaid is set. It reports
// whether the client is in the background.
func (c *Client) pauseConnections() bool {
	c.mu.Lock()
	p := c.power
	if !p.Background {
		c.mu.Unlock()
		return false
	}
	keep := make(map[enode.ID]bool)
	if p.KeepPaid {
		for id, pr := range c.peers {
			if s := c.stats[id]; pr.bidding || (s != nil && s.PaidCapacity > 0) {
				keep[id] = true
			}
		}
	}
	c.mu.Unlock()
	for _, pp := range c.p2p.Peers() {
		if !keep[pp.ID()] {
			pp.Disconnect(p2p.DiscRequested)
		}
	}
	return true
}

// resumeLinkGap is the widest gap between the accepted head and a newly
// announced one that the client closes by fetching the headers between:
// a wider one (a client back from the background, a server far ahead)
// starts the canonical chain again at the new head.
const resumeLinkGap = 16
