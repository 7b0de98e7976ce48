package pricequery

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/rlp"
)

// market answers with fixed figures and records the last question.
type market struct{ max, min uint64 }

func (m *market) Answer(_ enode.ID, max, min uint64, price *big.Int) Response {
	m.max, m.min = max, min
	won := uint64(0)
	if price.Cmp(big.NewInt(10)) >= 0 {
		won = max
	}
	return Response{Sellable: 1000, Sold: 400, Free: 50, Price: big.NewInt(10), WinCap: won, WinPrice: big.NewInt(10), HeadNumber: 77}
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := rlp.EncodeToBytes(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandlerAnswers(t *testing.T) {
	m := &market{}
	h := Handler(m, NewLimiter(new(mclock.Simulated), 100, time.Second))
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 30303}
	for _, tc := range []struct {
		name    string
		msg     []byte
		wantCap uint64 // of an answer
		refused bool
	}{
		{"bid at the price wins", encode(t, &Request{Version: Version, Max: 300, Min: 100, Price: big.NewInt(10)}), 300, false},
		{"bid below wins nothing", encode(t, &Request{Version: Version, Max: 300, Min: 100, Price: big.NewInt(9)}), 0, false},
		{"prices only", encode(t, &Request{Version: Version, Price: new(big.Int)}), 0, false},
		{"other version", encode(t, &Request{Version: Version + 1, Max: 1, Min: 1, Price: big.NewInt(1)}), 0, true},
		{"no price", encode(t, []any{uint64(Version), uint64(1), uint64(1)}), 0, true},
		{"price above 256 bits", encode(t, &Request{Version: Version, Price: new(big.Int).Lsh(big.NewInt(1), 256)}), 0, true},
		{"not RLP", []byte{0xff, 0x00}, 0, true},
		{"empty", nil, 0, true},
		{"oversized", append(encode(t, &Request{Version: Version, Price: big.NewInt(1)}), make([]byte, MaxSize)...), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := h(nil, from, tc.msg)
			if tc.refused {
				if out != nil {
					t.Fatalf("answered %x, want refused (empty TALKRESP)", out)
				}
				return
			}
			resp, err := DecodeResponse(out)
			if err != nil {
				t.Fatal(err)
			}
			if resp.WinCap != tc.wantCap || resp.Price.Int64() != 10 || resp.Sellable != 1000 || resp.HeadNumber != 77 || resp.Version != Version {
				t.Fatalf("answer %+v, want %d won at 10", resp, tc.wantCap)
			}
			if len(out) > MaxSize {
				t.Fatalf("answer of %d bytes, above %d", len(out), MaxSize)
			}
		})
	}
}

func TestHandlerLimitsEachIP(t *testing.T) {
	clock := new(mclock.Simulated)
	h := Handler(&market{}, NewLimiter(clock, 3, time.Second))
	msg := encode(t, &Request{Version: Version, Price: big.NewInt(1)})
	a := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1)}
	b := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2)}
	answered := func(addr *net.UDPAddr) bool { return h(nil, addr, msg) != nil }
	for i := range 3 {
		if !answered(a) {
			t.Fatalf("query %d of a burst of 3 refused", i+1)
		}
	}
	if answered(a) {
		t.Fatal("fourth query at once answered")
	}
	if !answered(b) {
		t.Fatal("another IP refused because of the first")
	}
	clock.Run(500 * time.Millisecond)
	if answered(a) {
		t.Fatal("answered before an interval passed")
	}
	clock.Run(500 * time.Millisecond)
	if !answered(a) {
		t.Fatal("refused after an interval")
	}
	if answered(a) {
		t.Fatal("two answers for one interval")
	}
	clock.Run(time.Hour) // refills to the burst, no more
	for range 3 {
		answered(a)
	}
	if answered(a) {
		t.Fatal("burst grew beyond 3 over a long pause")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	l := NewLimiter(new(mclock.Simulated), 1, time.Minute)
	for i := range maxIPs + 500 {
		l.Allow(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&0xff, i&0xff))
	}
	if n := len(l.ips); n > maxIPs {
		t.Fatalf("limiter holds %d addresses, bound %d", n, maxIPs)
	}
}

func TestDecodeResponseRefuses(t *testing.T) {
	good := Response{Version: Version, Price: big.NewInt(1), WinPrice: big.NewInt(1)}
	if _, err := DecodeResponse(encode(t, &good)); err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string][]byte{
		"other version": encode(t, &Response{Version: 9, Price: big.NewInt(1), WinPrice: big.NewInt(1)}),
		"too big":       bytes.Repeat([]byte{0x80}, MaxSize+1),
		"not RLP":       {0xc5, 0x01},
		"short list":    encode(t, []any{uint64(Version), uint64(1)}),
	} {
		if _, err := DecodeResponse(raw); !errors.Is(err, ErrBadMsg) {
			t.Errorf("%s: %v, want ErrBadMsg", name, err)
		}
	}
}

// FuzzDecodeRequest: whatever arrives, the server's handler refuses or
// answers within MaxSize, and never panics.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(encodeF(&Request{Version: Version, Max: 300, Min: 100, Price: big.NewInt(10)}))
	f.Add(encodeF(&Request{Version: Version, Price: new(big.Int).Lsh(big.NewInt(1), 255)}))
	f.Add([]byte{0xc0})
	h := Handler(&market{}, NewLimiter(new(mclock.Simulated), 1<<30, time.Nanosecond))
	f.Fuzz(func(t *testing.T, msg []byte) {
		req, err := DecodeRequest(msg)
		if err == nil && (req.Price == nil || req.Version != Version) {
			t.Fatalf("accepted %+v", req)
		}
		if out := h(nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, msg); len(out) > MaxSize || (err == nil) != (out != nil) {
			t.Fatalf("handler answered %d bytes for a request that decoded with %v", len(out), err)
		}
	})
}

// FuzzDecodeResponse: whatever a server sends, the client decodes a valid
// answer or returns ErrBadMsg.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(encodeF(&Response{Version: Version, Sellable: 1000, Price: big.NewInt(10), WinPrice: big.NewInt(10)}))
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp, err := DecodeResponse(raw)
		if err != nil && !errors.Is(err, ErrBadMsg) {
			t.Fatalf("untyped error %v", err)
		}
		if err == nil && (resp.Price == nil || resp.WinPrice == nil) {
			t.Fatalf("accepted %+v", resp)
		}
	})
}

func encodeF(v any) []byte {
	b, _ := rlp.EncodeToBytes(v)
	return b
}
