package client

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus/misc/eip4844"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/sync/errgroup"

	"github.com/lightmarket/lightmarket/history"
	"github.com/lightmarket/lightmarket/protocol"
	"github.com/lightmarket/lightmarket/verify"
)

// A log search finds the blocks whose blooms may match a filter in two
// round trips: bloom bit vectors of the signed sections and of the tail
// (the recent blocks, proven against a root the trusted servers sign for
// the head) at once, then the headers of the candidate blocks at once.
// Reading the candidates' receipts is the third (BlocksReceipts).

// logFilter is a filter as bloom bits: groups that must all match, each
// of alternatives (three bits each) of which one must; bits is every bit
// named, sorted.
type logFilter struct {
	groups [][][3]int
	bits   []int
}

func newLogFilter(addrs []common.Address, topics [][]common.Hash) (*logFilter, error) {
	f := new(logFilter)
	if len(addrs) > 0 {
		var alts [][3]int
		for _, a := range addrs {
			alts = append(alts, history.BloomBitsOf(a.Bytes()))
		}
		f.groups = append(f.groups, alts)
	}
	for _, ts := range topics {
		if len(ts) == 0 {
			continue
		}
		var alts [][3]int
		for _, t := range ts {
			alts = append(alts, history.BloomBitsOf(t.Bytes()))
		}
		f.groups = append(f.groups, alts)
	}
	if len(f.groups) == 0 {
		return nil, ErrNoBloomFilter
	}
	set := make(map[int]bool)
	for _, g := range f.groups {
		for _, alt := range g {
			for _, b := range alt {
				set[b] = true
			}
		}
	}
	for b := range set {
		f.bits = append(f.bits, b)
	}
	sort.Ints(f.bits)
	return f, nil
}

// conjunction reports whether the filter is one conjunction of bits (one
// address or none, one topic at each position it names): a block is then
// a candidate only where every bit is set, and a server may leave out the
// vectors that rule out no more blocks than the others it sends
// (protocol.GetBloomBits.AllOf).
func (f *logFilter) conjunction() bool {
	for _, g := range f.groups {
		if len(g) != 1 {
			return false
		}
	}
	return true
}

// refs lists the vectors the filter needs over sections first to last.
func (f *logFilter) refs(first, last uint64) []protocol.BloomBitsRef {
	var out []protocol.BloomBitsRef
	for k := first; k <= last; k++ {
		for _, b := range f.bits {
			out = append(out, protocol.BloomBitsRef{Section: k, Bit: uint64(b)})
		}
	}
	return out
}

// candidates appends the blocks from from to to (all in sections whose
// vectors are given) that may match: per section, the vectors are combined
// bytewise (each group's alternatives OR-ed, the groups AND-ed) and the
// set bits read off.
func (f *logFilter) candidates(vectors map[protocol.BloomBitsRef][]byte, from, to uint64, out []uint64) ([]uint64, error) {
	match := make([]byte, history.VectorSize)
	any := make([]byte, history.VectorSize)
	for k := from / history.SectionSize; k <= to/history.SectionSize; k++ {
		for i := range match {
			match[i] = 0xff
		}
		for _, g := range f.groups {
			clear(any)
			for _, alt := range g {
				a, b, c := vectors[protocol.BloomBitsRef{Section: k, Bit: uint64(alt[0])}],
					vectors[protocol.BloomBitsRef{Section: k, Bit: uint64(alt[1])}],
					vectors[protocol.BloomBitsRef{Section: k, Bit: uint64(alt[2])}]
				for i := range any {
					any[i] |= a[i] & b[i] & c[i]
				}
			}
			for i := range match {
				match[i] &= any[i]
			}
		}
		first := k * history.SectionSize
		lo, hi := max(from, first)-first, min(to, first+history.SectionSize-1)-first
		for i := lo; i <= hi; i++ {
			if match[i/8] == 0 {
				i |= 7 // the rest of the byte
				continue
			}
			if match[i/8]&(0x80>>(i%8)) != 0 {
				if out = append(out, first+i); len(out) > maxLogCandidates {
					return nil, ErrTooManyCandidates
				}
			}
		}
	}
	return out, nil
}

