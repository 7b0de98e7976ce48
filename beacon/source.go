package beacon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/ethereum/go-ethereum/beacon/light/api"
	"github.com/ethereum/go-ethereum/beacon/merkle"
	"github.com/ethereum/go-ethereum/beacon/params"
	btypes "github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"

	"github.com/lightmarket/lightmarket/protocol"
)

// maxEventSize bounds one server-sent event from the consensus client.
const maxEventSize = 1 << 20

// Source reads a consensus client's light-client data from its REST API.
// Bootstraps and committee updates are read with go-ethereum's
// beacon/light/api. Optimistic and finality updates are read from their
// endpoints and the event stream here: the relay needs each execution
// payload header whole (go-ethereum's types keep it unexported), and
// go-ethereum's event listener cannot be stopped safely while an event
// arrives (its event-source library closes channels a send may be using).
type Source struct {
	url    string
	config *params.ChainConfig
	api    *api.BeaconLightApi
	http   *http.Client
}

// NewSource reads the REST API at url (as http://127.0.0.1:5052).
func NewSource(url string, config *params.ChainConfig) *Source {
	url = strings.TrimRight(url, "/")
	return &Source{url: url, config: config, api: api.NewBeaconLightApi(url, nil, config),
		http: &http.Client{Timeout: 10 * time.Second}}
}

// URL is the API's address.
func (s *Source) URL() string { return s.url }

// Bootstrap reads and checks the bootstrap of the block with root.
func (s *Source) Bootstrap(root common.Hash) (*protocol.BeaconBootstrap, error) {
	data, err := s.api.GetCheckpointData(root)
	if err != nil {
		return nil, err
	}
	b := protocol.BeaconBootstrapOf(data)
	if b.Version == "" {
		b.Version = s.config.ForkNameAtSlot(data.Header.Slot)
	}
	return &b, nil
}

// Updates reads and checks (branches, committee roots: not signatures)
// the committee updates of count periods from start on.
func (s *Source) Updates(start, count uint64) ([]protocol.BeaconUpdate, error) {
	updates, committees, err := s.api.GetBestUpdatesAndCommittees(start, count)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.BeaconUpdate, len(updates))
	for i := range updates {
		out[i] = protocol.BeaconUpdateOf(updates[i], committees[i])
		if out[i].Version == "" {
			out[i].Version = s.config.ForkNameAtSlot(updates[i].AttestedHeader.Header.Slot)
		}
	}
	return out, nil
}

// Optimistic reads the latest optimistic update.
func (s *Source) Optimistic(ctx context.Context) (*protocol.BeaconOptimistic, error) {
	body, err := s.get(ctx, "/eth/v1/beacon/light_client/optimistic_update")
	if err != nil {
		return nil, err
	}
	return DecodeOptimistic(body, s.config)
}

// Finality reads the latest finality update.
func (s *Source) Finality(ctx context.Context) (*protocol.BeaconFinality, error) {
	body, err := s.get(ctx, "/eth/v1/beacon/light_client/finality_update")
	if err != nil {
		return nil, err
	}
	return DecodeFinality(body, s.config)
}

func (s *Source) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxEventSize))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("beacon API %s: %s: %.200s", path, resp.Status, body)
	}
	return body, nil
}

// Event is an update from the event stream: one of Optimistic and
// Finality is set.
type Event struct {
	Optimistic *protocol.BeaconOptimistic
	Finality   *protocol.BeaconFinality
}

