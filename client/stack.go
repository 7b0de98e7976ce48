package client

// reserveStack grows the calling goroutine's stack to what sending a
// request needs, in one step. go-ethereum's JSON-RPC server runs every call
// on a new goroutine, whose stack starts at 8 KB (the calls the wallet
// endpoint answers itself run on the HTTP connection's goroutine, whose
// stack the collector may shrink between calls); a call that reaches the
// wire needs more than 64 KB (RLPx compresses with snappy, which keeps a
// 32 KB table on the stack), and the stack doubled two or three times on
// the way, each copy walking every frame. That was about 20 µs of a
// verified eth_getBalance's 200 µs (docs/benchmarks.md); grown here once,
// before the deepest frames, it costs a fraction of that. On a goroutine
// whose stack is already large it costs the clearing of the frame.
//
//go:noinline
func reserveStack() byte {
	var frame [stackReserve]byte
	return touchStack(frame[:])
}

// stackReserve is the frame reserveStack takes: with the frames below a
// request's caller, the stack grows to 128 KB.
const stackReserve = 64 << 10

// touchStack keeps reserveStack's frame from being optimised away.
//
//go:noinline
func touchStack(b []byte) byte { return b[len(b)-1] }
