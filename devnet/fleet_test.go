package devnet

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/internal/pgtest"
	"github.com/lightmarket/lightmarket/ledgerpg"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/payment"
	"github.com/lightmarket/lightmarket/server"
)

// fleetServer is a `lightmarket server` process of a fleet.
type fleetServer struct {
	proc  *proc
	node  *enode.Node
	admin *rpc.Client
	page  string // the status page's URL
	stats string // the Prometheus metrics' URL
	key   bool   // holds the receiving key: may claim
}

// startFleetServer runs a server of the fleet whose ledger is at url:
// with the receiving key, or with only the receiver's address.
func (e *crashEnv) startFleetServer(t *testing.T, url string, withKey bool) *fleetServer {
	t.Helper()
	dir := t.TempDir()
	adminAt, metricsAt := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{"server", "--verbosity", "2", "--backend", e.chain.HTTPURL(), "--datadir", dir, "--ledger", url,
		"--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--admin.http", adminAt, "--metrics", metricsAt,
		"--sellable", "200000", "--reserve", "0.00001", "--payment.threshold", "1000000000", "--payment.lease", "2s",
		"--payment.rpc", e.chain.HTTPURL(), "--payment.contract", e.contract.Address().Hex()}
	if withKey {
		args = append(args, "--payment.key", keyHex(e.serverPay))
	} else {
		args = append(args, "--payment.receiver", paychan.Address(e.serverPay).Hex())
	}
	p := startProc(t, nil, args...)
	n, admin := serverStarted(t, p, dir)
	return &fleetServer{proc: p, node: n, admin: admin, key: withKey,
		page: "http://" + adminAt + "/status", stats: "http://" + metricsAt + "/metrics"}
}

// fleetTotals is lm_earnings' fleet view at a server; nil while the
// ledger's database cannot be read.
func fleetTotals(t *testing.T, admin *rpc.Client) *ledgerpg.Totals {
	t.Helper()
	var e server.Earnings
	if err := admin.Call(&e, "lm_earnings"); err != nil {
		t.Fatal(err)
	}
	if e.Fleet == nil && e.FleetError == "" {
		t.Fatal("lm_earnings of a fleet's server has neither fleet totals nor an error")
	}
	return e.Fleet
}

// fleetHas reports whether the fleet's ledger, read at admin's server,
// has received exactly (or, with atLeast, at least) wei.
func fleetHas(t *testing.T, admin *rpc.Client, wei *big.Int, atLeast bool) bool {
	f := fleetTotals(t, admin)
	if f == nil {
		return false
	}
	c := f.Received.Cmp(wei)
	return c == 0 || atLeast && c > 0
}

// paidAt is the server where c holds paid capacity (nil: none).
func paidAt(c *client.Client, fleet []*fleetServer) *fleetServer {
	for _, s := range c.Servers() {
		if s.Tier != "paid" {
			continue
		}
		for _, f := range fleet {
			if f.node.URLv4() == s.Enode {
				return f
			}
		}
	}
	return nil
}