// SearchLogs finds, verified, the headers of the blocks from from to to
// (at most the head) whose blooms may match a filter, in order, using the
// signed history sections and the tail. It covers the range up to next
// (exclusive): the caller reads the blocks from next to to one by one (all
// of them when neither a history root nor a tail root could be had).
func (c *Client) SearchLogs(ctx context.Context, from, to uint64, addrs []common.Address, topics [][]common.Hash) (headers []*types.Header, next uint64, err error) {
	return c.searchLogs(ctx, from, to, addrs, topics, nil)
}

// LogBlocks is SearchLogs and ReceiptsOf in two round trips, not three:
// the candidate blocks' bodies and receipts are asked for by number in the
// same round trip as their header proofs, and checked against those
// headers once they are proven. A body or receipt list that does not
// match its header (a server that followed another fork, or lied) is
// fetched again by hash.
func (c *Client) LogBlocks(ctx context.Context, from, to uint64, addrs []common.Address, topics [][]common.Hash) (headers []*types.Header, receipts []types.Receipts, next uint64, err error) {
	pre := &blockData{bodies: make(map[uint64]*types.Body), receipts: make(map[uint64]types.Receipts)}
	headers, next, err = c.searchLogs(ctx, from, to, addrs, topics, pre)
	if err != nil {
		return nil, nil, from, err
	}
	receipts, err = c.receiptsOf(ctx, headers, pre)
	if err != nil {
		return nil, nil, from, err
	}
	return headers, receipts, next, nil
}

// blockData is what a log search fetched of its candidate blocks by
// number beside their header proofs: not verified until checked against
// the proven headers.
type blockData struct {
	mu       sync.Mutex
	bodies   map[uint64]*types.Body
	receipts map[uint64]types.Receipts
}

// fetchByNumber asks, in g, for the bodies and receipts of the canonical
// blocks at numbers into pre. Its failures are not the search's: what is
// missing is fetched by hash later.
func (c *Client) fetchByNumber(ctx context.Context, g *errgroup.Group, numbers []uint64, pre *blockData) {
	inBatches(g, len(numbers), protocol.MaxBodies, func(lo, hi int) error {
		batch := numbers[lo:hi]
		return c.doPrefer(ctx, c.onOurChain, func(ctx context.Context, p *peer) error {
			id := reqIDs.Add(1)
			reply, err := p.request(ctx, protocol.GetBlockBodiesMsg, protocol.BlockBodiesMsg, id, &protocol.GetBlockBodies{ReqID: id, Numbers: batch})
			if err != nil {
				return err
			}
			got := reply.(*protocol.BlockBodies).Bodies
			if len(got) > len(batch) {
				return fmt.Errorf("%w: %d bodies for %d blocks", protocol.ErrTooManyItems, len(got), len(batch))
			}
			pre.mu.Lock()
			defer pre.mu.Unlock()
			for k, b := range got {
				pre.bodies[batch[k]] = b
			}
			return nil
		})
	})
	inBatches(g, len(numbers), protocol.MaxReceipts, func(lo, hi int) error {
		batch := numbers[lo:hi]
		return c.doPrefer(ctx, c.onOurChain, func(ctx context.Context, p *peer) error {
			id := reqIDs.Add(1)
			reply, err := p.request(ctx, protocol.GetReceiptsMsg, protocol.ReceiptsMsg, id, &protocol.GetReceipts{ReqID: id, Numbers: batch})
			if err != nil {
				return err
			}
			got := reply.(*protocol.Receipts).Receipts
			if len(got) > len(batch) {
				return fmt.Errorf("%w: receipts of %d blocks for %d", protocol.ErrTooManyItems, len(got), len(batch))
			}
			pre.mu.Lock()
			defer pre.mu.Unlock()
			for k, rs := range got {
				pre.receipts[batch[k]] = rs
			}
			return nil
		})
	})
}

// take returns what was fetched by number for header h and matches it;
// the body only when wantBody (a body already held needs no check).
func (d *blockData) take(h *types.Header, wantBody bool) (*types.Body, types.Receipts) {
	if d == nil {
		return nil, nil
	}
	d.mu.Lock()
	b, rs := d.bodies[h.Number.Uint64()], d.receipts[h.Number.Uint64()]
	d.mu.Unlock()
	if b != nil && (!wantBody || verify.Body(h, b) != nil) {
		b = nil
	}
	if rs != nil && verify.Receipts(h, rs) != nil {
		rs = nil
	}
	return b, rs
}

