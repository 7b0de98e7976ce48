package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/history"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
)

// historyRoots is what the client knows of the servers' signed history
// roots: the latest each trusted server signed, and the roots accepted
// because enough of them signed the same one. Accepted roots and recent
// canonical hashes are kept in a file, so that a restart starts from them.
type historyRoots struct {
	mu       sync.Mutex
	need     int                      // signers needed, as for heads
	latest   map[enode.ID]historyVote // each trusted server's latest
	accepted map[uint64]common.Hash   // count → root
	canon    map[uint64]common.Hash   // recent canonical hashes remembered
	file     string                   // "" = nothing kept
	dirty    bool
	verifier *history.Verifier // of the best root
}

type historyVote struct {
	count uint64
	root  common.Hash
}

// historyFile is the layout of the file the roots are kept in.
type historyFile struct {
	Roots []struct {
		Count uint64      `json:"count"`
		Root  common.Hash `json:"root"`
	} `json:"roots"`
	Canonical []struct {
		Number uint64      `json:"number"`
		Hash   common.Hash `json:"hash"`
	} `json:"canonical"`
}

// keptRoots bounds the accepted roots kept (the latest are kept).
const keptRoots = 16

// keptCanon bounds the canonical hashes kept.
const keptCanon = 8192

func newHistoryRoots(need int, file string) (*historyRoots, error) {
	h := &historyRoots{need: need, latest: make(map[enode.ID]historyVote), accepted: make(map[uint64]common.Hash),
		canon: make(map[uint64]common.Hash), file: file}
	if file == "" {
		return h, nil
	}
	raw, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: history roots: %w", err)
	}
	var f historyFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("client: history roots in %s: %w (remove the file to start over)", file, err)
	}
	for _, r := range f.Roots {
		h.accepted[r.Count] = r.Root
	}
	for _, c := range f.Canonical {
		h.canon[c.Number] = c.Hash
	}
	return h, nil
}

// vote records a trusted server's signed root and accepts it when enough
// trusted servers signed the same; it reports whether a new root was
// accepted.
func (h *historyRoots) vote(id enode.ID, r *protocol.HistoryRoot) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.latest[id] = historyVote{r.Count, r.Root}
	if _, ok := h.accepted[r.Count]; ok {
		return false
	}
	signers := 0
	for _, v := range h.latest {
		if v.count == r.Count && v.root == r.Root {
			signers++
		}
	}
	if signers < h.need {
		return false
	}
	h.accepted[r.Count] = r.Root
	for len(h.accepted) > keptRoots {
		delete(h.accepted, h.lowestLocked())
	}
	h.dirty = true
	return true
}

func (h *historyRoots) lowestLocked() uint64 {
	first := true
	var low uint64
	for c := range h.accepted {
		if first || c < low {
			low, first = c, false
		}
	}
	return low
}

// best is the accepted root over the most sections.
func (h *historyRoots) best() (uint64, common.Hash, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var (
		count uint64
		root  common.Hash
		ok    bool
	)
	for c, r := range h.accepted {
		if !ok || c > count {
			count, root, ok = c, r, true
		}
	}
	return count, root, ok
}

