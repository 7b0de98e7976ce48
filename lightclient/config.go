package lightclient

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/params"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightmarket/lightmarket/chain/devchain"
	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/paychan"
	"github.com/lightmarket/lightmarket/rpcapi"
)

// Config is everything a light client is started with: the fields the
// CLI's `client` flags set, by the same names in JSON. A zero field takes
// the default noted; the JSON of a zero Config plus "trusted" is a working
// configuration.
type Config struct {
	// Network is the chain: "dev" (lightmarket's embedded chain, the
	// default), "geth-dev", "mainnet", "sepolia", "hoodi", or the path of
	// a geth-style genesis JSON file.
	Network string `json:"network,omitempty"`
	// Genesis is the genesis hash; on dev networks the one Fraction of the
	// trusted servers agree on by default.
	Genesis string `json:"genesis,omitempty"`
	// Trusted are the enode URLs of the servers whose signatures make a
	// head (at least one; enode://<key> without an address is found
	// through Bootnodes). Fraction is the percentage of them that must
	// sign (default 75).
	Trusted  []string `json:"trusted"`
	Fraction int      `json:"fraction,omitempty"`
	// Heads is which heads are accepted: "ulc" (the default: signed by
	// Fraction of Trusted), "beacon" (signed by the beacon chain's sync
	// committee, trusting no server: needs BeaconCheckpoint, and Genesis
	// on other than the known networks) or "both" (signed by both).
	Heads string `json:"heads,omitempty"`
	// BeaconCheckpoint is the root of a recent finalized beacon block the
	// sync committee chain starts from. BeaconConfig is the file of the
	// consensus configuration (a consensus config.yaml with
	// GENESIS_VALIDATORS_ROOT and GENESIS_TIME) on networks other than
	// mainnet, sepolia and hoodi, whose configurations are built in.
	BeaconCheckpoint string `json:"beaconCheckpoint,omitempty"`
	BeaconConfig     string `json:"beaconConfig,omitempty"`
	// Servers are further, untrusted servers (data only).
	Servers []string `json:"servers,omitempty"`
	// Bootnodes and DNS (EIP-1459 enrtree:// lists) are where servers are
	// found; MaxServers of them are kept connected (default 6; negative:
	// none). DiscoveryAddr is the discv5 socket's UDP address (default an
	// ephemeral port).
	Bootnodes     []string `json:"bootnodes,omitempty"`
	DNS           []string `json:"dns,omitempty"`
	MaxServers    int      `json:"maxServers,omitempty"`
	DiscoveryAddr string   `json:"discoveryAddr,omitempty"`
	// HeadMaxAge: nothing that needs the head is answered once the
	// verified head is older than this (default 60 s; negative: any age).
	HeadMaxAge Duration `json:"headMaxAge,omitempty"`
	// HTTP is where the wallet endpoint listens (HTTP and WebSocket), e.g.
	// "127.0.0.1:8545"; empty: nowhere (an app calls RPC, Request or
	// Handler in process).
	HTTP      string   `json:"http,omitempty"`
	CORS      []string `json:"corsDomains,omitempty"`
	VHosts    []string `json:"vhosts,omitempty"` // default "localhost"
	WSOrigins []string `json:"wsOrigins,omitempty"`
	// ControlSecretFile holds the secret that signs the HTTP endpoint's
	// control tokens (default <DataDir>/control.jwtsecret; without a data
	// directory, a secret nobody knows). In-process callers need none.
	ControlSecretFile string `json:"controlSecretFile,omitempty"`
	// LogRange bounds the blocks one eth_getLogs covers (default 10,000).
	LogRange uint64 `json:"logRange,omitempty"`
	// CacheMB bounds the verified state kept for later calls (default 64).
	CacheMB int `json:"cacheMB,omitempty"`
	// DataDir keeps the node key, the history roots, the nodes discovery
	// met and the payment wallet; empty: a fresh key each start, no
	// payments.
	DataDir string `json:"dataDir,omitempty"`
	// Metrics serves Prometheus metrics on this address (off when empty).
	Metrics string `json:"metrics,omitempty"`
	// Paid is the demand bid from the start (nil: free service only).
	Paid *Demand `json:"paid,omitempty"`
	// Payment says where and how the client pays.
	Payment Payment `json:"payment"`
	// KeepPaidInBackground keeps the paid server connected and the demand
	// bid while the app is in the background; otherwise the demand is
	// withdrawn there and bid again on return.
	KeepPaidInBackground bool `json:"keepPaidInBackground,omitempty"`
	// Verbosity is the log level of a logger made for the node (0 silent,
	// 1 error, 2 warn, 3 info, 4 debug, 5 trace) when Logger is nil and
	// Verbosity is set; otherwise the node logs to go-ethereum's root
	// logger.
	Verbosity int `json:"verbosity,omitempty"`
	// NoPrefetch turns off asking, at each new head, for the witnesses of
	// the calls recently made at the head.
	NoPrefetch bool       `json:"noPrefetch,omitempty"`
	Logger     log.Logger `json:"-"`
	// Contract and PaymentKey, for Go callers, pay on a contract already
	// opened (instead of Payment's rpc, contract and key).
	Contract   *paychan.Contract `json:"-"`
	PaymentKey *ecdsa.PrivateKey `json:"-"`
	// Registerer, for Go callers, takes the client's metrics into a
	// registry the caller serves.
	Registerer prometheus.Registerer `json:"-"`
	// Progress reports slow steps a person waits for (a channel being
	// opened); default: logged.
	Progress func(msg string, kv ...any) `json:"-"`
}