func (c *Client) searchLogs(ctx context.Context, from, to uint64, addrs []common.Address, topics [][]common.Hash, pre *blockData) (headers []*types.Header, next uint64, err error) {
	f, err := newLogFilter(addrs, topics)
	if err != nil {
		return nil, from, err
	}
	if from > to {
		return nil, from, nil
	}
	var count uint64
	v := c.hist.bestVerifier()
	if v != nil {
		_, count = v.Root()
	}
	sectionsEnd := count * history.SectionSize // first block no section covers
	head := c.Head()
	var tailFrom uint64 // first block read from the tail; tail unused when > to
	tailFrom = to + 1
	if head != nil && head.Number.Uint64() >= to {
		start := history.TailStart(head.Number.Uint64())
		if lo := max(from, sectionsEnd); lo >= start && lo <= to {
			tailFrom = lo
		}
	}
	secTo := min(to, sectionsEnd-1) // last block read from sections; unused when sectionsEnd ≤ from
	useSections := count > 0 && from < sectionsEnd

	// The first round trip: every vector at once.
	var (
		wg         sync.WaitGroup
		secVectors map[protocol.BloomBitsRef][]byte
		secLeft    []protocol.BloomBitsRef
		secErr     error
		tail       *acceptedTail
		tailVecs   map[protocol.BloomBitsRef][]byte
		tailErr    error
	)
	done := c.trips.together()
	if useSections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secVectors, secLeft, secErr = c.sectionVectors(ctx, v, f.refs(from/history.SectionSize, secTo/history.SectionSize), f.perSection())
		}()
	}
	if tailFrom <= to {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tail, tailVecs, tailErr = c.tailVectors(ctx, head, f.refs(tailFrom/history.SectionSize, to/history.SectionSize))
		}()
	}
	wg.Wait()
	done()
	if secErr != nil {
		return nil, from, secErr
	}
	var secCands, tailCands []uint64
	next = from
	if useSections {
		secCands, err = f.candidates(secVectors, from, secTo, nil)
		if len(secLeft) > 0 && (errors.Is(err, ErrTooManyCandidates) || len(secCands) > maxCandidatesLeftOut) {
			// Many candidates where vectors were left out: a server may
			// have left out vectors that rule out more (its mistake, or a
			// lie that would have the client read thousands of blocks).
			// One more round trip asks for them.
			slices.SortFunc(secLeft, compareRefs)
			got, _, ferr := c.sectionVectors(ctx, v, secLeft, 0)
			if ferr != nil {
				return nil, from, ferr
			}
			maps.Copy(secVectors, got)
			secCands, err = f.candidates(secVectors, from, secTo, nil)
		}
		if err != nil {
			return nil, from, err
		}
		next = secTo + 1
	}
	if tailFrom <= to {
		switch {
		case tailErr != nil && ctx.Err() != nil:
			return nil, from, ctx.Err()
		case tailErr != nil || tail == nil:
			// No tail root agreed: the caller reads the rest block by block.
			c.cfg.Logger.Debug("No tail for a log search", "head", head.Number, "err", tailErr)
		case next == tailFrom:
			if tailCands, err = f.candidates(tailVecs, tailFrom, to, nil); err != nil {
				return nil, from, err
			}
			if len(secCands)+len(tailCands) > maxLogCandidates {
				return nil, from, ErrTooManyCandidates
			}
			next = to + 1
		}
	}

	// The second: every candidate's header at once (and, for LogBlocks,
	// its body and receipts).
	secHeaders := make([]*types.Header, len(secCands))
	tailHeaders := make([]*types.Header, len(tailCands))
	var batches, extra errgroup.Group
	done = c.trips.together()
	inBatches(&batches, len(secCands), protocol.MaxHeaderProofs, func(lo, hi int) error {
		return c.sectionHeaders(ctx, v, secCands[lo:hi], secHeaders[lo:hi])
	})
	inBatches(&batches, len(tailCands), protocol.MaxHeaderProofs, func(lo, hi int) error {
		return c.tailHeaders(ctx, tail, tailCands[lo:hi], tailHeaders[lo:hi])
	})
	if pre != nil {
		c.fetchByNumber(ctx, &extra, append(slices.Clip(secCands), tailCands...), pre)
	}
	err = batches.Wait()
	if xerr := extra.Wait(); xerr != nil && err == nil {
		c.cfg.Logger.Debug("Log search could not fetch candidates by number", "err", xerr)
	}
	done()
	if err != nil {
		return nil, from, err
	}
	headers = append(secHeaders, tailHeaders...)
	c.mu.Lock()
	for _, h := range headers {
		c.chain.add(h)
	}
	c.mu.Unlock()
	return headers, next, nil
}

