package rpcapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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
	Logger     log.Logger
}

// Server is the local JSON-RPC endpoint a wallet talks to.
type Server struct {
	rpc      []*rpc.Server
	http     *http.Server
	ln       net.Listener
	log      log.Logger
	events   *events
	prefetch *prefetcher
}

// Start registers the eth_, net_, web3_ and lm_ namespaces and starts
// serving. It opens at once, before the client has a head: until it has
// one, calls that need it say why there is none.
func Start(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("rpcapi: no client")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8545"
	}
	if cfg.VHosts == nil {
		cfg.VHosts = []string{"localhost"}
	}
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("rpcapi: listen on %s: %w", cfg.Addr, err)
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
	lm := LmAPI{c: cfg.Client}
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
				ln.Close()
				ev.close()
				if eth.prefetch != nil {
					eth.prefetch.close()
				}
				return nil, err
			}
		}
	}
	public := !rpcauth.IsLoopback(ln.Addr().String())
	if public {
		cfg.Logger.Warn("Wallet JSON-RPC listens beyond this machine: anyone who reaches it can use your light client's service", "addr", ln.Addr())
	}
	for _, o := range append(append([]string{}, cfg.CORS...), cfg.WSOrigins...) {
		if o == "*" {
			cfg.Logger.Warn("Wallet JSON-RPC accepts calls from any web page (origin *): any site you visit can read your wallet's chain data through it")
			break
		}
	}
	handler := (&rpcauth.Endpoint{
		Open: open, Full: full, Secret: *cfg.ControlSecret, Public: public, OpenToAll: true,
		CORS: cfg.CORS, VHosts: cfg.VHosts, WSOrigins: cfg.WSOrigins,
	}).Handler()
	page := statuspage.Client()
	s := &Server{
		rpc:      []*rpc.Server{open, full},
		ln:       ln,
		log:      cfg.Logger,
		events:   ev,
		prefetch: eth.prefetch,
		http: &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if statuspage.Wants(r) {
					page.ServeHTTP(w, r)
					return
				}
				handler.ServeHTTP(w, r)
			}),
			ReadHeaderTimeout: 10 * time.Second,
		},
	}
	go s.http.Serve(ln)
	cfg.Logger.Info("JSON-RPC endpoint opened", "url", s.URL(), "ws", s.WSURL())
	return s, nil
}

// URL is the HTTP endpoint, e.g. http://127.0.0.1:8545.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// WSURL is the WebSocket endpoint on the same port.
func (s *Server) WSURL() string { return "ws://" + s.ln.Addr().String() }

// Close stops serving.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	for _, r := range s.rpc {
		r.Stop()
	}
	s.events.close()
	if s.prefetch != nil {
		s.prefetch.close()
	}
	return err
}
