package client

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/lightmarket/lightmarket/protocol"
)

// HeadError says why the client has no head it may answer from: none is
// verified yet, or the verified one is older than HeadMaxAge.
type HeadError struct {
	Status *HeadStatus
}

func (e *HeadError) Error() string { return e.Status.Reason }

// HeadStatus is the accepted head and what it is worth: who vouches for
// it, how old it is, and, when the client cannot answer from it, why.
type HeadStatus struct {
	Number    uint64      `json:"number"`
	Hash      common.Hash `json:"hash"`
	Timestamp uint64      `json:"timestamp"`
	// Signers are the trusted servers whose latest head is this one or a
	// descendant; Needed is how many the fraction asks for.
	Signers int `json:"signers"`
	Needed  int `json:"needed"`
	Trusted int `json:"trusted"`
	// Connected is how many trusted servers are connected and on the
	// client's chain.
	Connected int     `json:"connected"`
	Age       float64 `json:"ageSeconds"`
	MaxAge    float64 `json:"maxAgeSeconds"` // 0: any age
	// Verified is set when the client answers from this head; otherwise
	// Reason says why it does not.
	Verified bool   `json:"verified"`
	Reason   string `json:"reason,omitempty"`
	// Highest is the highest head any trusted server announced.
	Highest uint64 `json:"highest"`
	// Heads is the rule heads are accepted by ("ulc", "beacon" or
	// "both"); with the sync committee, BeaconSlot is the slot of the
	// latest beacon header verified.
	Heads      string `json:"heads"`
	BeaconSlot uint64 `json:"beaconSlot,omitempty"`

	head *types.Header
}

// HeadStatus returns the head's status now.
func (c *Client) HeadStatus() *HeadStatus {
	return c.headStatus(time.Now())
}

func (c *Client) headStatus(now time.Time) *HeadStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &HeadStatus{Needed: c.heads.need, Trusted: len(c.trusted), Heads: c.cfg.Heads.String()}
	if c.bh != nil {
		st.BeaconSlot = c.bh.headSlot
	}
	if c.cfg.HeadMaxAge > 0 {
		st.MaxAge = c.cfg.HeadMaxAge.Seconds()
	}
	for id, p := range c.peers {
		if p.trusted {
			st.Connected++
		}
		if s := c.stats[id]; s != nil && p.trusted {
			st.Highest = max(st.Highest, s.Head)
		}
	}
	h := c.chain.head()
	if h != nil {
		st.head = h
		st.Number, st.Hash, st.Timestamp = h.Number.Uint64(), c.chain.hashOf(h), h.Time
		st.Signers = c.heads.support(c.chain, h, st.Hash)
		st.Age = headAge(h, now).Seconds()
	}
	switch {
	case c.answersFromLocked(h, now):
		st.Verified = true
	case h == nil:
		st.Reason = "no verified head yet: " + c.trustSummaryLocked(st)
	case c.resuming:
		st.Reason = fmt.Sprintf("back from the background: head %d was not followed there, waiting for the trusted servers to sign one: %s", st.Number, c.trustSummaryLocked(st))
	case c.cfg.HeadMaxAge > 0 && st.Age > c.cfg.HeadMaxAge.Seconds():
		age := time.Duration(st.Age * float64(time.Second)).Round(time.Second)
		st.Reason = fmt.Sprintf("verified head %d is %v old, more than the %v allowed: %s", st.Number, age, c.cfg.HeadMaxAge, c.trustSummaryLocked(st))
	}
	return st
}

// answersFromLocked reports whether the client may answer from head h now:
// there is one, it was followed (not resumed from the background) and it
// is not older than HeadMaxAge. c.mu is held.
func (c *Client) answersFromLocked(h *types.Header, now time.Time) bool {
	return h != nil && !c.resuming && (c.cfg.HeadMaxAge <= 0 || headAge(h, now) <= c.cfg.HeadMaxAge)
}

func headAge(h *types.Header, now time.Time) time.Duration {
	return now.Sub(time.Unix(int64(h.Time), 0))
}

// trustSummaryLocked says how many trusted servers are connected and agree,
// and what went wrong with the others; c.mu is held.
func (c *Client) trustSummaryLocked(st *HeadStatus) string {
	if c.cfg.Heads == HeadsBeacon {
		return c.beaconSummaryLocked()
	}
	var b strings.Builder
	if c.cfg.Heads == HeadsBoth {
		b.WriteString(c.beaconSummaryLocked())
		b.WriteString("; ")
	}
	fmt.Fprintf(&b, "%d of %d trusted servers connected, %d vouch for the head, %d needed (fraction %d%%)",
		st.Connected, st.Trusted, st.Signers, st.Needed, c.cfg.Fraction)
	if c.genesis == (common.Hash{}) {
		fmt.Fprintf(&b, "; no genesis agreed yet (%d of %d trusted servers voted)", len(c.votes), st.Trusted)
	}
	var problems []string
	for id := range c.trusted {
		if _, ok := c.peers[id]; ok {
			continue
		}
		s := c.stats[id]
		why := "not connected"
		if _, ok := c.waiting[id]; ok {
			why = "waiting for the genesis to be agreed"
		} else if s != nil && s.LastError != "" {
			why = s.LastError
		}
		if _, banned := c.banned[id]; banned {
			why = "banned: " + why
		}
		problems = append(problems, fmt.Sprintf("%s: %s", id.TerminalString(), why))
	}
	if len(problems) > 0 {
		b.WriteString("; ")
		b.WriteString(strings.Join(problems, "; "))
	}
	return b.String()
}

