package client

import (
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/p2p/enode"

	"github.com/lightmarket/lightmarket/protocol"
)

// TestHistoryRootNeedsTheFraction: a root signed by fewer trusted servers
// than the fraction asks for is not accepted, a forged one never; the
// root enough of them signed is.
func TestHistoryRootNeedsTheFraction(t *testing.T) {
	h, err := newHistoryRoots(signersNeeded(3, 67), "")
	if err != nil {
		t.Fatal(err)
	}
	good := &protocol.HistoryRoot{Count: 2, Root: common.Hash{1}}
	forged := &protocol.HistoryRoot{Count: 2, Root: common.Hash{0xf}}
	a, b, c := enode.ID{1}, enode.ID{2}, enode.ID{3}
	if h.vote(a, forged) {
		t.Fatal("one of three accepted")
	}
	if h.vote(b, good) {
		t.Fatal("one of three accepted")
	}
	if _, _, ok := h.best(); ok {
		t.Fatal("a root accepted without two signers")
	}
	if !h.vote(c, good) {
		t.Fatal("two of three signed the same root: not accepted")
	}
	if count, root, _ := h.best(); count != 2 || root != good.Root {
		t.Fatalf("accepted %d %x", count, root)
	}
	// A later vote for the forged root at the same count changes nothing.
	h.vote(b, forged)
	if _, root, _ := h.best(); root != good.Root {
		t.Fatal("accepted root replaced")
	}
}

// TestHistoryRootsSurviveARestart: accepted roots and remembered canonical
// hashes are read back from the file.
func TestHistoryRootsSurviveARestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "history.json")
	h, err := newHistoryRoots(1, file)
	if err != nil {
		t.Fatal(err)
	}
	h.vote(enode.ID{1}, &protocol.HistoryRoot{Count: 5, Root: common.Hash{5}})
	h.remember(map[uint64]common.Hash{100: {0xa}, 101: {0xb}})
	if err := h.save(); err != nil {
		t.Fatal(err)
	}
	again, err := newHistoryRoots(1, file)
	if err != nil {
		t.Fatal(err)
	}
	if count, root, ok := again.best(); !ok || count != 5 || root != (common.Hash{5}) {
		t.Fatalf("after a restart: %d %x %v", count, root, ok)
	}
	if hash, ok := again.known(101); !ok || hash != (common.Hash{0xb}) {
		t.Fatal("canonical hash forgotten")
	}
}
