package sim

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML page: the summary
// and four SVG plots over simulated time. It loads nothing from anywhere.
func (r *Report) WriteHTML(w io.Writer) error {
	hours := func(s Sample) float64 { return s.At.Hours() }
	plots := []struct {
		Title string
		SVG   template.HTML
	}{
		{"Entry price: what one more unit pays to get in (mean over servers online, wei per capacity-unit-second)", plot(r.Samples, hours, "#2563eb", func(s Sample) float64 { return s.MeanPrice })},
		{"Capacity sold (blue) and free (grey), units", plot2(r.Samples, hours, func(s Sample) float64 { return float64(s.Sold) }, func(s Sample) float64 { return float64(s.Free) })},
		{"Utilisation (sold / sellable)", plot(r.Samples, hours, "#16a34a", func(s Sample) float64 { return s.Utilisation })},
		{"Winners' surplus (value − price, wei per second)", plot(r.Samples, hours, "#d97706", func(s Sample) float64 { return s.Surplus })},
		{"Allocative efficiency (value served / pooled optimum)", plot(r.Samples, hours, "#7c3aed", func(s Sample) float64 { return s.Efficiency })},
		{"Price dispersion (standard deviation / mean of entry prices across servers online)", plot(r.Samples, hours, "#dc2626", func(s Sample) float64 { return s.Dispersion })},
		{"Clients that chose to move their bid, per step", plot(r.Samples, hours, "#0891b2", func(s Sample) float64 { return float64(s.Moves) })},
		{"Servers online", plot(r.Samples, hours, "#4b5563", func(s Sample) float64 { return float64(s.Online) })},
	}
	return page.Execute(w, map[string]any{"R": r, "Plots": plots})
}

var page = template.Must(template.New("report").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>lightmarket market simulation</title>
<style>
body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#1f2937}
table{border-collapse:collapse}td{padding:2px 12px 2px 0}
h2{font-size:1.05em;margin-top:1.6em}svg{background:#f9fafb;border:1px solid #e5e7eb}
</style></head><body>
<h1>Market simulation</h1>
<table>
<tr><td>clients / servers</td><td>{{.R.Clients}} / {{.R.Servers}}</td></tr>
<tr><td>simulated</td><td>{{printf "%.0f" .R.SimulatedSeconds}} s in {{printf "%.2f" .R.WallSeconds}} s</td></tr>
<tr><td>allocative efficiency</td><td>{{printf "%.3f" .R.AllocativeEfficiency}} (value served / pooled optimum)</td></tr>
<tr><td>price dispersion</td><td>{{printf "%.3f" .R.PriceDispersion}} (standard deviation / mean of entry prices across servers, mean over time)</td></tr>
<tr><td>moves per client-hour</td><td>{{printf "%.4f" .R.MovesPerClientHour}} chosen, {{printf "%.4f" .R.RebidsPerClientHour}} after losing capacity</td></tr>
<tr><td>utilisation</td><td>{{printf "%.3f" .R.Utilisation}}</td></tr>
<tr><td>revenue</td><td>{{.R.RevenueWei}} wei</td></tr>
</table>
{{range .Plots}}<h2>{{.Title}}</h2>{{.SVG}}{{end}}
<p>Time axis: simulated hours.</p>
</body></html>
`))

const plotW, plotH, pad = 900.0, 220.0, 40.0

func plot(samples []Sample, x func(Sample) float64, color string, y func(Sample) float64) template.HTML {
	return svg(samples, x, []series{{color, y}})
}

func plot2(samples []Sample, x func(Sample) float64, a, b func(Sample) float64) template.HTML {
	return svg(samples, x, []series{{"#2563eb", a}, {"#9ca3af", b}})
}

type series struct {
	color string
	y     func(Sample) float64
}

func svg(samples []Sample, x func(Sample) float64, ss []series) template.HTML {
	if len(samples) == 0 {
		return ""
	}
	minX, maxX := x(samples[0]), x(samples[len(samples)-1])
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range samples {
			v := s.y(p)
			minY, maxY = math.Min(minY, v), math.Max(maxY, v)
		}
	}
	minY = math.Min(minY, 0)
	if maxY == minY {
		maxY = minY + 1
	}
	if maxX == minX {
		maxX = minX + 1
	}
	px := func(v float64) float64 { return pad + (v-minX)/(maxX-minX)*(plotW-2*pad) }
	py := func(v float64) float64 { return plotH - pad + -(v-minY)/(maxY-minY)*(plotH-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" xmlns="http://www.w3.org/2000/svg">`, plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#6b7280"/>`, pad, plotH-pad, plotW-pad, plotH-pad)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#6b7280"/>`, pad, pad, pad, plotH-pad)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11">%.3g</text>`, 2.0, pad+4, maxY)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11">%.3g</text>`, 2.0, plotH-pad, minY)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11">%.0f h</text>`, plotW-pad-20, plotH-pad+16, maxX)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11">%.0f h</text>`, pad, plotH-pad+16, minX)
	for _, s := range ss {
		b.WriteString(`<polyline fill="none" stroke-width="1.5" stroke="` + s.color + `" points="`)
		for _, p := range samples {
			fmt.Fprintf(&b, "%.1f,%.1f ", px(x(p)), py(s.y(p)))
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
