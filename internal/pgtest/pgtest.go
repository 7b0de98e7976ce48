// Package pgtest gives a test a real PostgreSQL server (package
// pgcluster), stopped when the test ends.
package pgtest

import (
	"errors"
	"os"
	"testing"

	"github.com/lightmarket/lightmarket/internal/pgcluster"
)

// Server is a PostgreSQL server of one test.
type Server struct {
	*pgcluster.Cluster
}

// Start starts a server for t. Without PostgreSQL on the machine the test
// is skipped, or fails when CI is set (CI installs it: a test that
// silently skips there proves nothing).
func Start(t testing.TB) *Server {
	t.Helper()
	c, err := pgcluster.Start()
	if errors.Is(err, pgcluster.ErrNotInstalled) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Server{c}
}

// NewDatabase creates an empty database and returns its URL.
func (s *Server) NewDatabase(t testing.TB, name string) string {
	t.Helper()
	url, err := s.Cluster.NewDatabase(name)
	if err != nil {
		t.Fatal(err)
	}
	return url
}
