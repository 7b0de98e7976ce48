package rpcapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/rpcauth"
	"github.com/lightmarket/lightmarket/statuspage"
)

// Config configures the local JSON-RPC endpoint.
type Config struct {
	Client *client.Client // required
	// Addr is the listening address, HTTP and WebSocket on the same port
	// (default "127.0.0.1:8545").
	Addr string
	// CORS lists the browser origins allowed to call the HTTP endpoint
	// (none by default); WSOrigins those allowed to open a WebSocket, each
	// matched exactly with its port (none by default: only programs,
	// which send no Origin).
	CORS      []string
	WSOrigins []string
	// ControlSecret signs the tokens that calls of the spending controls
	// (lm_setDemand) must carry (default: a secret nobody knows).
	ControlSecret *[32]byte
	// VHosts are the Host header values accepted (default "localhost";
	// IP addresses are always accepted), against DNS rebinding.
	VHosts []string
	// LogRange bounds the blocks one eth_getLogs may cover (default
	// DefaultLogRange).
	LogRange uint64
	// NoPrefetch turns off asking, at every new head, for the witnesses of
	// the calls recently made at the head (from spare capacity).
	NoPrefetch bool
	// Demands is where lm_demand and lm_setDemand read and set the demand
	// (default: the client itself).
	Demands Demands
	Logger  log.Logger
}

// Demands holds the demand a client bids.
type Demands interface {
	Demand() *client.Demand
	SetDemand(*client.Demand) error
}

// Server is the local JSON-RPC endpoint a wallet talks to: in process
// (Attach, Serve), as an http.Handler (Handler), or listening on a port
// (Start, Listen).
type Server struct {
	cfg      Config
	open     *rpc.Server // the wallet's methods
	full     *rpc.Server // and the spending controls
	handler  http.Handler
	http     *http.Server
	ln       net.Listener
	log      log.Logger
	events   *events
	prefetch *prefetcher
	fast     *fastPath
	closed   atomic.Bool
}

// Start registers the eth_, net_, web3_ and lm_ namespaces and starts
// serving on cfg.Addr. It opens at once, before the client has a head:
// until it has one, calls that need it say why there is none.
func Start(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8545"
	}
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Listen(cfg.Addr); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// New registers the eth_, net_, web3_ and lm_ namespaces without
// listening anywhere: Attach, Serve and Handler use them in process,
// Listen opens a port.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("rpcapi: no client")
	}
	if cfg.VHosts == nil {
		cfg.VHosts = []string{"localhost"}
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	ev := newEvents(cfg.Client, cfg.Logger)
	eth := newEthAPI(cfg.Client, cfg.LogRange, ev)
	if !cfg.NoPrefetch {
		eth.prefetch = newPrefetcher(cfg.Client, cfg.Logger)
	}
	if cfg.ControlSecret == nil {
		secret := rpcauth.RandomSecret()
		cfg.ControlSecret = &secret
	}
	if cfg.WSOrigins == nil {
		cfg.WSOrigins = []string{}
	}
	// Two method sets on one port: the wallet's, and the same with the
	// spending controls for calls that carry the control token.
	open, full := rpc.NewServer(), rpc.NewServer()
	if cfg.Demands == nil {
		cfg.Demands = cfg.Client
	}
	lm := LmAPI{c: cfg.Client, demands: cfg.Demands}
	for _, srv := range []*rpc.Server{open, full} {
		rpcauth.Limit(srv)
		control := any(&lockedLmAPI{lm})
		if srv == full {
			control = &LmControlAPI{lm}
		}
		for _, api := range []struct {
			name    string
			service any
		}{
			{"eth", eth},
			{"eth", &FilterAPI{eth: eth, ev: ev}},
			{"net", &NetAPI{c: cfg.Client}},
			{"web3", &Web3API{version: clientVersion()}},
			{"lm", control},
		} {
			if err := srv.RegisterName(api.name, api.service); err != nil {
				ev.close()
				if eth.prefetch != nil {
					eth.prefetch.close()
				}
				return nil, err
			}
		}
	}
	for _, o := range append(append([]string{}, cfg.CORS...), cfg.WSOrigins...) {
		if o == "*" {
			cfg.Logger.Warn("Wallet JSON-RPC accepts calls from any web page (origin *): any site you visit can read your wallet's chain data through it")
			break
		}
	}
	// Calls without the token are served the wallet's methods wherever
	// the endpoint listens (OpenToAll): Public only matters for refusing
	// them, which this endpoint never does.
	s := &Server{
		cfg:      cfg,
		open:     open,
		full:     full,
		log:      cfg.Logger,
		events:   ev,
		prefetch: eth.prefetch,
	}
	s.fast = newFastPath(eth, &s.closed)
	handler := (&rpcauth.Endpoint{
		Open: open, Full: full, Secret: *cfg.ControlSecret, OpenToAll: true,
		CORS: cfg.CORS, VHosts: cfg.VHosts, WSOrigins: cfg.WSOrigins,
		HTTP: s.fast.handler,
	}).Handler()
	page := statuspage.Client()
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if statuspage.Wants(r) {
			page.ServeHTTP(w, r)
			return
		}
		handler.ServeHTTP(w, r)
	})
	return s, nil
}

