package beacon_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/ethereum/go-ethereum/beacon/params"
	btypes "github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
	dynssz "github.com/pk910/dynamic-ssz"

	"github.com/lightmarket/lightmarket/beacon"
	"github.com/lightmarket/lightmarket/protocol"
)

// Real blocks (mainnet capella and deneb, electra of a test network; the
// ones go-ethereum's own tests read) turned into light-client headers as a
// consensus client serves them: the relay's JSON decoding, its SSZ
// re-encoding of the payload header on the wire and the conversion back
// give headers whose execution proof go-ethereum validates against the
// block's body root, with the block's execution hash.
func TestRealBlocksThroughTheWire(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/ethereum/go-ethereum").Output()
	if err != nil {
		t.Skipf("go-ethereum's module directory: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "beacon", "types", "testdata")
	for _, tt := range []struct {
		file, version string
		txIndex       int // generalized indices of transactions and withdrawals in the payload
	}{
		{"block_capella.json", "capella", 29},
		{"block_deneb.json", "deneb", 45},
		{"block_electra_withdrawals.json", "electra", 45},
		{"block_electra_deposits.json", "electra", 45},
		{"block_electra_consolidations.json", "electra", 45},
	} {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Skipf("go-ethereum's test block: %v", err)
			}
			var (
				header  btypes.Header
				body    any
				payload any
				hash    common.Hash
			)
			switch tt.version {
			case "capella":
				var b capella.BeaconBlock
				if err := json.Unmarshal(data, &b); err != nil {
					t.Fatal(err)
				}
				header = btypes.Header{Slot: uint64(b.Slot), ProposerIndex: uint64(b.ProposerIndex), ParentRoot: common.Hash(b.ParentRoot), StateRoot: common.Hash(b.StateRoot)}
				body, payload, hash = b.Body, b.Body.ExecutionPayload, common.Hash(b.Body.ExecutionPayload.BlockHash)
			case "deneb":
				var b deneb.BeaconBlock
				if err := json.Unmarshal(data, &b); err != nil {
					t.Fatal(err)
				}
				header = btypes.Header{Slot: uint64(b.Slot), ProposerIndex: uint64(b.ProposerIndex), ParentRoot: common.Hash(b.ParentRoot), StateRoot: common.Hash(b.StateRoot)}
				body, payload, hash = b.Body, b.Body.ExecutionPayload, common.Hash(b.Body.ExecutionPayload.BlockHash)
			default:
				var b electra.BeaconBlock
				if err := json.Unmarshal(data, &b); err != nil {
					t.Fatal(err)
				}
				header = btypes.Header{Slot: uint64(b.Slot), ProposerIndex: uint64(b.ProposerIndex), ParentRoot: common.Hash(b.ParentRoot), StateRoot: common.Hash(b.StateRoot)}
				body, payload, hash = b.Body, b.Body.ExecutionPayload, common.Hash(b.Body.ExecutionPayload.BlockHash)
			}
			ssz := dynssz.GetGlobalDynSsz()
			bt, err := ssz.GetTree(body)
			if err != nil {
				t.Fatal(err)
			}
			header.BodyRoot = common.BytesToHash(bt.Hash())
			proof, err := bt.Prove(int(params.BodyIndexExecPayload))
			if err != nil {
				t.Fatal(err)
			}
			// The payload header's JSON: the payload's, its transactions and
			// withdrawals replaced by their roots.
			pt, err := ssz.GetTree(payload)
			if err != nil {
				t.Fatal(err)
			}
			enc, _ := json.Marshal(payload)
			var fields map[string]any
			json.Unmarshal(enc, &fields)
			delete(fields, "transactions")
			delete(fields, "withdrawals")
			for name, g := range map[string]int{"transactions_root": tt.txIndex, "withdrawals_root": tt.txIndex + 1} {
				n, err := pt.Get(g)
				if err != nil {
					t.Fatal(err)
				}
				fields[name] = fmt.Sprintf("0x%x", n.Hash())
			}
			var branch []string
			for _, h := range proof.Hashes {
				branch = append(branch, fmt.Sprintf("0x%x", h))
			}
			update, _ := json.Marshal(map[string]any{"version": tt.version, "data": map[string]any{
				"attested_header": map[string]any{"beacon": map[string]any{"slot": fmt.Sprint(header.Slot),
					"proposer_index": fmt.Sprint(header.ProposerIndex), "parent_root": header.ParentRoot, "state_root": header.StateRoot,
					"body_root": header.BodyRoot}, "execution": fields, "execution_branch": branch},
				"sync_aggregate": map[string]any{"sync_committee_bits": "0x" + strings.Repeat("ff", 64),
					"sync_committee_signature": "0x" + strings.Repeat("00", 96)},
				"signature_slot": fmt.Sprint(header.Slot + 1),
			}})
			opt, err := beacon.DecodeOptimistic(update, params.MainnetLightConfig)
			if err != nil {
				t.Fatal(err)
			}
			wire, err := rlp.EncodeToBytes(opt)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := protocol.Decode(protocol.BeaconOptimisticMsg, wire)
			if err != nil {
				t.Fatal(err)
			}
			got, err := msg.(*protocol.BeaconOptimistic).Geth()
			if err != nil {
				t.Fatal(err)
			}
			if err := got.Attested.Validate(params.MainnetLightConfig); err != nil {
				t.Fatalf("execution proof of slot %d: %v", header.Slot, err)
			}
			if got.Attested.BlockHash() != hash || got.Attested.Hash() != header.Hash() {
				t.Fatalf("execution block %x, want %x", got.Attested.BlockHash(), hash)
			}
			t.Logf("slot %d, execution block %x: %d wire bytes", header.Slot, hash, len(wire))
		})
	}
}