// Payment is where and how a client pays: the chain's JSON-RPC, the
// Channels contract and the paying key (in hex, or a keystore file with
// its password in a file), and amounts in decimal gwei.
type Payment struct {
	RPC           string `json:"rpc,omitempty"`
	Contract      string `json:"contract,omitempty"`
	Key           string `json:"key,omitempty"`
	KeyFile       string `json:"keyFile,omitempty"`
	PasswordFile  string `json:"passwordFile,omitempty"`
	Confirmations uint64 `json:"confirmations,omitempty"`
	// Deposit is locked in a new channel and added by each top-up
	// (default 10,000,000 gwei); Budget is the most paid to one server in
	// total (default 1,000,000,000); Exposure the most paid ahead to one
	// server at a time (default 1,000,000).
	Deposit  string `json:"deposit,omitempty"`
	Budget   string `json:"budget,omitempty"`
	Exposure string `json:"exposure,omitempty"`
	// Lead is how much paid service is paid ahead (default 10 s).
	Lead Duration `json:"lead,omitempty"`
}

// Payment defaults, gwei.
const (
	DefaultDeposit  = "10000000"
	DefaultBudget   = "1000000000"
	DefaultExposure = "1000000"
)

// Demand is what the client bids for paid capacity: up to Capacity
// (cost units per ms), at least Min (0: all of Capacity), at no more than
// MaxPrice wei per capacity-unit-second. Budget, when set, changes the
// most one server is paid in total (wei).
type Demand struct {
	Capacity uint64   `json:"capacity"`
	Min      uint64   `json:"min,omitempty"`
	MaxPrice *big.Int `json:"-"`
	Budget   *big.Int `json:"-"`
}

type demandJSON struct {
	Capacity uint64                `json:"capacity"`
	Min      uint64                `json:"min,omitempty"`
	MaxPrice *math.HexOrDecimal256 `json:"maxPrice"`
	Budget   *math.HexOrDecimal256 `json:"budget,omitempty"`
}

// MarshalJSON writes the amounts as hex strings of wei.
func (d Demand) MarshalJSON() ([]byte, error) {
	return json.Marshal(demandJSON{d.Capacity, d.Min, (*math.HexOrDecimal256)(d.MaxPrice), (*math.HexOrDecimal256)(d.Budget)})
}

// UnmarshalJSON reads the amounts as wei, in decimal or 0x-hex strings.
func (d *Demand) UnmarshalJSON(b []byte) error {
	var j demandJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*d = Demand{Capacity: j.Capacity, Min: j.Min, MaxPrice: (*big.Int)(j.MaxPrice), Budget: (*big.Int)(j.Budget)}
	return nil
}

