package rpcapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/evmcall"
)

// fastPath answers the calls a wallet makes most (the state, calls, the
// head and blocks, fees, receipts, logs), one at a time over HTTP or in
// process, without go-ethereum's generic JSON-RPC server: that server
// spends more on one call (a goroutine, a handler, reflection;
// about 15 µs) than the client's check of a proof. It answers byte for
// byte as the server would (the server is the reference:
// TestFastPathAnswersAsTheServer compares the two), and hands the server
// everything else: batches, notifications, other methods, arguments the
// server would refuse (so that it says why), anything unusual about a
// request's JSON or transport.
type fastPath struct {
	methods map[string]fastMethod
	closed  *atomic.Bool
}

// fastMethod calls one method with a request's positional arguments;
// errNotFast hands the call to the server.
type fastMethod func(ctx context.Context, args *fastArgs) (any, error)

// errNotFast is a fastMethod's "the server must answer this".
var errNotFast = errors.New("rpcapi: not a call for the fast path")

// fastBodyLimit bounds the requests the fast path reads: its calls are
// small.
const fastBodyLimit = 16 << 10

func newFastPath(api *EthAPI, closed *atomic.Bool) *fastPath {
	return &fastPath{closed: closed, methods: map[string]fastMethod{
		"eth_chainId": func(ctx context.Context, a *fastArgs) (any, error) {
			if !a.done(0) {
				return nil, errNotFast
			}
			return api.ChainId(), nil
		},
		"eth_blockNumber": func(ctx context.Context, a *fastArgs) (any, error) {
			if !a.done(0) {
				return nil, errNotFast
			}
			return api.BlockNumber()
		},
		"eth_gasPrice": func(ctx context.Context, a *fastArgs) (any, error) {
			if !a.done(0) {
				return nil, errNotFast
			}
			return api.GasPrice(ctx)
		},
		"eth_maxPriorityFeePerGas": func(ctx context.Context, a *fastArgs) (any, error) {
			if !a.done(0) {
				return nil, errNotFast
			}
			return api.MaxPriorityFeePerGas(ctx)
		},
		"eth_getBlockByNumber": func(ctx context.Context, a *fastArgs) (any, error) {
			number, full := arg[rpc.BlockNumber](a, 0), arg[bool](a, 1)
			if !a.done(2) {
				return nil, errNotFast
			}
			return api.GetBlockByNumber(ctx, number, full)
		},
		"eth_getBlockByHash": func(ctx context.Context, a *fastArgs) (any, error) {
			hash, full := arg[common.Hash](a, 0), arg[bool](a, 1)
			if !a.done(2) {
				return nil, errNotFast
			}
			return api.GetBlockByHash(ctx, hash, full)
		},
		"eth_getTransactionReceipt": func(ctx context.Context, a *fastArgs) (any, error) {
			hash := arg[common.Hash](a, 0)
			if !a.done(1) {
				return nil, errNotFast
			}
			return api.GetTransactionReceipt(ctx, hash)
		},
		"eth_getBalance": func(ctx context.Context, a *fastArgs) (any, error) {
			addr, bnh := arg[common.Address](a, 0), arg[*rpc.BlockNumberOrHash](a, 1)
			if !a.done(2) {
				return nil, errNotFast
			}
			return api.GetBalance(ctx, addr, bnh)
		},
		"eth_getTransactionCount": func(ctx context.Context, a *fastArgs) (any, error) {
			addr, bnh := arg[common.Address](a, 0), arg[*rpc.BlockNumberOrHash](a, 1)
			if !a.done(2) {
				return nil, errNotFast
			}
			return api.GetTransactionCount(ctx, addr, bnh)
		},
		"eth_getCode": func(ctx context.Context, a *fastArgs) (any, error) {
			addr, bnh := arg[common.Address](a, 0), arg[*rpc.BlockNumberOrHash](a, 1)
			if !a.done(2) {
				return nil, errNotFast
			}
			return api.GetCode(ctx, addr, bnh)
		},
		"eth_getStorageAt": func(ctx context.Context, a *fastArgs) (any, error) {
			addr, key, bnh := arg[common.Address](a, 0), arg[string](a, 1), arg[*rpc.BlockNumberOrHash](a, 2)
			if !a.done(3) {
				return nil, errNotFast
			}
			return api.GetStorageAt(ctx, addr, key, bnh)
		},
		"eth_call": func(ctx context.Context, a *fastArgs) (any, error) {
			args, bnh := arg[evmcall.TransactionArgs](a, 0), arg[*rpc.BlockNumberOrHash](a, 1)
			overrides, blockOverrides := arg[*evmcall.StateOverride](a, 2), arg[*evmcall.BlockOverrides](a, 3)
			if !a.done(4) {
				return nil, errNotFast
			}
			return api.Call(ctx, args, bnh, overrides, blockOverrides)
		},
		"eth_getLogs": func(ctx context.Context, a *fastArgs) (any, error) {
			crit := arg[filters.FilterCriteria](a, 0)
			if !a.done(1) {
				return nil, errNotFast
			}
			return api.GetLogs(ctx, crit)
		},
		"eth_estimateGas": func(ctx context.Context, a *fastArgs) (any, error) {
			args, bnh := arg[evmcall.TransactionArgs](a, 0), arg[*rpc.BlockNumberOrHash](a, 1)
			overrides, blockOverrides := arg[*evmcall.StateOverride](a, 2), arg[*evmcall.BlockOverrides](a, 3)
			if !a.done(4) {
				return nil, errNotFast
			}
			return api.EstimateGas(ctx, args, bnh, overrides, blockOverrides)
		},
	}}
}