// TestFleetSurvivesAKilledServerAndTheDatabaseGoingAway: three server
// processes share one ledger in PostgreSQL and one payment identity (two
// hold the receiving key, one only its address). A paying client pays on
// one channel. The server it pays is killed (SIGKILL): the client moves to
// another server of the fleet, where its credit is, on the same channel.
// Then PostgreSQL is stopped as in a crash and started again: vouchers
// are refused meanwhile and taken after. In the end the client's spending,
// the fleet's credit and the claims on chain agree to the wei.
func TestFleetSurvivesAKilledServerAndTheDatabaseGoingAway(t *testing.T) {
	e := newCrashEnv(t)
	pg := pgtest.Start(t)
	url := pg.NewDatabase(t, "fleet")
	fleet := []*fleetServer{e.startFleetServer(t, url, true), e.startFleetServer(t, url, true), e.startFleetServer(t, url, false)}
	var nodes []*enode.Node
	for _, f := range fleet {
		nodes = append(nodes, f.node)
	}
	w := newWallet(t, &payChain{chain: e.chain, contract: e.contract}, e.clientPay, t.TempDir())
	c, err := client.New(client.Config{
		ChainConfig: devchain.ChainConfig(), Trusted: nodes, Logger: quiet,
		Demand: &client.Demand{Max: 100_000, Min: 100_000, MaxPrice: big.NewInt(20_000)},
		Payer:  w, PayLead: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	recv := paychan.Address(e.serverPay)

	var first *fleetServer
	eventuallyWithin(t, 30*time.Second, "the client to hold paid capacity in the fleet", func() bool {
		first = paidAt(c, fleet)
		return first != nil
	})
	paidBefore := w.SpentTo(recv)
	first.proc.cmd.Process.Kill()
	first.proc.waitKilled(t)
	var rest []*fleetServer
	for _, f := range fleet {
		if f != first {
			rest = append(rest, f)
		}
	}
	var second *fleetServer
	eventuallyWithin(t, time.Minute, "the client to hold paid capacity at another server of the fleet", func() bool {
		second = paidAt(c, rest)
		return second != nil && w.SpentTo(recv).Cmp(paidBefore) > 0
	})
	t.Logf("paid %v at the first server (killed), now paying the next one", paidBefore)

	// The database goes away in the middle of paid traffic.
	if err := pg.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if got := paidAt(c, rest); got == nil {
		t.Error("the client lost its paid capacity while the ledger's database was away")
	}
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	spentAtRestart := w.SpentTo(recv)
	eventuallyWithin(t, time.Minute, "vouchers to be taken again after the restart", func() bool {
		return fleetHas(t, second.admin, spentAtRestart, true) && w.SpentTo(recv).Cmp(spentAtRestart) > 0
	})
	if err := c.SetDemand(nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // payments in flight land
	spent := w.SpentTo(recv)
	if chans := w.Channels(); len(chans) != 1 {
		t.Fatalf("the client opened %d channels to the fleet, want 1", len(chans))
	}
	eventuallyWithin(t, 30*time.Second, "the fleet to hold what the client spent", func() bool {
		return fleetHas(t, second.admin, spent, false)
	})

	// The server with the key that holds the claimer's lease (once the dead
	// one's lease, if it held it, expired) claims everything; the others
	// refuse to.
	var claimer *fleetServer
	eventuallyWithin(t, 30*time.Second, "lm_claim at a server with the key", func() bool {
		for _, f := range rest {
			var claims []payment.Settlement
			err := f.admin.Call(&claims, "lm_claim")
			if err == nil {
				claimer = f
				return true
			}
			if !strings.Contains(err.Error(), "does not claim") {
				t.Fatal(err)
			}
		}
		return false
	})
	if !claimer.key {
		t.Fatal("a server without the key claimed")
	}
	fin := fleetTotals(t, claimer.admin)
	if fin == nil {
		t.Fatal("no fleet totals at the claimer")
	}
	var byServers, vouchers int64
	for _, s := range fin.Servers {
		byServers += s.Credited.Int64()
		vouchers += int64(s.Vouchers)
	}
	t.Logf("spent %v; fleet received %v, claimed %v, unclaimed %v; %d vouchers by %d servers", spent, fin.Received, fin.Claimed, fin.Unclaimed, vouchers, len(fin.Servers))
	if fin.Received.Cmp(spent) != 0 || fin.Claimed.Cmp(spent) != 0 || fin.Unclaimed.Sign() != 0 || big.NewInt(byServers).Cmp(spent) != 0 {
		t.Fatalf("client spent %v; fleet received %v, claimed %v, unclaimed %v, its servers credited %d", spent, fin.Received, fin.Claimed, fin.Unclaimed, byServers)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.contract.State(ctx, paychan.ChannelID(w.Address(), recv, w.Channels()[0].Nonce))
	if err != nil || st.Claimed.Cmp(spent) != 0 {
		t.Fatalf("claimed on chain %v (%v), client spent %v", st.Claimed, err, spent)
	}

	// The fleet view: the claimer's metrics and status page.
	eventuallyWithin(t, 30*time.Second, "the claimer's fleet metrics", func() bool {
		m := scrape(t, claimer.stats)
		return m[`lightmarket_fleet_claimer`] == 1 && m[`lightmarket_fleet_ledger_up`] == 1 &&
			m[`lightmarket_fleet_wei{kind="claimed"}`] == float64(spent.Int64()) &&
			m[`lightmarket_fleet_server_wei{kind="credited",node="`+second.node.ID().String()+`"}`] > 0
	})
	if bin, err := exec.LookPath("chromium"); err == nil {
		page := browse(t, bin, claimer.page, "")
		for _, want := range []string{"this server claims for the fleet", "(this server)", second.node.ID().String()[:10], `id="fchannels">1<`} {
			if !strings.Contains(page, want) {
				t.Errorf("the claimer's status page does not show %q", want)
			}
		}
	} else if os.Getenv("CI") != "" {
		t.Error("chromium not installed (.ci/run installs it)")
	}
}

// scrape reads a Prometheus text exposition into series → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, line := range strings.Split(string(body), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if line == "" || line[0] == '#' || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
