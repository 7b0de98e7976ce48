// Package metrics defines lightmarket's Prometheus metrics and serves them.
// It owns metric names and their exposition; the server and client
// packages record into the sets they are given (nil sets record nothing).
//
// Names follow Prometheus conventions: lightmarket_<part>_<what>_<unit>,
// counters end in _total, durations are in seconds.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lightmarket/lightmarket/rpcauth"
)

// servingBuckets are latency buckets from 50 µs to 5 s.
var servingBuckets = prometheus.ExponentialBuckets(50e-6, 2.5, 14)

// Server is what a lightmarket server records.
type Server struct {
	Requests    *prometheus.CounterVec   // by request type
	Items       *prometheus.CounterVec   // items served, by request type
	ServingTime *prometheus.HistogramVec // seconds per request, by type
	Violations  *prometheus.CounterVec   // clients disconnected, by rule broken
	Clients     prometheus.Gauge         // connected clients
	Head        prometheus.Gauge         // head block number
	BackendBad  prometheus.Counter       // backend answers that failed verification
	Vouchers    *prometheus.CounterVec   // vouchers received, by result
	PaidWei     prometheus.Counter       // wei credited by vouchers
	Claims      prometheus.Counter       // claims made on chain
	ClaimedWei  prometheus.Counter       // wei received by claims
	ChargedWei  prometheus.Counter       // wei charged to clients
	Price       prometheus.Gauge         // auction clearing price, wei per capacity-unit-second
	Capacity    *prometheus.GaugeVec     // capacity units, by kind: total, paid, free, sold, frozen
	Tiers       *prometheus.GaugeVec     // connected clients, by tier
	Fleet       *Fleet                   // the fleet's shared ledger, for a server of a fleet
}

// Fleet is what a server of a fleet reads from the fleet's shared ledger.
// Every server of a fleet exports the same fleet-wide figures (take the max
// across servers, not the sum); the per-server ones are labelled node, the
// server's node ID.
type Fleet struct {
	LedgerUp    prometheus.Gauge     // 1 while the ledger's database answers
	Claimer     prometheus.Gauge     // 1 while this process holds the claimer's lease
	Wei         *prometheus.GaugeVec // fleet totals, by kind: received, claimed, unclaimed, charged
	Channels    prometheus.Gauge     // channels in the ledger
	ServerWei   *prometheus.GaugeVec // by server and kind: credited, charged
	ServerVouch *prometheus.GaugeVec // vouchers credited, by server
}

// NewServer registers a server's metrics with reg.
func NewServer(reg prometheus.Registerer) *Server {
	f := factory{reg}
	return &Server{
		Requests:    f.counterVec("lightmarket_server_requests_total", "Requests served, by type.", "type"),
		Items:       f.counterVec("lightmarket_server_items_total", "Items (headers, bodies, proofs, ...) served, by request type.", "type"),
		ServingTime: f.histogramVec("lightmarket_server_serving_seconds", "Time to serve a request, by type.", "type"),
		Violations:  f.counterVec("lightmarket_server_protocol_violations_total", "Clients disconnected for breaking the protocol, by rule.", "rule"),
		Clients:     f.gauge("lightmarket_server_clients", "Connected clients."),
		Head:        f.gauge("lightmarket_server_head_block", "Number of the head block the server announces."),
		BackendBad:  f.counter("lightmarket_server_backend_invalid_total", "Backend answers that failed verification and were not served."),
		Vouchers:    f.counterVec("lightmarket_server_vouchers_total", "Payment vouchers received, by result (accepted or the refusal).", "result"),
		PaidWei:     f.counter("lightmarket_server_paid_wei_total", "Wei credited to clients by accepted vouchers."),
		Claims:      f.counter("lightmarket_server_claims_total", "Claims of payment channels made on chain."),
		ClaimedWei:  f.counter("lightmarket_server_claimed_wei_total", "Wei received on chain by claims."),
		ChargedWei:  f.counter("lightmarket_server_charged_wei_total", "Wei charged to clients for capacity-time and requests."),
		Price:       f.gauge("lightmarket_server_clearing_price_wei", "The auction's clearing price, in wei per capacity-unit-second."),
		Capacity:    f.gaugeVec("lightmarket_server_capacity_units", "Serving capacity in cost units per ms, by kind: total, paid and free (given to clients), sold (in the auction), frozen (held by clients stopped for overload).", "kind"),
		Tiers:       f.gaugeVec("lightmarket_server_clients_by_tier", "Connected clients, by tier.", "tier"),
		Fleet: &Fleet{
			LedgerUp:    f.gauge("lightmarket_fleet_ledger_up", "1 while the fleet's ledger database answers this server, 0 while it is away (a server of a fleet only)."),
			Claimer:     f.gauge("lightmarket_fleet_claimer", "1 while this server holds the fleet's claimer lease."),
			Wei:         f.gaugeVec("lightmarket_fleet_wei", "The fleet's ledger totals in wei, by kind: received (vouchers), claimed (on chain), unclaimed, charged (to clients). The same at every server of the fleet.", "kind"),
			Channels:    f.gauge("lightmarket_fleet_channels", "Payment channels in the fleet's ledger."),
			ServerWei:   f.gaugeVec("lightmarket_fleet_server_wei", "Wei each server of the fleet took, by server (its node ID) and kind: credited (vouchers it stored), charged (to its clients).", "node", "kind"),
			ServerVouch: f.gaugeVec("lightmarket_fleet_server_vouchers", "Vouchers each server of the fleet credited, by server (its node ID).", "node"),
		},
	}
}

