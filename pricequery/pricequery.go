// Package pricequery is the question a client asks a server before it
// connects: what is your price, how much capacity do you sell and have
// free, and what would this bid win now? It travels over discv5 TALKREQ
// (protocol id "lmq"), both ways well under 1 KB, and is rate-limited per
// IP address.
package pricequery

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/p2p/discover"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rlp"
)

// Protocol is the TALKREQ protocol id.
const Protocol = "lmq"

// Version of the query format.
const Version = 1

// MaxSize bounds requests and responses (discv5 TALKREQ above about 1 KB
// fails).
const MaxSize = 512

// Request asks for the server's market and what a demand would win.
type Request struct {
	Version uint64
	Max     uint64
	Min     uint64
	Price   *big.Int // wei per capacity-unit-second
}

// Response is the server's answer. An empty TALKRESP means refused (rate
// limited or malformed).
type Response struct {
	Version    uint64
	Sellable   uint64   // capacity sold in the auction
	Sold       uint64   // of which allocated now
	Free       uint64   // capacity of one free client now
	Price      *big.Int // clearing price
	WinCap     uint64   // what the request's demand would win now
	WinPrice   *big.Int // at this price
	HeadNumber uint64
}

// Market is what a server answers from.
type Market interface {
	// Answer fills a response for a demand of the node from (Max = 0
	// asks only for prices). What the demand would win is quoted as if it
	// replaced any bid from already holds: a client asking about its own
	// server must not compete with itself.
	Answer(from enode.ID, max, min uint64, price *big.Int) Response
}

// Errors a query can end with.
var (
	ErrRefused = errors.New("price query refused")
	ErrBadMsg  = errors.New("invalid price query message")
)

// Limiter allows each IP address a burst of queries and then one per
// interval. It holds at most maxIPs addresses, forgetting the oldest.
type Limiter struct {
	clock    mclock.Clock
	burst    int
	interval time.Duration
	mu       sync.Mutex
	ips      map[string]*bucket
}

type bucket struct {
	tokens float64
	at     mclock.AbsTime
}

const maxIPs = 10_000

// NewLimiter creates a limiter: burst queries at once, then one per
// interval, per IP.
func NewLimiter(clock mclock.Clock, burst int, interval time.Duration) *Limiter {
	return &Limiter{clock: clock, burst: burst, interval: interval, ips: make(map[string]*bucket)}
}

// Allow reports whether ip may query now.
func (l *Limiter) Allow(ip string) bool {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.ips[ip]
	if b == nil {
		if len(l.ips) >= maxIPs {
			for k := range l.ips { // drop an arbitrary one: bounded memory
				delete(l.ips, k)
				break
			}
		}
		b = &bucket{tokens: float64(l.burst), at: now}
		l.ips[ip] = b
	}
	b.tokens = min(float64(l.burst), b.tokens+float64(now-b.at)/float64(l.interval))
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Handler answers queries from m, limited by l.
func Handler(m Market, l *Limiter) discover.TalkRequestHandler {
	return func(from *enode.Node, addr *net.UDPAddr, msg []byte) []byte {
		if len(msg) > MaxSize || (addr != nil && !l.Allow(addr.IP.String())) {
			return nil
		}
		req, err := DecodeRequest(msg)
		if err != nil {
			return nil
		}
		var id enode.ID
		if from != nil {
			id = from.ID()
		}
		resp := m.Answer(id, req.Max, req.Min, req.Price)
		resp.Version = Version
		enc, err := rlp.EncodeToBytes(&resp)
		if err != nil || len(enc) > MaxSize {
			return nil
		}
		return enc
	}
}

// Query asks server n over the discv5 listener t.
func Query(t *discover.UDPv5, n *enode.Node, max, min uint64, price *big.Int) (*Response, error) {
	enc, err := rlp.EncodeToBytes(&Request{Version: Version, Max: max, Min: min, Price: price})
	if err != nil {
		return nil, err
	}
	raw, err := t.TalkRequest(n, Protocol, enc)
	if err != nil {
		return nil, fmt.Errorf("price query to %v: %w", n.ID(), err)
	}
	if len(raw) == 0 {
		return nil, ErrRefused
	}
	return DecodeResponse(raw)
}

// DecodeRequest decodes a query as a server receives it, refusing what is
// too large, of another version, or without a price of at most 256 bits.
func DecodeRequest(msg []byte) (*Request, error) {
	if len(msg) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadMsg, len(msg), MaxSize)
	}
	var req Request
	if err := rlp.DecodeBytes(msg, &req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMsg, err)
	}
	switch {
	case req.Version != Version:
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadMsg, req.Version, Version)
	case req.Price == nil || req.Price.BitLen() > 256:
		return nil, fmt.Errorf("%w: price missing or above 256 bits", ErrBadMsg)
	}
	return &req, nil
}

// DecodeResponse decodes a server's answer as a client receives it.
func DecodeResponse(raw []byte) (*Response, error) {
	if len(raw) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadMsg, len(raw), MaxSize)
	}
	var resp Response
	if err := rlp.DecodeBytes(raw, &resp); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMsg, err)
	}
	switch {
	case resp.Version != Version:
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadMsg, resp.Version, Version)
	case resp.Price == nil || resp.WinPrice == nil || resp.Price.BitLen() > 256 || resp.WinPrice.BitLen() > 256:
		return nil, fmt.Errorf("%w: price missing or above 256 bits", ErrBadMsg)
	}
	return &resp, nil
}
