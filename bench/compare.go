package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
)

// Better says which way a figure improves.
type Better int

// The ways a figure can improve.
const (
	Either Better = iota // a count or a setting: reported, never flagged
	Lower                // times, ratios against the node, bytes, CPU, gas
	Higher               // rates, shares, efficiency
)

// Direction is the way the figure named key improves, read from its name
// as the benchmarks name their figures.
func Direction(key string) Better {
	switch {
	case strings.HasSuffix(key, "_bytes_share"): // the share of bytes spent on payments
		return Lower
	case strings.HasSuffix(key, "_per_sec"), strings.HasSuffix(key, "_per_second"),
		strings.Contains(key, "efficiency"), strings.HasSuffix(key, "_share"):
		return Higher
	case strings.HasSuffix(key, "_ms"), strings.HasSuffix(key, "_us"), strings.HasSuffix(key, "_ratio"),
		strings.HasSuffix(key, "_bytes"), strings.HasSuffix(key, "_per_hour"), strings.HasSuffix(key, "_round_trips"),
		strings.HasSuffix(key, "_requests"), strings.HasSuffix(key, "_seconds"), strings.HasSuffix(key, "_mb"),
		strings.HasSuffix(key, "_mib"), strings.Contains(key, "gas"), strings.Contains(key, "dispersion"),
		strings.Contains(key, "overhead"):
		return Lower
	}
	return Either
}

// Change is one figure in two runs.
type Change struct {
	Key      string
	Old, New float64
	// Relative is (New-Old)/|Old| (±Inf when Old is 0 and New is not).
	Relative float64
	Better   Better
	// Noise is the relative change the figure shows between runs of the
	// same code on this kind of machine; Worse is set when it moved the
	// wrong way by more than that.
	Noise float64
	Worse bool
}

// DefaultNoise is the run-to-run noise assumed for a figure not in the
// noise table: what most latency figures show between two runs of the
// same code on a quiet 2-core machine.
const DefaultNoise = 0.15

// Compare lines up the numeric figures two JSON result files share.
// noise gives each figure's run-to-run relative noise (DefaultNoise when
// missing).
func Compare(oldFigures, newFigures map[string]any, noise map[string]float64) []Change {
	var out []Change
	for key, ov := range oldFigures {
		o, ok1 := ov.(float64)
		n, ok2 := newFigures[key].(float64)
		if !ok1 || !ok2 {
			continue
		}
		c := Change{Key: key, Old: o, New: n, Better: Direction(key), Noise: DefaultNoise}
		if v, ok := noise[key]; ok {
			c.Noise = v
		}
		switch {
		case o == n:
		case o == 0:
			c.Relative = math.Inf(1)
			if n < 0 {
				c.Relative = math.Inf(-1)
			}
		default:
			c.Relative = (n - o) / math.Abs(o)
		}
		switch c.Better {
		case Lower:
			c.Worse = c.Relative > c.Noise
		case Higher:
			c.Worse = c.Relative < -c.Noise
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// ReadFigures reads a file `lightmarket bench --json` wrote.
func ReadFigures(path string) (map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var figures map[string]any
	if err := json.Unmarshal(raw, &figures); err != nil {
		return nil, fmt.Errorf("%s: not a benchmark result: %w", path, err)
	}
	return figures, nil
}
