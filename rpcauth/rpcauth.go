// Package rpcauth guards lightmarket's control endpoints: the server's
// admin JSON-RPC (balances, claims) and the client's spending controls. It
// owns the shared secret kept in a file (the format of go-ethereum's engine
// API jwtsecret: 32 bytes in hex), the split of one HTTP endpoint into the
// methods anyone local may call and those that need a JWT signed with the
// secret, exact browser-origin checks for WebSockets, and go-ethereum's
// limits on batches and bodies.
package rpcauth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/rpc"
)

// Limits of one HTTP or WebSocket call, go-ethereum's defaults.
const (
	BatchItemLimit    = 1000             // calls in one batch
	BatchResponseSize = 25 * 1000 * 1000 // bytes of one batch's answers
)

// Limit applies go-ethereum's batch limits to srv.
func Limit(srv *rpc.Server) {
	srv.SetBatchLimits(BatchItemLimit, BatchResponseSize)
}

// LoadSecret reads the secret at path (see LoadOrCreateSecret), which
// must exist.
func LoadSecret(path string) ([32]byte, error) {
	if _, err := os.Stat(path); err != nil {
		return [32]byte{}, fmt.Errorf("secret file: %w", err)
	}
	return LoadOrCreateSecret(path)
}

// LoadOrCreateSecret reads the secret at path (hex, optionally 0x-prefixed,
// surrounding space ignored), or creates the file with a new random secret,
// readable by its owner only.
func LoadOrCreateSecret(path string) ([32]byte, error) {
	var secret [32]byte
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		s := strings.TrimPrefix(strings.TrimSpace(string(data)), "0x")
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 32 {
			return secret, fmt.Errorf("secret file %s: want 32 bytes in hex (64 hex digits), as openssl rand -hex 32 writes", path)
		}
		copy(secret[:], b)
		return secret, nil
	case !errors.Is(err, os.ErrNotExist):
		return secret, fmt.Errorf("secret file: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return secret, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return secret, fmt.Errorf("secret file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return secret, fmt.Errorf("secret file: %w", err)
	}
	_, err = fmt.Fprintf(f, "0x%x\n", secret)
	if err2 := f.Sync(); err == nil {
		err = err2
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return secret, fmt.Errorf("secret file %s: %w", path, err)
	}
	return secret, nil
}

// RandomSecret is a secret nobody knows: control stays locked.
func RandomSecret() [32]byte {
	var secret [32]byte
	rand.Read(secret[:])
	return secret
}

// Auth is what a JSON-RPC client adds to every call to be let in (a fresh
// HS256 JWT per request, as go-ethereum's engine API expects).
func Auth(secret [32]byte) rpc.HTTPAuth { return node.NewJWTAuth(secret) }

// IsLoopback reports whether a listen address only accepts connections
// from this machine (127.0.0.0/8, ::1, or "localhost").
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Endpoint is an HTTP JSON-RPC (and WebSocket) endpoint with two sets of
// methods: Open, served to anyone the endpoint accepts, and Full, served to
// calls that carry a JWT signed with Secret.
type Endpoint struct {
	Open, Full *rpc.Server
	Secret     [32]byte
	// Public is set when the endpoint listens beyond loopback: calls without
	// a token are then refused altogether unless OpenToAll is set.
	Public, OpenToAll bool
	CORS, VHosts      []string
	// WSOrigins are the browser origins allowed to open a WebSocket, each
	// matched exactly (scheme, host and port); a WebSocket without an
	// Origin header (not from a browser) is always allowed. Nil: no
	// WebSocket is served.
	WSOrigins []string
	// Refused says, to a call without a token that the endpoint refuses,
	// what to do.
	Refused string
	// HTTP, when set, serves a method set's HTTP calls in place of its
	// server (which still serves its WebSockets), e.g. answering some
	// itself and handing the rest to the server.
	HTTP func(*rpc.Server) http.Handler
}

// Handler routes each request: with an Authorization header to Full
// (which refuses a bad token), otherwise to Open.
func (e *Endpoint) Handler() http.Handler {
	httpOf := func(srv *rpc.Server) http.Handler {
		if e.HTTP != nil {
			return e.HTTP(srv)
		}
		return srv
	}
	full := node.NewHTTPHandlerStack(httpOf(e.Full), e.CORS, e.VHosts, e.Secret[:], true)
	open := node.NewHTTPHandlerStack(httpOf(e.Open), e.CORS, e.VHosts, nil, true)
	var fullWS, openWS http.Handler
	if e.WSOrigins != nil {
		fullWS = node.NewWSHandlerStack(e.Full.WebsocketHandler([]string{"*"}), e.Secret[:])
		openWS = ExactOrigins(e.Open.WebsocketHandler([]string{"*"}), e.WSOrigins)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authed := r.Header.Get("Authorization") != ""
		if !authed && e.Public && !e.OpenToAll {
			http.Error(w, e.Refused, http.StatusUnauthorized)
			return
		}
		switch {
		case isWebsocket(r) && fullWS == nil:
			http.Error(w, "no WebSocket here", http.StatusBadRequest)
		case isWebsocket(r) && authed:
			fullWS.ServeHTTP(w, r)
		case isWebsocket(r):
			openWS.ServeHTTP(w, r)
		case authed:
			full.ServeHTTP(w, r)
		default:
			open.ServeHTTP(w, r)
		}
	})
}

func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// ExactOrigins refuses requests whose Origin header is not one of allowed,
// compared exactly after normalising case and default ports
// ("http://localhost" is not "http://localhost:3000"). "*" allows any
// origin. Requests without an Origin header pass: they are not from a
// browser page.
func ExactOrigins(next http.Handler, allowed []string) http.Handler {
	set := make(map[string]bool, len(allowed))
	any := false
	for _, o := range allowed {
		if o == "*" {
			any = true
		}
		if n, ok := normalOrigin(o); ok {
			set[n] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && !any {
			if n, ok := normalOrigin(origin); !ok || !set[n] {
				http.Error(w, fmt.Sprintf("origin %q not allowed (see --ws.origins)", origin), http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// normalOrigin is scheme://host:port in lower case, with the scheme's
// default port made explicit.
func normalOrigin(o string) (string, bool) {
	u, err := url.Parse(strings.ToLower(strings.TrimSpace(o)))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http", "ws":
			port = "80"
		case "https", "wss":
			port = "443"
		}
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port), true
}

// ControlSecret loads the secret of a control endpoint from file, or from
// (creating it there) dir/name; with neither, a secret nobody knows locks
// the control methods. where says which, for the operator.
func ControlSecret(file, dir, name string) (secret [32]byte, where string, err error) {
	switch {
	case file != "":
		secret, err = LoadOrCreateSecret(file)
		return secret, file, err
	case dir != "":
		file = filepath.Join(dir, name)
		secret, err = LoadOrCreateSecret(file)
		return secret, file, err
	default:
		return RandomSecret(), "none: give --datadir or --" + strings.TrimSuffix(name, ".jwtsecret") + ".jwtsecret to use the control methods", nil
	}
}
