package protocol

import (
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
)

// A server may send signed messages (Announce, HistoryRoot,
// BeaconOptimistic, BeaconFinality) in a burst of SignedBurst and then one
// per SignedInterval: each costs the client a signature check, so a server
// sending more could load the client without limit. A client disconnects a
// server that sends more (ErrMsgRate); a server paces its own messages with
// a smaller burst (ServerSignedBurst), so delays on the way that bunch its
// messages together stay within the client's allowance.
const (
	SignedBurst       = 32
	ServerSignedBurst = SignedBurst / 2
	SignedInterval    = 50 * time.Millisecond
)

// SignedRate is one session's budget of signed messages: a token bucket
// on an mclock. It is used by one goroutine.
type SignedRate struct {
	burst  int
	tokens int
	at     mclock.AbsTime
}

// NewSignedRate returns a full bucket of burst tokens.
func NewSignedRate(now mclock.AbsTime, burst int) SignedRate {
	return SignedRate{burst: burst, tokens: burst, at: now}
}

// refill adds the tokens earned since the last one, keeping the part of
// an interval not yet earned.
func (r *SignedRate) refill(now mclock.AbsTime) {
	if earned := int(time.Duration(now-r.at) / SignedInterval); earned > 0 {
		r.tokens = min(r.burst, r.tokens+earned)
		r.at += mclock.AbsTime(time.Duration(earned) * SignedInterval)
	}
	if r.tokens == r.burst {
		r.at = now
	}
}

// Take spends a token for a signed message of the given code, or says
// the sender sends them too often.
func (r *SignedRate) Take(now mclock.AbsTime, code Code) error {
	r.refill(now)
	if r.tokens == 0 {
		return fmt.Errorf("%w: %v beyond %d at once and one per %v", ErrMsgRate, code, r.burst, SignedInterval)
	}
	r.tokens--
	return nil
}

// Wait is how long a sender has to wait before Take succeeds: zero when
// a token is there.
func (r *SignedRate) Wait(now mclock.AbsTime) time.Duration {
	r.refill(now)
	if r.tokens > 0 {
		return 0
	}
	return SignedInterval - time.Duration(now-r.at)
}