// clientDemand checks d and returns it as the client bids it.
func (d *Demand) clientDemand() (*client.Demand, error) {
	if d.Capacity == 0 {
		return nil, errors.New("demand: capacity must be above 0")
	}
	if d.MaxPrice == nil || d.MaxPrice.Sign() < 0 {
		return nil, errors.New("demand: give maxPrice, wei per capacity-unit-second")
	}
	if d.Budget != nil && d.Budget.Sign() < 0 {
		return nil, errors.New("demand: a budget is 0 wei or more")
	}
	min := d.Min
	if min == 0 || min > d.Capacity {
		min = d.Capacity
	}
	return &client.Demand{Max: d.Capacity, Min: min, MaxPrice: new(big.Int).Set(d.MaxPrice)}, nil
}

// Duration is a time.Duration written in JSON as Go writes durations
// ("60s", "1m30s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "60s", "1m30s" and the like.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"60s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// FieldError is a mistake in one field of a Config: Field is its JSON
// name, Value (when given) what it held.
type FieldError struct {
	Field, Value string
	Err          error
}

func (e *FieldError) Error() string {
	if e.Value != "" {
		return e.Field + " " + e.Value + ": " + e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, value string, format string, a ...any) error {
	return &FieldError{Field: field, Value: value, Err: fmt.Errorf(format, a...)}
}

// ParseConfig reads a configuration from JSON, refusing unknown fields (a
// misspelt field would otherwise be ignored silently).
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("lightclient: configuration: %w", err)
	}
	return cfg, nil
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Network == "" {
		c.Network = "dev"
	}
	if c.Fraction == 0 {
		c.Fraction = 75
	}
	if c.HeadMaxAge == 0 {
		c.HeadMaxAge = Duration(client.DefaultHeadMaxAge)
	}
	if c.LogRange == 0 {
		c.LogRange = rpcapi.DefaultLogRange
	}
	if c.CacheMB == 0 {
		c.CacheMB = client.DefaultCacheBytes >> 20
	}
	if c.Payment.Deposit == "" {
		c.Payment.Deposit = DefaultDeposit
	}
	if c.Payment.Budget == "" {
		c.Payment.Budget = DefaultBudget
	}
	if c.Payment.Exposure == "" {
		c.Payment.Exposure = DefaultExposure
	}
	if c.Payment.Lead == 0 {
		c.Payment.Lead = Duration(10 * time.Second)
	}
	return c
}

// Network returns the chain configuration and genesis hash of a built-in
// network, or of the genesis JSON file at path name. The dev networks'
// genesis is zero: the trusted servers agree on it.
func Network(name string) (*params.ChainConfig, common.Hash, error) {
	switch name {
	case "dev":
		return devchain.ChainConfig(), common.Hash{}, nil
	case "geth-dev":
		return params.AllDevChainProtocolChanges, common.Hash{}, nil
	case "mainnet":
		return params.MainnetChainConfig, params.MainnetGenesisHash, nil
	case "sepolia":
		return params.SepoliaChainConfig, params.SepoliaGenesisHash, nil
	case "hoodi":
		return params.HoodiChainConfig, params.HoodiGenesisHash, nil
	}
	if _, err := os.Stat(name); err != nil {
		return nil, common.Hash{}, fieldErr("network", fmt.Sprintf("%q", name), "want dev, geth-dev, mainnet, sepolia, hoodi or a genesis JSON file")
	}
	return genesisFile(name)
}

// genesisFile reads a geth-style genesis JSON file: its chain
// configuration, and its genesis hash, computed from the whole genesis.
func genesisFile(path string) (*params.ChainConfig, common.Hash, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, common.Hash{}, fieldErr("network", "", "%w", err)
	}
	var g core.Genesis
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, common.Hash{}, fieldErr("network", path, "not a genesis JSON file: %w", err)
	}
	if g.Config == nil || g.Config.ChainID == nil {
		return nil, common.Hash{}, fieldErr("network", path, "the genesis has no chain config with a chainId")
	}
	return g.Config, g.ToBlock().Hash(), nil
}
