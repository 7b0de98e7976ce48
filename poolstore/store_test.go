package poolstore

import (
	"math/big"
	"testing"
	"time"

	"github.com/lightmarket/lightmarket/clientpool"
)

func TestBalancesAndUsageSurviveReopening(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := clientpool.ID{1}, clientpool.ID{2}
	s.SaveBalance(a, big.NewInt(1e18))
	s.SaveBalance(b, big.NewInt(5))
	s.SaveBalance(b, big.NewInt(0)) // spent: removed
	saved := time.Unix(1_700_000_000, 0)
	if err := s.SaveUsage(map[string]float64{"192.0.2.1": 4000, "::1": 10}, saved); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveUsage(map[string]float64{"192.0.2.1": 8000}, saved); err != nil { // replaces
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Load(saved.Add(2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Balances) != 1 || st.Balances[a].Cmp(big.NewInt(1e18)) != 0 {
		t.Fatalf("balances = %v", st.Balances)
	}
	if len(st.Usage) != 1 || st.Usage["192.0.2.1"] != 2000 {
		t.Fatalf("usage after two half-lives = %v, want 2000", st.Usage)
	}
}
