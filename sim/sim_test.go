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
	if strings.Count(html, "<svg") != 4 || strings.Contains(html, "http://") && !strings.Contains(html, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("report page: %d plots", strings.Count(html, "<svg"))
	}
	for _, external := range []string{"<script src", "<link", "https://"} {
		if strings.Contains(html, external) {
			t.Errorf("report loads something from outside: %s", external)
		}
	}
}
