package rpcauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/rpc"
)

type api struct{}

func (api) Ping() string { return "pong" }

type controlAPI struct{ api }

func (controlAPI) Spend() string { return "spent" }

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8545": true, "127.1.2.3:1": true, "[::1]:8545": true, "localhost:80": true, "LOCALHOST:80": true,
		"0.0.0.0:8545": false, ":8545": false, "[::]:8545": false, "192.168.1.2:8545": false, "example.com:80": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "jwtsecret")
	a, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, %v; want 0600", fi.Mode(), err)
	}
	b, err := LoadOrCreateSecret(path)
	if err != nil || a != b {
		t.Fatalf("reloaded secret differs (%v)", err)
	}
	if a == ([32]byte{}) {
		t.Fatal("zero secret")
	}
	// geth's format without 0x, with a newline, is read too.
	plain := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(plain, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	if s, err := LoadOrCreateSecret(plain); err != nil || s[0] != 0xab {
		t.Fatalf("plain hex secret: %x, %v", s, err)
	}
	for _, bad := range []string{"0x1234", strings.Repeat("zz", 32), ""} {
		f := filepath.Join(t.TempDir(), "bad")
		os.WriteFile(f, []byte(bad), 0o600)
		if _, err := LoadOrCreateSecret(f); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
			t.Errorf("secret %q: error %v, want one asking for 64 hex digits", bad, err)
		}
	}
}

func TestExactOrigins(t *testing.T) {
	h := ExactOrigins(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), []string{"http://localhost:3000", "https://app.example"})
	for origin, want := range map[string]int{
		"":                          http.StatusOK, // not a browser
		"http://localhost:3000":     http.StatusOK,
		"HTTP://LOCALHOST:3000":     http.StatusOK,
		"https://app.example":       http.StatusOK,
		"https://app.example:443":   http.StatusOK,
		"http://localhost":          http.StatusForbidden,
		"http://localhost:3001":     http.StatusForbidden,
		"http://127.0.0.1:3000":     http.StatusForbidden,
		"http://app.example":        http.StatusForbidden,
		"https://app.example.evil":  http.StatusForbidden,
		"null":                      http.StatusForbidden,
		"http://localhost:3000/x?y": http.StatusOK, // browsers send no path, but it names the same origin
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("origin %q: %d, want %d", origin, w.Code, want)
		}
	}
}

// endpoint serves an Endpoint on a loopback test server; public makes it
// behave as if it listened beyond loopback.
func endpoint(t *testing.T, public, openToAll bool) (string, [32]byte) {
	t.Helper()
	open, full := rpc.NewServer(), rpc.NewServer()
	Limit(open)
	Limit(full)
	open.RegisterName("x", api{})
	full.RegisterName("x", controlAPI{})
	secret := RandomSecret()
	e := &Endpoint{Open: open, Full: full, Secret: secret, Public: public, OpenToAll: openToAll, VHosts: []string{"*"}, WSOrigins: []string{}, Refused: "needs the token"}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() { srv.Close(); open.Stop(); full.Stop() })
	return srv.URL, secret
}

func call(t *testing.T, url string, auth rpc.HTTPAuth, method string) (string, error) {
	t.Helper()
	opts := []rpc.ClientOption{}
	if auth != nil {
		opts = append(opts, rpc.WithHTTPAuth(auth))
	}
	c, err := rpc.DialOptions(context.Background(), url, opts...)
	if err != nil {
		return "", err
	}
	defer c.Close()
	var out string
	err = c.Call(&out, method)
	return out, err
}

func TestEndpointSplitsMethodsByToken(t *testing.T) {
	for _, tc := range []struct {
		name              string
		public, openToAll bool
		auth              string // "", "right", "wrong"
		method            string
		want, wantErr     string
	}{
		{"loopback open method", false, false, "", "x_ping", "pong", ""},
		{"loopback control without token", false, false, "", "x_spend", "", "does not exist"},
		{"loopback control with token", false, false, "right", "x_spend", "spent", ""},
		{"loopback control with wrong token", false, false, "wrong", "x_spend", "", "401"},
		{"public without token", true, false, "", "x_ping", "", "needs the token"},
		{"public with token", true, false, "right", "x_ping", "pong", ""},
		{"public open to all", true, true, "", "x_ping", "pong", ""},
		{"public open to all, control", true, true, "", "x_spend", "", "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, secret := endpoint(t, tc.public, tc.openToAll)
			var auth rpc.HTTPAuth
			switch tc.auth {
			case "right":
				auth = Auth(secret)
			case "wrong":
				auth = Auth(RandomSecret())
			}
			for _, u := range []string{url, "ws" + strings.TrimPrefix(url, "http")} {
				got, err := call(t, u, auth, tc.method)
				wantErr := tc.wantErr
				if strings.HasPrefix(u, "ws") && wantErr == "needs the token" {
					wantErr = "401" // a refused WebSocket handshake shows only its status
				}
				if wantErr == "" && (err != nil || got != tc.want) {
					t.Errorf("%s: %q, %v; want %q", u, got, err, tc.want)
				}
				if wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
					t.Errorf("%s: %q, %v; want an error with %q", u, got, err, wantErr)
				}
			}
		})
	}
}

func TestOversizedBatchIsRefused(t *testing.T) {
	url, _ := endpoint(t, false, false)
	c, err := rpc.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	batch := make([]rpc.BatchElem, BatchItemLimit+1)
	for i := range batch {
		batch[i] = rpc.BatchElem{Method: "x_ping", Result: new(string)}
	}
	err = c.BatchCall(batch)
	if err == nil {
		err = batch[0].Error
	}
	if err == nil || !strings.Contains(err.Error(), "batch too large") {
		t.Fatalf("batch of %d: %v, want batch too large", len(batch), err)
	}
	if err := c.BatchCall(batch[:BatchItemLimit]); err != nil || batch[0].Error != nil {
		t.Fatalf("batch of %d: %v %v", BatchItemLimit, err, batch[0].Error)
	}
}
