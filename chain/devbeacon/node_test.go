package devbeacon

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ctypes "github.com/ethereum/go-ethereum/core/types"
)

// fakeExec is an execution chain whose head moves when the test says.
type fakeExec struct {
	mu      sync.Mutex
	headers []*ctypes.Header
	head    int
	subs    []chan<- *ctypes.Header
	subCtx  []context.Context
}

func (f *fakeExec) CurrentHeader(context.Context) (*ctypes.Header, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.headers[f.head], nil
}

func (f *fakeExec) HeaderByNumber(_ context.Context, n uint64) (*ctypes.Header, error) {
	return f.headers[n], nil
}

func (f *fakeExec) Body(context.Context, common.Hash) (*ctypes.Body, error) {
	return &ctypes.Body{}, nil
}

func (f *fakeExec) SubscribeHeads(ctx context.Context, ch chan<- *ctypes.Header) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs, f.subCtx = append(f.subs, ch), append(f.subCtx, ctx)
	return func() {}, nil
}

func (f *fakeExec) advance() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.head++
	for i, ch := range f.subs {
		if f.subCtx[i].Err() == nil {
			ch <- f.headers[f.head]
		}
	}
}

// The node follows the chain after the context it was started with ends.
func TestNodeFollowsAfterItsStartContext(t *testing.T) {
	exec := &fakeExec{headers: execChain(10)}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := StartNode(ctx, exec, NodeConfig{Addr: "127.0.0.1:0", Seed: "test", GenesisValidatorsRoot: common.Hash{3}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cancel()
	exec.advance()
	exec.advance()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n.api.mu.Lock()
		head, _ := n.api.chain.Head()
		n.api.mu.Unlock()
		if head.Slot == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("head at slot %d after the chain moved to 2", head.Slot)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
