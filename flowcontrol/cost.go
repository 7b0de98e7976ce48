package flowcontrol

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
type CostTracker struct {
	initial CostTable
	avg     map[uint64]float64 // moving average cost per item (base folded in)
	seen    map[uint64]int
}

// trackerWeight is the weight of a new observation in the moving average.
const trackerWeight = 0.05

// NewCostTracker starts from the initial table.
func NewCostTracker(initial CostTable) *CostTracker {
	return &CostTracker{initial: initial, avg: make(map[uint64]float64), seen: make(map[uint64]int)}
}

// Observe records that a request of code with items items cost realCost.
func (t *CostTracker) Observe(code uint64, items int, realCost uint64) {
	if _, ok := t.initial[code]; !ok || items <= 0 {
		return
	}
	per := float64(realCost) / float64(items)
	if t.seen[code] == 0 {
		t.avg[code] = per
	} else {
		t.avg[code] += trackerWeight * (per - t.avg[code])
	}
	t.seen[code]++
}

// Table is the table to announce to new clients. Codes seen fewer than
// minSamples times keep their initial cost.
func (t *CostTracker) Table() CostTable {
	const minSamples = 20
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
