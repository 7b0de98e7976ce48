package devnet

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/server"
)

var quiet = log.NewLogger(log.DiscardHandler())

// newChain starts a dev chain that seals only when the test commits.
func newChain(t *testing.T) *devchain.Chain {
	t.Helper()
	c, err := devchain.New(devchain.Config{BlockTime: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// diverge makes c's next block differ from any other dev chain's by
// including a transfer to a recipient of its own.
func diverge(t *testing.T, c *devchain.Chain, tag byte) {
	t.Helper()
	ec := ethclient.NewClient(c.RPCClient())
	ctx := context.Background()
	key := c.DevKey()
	nonce, err := ec.PendingNonceAt(ctx, crypto.PubkeyToAddress(key.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.ChainConfig()
	tx := types.MustSignNewTx(key, types.LatestSignerForChainID(cfg.ChainID), &types.DynamicFeeTx{
		ChainID: cfg.ChainID, Nonce: nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: new(big.Int).Add(big.NewInt(1e9), new(big.Int).Mul(head.BaseFee, big.NewInt(2))),
		Gas: 21000, To: &common.Address{tag}, Value: big.NewInt(1),
	})
	if err := ec.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	c.Commit()
}

func newServer(t *testing.T, c *devchain.Chain) *server.Server {
	t.Helper()
	return newServerWith(t, c, server.Config{})
}

// newServerWith starts a server on c with cfg's capacity settings.
func newServerWith(t *testing.T, c *devchain.Chain, cfg server.Config) *server.Server {
	t.Helper()
	backend, err := c.Backend(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.GenerateKey()
	cfg.Backend, cfg.ChainConfig, cfg.PrivateKey, cfg.Logger = backend, c.ChainConfig(), key, quiet
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func newClient(t *testing.T, fraction int, servers ...*server.Server) *client.Client {
	t.Helper()
	var trusted []*enode.Node
	for _, s := range servers {
		trusted = append(trusted, s.Enode())
	}
	c, err := client.New(client.Config{ChainConfig: devchain.ChainConfig(), Trusted: trusted, Fraction: fraction, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// waitFor waits until the client's head is the header with hash want.
func waitFor(t *testing.T, c *client.Client, want common.Hash) {
	t.Helper()
	heads := make(chan *types.Header, 16)
	sub := c.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	timeout := time.After(10 * time.Second)
	for h := c.Head(); h == nil || h.Hash() != want; {
		select {
		case h = <-heads:
		case <-timeout:
			got := "none"
			if h := c.Head(); h != nil {
				got = h.Number.String()
			}
			t.Fatalf("client never accepted head %x (has %s)", want, got)
		}
	}
}

func headHash(t *testing.T, c *devchain.Chain) common.Hash {
	t.Helper()
	h, err := ethclient.NewClient(c.RPCClient()).HeaderByNumber(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return h.Hash()
}

func TestLyingServerNeverMovesHead(t *testing.T) {
	honest, other := newChain(t), newChain(t)
	diverge(t, other, 0xbb) // the liar's chain: same genesis, other blocks
	c := newClient(t, 67, newServer(t, honest), newServer(t, honest), newServer(t, other))

	heads := make(chan *types.Header, 64)
	sub := c.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	for range 3 {
		honest.Commit()
		other.Commit()
		waitFor(t, c, headHash(t, honest))
	}
	honestEC := ethclient.NewClient(honest.RPCClient())
	for len(heads) > 0 {
		h := <-heads
		want, err := honestEC.HeaderByNumber(context.Background(), h.Number)
		if err != nil || want.Hash() != h.Hash() {
			t.Fatalf("client accepted head %d %x that is not on the honest chain", h.Number, h.Hash())
		}
	}
	info := c.HeadStatus()
	if info.Signers != 2 || info.Needed != 2 || info.Trusted != 3 {
		t.Errorf("head info = %+v, want 2 of 3 signers, 2 needed", info)
	}
	// Its data still comes from the honest chain.
	st, err := c.State(context.Background(), c.Head(), common.Address{0xbb}, nil)
	if err != nil || st.Balance().Sign() != 0 {
		t.Errorf("balance of the liar's recipient = %v, %v; want 0 on the honest chain", st.Balance(), err)
	}
}

func TestTwoColludingServersMoveHead(t *testing.T) {
	honest, other := newChain(t), newChain(t)
	diverge(t, other, 0xbb)
	c := newClient(t, 67, newServer(t, honest), newServer(t, other), newServer(t, other))
	other.Commit()
	// Two of three is 67 %: the threshold is met exactly.
	waitFor(t, c, headHash(t, other))
}

func TestOneOfThreeIsNotEnoughAtSixtyEight(t *testing.T) {
	a, b := newChain(t), newChain(t)
	diverge(t, b, 0xbb)
	c := newClient(t, 68, newServer(t, a), newServer(t, a), newServer(t, b))
	a.Commit()
	// Wait until every server's announcement of its block 2 has been handled.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for announced := 0; announced < 3; {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("announcements not handled")
		}
		announced = 0
		for _, s := range c.Servers() {
			if s.Head >= 1 {
				announced++
			}
		}
	}
	// 2 of 3 (67 %) is below 68 %: no head at all.
	if h := c.Head(); h != nil {
		t.Fatalf("head %d accepted with 2 of 3 signers at fraction 68", h.Number)
	}
}

func TestReorgIsFollowed(t *testing.T) {
	ch := newChain(t)
	c := newClient(t, 67, newServer(t, ch), newServer(t, ch), newServer(t, ch))
	ec := ethclient.NewClient(ch.RPCClient())
	for range 3 {
		ch.Commit()
	}
	waitFor(t, c, headHash(t, ch))
	ancestor, err := ec.HeaderByNumber(context.Background(), big.NewInt(2))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := c.HeaderByNumber(context.Background(), 3)

	// Fork at block 2 with a different block 3.
	if err := ch.Fork(ancestor.Hash()); err != nil {
		t.Fatal(err)
	}
	diverge(t, ch, 0xdd)
	waitFor(t, c, headHash(t, ch))
	h3, err := c.HeaderByNumber(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ec.HeaderByNumber(context.Background(), big.NewInt(3))
	if h3.Hash() != want.Hash() || h3.Hash() == old.Hash() {
		t.Fatalf("block 3 after the reorg = %x, want the fork's %x (old %x)", h3.Hash(), want.Hash(), old.Hash())
	}
	st, err := c.State(context.Background(), c.Head(), common.Address{0xdd}, nil)
	if err != nil || st.Balance().Cmp(big.NewInt(1)) != 0 {
		t.Errorf("state after the reorg: balance %v, %v; want 1", st.Balance(), err)
	}
}