// bestVerifier is a verifier of the accepted root over the most sections
// (nil when none is accepted): the same one while that root is the best.
func (h *historyRoots) bestVerifier() *history.Verifier {
	count, root, ok := h.best()
	if !ok {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if v := h.verifier; v != nil {
		if r, n := v.Root(); r == root && n == count {
			return v
		}
	}
	h.verifier = history.NewVerifier(root, count)
	return h.verifier
}

// remember keeps canonical hashes (of verified headers, well below the
// head) for the next start.
func (h *historyRoots) remember(canon map[uint64]common.Hash) {
	h.mu.Lock()
	defer h.mu.Unlock()
	changed := false
	for n, hash := range canon {
		if h.canon[n] != hash {
			h.canon[n], changed = hash, true
		}
	}
	if !changed {
		return
	}
	if len(h.canon) > keptCanon {
		numbers := make([]uint64, 0, len(h.canon))
		for n := range h.canon {
			numbers = append(numbers, n)
		}
		sort.Slice(numbers, func(i, j int) bool { return numbers[i] > numbers[j] })
		for _, n := range numbers[keptCanon:] {
			delete(h.canon, n)
		}
	}
	h.dirty = true
}

// known is a remembered canonical hash.
func (h *historyRoots) known(number uint64) (common.Hash, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hash, ok := h.canon[number]
	return hash, ok
}

// save writes the file when something changed (atomically: a crash leaves
// the old file or the new one).
func (h *historyRoots) save() error {
	h.mu.Lock()
	if h.file == "" || !h.dirty {
		h.mu.Unlock()
		return nil
	}
	var f historyFile
	for c, r := range h.accepted {
		f.Roots = append(f.Roots, struct {
			Count uint64      `json:"count"`
			Root  common.Hash `json:"root"`
		}{c, r})
	}
	for n, hash := range h.canon {
		f.Canonical = append(f.Canonical, struct {
			Number uint64      `json:"number"`
			Hash   common.Hash `json:"hash"`
		}{n, hash})
	}
	h.dirty = false
	h.mu.Unlock()
	sort.Slice(f.Roots, func(i, j int) bool { return f.Roots[i].Count < f.Roots[j].Count })
	sort.Slice(f.Canonical, func(i, j int) bool { return f.Canonical[i].Number < f.Canonical[j].Number })
	raw, err := json.Marshal(&f)
	if err != nil {
		return err
	}
	tmp := h.file + ".tmp"
	if err := os.MkdirAll(filepath.Dir(h.file), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, h.file)
}

// noteHistoryRoot takes a server's signed root: the signature must be the
// session's key (else a violation); a trusted server's counts towards
// acceptance.
func (c *Client) noteHistoryRoot(p *peer, r *protocol.HistoryRoot) error {
	signer, err := r.Signer(c.chainID)
	if err != nil {
		return err
	}
	if !bytes.Equal(signer, crypto.CompressPubkey(p.node.Pubkey())) {
		return fmt.Errorf("%w: signed by another key", protocol.ErrBadHistoryRoot)
	}
	p.sections.Store(r.Count)
	if !p.trusted {
		return nil
	}
	if c.hist.vote(p.id, r) {
		c.cfg.Logger.Info("History root accepted", "sections", r.Count, "blocks", r.Count*history.SectionSize, "root", r.Root)
		if err := c.hist.save(); err != nil {
			c.cfg.Logger.Warn("Cannot keep the history roots", "err", err)
		}
	}
	return nil
}

// headerFromSections returns the canonical header at number, proven
// against the accepted history root (nil when no accepted root covers it).
func (c *Client) headerFromSections(ctx context.Context, number uint64) (*types.Header, error) {
	v := c.hist.bestVerifier()
	if v == nil {
		return nil, nil
	}
	_, count := v.Root()
	if number >= count*history.SectionSize {
		return nil, nil
	}
	var header *types.Header
	err := c.doPrefer(ctx, holdsSections(count), func(ctx context.Context, p *peer) error {
		id := reqIDs.Add(1)
		req := &protocol.GetHeaderProofs{ReqID: id, Count: count, Numbers: []uint64{number}}
		reply, err := p.request(ctx, protocol.GetHeaderProofsMsg, protocol.HeaderProofsMsg, id, req)
		if err != nil {
			return err
		}
		proofs := reply.(*protocol.HeaderProofs).Proofs
		if len(proofs) == 0 {
			return ErrNotFound
		}
		pr := proofs[0]
		hp := history.HeaderProof{Header: pr.Header, HashPath: pr.HashPath, BloomRoot: pr.BloomRoot, SectionPath: pr.SectionPath}
		if err := v.Reply().Header(number, &hp); err != nil {
			return fmt.Errorf("%w: %v", verify.ErrHistoryProof, err)
		}
		header = pr.Header
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.chain.add(header)
	c.mu.Unlock()
	// Proven canonical: remembered, so that it is asked for once.
	c.hist.remember(map[uint64]common.Hash{number: header.Hash()})
	return header, nil
}

// holdsSections says whether a server signed a history root over count
// sections or more.
func holdsSections(count uint64) func(p *peer) bool {
	return func(p *peer) bool { return p.sections.Load() >= count }
}

// HistoryRoot is the accepted history root over the most sections: how
// many sections it covers and the root (ok false before one is accepted).
func (c *Client) HistoryRoot() (count uint64, root common.Hash, ok bool) { return c.hist.best() }

// ErrNoBloomFilter says a log filter has no address and no topic: every
// block may match, and bloom bits cannot narrow it.
var ErrNoBloomFilter = errors.New("the filter matches every block")

// maxLogCandidates bounds the blocks one log search may have to read
// receipts of.
const maxLogCandidates = 10_000

// ErrTooManyCandidates is a log search whose bloom bits let through more
// blocks than a light client reads for one query.
var ErrTooManyCandidates = fmt.Errorf("more than %d blocks may match: narrow the filter or the range", maxLogCandidates)

// SectionsCover is the first block after from, up to to+1, that a log
// search with bloom bits (SearchLogs) is expected to cover, through the
// signed history sections and the tail: blocks from from to it
// (exclusive) are not read one by one. The tail is taken for granted
// here; SearchLogs says what it covered.
func (c *Client) SectionsCover(from, to uint64) uint64 {
	if from > to {
		return from
	}
	next := from
	if count, _, ok := c.hist.best(); ok && from < count*history.SectionSize {
		next = min(to, count*history.SectionSize-1) + 1
	}
	if head := c.Head(); head != nil && next <= to && head.Number.Uint64() >= to && next >= history.TailStart(head.Number.Uint64()) {
		next = to + 1
	}
	return next
}

// fits says whether a request of n items costs no more than the server's
// flow-control buffer holds.
func (p *peer) fits(code protocol.Code, n int) bool {
	cost, ok := p.costs.MaxCost(uint64(code), n)
	if !ok {
		return true
	}
	p.fcMu.Lock()
	defer p.fcMu.Unlock()
	return cost <= p.fc.Params().BufLimit
}
