package bench

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/p2p/rlpx"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/lightmarket/lightmarket/protocol"
)

// devp2p base protocol messages, and where lm's codes start.
const (
	helloMsg   = 0x00
	pingMsg    = 0x02
	pongMsg    = 0x03
	lmOffset   = 0x10
	p2pVersion = 5
)

type hello struct {
	Version    uint64
	Name       string
	Caps       []p2p.Cap
	ListenPort uint64
	ID         []byte
	Rest       []rlp.RawValue `rlp:"tail"`
}

// HoldConns opens clients idle lm sessions to the server n from loopback
// addresses 127.0.1.0 on (a few dozen per address), each its own node key,
// RLPx connection and lm handshake, answers the server's pings, and keeps
// them open until ctx ends. It calls ready with the number connected once
// all dials are done.
func HoldConns(ctx context.Context, n *enode.Node, clients int, chainID uint64, genesis common.Hash, ready func(int)) error {
	var (
		wg        sync.WaitGroup
		connected atomic.Int64
		sem       = make(chan struct{}, 32)
		mu        sync.Mutex
		conns     []*rlpx.Conn
	)
	status, err := rlp.EncodeToBytes(&protocol.Status{ProtocolVersion: protocol.Version, ChainID: chainID, Genesis: genesis})
	if err != nil {
		return err
	}
	addr := &net.TCPAddr{IP: n.IP(), Port: n.TCP()}
	for i := range clients {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			local := net.IPv4(127, 0, byte(1+i/250/250), byte(i/40%250+1))
			key, _ := crypto.GenerateKey()
			c, err := dialSession(ctx, addr, local, key, n.Pubkey(), status)
			if err != nil {
				return
			}
			connected.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go pong(c)
		}()
	}
	wg.Wait()
	ready(int(connected.Load()))
	<-ctx.Done()
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	return nil
}

// dialSession opens one lm session as node key: TCP, RLPx, devp2p hello,
// lm Status.
func dialSession(ctx context.Context, addr *net.TCPAddr, local net.IP, key *ecdsa.PrivateKey, server *ecdsa.PublicKey, status []byte) (*rlpx.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 20 * time.Second}
	fd, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	c := rlpx.NewConn(fd, server)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Handshake(key); err != nil {
		c.Close()
		return nil, err
	}
	h, _ := rlp.EncodeToBytes(&hello{Version: p2pVersion, Name: "lightmarket-bench", Caps: []p2p.Cap{{Name: protocol.Name, Version: protocol.Version}},
		ID: crypto.FromECDSAPub(&key.PublicKey)[1:]})
	if _, err := c.Write(helloMsg, h); err != nil {
		c.Close()
		return nil, err
	}
	if code, _, _, err := c.Read(); err != nil || code != helloMsg {
		c.Close()
		return nil, fmt.Errorf("no hello: code %d, %v", code, err)
	}
	c.SetSnappy(true)
	if _, err := c.Write(lmOffset+uint64(protocol.StatusMsg), status); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// pong answers the server's pings until the connection ends.
func pong(c *rlpx.Conn) {
	empty, _ := rlp.EncodeToBytes([]any{})
	for {
		code, _, _, err := c.Read()
		if err != nil {
			return
		}
		if code == pingMsg {
			if _, err := c.Write(pongMsg, empty); err != nil {
				return
			}
		}
	}
}
