package client

import (
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"

	"github.com/lightmarket/lightmarket/protocol"
)

func TestSignedRate(t *testing.T) {
	var clock mclock.Simulated
	r := newSignedRate(clock.Now())
	take := func() error { return r.take(clock.Now(), protocol.AnnounceMsg) }
	for i := range signedBurst {
		if err := take(); err != nil {
			t.Fatalf("message %d of the burst refused: %v", i, err)
		}
	}
	if err := take(); !errors.Is(err, protocol.ErrMsgRate) {
		t.Fatalf("message beyond the burst: err = %v, want ErrMsgRate", err)
	}
	// One per interval after the burst, and not more.
	for i := range 100 {
		clock.Run(signedInterval)
		if err := take(); err != nil {
			t.Fatalf("message %d at the steady rate refused: %v", i, err)
		}
	}
	clock.Run(signedInterval / 2)
	if err := take(); !errors.Is(err, protocol.ErrMsgRate) {
		t.Fatalf("message half an interval early: err = %v, want ErrMsgRate", err)
	}
	// A quiet server earns back the burst, never more.
	clock.Run(time.Hour)
	for i := range signedBurst {
		if err := take(); err != nil {
			t.Fatalf("message %d of the burst after an hour refused: %v", i, err)
		}
	}
	if err := take(); !errors.Is(err, protocol.ErrMsgRate) {
		t.Fatalf("an hour's quiet bought more than a burst: err = %v", err)
	}
}

// TestSignedRateCarriesPartialIntervals: messages every 0.75 intervals
// are refused about a quarter of the time once the burst is spent, so
// time between messages is not lost to rounding.
func TestSignedRateCarriesPartialIntervals(t *testing.T) {
	var clock mclock.Simulated
	r := newSignedRate(clock.Now())
	refused := 0
	const n = 4000
	for range n {
		clock.Run(signedInterval * 3 / 4)
		if r.take(clock.Now(), protocol.HistoryRootMsg) != nil {
			refused++
		}
	}
	// n messages over 0.75·n intervals: n − 0.75·n − burst refused.
	want := n - n*3/4 - signedBurst
	if refused < want-1 || refused > want+1 {
		t.Fatalf("refused %d of %d, want %d", refused, n, want)
	}
}
