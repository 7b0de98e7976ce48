// Package flowcontrol implements LES-style flow control as pure cores: a
// server keeps a ClientBuffer per client, a client keeps a ServerBuffer
// estimate per server, and a CostTracker learns what requests really cost.
//
// Costs are in cost units: nanoseconds of serving time. A client's capacity
// is its recharge rate in cost units per millisecond, so capacity 1,000,000
// is one serving thread, and its buffer holds BufferTime (6 s) of recharge.
// A server deducts a request's announced maximum cost when it accepts it and
// refunds the difference to the real cost when it has served it; a client
// never sends a request its (conservative) estimate of the buffer cannot
// pay for.
//
// Nothing here starts a goroutine, reads the wall clock or does I/O: time
// comes from an injected mclock.Clock.
package flowcontrol

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
)

// BufferTime is how much recharge a full buffer holds.
const BufferTime = 6 * time.Second

// LowerDelay is how long a lowered capacity waits before it applies, so that
// requests the client sent under the old capacity are not counted as
// overruns.
const LowerDelay = 2 * time.Second

// Params are a client's flow-control parameters at one server.
type Params struct {
	BufLimit uint64 // cost units
	Recharge uint64 // cost units per millisecond (the capacity)
}

// ParamsFor returns the parameters for a capacity: the buffer holds
// BufferTime of recharge.
func ParamsFor(capacity uint64) Params {
	return Params{BufLimit: capacity * uint64(BufferTime/time.Millisecond), Recharge: capacity}
}

// BufferOverrunError is returned when a client sends a request whose
// maximum cost its buffer cannot pay for.
type BufferOverrunError struct {
	MaxCost, Buffer uint64
}

func (e *BufferOverrunError) Error() string {
	return fmt.Sprintf("flow control buffer overrun: request costs up to %d, buffer holds %d", e.MaxCost, e.Buffer)
}

// recharged returns value recharged at rate per ms over dt, capped at limit.
func recharged(value, limit, rate uint64, dt time.Duration) uint64 {
	if value >= limit || dt <= 0 {
		return min(value, limit)
	}
	hi, lo := bits.Mul64(rate, uint64(dt))
	if hi >= uint64(time.Millisecond) {
		return limit // more than 2^64 units: certainly full
	}
	add, _ := bits.Div64(hi, lo, uint64(time.Millisecond))
	if add >= limit-value {
		return limit
	}
	return value + add
}

// ClientBuffer is the server's account of one client's buffer.
type ClientBuffer struct {
	clock  mclock.Clock
	params Params
	value  uint64
	last   mclock.AbsTime

	next   *Params // a lowered capacity waiting to apply
	nextAt mclock.AbsTime
}

// NewClientBuffer returns a full buffer.
func NewClientBuffer(clock mclock.Clock, p Params) *ClientBuffer {
	return &ClientBuffer{clock: clock, params: p, value: p.BufLimit, last: clock.Now()}
}

func (b *ClientBuffer) update(now mclock.AbsTime) {
	if b.next != nil && now >= b.nextAt {
		b.value = recharged(b.value, b.params.BufLimit, b.params.Recharge, time.Duration(b.nextAt-b.last))
		b.last = b.nextAt
		b.params = *b.next
		b.next = nil
		b.value = min(b.value, b.params.BufLimit)
	}
	b.value = recharged(b.value, b.params.BufLimit, b.params.Recharge, time.Duration(now-b.last))
	b.last = now
}

// Value is the buffer value now.
func (b *ClientBuffer) Value() uint64 {
	b.update(b.clock.Now())
	return b.value
}

// Params are the parameters in force now.
func (b *ClientBuffer) Params() Params {
	b.update(b.clock.Now())
	return b.params
}

// Accept deducts a request's maximum cost, or refuses it with a
// *BufferOverrunError when the buffer cannot pay for it. It returns the
// buffer value after the deduction.
func (b *ClientBuffer) Accept(maxCost uint64) (uint64, error) {
	b.update(b.clock.Now())
	if maxCost > b.value {
		return b.value, &BufferOverrunError{MaxCost: maxCost, Buffer: b.value}
	}
	b.value -= maxCost
	return b.value, nil
}

