package devchain

import (
	"context"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/trie/trienode"

	"github.com/lightmarket/lightmarket/internal/testchain"
)

// newDirect is a Direct over a node of the test chain.
func newDirect(t testing.TB) (*Direct, common.Hash) {
	t.Helper()
	c := testchain.Generate(uint64(time.Now().Unix()) - 3600)
	n, err := testchain.NewNode(c, log.NewLogger(log.DiscardHandler()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return NewDirect(n.Eth, n.Stack.Attach()), n.Eth.BlockChain().CurrentBlock().Hash()
}

// TestProofIsGoEthereums: the proofs Direct gives (the nodes its reads
// resolved) are the ones go-ethereum's trie.Prove builds, for accounts
// present and absent and slots set and unset.
func TestProofIsGoEthereums(t *testing.T) {
	d, hash := newDirect(t)
	ctx := context.Background()
	h, err := d.HeaderByHash(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	db := d.eth.BlockChain().TrieDB()
	prove := func(tr *trie.StateTrie, key []byte) [][]byte {
		var list trienode.ProofList
		if err := tr.Prove(crypto.Keccak256(key), &list); err != nil {
			t.Fatal(err)
		}
		out := make([][]byte, len(list))
		for i, n := range list {
			out[i] = n
		}
		return out
	}
	slots := []common.Hash{{}, common.HexToHash("0x01"), common.HexToHash("0x1234")}
	for _, addr := range []common.Address{testchain.Addr1, testchain.Store, testchain.Logger, {}, common.HexToAddress("0x0000F90827F1C53a10cb7A02335B175320002935")} {
		got, err := d.Proof(ctx, hash, addr, slots)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := trie.NewStateTrie(trie.StateTrieID(h.Root), db)
		if err != nil {
			t.Fatal(err)
		}
		if want := prove(tr, addr[:]); !slices.EqualFunc(got.Account, want, slices.Equal) {
			t.Errorf("account %x: proof of %d nodes, go-ethereum's %d", addr, len(got.Account), len(want))
		}
		acct, err := tr.GetAccount(addr)
		if err != nil {
			t.Fatal(err)
		}
		for i, slot := range slots {
			want := [][]byte{}
			if acct != nil && acct.Root != types.EmptyRootHash {
				st, err := trie.NewStateTrie(trie.StorageTrieID(h.Root, crypto.Keccak256Hash(addr[:]), acct.Root), db)
				if err != nil {
					t.Fatal(err)
				}
				want = prove(st, slot[:])
			}
			if !slices.EqualFunc(got.Storage[i], want, slices.Equal) {
				t.Errorf("account %x, slot %x: proof of %d nodes, go-ethereum's %d", addr, slot, len(got.Storage[i]), len(want))
			}
		}
	}
}

// BenchmarkProofOfANewAccount: the proof of an account that does not
// exist, a new one each time (what a wallet's first balance asks).
func BenchmarkProofOfANewAccount(b *testing.B) {
	d, hash := newDirect(b)
	ctx := context.Background()
	var i int64
	for b.Loop() {
		i++
		if _, err := d.Proof(ctx, hash, common.BigToAddress(big.NewInt(i)), nil); err != nil {
			b.Fatal(err)
		}
	}
}
