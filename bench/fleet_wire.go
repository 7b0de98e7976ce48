package bench

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/p2p/rlpx"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/lightmarket/lightmarket/ledger"
	"github.com/lightmarket/lightmarket/ledgerpg"
	"github.com/lightmarket/lightmarket/nodekey"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/protocol"
)

// wireServer is a `lightmarket server` process of the fleet.
type wireServer struct {
	cmd  *exec.Cmd
	node *enode.Node
	dead atomic.Bool // killed: clients pay the others
}

// startWireServers starts the fleet as processes on the dev chain and
// ledger url: the first with the receiving key, the others with its
// address; no claims (the threshold is out of reach) and room for every
// client's session.
func (e *fleetChain) startWireServers(ctx context.Context, url, dir string) ([]*wireServer, error) {
	var out []*wireServer
	for i := range e.cfg.Servers {
		sdir := filepath.Join(dir, fmt.Sprintf("server-%d", i))
		if err := os.MkdirAll(sdir, 0o700); err != nil {
			return out, err
		}
		key, err := nodekey.LoadOrCreate(filepath.Join(sdir, "nodekey")) // the process loads it
		if err != nil {
			return out, err
		}
		_, port, _ := net.SplitHostPort(freeLoopback())
		p, _ := strconv.Atoi(port)
		args := append(slices.Clone(e.cfg.Command[1:]), "server", "--verbosity", "1", "--datadir", sdir,
			"--backend", e.dc.HTTPURL(), "--ledger", url, "--listen", "127.0.0.1:"+port, "--admin.http", "",
			"--maxclients", strconv.Itoa(2*e.cfg.Clients), "--capacity", "1000000000000",
			"--payment.rpc", e.dc.HTTPURL(), "--payment.contract", e.contract.Address().Hex(),
			"--payment.threshold", "1000000000000")
		if i == 0 {
			args = append(args, "--payment.key", fmt.Sprintf("%x", crypto.FromECDSA(e.serverKey)))
		} else {
			args = append(args, "--payment.receiver", paychan.Address(e.serverKey).Hex())
		}
		cmd := exec.CommandContext(ctx, e.cfg.Command[0], args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return out, err
		}
		out = append(out, &wireServer{cmd: cmd, node: enode.NewV4(&key.PublicKey, net.IPv4(127, 0, 0, 1), p, 0)})
	}
	// Up once a session opens.
	status, err := e.status()
	if err != nil {
		return out, err
	}
	for _, s := range out {
		for deadline := time.Now().Add(time.Minute); ; {
			key, _ := crypto.GenerateKey()
			c, err := dialSession(ctx, &net.TCPAddr{IP: s.node.IP(), Port: s.node.TCP()}, net.IPv4(127, 0, 0, 1), key, s.node.Pubkey(), status)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return out, fmt.Errorf("server %v did not start: %w", s.node.TCP(), err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out, nil
}

// status is the lm handshake's Status for the dev chain.
func (e *fleetChain) status() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	backend, err := e.dc.Backend(ctx)
	if err != nil {
		return nil, err
	}
	return rlp.EncodeToBytes(&protocol.Status{ProtocolVersion: protocol.Version, ChainID: backend.ChainID(), Genesis: backend.Genesis()})
}

// wireSession is a client's lm session with one server of the fleet.
type wireSession struct {
	conn   *rlpx.Conn
	wmu    sync.Mutex
	acks   chan *protocol.PayAck
	lastAt time.Time // last acknowledgement: the server read the payment before it
	reqID  uint64
}

var errSessionGone = errors.New("session closed")

func dialWire(ctx context.Context, n *enode.Node, local net.IP, key *ecdsa.PrivateKey, status []byte) (*wireSession, error) {
	c, err := dialSession(ctx, &net.TCPAddr{IP: n.IP(), Port: n.TCP()}, local, key, n.Pubkey(), status)
	if err != nil {
		return nil, err
	}
	s := &wireSession{conn: c, acks: make(chan *protocol.PayAck, 4)}
	go s.read()
	return s, nil
}

// read answers pings and hands payment acknowledgements to pay until the
// session ends.
func (s *wireSession) read() {
	defer close(s.acks)
	empty, _ := rlp.EncodeToBytes([]any{})
	for {
		code, data, _, err := s.conn.Read()
		if err != nil {
			return
		}
		switch code {
		case pingMsg:
			s.wmu.Lock()
			_, err = s.conn.Write(pongMsg, empty)
			s.wmu.Unlock()
		case lmOffset + uint64(protocol.PayAckMsg):
			ack := new(protocol.PayAck)
			if err = rlp.DecodeBytes(data, ack); err == nil {
				s.acks <- ack
			}
		}
		if err != nil {
			return
		}
	}
}

// pay sends a voucher, no sooner than the protocol allows after the last
// one (counted from its acknowledgement: the server took the payment in
// before), and waits for its acknowledgement.
func (s *wireSession) pay(voucher []byte) (*protocol.PayAck, time.Duration, error) {
	time.Sleep(time.Until(s.lastAt.Add(protocol.PayInterval + time.Millisecond)))
	s.reqID++
	data, err := rlp.EncodeToBytes(&protocol.Pay{ReqID: s.reqID, Method: paychan.Method, Payment: voucher})
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	s.wmu.Lock()
	_, err = s.conn.Write(lmOffset+uint64(protocol.PayMsg), data)
	s.wmu.Unlock()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", errSessionGone, err)
	}
	select {
	case ack, ok := <-s.acks:
		if !ok {
			return nil, 0, errSessionGone
		}
		s.lastAt = time.Now()
		return ack, s.lastAt.Sub(start), nil
	case <-time.After(30 * time.Second):
		return nil, 0, errors.New("no acknowledgement in 30 s")
	}
}

// wireOutcome is what a phase of payments over the wire came to.
type wireOutcome struct {
	perSec         float64
	lat            []time.Duration
	acked, refused int
}

// payWire has every client, with a session to every server, send its
// vouchers not yet sent, each to the next live server, waiting for each
// acknowledgement; faults, when given, runs beside it with the count
// acknowledged so far.
func (e *fleetChain) payWire(sessions [][]*wireSession, servers []*wireServer, faults func(acked func() int)) (wireOutcome, error) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		lat     []time.Duration
		acked   atomic.Int64
		refused atomic.Int64
		fail    error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if faults != nil {
			faults(func() int { return int(acked.Load()) })
		}
	}()
	start := time.Now()
	for i, p := range e.payers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, len(p.vouchers)-p.next)
			for ; p.next < len(p.vouchers); p.next++ {
				s := (i + p.next) % len(servers)
				for servers[s].dead.Load() {
					s = (s + 1) % len(servers)
				}
				ack, took, err := sessions[i][s].pay(p.vouchers[p.next])
				switch {
				case err != nil && (faults == nil || !servers[s].dead.Load()):
					mu.Lock()
					fail = fmt.Errorf("client %d at server %d: %w", i, s, err)
					mu.Unlock()
					return
				case err != nil || ack.Code != protocol.PayAccepted:
					refused.Add(1)
					continue
				}
				mine = append(mine, took)
				p.acked = int64(p.next+1) * fleetStep
				p.credited += ack.Credited.Int64()
				acked.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	<-done
	if fail != nil {
		return wireOutcome{}, fail
	}
	return wireOutcome{perSec: float64(acked.Load()) / elapsed.Seconds(), lat: lat, acked: int(acked.Load()), refused: int(refused.Load())}, nil
}