// Done refunds the part of an accepted request's maximum cost that serving
// it did not use, and returns the buffer value to report in the reply.
func (b *ClientBuffer) Done(maxCost, realCost uint64) uint64 {
	b.update(b.clock.Now())
	if realCost < maxCost {
		b.value = min(b.value+maxCost-realCost, b.params.BufLimit)
	}
	return b.value
}

// SetParams changes the client's capacity. A raise applies at once; a cut
// applies after LowerDelay. It returns when the new parameters apply.
func (b *ClientBuffer) SetParams(p Params) mclock.AbsTime {
	now := b.clock.Now()
	b.update(now)
	if p.Recharge >= b.params.Recharge && p.BufLimit >= b.params.BufLimit {
		b.params, b.next = p, nil
		return now
	}
	b.next, b.nextAt = &p, now+mclock.AbsTime(LowerDelay)
	return b.nextAt
}

// ServerBuffer is a client's conservative estimate of its buffer at one
// server: it assumes nothing is refunded until the server says so.
type ServerBuffer struct {
	clock   mclock.Clock
	params  Params
	value   uint64
	last    mclock.AbsTime
	pending map[uint64]uint64 // reqID -> maxCost of requests in flight
}

// NewServerBuffer starts from a full buffer with the server's announced
// parameters.
func NewServerBuffer(clock mclock.Clock, p Params) *ServerBuffer {
	return &ServerBuffer{clock: clock, params: p, value: p.BufLimit, last: clock.Now(), pending: make(map[uint64]uint64)}
}

// update recharges the estimate. It never rises above the buffer limit
// less the requests in flight: the server charges them only when they
// arrive, and a buffer that was full meanwhile recharged nothing.
func (s *ServerBuffer) update(now mclock.AbsTime) {
	limit := s.params.BufLimit
	for _, c := range s.pending {
		limit -= min(c, limit)
	}
	s.value = recharged(s.value, limit, s.params.Recharge, time.Duration(now-s.last))
	s.last = now
}

// CanSend returns how long to wait before a request of maxCost fits in the
// estimate: 0 when it fits now. A request that can never fit (above the
// buffer limit) returns a negative duration.
func (s *ServerBuffer) CanSend(maxCost uint64) time.Duration {
	s.update(s.clock.Now())
	if maxCost <= s.value {
		return 0
	}
	if maxCost > s.params.BufLimit || s.params.Recharge == 0 {
		return -1
	}
	missing := maxCost - s.value
	return time.Duration((missing*uint64(time.Millisecond) + s.params.Recharge - 1) / s.params.Recharge)
}

// Sent records a request sent with its maximum cost.
func (s *ServerBuffer) Sent(reqID, maxCost uint64) {
	s.update(s.clock.Now())
	s.value -= min(maxCost, s.value)
	s.pending[reqID] = maxCost
}

// Received corrects the estimate with the buffer value a reply carried. The
// server computed bv after serving reqID; requests still in flight may not
// have been charged yet, so their maximum costs are subtracted again.
func (s *ServerBuffer) Received(reqID, bv uint64) {
	if _, ok := s.pending[reqID]; !ok {
		return
	}
	delete(s.pending, reqID)
	s.update(s.clock.Now())
	var inFlight uint64
	for _, c := range s.pending {
		inFlight += c
	}
	est := uint64(0)
	if bv > inFlight {
		est = bv - inFlight
	}
	s.value = min(est, s.params.BufLimit)
}

// Forget drops a request that will never be answered (timed out), without
// crediting anything back.
func (s *ServerBuffer) Forget(reqID uint64) { delete(s.pending, reqID) }

// SetParams applies a server's capacity update at once.
func (s *ServerBuffer) SetParams(p Params) {
	s.update(s.clock.Now())
	s.params = p
	s.value = min(s.value, p.BufLimit)
}

// Params are the server's parameters as last announced.
func (s *ServerBuffer) Params() Params { return s.params }

// Value is the current estimate.
func (s *ServerBuffer) Value() uint64 {
	s.update(s.clock.Now())
	return s.value
}
