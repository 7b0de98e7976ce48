package devnet

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/beacon"
	"github.com/lightmarket/lightmarket/chain/devbeacon"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/nodekey"
	"github.com/lightmarket/lightmarket/server"
)

// slowProxy forwards JSON-RPC to url after delay: a server behind it
// answers slowly.
func slowProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// marketServer is one `lightmarket server` process of the market test.
type marketServer struct {
	node    *enode.Node
	admin   *rpc.Client
	reserve int64 // wei per capacity-unit-second
	slow    bool
}

// marketClient is one `lightmarket client` process.
type marketClient struct {
	id  enode.ID
	rpc *rpc.Client
}

func (c *marketClient) servers(t *testing.T) []client.ServerStats {
	t.Helper()
	var out []client.ServerStats
	if err := c.rpc.Call(&out, "lm_servers"); err != nil {
		t.Fatal(err)
	}
	return out
}

// paidAt is the server where the client holds paid capacity ("" if none;
// "several" if more than one).
func (c *marketClient) paidAt(t *testing.T) string {
	at := ""
	for _, s := range c.servers(t) {
		if s.Tier == "paid" {
			if at != "" {
				return "several"
			}
			at = enodeID(s.Enode)
		}
	}
	return at
}

func enodeID(url string) string {
	n, err := enode.ParseV4(url)
	if err != nil {
		return url
	}
	return n.ID().String()
}

