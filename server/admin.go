package server

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/rpcauth"
	"github.com/lightmarket/lightmarket/statuspage"
)

// AdminReadAPI is the read-only part of the lm_ namespace of a server's
// admin JSON-RPC: its clients, capacity, earnings and prices, for
// operators, the status page and tests.
type AdminReadAPI struct{ s *Server }

// Clients is lm_clients: connected clients, lowest priority first.
func (api *AdminReadAPI) Clients() []ClientInfo { return api.s.Clients() }

// Capacity is lm_capacity: total capacity, and what paid and free clients
// hold.
func (api *AdminReadAPI) Capacity() CapacityInfo { return api.s.Capacity() }

// Earnings is lm_earnings: wei received in vouchers, claimed on chain and
// still to claim, charged to clients, and the claims made since start.
func (api *AdminReadAPI) Earnings() Earnings { return api.s.Earnings() }

// Status is lm_status: who the server is and what it serves.
func (api *AdminReadAPI) Status() StatusInfo { return api.s.Status() }

// PriceHistory is lm_priceHistory: the auction's clearing price over the
// last hour, a point per change (and at least one a minute).
func (api *AdminReadAPI) PriceHistory() []PricePoint { return api.s.PriceHistory() }

// AdminAPI is the whole lm_ namespace: the read-only methods, and those
// that change balances and move money, served only to calls that carry the
// admin token.
type AdminAPI struct{ AdminReadAPI }

// SetBalance is lm_setBalance(id, wei): sets a client's balance (hex or
// decimal wei), making it a paid client when positive.
func (api *AdminAPI) SetBalance(id string, wei *hexutil.Big) error {
	nid, err := enode.ParseID(id)
	if err != nil {
		return fmt.Errorf("client id %q: %w", id, err)
	}
	if wei == nil {
		return errors.New("no balance given")
	}
	return api.s.SetBalance(nid, (*big.Int)(wei))
}

// Claim is lm_claim: claims every channel with something unclaimed now,
// and returns the claims made.
func (api *AdminAPI) Claim(ctx context.Context) ([]payment.Settlement, error) {
	return api.s.Claim(ctx)
}

// ErrAdminToken is the answer to lm_setBalance and lm_claim called
// without the admin token.
var ErrAdminToken = errors.New("this method changes balances or moves money: call it with the admin token (an HS256 JWT signed with the secret in --admin.jwtsecret, in an Authorization: Bearer header; lightmarket admin does this)")

// lockedAdminAPI is served to calls without the token: the control
// methods say what they need.
type lockedAdminAPI struct{ AdminReadAPI }

func (lockedAdminAPI) SetBalance(string, *hexutil.Big) error { return ErrAdminToken }

func (lockedAdminAPI) Claim() error { return ErrAdminToken }

// Admin is a running admin endpoint.
type Admin struct {
	srv  *http.Server
	rpc  []*rpc.Server
	ln   net.Listener
	done chan struct{}
}

// StartAdmin serves the admin JSON-RPC on addr, and the status page at /
// and /status for browsers. Calls that change balances or move money need
// a JWT signed with secret; on an address beyond loopback every call
// does.
func (s *Server) StartAdmin(addr string, secret [32]byte) (*Admin, error) {
	read := AdminReadAPI{s}
	full, open := rpc.NewServer(), rpc.NewServer()
	if err := full.RegisterName("lm", &AdminAPI{read}); err != nil {
		return nil, err
	}
	if err := open.RegisterName("lm", &lockedAdminAPI{read}); err != nil {
		return nil, err
	}
	rpcauth.Limit(full)
	rpcauth.Limit(open)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	public := !rpcauth.IsLoopback(ln.Addr().String())
	if public {
		s.cfg.Logger.Warn("Admin JSON-RPC listens beyond this machine: every call needs the admin token", "addr", ln.Addr())
	}
	rpcHandler := (&rpcauth.Endpoint{
		Open: open, Full: full, Secret: secret, Public: public,
		VHosts:  []string{"localhost"},
		Refused: "the admin endpoint listens beyond loopback: every call needs the admin token (Authorization: Bearer <HS256 JWT signed with the secret in --admin.jwtsecret>)",
	}).Handler()
	page := statuspage.Server()
	a := &Admin{rpc: []*rpc.Server{full, open}, ln: ln, done: make(chan struct{}), srv: &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if statuspage.Wants(req) {
				page.ServeHTTP(w, req)
				return
			}
			rpcHandler.ServeHTTP(w, req)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}}
	go func() {
		defer close(a.done)
		a.srv.Serve(ln)
	}()
	return a, nil
}

// URL is the admin endpoint's URL.
func (a *Admin) URL() string { return "http://" + a.ln.Addr().String() }

// Close stops the endpoint.
func (a *Admin) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	for _, r := range a.rpc {
		r.Stop()
	}
	<-a.done
	return err
}