// Follow delivers the optimistic and finality updates of the API's event
// stream to fn until ctx ends, reconnecting after a failure; errors of a
// connection or an event go to onErr. The first delivery of each
// connection is the latest updates read from their endpoints, so that
// nothing between two connections is missed.
func (s *Source) Follow(ctx context.Context, fn func(Event), onErr func(error)) {
	for ctx.Err() == nil {
		err := s.stream(ctx, fn)
		if ctx.Err() != nil {
			return
		}
		onErr(fmt.Errorf("beacon API event stream: %w", err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Source) stream(ctx context.Context, fn func(Event)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		s.url+"/eth/v1/events?topics=light_client_optimistic_update,light_client_finality_update", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{}).Do(req) // no timeout: the stream lasts
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	if o, err := s.Optimistic(ctx); err == nil {
		fn(Event{Optimistic: o})
	}
	if f, err := s.Finality(ctx); err == nil {
		fn(Event{Finality: f})
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), maxEventSize)
	var name string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() > 0 {
				s.deliver(name, []byte(data.String()), fn)
			}
			name = ""
			data.Reset()
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(line[len("data:"):], " "))
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

func (s *Source) deliver(name string, data []byte, fn func(Event)) {
	switch name {
	case "light_client_optimistic_update":
		if o, err := DecodeOptimistic(data, s.config); err == nil {
			fn(Event{Optimistic: o})
		}
	case "light_client_finality_update":
		if f, err := DecodeFinality(data, s.config); err == nil {
			fn(Event{Finality: f})
		}
	}
}

// The beacon API's JSON of light-client headers and updates.
type jsonHeaderExec struct {
	Beacon             btypes.Header   `json:"beacon"`
	Execution          json.RawMessage `json:"execution"`
	ExecutionBlockHash common.Hash     `json:"execution_block_hash"`
	ExecutionBranch    merkle.Values   `json:"execution_branch"`
}

type jsonOptimistic struct {
	Attested      jsonHeaderExec       `json:"attested_header"`
	Aggregate     btypes.SyncAggregate `json:"sync_aggregate"`
	SignatureSlot common.Decimal       `json:"signature_slot"`
}

type jsonFinality struct {
	jsonOptimistic
	Finalized      jsonHeaderExec `json:"finalized_header"`
	FinalityBranch merkle.Values  `json:"finality_branch"`
}

// envelope splits {"version": ..., "data": ...}; an event stream may send
// the data alone, whose version is then the attested header's fork.
func envelope(enc []byte) (string, json.RawMessage, error) {
	var env struct {
		Version string          `json:"version"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(enc, &env); err != nil {
		return "", nil, err
	}
	if len(env.Data) == 0 {
		return env.Version, enc, nil
	}
	return env.Version, env.Data, nil
}

// DecodeOptimistic decodes an optimistic update in the beacon API's JSON.
func DecodeOptimistic(enc []byte, config *params.ChainConfig) (*protocol.BeaconOptimistic, error) {
	version, data, err := envelope(enc)
	if err != nil {
		return nil, err
	}
	var o jsonOptimistic
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, err
	}
	if version == "" {
		version = config.ForkNameAtSlot(o.Attested.Beacon.Slot)
	}
	att, err := headerExec(version, &o.Attested)
	if err != nil {
		return nil, err
	}
	return &protocol.BeaconOptimistic{Version: version, Attested: att, Aggregate: protocol.SyncAggregateOf(o.Aggregate),
		SignatureSlot: uint64(o.SignatureSlot)}, nil
}

// DecodeFinality decodes a finality update in the beacon API's JSON.
func DecodeFinality(enc []byte, config *params.ChainConfig) (*protocol.BeaconFinality, error) {
	version, data, err := envelope(enc)
	if err != nil {
		return nil, err
	}
	var f jsonFinality
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if version == "" {
		version = config.ForkNameAtSlot(f.Attested.Beacon.Slot)
	}
	att, err := headerExec(version, &f.Attested)
	if err != nil {
		return nil, err
	}
	fin, err := headerExec(version, &f.Finalized)
	if err != nil {
		return nil, err
	}
	return &protocol.BeaconFinality{Version: version, Attested: att, Finalized: fin, FinalityBranch: protocol.Branch(f.FinalityBranch),
		Aggregate: protocol.SyncAggregateOf(f.Aggregate), SignatureSlot: uint64(f.SignatureSlot)}, nil
}

// headerExec turns a light-client header of the beacon API into the wire
// form: the execution payload header re-encoded in SSZ.
func headerExec(version string, h *jsonHeaderExec) (protocol.BeaconHeaderExec, error) {
	out := protocol.BeaconHeaderExec{Header: protocol.BeaconHeaderOf(h.Beacon), Exec: protocol.BeaconExecProof{Branch: protocol.Branch(h.ExecutionBranch)}}
	withPayload, err := protocol.PayloadHeaderVersion(version)
	if err != nil {
		return out, err
	}
	if !withPayload {
		out.Exec.BlockHash = h.ExecutionBlockHash
		return out, nil
	}
	if len(h.Execution) == 0 {
		return out, errors.New("light-client header without its execution payload header")
	}
	var obj interface{ MarshalSSZ() ([]byte, error) }
	if version == "capella" {
		p := new(capella.ExecutionPayloadHeader)
		err = json.Unmarshal(h.Execution, p)
		obj = p
	} else {
		p := new(deneb.ExecutionPayloadHeader)
		err = json.Unmarshal(h.Execution, p)
		obj = p
	}
	if err != nil {
		return out, fmt.Errorf("%s execution payload header: %w", version, err)
	}
	if out.Exec.PayloadHeader, err = obj.MarshalSSZ(); err != nil {
		return out, err
	}
	return out, nil
}
