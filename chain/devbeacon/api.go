package devbeacon

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/beacon/merkle"
	"github.com/ethereum/go-ethereum/beacon/params"
	"github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"
	ctypes "github.com/ethereum/go-ethereum/core/types"
)

// maxUpdates bounds the committee updates one request asks for (the beacon
// API's MAX_REQUEST_LIGHT_CLIENT_UPDATES).
const maxUpdates = 128

// API serves a chain on the beacon node REST endpoints a light client
// reads: light_client bootstrap, updates, optimistic and finality updates,
// block headers, and the event stream of heads and updates. Every header is
// signed by the whole committee.
type API struct {
	mu    sync.Mutex
	chain *Chain
	subs  map[chan event]bool
	// The head's updates, signed once when it is added (a BLS signing
	// costs milliseconds; clients poll).
	optimistic, finality []byte
}

type event struct {
	name string
	data []byte
}

// NewAPI serves chain; blocks are added through the API's Add.
func NewAPI(chain *Chain) *API {
	return &API{chain: chain, subs: make(map[chan event]bool)}
}

// Add adds the next execution block, given by its header (an empty
// payload), as AddBlock.
func (a *API) Add(h *ctypes.Header) error { return a.AddBlock(ctypes.NewBlockWithHeader(h)) }

// AddBlock adds the next execution block to the chain and sends the new
// head and updates to the event stream's subscribers.
func (a *API) AddBlock(b *ctypes.Block) error { return a.AddBlocks([]*ctypes.Block{b}) }

// AddBlocks adds the next execution blocks, in order, and signs and sends
// the updates of the last one only (catching up, the heads between are
// never announced).
func (a *API) AddBlocks(blocks []*ctypes.Block) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range blocks {
		if err := a.chain.AddBlock(b); err != nil {
			return err
		}
	}
	head, _ := a.chain.Head()
	evs := []event{{"head", mustJSON(map[string]any{"slot": strconv.FormatUint(head.Slot, 10), "block": head.Hash()})}}
	var err error
	if a.optimistic, err = a.buildOptimistic(); err == nil {
		evs = append(evs, event{"light_client_optimistic_update", a.optimistic})
	}
	if a.finality, err = a.buildFinality(); err == nil {
		evs = append(evs, event{"light_client_finality_update", a.finality})
	}
	for ch := range a.subs {
		for _, ev := range evs {
			select {
			case ch <- ev:
			default: // a subscriber that does not keep up misses events
			}
		}
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/eth/v1/beacon/light_client/bootstrap/"):
		a.reply(w, func() ([]byte, error) {
			root, err := parseRoot(strings.TrimPrefix(path, "/eth/v1/beacon/light_client/bootstrap/"))
			if err != nil {
				return nil, err
			}
			return a.bootstrapJSON(root)
		})
	case path == "/eth/v1/beacon/light_client/updates":
		a.reply(w, func() ([]byte, error) { return a.updatesJSON(r.URL.Query()) })
	case path == "/eth/v1/beacon/light_client/optimistic_update":
		a.reply(w, a.optimisticJSON)
	case path == "/eth/v1/beacon/light_client/finality_update":
		a.reply(w, a.finalityJSON)
	case strings.HasPrefix(path, "/eth/v1/beacon/headers/"):
		a.reply(w, func() ([]byte, error) { return a.headerJSON(strings.TrimPrefix(path, "/eth/v1/beacon/headers/")) })
	case strings.HasPrefix(path, "/eth/v2/beacon/blocks/"):
		a.reply(w, func() ([]byte, error) { return a.blockJSON(strings.TrimPrefix(path, "/eth/v2/beacon/blocks/")) })
	case path == "/eth/v1/events":
		a.events(w, r)
	default:
		http.NotFound(w, r)
	}
}

var errBadRequest = errors.New("bad request")

// reply writes what f gives, or its error with the beacon API's status.
func (a *API) reply(w http.ResponseWriter, f func() ([]byte, error)) {
	a.mu.Lock()
	body, err := f()
	a.mu.Unlock()
	switch {
	case errors.Is(err, ErrNoBlock):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, errBadRequest):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}

