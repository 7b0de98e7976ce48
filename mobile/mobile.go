// Package mobile is the light client for apps, in the shape gomobile
// binds (`gomobile bind ./mobile` gives an Android library and an iOS
// framework): only strings, booleans, errors and one callback interface
// cross it. An app starts a node from a JSON configuration, sends it
// JSON-RPC requests as strings, receives subscription results and status
// events through its Handler, and says when it goes to the background or
// onto a metered network. The C library (cmd/liblightmarket) is a shell
// over this package.
//
// It translates only: what the node does is package lightclient's. No
// panic crosses the boundary: each is returned as an error (a JSON-RPC
// error from Request).
package mobile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/lightclient"
	"github.com/lightmarket/lightmarket/rpcapi"
)

// Handler receives what a subscription sends, one JSON object per call:
// {"subscription":"<id>","result":<the result>}, where the result is what
// eth_subscribe sends over a WebSocket (a header for newHeads, a log for
// logs) or, for lm_subscribe("status"), the node's status (see Status).
// It is called from a goroutine of the node's, one call at a time per
// subscription; it should return soon.
type Handler interface {
	OnEvent(eventJSON string)
}

// Node is a running light client.
type Node struct {
	n *lightclient.Node

	mu      sync.Mutex
	subs    map[string]func()
	stopped bool
	nextID  atomic.Uint64
}

// requestTimeout bounds one request made through Request.
const requestTimeout = 2 * time.Minute

