package server

import (
	"context"
	"errors"
	"sync"

	"github.com/ethereum/go-ethereum/p2p"

	"github.com/lightmarket/lightmarket/protocol"
)

// outbox is a session's queue of messages to its client: replies to
// requests and the notices other goroutines have for it (capacity
// updates, allocations, Stop and Resume). One goroutine (run) sends them
// in the order queued, so that a client that does not read its connection
// holds up only its own messages: a worker that served its request, the
// session of another client whose bid moved its allocation, and the
// scheduler resuming clients never wait on its socket (a write to a full
// one waits up to go-ethereum's 20 s write timeout).
type outbox struct {
	mu     sync.Mutex
	queue  []outMsg
	limit  int
	closed bool
	wake   chan struct{} // capacity 1
}

// outMsg is a queued message; sent, if set, is called once it was written
// or will not be (the session ended, the client stopped reading).
type outMsg struct {
	code protocol.Code
	msg  any
	sent func(error)
}

var (
	errSessionOver = errors.New("session over")
	errNotReading  = errors.New("client not reading: too many messages queued")
)

// outboxNotices is how many messages beyond its requests' replies (which
// MaxInFlight bounds) may wait for a client: notices and replies to bids,
// a few a second at most; a client that lets that many pile up has not
// read its connection for seconds.
const outboxNotices = 256

func newOutbox(maxInFlight int) *outbox {
	return &outbox{limit: maxInFlight + outboxNotices, wake: make(chan struct{}, 1)}
}

// push queues a message. It reports false when the client has let the
// outbox fill: it is not reading, and the session should end.
func (o *outbox) push(code protocol.Code, msg any, sent func(error)) bool {
	o.mu.Lock()
	if o.closed || len(o.queue) >= o.limit {
		full := !o.closed
		o.mu.Unlock()
		if sent != nil {
			if full {
				sent(errNotReading)
			} else {
				sent(errSessionOver)
			}
		}
		return !full
	}
	o.queue = append(o.queue, outMsg{code, msg, sent})
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return true
}

// run sends queued messages until ctx ends or a write fails; then it
// closes the outbox, telling each message still queued, and those pushed
// later, that it was not sent.
func (o *outbox) run(ctx context.Context, w p2p.MsgWriter) {
	var batch []outMsg
	err := errSessionOver
	defer func() {
		o.mu.Lock()
		o.closed = true
		rest := o.queue
		o.queue = nil
		o.mu.Unlock()
		for _, m := range append(batch, rest...) {
			if m.sent != nil {
				m.sent(err)
			}
		}
	}()
	for {
		o.mu.Lock()
		batch, o.queue = o.queue, batch[:0]
		o.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-o.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		for i, m := range batch {
			batch[i] = outMsg{}
			werr := protocol.Send(w, m.code, m.msg)
			if m.sent != nil {
				m.sent(werr)
			}
			if werr != nil {
				err, batch = werr, batch[i+1:]
				return
			}
		}
		batch = batch[:0]
	}
}
