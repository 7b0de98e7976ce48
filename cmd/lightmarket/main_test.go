package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/log"

	"github.com/lightmarket/lightmarket/internal/testchain"
)

const someEnode = "enode://4eeb3f5c6b0cb39f6474454ee6ed7964b298bfdddc4ed235f3d4e9b5bec362e8108b93d183d4892632fe3d416edf884d508fadc4753962024ce19b236a264564@127.0.0.1:30400"

func TestBadFlagsAreRefusedAtStart(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  func(context.Context, []string, io.Writer) error
		args []string
		want string
	}{
		{"client fraction 0", runClient, []string{"--ulc.servers", someEnode, "--ulc.fraction", "0"}, "--ulc.fraction 0: must be a percentage from 1 to 100"},
		{"client fraction 101", runClient, []string{"--ulc.servers", someEnode, "--ulc.fraction", "101"}, "must be a percentage from 1 to 100"},
		{"client without trusted servers", runClient, nil, "--ulc.servers: give at least one trusted server"},
		{"client bad enode", runClient, []string{"--ulc.servers", "enode://nope"}, "--ulc.servers"},
		{"client unknown network", runClient, []string{"--ulc.servers", someEnode, "--network", "moon"}, `--network "moon"`},
		{"devnet fraction", runDevnet, []string{"--ulc.fraction", "0"}, "--ulc.fraction 0"},
		{"devnet bad key", runDevnet, []string{"--dev.key", "xyz"}, "--dev.key"},
		{"devnet block time", runDevnet, []string{"--block-time", "-1s"}, "--block-time must be positive"},
		{"bench unknown", runBench, []string{"nope"}, `unknown benchmark "nope"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(context.Background(), append(tt.args, "--verbosity", "0"), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigFileAndDumpConfig(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/lm.toml"
	conf := "[client]\nhttp = \"127.0.0.1:9999\"\nulc.fraction = 67\n\"logs.range\" = 50\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runDumpConfig(context.Background(), []string{"client", "--config", path, "--ulc.fraction", "80"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`http = "127.0.0.1:9999"`, `"ulc.fraction" = 80`, `"logs.range" = 50`, `network = "dev"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dumpconfig lacks %s:\n%s", want, out.String())
		}
	}
	// What dumpconfig writes reads back to the same settings.
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := runDumpConfig(context.Background(), []string{"client", "--config", path}, &again); err != nil {
		t.Fatal(err)
	}
	if again.String() != out.String() {
		t.Errorf("round trip differs:\n%s\nvs\n%s", again.String(), out.String())
	}
	os.WriteFile(path, []byte("[client]\nnosuch = 1\n"), 0o600)
	if err := runDumpConfig(context.Background(), []string{"client", "--config", path}, io.Discard); err == nil || !strings.Contains(err.Error(), `no setting "nosuch"`) {
		t.Errorf("unknown setting: %v", err)
	}
}

func TestParseGwei(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "1": "1000000000", "0.000000001": "1", "12.5": "12500000000"} {
		got, err := parseGwei(in)
		if err != nil || got.String() != want {
			t.Errorf("parseGwei(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1", "x", "0.0000000001"} {
		if _, err := parseGwei(bad); err == nil {
			t.Errorf("parseGwei(%q) accepted", bad)
		}
	}
}

func TestNetworkFromAGenesisFile(t *testing.T) {
	c := testchain.Generate(1_700_000_000)
	path := filepath.Join(t.TempDir(), "genesis.json")
	if err := c.WriteGenesis(path); err != nil {
		t.Fatal(err)
	}
	cfg, hash, err := networkConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if hash != c.Genesis.ToBlock().Hash() || cfg.ChainID.Uint64() != testchain.ChainID || cfg.OsakaTime == nil {
		t.Errorf("genesis file read as chain %v, genesis %x; want %d, %x", cfg.ChainID, hash, testchain.ChainID, c.Genesis.ToBlock().Hash())
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"alloc": {}, "gasLimit": "0x1000000", "difficulty": "0x0"}`), 0o600)
	if _, _, err := networkConfig(bad); err == nil || !strings.Contains(err.Error(), "no chain config") {
		t.Errorf("genesis without config: %v", err)
	}
}

// TestChainWarningsNormalAtStartAreDropped pins which of the embedded
// chain's warnings a newcomer does not see: those normal at start, and
// no others.
func TestChainWarningsNormalAtStartAreDropped(t *testing.T) {
	var out bytes.Buffer
	h := filtered{log.NewTerminalHandlerWithLevel(&out, slog.LevelDebug, false), log.LevelWarn, normalAtStart, indexingAtStart}
	logger := log.NewLogger(h)
	cases := []struct {
		msg  string
		ctx  []any
		kept bool
	}{
		{"Head block is not reachable", nil, false},
		{"Served eth_getTransactionReceipt", []any{"reqid", 7, "err", "transaction indexing is in progress"}, false},
		{"Served eth_getTransactionReceipt", []any{"reqid", 8, "err", "invalid argument 0: hex string has length 2"}, true},
		{"Served eth_call", []any{"err", "execution reverted"}, true},
		{"Database compacting, degraded performance", nil, true},
	}
	for _, c := range cases {
		out.Reset()
		logger.Warn(c.msg, c.ctx...)
		if kept := out.Len() > 0; kept != c.kept {
			t.Errorf("%s %v: kept %v, want %v", c.msg, c.ctx, kept, c.kept)
		}
	}
	out.Reset()
	logger.Info("Imported new chain segment")
	if out.Len() > 0 {
		t.Error("an INFO line of the chain kept")
	}
}
