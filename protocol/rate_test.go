package protocol

import (
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"pgregory.net/rapid"
)

func TestRate(t *testing.T) {
	var clock mclock.Simulated
	r := NewRate(clock.Now(), SignedBurst, SignedInterval)
	take := func() bool { return r.Take(clock.Now()) }
	for i := range SignedBurst {
		if !take() {
			t.Fatalf("message %d of the burst refused", i)
		}
	}
	if take() {
		t.Fatal("message beyond the burst taken")
	}
	// One per interval after the burst, and not more.
	for i := range 100 {
		clock.Run(SignedInterval)
		if !take() {
			t.Fatalf("message %d at the steady rate refused", i)
		}
	}
	clock.Run(SignedInterval / 2)
	if take() {
		t.Fatal("message half an interval early taken")
	}
	// A quiet sender earns back the burst, never more.
	clock.Run(time.Hour)
	for i := range SignedBurst {
		if !take() {
			t.Fatalf("message %d of the burst after an hour refused", i)
		}
	}
	if take() {
		t.Fatal("an hour's quiet bought more than a burst")
	}
}

// TestRateCarriesPartialIntervals: messages every 0.75 intervals are
// refused about a quarter of the time once the burst is spent, so time
// between messages is not lost to rounding.
func TestRateCarriesPartialIntervals(t *testing.T) {
	var clock mclock.Simulated
	r := NewRate(clock.Now(), SignedBurst, SignedInterval)
	refused := 0
	const n = 4000
	for range n {
		clock.Run(SignedInterval * 3 / 4)
		if !r.Take(clock.Now()) {
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
		send := NewRate(clock.Now(), ServerSignedBurst, SignedInterval)
		recv := NewRate(clock.Now(), SignedBurst, SignedInterval)
		lastArrival := clock.Now()
		for i := range rapid.IntRange(1, 400).Draw(t, "messages") {
			// The next message is ready after a pause (often none: a flood).
			clock.Run(time.Duration(rapid.Int64Range(0, int64(3*SignedInterval)).Draw(t, "pause")))
			clock.Run(send.Wait(clock.Now()))
			if !send.Take(clock.Now()) {
				t.Fatalf("message %d: the sender's own bucket refused after Wait", i)
			}
			// It arrives after a delay in 0..0.8 s, never before the one sent before it.
			arrival := clock.Now() + mclock.AbsTime(rapid.Int64Range(0, int64(800*time.Millisecond)).Draw(t, "delay"))
			arrival = max(arrival, lastArrival)
			lastArrival = arrival
			if !recv.Take(arrival) {
				t.Fatalf("message %d refused by the client", i)
			}
		}
	})
}

// TestSpacedClientIsNeverRefused: a client that spaces its bids and
// payments as this project's does (150 and 60 ms when sent) stays within
// the server's buckets when the way, or a server reading late, delays
// each by up to 150 ms.
func TestSpacedClientIsNeverRefused(t *testing.T) {
	for _, k := range []struct {
		name             string
		spacing          time.Duration
		burst            int
		interval, jitter time.Duration
	}{
		{"bids", 150 * time.Millisecond, BidBurst, BidInterval, 150 * time.Millisecond},
		{"payments", 60 * time.Millisecond, PayBurst, PayInterval, 150 * time.Millisecond},
	} {
		t.Run(k.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				var clock mclock.Simulated
				recv := NewRate(clock.Now(), k.burst, k.interval)
				lastArrival := clock.Now()
				for i := range rapid.IntRange(1, 200).Draw(t, "messages") {
					clock.Run(k.spacing + time.Duration(rapid.Int64Range(0, int64(time.Second)).Draw(t, "pause"))*time.Duration(rapid.IntRange(0, 1).Draw(t, "paused")))
					arrival := clock.Now() + mclock.AbsTime(rapid.Int64Range(0, int64(k.jitter)).Draw(t, "delay"))
					arrival = max(arrival, lastArrival)
					lastArrival = arrival
					if !recv.Take(arrival) {
						t.Fatalf("message %d refused", i)
					}
				}
			})
		})
	}
}

func TestWaitSaysWhenATokenComes(t *testing.T) {
	var clock mclock.Simulated
	r := NewRate(clock.Now(), 2, SignedInterval)
	for range 2 {
		if w := r.Wait(clock.Now()); w != 0 {
			t.Fatalf("wait %v with tokens left", w)
		}
		r.Take(clock.Now())
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

// TestSignedMessages: the four messages a server signs count against the
// signed-message budget, and nothing else does.
func TestSignedMessages(t *testing.T) {
	signed := map[Code]bool{AnnounceMsg: true, HistoryRootMsg: true, BeaconOptimisticMsg: true, BeaconFinalityMsg: true}
	for code := Code(0); code <= BeaconUpdatesMsg; code++ {
		if got := Signed(code); got != signed[code] {
			t.Errorf("Signed(%v) = %v, want %v", code, got, signed[code])
		}
	}
}
