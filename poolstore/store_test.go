package poolstore

import (
	"testing"
	"time"
)

func TestUsageSurvivesReopening(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
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
	if len(st.Usage) != 1 || st.Usage["192.0.2.1"] != 2000 {
		t.Fatalf("usage after two half-lives = %v, want 2000", st.Usage)
	}
}
