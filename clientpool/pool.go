// Package clientpool is a server's connection management as a pure core:
// which clients are admitted, with what capacity, and whom to reduce or
// disconnect when a higher-priority client arrives.
//
// Paid clients (positive balance) are kept in order of priority, their
// balance per unit of capacity. Free clients share what paid clients leave,
// each with FreeCapacity, and are ranked by how little their IP address has
// used recently: usage is accounted per IP, not per node key (which anyone
// can create), and decays with UsageHalfLife. A connected client is kept
// against a newcomer unless the newcomer's priority beats it by the bias.
//
// Decisions are O(log n): clients sit in a heap ordered by priority, lowest
// first. The pool does no I/O and reads time only from its clock; balances
// and usage are exported and imported by the shell that stores them.
package clientpool

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
)

// ID identifies a client (its node id).
type ID [32]byte

func (id ID) String() string { return fmt.Sprintf("%x", id[:8]) }

// Tier is a client's service tier.
type Tier string

const (
	Free Tier = "free"
	Paid Tier = "paid"
)

// Errors of Connect.
var (
	ErrPoolFull         = errors.New("client pool full of higher-priority clients")
	ErrAlreadyConnected = errors.New("client already connected")
	ErrNoCapacity       = errors.New("capacity asked exceeds what the pool can give")
)

// Config configures a pool. Zero values take the defaults noted.
type Config struct {
	Clock mclock.Clock // required
	// TotalCapacity is the serving capacity shared by all clients, in
	// cost units per millisecond (1,000,000 = one serving thread).
	TotalCapacity uint64
	// MaxClients bounds connected clients (default 100).
	MaxClients int
	// FreeCapacity is what a free client gets (default TotalCapacity/100).
	FreeCapacity uint64
	// Bias is how long of its own capacity a connected client is credited
	// against a newcomer (default 3 minutes).
	Bias time.Duration
	// UsageHalfLife is the half-life of an IP's recorded free usage
	// (default 1 hour).
	UsageHalfLife time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxClients == 0 {
		c.MaxClients = 100
	}
	if c.FreeCapacity == 0 {
		c.FreeCapacity = max(c.TotalCapacity/100, 1)
	}
	if c.Bias == 0 {
		c.Bias = 3 * time.Minute
	}
	if c.UsageHalfLife == 0 {
		c.UsageHalfLife = time.Hour
	}
	return c
}

// Change is a decision the shell carries out: give a client a new capacity,
// or disconnect it.
type Change struct {
	ID         ID
	Capacity   uint64 // new capacity; 0 with Disconnect
	Disconnect bool
	Reason     string
}

// Client is a connected client as the pool sees it.
type Client struct {
	ID       ID
	IP       string
	Tier     Tier
	Capacity uint64
	Priority float64
	Balance  *big.Int // wei
	Usage    float64  // recent cost units used by the client's IP
	want     uint64   // capacity asked for as a paid client
	index    int      // in the heap
	rank     float64  // heap key within the tier, see less
}

// Pool is the client pool.
type Pool struct {
	cfg      Config
	clients  map[ID]*Client
	queue    clientHeap // lowest priority first
	used     uint64     // capacity given out
	balances map[ID]*big.Int
	usage    map[string]*decaying // by IP
	byIP     map[string][]*Client // connected clients by IP
}

// New creates a pool.
func New(cfg Config) (*Pool, error) {
	if cfg.Clock == nil {
		return nil, errors.New("clientpool: no clock")
	}
	if cfg.TotalCapacity == 0 {
		return nil, errors.New("clientpool: no capacity")
	}
	cfg = cfg.withDefaults()
	if cfg.FreeCapacity > cfg.TotalCapacity {
		return nil, fmt.Errorf("clientpool: free capacity %d above the total %d", cfg.FreeCapacity, cfg.TotalCapacity)
	}
	return &Pool{
		cfg:      cfg,
		clients:  make(map[ID]*Client),
		balances: make(map[ID]*big.Int),
		usage:    make(map[string]*decaying),
		byIP:     make(map[string][]*Client),
	}, nil
}