// Start starts a light client from its configuration, the JSON of
// lightclient.Config (the CLI's client flags by name: "trusted",
// "dataDir", "payment", ...). It returns once the client runs; until it
// has verified a head, requests that need one are answered with an error
// saying why.
func Start(configJSON string) (node *Node, err error) {
	defer recoverError(&err)
	cfg, err := lightclient.ParseConfig([]byte(configJSON))
	if err != nil {
		return nil, err
	}
	if cfg.Verbosity == 0 {
		cfg.Logger = log.NewLogger(log.DiscardHandler())
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	n, err := lightclient.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Node{n: n, subs: make(map[string]func())}, nil
}

// Request answers a JSON-RPC request or batch as the HTTP endpoint
// answers it (the control methods need no token here): the response's
// JSON, errors included as JSON-RPC errors.
func (n *Node) Request(requestJSON string) (response string) {
	defer func() {
		if r := recover(); r != nil {
			response = string(rpcapi.ErrorResponse(-32603, fmt.Sprintf("internal error: %v", r)))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	return string(n.n.Request(ctx, []byte(requestJSON)))
}

// subscribeRequest is the part of a subscription request read here.
type subscribeRequest struct {
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

// Subscribe starts a subscription, given as the JSON-RPC request a
// WebSocket client sends: {"method":"eth_subscribe","params":["newHeads"]}
// (or "logs" with its filter, or any other eth_subscribe kind), or
// {"method":"lm_subscribe","params":["status"]} for the node's status
// whenever it changes. What it sends goes to h; the returned id names the
// subscription in the events and to Unsubscribe.
func (n *Node) Subscribe(requestJSON string, h Handler) (id string, err error) {
	defer recoverError(&err)
	if h == nil {
		return "", errors.New("subscribe: no handler")
	}
	var req subscribeRequest
	if err := json.Unmarshal([]byte(requestJSON), &req); err != nil {
		return "", fmt.Errorf("subscribe: not a JSON-RPC request: %w", err)
	}
	if len(req.Params) == 0 {
		return "", errors.New("subscribe: params name what to subscribe to")
	}
	var kind string
	if err := json.Unmarshal(req.Params[0], &kind); err != nil {
		return "", errors.New("subscribe: the first param is the subscription's name")
	}
	id = "0x" + strconv.FormatUint(n.nextID.Add(1), 16)
	deliver := func(result []byte) {
		ev, err := json.Marshal(struct {
			Subscription string          `json:"subscription"`
			Result       json.RawMessage `json:"result"`
		}{id, result})
		if err == nil {
			callHandler(h, string(ev))
		}
	}
	var stop func()
	switch {
	case req.Method == "lm_subscribe" && kind == "status":
		stop = n.subscribeStatus(deliver)
	case req.Method == "eth_subscribe":
		if stop, err = n.subscribeRPC(req.Params, deliver); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("subscribe: %s(%q) is not a subscription: use eth_subscribe, or lm_subscribe(\"status\")", req.Method, kind)
	}
	n.mu.Lock()
	stopped := n.stopped
	if !stopped {
		n.subs[id] = stop
	}
	n.mu.Unlock()
	if stopped {
		stop()
		return "", lightclient.ErrStopped
	}
	return id, nil
}

// subscribeStatus sends the node's status to deliver at once and at each
// change.
func (n *Node) subscribeStatus(deliver func([]byte)) func() {
	ch := make(chan *lightclient.Status, 16)
	sub := n.n.SubscribeStatus(ch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if b, err := json.Marshal(n.n.Status()); err == nil {
			deliver(b)
		}
		for {
			select {
			case st := <-ch:
				if b, err := json.Marshal(st); err == nil {
					deliver(b)
				}
			case <-sub.Err():
				return
			}
		}
	}()
	return func() { sub.Unsubscribe(); <-done }
}

// subscribeRPC runs an eth_subscribe subscription over the in-process
// RPC.
func (n *Node) subscribeRPC(params []json.RawMessage, deliver func([]byte)) (func(), error) {
	args := make([]any, len(params))
	for i, p := range params {
		args[i] = p
	}
	ch := make(chan json.RawMessage, 64)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	sub, err := n.n.RPC().Subscribe(ctx, "eth", ch, args...)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case r := <-ch:
				deliver(r)
			case <-sub.Err():
				return
			}
		}
	}()
	return func() { sub.Unsubscribe(); <-done }, nil
}

// Unsubscribe ends a subscription; an unknown id is an error.
func (n *Node) Unsubscribe(id string) (err error) {
	defer recoverError(&err)
	n.mu.Lock()
	stop := n.subs[id]
	delete(n.subs, id)
	n.mu.Unlock()
	if stop == nil {
		return fmt.Errorf("unsubscribe: no subscription %q", id)
	}
	stop()
	return nil
}

// Status is the node's status as JSON (lightclient.Status): the head and
// how it is verified, the servers with the tier and price at each, the
// demand, what was spent and what the budget leaves, the app's state.
func (n *Node) Status() (statusJSON string, err error) {
	defer recoverError(&err)
	b, err := json.Marshal(n.n.Status())
	return string(b), err
}

// SetDemand bids a demand from now on, as JSON: {"capacity":100000,
// "maxPrice":"20000","budget":"50000000000000000"} (amounts in wei,
// decimal or 0x-hex strings), or "" or "null" for free service only.
func (n *Node) SetDemand(demandJSON string) (err error) {
	defer recoverError(&err)
	if demandJSON == "" || demandJSON == "null" {
		return n.n.SetDemand(nil)
	}
	var d lightclient.Demand
	if err := json.Unmarshal([]byte(demandJSON), &d); err != nil {
		return fmt.Errorf("demand: %w", err)
	}
	return n.n.SetDemand(&d)
}

// AppState says where the app is: "foreground" or "background". In the
// background the node closes its connections and does nothing on its own
// (see lightclient.Node.SetAppState); back in the foreground it answers
// again within a round trip or two.
func (n *Node) AppState(state string) (err error) {
	defer recoverError(&err)
	return n.n.SetAppState(lightclient.AppState(state))
}

// Network says what network the device is on ("wifi", "cellular",
// "ethernet", "none", "unknown") and whether it is metered; on a metered
// one the node fetches nothing ahead and keeps fewer servers.
func (n *Node) Network(kind string, metered bool) (err error) {
	defer recoverError(&err)
	return n.n.SetNetwork(kind, metered)
}

// Stop ends every subscription and stops the node; it returns once what
// was paid is on disk.
func (n *Node) Stop() (err error) {
	defer recoverError(&err)
	n.mu.Lock()
	subs := n.subs
	n.subs, n.stopped = make(map[string]func()), true
	n.mu.Unlock()
	for _, stop := range subs {
		stop()
	}
	return n.n.Stop()
}

// recoverError turns a panic into the function's error.
func recoverError(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("internal error: %v\n%s", r, debug.Stack())
	}
}

// callHandler calls the app's handler; a panic in it (a Go handler) stays
// on this side.
func callHandler(h Handler, event string) {
	defer func() { recover() }()
	h.OnEvent(event)
}
