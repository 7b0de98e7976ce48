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
		{"call", "make one JSON-RPC call, signed for the control methods", runCall},
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