// priority ranks a client for display: paid clients by balance per unit
// of capacity (positive), free ones by minus their IP's recent usage in
// milliseconds of serving (never positive).
func (p *Pool) priority(c *Client, now mclock.AbsTime) float64 {
	if c.Tier == Paid {
		return paidPriority(c)
	}
	return -p.ipUsage(c.IP, now) / 1e6
}

func paidPriority(c *Client) float64 {
	b, _ := new(big.Float).SetInt(c.Balance).Float64()
	return b / float64(max(c.Capacity, 1))
}

// setRank computes the heap key. Free clients are ordered by their IP's
// usage referred to time zero, in the log domain (log2 of usage plus
// elapsed half-lives): all IPs' usage decays alike, so this order never
// changes with time alone and the heap needs no refresh.
func (p *Pool) setRank(c *Client) {
	if c.Tier == Paid {
		c.rank = paidPriority(c)
		return
	}
	d := p.usage[c.IP]
	if d == nil || d.value <= 0 {
		c.rank = math.Inf(1) // no usage: the best free client
		return
	}
	c.rank = -(math.Log2(d.value) + float64(d.at)/float64(p.cfg.UsageHalfLife))
}

// paidMargin is how much more a paid newcomer's priority must be than a
// connected paid client's to replace it.
const paidMargin = 1.05

// beats reports whether newcomer c may replace connected client low: a
// paid client always beats a free one; within a tier the newcomer must win
// by the bias (free: Bias of low's capacity less usage; paid: 5 %).
func (p *Pool) beats(c, low *Client, now mclock.AbsTime) bool {
	switch {
	case c.Tier == Paid && low.Tier == Free:
		return true
	case c.Tier == Free && low.Tier == Paid:
		return false
	case c.Tier == Paid:
		return paidPriority(c) > paidPriority(low)*paidMargin
	}
	bias := float64(low.Capacity) * float64(p.cfg.Bias/time.Millisecond)
	return p.ipUsage(low.IP, now)-p.ipUsage(c.IP, now) > bias
}

