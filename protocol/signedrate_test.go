package protocol

import (
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"pgregory.net/rapid"
)

func TestSignedRate(t *testing.T) {
	var clock mclock.Simulated
	r := NewSignedRate(clock.Now(), SignedBurst)
	take := func() error { return r.Take(clock.Now(), AnnounceMsg) }
	for i := range SignedBurst {
		if err := take(); err != nil {
			t.Fatalf("message %d of the burst refused: %v", i, err)
		}
	}
	if err := take(); !errors.Is(err, ErrMsgRate) {
		t.Fatalf("message beyond the burst: err = %v, want ErrMsgRate", err)
	}
	// One per interval after the burst, and not more.
	for i := range 100 {
		clock.Run(SignedInterval)
		if err := take(); err != nil {
			t.Fatalf("message %d at the steady rate refused: %v", i, err)
		}
	}
	clock.Run(SignedInterval / 2)
	if err := take(); !errors.Is(err, ErrMsgRate) {
		t.Fatalf("message half an interval early: err = %v, want ErrMsgRate", err)
	}
	// A quiet server earns back the burst, never more.
	clock.Run(time.Hour)
	for i := range SignedBurst {
		if err := take(); err != nil {
			t.Fatalf("message %d of the burst after an hour refused: %v", i, err)
		}
	}
	if err := take(); !errors.Is(err, ErrMsgRate) {
		t.Fatalf("an hour's quiet bought more than a burst: err = %v", err)
	}
}

// TestSignedRateCarriesPartialIntervals: messages every 0.75 intervals
// are refused about a quarter of the time once the burst is spent, so
// time between messages is not lost to rounding.
func TestSignedRateCarriesPartialIntervals(t *testing.T) {
	var clock mclock.Simulated
	r := NewSignedRate(clock.Now(), SignedBurst)
	refused := 0
	const n = 4000
	for range n {
		clock.Run(SignedInterval * 3 / 4)
		if r.Take(clock.Now(), HistoryRootMsg) != nil {
			refused++
		}
	}
	// n messages over 0.75·n intervals: n − 0.75·n − burst refused.
	want := n - n*3/4 - SignedBurst
	if refused < want-1 || refused > want+1 {
		t.Fatalf("refused %d of %d, want %d", refused, n, want)
	}
}

// TestPacedSenderIsNeverRefused: a server that sends whenever Wait lets it
// (with its smaller burst) is never refused by a client's bucket, however
// its messages are produced and however the way bunches them, up to 0.8 s
// of varying delay ((SignedBurst−ServerSignedBurst)·SignedInterval).
func TestPacedSenderIsNeverRefused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var clock mclock.Simulated
		send := NewSignedRate(clock.Now(), ServerSignedBurst)
		recv := NewSignedRate(clock.Now(), SignedBurst)
		lastArrival := clock.Now()
		for i := range rapid.IntRange(1, 400).Draw(t, "messages") {
			// The next message is ready after a pause (often none: a flood).
			clock.Run(time.Duration(rapid.Int64Range(0, int64(3*SignedInterval)).Draw(t, "pause")))
			clock.Run(send.Wait(clock.Now()))
			if err := send.Take(clock.Now(), AnnounceMsg); err != nil {
				t.Fatalf("message %d: the sender's own bucket refused after Wait: %v", i, err)
			}
			// It arrives after a delay in 0..0.8 s, never before the one sent before it.
			arrival := clock.Now() + mclock.AbsTime(rapid.Int64Range(0, int64(800*time.Millisecond)).Draw(t, "delay"))
			arrival = max(arrival, lastArrival)
			lastArrival = arrival
			if err := recv.Take(arrival, AnnounceMsg); err != nil {
				t.Fatalf("message %d refused by the client: %v", i, err)
			}
		}
	})
}

func TestWaitSaysWhenATokenComes(t *testing.T) {
	var clock mclock.Simulated
	r := NewSignedRate(clock.Now(), 2)
	for range 2 {
		if w := r.Wait(clock.Now()); w != 0 {
			t.Fatalf("wait %v with tokens left", w)
		}
		r.Take(clock.Now(), AnnounceMsg)
	}
	clock.Run(SignedInterval / 5)
	if w := r.Wait(clock.Now()); w != SignedInterval*4/5 {
		t.Fatalf("wait %v, want %v", w, SignedInterval*4/5)
	}
	clock.Run(SignedInterval * 4 / 5)
	if w := r.Wait(clock.Now()); w != 0 {
		t.Fatalf("wait %v once the interval passed", w)
	}
}
