package groupcommit

import (
	"errors"
	"slices"
	"sync"
	"testing"
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
