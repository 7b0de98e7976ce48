// Package pgcluster runs a throwaway PostgreSQL server for tests and
// benchmarks: initdb and pg_ctl from the machine's PostgreSQL (PATH, or
// Debian's /usr/lib/postgresql/N/bin), a cluster in a temporary directory,
// listening on 127.0.0.1 only. Under root (CI machines) the server runs as
// the postgres user, as PostgreSQL requires.
package pgcluster

import (
	"context"
	"errors"
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
	"time"
)

// ErrNotInstalled says PostgreSQL's server binaries are not on the machine.
var ErrNotInstalled = errors.New("PostgreSQL not found (pg_ctl neither on PATH nor in /usr/lib/postgresql/*/bin; Debian: apt-get install postgresql)")

// Cluster is a running PostgreSQL server with its own data directory.
type Cluster struct {
	bin  string // directory of initdb and pg_ctl
	dir  string // the cluster's root: data/, log, socket
	port int
	cred *syscall.Credential // nil unless run as root
	// URL connects to its postgres database as the superuser lm.
	URL string
}

// Start initialises a cluster in a new temporary directory and starts a
// server on it. Close stops it and removes the directory.
func Start() (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgcluster: running as root needs the postgres user (Debian's postgresql package makes it): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if c.dir, err = os.MkdirTemp("", "lightmarket-pg-"); err != nil {
		return nil, err
	}
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			os.RemoveAll(c.dir)
			return nil, err
		}
	}
	if out, err := c.run("initdb", "-D", c.data(), "-U", "lm", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		os.RemoveAll(c.dir)
		return nil, fmt.Errorf("pgcluster: initdb: %v\n%s", err, out)
	}
	// A free port can be taken between choosing it and binding it: start
	// again on another.
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			os.RemoveAll(c.dir)
			return nil, err
		}
		if err = c.start(); err == nil {
			break
		}
		if attempt == 2 {
			os.RemoveAll(c.dir)
			return nil, err
		}
	}
	c.URL = c.urlOf("postgres")
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) urlOf(db string) string {
	return fmt.Sprintf("postgres://lm@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// start starts the server on the cluster and waits until it accepts
// connections.
func (c *Cluster) start() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c max_connections=200", c.port, c.dir)
	out, err := c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-o", opts, "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pgcluster: pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// NewDatabase creates an empty database and returns its URL.
func (c *Cluster) NewDatabase(name string) (string, error) {
	if out, err := c.run("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "lm", name); err != nil {
		return "", fmt.Errorf("pgcluster: creating database %s: %v\n%s", name, err, out)
	}
	return c.urlOf(name), nil
}

// Stop stops the server: mode "fast" (clients disconnected, a clean
// shutdown) or "immediate" (as a crash: recovery from the WAL at the next
// start).
func (c *Cluster) Stop(mode string) error {
	out, err := c.run("pg_ctl", "-D", c.data(), "-m", mode, "-w", "stop")
	if err != nil && !strings.Contains(string(out), "Is server running?") {
		return fmt.Errorf("pgcluster: pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Restart starts the stopped server again on the same port.
func (c *Cluster) Restart() error { return c.start() }

// Close stops the server at once and removes its directory.
func (c *Cluster) Close() error {
	err := c.Stop("immediate")
	os.RemoveAll(c.dir)
	return err
}

func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	cmd.WaitDelay = time.Second
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
	return "", ErrNotInstalled
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