// CurrentHead returns the accepted head when the client may answer from
// it, or a *HeadError saying why not.
func (c *Client) CurrentHead() (*types.Header, error) {
	// Every request at the head asks: only a refusal builds the status.
	now := time.Now()
	c.mu.Lock()
	h := c.chain.head()
	ok := c.answersFromLocked(h, now)
	c.mu.Unlock()
	if ok {
		return h, nil
	}
	st := c.headStatus(now)
	if !st.Verified {
		return nil, &HeadError{Status: st}
	}
	return st.head, nil
}

// Tag is a block the trusted servers vouch for besides the head.
type Tag int

// The tags.
const (
	Safe Tag = iota
	Finalized
)

func (t Tag) String() string {
	if t == Safe {
		return "safe"
	}
	return "finalized"
}

// TagError says why the client has no safe or finalized block.
type TagError struct {
	Tag    Tag
	Reason string // empty when no trusted server announces one
}

func (e *TagError) Error() string {
	if e.Reason == "" {
		return e.Tag.String() + " block not found"
	}
	return e.Tag.String() + " block not found: " + e.Reason
}

// TaggedHeader returns the chain's safe or finalized block: the highest
// block that the fraction of trusted servers name as safe (finalized), or
// name a canonical descendant of. It fails with a *HeadError without a
// usable head and a *TagError without such a block.
func (c *Client) TaggedHeader(ctx context.Context, tag Tag) (*types.Header, error) {
	head, err := c.CurrentHead()
	if err != nil {
		return nil, err
	}
	if c.bh != nil {
		return c.beaconTagged(ctx, tag)
	}
	ref := safeRef
	if tag == Finalized {
		ref = finalizedRef
	}
	c.mu.Lock()
	var refs []protocol.BlockRef
	for _, a := range c.heads.latest {
		if r := ref(a); r != nil && r.Number <= head.Number.Uint64() {
			refs = append(refs, *r)
		}
	}
	need := c.heads.need
	c.mu.Unlock()
	if len(refs) == 0 {
		return nil, &TagError{Tag: tag}
	}
	canon := make(map[protocol.BlockRef]bool)
	for _, r := range refs {
		h, err := c.HeaderByNumber(ctx, r.Number)
		if err != nil && ctx.Err() != nil {
			return nil, err
		}
		canon[r] = err == nil && h.Hash() == r.Hash
	}
	c.mu.Lock()
	best, vouching := c.heads.tagged(ref, func(r protocol.BlockRef) bool { return canon[r] })
	c.mu.Unlock()
	if best == nil {
		return nil, &TagError{Tag: tag, Reason: fmt.Sprintf("%d trusted servers vouch for one on the accepted chain, %d needed", vouching, need)}
	}
	return c.HeaderByNumber(ctx, best.Number)
}

// Retention returns what the connected servers can serve together: per
// kind of data the widest availability any of them announced.
func (c *Client) Retention(head uint64) protocol.Retention {
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		out   protocol.Retention
		first = true
	)
	widest := func(a, b protocol.Availability) protocol.Availability {
		switch {
		case a.Disabled:
			return b
		case b.Disabled:
			return a
		case b.OldestAt(head) < a.OldestAt(head):
			return b
		}
		return a
	}
	for _, p := range c.peers {
		r := p.status.Retention
		if first {
			out, first = r, false
			continue
		}
		out.State = widest(out.State, r.State)
		out.Tx = widest(out.Tx, r.Tx)
		out.Logs = widest(out.Logs, r.Logs)
		out.Receipts = widest(out.Receipts, r.Receipts)
		out.Blocks = widest(out.Blocks, r.Blocks)
		out.StateProofs = widest(out.StateProofs, r.StateProofs)
	}
	return out
}

// trustWatch remembers what was last logged about the trusted servers and
// the head, so that each change is logged once.
type trustWatch struct {
	connected int
	verified  bool
	logged    bool // something was logged: the client has started
}

// logTrustChanges logs a change in how many trusted servers are connected
// and in whether the head can be verified: at WARN when the client can no
// longer answer from its head.
func (c *Client) logTrustChanges(w *trustWatch) {
	st := c.HeadStatus()
	log := c.cfg.Logger
	if st.Connected != w.connected && c.cfg.Heads != HeadsBeacon {
		switch {
		case st.Connected < st.Needed && (w.logged || st.Connected < w.connected):
			log.Warn("Too few trusted servers connected to verify a head", "connected", st.Connected, "needed", st.Needed, "trusted", st.Trusted)
		default:
			log.Info("Trusted servers connected", "connected", st.Connected, "needed", st.Needed, "trusted", st.Trusted)
		}
		w.connected, w.logged = st.Connected, true
	}
	if st.Verified != w.verified {
		if st.Verified {
			if c.cfg.Heads == HeadsBeacon {
				log.Info("Head verified", "number", st.Number, "by", "sync committee")
			} else {
				log.Info("Head verified", "number", st.Number, "signers", st.Signers, "needed", st.Needed)
			}
		} else {
			log.Warn("Cannot answer from the head", "reason", st.Reason)
		}
		w.verified, w.logged = st.Verified, true
	}
}