// Client is what a lightmarket client records.
type Client struct {
	Requests      *prometheus.CounterVec   // by request type and result
	RequestTime   *prometheus.HistogramVec // round trip seconds, by type
	Verifications *prometheus.CounterVec   // verification failures, by check
	Head          prometheus.Gauge         // accepted head number
	HeadTime      prometheus.Gauge         // accepted head's timestamp (unix seconds)
	Servers       *prometheus.GaugeVec     // servers by state (connected, banned)
	SpentWei      *prometheus.CounterVec   // wei paid, by server
	Vouchers      *prometheus.CounterVec   // vouchers sent, by result
	StateCache    prometheus.Gauge         // bytes of verified state kept
	Witnesses     *prometheus.CounterVec   // witnesses fetched, by outcome
}

// NewClient registers a client's metrics with reg. headLag, when not nil,
// is reported as lightmarket_client_head_lag_seconds on every scrape.
func NewClient(reg prometheus.Registerer, headLag func() float64) *Client {
	f := factory{reg}
	c := &Client{
		Requests:      f.counterVec("lightmarket_client_requests_total", "Requests sent to servers, by type and result.", "type", "result"),
		RequestTime:   f.histogramVec("lightmarket_client_request_seconds", "Round trip of answered requests, by type.", "type"),
		Verifications: f.counterVec("lightmarket_client_verification_failures_total", "Server answers that failed verification, by check.", "check"),
		Head:          f.gauge("lightmarket_client_head_block", "Number of the accepted head block."),
		HeadTime:      f.gauge("lightmarket_client_head_timestamp_seconds", "Timestamp of the accepted head block."),
		Servers:       f.gaugeVec("lightmarket_client_servers", "Configured servers, by state.", "state"),
		SpentWei:      f.counterVec("lightmarket_client_spent_wei_total", "Wei paid to servers with vouchers, by server.", "server"),
		Vouchers:      f.counterVec("lightmarket_client_vouchers_total", "Payment vouchers sent, by result (accepted or the refusal).", "result"),
		StateCache:    f.gauge("lightmarket_client_state_cache_bytes", "Bytes of verified accounts, storage and code kept for later calls (bounded by --cache)."),
		Witnesses:     f.counterVec("lightmarket_client_witnesses_total", "Call witnesses fetched, by outcome: complete, incomplete (the call read state the witness lacked), or the verification failure.", "outcome"),
	}
	if headLag != nil && reg != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lightmarket_client_head_lag_seconds",
			Help: "Age of the accepted head block: now minus its timestamp.",
		}, headLag))
	}
	return c
}

// factory creates collectors and registers them when it has a registerer.
type factory struct{ reg prometheus.Registerer }

func (f factory) register(c prometheus.Collector) {
	if f.reg != nil {
		f.reg.MustRegister(c)
	}
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.register(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.register(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.register(g)
	return g
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.register(g)
	return g
}

func (f factory) histogramVec(name, help string, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: servingBuckets}, labels)
	f.register(h)
	return h
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	// go_gc_heap_live_bytes (the heap the last GC kept) besides the
	// memstats: what a soak watches for growth, without the garbage in
	// heap_inuse; and go_gc_gomemlimit_bytes, the soft memory limit.
	live := collectors.WithGoCollectorRuntimeMetrics(collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/(heap/live|gomemlimit):bytes$`)})
	reg.MustRegister(collectors.NewGoCollector(live), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Endpoint serves a registry's metrics at /metrics.
type Endpoint struct {
	srv *http.Server
	ln  net.Listener
}

// Serve starts serving reg on addr (e.g. 127.0.0.1:6060).
func Serve(addr string, reg *prometheus.Registry) (*Endpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if rpcauth.IsLoopback(ln.Addr().String()) {
		// Go's profiles, for finding where memory and time go; only on
		// loopback, since they reveal the process's insides.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	e := &Endpoint{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go e.srv.Serve(ln)
	return e, nil
}

// URL is the metrics URL.
func (e *Endpoint) URL() string { return "http://" + e.ln.Addr().String() + "/metrics" }

// Close stops serving.
func (e *Endpoint) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