// Connect admits a client asking for capacity want (paid clients; free
// clients get their IP's share of FreeCapacity), or refuses it. It returns a
// copy of the client's record. Admitting it may reduce or
// disconnect lower-priority clients; those decisions are returned.
func (p *Pool) Connect(id ID, ip string, want uint64) (Client, []Change, error) {
	now := p.cfg.Clock.Now()
	if _, ok := p.clients[id]; ok {
		return Client{}, nil, ErrAlreadyConnected
	}
	c := &Client{ID: id, IP: ip, Tier: Free, Capacity: p.freeShare(ip, 1), Balance: new(big.Int), want: want}
	if b := p.balances[id]; b != nil && b.Sign() > 0 {
		c.Tier, c.Balance, c.Capacity = Paid, new(big.Int).Set(b), max(want, p.cfg.FreeCapacity)
	}
	if c.Capacity > p.cfg.TotalCapacity {
		return Client{}, nil, fmt.Errorf("%w: %d of %d", ErrNoCapacity, c.Capacity, p.cfg.TotalCapacity)
	}
	c.Priority = p.priority(c, now)
	c.Usage = p.ipUsage(ip, now)
	p.setRank(c)

	// Make room: take the lowest clients off the heap while the newcomer
	// beats them; put them back if it cannot get in after all. A paid
	// client first steps down to the free capacity when that is enough;
	// only then is it disconnected.
	var victims, reduced []*Client
	freed, slots := p.cfg.TotalCapacity-p.used, p.cfg.MaxClients-len(p.clients)
	for (freed < c.Capacity || slots < 1) && len(p.queue) > 0 {
		low := p.queue[0]
		if !p.beats(c, low, now) {
			break
		}
		heap.Pop(&p.queue)
		if low.Tier == Paid && low.Capacity > p.cfg.FreeCapacity && slots >= 1 && freed+low.Capacity-p.cfg.FreeCapacity >= c.Capacity {
			reduced = append(reduced, low)
			freed += low.Capacity - p.cfg.FreeCapacity
			break
		}
		victims = append(victims, low)
		freed += low.Capacity
		slots++
	}
	if freed < c.Capacity || slots < 1 {
		for _, v := range append(victims, reduced...) {
			heap.Push(&p.queue, v)
		}
		return Client{}, nil, ErrPoolFull
	}
	var changes []Change
	for _, r := range reduced {
		p.used -= r.Capacity - p.cfg.FreeCapacity
		r.Capacity = p.cfg.FreeCapacity
		p.setRank(r)
		heap.Push(&p.queue, r)
		changes = append(changes, Change{ID: r.ID, Capacity: r.Capacity, Reason: fmt.Sprintf("reduced for a higher-priority %s client", c.Tier)})
	}
	for _, v := range victims {
		delete(p.clients, v.ID)
		p.unindexIP(v)
		p.used -= v.Capacity
		changes = append(changes, Change{ID: v.ID, Disconnect: true, Reason: fmt.Sprintf("replaced by a higher-priority %s client", c.Tier)})
	}
	p.clients[id] = c
	p.byIP[ip] = append(p.byIP[ip], c)
	heap.Push(&p.queue, c)
	p.used += c.Capacity
	if c.Tier == Free {
		changes = append(changes, p.shareIP(ip, c)...)
	}
	out := *c
	out.Balance = new(big.Int).Set(c.Balance)
	return out, changes, nil
}

// Disconnect removes a client. The other free clients of its IP get a
// larger share; those changes are returned.
func (p *Pool) Disconnect(id ID) []Change {
	c := p.clients[id]
	if c == nil {
		return nil
	}
	p.remove(c)
	if c.Tier == Free {
		return p.shareIP(c.IP, nil)
	}
	return nil
}

func (p *Pool) remove(c *Client) {
	heap.Remove(&p.queue, c.index)
	delete(p.clients, c.ID)
	p.unindexIP(c)
	p.used -= c.Capacity
}

// freeShare is the capacity of each free client of ip when extra more
// join: free clients of one IP share one FreeCapacity, so that many node
// keys on one machine get no more than one key would.
func (p *Pool) freeShare(ip string, extra int) uint64 {
	n := extra
	for _, c := range p.byIP[ip] {
		if c.Tier == Free {
			n++
		}
	}
	return p.cfg.FreeCapacity / uint64(max(n, 1))
}

// shareIP gives every free client of ip but skip its share of the IP's
// free capacity and returns the changes.
func (p *Pool) shareIP(ip string, skip *Client) []Change {
	share := p.freeShare(ip, 0)
	var changes []Change
	for _, c := range p.byIP[ip] {
		if c == skip || c.Tier != Free || c.Capacity == share {
			continue
		}
		// A raise takes only what the pool has left.
		target := min(share, c.Capacity+(p.cfg.TotalCapacity-p.used))
		if target == c.Capacity {
			continue
		}
		p.used = p.used - c.Capacity + target
		c.Capacity = target
		changes = append(changes, Change{ID: c.ID, Capacity: target, Reason: "free capacity shared with other clients of the same IP"})
	}
	return changes
}

