package server

import (
	"container/heap"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/protocol"
)

// scheduler serves requests on a bounded pool of workers from one priority
// queue: paid clients' requests first, then free clients', each in arrival
// order; one of several workers is kept for paid requests. When the queued work passes what the workers can serve in
// overloadWindow, the server stops the free client with the most queued
// work, and resumes stopped clients once the queue has drained and they
// have rested for resumeAfter.
type scheduler struct {
	s       *Server
	mu      sync.Mutex
	anyJob  *sync.Cond // wakes a worker that serves everyone
	paidJob *sync.Cond // wakes the worker kept for paid requests
	queue   jobHeap
	seq     uint64
	queued  uint64 // maximum cost of the queued jobs
	perPeer map[*peer]uint64
	stopped map[*peer]mclock.AbsTime
	closed  bool
	quit    chan struct{}
	wg      sync.WaitGroup
}

// overloadWindow is how much queued work (in serving time across all
// workers) makes the server stop clients; resumeAfter is the least time a
// client stays stopped.
const (
	overloadWindow = 200 * time.Millisecond
	resumeAfter    = time.Second
)

type job struct {
	peer *peer
	paid bool
	seq  uint64
	cost uint64
	run  func()
}

func newScheduler(s *Server, workers int) *scheduler {
	sc := &scheduler{s: s, perPeer: make(map[*peer]uint64), stopped: make(map[*peer]mclock.AbsTime), quit: make(chan struct{})}
	sc.anyJob, sc.paidJob = sync.NewCond(&sc.mu), sync.NewCond(&sc.mu)
	// One worker (when there are several) serves only paid clients, so that
	// a flood of free requests never takes every worker.
	for i := range workers {
		sc.wg.Add(1)
		go sc.work(workers > 1 && i == 0)
	}
	sc.wg.Add(1)
	go func() {
		defer sc.wg.Done()
		tick := time.NewTicker(resumePoll)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				sc.resumeReady()
			case <-sc.quit:
				return
			}
		}
	}()
	return sc
}

// threshold is the queued cost that counts as overload: overloadWindow of
// serving on every worker, in cost units (ns).
func (sc *scheduler) threshold() uint64 {
	return uint64(sc.s.cfg.Workers) * uint64(overloadWindow.Nanoseconds())
}

// submit queues a request's serving. It may stop a free client.
func (sc *scheduler) submit(p *peer, paid bool, cost uint64, run func()) {
	sc.mu.Lock()
	sc.seq++
	heap.Push(&sc.queue, &job{peer: p, paid: paid, seq: sc.seq, cost: cost, run: run})
	sc.queued += cost
	sc.perPeer[p] += cost
	var stop *peer
	if sc.queued > sc.threshold() {
		stop = sc.pickVictim()
		if stop != nil {
			sc.stopped[stop] = sc.s.cfg.Clock.Now()
		}
	}
	sc.mu.Unlock()
	// One waiting worker per job: a general one, and for a paid job the
	// paid-only one too (whichever is idle takes it).
	sc.anyJob.Signal()
	if paid {
		sc.paidJob.Signal()
	}
	if stop != nil {
		stop.log.Debug("Server overloaded: stopping client")
		sc.s.cfg.Metrics.Violations.WithLabelValues("stopped_for_overload").Inc()
		stop.send(protocol.StopMsg, &protocol.Stop{})
	}
}

// pickVictim is the free, not yet stopped client with the most queued work.
func (sc *scheduler) pickVictim() *peer {
	var victim *peer
	var most uint64
	for p, c := range sc.perPeer {
		if _, ok := sc.stopped[p]; ok || sc.s.isPaid(p) {
			continue
		}
		if c > most {
			victim, most = p, c
		}
	}
	return victim
}

func (sc *scheduler) work(paidOnly bool) {
	defer sc.wg.Done()
	for {
		sc.mu.Lock()
		for (len(sc.queue) == 0 || (paidOnly && !sc.queue[0].paid)) && !sc.closed {
			if paidOnly {
				sc.paidJob.Wait()
			} else {
				sc.anyJob.Wait()
			}
		}
		if sc.closed {
			sc.mu.Unlock()
			return
		}
		j := heap.Pop(&sc.queue).(*job)
		sc.queued -= j.cost
		if sc.perPeer[j.peer] -= j.cost; sc.perPeer[j.peer] == 0 {
			delete(sc.perPeer, j.peer)
		}
		sc.mu.Unlock()
		j.run()
	}
}

// resumePoll is how often stopped clients are considered for resuming.
const resumePoll = 100 * time.Millisecond

// resumeReady resumes stopped clients once the queue is below half the
// threshold, they have rested long enough and their buffer has recovered
// to an eighth of its limit (as in LES).
func (sc *scheduler) resumeReady() {
	now := sc.s.cfg.Clock.Now()
	sc.mu.Lock()
	var resume []*peer
	if sc.queued < sc.threshold()/2 {
		for p, at := range sc.stopped {
			if time.Duration(now-at) >= resumeAfter && p.recovered() {
				resume = append(resume, p)
				delete(sc.stopped, p)
			}
		}
	}
	sc.mu.Unlock()
	for _, p := range resume {
		p.mu.Lock()
		bv := p.buf.Value()
		p.mu.Unlock()
		p.send(protocol.ResumeMsg, &protocol.Resume{BV: bv})
	}
}

// recovered reports whether the client's buffer holds an eighth of its
// limit.
func (p *peer) recovered() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Value() >= p.buf.Params().BufLimit/8
}

// forget drops a departed client's bookkeeping.
func (sc *scheduler) forget(p *peer) {
	sc.mu.Lock()
	delete(sc.stopped, p)
	sc.mu.Unlock()
}

// stopped reports how many clients are stopped.
func (sc *scheduler) stoppedCount() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return len(sc.stopped)
}

func (sc *scheduler) close() {
	sc.mu.Lock()
	if sc.closed {
		sc.mu.Unlock()
		return
	}
	sc.closed = true
	close(sc.quit)
	sc.mu.Unlock()
	sc.anyJob.Broadcast()
	sc.paidJob.Broadcast()
	sc.wg.Wait()
}

// jobHeap orders jobs: paid first, then by arrival.
type jobHeap []*job

func (h jobHeap) Len() int { return len(h) }
func (h jobHeap) Less(i, j int) bool {
	if h[i].paid != h[j].paid {
		return h[i].paid
	}
	return h[i].seq < h[j].seq
}
func (h jobHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)   { *h = append(*h, x.(*job)) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	*h = old[:len(old)-1]
	return j
}

// stoppedIDs lists the clients stopped for overload.
func (sc *scheduler) stoppedIDs() map[enode.ID]bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	out := make(map[enode.ID]bool, len(sc.stopped))
	for p := range sc.stopped {
		out[p.ID()] = true
	}
	return out
}