// handler serves next's HTTP calls, the ones it can through the fast path.
func (f *fastPath) handler(next *rpc.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What the server checks of the transport, the fast path takes
		// only in its plainest form.
		if r.Method != http.MethodPost || r.ContentLength <= 0 || r.ContentLength > fastBodyLimit ||
			r.Header.Get("Content-Type") != "application/json" {
			next.ServeHTTP(w, r)
			return
		}
		if _, ok := rpc.ContextRequestTimeout(r.Context()); ok {
			// The server answers a call that outlives the HTTP server's
			// write timeout with a timeout error.
			next.ServeHTTP(w, r)
			return
		}
		body := make([]byte, r.ContentLength)
		n, err := io.ReadFull(r.Body, body)
		if err != nil {
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:n]), r.Body))
			next.ServeHTTP(w, r)
			return
		}
		out, ok := f.answer(r.Context(), body)
		if !ok {
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("content-type", "application/json")
		h.Set("content-length", strconv.Itoa(len(out)))
		w.Write(out)
	})
}

// answer is the response to body, a JSON-RPC request, when the fast path
// answers it.
func (f *fastPath) answer(ctx context.Context, body []byte) ([]byte, bool) {
	if f.closed.Load() || !json.Valid(body) {
		return nil, false
	}
	req, ok := parseCall(body)
	if !ok {
		return nil, false
	}
	method := f.methods[req.method]
	if method == nil {
		return nil, false
	}
	start := time.Now()
	args := &fastArgs{elems: splitArray(req.params), ok: true}
	result, err := callFast(ctx, req.method, method, args)
	if err == errNotFast {
		return nil, false
	}
	out := append(make([]byte, 0, 128), `{"jsonrpc":"2.0","id":`...)
	out = append(out, req.id...)
	if err == nil {
		var enc []byte
		// As go-ethereum's server encodes a result.
		if m, ok := result.(json.Marshaler); ok {
			enc, err = m.MarshalJSON()
		} else {
			enc, err = json.Marshal(result)
		}
		if err == nil {
			if log.Root().Enabled(ctx, log.LevelDebug) { // no line built per call otherwise
				log.Debug("Served "+req.method, "reqid", logID(req.id), "duration", time.Since(start))
			}
			out = append(append(append(out, `,"result":`...), enc...), '}')
			return out, true
		}
		err = &internalError{code: -32603, msg: err.Error()}
	}
	je := jsonError{Code: -32000, Message: err.Error()}
	if ec, ok := err.(rpc.Error); ok {
		je.Code = ec.ErrorCode()
	}
	if de, ok := err.(rpc.DataError); ok {
		je.Data = de.ErrorData()
	}
	enc, _ := json.Marshal(je)
	log.Warn("Served "+req.method, "reqid", logID(req.id), "duration", time.Since(start), "err", je.Message)
	out = append(append(append(out, `,"error":`...), enc...), '}')
	return out, true
}

