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

// Signed tells whether messages of this code are signed by the server and
// count against SignedBurst and SignedInterval.
func Signed(code Code) bool {
	switch code {
	case AnnounceMsg, HistoryRootMsg, BeaconOptimisticMsg, BeaconFinalityMsg:
		return true
	}
	return false
}

// A client may send bids and payments in a burst of BidBurst (PayBurst)
// and then one per BidInterval (PayInterval): each bid reruns the
// server's auction, each payment costs a signature check. A server
// disconnects a client that sends more (ErrInvalidRequest). The burst lets
// an honest client's messages, spaced wider than the interval when sent,
// arrive bunched by delays on the way or read late by a busy server.
const (
	BidBurst    = 4
	BidInterval = 100 * time.Millisecond
	PayBurst    = 4
	PayInterval = 50 * time.Millisecond
)

// Rate is one session's budget of a kind of message: a token bucket on an
// mclock, a burst and then one message per interval. It is used by one
// goroutine.
type Rate struct {
	burst    int
	interval time.Duration
	tokens   int
	at       mclock.AbsTime
}

// NewRate returns a full bucket of burst tokens, earning one per interval.
func NewRate(now mclock.AbsTime, burst int, interval time.Duration) Rate {
	return Rate{burst: burst, interval: interval, tokens: burst, at: now}
}

// refill adds the tokens earned since the last one, keeping the part of
// an interval not yet earned.
func (r *Rate) refill(now mclock.AbsTime) {
	if earned := int(time.Duration(now-r.at) / r.interval); earned > 0 {
		r.tokens = min(r.burst, r.tokens+earned)
		r.at += mclock.AbsTime(time.Duration(earned) * r.interval)
	}
	if r.tokens == r.burst {
		r.at = now
	}
}

// Take spends a token for a message, or says there is none: the sender
// sends too often.
func (r *Rate) Take(now mclock.AbsTime) bool {
	r.refill(now)
	if r.tokens == 0 {
		return false
	}
	r.tokens--
	return true
}

// Wait is how long a sender has to wait before Take succeeds: zero when
// a token is there.
func (r *Rate) Wait(now mclock.AbsTime) time.Duration {
	r.refill(now)
	if r.tokens > 0 {
		return 0
	}
	return r.interval - time.Duration(now-r.at)
}

// Limit describes the rate for an error: "N at once and one per D".
func (r *Rate) Limit() string {
	return fmt.Sprintf("%d at once and one per %v", r.burst, r.interval)
}
