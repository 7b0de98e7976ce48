package longchain

import (
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/log"
)

func TestGenerateAndImport(t *testing.T) {
	start := time.Now()
	c := Generate(5000, 1000)
	gen := time.Since(start)
	n, err := NewNode(c, log.NewLogger(log.DiscardHandler()))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if head := n.Eth.BlockChain().CurrentHeader().Number.Uint64(); head != 5000 {
		t.Fatalf("head %d", head)
	}
	if len(c.Events) != 5 || c.Events[0] != 1000 {
		t.Fatalf("events %v", c.Events)
	}
	t.Logf("5000 blocks: generated in %v, imported in %v", gen, time.Since(start)-gen)
}