// TestClientsFindServersThroughABootnodeAndSettle: a bootnode, five
// servers (different reserves, one slow) relaying a consensus layer, and
// three clients: one given only the bootnode and the key of the server it
// trusts for heads, two given only the bootnode and a checkpoint (they
// trust no server: heads the sync committee signs). Each client
// finds all five, is served free, and once it bids pays where price per
// quality is best; over two minutes of steady demand each moves at most
// once, opens channels only with servers it paid, and its tiers are what
// the servers say.
func TestClientsFindServersThroughABootnodeAndSettle(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process market: minutes")
	}
	e, payKeys := newPayEnv(t, 8)
	// The consensus layer over the chain, which the servers relay.
	cl, err := devbeacon.StartNode(context.Background(), e.chain.DirectBackend(), devbeacon.NodeConfig{Addr: "127.0.0.1:0",
		Seed: "market", GenesisValidatorsRoot: BeaconGenesisValidatorsRoot, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	beaconConfig := filepath.Join(t.TempDir(), "beacon.yaml")
	if err := beacon.WriteConfig(beaconConfig, devbeacon.Config(BeaconGenesisValidatorsRoot)); err != nil {
		t.Fatal(err)
	}

	boot := startProc(t, nil, "bootnode", "--verbosity", "2", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	bootURL := boot.waitLine(t, "enode:")

	// Reserves 40 % apart, more than loopback latencies on a busy machine
	// move the quality a client measures; the last server is the slow one.
	reserves := []int64{10_000, 14_000, 18_000, 22_000, 8_000}
	var servers []*marketServer
	for i, reserve := range reserves {
		backend := e.chain.HTTPURL()
		if i == len(reserves)-1 {
			backend = slowProxy(t, backend, 150*time.Millisecond)
		}
		dir := t.TempDir()
		p := startProc(t, nil, "server", "--verbosity", "2", "--backend", backend, "--datadir", dir,
			"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--admin.http", "127.0.0.1:0", "--bootnodes", bootURL,
			"--sellable", "200000", "--reserve", gwei(reserve), "--payment.threshold", "1000000000",
			"--payment.rpc", e.chain.HTTPURL(), "--payment.contract", e.contract.Address().Hex(), "--payment.key", keyHex(payKeys[i]),
			"--beacon.api", cl.URL(), "--beacon.config", beaconConfig)
		n, admin := serverStarted(t, p, dir)
		servers = append(servers, &marketServer{node: n, admin: admin, reserve: reserve, slow: i == len(reserves)-1})
	}
	trusted := enode.NewV4(servers[0].node.Pubkey(), nil, 0, 0).URLv4()

	var clients []*marketClient
	for i := range 3 {
		dir := t.TempDir()
		heads := []string{"--ulc.servers", trusted}
		if i > 0 {
			heads = []string{"--heads", "beacon", "--beacon.checkpoint", cl.Genesis().Hex(), "--beacon.config", beaconConfig,
				"--genesis", e.chain.DirectBackend().Genesis().Hex()}
		}
		args := append([]string{"client", "--verbosity", "3", "--network", "dev", "--bootnodes", bootURL,
			"--datadir", dir, "--http", "127.0.0.1:0", "--payment.lead", "10s",
			"--payment.rpc", e.chain.HTTPURL(), "--payment.contract", e.contract.Address().Hex(), "--payment.key", keyHex(payKeys[5+i])}, heads...)
		p := startProc(t, nil, args...)
		t.Cleanup(func() {
			if t.Failed() {
				p.logTail(t, fmt.Sprintf("client %d", i), "Moving", "Bidding", "ayment", "hannel", "capacity")
			}
		})
		rpcURL := strings.Fields(p.waitLine(t, "Wallet JSON-RPC:"))[0]
		p.waitLine(t, "Head ")
		rc := dialWithSecret(t, rpcURL, filepath.Join(dir, "control.jwtsecret"))
		key, err := nodekey.LoadOrCreate(filepath.Join(dir, "nodekey"))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, &marketClient{id: enode.PubkeyToIDV4(&key.PublicKey), rpc: rc})
	}

	// Each finds all five and is served free.
	for i, c := range clients {
		eventuallyWithin(t, time.Minute, fmt.Sprintf("client %d to connect to all five servers", i), func() bool {
			var n hexutil.Uint64
			c.rpc.Call(&n, "eth_blockNumber")
			var bal hexutil.Big
			c.rpc.Call(&bal, "eth_getBalance", crypto.PubkeyToAddress(payKeys[0].PublicKey), "latest")
			connected := 0
			for _, s := range c.servers(t) {
				if s.Connected {
					connected++
				}
				if s.Tier != "free" {
					t.Fatalf("client %d is %s at %s before it bid", i, s.Tier, s.Enode)
				}
				if i > 0 && s.Trusted {
					t.Fatalf("client %d, of heads the sync committee signs, trusts %s", i, s.Enode)
				}
			}
			return connected == 5
		})
	}
	// Demand: 100,000 units at up to 20,000 wei per unit-second each. The
	// cheapest good server sells 200,000: two clients fit there, the
	// third goes to the next best, and nobody to the slow one although
	// its reserve is lowest.
	for _, c := range clients {
		if err := c.rpc.Call(nil, "lm_setDemand", map[string]string{"max": "0x186a0", "min": "0x186a0", "maxPrice": "0x4e20"}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range clients {
		eventuallyWithin(t, time.Minute, fmt.Sprintf("client %d to hold paid capacity", i), func() bool { at := c.paidAt(t); return at != "" && at != "several" })
		// Before deciding, it measured how each server reads the state
		// (its probe), whatever its own requests had gone to.
		for _, s := range c.servers(t) {
			if s.Connected && s.StateLatencyP50Ms == 0 {
				t.Errorf("client %d bid without a measure of %s", i, s.Enode)
			}
		}
	}

	// Two minutes of steady demand.
	byID := make(map[string]*marketServer)
	for _, s := range servers {
		byID[s.node.ID().String()] = s
	}
	paidEver := make([]map[string]bool, len(clients))
	last := make([]string, len(clients))
	moves := make([]int, len(clients))
	for i, c := range clients {
		paidEver[i] = map[string]bool{}
		last[i] = c.paidAt(t)
	}
	spentAt := func(c *marketClient) map[string]string {
		var spent []client.Spending
		if err := c.rpc.Call(&spent, "lm_spent"); err != nil {
			t.Fatal(err)
		}
		out := make(map[string]string)
		for _, sp := range spent {
			out[enodeID(sp.Enode)] = sp.Spent
		}
		return out
	}
	var spentMid []map[string]string
	end := time.Now().Add(2 * time.Minute)
	for time.Now().Before(end) {
		if spentMid == nil && time.Until(end) < time.Minute {
			for _, c := range clients {
				spentMid = append(spentMid, spentAt(c))
			}
		}
		for i, c := range clients {
			at := c.paidAt(t)
			if at == "several" {
				t.Fatalf("client %d holds paid capacity at two servers", i)
			}
			if at != "" {
				paidEver[i][at] = true
				if at != last[i] && last[i] != "" {
					moves[i]++
				}
				last[i] = at
			}
		}
		time.Sleep(2 * time.Second)
	}
	counts := make(map[string]int)
	for i, c := range clients {
		at := last[i]
		s := byID[at]
		t.Logf("client %d: pays at the server with reserve %d (moves %d, held capacity at %d servers, spent %v)", i, s.reserve, moves[i], len(paidEver[i]), spentAt(c))
		for _, st := range c.servers(t) {
			if srv := byID[enodeID(st.Enode)]; srv != nil {
				t.Logf("client %d: server with reserve %d: state reads p50 %.1f ms, all requests p50 %.1f ms, %d answers", i, srv.reserve, st.StateLatencyP50Ms, st.LatencyP50Ms, st.Answers)
			}
		}
		if moves[i] > 1 {
			t.Errorf("client %d moved %d times in two minutes", i, moves[i])
		}
		if s.slow {
			t.Errorf("client %d pays at the slow server", i)
		}
		counts[at]++
		// Channels only where it bid, and in the last minute payments only
		// where it holds capacity.
		spent := spentAt(c)
		channels := 0
		for _, wei := range spent {
			if wei != "0" {
				channels++
			}
		}
		if channels > 2 {
			t.Errorf("client %d opened channels with %d servers", i, channels)
		}
		for id, wei := range spent {
			if id != at && wei != spentMid[i][id] {
				t.Errorf("client %d paid the server with reserve %d (%s then %s wei) where it holds no capacity", i, byID[id].reserve, spentMid[i][id], wei)
			}
		}
		// Its tiers are what each server says of it.
		for _, st := range c.servers(t) {
			srv := byID[enodeID(st.Enode)]
			if srv == nil || !st.Connected {
				continue
			}
			var infos []server.ClientInfo
			if err := srv.admin.Call(&infos, "lm_clients"); err != nil {
				t.Fatal(err)
			}
			for _, info := range infos {
				if info.ID == c.id.String() && info.Tier != st.Tier {
					t.Errorf("client %d is %s by its own account and %s by the server with reserve %d", i, st.Tier, info.Tier, srv.reserve)
				}
			}
		}
	}
	// Two fit at the cheapest good server, the third pays at the next.
	if cheapest, next := servers[0].node.ID().String(), servers[1].node.ID().String(); counts[cheapest] != 2 || counts[next] != 1 {
		t.Errorf("%d clients at the cheapest good server, %d at the next: want 2 and 1", counts[cheapest], counts[next])
	}
}

func gwei(wei int64) string {
	return new(big.Rat).SetFrac(big.NewInt(wei), big.NewInt(1e9)).FloatString(9)
}