// perSection is how many vectors of each section a conjunction asks for,
// the sections' vectors one after the other (0 for other filters).
func (f *logFilter) perSection() int {
	if !f.conjunction() {
		return 0
	}
	return len(f.bits)
}

// maxCandidatesLeftOut is how many candidate blocks a search takes from
// vectors of which servers left some out; beyond it the client asks for
// those too.
const maxCandidatesLeftOut = 512

// leftOutVector stands for a vector a server left out as not needed:
// every block set, so that it rules out nothing.
var leftOutVector = bytes.Repeat([]byte{0xff}, history.VectorSize)

// compareRefs orders vectors by section, then bit.
func compareRefs(a, b protocol.BloomBitsRef) int {
	if a.Section != b.Section {
		return cmp.Compare(a.Section, b.Section)
	}
	return cmp.Compare(a.Bit, b.Bit)
}

// sectionVectors fetches and verifies bloom bit vectors of signed
// sections, in requests as large as a server's buffer takes, spread over
// the servers that hold the sections, all at once. With perSection > 0
// the refs are a conjunction's, perSection a section, and each request
// holds whole sections and lets the server leave out vectors not needed:
// those are returned as left, leftOutVector in the map.
func (c *Client) sectionVectors(ctx context.Context, v *history.Verifier, refs []protocol.BloomBitsRef, perSection int) (vectors map[protocol.BloomBitsRef][]byte, left []protocol.BloomBitsRef, err error) {
	var (
		mu      sync.Mutex
		batches errgroup.Group
	)
	vectors = make(map[protocol.BloomBitsRef][]byte, len(refs))
	_, count := v.Root()
	have := holdsSections(count)
	size := c.spread(len(refs), c.batchSize(protocol.GetBloomBitsMsg, protocol.MaxBloomBits), have)
	if perSection > 0 && size >= perSection {
		size -= size % perSection // a section's cover is chosen from all of its vectors
	}
	inBatches(&batches, len(refs), size, func(lo, hi int) error {
		batch := refs[lo:hi]
		return c.doPrefer(ctx, have, func(ctx context.Context, p *peer) error {
			id := reqIDs.Add(1)
			req := &protocol.GetBloomBits{ReqID: id, Count: count, Refs: batch, AllOf: perSection > 0}
			reply, err := p.request(ctx, protocol.GetBloomBitsMsg, protocol.BloomBitsMsg, id, req)
			if err != nil {
				return err
			}
			bb := reply.(*protocol.BloomBits)
			sent, err := sentRefs(batch, bb, req.AllOf)
			if err != nil {
				return err
			}
			if err := verifySectionVectors(v, sent, bb.Vectors); err != nil {
				return err
			}
			mu.Lock()
			for i, ref := range sent {
				vectors[ref] = bb.Vectors[i].Vector
			}
			for _, k := range bb.Left {
				vectors[batch[k]] = leftOutVector
				left = append(left, batch[k])
			}
			mu.Unlock()
			return nil
		})
	})
	err = batches.Wait()
	return vectors, left, err
}

