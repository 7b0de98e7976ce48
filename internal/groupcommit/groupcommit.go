// Package groupcommit commits writes in groups: every write handed in
// while a commit runs goes into the next commit, so that one fsync (or one
// database transaction) makes many concurrent writes durable at once. The
// ledger stores use it (ledgerdb on Pebble, ledgerpg on PostgreSQL).
package groupcommit

import "sync"

// Committer commits items of type T in groups, in the order they were
// added, on one goroutine of its own.
type Committer[T any] struct {
	commit func([]T) error
	closed error // what Add answers after Close

	mu     sync.Mutex
	queue  []T
	dones  []chan error
	wake   chan struct{}
	quit   chan struct{}
	isShut bool
	loop   sync.WaitGroup
	// Stats.
	commits, items uint64
}

// New starts a committer: commit is called with each group (never
// empty), and its error is every item's of the group. closed is the error
// of Add after Close.
func New[T any](commit func([]T) error, closed error) *Committer[T] {
	c := &Committer[T]{commit: commit, closed: closed, wake: make(chan struct{}, 1), quit: make(chan struct{})}
	c.loop.Add(1)
	go c.run()
	return c
}

// Add queues an item and returns a channel that receives its commit's
// error (nil once it is durable). After Close it queues nothing, and ok
// is false (the channel holds the closed error): the item is the
// caller's to release.
func (c *Committer[T]) Add(item T) (done <-chan error, ok bool) {
	ch := make(chan error, 1)
	c.mu.Lock()
	if c.isShut {
		c.mu.Unlock()
		ch <- c.closed
		return ch, false
	}
	c.queue = append(c.queue, item)
	c.dones = append(c.dones, ch)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return ch, true
}

func (c *Committer[T]) run() {
	defer c.loop.Done()
	for {
		c.mu.Lock()
		queue, dones := c.queue, c.dones
		c.queue, c.dones = nil, nil
		shut := c.isShut
		c.mu.Unlock()
		if len(queue) == 0 {
			if shut {
				return
			}
			select {
			case <-c.wake:
			case <-c.quit:
			}
			continue
		}
		err := c.commit(queue)
		c.mu.Lock()
		if err == nil {
			c.commits++
			c.items += uint64(len(queue))
		}
		c.mu.Unlock()
		for _, d := range dones {
			d <- err
		}
	}
}

// Stats reports the commits made and the items they held (failed commits
// not counted).
func (c *Committer[T]) Stats() (commits, items uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commits, c.items
}

// Close commits what is queued and stops. It is safe to call twice.
func (c *Committer[T]) Close() {
	c.mu.Lock()
	if c.isShut {
		c.mu.Unlock()
		return
	}
	c.isShut = true
	c.mu.Unlock()
	close(c.quit)
	c.loop.Wait()
}