// Handler is the wallet endpoint as an http.Handler: JSON-RPC over HTTP
// and WebSocket, the control methods behind the control token, and the
// status page.
func (s *Server) Handler() http.Handler { return s.handler }

// Attach returns a client of the endpoint in this process, without a
// socket; it may call the control methods without a token (whoever holds
// the process holds the key). Subscriptions work over it.
func (s *Server) Attach() *rpc.Client { return rpc.DialInProc(s.full) }

// Serve answers one JSON-RPC request or batch in process, as the HTTP
// endpoint answers it for a caller with the control token: body is the
// request, the result the response's body (empty for a batch of
// notifications). A request that is not JSON-RPC is answered with a
// JSON-RPC error.
func (s *Server) Serve(ctx context.Context, body []byte) []byte {
	if len(bytes.TrimSpace(body)) == 0 {
		return ErrorResponse(-32600, "empty request")
	}
	if out, ok := s.fast.answer(ctx, body); ok {
		return out
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		return ErrorResponse(-32603, err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "in-process"
	w := &memResponse{header: make(http.Header)}
	s.full.ServeHTTP(w, req)
	if w.code != 0 && w.code != http.StatusOK && !json.Valid(w.body.Bytes()) {
		// The transport refused it (too large, not a POST): say so as
		// JSON-RPC does.
		return ErrorResponse(-32600, strings.TrimSpace(w.body.String()))
	}
	return bytes.TrimRight(w.body.Bytes(), "\n")
}

// ErrorResponse is a JSON-RPC error response without an id, for what
// fails before a request is read.
func ErrorResponse(code int, message string) []byte {
	type rpcError struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(struct {
		Version string    `json:"jsonrpc"`
		ID      *struct{} `json:"id"`
		Error   rpcError  `json:"error"`
	}{Version: "2.0", Error: rpcError{code, message}})
	return b
}

// memResponse is an http.ResponseWriter into memory.
type memResponse struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (w *memResponse) Header() http.Header         { return w.header }
func (w *memResponse) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *memResponse) WriteHeader(code int)        { w.code = code }

// Listen serves the endpoint on addr (HTTP and WebSocket on one port).
func (s *Server) Listen(addr string) error {
	if s.ln != nil {
		return errors.New("rpcapi: already listening")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("rpcapi: listen on %s: %w", addr, err)
	}
	if !rpcauth.IsLoopback(ln.Addr().String()) {
		s.log.Warn("Wallet JSON-RPC listens beyond this machine: anyone who reaches it can use your light client's service", "addr", ln.Addr())
	}
	s.ln = ln
	s.http = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln)
	s.log.Info("JSON-RPC endpoint opened", "url", s.URL(), "ws", s.WSURL())
	return nil
}

// URL is the HTTP endpoint, e.g. http://127.0.0.1:8545 ("" when not
// listening).
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// WSURL is the WebSocket endpoint on the same port.
func (s *Server) WSURL() string {
	if s.ln == nil {
		return ""
	}
	return "ws://" + s.ln.Addr().String()
}

// Close stops serving.
func (s *Server) Close() error {
	var err error
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = s.http.Shutdown(ctx)
	}
	s.closed.Store(true)
	s.open.Stop()
	s.full.Stop()
	s.events.close()
	if s.prefetch != nil {
		s.prefetch.close()
	}
	return err
}