// sentRefs names the vectors of a BloomBits reply to a request for refs:
// the refs less those it left out. A reply that covers fewer than all of
// them is ErrNotFound; one that left out vectors unasked is a lie.
func sentRefs(refs []protocol.BloomBitsRef, r *protocol.BloomBits, allOf bool) ([]protocol.BloomBitsRef, error) {
	if len(r.Left) == 0 {
		if len(r.Vectors) < len(refs) {
			return nil, ErrNotFound
		}
		return refs, nil
	}
	if !allOf {
		return nil, fmt.Errorf("%w: %d bloom bit vectors left out unasked", verify.ErrHistoryProof, len(r.Left))
	}
	if len(r.Vectors)+len(r.Left) < len(refs) {
		return nil, ErrNotFound
	}
	if last := r.Left[len(r.Left)-1]; last >= uint64(len(refs)) || len(r.Vectors)+len(r.Left) != len(refs) {
		return nil, fmt.Errorf("%w: %d vectors and %d left out for %d asked", protocol.ErrTooManyItems, len(r.Vectors), len(r.Left), len(refs))
	}
	sent := make([]protocol.BloomBitsRef, 0, len(r.Vectors))
	left := r.Left // ascending (protocol.BloomBits.Validate)
	for i, ref := range refs {
		if len(left) > 0 && left[0] == uint64(i) {
			left = left[1:]
			continue
		}
		sent = append(sent, ref)
	}
	return sent, nil
}

// verifySectionVectors checks the bloom bit vectors of one reply against
// the history root of v, in order, as one history.Reply: the sections'
// paths share one climb (a server cuts each where an earlier proof of the
// reply reached), and a section's later vectors need only lead to the
// bloom root its first one proved.
func verifySectionVectors(v *history.Verifier, refs []protocol.BloomBitsRef, got []protocol.BloomBitsProof) error {
	reply := v.Reply()
	for i, ref := range refs {
		p := got[i]
		bp := history.BloomProof{Vector: p.Vector, BloomPath: p.BloomPath, HashRoot: p.HashRoot}
		bloomRoot, ok := history.BloomRootOf(&bp, int(ref.Bit))
		if !ok {
			return fmt.Errorf("%w: malformed bloom proof of bit %d of section %d", verify.ErrHistoryProof, ref.Bit, ref.Section)
		}
		if err := reply.Section(ref.Section, p.HashRoot, bloomRoot, p.SectionPath); err != nil {
			return fmt.Errorf("%w: bloom bit %d: %v", verify.ErrHistoryProof, ref.Bit, err)
		}
	}
	return nil
}

// sectionHeaders fetches and verifies the headers of blocks in signed
// sections, into headers (one request).
func (c *Client) sectionHeaders(ctx context.Context, v *history.Verifier, numbers []uint64, headers []*types.Header) error {
	_, count := v.Root()
	return c.doPrefer(ctx, holdsSections(count), func(ctx context.Context, p *peer) error {
		id := reqIDs.Add(1)
		req := &protocol.GetHeaderProofs{ReqID: id, Count: count, Numbers: numbers}
		reply, err := p.request(ctx, protocol.GetHeaderProofsMsg, protocol.HeaderProofsMsg, id, req)
		if err != nil {
			return err
		}
		proofs := reply.(*protocol.HeaderProofs).Proofs
		if len(proofs) < len(numbers) {
			return ErrNotFound
		}
		check := v.Reply()
		for i, n := range numbers {
			pr := proofs[i]
			hp := history.HeaderProof{Header: pr.Header, HashPath: pr.HashPath, BloomRoot: pr.BloomRoot, SectionPath: pr.SectionPath}
			if err := check.Header(n, &hp); err != nil {
				return fmt.Errorf("%w: %v", verify.ErrHistoryProof, err)
			}
		}
		for i := range numbers {
			headers[i] = proofs[i].Header
		}
		return nil
	})
}

// acceptedTail is a tail root enough trusted servers signed for a head.
type acceptedTail struct {
	head *types.Header
	root common.Hash
}

// errNoTail says the trusted servers did not sign one tail root for a
// head: they do not hold it (yet), or they differ.
var errNoTail = errors.New("no tail root signed by enough trusted servers")

