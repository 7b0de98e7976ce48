package lightclient

import (
	"encoding/hex"
	"log/slog"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/client"
)

// Status is what a wallet shows of its light client: the head and how it
// is verified, the servers with the tier and price at each, the demand,
// what was spent and what the budget leaves, and the app's state.
type Status struct {
	Head    *client.HeadStatus   `json:"head"`
	Servers []client.ServerStats `json:"servers"`
	// Demand is the demand bid (nil: free service only); Paid is set
	// while the client holds paid capacity at some server.
	Demand *Demand `json:"demand"`
	Paid   bool    `json:"paid"`
	// Spent is what each server was paid; SpentTotal their sum, Budget
	// the most one server may be paid, and BudgetLeft what the budget
	// leaves at the server paid most: wei in decimal ("" without
	// payments).
	Spent      []client.Spending `json:"spent"`
	SpentTotal string            `json:"spentTotal"`
	Budget     string            `json:"budget"`
	BudgetLeft string            `json:"budgetLeft"`
	// App, Network and Metered are what the app said of itself.
	App     AppState `json:"app"`
	Network string   `json:"network"`
	Metered bool     `json:"metered"`
}

// Status returns the client's status now.
func (n *Node) Status() *Status {
	st := &Status{
		Head:    n.client.HeadStatus(),
		Servers: n.client.Servers(),
		Demand:  n.Demand(),
		Spent:   n.client.Spending(),
	}
	for _, s := range st.Servers {
		st.Paid = st.Paid || (s.Connected && s.PaidCapacity > 0)
	}
	if n.wallet != nil {
		total, most := new(big.Int), new(big.Int)
		for _, s := range st.Spent {
			if v, ok := new(big.Int).SetString(s.Spent, 10); ok {
				total.Add(total, v)
				if v.Cmp(most) > 0 {
					most = v
				}
			}
		}
		budget := n.wallet.Budget()
		left := new(big.Int).Sub(budget, most)
		if left.Sign() < 0 {
			left.SetInt64(0)
		}
		st.SpentTotal, st.Budget, st.BudgetLeft = total.String(), budget.String(), left.String()
	}
	n.mu.Lock()
	st.App, st.Network, st.Metered = n.app, n.network, n.metered
	n.mu.Unlock()
	return st
}

// SubscribeStatus sends the status to ch whenever something a wallet
// shows changes: the head or its verification, a server's connection,
// tier or price, the demand, what was spent, the app's state. (Ages and
// latencies, which change all the time, do not count.)
func (n *Node) SubscribeStatus(ch chan<- *Status) event.Subscription {
	return n.statusFed.Subscribe(ch)
}

// Status polling: often in the foreground, seldom in the background,
// where only the app's own calls change anything.
const (
	statusEvery           = time.Second
	statusEveryBackground = 10 * time.Second
)

// statusLoop sends the status when it changed, at each head and between.
func (n *Node) statusLoop() {
	defer close(n.loopDone)
	heads := make(chan *types.Header, 1)
	sub := n.client.SubscribeHeads(heads)
	defer sub.Unsubscribe()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last string
	for {
		select {
		case <-heads:
		case <-timer.C:
		case <-n.quit:
			return
		}
		st := n.Status()
		if key := st.key(); key != last {
			last = key
			n.statusFed.Send(st)
		}
		every := statusEvery
		if st.App == Background {
			every = statusEveryBackground
		}
		timer.Reset(every)
	}
}

// key sums up what a change of is worth an event.
func (st *Status) key() string {
	var b strings.Builder
	h := st.Head
	b.WriteString(h.Hash.Hex())
	b.WriteString(boolString(h.Verified))
	b.WriteString(itoa(h.Signers) + "/" + itoa(h.Connected))
	for _, s := range st.Servers {
		b.WriteString("|" + s.Enode + boolString(s.Connected) + boolString(s.Banned) + s.Tier + s.Price + itoa(int(s.PaidCapacity)))
	}
	if d := st.Demand; d != nil {
		j, _ := d.MarshalJSON()
		b.Write(j)
	}
	b.WriteString("|" + st.SpentTotal + "|" + st.Budget + "|" + string(st.App) + st.Network + boolString(st.Metered))
	return b.String()
}

func boolString(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

func itoa(v int) string { return strconv.Itoa(v) }

// newLogger logs at a legacy verbosity (0 silent ... 5 trace) to stderr.
func newLogger(verbosity int) log.Logger {
	lvl := log.FromLegacyLevel(verbosity)
	if verbosity <= 0 {
		lvl = slog.LevelError + 10
	}
	return log.NewLogger(log.NewTerminalHandlerWithLevel(os.Stderr, lvl, false))
}

func hexBytes(s string) ([]byte, error) {
	return hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
}
