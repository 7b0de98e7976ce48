// Command liblightmarket is the light client as a C library:
//
//	go build -buildmode=c-shared -o liblightmarket.so ./cmd/liblightmarket
//
// gives liblightmarket.so and liblightmarket.h. A program starts a node
// from a JSON configuration (the CLI client's settings by name, see
// package lightclient) with a callback for events, gets a handle, sends
// JSON-RPC requests as strings and frees the strings it gets back with
// lm_free. Every function may be called from any thread, at once.
//
//	char *err = NULL;
//	uintptr_t node = lm_start("{\"trusted\":[\"enode://...\"]}", on_event, user, &err);
//	char *resp = lm_request(node, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\"}");
//	lm_free(resp);
//	char *id = lm_subscribe(node, "{\"method\":\"eth_subscribe\",\"params\":[\"newHeads\"]}", &err);
//	lm_stop(node);
//
// It is a shell over package mobile, which translates for gomobile as
// this does for C.
package main

/*
#include <stdint.h>
#include <stdlib.h>

// lm_event_fn receives an event: the user pointer given to lm_start, and
// {"subscription":"<id>","result":...} as JSON, valid during the call.
typedef void (*lm_event_fn)(void *user, const char *event_json);

static inline void lm_call(lm_event_fn fn, void *user, const char *event_json) {
	fn(user, event_json);
}
*/
import "C"

import (
	"errors"
	"runtime/cgo"
	"sync"
	"unsafe"

	"github.com/lightmarket/lightmarket/mobile"
	"github.com/lightmarket/lightmarket/rpcapi"
)

// node is what a handle holds: the node and the program's callback.
type node struct {
	n    *mobile.Node
	fn   C.lm_event_fn
	user unsafe.Pointer // the program's, never dereferenced here

	mu      sync.Mutex
	stopped bool
}

// OnEvent hands an event to the program's callback.
func (nd *node) OnEvent(event string) {
	if nd.fn == nil {
		return
	}
	s := C.CString(event)
	defer C.free(unsafe.Pointer(s))
	C.lm_call(nd.fn, nd.user, s)
}

// errNoNode is the error of a handle that is not a running node's.
var errNoNode = errors.New("no such node: not a handle lm_start returned, or stopped")

// lookup returns the node of a handle.
func lookup(h C.uintptr_t) (nd *node, err error) {
	defer func() {
		if recover() != nil { // cgo.Handle.Value panics on a bad handle
			nd, err = nil, errNoNode
		}
	}()
	if h == 0 {
		return nil, errNoNode
	}
	nd, ok := cgo.Handle(h).Value().(*node)
	if !ok {
		return nil, errNoNode
	}
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.stopped {
		return nil, errNoNode
	}
	return nd, nil
}

// setError stores err's message for the program (freed with lm_free).
func setError(out **C.char, err error) {
	if out != nil {
		*out = C.CString(err.Error())
	}
}

// lm_start starts a light client from its JSON configuration; fn (may be
// NULL) receives subscription events with user. It returns the node's
// handle, or 0 with *err_out set to a message (free it with lm_free).
//
//export lm_start
func lm_start(configJSON *C.char, fn C.lm_event_fn, user unsafe.Pointer, errOut **C.char) C.uintptr_t {
	n, err := mobile.Start(C.GoString(configJSON))
	if err != nil {
		setError(errOut, err)
		return 0
	}
	return C.uintptr_t(cgo.NewHandle(&node{n: n, fn: fn, user: user}))
}

// lm_request answers a JSON-RPC request or batch with the response's JSON
// (errors as JSON-RPC errors); free it with lm_free.
//
//export lm_request
func lm_request(h C.uintptr_t, requestJSON *C.char) *C.char {
	nd, err := lookup(h)
	if err != nil {
		return C.CString(string(rpcapi.ErrorResponse(-32603, err.Error())))
	}
	return C.CString(nd.n.Request(C.GoString(requestJSON)))
}

// lm_subscribe starts a subscription, given as the JSON-RPC request
// ({"method":"eth_subscribe","params":["newHeads"]}, or
// {"method":"lm_subscribe","params":["status"]}); its events go to the
// node's callback. It returns the subscription's id, or NULL with *err_out
// set; free either with lm_free.
//
//export lm_subscribe
func lm_subscribe(h C.uintptr_t, requestJSON *C.char, errOut **C.char) *C.char {
	nd, err := lookup(h)
	if err == nil {
		var id string
		if id, err = nd.n.Subscribe(C.GoString(requestJSON), nd); err == nil {
			return C.CString(id)
		}
	}
	setError(errOut, err)
	return nil
}

// lm_unsubscribe ends a subscription. It returns NULL, or an error message
// to free with lm_free.
//
//export lm_unsubscribe
func lm_unsubscribe(h C.uintptr_t, id *C.char) *C.char {
	return errorString(h, func(n *mobile.Node) error { return n.Unsubscribe(C.GoString(id)) })
}

// lm_set_demand bids a demand ({"capacity":100000,"maxPrice":"20000"},
// wei) or, with "null", asks for free service only. It returns NULL, or
// an error message to free with lm_free.
//
//export lm_set_demand
func lm_set_demand(h C.uintptr_t, demandJSON *C.char) *C.char {
	return errorString(h, func(n *mobile.Node) error { return n.SetDemand(C.GoString(demandJSON)) })
}

// lm_app_state says where the app is: "foreground" or "background". It
// returns NULL, or an error message to free with lm_free.
//
//export lm_app_state
func lm_app_state(h C.uintptr_t, state *C.char) *C.char {
	return errorString(h, func(n *mobile.Node) error { return n.AppState(C.GoString(state)) })
}

// lm_network says what network the device is on ("wifi", "cellular",
// "ethernet", "none", "unknown") and whether it is metered (non-zero). It
// returns NULL, or an error message to free with lm_free.
//
//export lm_network
func lm_network(h C.uintptr_t, kind *C.char, metered C.int) *C.char {
	return errorString(h, func(n *mobile.Node) error { return n.Network(C.GoString(kind), metered != 0) })
}

// lm_status returns the node's status as JSON, or NULL with *err_out set;
// free either with lm_free.
//
//export lm_status
func lm_status(h C.uintptr_t, errOut **C.char) *C.char {
	nd, err := lookup(h)
	if err == nil {
		var st string
		if st, err = nd.n.Status(); err == nil {
			return C.CString(st)
		}
	}
	setError(errOut, err)
	return nil
}

// lm_stop stops the node and releases its handle; it returns once what
// was paid is on disk. It returns NULL, or an error message to free with
// lm_free.
//
//export lm_stop
func lm_stop(h C.uintptr_t) *C.char {
	nd, err := lookup(h)
	if err != nil {
		return C.CString(err.Error())
	}
	nd.mu.Lock()
	if nd.stopped {
		nd.mu.Unlock()
		return C.CString(errNoNode.Error())
	}
	nd.stopped = true
	nd.mu.Unlock()
	err = nd.n.Stop()
	cgo.Handle(h).Delete()
	if err != nil {
		return C.CString(err.Error())
	}
	return nil
}

// lm_free frees a string the library returned.
//
//export lm_free
func lm_free(s *C.char) { C.free(unsafe.Pointer(s)) }

// errorString runs a call on a handle's node and returns its error for C
// (NULL for none).
func errorString(h C.uintptr_t, call func(*mobile.Node) error) *C.char {
	nd, err := lookup(h)
	if err == nil {
		err = call(nd.n)
	}
	if err != nil {
		return C.CString(err.Error())
	}
	return nil
}

func main() {}
