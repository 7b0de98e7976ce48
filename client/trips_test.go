package client

import "testing"

func TestSequentialRoundTrips(t *testing.T) {
	tests := []struct {
		name  string
		steps func(t *tripCounter)
		sent  uint64
		waves uint64
	}{
		{"one request", func(t *tripCounter) { t.begin(); t.end() }, 1, 1},
		{"two overlapping", func(t *tripCounter) { t.begin(); t.begin(); t.end(); t.end() }, 2, 1},
		{"one after the other", func(t *tripCounter) { t.begin(); t.end(); t.begin(); t.end() }, 2, 2},
		{"apart but together", func(t *tripCounter) {
			done := t.together()
			t.begin()
			t.end()
			t.begin()
			t.end()
			done()
		}, 2, 1},
		{"a retry in a phase", func(t *tripCounter) {
			done := t.together()
			t.begin()
			t.end()
			t.retry()
			t.begin()
			t.end()
			done()
		}, 2, 2},
		{"a retry alone", func(t *tripCounter) { t.begin(); t.end(); t.retry(); t.begin(); t.end() }, 2, 2},
		{"phases in a row", func(t *tripCounter) {
			for range 3 {
				done := t.together()
				t.begin()
				t.begin()
				t.end()
				t.end()
				done()
			}
		}, 6, 3},
	}
	for _, tt := range tests {
		var tc tripCounter
		tt.steps(&tc)
		if tc.sent.Load() != tt.sent || tc.waves.Load() != tt.waves || tc.inflight.Load() != 0 {
			t.Errorf("%s: sent %d, waves %d, in flight %d; want %d, %d, 0", tt.name, tc.sent.Load(), tc.waves.Load(), tc.inflight.Load(), tt.sent, tt.waves)
		}
	}
}
