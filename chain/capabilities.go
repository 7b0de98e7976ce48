package chain

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/lightmarket/lightmarket/protocol"
)

// Capabilities is the answer of eth_capabilities (execution-apis PR 755,
// as go-ethereum v1.17 gives it): which history a node serves.
type Capabilities struct {
	Head struct {
		Number hexutil.Uint64 `json:"number"`
		Hash   common.Hash    `json:"hash"`
	} `json:"head"`
	State       CapabilityResource `json:"state"`
	Tx          CapabilityResource `json:"tx"`
	Logs        CapabilityResource `json:"logs"`
	Receipts    CapabilityResource `json:"receipts"`
	Blocks      CapabilityResource `json:"blocks"`
	StateProofs CapabilityResource `json:"stateproofs"`
}

// CapabilityResource is one kind of data in eth_capabilities.
type CapabilityResource struct {
	Disabled       bool            `json:"disabled"`
	OldestBlock    *hexutil.Uint64 `json:"oldestBlock,omitempty"`
	DeleteStrategy *DeleteStrategy `json:"deleteStrategy,omitempty"`
}

// DeleteStrategy says how a node drops old data: "window" keeps the last
// RetentionBlocks blocks.
type DeleteStrategy struct {
	Type            string          `json:"type"`
	RetentionBlocks *hexutil.Uint64 `json:"retentionBlocks,omitempty"`
}

// FullNodeRetention is what a full node with default settings keeps:
// state for the last 128 blocks (go-ethereum's TriesInMemory), everything
// else from genesis.
var FullNodeRetention = protocol.Retention{
	State:       protocol.Availability{Window: 128},
	StateProofs: protocol.Availability{Window: 128},
}

// Retention converts the answer to the form servers announce, which does
// not depend on the head: a window's floor is kept only where it lies
// above the window's own start.
func (c *Capabilities) Retention() protocol.Retention {
	head := uint64(c.Head.Number)
	conv := func(r CapabilityResource) protocol.Availability {
		if r.Disabled {
			return protocol.Availability{Disabled: true}
		}
		var a protocol.Availability
		if r.OldestBlock != nil {
			a.Oldest = uint64(*r.OldestBlock)
		}
		if r.DeleteStrategy != nil && r.DeleteStrategy.Type == "window" && r.DeleteStrategy.RetentionBlocks != nil {
			a.Window = uint64(*r.DeleteStrategy.RetentionBlocks)
			if head+1 > a.Window && a.Oldest <= head+1-a.Window {
				a.Oldest = 0 // the window, not a floor, sets the oldest block
			}
		}
		return a
	}
	return protocol.Retention{
		State: conv(c.State), Tx: conv(c.Tx), Logs: conv(c.Logs),
		Receipts: conv(c.Receipts), Blocks: conv(c.Blocks), StateProofs: conv(c.StateProofs),
	}
}

// NewCapabilities renders a retention at a head as eth_capabilities does.
func NewCapabilities(r protocol.Retention, headNumber uint64, headHash common.Hash) *Capabilities {
	c := &Capabilities{
		State: resource(r.State, headNumber), Tx: resource(r.Tx, headNumber), Logs: resource(r.Logs, headNumber),
		Receipts: resource(r.Receipts, headNumber), Blocks: resource(r.Blocks, headNumber), StateProofs: resource(r.StateProofs, headNumber),
	}
	c.Head.Number, c.Head.Hash = hexutil.Uint64(headNumber), headHash
	return c
}

func resource(a protocol.Availability, head uint64) CapabilityResource {
	if a.Disabled {
		return CapabilityResource{Disabled: true}
	}
	oldest := hexutil.Uint64(a.OldestAt(head))
	r := CapabilityResource{OldestBlock: &oldest}
	if a.Window != 0 {
		w := hexutil.Uint64(a.Window)
		r.DeleteStrategy = &DeleteStrategy{Type: "window", RetentionBlocks: &w}
	}
	return r
}
