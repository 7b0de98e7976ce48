package devbeacon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ctypes "github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/log"
)

// Execution is what a Node reads of the execution chain it follows.
type Execution interface {
	CurrentHeader(ctx context.Context) (*ctypes.Header, error)
	HeaderByNumber(ctx context.Context, number uint64) (*ctypes.Header, error)
	Body(ctx context.Context, hash common.Hash) (*ctypes.Body, error)
	SubscribeHeads(ctx context.Context, ch chan<- *ctypes.Header) (unsubscribe func(), err error)
}

// Node is a dev consensus layer following an execution chain (which must
// not reorganise, as a devnet's does not) and serving the beacon API on
// HTTP.
type Node struct {
	api    *API
	srv    *http.Server
	ln     net.Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NodeConfig configures a Node.
type NodeConfig struct {
	Addr string // HTTP listen address, as 127.0.0.1:5052
	// Seed derives the committee's keys and GenesisValidatorsRoot the
	// signature domain: a client is configured with the latter.
	Seed                  string
	GenesisValidatorsRoot common.Hash
	Logger                log.Logger
}

// StartNode builds the beacon chain of every block exec has, then follows
// its new heads.
func StartNode(ctx context.Context, exec Execution, cfg NodeConfig) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = log.Root()
	}
	committee, err := NewCommittee(cfg.Seed)
	if err != nil {
		return nil, err
	}
	n := &Node{api: NewAPI(NewChain(Config(cfg.GenesisValidatorsRoot), committee))}
	// The node follows the chain until Close, whatever ctx (which bounds
	// only the start) does.
	fctx, cancel := context.WithCancel(context.Background())
	heads := make(chan *ctypes.Header, 16)
	unsub, err := exec.SubscribeHeads(fctx, heads)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("devbeacon: following heads: %w", err)
	}
	fail := func(err error) (*Node, error) {
		unsub()
		cancel()
		return nil, fmt.Errorf("devbeacon: %w", err)
	}
	head, err := exec.CurrentHeader(ctx)
	if err == nil {
		err = n.catchUp(ctx, exec, head.Number.Uint64())
	}
	if err != nil {
		return fail(err)
	}
	if n.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return fail(err)
	}
	n.srv = &http.Server{Handler: n.api, ReadHeaderTimeout: 5 * time.Second}
	n.cancel = cancel
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.srv.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("Beacon API stopped", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		defer unsub()
		for {
			select {
			case h := <-heads:
				if err := n.catchUp(fctx, exec, h.Number.Uint64()); err != nil {
					cfg.Logger.Warn("Dev consensus layer cannot follow the chain", "number", h.Number, "err", err)
				}
			case <-fctx.Done():
				return
			}
		}
	}()
	return n, nil
}

// catchUpBatch is how many blocks catching up adds at once; only the last
// of a batch is signed.
const catchUpBatch = 1024

// catchUp adds the blocks up to number not added yet.
func (n *Node) catchUp(ctx context.Context, exec Execution, number uint64) error {
	for {
		n.api.mu.Lock()
		next := uint64(len(n.api.chain.blocks))
		n.api.mu.Unlock()
		if next > number {
			return nil
		}
		var batch []*ctypes.Block
		for ; next <= number && len(batch) < catchUpBatch; next++ {
			h, err := exec.HeaderByNumber(ctx, next)
			if err != nil {
				return fmt.Errorf("execution block %d: %w", next, err)
			}
			body, err := exec.Body(ctx, h.Hash())
			if err != nil {
				return fmt.Errorf("execution block %d's body: %w", next, err)
			}
			batch = append(batch, ctypes.NewBlockWithHeader(h).WithBody(*body))
		}
		if err := n.api.AddBlocks(batch); err != nil {
			return err
		}
	}
}

// URL is the beacon API's address.
func (n *Node) URL() string { return "http://" + n.ln.Addr().String() }

// Genesis is the root of the beacon header at slot 0, a checkpoint a
// client may start from.
func (n *Node) Genesis() common.Hash {
	n.api.mu.Lock()
	defer n.api.mu.Unlock()
	return n.api.chain.blocks[0].header.Hash()
}

// Close stops serving and following.
func (n *Node) Close() {
	n.cancel()
	n.srv.Close()
	n.wg.Wait()
}
