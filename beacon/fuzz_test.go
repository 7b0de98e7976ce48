package beacon

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/lightmarket/lightmarket/chain/devbeacon"
)

// FuzzDecodeUpdates feeds arbitrary JSON to the decoders of a consensus
// client's optimistic and finality updates (the relay reads them from its
// consensus client's API and event stream): they may refuse, never panic,
// and what they accept converts to go-ethereum's types or is refused.
func FuzzDecodeUpdates(f *testing.F) {
	cfg := devbeacon.Config(common.Hash{1})
	f.Add([]byte(`{"version":"electra","data":{"attested_header":{"beacon":{"slot":"1","proposer_index":"0","parent_root":"0x0000000000000000000000000000000000000000000000000000000000000000","state_root":"0x0000000000000000000000000000000000000000000000000000000000000000","body_root":"0x0000000000000000000000000000000000000000000000000000000000000000"},"execution":{},"execution_branch":[]},"sync_aggregate":{"sync_committee_bits":"0x00","sync_committee_signature":"0x00"},"signature_slot":"2"}}`))
	f.Add([]byte(`{"attested_header":{"beacon":{"slot":"1"}},"signature_slot":"2"}`))
	f.Add([]byte(`{"version":"gloas","data":{"attested_header":{"execution_block_hash":"0x01"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if o, err := DecodeOptimistic(data, cfg); err == nil {
			o.Geth()
		}
		if fin, err := DecodeFinality(data, cfg); err == nil {
			fin.Geth()
		}
	})
}
