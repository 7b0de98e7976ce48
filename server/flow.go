package server

import (
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/flowcontrol"
	"github.com/lightmarket/lightmarket/protocol"
)

// DefaultCapacity is a client's capacity in cost units (ns of serving) per
// millisecond: 100,000 lets a client use a tenth of one serving thread.
const DefaultCapacity = 100_000

// requestOverhead is charged on top of the measured serving time of every
// request: the session's work that serving time does not see (reading,
// decrypting and decoding the request, scheduling it, encoding and sending
// the reply), which on loopback is as large as the serving itself.
const requestOverhead = 50 * time.Microsecond

// initialCosts are the maximum costs announced before the server has
// measured its own: LES's measured average serving times (ns) doubled.
func initialCosts() flowcontrol.CostTable {
	return flowcontrol.CostTable{
		uint64(protocol.GetBlockHeadersMsg): {Base: 300_000, PerItem: 60_000},
		uint64(protocol.GetBlockBodiesMsg):  {PerItem: 1_400_000},
		uint64(protocol.GetReceiptsMsg):     {PerItem: 2_000_000},
		uint64(protocol.GetProofsMsg):       {PerItem: 1_200_000},
		uint64(protocol.GetCodeMsg):         {PerItem: 900_000},
		uint64(protocol.SendTxMsg):          {PerItem: 900_000},
		uint64(protocol.GetTxStatusMsg):     {PerItem: 500_000},
		// A part is up to 2 MiB of receipts; the first of a block builds
		// its receipt trie.
		uint64(protocol.GetReceiptsPartMsg): {PerItem: 40_000_000},
		// A witness runs a call (for at most DefaultWitnessTimeout) and proves
		// what it read.
		uint64(protocol.GetWitnessMsg): {PerItem: 50_000_000},
		// A header proof reads the header and walks two Merkle trees; a
		// section not in the cache is read from disk first.
		uint64(protocol.GetHeaderProofsMsg): {Base: 2_000_000, PerItem: 500_000},
		uint64(protocol.GetBloomBitsMsg):    {Base: 2_000_000, PerItem: 200_000},
		// A recent header is a header and a storage proof at the head.
		uint64(protocol.GetRecentHeadersMsg): {Base: 1_200_000, PerItem: 300_000},
		// A tail is built once per head (two sections' trees: milliseconds),
		// then proven from memory; a header is read from the backend.
		uint64(protocol.GetTailMsg): {Base: 5_000_000, PerItem: 200_000},
		// Beacon data not yet cached is read from the consensus client
		// (an HTTP request, a few ms).
		uint64(protocol.GetBeaconBootstrapMsg): {Base: 5_000_000},
		uint64(protocol.GetBeaconUpdatesMsg):   {Base: 5_000_000, PerItem: 500_000},
	}
}

// flowParams is the FlowControl field of a Status.
func flowParams(p flowcontrol.Params, table flowcontrol.CostTable) protocol.FlowParams {
	fp := protocol.FlowParams{BufferLimit: p.BufLimit, Recharge: p.Recharge}
	for _, code := range []protocol.Code{
		protocol.GetBlockHeadersMsg, protocol.GetBlockBodiesMsg, protocol.GetReceiptsMsg,
		protocol.GetProofsMsg, protocol.GetCodeMsg, protocol.SendTxMsg, protocol.GetTxStatusMsg,
		protocol.GetReceiptsPartMsg, protocol.GetWitnessMsg, protocol.GetHeaderProofsMsg, protocol.GetBloomBitsMsg,
		protocol.GetRecentHeadersMsg, protocol.GetTailMsg, protocol.GetBeaconBootstrapMsg, protocol.GetBeaconUpdatesMsg,
	} {
		c := table[uint64(code)]
		fp.Costs = append(fp.Costs, protocol.RequestCost{Code: code, Base: c.Base, PerItem: c.PerItem})
	}
	return fp
}

// costs learns serving costs across all clients; the table it proposes is
// announced to clients that connect later.
type costs struct {
	mu      sync.Mutex
	tracker *flowcontrol.CostTracker
}

func (c *costs) observe(code protocol.Code, items int, realCost uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tracker.Observe(uint64(code), items, realCost)
}

func (c *costs) table() flowcontrol.CostTable {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tracker.Table()
}

// setBV sets the buffer value of a reply.
func setBV(reply any, bv uint64) {
	if r, ok := reply.(protocol.Reply); ok {
		r.SetBufferValue(bv)
	}
}

// SetCapacity changes a connected client's capacity (cost units per ms) and
// tells the client. A raise applies at once, a cut after
// flowcontrol.LowerDelay.
func (s *Server) SetCapacity(id enode.ID, capacity uint64) error {
	s.mu.Lock()
	p := s.peers[id]
	s.mu.Unlock()
	if p == nil {
		return fmt.Errorf("client %v not connected", id)
	}
	p.capMu.Lock()
	defer p.capMu.Unlock()
	s.sendCapacity(p, capacity)
	return nil
}

// sendCapacity sets the client's buffer to capacity and queues the news
// for it (p.capMu held: updates are queued in the order they are made).
func (s *Server) sendCapacity(p *peer, capacity uint64) {
	params := flowcontrol.ParamsFor(capacity)
	p.mu.Lock()
	p.buf.SetParams(params)
	p.mu.Unlock()
	p.told = capacity
	p.send(protocol.CapacityUpdateMsg, &protocol.CapacityUpdate{BufferLimit: params.BufLimit, Recharge: params.Recharge})
}
