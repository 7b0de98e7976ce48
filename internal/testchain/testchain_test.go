package testchain

import (
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
)

func TestChainWalksTheForks(t *testing.T) {
	c := Generate(uint64(time.Now().Unix()) - 10*Blocks)
	n, err := NewNode(c, log.NewLogger(log.DiscardHandler()))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	bc := n.Eth.BlockChain()
	if got := bc.CurrentBlock().Number.Uint64(); got != Blocks {
		t.Fatalf("head %d, want %d", got, Blocks)
	}
	for _, num := range c.UncleBlocks {
		if len(c.Block(num).Uncles()) == 0 {
			t.Errorf("block %d has no uncles", num)
		}
	}
	if d := c.Block(MergeBlock - 1).Difficulty(); d.Sign() == 0 {
		t.Error("last proof-of-work block has no difficulty")
	}
	if d := c.Block(MergeBlock).Difficulty(); d.Sign() != 0 {
		t.Error("first proof-of-stake block has difficulty")
	}
	for _, typ := range []byte{types.LegacyTxType, types.AccessListTxType, types.DynamicFeeTxType, types.BlobTxType, types.SetCodeTxType} {
		if len(c.TxsByType[typ]) == 0 {
			t.Errorf("no transaction of type %d", typ)
		}
	}
	size := 0
	for _, r := range c.Receipts[BigReceiptsBlock-1] {
		if r.Status != types.ReceiptStatusSuccessful {
			t.Errorf("big logger transaction failed: %+v", r)
		}
		for _, l := range r.Logs {
			size += len(l.Data)
		}
	}
	if size <= 10<<20 {
		t.Errorf("big receipts block holds %d bytes of logs, want over 10 MiB", size)
	}
	statuses := make(map[uint64]int)
	for _, rs := range c.Receipts {
		for _, r := range rs {
			statuses[r.Status]++
		}
	}
	if statuses[0] != len(c.Reverted) {
		t.Errorf("%d failed receipts, want %d", statuses[0], len(c.Reverted))
	}
	st, err := bc.State()
	if err != nil {
		t.Fatal(err)
	}
	d := c.Patterns
	for _, a := range append(d.Tokens[:], d.Pool, d.Counter, d.Proxy, d.Factory, d.Balances) {
		if len(st.GetCode(a)) == 0 {
			t.Errorf("no contract at %x", a)
		}
	}
	counter := crypto.CreateAddress2(d.Factory, d.Salt, crypto.Keccak256(patterns["Counter"].Bin))
	if len(st.GetCode(counter)) == 0 {
		t.Errorf("the factory deployed no counter at %x", counter)
	}
	t.Logf("%d blocks, statuses %v, uncles in %v, big receipts %d bytes of log data", len(c.Blocks), statuses, c.UncleBlocks, size)
}
