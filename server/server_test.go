package server

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/lightmarket/lightmarket/chain"
	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/flowcontrol"
	"github.com/lightmarket/lightmarket/protocol"
)

// testServer is a server on a dev chain, driven over an in-memory pipe.
type testServer struct {
	srv     *Server
	backend chain.Backend
	rw      *p2p.MsgPipeRW // the client's end
	errc    chan error     // what runPeer returned
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	return newTestServerWith(t, Config{})
}

// newTestServerWith starts a test server with cfg's flow-control settings.
func newTestServerWith(t *testing.T, cfg Config) *testServer {
	t.Helper()
	dc, err := devchain.New(devchain.Config{BlockTime: time.Hour, Logger: log.NewLogger(log.DiscardHandler())})
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.Start(); err != nil { // seals block 1
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	ctx := context.Background()
	backend, err := dc.Backend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.GenerateKey()
	cfg.Backend, cfg.PrivateKey, cfg.Logger = backend, key, log.NewLogger(log.DiscardHandler())
	if cfg.wrap != nil {
		cfg.Backend = cfg.wrap(backend)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	head, err := backend.CurrentHeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.setHead(head); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.cancel()
		srv.sched.close()
	})
	serverEnd, clientEnd := p2p.MsgPipe()
	ts := &testServer{srv: srv, backend: backend, rw: clientEnd, errc: make(chan error, 1)}
	peer := p2p.NewPeerPipe(enode.ID{1}, "test", nil, serverEnd)
	go func() { ts.errc <- srv.runPeer(peer, serverEnd) }()
	t.Cleanup(func() { clientEnd.Close() })
	return ts
}

// handshake exchanges Status messages as a client with the given chain id.
func (ts *testServer) handshake(t *testing.T, chainID uint64) *protocol.Status {
	t.Helper()
	// Sent before anything else (the server reads it while it sends its own).
	if err := protocol.Send(ts.rw, protocol.StatusMsg, &protocol.Status{ProtocolVersion: protocol.Version, ChainID: chainID, Genesis: ts.backend.Genesis()}); err != nil {
		t.Fatal(err)
	}
	code, msg, err := protocol.ReadMsg(ts.rw)
	if err != nil || code != protocol.StatusMsg {
		t.Fatalf("reading status: %v %v", code, err)
	}
	return msg.(*protocol.Status)
}