// tailVectors gets the tail's root as of head signed by as many trusted
// servers as a head needs, and from the first of them the vectors refs
// names, verified against it: all in one round trip.
func (c *Client) tailVectors(ctx context.Context, head *types.Header, refs []protocol.BloomBitsRef) (*acceptedTail, map[protocol.BloomBitsRef][]byte, error) {
	if len(refs) > protocol.MaxBloomBits {
		return nil, nil, fmt.Errorf("%w: %d tail vectors", errNoTail, len(refs))
	}
	need := c.heads.need
	if need == 0 {
		// No trusted servers (heads the sync committee signs): nobody's
		// signature makes a tail root.
		return nil, nil, fmt.Errorf("%w: no trusted servers", errNoTail)
	}
	c.mu.Lock()
	var signers []*peer
	for _, p := range c.peers {
		if p.trusted {
			signers = append(signers, p)
		}
	}
	c.mu.Unlock()
	if len(signers) < need {
		return nil, nil, fmt.Errorf("%w: %d trusted servers connected, %d needed", errNoTail, len(signers), need)
	}
	slices.SortFunc(signers, func(a, b *peer) int {
		if better(a, b) {
			return -1
		}
		if better(b, a) {
			return 1
		}
		return 0
	})
	signers = signers[:need]
	replies := make([]*protocol.Tail, need)
	errs := make([]error, need)
	var wg sync.WaitGroup
	for i, p := range signers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := reqIDs.Add(1)
			req := &protocol.GetTail{ReqID: id, Head: head.Hash()}
			if i == 0 {
				req.Refs = refs
			}
			reply, err := p.request(ctx, protocol.GetTailMsg, protocol.TailMsg, id, req)
			if err != nil {
				errs[i] = err
				return
			}
			replies[i] = reply.(*protocol.Tail)
		}()
	}
	wg.Wait()
	var root common.Hash
	for i, p := range signers {
		if errs[i] != nil {
			c.recordFailure(p, errs[i])
			return nil, nil, fmt.Errorf("%w: %v", errNoTail, errs[i])
		}
		r := replies[i]
		if r.Root == (common.Hash{}) {
			return nil, nil, fmt.Errorf("%w: a trusted server does not hold block %d as canonical", errNoTail, head.Number)
		}
		signer, err := protocol.TailSigner(c.chainID, head.Hash(), r.Number, r.Root, r.Signature)
		if err == nil && !slices.Equal(signer, crypto.CompressPubkey(p.node.Pubkey())) {
			err = fmt.Errorf("%w: tail root signed by another key", protocol.ErrBadHistoryRoot)
		}
		if err == nil && r.Number != head.Number.Uint64() {
			err = fmt.Errorf("%w: tail signed for block %d as block %d", verify.ErrHistoryProof, head.Number, r.Number)
		}
		if err != nil {
			c.punish(p, fmt.Errorf("%w: %v", verify.ErrHistoryProof, err))
			return nil, nil, err
		}
		if i == 0 {
			root = r.Root
		} else if r.Root != root {
			return nil, nil, fmt.Errorf("%w: trusted servers signed different tail roots for block %d", errNoTail, head.Number)
		}
	}
	got := replies[0].Vectors
	if len(got) < len(refs) {
		return nil, nil, fmt.Errorf("%w: %d of %d tail vectors", errNoTail, len(got), len(refs))
	}
	n := head.Number.Uint64()
	vectors := make(map[protocol.BloomBitsRef][]byte, len(refs))
	for i, ref := range refs {
		v := got[i]
		tp := history.TailBloomProof{Vector: v.Vector, BloomPath: v.BloomPath, HashRoot: v.HashRoot, Sibling: v.Sibling}
		if err := history.VerifyTailBloom(root, n, ref.Section, int(ref.Bit), &tp); err != nil {
			err = fmt.Errorf("%w: %v", verify.ErrHistoryProof, err)
			c.punish(signers[0], err)
			return nil, nil, err
		}
		vectors[ref] = v.Vector
	}
	return &acceptedTail{head: head, root: root}, vectors, nil
}

// tailHeaders fetches and verifies headers of the tail's blocks, into
// headers (one request, to any server).
func (c *Client) tailHeaders(ctx context.Context, tail *acceptedTail, numbers []uint64, headers []*types.Header) error {
	n := tail.head.Number.Uint64()
	return c.doPrefer(ctx, c.onOurChain, func(ctx context.Context, p *peer) error {
		id := reqIDs.Add(1)
		req := &protocol.GetTail{ReqID: id, Head: tail.head.Hash(), Numbers: numbers}
		reply, err := p.request(ctx, protocol.GetTailMsg, protocol.TailMsg, id, req)
		if err != nil {
			return err
		}
		got := reply.(*protocol.Tail).Headers
		if len(got) < len(numbers) {
			return ErrNotFound
		}
		for i, num := range numbers {
			th := got[i]
			tp := history.TailHeaderProof{Header: th.Header, HashPath: th.HashPath, BloomRoot: th.BloomRoot, Sibling: th.Sibling}
			if err := history.VerifyTailHeader(tail.root, n, num, &tp); err != nil {
				return fmt.Errorf("%w: %v", verify.ErrHistoryProof, err)
			}
		}
		for i := range numbers {
			headers[i] = got[i].Header
		}
		return nil
	})
}

