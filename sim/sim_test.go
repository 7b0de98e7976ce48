package sim

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestShortMarketRun(t *testing.T) {
	cfg := Config{Clients: 300, Servers: 4, Duration: 2 * time.Hour, Seed: 7}
	a, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Run(cfg)
	if a.RevenueWei != b.RevenueWei || a.AllocativeEfficiency != b.AllocativeEfficiency {
		t.Fatalf("same seed, different markets: %v vs %v", a, b)
	}
	if a.AllocativeEfficiency < 0.8 || a.AllocativeEfficiency > 1 {
		t.Errorf("efficiency %.3f", a.AllocativeEfficiency)
	}
	if a.Utilisation <= 0 || a.Utilisation > 1 || a.RevenueWei == "0" {
		t.Errorf("utilisation %.3f, revenue %s", a.Utilisation, a.RevenueWei)
	}
	if a.PriceDispersion < 0 || a.PriceDispersion > 1 || a.MovesPerClientHour > 1 || a.ChannelsPerClient <= 0 {
		t.Errorf("dispersion %.3f, moves %.3f, channels %.3f", a.PriceDispersion, a.MovesPerClientHour, a.ChannelsPerClient)
	}
	for _, s := range a.Samples {
		if s.Sold+s.Free == 0 || s.Utilisation > 1 {
			t.Fatalf("sample %+v", s)
		}
	}
	var page bytes.Buffer
	if err := a.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	if strings.Count(html, "<svg") != 8 || strings.Contains(html, "http://") && !strings.Contains(html, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("report page: %d plots", strings.Count(html, "<svg"))
	}
	for _, external := range []string{"<script src", "<link", "https://"} {
		if strings.Contains(html, external) {
			t.Errorf("report loads something from outside: %s", external)
		}
	}
}

// TestMarketClearsAcrossServers: clients running the buyer's strategy
// place nearly all the value the pooled optimum would, prices per unit of
// quality converge while capacity is contested, and clients settle.
func TestMarketClearsAcrossServers(t *testing.T) {
	r, err := Run(Config{Clients: 2000, Servers: 10, Duration: 6 * time.Hour, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.AllocativeEfficiency < 0.98 {
		t.Errorf("allocative efficiency %.3f, want >= 0.98", r.AllocativeEfficiency)
	}
	if r.MovesPerClientHour > 0.6 {
		t.Errorf("%.3f moves per client-hour: clients do not settle", r.MovesPerClientHour)
	}
}
