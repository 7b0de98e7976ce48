// Command lightmarket runs lightmarket servers, light clients, or a whole
// development network in one process.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ethereum/go-ethereum/log"
)

func usage() string {
	var b strings.Builder
	b.WriteString("lightmarket: a service model for Ethereum light clients.\n\nUsage:\n  lightmarket <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		if c.short != "" {
			fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.short)
		}
	}
	b.WriteString("\nRun 'lightmarket <command> --help' for the flags of a command.\n")
	return b.String()
}

type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands []command

func init() {
	// In init because dumpconfig runs the other commands.
	commands = []command{
		{"devnet", "run the embedded chain, servers and a client in one process", runDevnet},
		{"server", "serve light clients from a chain", runServer},
		{"client", "run a light client with a local JSON-RPC for wallets", runClient},
		{"bootnode", "run a discv5 bootnode where servers and clients meet", runBootnode},
		{"call", "make one JSON-RPC call, signed for the control methods", runCall},
		{"contract", "deploy the payment channel contract on a chain (contract deploy)", runContract},
		{"bench", "measure lightmarket against its targets", runBench},
		{"sim", "simulate a market of servers and clients on a simulated clock", runSim},
		{"dumpconfig", "print a command's effective configuration as TOML", runDumpConfig},
		{"benchflood", "", runBenchFlood}, // internal: the flood process of bench qos
		{"benchconns", "", runBenchConns}, // internal: the idle clients of bench serve
	}
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Fprint(os.Stderr, usage())
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(ctx, os.Args[2:], os.Stdout); err != nil {
				if err == flag.ErrHelp {
					return
				}
				if ctx.Err() != nil {
					// Ctrl-C (or SIGTERM) while starting: what was asked.
					fmt.Fprintln(os.Stderr, "lightmarket "+c.name+": stopped")
					return
				}
				fmt.Fprintln(os.Stderr, "lightmarket "+c.name+":", err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "lightmarket: unknown command %q\n\n%s", os.Args[1], usage())
	os.Exit(2)
}

// newFlagSet returns a flag set for a command, with the shared --verbosity
// flag.
func newFlagSet(name, synopsis string) (*flag.FlagSet, *int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: lightmarket %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	verbosity := fs.Int("verbosity", 3, "log level: 0 silent, 1 error, 2 warn, 3 info, 4 debug, 5 trace")
	fs.String("config", "", "TOML file with settings of this command (its table named after the command); flags override it")
	return fs, verbosity
}

// setupLogging sends logs at the given verbosity to stderr.
func setupLogging(verbosity int) log.Logger {
	lvl := log.FromLegacyLevel(verbosity)
	if verbosity <= 0 {
		lvl = slog.LevelError + 10
	}
	h := log.NewTerminalHandlerWithLevel(os.Stderr, lvl, false)
	logger := log.NewLogger(h)
	log.SetDefault(logger)
	return logger
}

// chainLogger is the logger of the embedded chain: go-ethereum logs
// several lines a block at INFO, which would bury what lightmarket says,
// so the chain (and whatever in go-ethereum logs to its default logger)
// logs warnings and errors only unless --verbosity was given.
func chainLogger(fs *flag.FlagSet, logger log.Logger) log.Logger {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "verbosity" })
	if given {
		return logger.New("part", "chain")
	}
	quiet := log.NewLogger(filtered{logger.Handler(), log.LevelWarn, normalAtStart, indexingAtStart})
	log.SetDefault(quiet)
	return quiet.New("part", "chain")
}

// filtered drops the records below a level, those whose message is in
// drop, and those dropIf (when given) says so of.
type filtered struct {
	slog.Handler
	min    slog.Level
	drop   map[string]bool
	dropIf func(slog.Record) bool
}

func (h filtered) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h filtered) Handle(ctx context.Context, r slog.Record) error {
	if h.drop[r.Message] || h.dropIf != nil && h.dropIf(r) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h filtered) WithAttrs(attrs []slog.Attr) slog.Handler {
	return filtered{h.Handler.WithAttrs(attrs), h.min, h.drop, h.dropIf}
}

func (h filtered) WithGroup(name string) slog.Handler {
	return filtered{h.Handler.WithGroup(name), h.min, h.drop, h.dropIf}
}

// normalAtStart are go-ethereum's warnings that a fresh embedded chain
// always gives (its freezer looks for a head before the first is
// written): nothing for a newcomer to worry about.
var normalAtStart = map[string]bool{"Head block is not reachable": true}

// indexingAtStart says whether r is the embedded chain's JSON-RPC warning
// that it answered a call with "transaction indexing is in progress":
// a fresh chain indexes its first blocks while the devnet deploys its
// contract and funds accounts, and polls for their receipts until the
// index is there.
func indexingAtStart(r slog.Record) bool {
	if !strings.HasPrefix(r.Message, "Served ") {
		return false
	}
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == "err" && strings.Contains(a.Value.String(), "transaction indexing is in progress")
		return !found
	})
	return found
}

// untimedBeacon are go-ethereum's light client's warnings about the age
// of a signed head, which it reckons from the consensus layer's genesis
// time and 12-second slots: on a chain without a genesis time (the dev
// consensus layer, whose slots are its blocks) every head would warn.
var untimedBeacon = map[string]bool{"Old signed head received": true, "Future signed head received": true}

// quietUntimedBeacon drops the head-age warnings of go-ethereum's light
// client (which logs to the default logger) when the consensus layer
// followed has no genesis time.
func quietUntimedBeacon(genesisTime uint64) {
	if genesisTime == 0 {
		log.SetDefault(log.NewLogger(filtered{log.Root().Handler(), slog.LevelDebug - 10, untimedBeacon, nil}))
	}
}