// batchSize is the most items of a request the connected servers'
// buffers all take in one go, at most max.
func (c *Client) batchSize(code protocol.Code, max int) int {
	c.mu.Lock()
	peers := slices.Collect(maps.Values(c.peers))
	c.mu.Unlock()
	n := max
	for _, p := range peers {
		for n > 1 && !p.fits(code, n) {
			n /= 2
		}
	}
	return n
}

// minSpread is the fewest items a batch split among servers keeps: below
// it a request's own round trip costs more than the work saved.
const minSpread = 32

// spread is the batch size that gives each server have accepts one batch
// of n items, when that is below size and leaves at least minSpread items
// per batch: the servers build and send their parts, and the client
// decodes and checks them, side by side instead of one after the other.
func (c *Client) spread(n, size int, have func(p *peer) bool) int {
	c.mu.Lock()
	peers := slices.Collect(maps.Values(c.peers))
	c.mu.Unlock()
	servers := 0
	for _, p := range peers { // have may take mu
		if have(p) && !p.stopped.Load() {
			servers++
		}
	}
	if servers < 2 {
		return size
	}
	per := max((n+servers-1)/servers, minSpread)
	return min(per, size)
}

// ReceiptsOf returns the receipts of the blocks of verified headers, with
// their derived fields, as Receipts does, in one round trip: the blocks'
// bodies and receipts are asked for at once, in batches. What a server
// leaves out of a batch (its reply's size limit) is fetched block by
// block.
func (c *Client) ReceiptsOf(ctx context.Context, headers []*types.Header) ([]types.Receipts, error) {
	return c.receiptsOf(ctx, headers, nil)
}

// minCheckShare is the fewest blocks worth a goroutine of their own when
// fetched blocks are checked against their headers (about 12 µs a block
// on the project's 2-core machine): eleven blocks took 131–133 µs in
// line and 150–169 µs with a goroutine each.
const minCheckShare = 32

