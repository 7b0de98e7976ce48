package discovery

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/dnsdisc"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/p2p/enr"
)

// record makes a signed node record with the given entries.
func record(t *testing.T, tcp int, entries ...enr.Entry) *enode.Node {
	t.Helper()
	key, _ := crypto.GenerateKey()
	db, _ := enode.OpenDB("")
	t.Cleanup(db.Close)
	ln := enode.NewLocalNode(db, key)
	ln.SetStaticIP(net.IP{127, 0, 0, 1})
	if tcp > 0 {
		ln.Set(enr.TCP(tcp))
	}
	for _, e := range entries {
		ln.Set(e)
	}
	return ln.Node()
}

func TestIsServer(t *testing.T) {
	tests := []struct {
		name string
		node *enode.Node
		want bool
	}{
		{"a server of this version", record(t, 30303, Entry(2)), true},
		{"another version", record(t, 30303, Entry(1)), false},
		{"no lm entry", record(t, 30303), false},
		{"no TCP endpoint to connect to", record(t, 0, Entry(2)), false},
		{"an lm entry that is not a number", record(t, 30303, enr.WithEntry(ENRKey, "two")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsServer(tt.node, 2); got != tt.want {
				t.Fatalf("IsServer = %v, want %v", got, tt.want)
			}
		})
	}
}

// txtResolver answers TXT lookups from a map, as a DNS zone would.
type txtResolver map[string]string

func (r txtResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := r[name]; ok {
		return []string{txt}, nil
	}
	return nil, fmt.Errorf("no TXT record for %s", name)
}

// TestServersFromADNSList: an EIP-1459 tree with servers and other nodes
// yields the servers only.
func TestServersFromADNSList(t *testing.T) {
	a, b := record(t, 30303, Entry(2)), record(t, 30304, Entry(2))
	nodes := []*enode.Node{a, record(t, 30305), b, record(t, 30306, Entry(1))}
	tree, err := dnsdisc.MakeTree(1, nodes, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.GenerateKey()
	url, err := tree.Sign(key, "nodes.example.org")
	if err != nil {
		t.Fatal(err)
	}
	it, err := servers(nil, []string{url}, 2, nil, txtResolver(tree.ToTXT("nodes.example.org")))
	if err != nil {
		t.Fatal(err)
	}
	found := make(map[enode.ID]bool)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(found) < 2 && it.Next() {
			n := it.Node()
			if n.ID() != a.ID() && n.ID() != b.ID() {
				t.Errorf("iterator gave %v, not a server", n)
			}
			found[n.ID()] = true
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	it.Close()
	<-done
	if len(found) != 2 {
		t.Errorf("found %d of 2 servers in 10 s", len(found))
	}
}

func TestBadDNSListIsRefused(t *testing.T) {
	if _, err := servers(nil, []string{"enrtree://not-a-key@example.org"}, 2, nil, txtResolver{}); err == nil {
		t.Fatal("a malformed enrtree URL was accepted")
	}
}
