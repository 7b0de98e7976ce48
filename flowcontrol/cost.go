package flowcontrol

import "slices"

// Cost is the announced maximum cost of one request type: Base plus
// PerItem for every item asked for.
type Cost struct {
	Base, PerItem uint64
}

// CostTable maps request codes to their announced maximum costs.
type CostTable map[uint64]Cost

// MaxCost is the maximum cost of a request of code asking for items items;
// false when the code has no cost (it is not a request).
func (t CostTable) MaxCost(code uint64, items int) (uint64, bool) {
	c, ok := t[code]
	if !ok {
		return 0, false
	}
	return c.Base + c.PerItem*uint64(items), true
}

// CostTracker learns what requests really cost per item and proposes the
// table to announce: twice the average, as LES did, never below a tenth of
// the initial cost (so that a run of cheap requests cannot make requests
// nearly free). Base costs stay as configured.
//
// One-off costs do not carry over: the average starts from the median of
// the first minSamples observations, and later an observation counts for
// at most outlierFactor times the average. Without that, one slow request
// (the first request for a tail builds it for the head: tens of
// milliseconds for one item) made a request type cost more than a whole
// flow-control buffer for every client that connected after it.
type CostTracker struct {
	initial CostTable
	avg     map[uint64]float64 // moving average cost per item (base folded in)
	seen    map[uint64]int
	first   map[uint64][]float64 // the first observations, until minSamples
}

const (
	// trackerWeight is the weight of a new observation in the moving
	// average.
	trackerWeight = 0.05
	// minSamples is how many observations of a code it takes to announce
	// a learned cost.
	minSamples = 20
	// outlierFactor bounds one observation against the average.
	outlierFactor = 4
)

// NewCostTracker starts from the initial table.
func NewCostTracker(initial CostTable) *CostTracker {
	return &CostTracker{initial: initial, avg: make(map[uint64]float64), seen: make(map[uint64]int), first: make(map[uint64][]float64)}
}

// Observe records that a request of code with items items cost realCost.
func (t *CostTracker) Observe(code uint64, items int, realCost uint64) {
	if _, ok := t.initial[code]; !ok || items <= 0 {
		return
	}
	per := float64(realCost) / float64(items)
	t.seen[code]++
	switch {
	case t.seen[code] < minSamples:
		t.first[code] = append(t.first[code], per)
	case t.seen[code] == minSamples:
		first := append(t.first[code], per)
		slices.Sort(first)
		t.avg[code] = first[len(first)/2]
		delete(t.first, code)
	default:
		per = min(per, outlierFactor*t.avg[code])
		t.avg[code] += trackerWeight * (per - t.avg[code])
	}
}

// Table is the table to announce to new clients. Codes seen fewer than
// minSamples times keep their initial cost.
func (t *CostTracker) Table() CostTable {
	out := make(CostTable, len(t.initial))
	for code, init := range t.initial {
		c := init
		if t.seen[code] >= minSamples {
			c.PerItem = max(uint64(2*t.avg[code]), init.PerItem/10, 1)
		}
		out[code] = c
	}
	return out
}
