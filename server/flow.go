package server

import "github.com/lightmarket/lightmarket/protocol"

// defaultRecharge is a client's recharge rate in cost units per millisecond.
// Cost units are nanoseconds of serving time, so 100,000 per ms lets a
// client use a tenth of one serving thread.
const defaultRecharge = 100_000

// announcedFlowParams are the flow-control parameters sent in the handshake.
// Version 1 announces them without enforcing them: the buffer limit is 6 s
// of recharge and the costs are LES's measured average serving times (ns)
// doubled.
func announcedFlowParams() protocol.FlowParams {
	return protocol.FlowParams{
		BufferLimit: 6000 * defaultRecharge,
		Recharge:    defaultRecharge,
		Costs: []protocol.RequestCost{
			{Code: protocol.GetBlockHeadersMsg, Base: 300_000, PerItem: 60_000},
			{Code: protocol.GetBlockBodiesMsg, PerItem: 1_400_000},
			{Code: protocol.GetReceiptsMsg, PerItem: 2_000_000},
			{Code: protocol.GetProofsMsg, PerItem: 1_200_000},
			{Code: protocol.GetCodeMsg, PerItem: 900_000},
			{Code: protocol.SendTxMsg, PerItem: 900_000},
			{Code: protocol.GetTxStatusMsg, PerItem: 500_000},
		},
	}
}
