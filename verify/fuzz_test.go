package verify

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/ethereum/go-ethereum/trie/trienode"
	"github.com/ethereum/go-ethereum/triedb"
	"github.com/holiman/uint256"
)

// FuzzAccountIn feeds arbitrary node sets, as a witness carries them, to
// the verification of accounts against a state root. Whatever it accepts
// must be the truth: the account in the state, or absence for an account
// that is not there.
func FuzzAccountIn(f *testing.F) {
	accts := map[common.Address]*types.StateAccount{}
	var addrs []common.Address
	for i := range 40 {
		a := common.Address{byte(i), 7}
		accts[a] = &types.StateAccount{Nonce: uint64(i), Balance: uint256.NewInt(uint64(i) << 40), Root: types.EmptyRootHash, CodeHash: types.EmptyCodeHash.Bytes()}
		addrs = append(addrs, a)
	}
	for i := range 8 {
		addrs = append(addrs, common.Address{byte(i), 9}) // absent
	}
	tr := trie.NewEmpty(triedb.NewDatabase(rawdb.NewMemoryDatabase(), nil))
	for addr, a := range accts {
		enc, _ := rlp.EncodeToBytes(a)
		tr.MustUpdate(crypto.Keccak256(addr[:]), enc)
	}
	root := tr.Hash()
	for i, addr := range addrs {
		var list trienode.ProofList
		if err := tr.Prove(crypto.Keccak256(addr[:]), &list); err != nil {
			f.Fatal(err)
		}
		nodes := make([][]byte, len(list))
		for j, n := range list {
			nodes[j] = n
		}
		enc, _ := rlp.EncodeToBytes(nodes)
		f.Add(byte(i), enc)
		if len(nodes) > 1 {
			enc, _ = rlp.EncodeToBytes(nodes[:len(nodes)-1])
			f.Add(byte(i), enc)
		}
	}
	f.Fuzz(func(t *testing.T, which byte, enc []byte) {
		var nodes [][]byte
		if rlp.DecodeBytes(enc, &nodes) != nil {
			return
		}
		addr := addrs[int(which)%len(addrs)]
		got, err := AccountIn(root, addr, NewNodes(nodes))
		if err != nil {
			return
		}
		want := accts[addr]
		switch {
		case want == nil && got != nil:
			t.Fatalf("absent account %x accepted as %+v", addr, got)
		case want != nil && got == nil:
			t.Fatalf("account %x accepted as absent", addr)
		case want != nil && (got.Nonce != want.Nonce || !got.Balance.Eq(want.Balance)):
			t.Fatalf("account %x accepted as %+v, is %+v", addr, got, want)
		}
	})
}
