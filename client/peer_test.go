package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmarket/lightmarket/flowcontrol"
	"github.com/lightmarket/lightmarket/metrics"
	"github.com/lightmarket/lightmarket/protocol"
)

// TestAServerNotReadingIsDropped: a request to a server that does not
// read its connection (its end of the pipe takes no message) fails in the
// request's time, not the transport's 20 s write timeout, and the session
// is ended so that the requests after it go elsewhere.
func TestAServerNotReadingIsDropped(t *testing.T) {
	ours, theirs := p2p.MsgPipe()
	defer theirs.Close()
	var once sync.Once
	dropped := make(chan struct{})
	p := &peer{
		rw:       ours,
		log:      log.Root(),
		pending:  make(map[uint64]pendingReq),
		closed:   make(chan struct{}),
		metrics:  metrics.NewClient(prometheus.NewRegistry(), func() float64 { return 0 }),
		trips:    new(tripCounter),
		timeout:  200 * time.Millisecond,
		costs:    flowcontrol.CostTable{},
		fc:       flowcontrol.NewServerBuffer(mclock.System{}, flowcontrol.Params{BufLimit: 1 << 30, Recharge: 1 << 20}),
		observed: func(protocol.Code, time.Duration) {},
		drop:     func() { once.Do(func() { close(dropped); ours.Close() }) },
	}
	defer ours.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := p.request(context.Background(), protocol.GetBlockHeadersMsg, protocol.BlockHeadersMsg, 1,
			&protocol.GetBlockHeaders{ReqID: 1, Origin: protocol.ByNumber(0), Amount: 1})
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, errPeerGone) {
			t.Fatalf("request to a server not reading: %v, want %v", err, errPeerGone)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request to a server not reading still waits after 5 s (its time is 200 ms)")
	}
	select {
	case <-dropped:
	default:
		t.Fatal("the session was not ended")
	}
}