func parseRoot(s string) (common.Hash, error) {
	b, err := hexBytes(s)
	if err != nil || len(b) != common.HashLength {
		return common.Hash{}, fmt.Errorf("%w: block root %q", errBadRequest, s)
	}
	return common.BytesToHash(b), nil
}

func hexBytes(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "0x") {
		return nil, errBadRequest
	}
	return common.ParseHexOrString(s)
}

// beaconHeader is a header as the beacon API writes it: numbers as
// decimal strings (go-ethereum's Header marshals them as JSON numbers, and
// reads only strings).
type beaconHeader struct {
	Slot          string      `json:"slot"`
	ProposerIndex string      `json:"proposer_index"`
	ParentRoot    common.Hash `json:"parent_root"`
	StateRoot     common.Hash `json:"state_root"`
	BodyRoot      common.Hash `json:"body_root"`
}

func beaconJSON(h types.Header) beaconHeader {
	return beaconHeader{strconv.FormatUint(h.Slot, 10), strconv.FormatUint(h.ProposerIndex, 10), h.ParentRoot, h.StateRoot, h.BodyRoot}
}

type jsonHeader struct {
	Beacon          beaconHeader  `json:"beacon"`
	Execution       any           `json:"execution,omitempty"`
	ExecutionBranch []common.Hash `json:"execution_branch,omitempty"`
}

// hexes is a branch as the beacon API writes it (merkle.Value marshals as
// an array of numbers).
func hexes(b merkle.Values) []common.Hash {
	out := make([]common.Hash, len(b))
	for i, v := range b {
		out[i] = common.Hash(v)
	}
	return out
}

func (a *API) withExec(b *block) jsonHeader {
	return jsonHeader{Beacon: beaconJSON(b.header), Execution: b.payload, ExecutionBranch: hexes(b.exec.Proof.(*types.LegacyHeaderProof).Branch)}
}

func versioned(data any) ([]byte, error) {
	return json.Marshal(map[string]any{"version": Version, "data": data})
}

func (a *API) bootstrapJSON(root common.Hash) ([]byte, error) {
	bs, err := a.chain.Bootstrap(root)
	if err != nil {
		return nil, err
	}
	b := a.chain.blocks[bs.Header.Slot]
	return versioned(map[string]any{
		"header":                        a.withExec(b),
		"current_sync_committee":        bs.Committee,
		"current_sync_committee_branch": hexes(bs.CommitteeBranch),
	})
}

