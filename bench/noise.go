package bench

// Noise is each figure's run-to-run relative noise on this project's
// 2-core machines: the spread (largest less smallest, over the median) of
// runs of the same code, as they were recorded; figures missing here are
// taken as DefaultNoise. Sources: the runs listed in issue 21 (getBalance
// 1.49–1.61 over six runs, the paid p99 ratio 0.86–8.29 over seven, log
// search 41.2 and 55.5), the README's qos runs (1.25–6.84) and two runs of
// bench mobile on one build (idle bytes 660,480 and 730,560 an hour,
// foreground CPU 13.6 and 16.6 s an hour, resume 1.6 and 14.7 ms).
var Noise = map[string]float64{
	"rpc_getbalance_p50_ratio":               0.08,
	"paid_p99_ratio":                         5.0,
	"paid_p99_idle_ms":                       5.0,
	"paid_p99_flood_ms":                      1.0,
	"history_logs_100k_p50_ratio":            0.30,
	"history_logs_100k_p50_ms":               0.30,
	"mobile_idle_bytes_per_hour":             0.15,
	"mobile_idle_cpu_seconds_per_hour":       0.25,
	"mobile_resume_first_answer_ms":          10.0,
	"mobile_cold_start_first_answer_ms":      0.5,
	"mobile_background_cpu_seconds_per_hour": 1.0,
}