// callFast runs a method as go-ethereum's server does: a panic is the
// method's error.
func callFast(ctx context.Context, name string, m fastMethod, args *fastArgs) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			log.Error("RPC method " + name + " crashed: " + fmt.Sprintf("%v\n%s", p, buf))
			result, err = nil, &internalError{code: -32603, msg: "method handler crashed"}
		}
	}()
	return m(ctx, args)
}

// jsonError is a JSON-RPC error object, as go-ethereum's server writes it.
type jsonError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// internalError is an error of the server itself (code -32603).
type internalError struct {
	code int
	msg  string
}

func (e *internalError) Error() string  { return e.msg }
func (e *internalError) ErrorCode() int { return e.code }

// logID is a request id as go-ethereum's server logs it.
type logID []byte

func (id logID) String() string {
	if s, err := strconv.Unquote(string(id)); err == nil {
		return s
	}
	return string(id)
}

// fastArgs are a call's positional arguments, decoded in order; ok turns
// false at the first one the server would refuse.
type fastArgs struct {
	elems [][]byte
	ok    bool
}

// arg decodes argument i as a T, as go-ethereum's server does: a missing
// or null argument is the zero value if T is a pointer (optional) and
// refused otherwise; a T that decodes itself is handed the JSON directly.
func arg[T any](a *fastArgs, i int) T {
	var v T
	if !a.ok {
		return v
	}
	optional := reflect.TypeFor[T]().Kind() == reflect.Pointer
	if i >= len(a.elems) {
		a.ok = optional
		return v
	}
	elem := a.elems[i]
	null := string(elem) == "null"
	if null && !optional {
		a.ok = false
		return v
	}
	var err error
	if u, ok := any(&v).(json.Unmarshaler); ok && !null {
		err = u.UnmarshalJSON(elem)
	} else {
		err = json.Unmarshal(elem, &v)
	}
	if err != nil {
		a.ok = false
	}
	return v
}

// done says whether every argument decoded and there are at most n.
func (a *fastArgs) done(n int) bool { return a.ok && len(a.elems) <= n }

// call is a request's fields, each the raw JSON of its value.
type call struct {
	id, params []byte
	method     string
}

// parseCall picks apart body, valid JSON, as a single call in its plain
// form: an object with "jsonrpc":"2.0", a number or string id, a method
// and optional params, each once, nothing else, no escapes in the names
// and the method in ASCII. ok is false for anything else.
func parseCall(body []byte) (c call, ok bool) {
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return c, false
	}
	var version, method bool
	i = skipSpace(body, i+1)
	for i < len(body) && body[i] != '}' {
		if body[i] != '"' {
			return c, false
		}
		end := skipValue(body, i)
		key := body[i+1 : end-1]
		i = skipSpace(body, end)
		i = skipSpace(body, i+1) // the colon
		end = skipValue(body, i)
		value := body[i:end]
		switch string(key) {
		case "jsonrpc":
			if version || string(value) != `"2.0"` {
				return c, false
			}
			version = true
		case "id":
			if c.id != nil || !(value[0] == '"' || value[0] == '-' || value[0] >= '0' && value[0] <= '9') ||
				bytes.IndexByte(value, '\\') >= 0 {
				return c, false
			}
			c.id = value
		case "method":
			if method || value[0] != '"' || !plainASCII(value) {
				return c, false
			}
			method, c.method = true, string(value[1:len(value)-1])
		case "params":
			if c.params != nil || value[0] != '[' && string(value) != "null" {
				return c, false
			}
			c.params = value
		default:
			return c, false
		}
		i = skipSpace(body, end)
		if i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	return c, version && c.id != nil && len(c.method) > 0
}

// splitArray is the elements of params: a JSON array, null or nothing.
func splitArray(params []byte) (elems [][]byte) {
	if len(params) == 0 || string(params) == "null" {
		return nil
	}
	i := skipSpace(params, 1)
	for i < len(params) && params[i] != ']' {
		end := skipValue(params, i)
		elems = append(elems, params[i:end])
		i = skipSpace(params, end)
		if i < len(params) && params[i] == ',' {
			i = skipSpace(params, i+1)
		}
	}
	return elems
}

// plainASCII says whether b is ASCII without escapes.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue is the end of the JSON value that starts at b[i], in valid
// JSON.
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}
