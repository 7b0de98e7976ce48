// Package pgtest runs a real PostgreSQL server for tests: initdb and
// pg_ctl from the machine's PostgreSQL (PATH, or Debian's
// /usr/lib/postgresql/N/bin), a cluster in a temporary directory, listening
// on 127.0.0.1 only, stopped when the test ends. Under root (CI machines)
// the server runs as the postgres user, as PostgreSQL requires.
package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a PostgreSQL server of one test.
type Server struct {
	t    testing.TB
	bin  string // directory of initdb and pg_ctl
	dir  string // the cluster's root: data/, log, socket
	port int
	cred *syscall.Credential // nil unless run as root
	// URL connects to its postgres database as the superuser lm.
	URL string
}

// Start initialises a cluster and starts a server. Without PostgreSQL on
// the machine the test is skipped, or fails when CI is set (CI installs
// it: a test that silently skips there proves nothing).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("pgtest: %v", err)
		}
		t.Skipf("pgtest: %v", err)
	}
	s := &Server{t: t, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root needs the postgres user (Debian's postgresql package makes it): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	s.dir, err = os.MkdirTemp("", "lightmarket-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(s.dir) })
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "lm", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	// A free port can be taken between choosing it and binding it: start
	// again on another.
	for attempt := 0; ; attempt++ {
		s.port = freePort(t)
		err := s.start()
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("pgtest: %v", err)
		}
	}
	s.URL = fmt.Sprintf("postgres://lm@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	t.Cleanup(func() { s.Stop("immediate") })
	return s
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// start starts the server on the cluster and waits until it accepts
// connections.
func (s *Server) start() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c max_connections=200", s.port, s.dir)
	out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-o", opts, "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// Stop stops the server: mode "fast" (clients disconnected, a clean
// shutdown) or "immediate" (as a crash: recovery from the WAL at the next
// start).
func (s *Server) Stop(mode string) error {
	out, err := s.run("pg_ctl", "-D", s.data(), "-m", mode, "-w", "stop")
	if err != nil && !strings.Contains(string(out), "Is server running?") {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Restart starts the stopped server again on the same port.
func (s *Server) Restart() error { return s.start() }

func (s *Server) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			if cmd.Process != nil {
				cmd.Process.Kill()
			}
		}
	}()
	return cmd.CombinedOutput()
}

// findBin finds the directory of initdb and pg_ctl.
func findBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL not found (pg_ctl neither on PATH nor in /usr/lib/postgresql/*/bin; Debian: apt-get install postgresql)")
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// NewDatabase creates an empty database on the server and returns its URL.
func (s *Server) NewDatabase(t testing.TB, name string) string {
	t.Helper()
	out, err := s.run("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "lm", name)
	if err != nil {
		t.Fatalf("pgtest: creating database %s: %v\n%s", name, err, out)
	}
	return fmt.Sprintf("postgres://lm@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}
