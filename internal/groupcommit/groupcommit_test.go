package groupcommit

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestGroupsInOrderAndErrorsReachEveryItem(t *testing.T) {
	var (
		mu        sync.Mutex
		committed []int
		entered   = make(chan struct{})
		block     = make(chan struct{})
		first     = true
	)
	errOdd := errors.New("odd group")
	c := New(func(group []int) error {
		if first {
			first = false
			close(entered)
			<-block // the first commit runs while the others queue
		}
		mu.Lock()
		defer mu.Unlock()
		committed = append(committed, group...)
		if len(group) > 1 && group[0]%2 == 1 {
			return errOdd
		}
		return nil
	}, errors.New("closed"))
	d0, _ := c.Add(0)
	<-entered
	var dones []<-chan error
	for i := 1; i <= 10; i++ {
		d, ok := c.Add(i)
		if !ok {
			t.Fatal("Add refused before Close")
		}
		dones = append(dones, d)
	}
	close(block)
	if err := <-d0; err != nil {
		t.Fatal(err)
	}
	for i, d := range dones {
		if err := <-d; !errors.Is(err, errOdd) {
			t.Errorf("item %d of the failed group: %v, want the group's error", i+1, err)
		}
	}
	if !slices.Equal(committed, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("committed %v, want every item in order", committed)
	}
	if commits, items := c.Stats(); commits != 1 || items != 1 {
		t.Fatalf("stats %d commits of %d items, want the one successful commit of 1", commits, items)
	}
	c.Close()
	c.Close()
	d, ok := c.Add(11)
	if err := <-d; ok || err == nil || err.Error() != "closed" {
		t.Fatalf("Add after Close: ok %v, %v", ok, err)
	}
}

// TestHoldingGathersConcurrentWrites: after a commit of several items the
// committer waits before the next group, so writes that arrive meanwhile
// share it; a lone writer, whose commits hold one item, is never held.
func TestHoldingGathersConcurrentWrites(t *testing.T) {
	const hold = 200 * time.Millisecond
	var (
		mu     sync.Mutex
		groups [][]int
	)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	blocking := true
	c := NewHolding(func(group []int) error {
		mu.Lock()
		groups = append(groups, slices.Clone(group))
		b := blocking
		mu.Unlock()
		if b {
			entered <- struct{}{}
			<-release
		}
		return nil
	}, errors.New("closed"), hold)
	defer c.Close()
	// 0 commits alone while 1 and 2 queue: they commit together.
	d0, _ := c.Add(0)
	<-entered
	d1, _ := c.Add(1)
	d2, _ := c.Add(2)
	release <- struct{}{}
	<-d0
	<-entered
	mu.Lock()
	blocking = false
	mu.Unlock()
	release <- struct{}{}
	<-d1
	<-d2
	// That commit held two: the next waits, and 3 and 4, added apart
	// within the hold, commit together.
	d3, _ := c.Add(3)
	time.Sleep(hold / 4)
	d4, _ := c.Add(4)
	<-d3
	<-d4
	mu.Lock()
	got := slices.Clone(groups)
	mu.Unlock()
	if want := [][]int{{0}, {1, 2}, {3, 4}}; !slices.EqualFunc(got, want, slices.Equal[[]int]) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	// A lone writer: one item a commit, none held.
	time.Sleep(3 * hold) // past the waits after {3, 4}
	start := time.Now()
	for i := range 5 {
		d, _ := c.Add(10 + i)
		if err := <-d; err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took >= hold {
		t.Fatalf("five lone writes took %v: held", took)
	}
}
