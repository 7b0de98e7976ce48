package bench

// Noise is each figure's run-to-run relative noise on this project's
// 2-core machines: the spread (largest less smallest, over their median)
// of the same code's runs, as docs/benchmarks.md records them. Figures
// missing here are taken as DefaultNoise.
var Noise = map[string]float64{}