// expectError reads until the server's Error message and checks that the
// session ended with an error wrapping want.
func (ts *testServer) expectError(t *testing.T, want error) {
	t.Helper()
	for {
		code, msg, err := protocol.ReadMsg(ts.rw)
		if err != nil {
			t.Fatalf("no Error message before the pipe closed: %v", err)
		}
		if code != protocol.ErrorMsg {
			continue // announcements
		}
		if reason := msg.(*protocol.Error).Reason; !strings.Contains(reason, want.Error()) {
			t.Errorf("Error reason %q does not name %q", reason, want)
		}
		break
	}
	// The transport closes the connection once the session ends; the pipe
	// has to be closed by hand to unblock writes in flight.
	ts.rw.Close()
	select {
	case err := <-ts.errc:
		if !errors.Is(err, want) {
			t.Errorf("session ended with %v, want %v", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end")
	}
}

func TestServerAnswersHeadersAndAnnounces(t *testing.T) {
	ts := newTestServer(t)
	st := ts.handshake(t, devchain.ChainConfig().ChainID.Uint64())
	if st.HeadNumber != 1 || st.Genesis != ts.backend.Genesis() || len(st.FlowControl.Costs) == 0 {
		t.Fatalf("status = %+v", st)
	}
	code, msg, err := protocol.ReadMsg(ts.rw)
	if err != nil || code != protocol.AnnounceMsg {
		t.Fatalf("want Announce after Status, got %v %v", code, err)
	}
	a := msg.(*protocol.Announce)
	signer, err := a.Signer(devchain.ChainConfig().ChainID.Uint64())
	if err != nil || !bytes.Equal(signer, crypto.CompressPubkey(&ts.srv.cfg.PrivateKey.PublicKey)) || a.Hash != st.HeadHash {
		t.Fatalf("announce %+v not signed by the server: %v", a, err)
	}
	req := &protocol.GetBlockHeaders{ReqID: 7, Origin: protocol.ByHash(a.Hash), Amount: 5, Reverse: true}
	if err := protocol.Send(ts.rw, protocol.GetBlockHeadersMsg, req); err != nil {
		t.Fatal(err)
	}
	code, msg, err = protocol.ReadMsg(ts.rw)
	if err != nil || code != protocol.BlockHeadersMsg {
		t.Fatalf("got %v %v", code, err)
	}
	reply := msg.(*protocol.BlockHeaders)
	if reply.ReqID != 7 || len(reply.Headers) != 2 || reply.Headers[0].Hash() != a.Hash || reply.Headers[1].Hash() != ts.backend.Genesis() {
		t.Fatalf("reply = id %d, %d headers", reply.ReqID, len(reply.Headers))
	}
	if reply.BV == 0 {
		t.Error("reply carries no buffer value")
	}
}

func TestServerDisconnectsRuleBreakers(t *testing.T) {
	chainID := devchain.ChainConfig().ChainID.Uint64()
	tests := []struct {
		name string
		send func(rw p2p.MsgReadWriter) error
		want error
	}{
		{"garbage", func(rw p2p.MsgReadWriter) error {
			return rw.WriteMsg(p2p.Msg{Code: uint64(protocol.GetBlockHeadersMsg), Size: 3, Payload: bytes.NewReader([]byte{0xc2, 0xff, 0x01})})
		}, protocol.ErrDecode},
		{"too many headers", func(rw p2p.MsgReadWriter) error {
			return protocol.Send(rw, protocol.GetBlockHeadersMsg, &protocol.GetBlockHeaders{ReqID: 1, Origin: protocol.ByNumber(0), Amount: protocol.MaxHeaders + 1})
		}, protocol.ErrTooManyItems},
		{"too many proofs", func(rw p2p.MsgReadWriter) error {
			return protocol.Send(rw, protocol.GetProofsMsg, &protocol.GetProofs{ReqID: 1, Requests: make([]protocol.ProofRequest, protocol.MaxProofs+1)})
		}, protocol.ErrTooManyItems},
		{"reply from a client", func(rw p2p.MsgReadWriter) error {
			return protocol.Send(rw, protocol.BlockHeadersMsg, &protocol.BlockHeaders{ReqID: 1})
		}, protocol.ErrUnexpectedMsg},
		{"unknown code", func(rw p2p.MsgReadWriter) error {
			enc, _ := rlp.EncodeToBytes([]uint{1})
			return rw.WriteMsg(p2p.Msg{Code: 0x3f, Size: uint32(len(enc)), Payload: bytes.NewReader(enc)})
		}, protocol.ErrUnexpectedMsg},
		{"oversized", func(rw p2p.MsgReadWriter) error {
			return rw.WriteMsg(p2p.Msg{Code: uint64(protocol.GetBlockBodiesMsg), Size: protocol.MaxMessageSize + 1, Payload: bytes.NewReader(nil)})
		}, protocol.ErrMsgTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.handshake(t, chainID)
			go tt.send(ts.rw)
			ts.expectError(t, tt.want)
		})
	}
	t.Run("wrong chain", func(t *testing.T) {
		ts := newTestServer(t)
		go protocol.Send(ts.rw, protocol.StatusMsg, &protocol.Status{ProtocolVersion: protocol.Version, ChainID: 1, Genesis: common.Hash{1}})
		ts.expectError(t, protocol.ErrChainMismatch)
	})
}

func TestOverrunningClientIsCutOff(t *testing.T) {
	ts := newTestServerWith(t, Config{FreeCapacity: 10}) // a 60,000-unit buffer
	st := ts.handshake(t, devchain.ChainConfig().ChainID.Uint64())
	if st.FlowControl.BufferLimit != 60_000 || st.FlowControl.Recharge != 10 {
		t.Fatalf("announced %+v", st.FlowControl)
	}
	// One header costs up to 300,000 + 60,000: more than the buffer holds.
	go protocol.Send(ts.rw, protocol.GetBlockHeadersMsg, &protocol.GetBlockHeaders{ReqID: 1, Origin: protocol.ByNumber(0), Amount: 1})
	ts.expectError(t, protocol.ErrBufferOverrun)
}

func TestRepliesCarryTheBufferValue(t *testing.T) {
	clock := new(mclock.Simulated)
	ts := newTestServerWith(t, Config{FreeCapacity: 1000, Clock: clock}) // 6,000,000 units
	ts.handshake(t, devchain.ChainConfig().ChainID.Uint64())
	if code, _, err := protocol.ReadMsg(ts.rw); err != nil || code != protocol.AnnounceMsg {
		t.Fatalf("want the first Announce, got %v %v", code, err)
	}
	// Serving takes no time on the simulated clock: all of the maximum cost
	// but the fixed per-request overhead is refunded.
	protocol.Send(ts.rw, protocol.GetBlockHeadersMsg, &protocol.GetBlockHeaders{ReqID: 1, Origin: protocol.ByNumber(0), Amount: 2})
	code, msg, err := protocol.ReadMsg(ts.rw)
	if err != nil || code != protocol.BlockHeadersMsg {
		t.Fatalf("got %v %v", code, err)
	}
	if bv, want := msg.(*protocol.BlockHeaders).BV, 6_000_000-uint64(requestOverhead); bv != want {
		t.Fatalf("BV = %d, want %d", bv, want)
	}
}

func TestBalancesSurviveARestart(t *testing.T) {
	dc, err := devchain.New(devchain.Config{BlockTime: time.Hour, Logger: log.NewLogger(log.DiscardHandler())})
	if err != nil {
		t.Fatal(err)
	}
	dc.Start()
	defer dc.Close()
	backend, _ := dc.Backend(context.Background())
	dir := t.TempDir()
	start := func() *Server {
		key, _ := crypto.GenerateKey()
		srv, err := New(Config{Backend: backend, PrivateKey: key, DataDir: dir, Logger: log.NewLogger(log.DiscardHandler())})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start()
	client := enode.ID{7}
	if err := srv.SetBalance(client, big.NewInt(123_456_789)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	srv = start()
	defer srv.Stop()
	if got := srv.Balance(client); got.Cmp(big.NewInt(123_456_789)) != 0 {
		t.Fatalf("balance after restart = %v", got)
	}
}

// slowBackend makes header lookups take time, so that requests queue up.
type slowBackend struct{ chain.Backend }

func (b slowBackend) HeaderByNumber(ctx context.Context, n uint64) (*types.Header, error) {
	time.Sleep(20 * time.Millisecond) // the dev chain has few blocks: each request reads 2 headers
	return b.Backend.HeaderByNumber(ctx, n)
}

func TestOverloadedServerStopsAndResumesAFreeClient(t *testing.T) {
	ts := newTestServerWith(t, Config{Workers: 1, MaxInFlight: 64, FreeCapacity: 1_000_000, wrap: func(b chain.Backend) chain.Backend { return slowBackend{b} }})
	ts.handshake(t, devchain.ChainConfig().ChainID.Uint64())
	// 40 requests of 192 headers cost up to 11,820,000 each: 473 ms of
	// queued work by maximum cost for one worker, over the 200 ms that
	// counts as overload; each really takes about 40 ms, so they queue.
	go func() {
		for i := range 40 {
			protocol.Send(ts.rw, protocol.GetBlockHeadersMsg, &protocol.GetBlockHeaders{ReqID: uint64(i), Origin: protocol.ByNumber(0), Amount: 192})
		}
	}()
	var stopped, resumed bool
	deadline := time.After(10 * time.Second)
	for !resumed {
		type read struct {
			code protocol.Code
			err  error
		}
		rc := make(chan read, 1)
		go func() {
			code, _, err := protocol.ReadMsg(ts.rw)
			rc <- read{code, err}
		}()
		select {
		case r := <-rc:
			if r.err != nil {
				t.Fatal(r.err)
			}
			switch r.code {
			case protocol.StopMsg:
				stopped = true
			case protocol.ResumeMsg:
				if !stopped {
					t.Fatal("Resume without Stop")
				}
				resumed = true
			}
		case <-deadline:
			t.Fatalf("stopped %v, resumed %v", stopped, resumed)
		}
	}
}

// TestBiddingTooOftenIsCutOff: a burst of bids (sent apart, read together
// by a busy server) is taken; one more at once ends the session.
func TestBiddingTooOftenIsCutOff(t *testing.T) {
	ts := newTestServerWith(t, Config{Sellable: 1000})
	ts.handshake(t, devchain.ChainConfig().ChainID.Uint64())
	bid := func(i int) {
		protocol.Send(ts.rw, protocol.BidMsg, &protocol.Bid{ReqID: uint64(i), Max: 10, Min: 1, Price: big.NewInt(1)})
	}
	go func() { // the pipe is synchronous: sends wait for the server's reads
		for i := range protocol.BidBurst {
			bid(i)
		}
		protocol.Send(ts.rw, protocol.GetBlockHeadersMsg, &protocol.GetBlockHeaders{ReqID: 99, Origin: protocol.ByNumber(0), Amount: 1})
	}()
	for {
		code, msg, err := protocol.ReadMsg(ts.rw)
		if err != nil {
			t.Fatal(err)
		}
		if code == protocol.ErrorMsg {
			t.Fatalf("a burst of %d bids cut off: %s", protocol.BidBurst, msg.(*protocol.Error).Reason)
		}
		if code == protocol.BlockHeadersMsg {
			break // the session lives after the burst
		}
	}
	go bid(protocol.BidBurst)
	ts.expectError(t, protocol.ErrInvalidRequest)
}

// TestCapacityChangedBeforeRegistration changes a client's capacity in the
// pool after it was admitted and before its handshake: the update could
// not reach a session not registered yet, so the session tells it once it
// is, and the client's capacity is the pool's.
func TestCapacityChangedBeforeRegistration(t *testing.T) {
	ts := newTestServerWith(t, Config{FreeCapacity: 1_000, PaidCapacity: 50_000})
	id := enode.ID{1}
	deadline := time.Now().Add(10 * time.Second)
	for len(ts.srv.Clients()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the client was not admitted")
		}
		time.Sleep(time.Millisecond)
	}
	// Paid now, at PaidCapacity: the session cannot be told yet.
	if err := ts.srv.SetBalance(id, big.NewInt(1e18)); err != nil {
		t.Fatal(err)
	}
	status := ts.handshake(t, ts.backend.ChainID())
	if got, want := status.FlowControl.Recharge, flowcontrol.ParamsFor(1_000).Recharge; got != want {
		t.Fatalf("handshake recharge %d, want the admitted free capacity's %d", got, want)
	}
	want := flowcontrol.ParamsFor(50_000)
	stop := time.AfterFunc(10*time.Second, func() { ts.rw.Close() }) // ends the reads below
	defer stop.Stop()
	for {
		code, msg, err := protocol.ReadMsg(ts.rw)
		if err != nil {
			t.Fatalf("no capacity update within 10 s: %v", err)
		}
		if code != protocol.CapacityUpdateMsg {
			continue // terms, announcements
		}
		if u := msg.(*protocol.CapacityUpdate); u.Recharge != want.Recharge || u.BufferLimit != want.BufLimit {
			t.Fatalf("capacity update %+v, want %+v", u, want)
		}
		break
	}
	for _, c := range ts.srv.Clients() {
		if c.Capacity != 50_000 || c.Tier != "paid" {
			t.Fatalf("the pool holds %+v", c)
		}
	}
}

// TestAllocationsInDecisionOrder sends a session the Allocation of an
// auction decision after that of a later one, as two goroutines can: the
// older is not sent, and a reply to a bid made from it carries the later
// allocation.
func TestAllocationsInDecisionOrder(t *testing.T) {
	serverEnd, clientEnd := p2p.MsgPipe()
	defer serverEnd.Close()
	defer clientEnd.Close()
	p := &peer{rw: serverEnd, out: newOutbox(8), log: log.Root()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.out.run(ctx, serverEnd)
	go func() {
		p.tellAllocation(2, &protocol.Allocation{Capacity: 200, Price: big.NewInt(2)}, false)
		p.tellAllocation(1, &protocol.Allocation{Capacity: 100, Price: big.NewInt(1)}, false)
		p.tellAllocation(1, &protocol.Allocation{ReqID: 7, Capacity: 100, Price: big.NewInt(1)}, true)
		p.tellAllocation(3, &protocol.Allocation{Capacity: 300, Price: big.NewInt(3)}, false)
	}()
	for i, want := range []protocol.Allocation{{Capacity: 200}, {ReqID: 7, Capacity: 200}, {Capacity: 300}} {
		code, msg, err := protocol.ReadMsg(clientEnd)
		if err != nil || code != protocol.AllocationMsg {
			t.Fatalf("message %d: %v %v", i, code, err)
		}
		if got := msg.(*protocol.Allocation); got.ReqID != want.ReqID || got.Capacity != want.Capacity {
			t.Fatalf("message %d: %+v, want request %d capacity %d", i, got, want.ReqID, want.Capacity)
		}
	}
}

// TestAClientNotReadingHoldsUpOnlyItself: a client that sends requests
// and reads nothing (its pipe takes no message it does not read) holds up
// its own replies, not the server's one worker: another client is served
// meanwhile, and told of its capacity.
func TestAClientNotReadingHoldsUpOnlyItself(t *testing.T) {
	ts := newTestServerWith(t, Config{Workers: 1})
	chainID := devchain.ChainConfig().ChainID.Uint64()
	ts.handshake(t, chainID)
	for i := range 3 {
		if err := protocol.Send(ts.rw, protocol.GetBlockHeadersMsg, &protocol.GetBlockHeaders{ReqID: uint64(i + 1), Origin: protocol.ByNumber(0), Amount: 1}); err != nil {
			t.Fatal(err)
		}
	}

	serverEnd, other := p2p.MsgPipe()
	t.Cleanup(func() { other.Close() })
	go ts.srv.runPeer(p2p.NewPeerPipe(enode.ID{2}, "test", nil, serverEnd), serverEnd)
	other2 := &testServer{srv: ts.srv, backend: ts.backend, rw: other}
	other2.handshake(t, chainID)
	done := make(chan error, 1)
	go func() {
		if err := protocol.Send(other, protocol.GetBlockHeadersMsg, &protocol.GetBlockHeaders{ReqID: 9, Origin: protocol.ByNumber(0), Amount: 1}); err != nil {
			done <- err
			return
		}
		for {
			code, msg, err := protocol.ReadMsg(other)
			if err != nil {
				done <- err
				return
			}
			if code == protocol.BlockHeadersMsg && msg.(*protocol.BlockHeaders).ReqID == 9 {
				done <- nil
				return
			}
		}
	}()
	within := func(errc <-chan error, what string) {
		t.Helper()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal(what)
		}
	}
	within(done, "the other client was not served while one did not read its replies")
	// Capacity news for the client not reading is queued, not waited for.
	set := make(chan error, 1)
	go func() { set <- ts.srv.SetCapacity(enode.ID{1}, 2_000) }()
	within(set, "SetCapacity waited for a client that does not read")
}
