package client

import (
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"

	"github.com/lightmarket/lightmarket/protocol"
)

// A server may send signed messages (Announce, HistoryRoot) in a burst of
// signedBurst and then one per signedInterval: each costs the client a
// signature recovery (about 45 µs), so a server sending more could load
// the client without limit. Heads come a block at a time (12 s on mainnet,
// 200 ms in the fastest devnet) and roots once per section, so honest
// servers stay far below.
const (
	signedBurst    = 32
	signedInterval = 50 * time.Millisecond
)

// signedRate is one session's budget of signed messages: a token bucket
// on the client's clock. It is used by the session's read loop only.
type signedRate struct {
	tokens int
	at     mclock.AbsTime
}

func newSignedRate(now mclock.AbsTime) signedRate {
	return signedRate{tokens: signedBurst, at: now}
}

// take spends a token for a signed message of the given code, or says
// the server sends them too often.
func (r *signedRate) take(now mclock.AbsTime, code protocol.Code) error {
	if earned := int(time.Duration(now-r.at) / signedInterval); earned > 0 {
		r.tokens = min(signedBurst, r.tokens+earned)
		r.at += mclock.AbsTime(time.Duration(earned) * signedInterval)
	}
	if r.tokens == signedBurst {
		r.at = now
	}
	if r.tokens == 0 {
		return fmt.Errorf("%w: %v beyond %d at once and one per %v", protocol.ErrMsgRate, code, signedBurst, signedInterval)
	}
	r.tokens--
	return nil
}