func (p *Pool) unindexIP(c *Client) {
	list := p.byIP[c.IP]
	for i, x := range list {
		if x == c {
			list[i] = list[len(list)-1]
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(p.byIP, c.IP)
	} else {
		p.byIP[c.IP] = list
	}
}

// Served records cost units served to a client; free usage counts against
// its IP.
func (p *Pool) Served(id ID, cost uint64) {
	c := p.clients[id]
	if c == nil {
		return
	}
	if c.Tier != Free {
		return
	}
	now := p.cfg.Clock.Now()
	p.addUsage(c.IP, float64(cost), now)
	// Every client of the IP moves: O(k log n) for k clients on the IP.
	for _, other := range p.byIP[c.IP] {
		p.reprioritize(other, now)
	}
}

// SetBalance sets a client's balance in wei. A connected free client with a
// positive balance becomes paid, a paid one without balance becomes free
// (and gets the free capacity: returned as a change).
func (p *Pool) SetBalance(id ID, wei *big.Int) []Change {
	if wei.Sign() <= 0 {
		delete(p.balances, id)
	} else {
		p.balances[id] = new(big.Int).Set(wei)
	}
	c := p.clients[id]
	if c == nil {
		return nil
	}
	now := p.cfg.Clock.Now()
	c.Balance = new(big.Int).Set(wei)
	var changes []Change
	switch {
	case wei.Sign() > 0 && c.Tier == Free:
		// Paid now: the capacity it asked for, as far as the pool has it.
		c.Tier = Paid
		paid := max(c.want, p.cfg.FreeCapacity)
		paid = min(paid, c.Capacity+(p.cfg.TotalCapacity-p.used))
		if paid != c.Capacity {
			p.used = p.used - c.Capacity + paid
			c.Capacity = paid
			changes = append(changes, Change{ID: id, Capacity: paid, Reason: "paid tier"})
		}
		changes = append(changes, p.shareIP(c.IP, nil)...)
	case wei.Sign() <= 0 && c.Tier == Paid:
		c.Tier = Free
		share := min(p.freeShare(c.IP, 0), p.cfg.TotalCapacity-(p.used-c.Capacity))
		p.used = p.used - c.Capacity + share
		c.Capacity = share
		changes = append(changes, Change{ID: id, Capacity: c.Capacity, Reason: "balance exhausted: free tier"})
		changes = append(changes, p.shareIP(c.IP, c)...)
	}
	p.reprioritize(c, now)
	return changes
}

// Balance is a client's balance (zero when it has none).
func (p *Pool) Balance(id ID) *big.Int {
	if b := p.balances[id]; b != nil {
		return new(big.Int).Set(b)
	}
	return new(big.Int)
}

func (p *Pool) reprioritize(c *Client, now mclock.AbsTime) {
	c.Priority = p.priority(c, now)
	c.Usage = p.ipUsage(c.IP, now)
	p.setRank(c)
	heap.Fix(&p.queue, c.index)
}

// Snapshot lists the connected clients, lowest priority first.
func (p *Pool) Snapshot() []Client {
	now := p.cfg.Clock.Now()
	out := make([]Client, 0, len(p.clients))
	for _, c := range p.queue {
		cc := *c
		cc.Priority, cc.Usage = p.priority(c, now), p.ipUsage(c.IP, now)
		cc.Balance = new(big.Int).Set(c.Balance)
		out = append(out, cc)
	}
	sort.Slice(out, func(i, j int) bool { return less(&out[i], &out[j]) })
	return out
}

// Capacity reports the pool's capacity: total, given to paid and to free
// clients.
func (p *Pool) Capacity() (total, paid, free uint64) {
	for _, c := range p.clients {
		if c.Tier == Paid {
			paid += c.Capacity
		} else {
			free += c.Capacity
		}
	}
	return p.cfg.TotalCapacity, paid, free
}

// decaying is a value that halves every half-life.
type decaying struct {
	value float64
	at    mclock.AbsTime
}

func (p *Pool) ipUsage(ip string, now mclock.AbsTime) float64 {
	d := p.usage[ip]
	if d == nil {
		return 0
	}
	return d.value * math.Exp2(-float64(now-d.at)/float64(p.cfg.UsageHalfLife))
}

func (p *Pool) addUsage(ip string, cost float64, now mclock.AbsTime) {
	p.usage[ip] = &decaying{value: p.ipUsage(ip, now) + cost, at: now}
}

// clientHeap orders clients by priority, lowest first.
type clientHeap []*Client

func (h clientHeap) Len() int           { return len(h) }
func (h clientHeap) Less(i, j int) bool { return less(h[i], h[j]) }

// less orders clients lowest priority first: free before paid, then by rank.
func less(a, b *Client) bool {
	if a.Tier != b.Tier {
		return a.Tier == Free
	}
	return a.rank < b.rank
}
func (h clientHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *clientHeap) Push(x any) {
	c := x.(*Client)
	c.index = len(*h)
	*h = append(*h, c)
}
func (h *clientHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// State is what a pool must keep across restarts: balances, and every IP's
// recent usage (as of the moment of export).
type State struct {
	Balances map[ID]*big.Int
	Usage    map[string]float64
}

// Export returns the pool's balances and current IP usage.
func (p *Pool) Export() State {
	now := p.cfg.Clock.Now()
	st := State{Balances: make(map[ID]*big.Int, len(p.balances)), Usage: make(map[string]float64, len(p.usage))}
	for id, b := range p.balances {
		st.Balances[id] = new(big.Int).Set(b)
	}
	for ip := range p.usage {
		if u := p.ipUsage(ip, now); u >= 1 {
			st.Usage[ip] = u
		}
	}
	return st
}

// Import loads balances and usage (as of now) into a pool that has no
// clients yet.
func (p *Pool) Import(st State) {
	now := p.cfg.Clock.Now()
	for id, b := range st.Balances {
		if b.Sign() > 0 {
			p.balances[id] = new(big.Int).Set(b)
		}
	}
	for ip, u := range st.Usage {
		p.usage[ip] = &decaying{value: u, at: now}
	}
}

// HalfLife is the pool's usage half-life, for stores that decay usage
// across a restart.
func (p *Pool) HalfLife() time.Duration { return p.cfg.UsageHalfLife }

// CapacityOf is a connected client's capacity; ok is false for a client
// not connected.
func (p *Pool) CapacityOf(id ID) (capacity uint64, ok bool) {
	if c := p.clients[id]; c != nil {
		return c.Capacity, true
	}
	return 0, false
}

// Tier is a connected client's tier (Free for unknown clients).
func (p *Pool) Tier(id ID) Tier {
	if c := p.clients[id]; c != nil {
		return c.Tier
	}
	return Free
}

// SetPaidCapacity gives a paying client the capacity it won (in the
// auction); 0 puts it back on its IP's free share. The capacity must fit:
// the auction sells at most what the server set aside for it.
func (p *Pool) SetPaidCapacity(id ID, capacity uint64) []Change {
	c := p.clients[id]
	if c == nil {
		return nil
	}
	now := p.cfg.Clock.Now()
	var changes []Change
	if capacity == 0 || p.Balance(id).Sign() <= 0 {
		if c.Tier == Paid {
			c.Tier = Free
			share := min(p.freeShare(c.IP, 0), p.cfg.TotalCapacity-(p.used-c.Capacity))
			p.used = p.used - c.Capacity + share
			c.Capacity = share
			changes = append(changes, Change{ID: id, Capacity: share, Reason: "no paid capacity: free tier"})
			changes = append(changes, p.shareIP(c.IP, c)...)
		}
	} else {
		wasFree := c.Tier == Free
		c.Tier = Paid
		capacity = min(capacity, c.Capacity+(p.cfg.TotalCapacity-p.used))
		p.used = p.used - c.Capacity + capacity
		c.Capacity = capacity
		changes = append(changes, Change{ID: id, Capacity: capacity, Reason: "paid capacity"})
		if wasFree {
			changes = append(changes, p.shareIP(c.IP, nil)...)
		}
	}
	p.reprioritize(c, now)
	return changes
}
