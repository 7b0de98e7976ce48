package bench

import (
	"math"
	"testing"
)

func TestDirectionFromTheFigureName(t *testing.T) {
	for key, want := range map[string]Better{
		"rpc_getbalance_p50_ratio":         Lower,
		"history_logs_100k_p50_ms":         Lower,
		"mobile_idle_bytes_per_hour":       Lower,
		"voucher_verify_per_sec":           Higher,
		"sim_allocative_efficiency":        Higher,
		"paid_capacity_share":              Higher,
		"payment_bytes_share":              Lower,
		"gas_open":                         Lower,
		"history_logs_100k_round_trips":    Lower,
		"serve_clients":                    Either,
		"mobile_resume_first_answer_ms":    Lower,
		"embed_request_p50_ratio":          Lower,
		"mobile_idle_cpu_seconds_per_hour": Lower,
	} {
		if got := Direction(key); got != want {
			t.Errorf("Direction(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestCompareFlagsOnlyWhatMovedTheWrongWayBeyondItsNoise(t *testing.T) {
	old := map[string]any{
		"a_ms": 10.0, "b_ms": 10.0, "c_per_sec": 1000.0, "d_per_sec": 1000.0, "e_ratio": 1.0,
		"clients": 5.0, "zero_ms": 0.0, "only_old_ms": 1.0, "text": "x",
	}
	cur := map[string]any{
		"a_ms": 11.0, "b_ms": 13.0, "c_per_sec": 950.0, "d_per_sec": 700.0, "e_ratio": 0.5,
		"clients": 50.0, "zero_ms": 1.0, "text": "y",
	}
	got := make(map[string]Change)
	for _, c := range Compare(old, cur, map[string]float64{"b_ms": 0.5}) {
		got[c.Key] = c
	}
	for key, worse := range map[string]bool{
		"a_ms":      false, // +10 %, within the default noise
		"b_ms":      false, // +30 %, within its own noise of 50 %
		"c_per_sec": false, // -5 %
		"d_per_sec": true,  // -30 %
		"e_ratio":   false, // better
		"clients":   false, // a count
		"zero_ms":   true,  // from nothing to something
	} {
		c, ok := got[key]
		if !ok {
			t.Errorf("%s not compared", key)
			continue
		}
		if c.Worse != worse {
			t.Errorf("%s: %v -> %v (%+.2f): worse %v, want %v", key, c.Old, c.New, c.Relative, c.Worse, worse)
		}
	}
	if _, ok := got["only_old_ms"]; ok {
		t.Error("a figure only the old run has was compared")
	}
	if _, ok := got["text"]; ok {
		t.Error("a figure that is not a number was compared")
	}
	if r := got["zero_ms"].Relative; !math.IsInf(r, 1) {
		t.Errorf("zero to one: relative %v", r)
	}
}