// wireFleet runs the fleet as processes over the lm protocol: a steady
// phase, then one with a server killed with SIGKILL and PostgreSQL stopped
// with -m immediate and started again, and audits the ledger against the
// acknowledgements.
func (e *fleetChain) wireFleet(ctx context.Context, pg interface {
	NewDatabase(string) (string, error)
	Stop(string) error
	Restart() error
}, r *FleetResult) error {
	url, err := pg.NewDatabase("wire")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "lightmarket-bench-fleet-wire-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	servers, err := e.startWireServers(ctx, url, dir)
	defer func() {
		for _, s := range servers {
			if !s.dead.Load() {
				stopProcess(s.cmd)
			}
		}
	}()
	if err != nil {
		return err
	}
	status, err := e.status()
	if err != nil {
		return err
	}
	// Each client is one node (one node key, its account at the fleet)
	// with a session to every server.
	sessions := make([][]*wireSession, len(e.payers))
	for i, p := range e.payers {
		key, _ := crypto.GenerateKey()
		p.id = ledger.ClientID(enode.PubkeyToIDV4(&key.PublicKey))
		local := net.IPv4(127, 0, byte(2+i/250), byte(i%250+1))
		for _, s := range servers {
			ws, err := dialWire(ctx, s.node, local, key, status)
			if err != nil {
				return fmt.Errorf("client %d: %w", i, err)
			}
			defer ws.conn.Close()
			sessions[i] = append(sessions[i], ws)
		}
	}
	e.reset()
	e.sign(0, 2*e.cfg.Each)
	for _, p := range e.payers {
		p.vouchers = p.vouchers[:e.cfg.Each]
	}
	steady, err := e.payWire(sessions, servers, nil)
	if err != nil {
		return err
	}
	r.WirePerSec, r.WireAckP50Ms, r.WireAckP99Ms = steady.perSec, pct(steady.lat, 50), pct(steady.lat, 99)

	e.sign(e.cfg.Each, 2*e.cfg.Each)
	total := e.cfg.Clients * e.cfg.Each
	faults := func(acked func() int) {
		for acked() < total/4 {
			time.Sleep(10 * time.Millisecond)
		}
		servers[1].dead.Store(true)
		servers[1].cmd.Process.Kill()
		servers[1].cmd.Wait()
		for acked() < total/2 {
			time.Sleep(10 * time.Millisecond)
		}
		if err := pg.Stop("immediate"); err != nil {
			e.cfg.Logger.Error("Cannot stop PostgreSQL", "err", err)
		}
		time.Sleep(2 * time.Second)
		if err := pg.Restart(); err != nil {
			e.cfg.Logger.Error("Cannot restart PostgreSQL", "err", err)
		}
	}
	faulty, err := e.payWire(sessions, servers, faults)
	if err != nil {
		return fmt.Errorf("under faults: %w", err)
	}
	r.FaultAcked, r.FaultRefused = faulty.acked, faulty.refused
	probe, err := ledgerpg.Open(ctx, ledgerpg.Config{URL: url, Server: "bench-audit", Logger: e.cfg.Logger})
	if err != nil {
		return err
	}
	defer probe.Close()
	r.CreditLostWei, r.CreditDoubleWei, r.ChannelsPerClient, err = e.audit(ctx, probe)
	return err
}
