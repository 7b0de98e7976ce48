package verify

import (
	"bytes"
	"errors"
	"math/big"
	"slices"
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

// testTrie builds a secure trie (keys hashed) from key/value pairs and
// returns its root and a prover.
func testTrie(t *testing.T, kv map[common.Hash][]byte) (common.Hash, func(key []byte) [][]byte) {
	t.Helper()
	tr := trie.NewEmpty(triedb.NewDatabase(rawdb.NewMemoryDatabase(), nil))
	for k, v := range kv {
		if err := tr.Update(crypto.Keccak256(k[:]), v); err != nil {
			t.Fatal(err)
		}
	}
	root := tr.Hash()
	return root, func(key []byte) [][]byte {
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
}

func TestAccountProof(t *testing.T) {
	accts := map[common.Address]*types.StateAccount{}
	for i := range 50 {
		accts[common.Address{byte(i), 1}] = &types.StateAccount{Nonce: uint64(i), Balance: uint256.NewInt(uint64(i) * 1000), Root: types.EmptyRootHash, CodeHash: types.EmptyCodeHash.Bytes()}
	}
	tr := trie.NewEmpty(triedb.NewDatabase(rawdb.NewMemoryDatabase(), nil))
	for addr, a := range accts {
		enc, _ := rlp.EncodeToBytes(a)
		tr.MustUpdate(crypto.Keccak256(addr[:]), enc)
	}
	root := tr.Hash()
	prove := func(addr common.Address) [][]byte {
		var list trienode.ProofList
		if err := tr.Prove(crypto.Keccak256(addr[:]), &list); err != nil {
			t.Fatal(err)
		}
		out := make([][]byte, len(list))
		for i, n := range list {
			out[i] = n
		}
		return out
	}
	present := common.Address{7, 1}
	absent := common.Address{0xff, 0xee}
	tampered := prove(present)
	last := append([]byte{}, tampered[len(tampered)-1]...)
	last[len(last)-1] ^= 1
	tampered[len(tampered)-1] = last

	tests := []struct {
		name    string
		root    common.Hash
		addr    common.Address
		proof   [][]byte
		want    *types.StateAccount
		wantErr error
	}{
		{"present", root, present, prove(present), accts[present], nil},
		{"absent", root, absent, prove(absent), nil, nil},
		{"tampered leaf", root, present, tampered, nil, ErrAccountProof},
		{"proof of another account", root, present, prove(common.Address{8, 1}), nil, ErrAccountProof},
		{"wrong root", common.Hash{1}, present, prove(present), nil, ErrAccountProof},
		{"empty proof", root, present, nil, nil, ErrAccountProof},
		{"empty state", types.EmptyRootHash, present, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Account(tt.root, tt.addr, tt.proof)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if Kind(err) != "account_proof" {
					t.Errorf("Kind = %q", Kind(err))
				}
				return
			}
			if (got == nil) != (tt.want == nil) || (got != nil && (got.Nonce != tt.want.Nonce || got.Balance.Cmp(tt.want.Balance) != 0)) {
				t.Errorf("account = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStorageProof(t *testing.T) {
	slot := common.Hash{31: 5}
	value := common.Hash{31: 0x2a}
	enc, _ := rlp.EncodeToBytes(common.TrimLeftZeroes(value[:]))
	root, prove := testTrie(t, map[common.Hash][]byte{slot: enc, {31: 6}: enc})
	got, err := Storage(root, slot, prove(slot[:]))
	if err != nil || got != value {
		t.Fatalf("Storage = %x, %v; want %x", got, err, value)
	}
	empty := common.Hash{31: 9}
	if got, err := Storage(root, empty, prove(empty[:])); err != nil || got != (common.Hash{}) {
		t.Fatalf("empty slot = %x, %v", got, err)
	}
	if _, err := Storage(common.Hash{2}, slot, prove(slot[:])); !errors.Is(err, ErrStorageProof) {
		t.Fatalf("wrong root: err = %v", err)
	}
}

// TestHashNodes: the hashes HashNodes returns are the nodes' own, and the
// set it builds proves what the proof proves, and nothing once a node is
// changed.
func TestHashNodes(t *testing.T) {
	slot := common.Hash{31: 5}
	enc, _ := rlp.EncodeToBytes([]byte{0x2a})
	root, prove := testTrie(t, map[common.Hash][]byte{slot: enc, {31: 6}: enc, {31: 7}: enc})
	proof := prove(slot[:])
	set, hashes := HashNodes(proof)
	if len(hashes) != len(proof) || len(proof) < 2 {
		t.Fatalf("%d hashes of %d nodes", len(hashes), len(proof))
	}
	for i, n := range proof {
		if hashes[i] != crypto.Keccak256Hash(n) {
			t.Errorf("hash %d is not its node's", i)
		}
	}
	if got, err := StorageIn(root, slot, set); err != nil || got != (common.Hash{31: 0x2a}) {
		t.Fatalf("StorageIn = %x, %v", got, err)
	}
	bad := slices.Clone(proof)
	bad[len(bad)-1] = append(slices.Clone(bad[len(bad)-1]), 0)
	set, _ = HashNodes(bad)
	if _, err := StorageIn(root, slot, set); !errors.Is(err, ErrStorageProof) {
		t.Fatalf("changed node: err = %v", err)
	}
}

func TestBodyAndReceiptsRoots(t *testing.T) {
	key, _ := crypto.GenerateKey()
	signer := types.LatestSignerForChainID(big.NewInt(1))
	var txs []*types.Transaction
	var receipts types.Receipts
	for i := range 3 {
		tx := types.MustSignNewTx(key, signer, &types.DynamicFeeTx{ChainID: big.NewInt(1), Nonce: uint64(i), Gas: 21000, GasFeeCap: big.NewInt(1), To: &common.Address{1}})
		txs = append(txs, tx)
		receipts = append(receipts, &types.Receipt{Type: types.DynamicFeeTxType, Status: 1, CumulativeGasUsed: uint64(21000 * (i + 1)), Logs: []*types.Log{}})
	}
	for _, r := range receipts {
		r.Bloom = types.CreateBloom(r)
	}
	withdrawals := []*types.Withdrawal{{Index: 1, Validator: 2, Address: common.Address{3}, Amount: 4}}
	header := &types.Header{Number: big.NewInt(10), Difficulty: new(big.Int)}
	block := types.NewBlock(header, &types.Body{Transactions: txs, Withdrawals: withdrawals}, receipts, trie.NewStackTrie(nil))
	h := block.Header()

	if err := Body(h, block.Body()); err != nil {
		t.Fatalf("Body: %v", err)
	}
	if err := Receipts(h, receipts); err != nil {
		t.Fatalf("Receipts: %v", err)
	}
	tests := []struct {
		name string
		body *types.Body
		want error
	}{
		{"missing tx", &types.Body{Transactions: txs[:2], Withdrawals: withdrawals}, ErrTxRoot},
		{"reordered txs", &types.Body{Transactions: []*types.Transaction{txs[1], txs[0], txs[2]}, Withdrawals: withdrawals}, ErrTxRoot},
		{"extra uncle", &types.Body{Transactions: txs, Uncles: []*types.Header{header}, Withdrawals: withdrawals}, ErrUncleHash},
		{"no withdrawals", &types.Body{Transactions: txs}, ErrWithdrawalsRoot},
		{"other withdrawals", &types.Body{Transactions: txs, Withdrawals: []*types.Withdrawal{{Index: 9}}}, ErrWithdrawalsRoot},
		{"nil body", nil, ErrTxRoot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Body(h, tt.body); !errors.Is(err, tt.want) {
				t.Errorf("Body = %v, want %v", err, tt.want)
			}
		})
	}
	bad := append(types.Receipts{}, receipts...)
	r0 := *bad[0]
	r0.Status = 0
	bad[0] = &r0
	if err := Receipts(h, bad); !errors.Is(err, ErrReceiptsRoot) || Kind(err) != "receipts_root" {
		t.Errorf("tampered receipts: %v", err)
	}
	if _, err := TxInBody(block.Body(), 1, txs[1].Hash()); err != nil {
		t.Errorf("TxInBody: %v", err)
	}
	if _, err := TxInBody(block.Body(), 1, txs[2].Hash()); !errors.Is(err, ErrTxInclusion) {
		t.Errorf("TxInBody wrong index: %v", err)
	}
	if _, err := TxInBody(block.Body(), 3, txs[2].Hash()); !errors.Is(err, ErrTxInclusion) {
		t.Errorf("TxInBody out of range: %v", err)
	}
}

func TestHeaderChecks(t *testing.T) {
	parent := &types.Header{Number: big.NewInt(1), Difficulty: new(big.Int)}
	child := &types.Header{Number: big.NewInt(2), ParentHash: parent.Hash(), Difficulty: new(big.Int)}
	if err := Header(child, child.Hash()); err != nil {
		t.Fatal(err)
	}
	if err := Header(child, parent.Hash()); !errors.Is(err, ErrHeaderHash) {
		t.Fatalf("wrong hash: %v", err)
	}
	if err := Parent(child, parent); err != nil {
		t.Fatal(err)
	}
	if err := Parent(parent, child); !errors.Is(err, ErrHeaderChain) {
		t.Fatalf("reversed: %v", err)
	}
	gap := &types.Header{Number: big.NewInt(5), ParentHash: parent.Hash(), Difficulty: new(big.Int)}
	if err := Parent(gap, parent); !errors.Is(err, ErrHeaderChain) {
		t.Fatalf("number gap: %v", err)
	}
	if err := Code(crypto.Keccak256Hash([]byte{1, 2}), []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := Code(crypto.Keccak256Hash([]byte{1, 2}), []byte{1, 3}); !errors.Is(err, ErrCodeHash) {
		t.Fatalf("code: %v", err)
	}
}

// receiptPart returns the receipt trie nodes proving receipts start to
// start+count-1, as a server sends them.
func receiptPart(t *testing.T, rs types.Receipts, start, count int) (common.Hash, [][]byte) {
	t.Helper()
	tr := trie.NewEmpty(triedb.NewDatabase(rawdb.NewMemoryDatabase(), nil))
	key := func(i int) []byte { k, _ := rlp.EncodeToBytes(uint(i)); return k }
	for i := range rs {
		var buf bytes.Buffer
		rs.EncodeIndex(i, &buf)
		tr.MustUpdate(key(i), buf.Bytes())
	}
	set := trienode.NewProofSet()
	for i := start; i < start+count; i++ {
		tr.Prove(key(i), set)
	}
	return tr.Hash(), set.List()
}

func TestReceiptsPart(t *testing.T) {
	var rs types.Receipts
	for i := range 300 {
		rs = append(rs, &types.Receipt{Type: types.DynamicFeeTxType, Status: 1, CumulativeGasUsed: uint64(21000 * (i + 1)), Logs: []*types.Log{{Address: common.Address{byte(i)}, Data: []byte{byte(i)}}}})
	}
	if root, _ := receiptPart(t, rs, 0, 1); root != types.DeriveSha(rs, trie.NewStackTrie(nil)) {
		t.Fatal("test trie root differs from DeriveSha")
	}
	h := &types.Header{Number: big.NewInt(7), ReceiptHash: types.DeriveSha(rs, trie.NewStackTrie(nil))}
	// Parts across the boundaries of the key lengths (index 0, 127/128,
	// 255/256 are keys of different lengths).
	for _, part := range [][2]int{{0, 50}, {100, 60}, {120, 20}, {250, 50}, {299, 1}, {0, 300}} {
		_, nodes := receiptPart(t, rs, part[0], part[1])
		got, err := ReceiptsPart(h, len(rs), part[0], part[1], nodes)
		if err != nil {
			t.Fatalf("part %v: %v", part, err)
		}
		for i, r := range got {
			if want := rs[part[0]+i]; r.CumulativeGasUsed != want.CumulativeGasUsed {
				t.Fatalf("part %v receipt %d: gas %d, want %d", part, i, r.CumulativeGasUsed, want.CumulativeGasUsed)
			}
		}
	}
	_, nodes := receiptPart(t, rs, 100, 50)
	tampered := slices.Clone(nodes)
	for i, n := range tampered {
		if len(n) > 300 { // a leaf: a receipt
			n = slices.Clone(n)
			n[len(n)-1] ^= 1
			tampered[i] = n
			break
		}
	}
	_, fewer := receiptPart(t, rs, 100, 49)
	for name, tc := range map[string]struct {
		start, count int
		nodes        [][]byte
		h            *types.Header
	}{
		"tampered receipt":          {100, 50, tampered, h},
		"a receipt not proven":      {100, 50, fewer, h},
		"past the last transaction": {290, 20, nodes, h},
		"nothing":                   {100, 0, nodes, h},
		"another block":             {100, 50, nodes, &types.Header{Number: big.NewInt(7), ReceiptHash: common.Hash{1}}},
		"no nodes":                  {100, 50, nil, h},
	} {
		if _, err := ReceiptsPart(tc.h, len(rs), tc.start, tc.count, tc.nodes); !errors.Is(err, ErrReceiptsRoot) {
			t.Errorf("%s: %v, want a receipts root failure", name, err)
		}
	}
}
