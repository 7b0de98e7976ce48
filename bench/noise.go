package bench

// Noise is each figure's run-to-run relative noise on this project's
// 2-core machines: the spread (largest less smallest, over the smallest)
// of runs of the same code, as they were recorded, at least 5 %; figures
// missing here are taken as DefaultNoise. Sources: four runs of bench rpc
// on one build, three alone and one within a full run (the rpc_ figures);
// the runs listed in issue 21 (the paid p99 ratio 0.86–8.29 over seven,
// log search 41.2 and 55.5 then; its ratio since: beside it); the
// README's qos runs (1.25–6.84); and two runs of bench mobile on one
// build (idle bytes 660,480 and 730,560 an hour, foreground CPU 13.6 and
// 16.6 s an hour, resume 1.6 and 14.7 ms).
var Noise = map[string]float64{
	"rpc_call_cold_p50_ms":                   0.4,
	"rpc_call_cold_p50_ratio":                0.62,
	"rpc_call_cold_round_trips":              0.05,
	"rpc_call_first_p50_ms":                  0.36,
	"rpc_call_first_p50_ratio":               0.21,
	"rpc_call_first_round_trips":             0.05,
	"rpc_call_heavy_cold_p50_ms":             0.1,
	"rpc_call_heavy_cold_p50_ratio":          0.15,
	"rpc_call_heavy_first_p50_ratio":         0.33,
	"rpc_call_heavy_first_round_trips":       0.05,
	"rpc_call_node_p50_ms":                   0.25,
	"rpc_call_p50_ms":                        0.21,
	"rpc_call_p50_ratio":                     0.05,
	"rpc_estimategas_cold_p50_ms":            0.09,
	"rpc_estimategas_cold_p50_ratio":         0.16,
	"rpc_estimategas_first_p50_ratio":        0.44, // 1.34–1.92 over four runs of 92ec94a (2026-12-07; 30 calls each)
	"rpc_getbalance_node_p50_ms":             0.13,
	"rpc_getbalance_node_p99_ms":             1.33, // the node's own tail: 0.31–0.71 ms over the same four runs
	"rpc_getbalance_p50_ms":                  0.1,
	"rpc_getbalance_p50_ratio":               0.13,
	"rpc_getbalance_p99_ms":                  2.11,
	"rpc_getbalance_warm_p50_ms":             0.37,
	"rpc_getbalance_warm_p50_ratio":          0.1,
	"rpc_getblock_node_p50_ms":               0.16,
	"rpc_getblock_p50_ms":                    0.1,
	"rpc_getblock_p50_ratio":                 0.07,
	"rpc_simulate_first_p50_ratio":           0.16,
	"rpc_simulate_p50_ms":                    0.07,
	"rpc_simulate_p50_ratio":                 0.46, // 0.56–0.82 in the bench rpc runs of 2026-12-07, builds that differ in nothing on its path
	"rpc_witness_fetches_beyond":             0.05,
	"startup_ms":                             0.47,
	"devnet_first_head_seconds":              2.0, // p50s of three starts: 0.10–0.14 s in three runs, 0.28 s with a cold page cache and tests beside it
	"devnet_first_head_max_seconds":          2.0, // slowest of three: 0.11–0.14 s in three runs, 0.32 s as above
	"paid_p99_ratio":                         5.0,
	"paid_p99_idle_ms":                       5.0,
	"paid_p99_flood_ms":                      1.0,
	"paid_p50_flood_ms":                      0.26, // 0.108–0.136 ms over four full runs of 10a4fe9–92ec94a
	"serve_overhead_headers":                 0.6,  // 2.6–4.1 % over three runs with raw and served rates alternated (0.0–24 % before, measured back to back)
	"history_logs_100k_p50_ratio":            0.12, // 4.19–4.68 over four runs of one build, 4.48–4.91 over nine of the one before (50 clients each)
	"history_logs_100k_p50_ms":               0.30,
	"mobile_idle_bytes_per_hour":             0.15,
	"mobile_idle_cpu_seconds_per_hour":       0.25,
	"mobile_resume_first_answer_ms":          10.0,
	"mobile_cold_start_first_answer_ms":      0.5,
	"mobile_background_cpu_seconds_per_hour": 1.0,
	"beacon_head_lag_ms":                     1.6,  // p50 3.3–8.6 ms over five runs of one build (2026-12-07)
	"beacon_head_lag_p99_ms":                 1.1,  // 11.7–24.0 ms over eight runs of one build, 12.0–25.2 over eight of the next
	"payment_bytes":                          0.15, // 927–1,065: a 10 s session holds ten or eleven vouchers (six runs, two builds)
	"payment_bytes_share":                    0.31, // 4.9–6.5 per 100,000 over the same six runs
	// The in-process serve figures run at one of two speeds whatever the
	// build (the backend alone too): over three runs of one build on
	// 2026-12-07, proofs 92,600, 39,800, 42,200 a second; raw 94,600,
	// 42,500, 45,500; overhead 2.1–7.3 %; headers 364,000–864,000 over four
	// runs of another.
	"serve_proofs_inprocess_per_sec":     1.33,
	"serve_proofs_inprocess_raw_per_sec": 1.23,
	"serve_overhead_proofs_inprocess":    2.5,
	"serve_headers_inprocess_per_sec":    1.37,
	// 28,300–31,000 in five full runs of 2026-12-07, 22,400 in the one
	// whose in-process serve figures ran at the slow speed.
	"voucher_verify_first_per_sec": 0.39,
}
