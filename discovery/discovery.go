// Package discovery is how lightmarket servers are found: servers
// advertise the service with an "lm" entry in their node record on
// go-ethereum's discv5 network; clients walk that network from bootnodes,
// and read EIP-1459 DNS node lists, keeping only nodes that advertise it.
// It also runs a bootnode: a discv5 node that serves nothing else, where
// servers and clients meet.
package discovery

import (
	"crypto/ecdsa"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p/discover"
	"github.com/ethereum/go-ethereum/p2p/dnsdisc"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/p2p/enr"
)

// ENRKey is the node record entry that advertises a lightmarket server;
// its value is the protocol version.
const ENRKey = "lm"

// Entry is the node record entry of a server speaking protocol version v.
func Entry(v uint) enr.Entry { return enr.WithEntry(ENRKey, v) }

// IsServer reports whether a node record advertises a lightmarket server
// speaking protocol version v, with an address to connect to.
func IsServer(n *enode.Node, v uint) bool {
	var got uint
	if err := n.Load(enr.WithEntry(ENRKey, &got)); err != nil || got != v {
		return false
	}
	_, ok := n.TCPEndpoint()
	return ok
}

// Servers iterates over the lightmarket servers (protocol version v) that
// the discv5 listener finds by random walks, mixed fairly with those of
// the EIP-1459 trees (enrtree://…) given. Close it to stop.
func Servers(udp *discover.UDPv5, trees []string, v uint, logger log.Logger) (enode.Iterator, error) {
	return servers(udp, trees, v, logger, nil)
}

// servers is Servers with a DNS resolver of its own (nil: the system's).
func servers(udp *discover.UDPv5, trees []string, v uint, logger log.Logger, resolver dnsdisc.Resolver) (enode.Iterator, error) {
	if logger == nil {
		logger = log.Root()
	}
	mix := enode.NewFairMix(time.Second)
	if udp != nil {
		mix.AddSource(udp.RandomNodes())
	}
	if len(trees) > 0 {
		dns := dnsdisc.NewClient(dnsdisc.Config{Logger: logger, Resolver: resolver})
		it, err := dns.NewIterator(trees...)
		if err != nil {
			mix.Close()
			return nil, fmt.Errorf("DNS node list: %w", err)
		}
		mix.AddSource(it)
	}
	return enode.Filter(mix, func(n *enode.Node) bool { return IsServer(n, v) }), nil
}

// Node is a running discv5 node.
type Node struct {
	*discover.UDPv5
	Local *enode.LocalNode
	db    *enode.DB
	conn  *countingUDP
}

// Bytes is what the node's socket sent and received so far (UDP
// payloads, both directions).
func (n *Node) Bytes() uint64 { return n.conn.bytes.Load() }

// countingUDP counts the bytes through a UDP socket.
type countingUDP struct {
	*net.UDPConn
	bytes atomic.Uint64
}

func (c *countingUDP) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, addr, err := c.UDPConn.ReadFromUDPAddrPort(b)
	c.bytes.Add(uint64(n))
	return n, addr, err
}

func (c *countingUDP) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	n, err := c.UDPConn.WriteToUDPAddrPort(b, addr)
	c.bytes.Add(uint64(n))
	return n, err
}

// Close stops the node.
func (n *Node) Close() {
	n.UDPv5.Close()
	n.db.Close()
}

// Listen starts a discv5 node on addr (host:port, UDP) with key, joining
// the network through bootnodes. The node record carries addr's IP (the
// loopback address when addr is unspecified), or extIP when given (behind
// NAT), and entries. The nodes it meets are kept in the database at
// dbPath, or in memory when it is "" (go-ethereum's in-memory node
// database keeps its journal in memory and grows with every contact: a
// long-running node should have a path).
func Listen(addr string, key *ecdsa.PrivateKey, bootnodes []*enode.Node, extIP net.IP, dbPath string, logger log.Logger, entries ...enr.Entry) (*Node, error) {
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("discovery address %q: %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	db, err := enode.OpenDB(dbPath)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("discovery: node database: %w", err)
	}
	ln := enode.NewLocalNode(db, key)
	local := conn.LocalAddr().(*net.UDPAddr)
	switch {
	case extIP != nil:
		ln.SetStaticIP(extIP)
	case local.IP.IsUnspecified():
		ln.SetFallbackIP(net.IP{127, 0, 0, 1})
	default:
		ln.SetStaticIP(local.IP)
	}
	ln.SetFallbackUDP(local.Port)
	for _, e := range entries {
		ln.Set(e)
	}
	if logger == nil {
		logger = log.Root()
	}
	counted := &countingUDP{UDPConn: conn}
	udp, err := discover.ListenV5(counted, ln, discover.Config{PrivateKey: key, Bootnodes: bootnodes, Log: logger})
	if err != nil {
		conn.Close()
		db.Close()
		return nil, err
	}
	return &Node{UDPv5: udp, Local: ln, db: db, conn: counted}, nil
}