// receiptsOf is ReceiptsOf taking first what pre holds that matches the
// headers.
func (c *Client) receiptsOf(ctx context.Context, headers []*types.Header, pre *blockData) ([]types.Receipts, error) {
	out := make([]types.Receipts, len(headers))
	bodies := make([]*types.Body, len(headers))
	raw := make([]types.Receipts, len(headers))
	hashes := make([]common.Hash, len(headers))
	have := func(i int) {
		hash := headers[i].Hash()
		hashes[i] = hash
		if r, ok := c.receipts.Get(hash); ok {
			out[i] = r
			return
		}
		var b *types.Body
		if cached, ok := c.blocks.Get(hash); ok {
			b = cached.Body()
		}
		fetched, rs := pre.take(headers[i], b == nil)
		if b == nil {
			b = fetched
		}
		bodies[i], raw[i] = b, rs
	}
	// What a log search fetched by number arrives at once: it is checked
	// against the headers in one share per core, this goroutine taking
	// the first (a goroutine per block cost more than it saved).
	shares := 1
	if pre != nil {
		shares = max(1, min(runtime.GOMAXPROCS(0), len(headers)/minCheckShare))
	}
	var check sync.WaitGroup
	for w := 1; w < shares; w++ {
		check.Go(func() {
			for i := w; i < len(headers); i += shares {
				have(i)
			}
		})
	}
	for i := 0; i < len(headers); i += shares {
		have(i)
	}
	check.Wait()
	var needBodies, needReceipts []int
	for i := range headers {
		if out[i] != nil {
			continue
		}
		if bodies[i] == nil {
			needBodies = append(needBodies, i)
		}
		if raw[i] == nil {
			needReceipts = append(needReceipts, i)
		}
	}
	var batches errgroup.Group
	if len(needBodies)+len(needReceipts) == 0 {
		return c.deriveReceipts(ctx, headers, hashes, bodies, raw, out)
	}
	done := c.trips.together()
	inBatches(&batches, len(needBodies), protocol.MaxBodies, func(lo, hi int) error {
		batch := needBodies[lo:hi]
		return c.doPrefer(ctx, c.onOurChain, func(ctx context.Context, p *peer) error {
			id := reqIDs.Add(1)
			req := &protocol.GetBlockBodies{ReqID: id}
			for _, i := range batch {
				req.Hashes = append(req.Hashes, hashes[i])
			}
			reply, err := p.request(ctx, protocol.GetBlockBodiesMsg, protocol.BlockBodiesMsg, id, req)
			if err != nil {
				return err
			}
			got := reply.(*protocol.BlockBodies).Bodies
			if len(got) > len(batch) {
				return fmt.Errorf("%w: %d bodies for %d blocks", protocol.ErrTooManyItems, len(got), len(batch))
			}
			for k, b := range got {
				if err := verify.Body(headers[batch[k]], b); err != nil {
					return err
				}
			}
			for k, b := range got {
				bodies[batch[k]] = b
			}
			return nil
		})
	})
	inBatches(&batches, len(needReceipts), protocol.MaxReceipts, func(lo, hi int) error {
		batch := needReceipts[lo:hi]
		return c.doPrefer(ctx, c.onOurChain, func(ctx context.Context, p *peer) error {
			id := reqIDs.Add(1)
			req := &protocol.GetReceipts{ReqID: id}
			for _, i := range batch {
				req.Hashes = append(req.Hashes, hashes[i])
			}
			reply, err := p.request(ctx, protocol.GetReceiptsMsg, protocol.ReceiptsMsg, id, req)
			if err != nil {
				return err
			}
			got := reply.(*protocol.Receipts).Receipts
			if len(got) > len(batch) {
				return fmt.Errorf("%w: receipts of %d blocks for %d", protocol.ErrTooManyItems, len(got), len(batch))
			}
			for k, rs := range got {
				if err := verify.Receipts(headers[batch[k]], rs); err != nil {
					return err
				}
			}
			for k, rs := range got {
				raw[batch[k]] = rs
			}
			return nil
		})
	})
	err := batches.Wait()
	done()
	if err != nil {
		return nil, err
	}
	return c.deriveReceipts(ctx, headers, hashes, bodies, raw, out)
}

// deriveReceipts completes out, the receipts of headers (whose hashes are
// hashes), from the blocks' verified bodies and raw receipts; a block left
// out of a batch is read block by block.
func (c *Client) deriveReceipts(ctx context.Context, headers []*types.Header, hashes []common.Hash, bodies []*types.Body, raw, out []types.Receipts) ([]types.Receipts, error) {
	for i, h := range headers {
		if out[i] != nil {
			continue
		}
		hash := hashes[i]
		if bodies[i] == nil || raw[i] == nil {
			// Left out of a batch: block by block.
			r, err := c.Receipts(ctx, hash)
			if err != nil {
				return nil, err
			}
			out[i] = r
			continue
		}
		block := types.NewBlockWithHeader(h).WithBody(*bodies[i])
		c.blocks.Add(hash, block)
		var blobGasPrice *big.Int
		if h.ExcessBlobGas != nil {
			blobGasPrice = eip4844.CalcBlobFee(c.cfg.ChainConfig, h)
		}
		rs := raw[i]
		if err := rs.DeriveFields(c.cfg.ChainConfig, hash, h.Number.Uint64(), h.Time, h.BaseFee, blobGasPrice, block.Transactions()); err != nil {
			return nil, fmt.Errorf("%w: %v", verify.ErrReceiptsRoot, err)
		}
		c.receipts.Add(hash, rs)
		out[i] = rs
	}
	return out, nil
}

// inBatches runs fn on each batch [lo, hi) of n items, size at a time,
// all at once in g.
func inBatches(g *errgroup.Group, n, size int, fn func(lo, hi int) error) {
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		g.Go(func() error { return fn(lo, hi) })
	}
}
