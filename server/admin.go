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
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/statuspage"
)

// AdminAPI is the lm_ namespace of a server's admin JSON-RPC: its clients
// and capacity, for operators and tests.
type AdminAPI struct{ s *Server }

// Clients is lm_clients: connected clients, lowest priority first.
func (api *AdminAPI) Clients() []ClientInfo { return api.s.Clients() }

// Capacity is lm_capacity: total capacity, and what paid and free clients
// hold.
func (api *AdminAPI) Capacity() CapacityInfo { return api.s.Capacity() }

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

// Earnings is lm_earnings: wei received in vouchers, claimed on chain and
// still to claim, charged to clients, and the claims made since start.
func (api *AdminAPI) Earnings() Earnings { return api.s.Earnings() }

// Claim is lm_claim: claims every channel with something unclaimed now,
// and returns the claims made.
func (api *AdminAPI) Claim(ctx context.Context) ([]payment.Settlement, error) {
	return api.s.Claim(ctx)
}

// Status is lm_status: who the server is and what it serves.
func (api *AdminAPI) Status() StatusInfo { return api.s.Status() }

// PriceHistory is lm_priceHistory: the auction's clearing price over the
// last hour, a point per change (and at least one a minute).
func (api *AdminAPI) PriceHistory() []PricePoint { return api.s.PriceHistory() }

// Admin is a running admin endpoint.
type Admin struct {
	srv  *http.Server
	rpc  *rpc.Server
	ln   net.Listener
	done chan struct{}
}

// StartAdmin serves the admin JSON-RPC on addr, and the status page at /
// and /status for browsers (keep it on loopback: it can change balances).
func (s *Server) StartAdmin(addr string) (*Admin, error) {
	r := rpc.NewServer()
	if err := r.RegisterName("lm", &AdminAPI{s}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", addr, err)
	}
	rpcHandler := node.NewHTTPHandlerStack(r, nil, []string{"localhost"}, nil, true)
	page := statuspage.Server()
	a := &Admin{rpc: r, ln: ln, done: make(chan struct{}), srv: &http.Server{
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
	a.rpc.Stop()
	<-a.done
	return err
}
