package devnet

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/rpcauth"
)

// hostilePage tries to set the demand of the light client whose endpoint
// listens on port, by every way a web page has: fetch with JSON (needs a
// CORS preflight), fetch as text/plain (a "simple" request without one),
// and a WebSocket. It writes what happened into the page.
const hostilePage = `<!doctype html><html><body><pre id="out">running</pre><script>
const port = %d;
const call = JSON.stringify({jsonrpc: "2.0", id: 1, method: "lm_setDemand", params: [{max: "0x3e8", min: "0x1", maxPrice: "0x7"}]});
const results = {};
async function tryFetch(name, url, type) {
  try {
    const r = await fetch(url, {method: "POST", headers: {"Content-Type": type}, body: call});
    results[name] = "status " + r.status + ": " + (await r.text()).slice(0, 200);
  } catch (e) { results[name] = "blocked: " + e; }
}
function tryWS(name, url) {
  return new Promise(resolve => {
    let ws;
    try { ws = new WebSocket(url); } catch (e) { results[name] = "blocked: " + e; return resolve(); }
    ws.onopen = () => ws.send(call);
    ws.onmessage = m => { results[name] = "answered: " + m.data; ws.close(); resolve(); };
    ws.onerror = () => { results[name] = "refused"; resolve(); };
    setTimeout(() => { results[name] = results[name] || "timeout"; resolve(); }, 3000);
  });
}
(async () => {
  const tries = [];
  for (const host of ["127.0.0.1", "localhost"]) {
    tries.push(tryFetch("fetch json " + host, "http://" + host + ":" + port + "/", "application/json"));
    tries.push(tryFetch("fetch text " + host, "http://" + host + ":" + port + "/", "text/plain"));
    tries.push(tryWS("ws " + host, "ws://" + host + ":" + port + "/"));
  }
  await Promise.all(tries);
  document.getElementById("out").textContent = "done " + JSON.stringify(results);
})();
</script></body></html>`

// TestPageOnALocalhostOriginCannotChangeTheDemand loads, in headless
// Chromium, a page served from another port of localhost (the origin any
// local web app or dev server has) that tries to call lm_setDemand on the
// wallet endpoint. Nothing it does changes the demand, and its WebSocket is
// refused outright.
func TestPageOnALocalhostOriginCannotChangeTheDemand(t *testing.T) {
	bin := chromium(t)
	d := startDevnet(t, Config{Servers: 1})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(d.Node.URL(), "http://"))
	var p int
	fmt.Sscan(port, &p)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	page := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, hostilePage, p)
	}), ReadHeaderTimeout: 5 * time.Second}
	go page.Serve(ln)
	t.Cleanup(func() { page.Close() })
	_, pagePort, _ := net.SplitHostPort(ln.Addr().String())

	// On a loaded machine the page may not finish within Chromium's
	// virtual-time budget: load it again then.
	var results string
	for try := 0; try < 3 && !strings.HasPrefix(results, "done "); try++ {
		dom := browse(t, bin, "http://localhost:"+pagePort+"/", "")
		results, _, _ = strings.Cut(dom, "</pre>")
		_, results, _ = strings.Cut(results, `<pre id="out">`)
	}
	if !strings.HasPrefix(results, "done ") {
		t.Fatalf("the page did not finish: %s", results)
	}
	t.Logf("page: %s", results)
	if d.Client.Demand() != nil {
		t.Fatalf("a page on another origin set the demand to %+v", d.Client.Demand())
	}
	// (ws://localhost may try ::1 first, where nothing listens, and time
	// out instead.)
	if !strings.Contains(results, `"ws 127.0.0.1":"refused"`) {
		t.Errorf("the WebSocket from the page was not refused: %s", results)
	}
	if strings.Contains(results, "answered") {
		t.Errorf("the endpoint answered the page: %s", results)
	}
}

// TestWalletEndpointRefusesOversizedBatches: a batch of more calls than
// go-ethereum allows (1,000) is refused as a whole, at once.
func TestWalletEndpointRefusesOversizedBatches(t *testing.T) {
	d := startDevnet(t, Config{Servers: 1, NoPayments: true})
	ctx, light := session(t, d, 30*time.Second)
	batch := make([]rpc.BatchElem, rpcauth.BatchItemLimit+1)
	for i := range batch {
		batch[i] = rpc.BatchElem{Method: "eth_chainId", Result: new(hexutil.Uint64)}
	}
	start := time.Now()
	err := light.BatchCallContext(ctx, batch)
	if err == nil {
		err = batch[0].Error
	}
	if err == nil || !strings.Contains(err.Error(), "batch too large") {
		t.Fatalf("batch of %d: %v, want batch too large", len(batch), err)
	}
	t.Logf("refused in %v", time.Since(start))
	if err := light.BatchCallContext(ctx, batch[:10]); err != nil || batch[0].Error != nil {
		t.Fatalf("batch of 10: %v %v", err, batch[0].Error)
	}
}
