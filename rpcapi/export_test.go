package rpcapi

import "context"

// FastAnswer is the fast path's answer to body, if it answers it.
func FastAnswer(s *Server, ctx context.Context, body []byte) ([]byte, bool) {
	return s.fast.answer(ctx, body)
}

// WithoutFastPath makes s answer every call through go-ethereum's server.
func WithoutFastPath(s *Server) { s.fast.methods = nil }