func (a *API) updatesJSON(q map[string][]string) ([]byte, error) {
	start, err1 := strconv.ParseUint(first(q["start_period"]), 10, 64)
	count, err2 := strconv.ParseUint(first(q["count"]), 10, 64)
	if err1 != nil || err2 != nil || count == 0 {
		return nil, fmt.Errorf("%w: start_period and count are required numbers", errBadRequest)
	}
	out := []json.RawMessage{} // none: [], not null
	for p := start; p < start+min(count, maxUpdates); p++ {
		u, next, err := a.chain.Update(p, AllSign())
		if err != nil {
			break
		}
		att := a.chain.blocks[u.AttestedHeader.Header.Slot]
		fin := a.chain.blocks[u.FinalizedHeader.Slot]
		enc, err := versioned(map[string]any{
			"attested_header":            a.withExec(att),
			"next_sync_committee":        next,
			"next_sync_committee_branch": hexes(u.NextSyncCommitteeBranch),
			"finalized_header":           a.withExec(fin),
			"finality_branch":            hexes(u.FinalityBranch),
			"sync_aggregate":             u.AttestedHeader.Signature,
			"signature_slot":             strconv.FormatUint(u.AttestedHeader.SignatureSlot, 10),
		})
		if err != nil {
			return nil, err
		}
		out = append(out, enc)
	}
	return json.Marshal(out)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (a *API) optimisticJSON() ([]byte, error) { return cached(a.optimistic) }

func (a *API) finalityJSON() ([]byte, error) { return cached(a.finality) }

func cached(b []byte) ([]byte, error) {
	if b == nil {
		return nil, ErrNoBlock
	}
	return b, nil
}

func (a *API) buildOptimistic() ([]byte, error) {
	u, err := a.chain.Optimistic(AllSign())
	if err != nil {
		return nil, err
	}
	return versioned(map[string]any{
		"attested_header": a.withExec(a.chain.blocks[u.Attested.Slot]),
		"sync_aggregate":  u.Signature,
		"signature_slot":  strconv.FormatUint(u.SignatureSlot, 10),
	})
}

func (a *API) buildFinality() ([]byte, error) {
	u, err := a.chain.Finality(AllSign())
	if err != nil {
		return nil, err
	}
	return versioned(map[string]any{
		"attested_header":  a.withExec(a.chain.blocks[u.Attested.Slot]),
		"finalized_header": a.withExec(a.chain.blocks[u.Finalized.Slot]),
		"finality_branch":  hexes(u.FinalityBranch),
		"sync_aggregate":   u.Signature,
		"signature_slot":   strconv.FormatUint(u.SignatureSlot, 10),
	})
}

// block resolves a block id of the beacon API: head, genesis, finalized,
// a slot or a 0x-prefixed root.
func (a *API) block(id string) (*block, error) {
	head, ok := a.chain.Head()
	if !ok {
		return nil, fmt.Errorf("%w: no block yet", ErrNoBlock)
	}
	var slot uint64
	switch {
	case id == "head":
		slot = head.Slot
	case id == "genesis":
		slot = 0
	case id == "finalized":
		slot = finalizedSlot(head.Slot)
	case strings.HasPrefix(id, "0x"):
		root, err := parseRoot(id)
		if err != nil {
			return nil, err
		}
		if slot, ok = a.chain.slots[root]; !ok {
			return nil, fmt.Errorf("%w: block %s", ErrNoBlock, id)
		}
	default:
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: block id %.80q", errBadRequest, id)
		}
		slot = n
	}
	if slot > head.Slot {
		return nil, fmt.Errorf("%w: slot %d", ErrNoBlock, slot)
	}
	return a.chain.blocks[slot], nil
}

func (a *API) headerJSON(id string) ([]byte, error) {
	b, err := a.block(id)
	if err != nil {
		return nil, err
	}
	head, _ := a.chain.Head()
	h := b.header
	return json.Marshal(map[string]any{
		"execution_optimistic": false,
		"finalized":            h.Slot <= finalizedSlot(head.Slot),
		"data": map[string]any{
			"root":      h.Hash(),
			"canonical": true,
			"header":    map[string]any{"message": beaconJSON(h), "signature": "0x" + strings.Repeat("00", params.BLSSignatureSize)},
		},
	})
}

// blockJSON is a signed beacon block (its proposer signature is zero: no
// light client checks it).
func (a *API) blockJSON(id string) ([]byte, error) {
	b, err := a.block(id)
	if err != nil {
		return nil, err
	}
	head, _ := a.chain.Head()
	h := b.header
	signed := &electra.SignedBeaconBlock{Message: &electra.BeaconBlock{Slot: phase0.Slot(h.Slot), ProposerIndex: phase0.ValidatorIndex(h.ProposerIndex),
		ParentRoot: phase0.Root(h.ParentRoot), StateRoot: phase0.Root(h.StateRoot), Body: b.body}}
	data, err := json.Marshal(signed)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"version":              Version,
		"execution_optimistic": false,
		"finalized":            h.Slot <= finalizedSlot(head.Slot),
		"data":                 json.RawMessage(data),
	})
}

// events streams the heads and light-client updates as server-sent events.
func (a *API) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	topics := make(map[string]bool)
	for _, v := range r.URL.Query()["topics"] { // topics=a&topics=b, or topics=a,b
		for _, t := range strings.Split(v, ",") {
			topics[t] = true
		}
	}
	ch := make(chan event, 16)
	a.mu.Lock()
	a.subs[ch] = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.subs, ch)
		a.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	for {
		select {
		case ev := <-ch:
			if !topics[ev.name] {
				continue
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data)
			flusher.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
