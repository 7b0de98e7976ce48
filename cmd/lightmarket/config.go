package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/lightmarket/lightmarket/rpcauth"
)

// Every flag of a command can also come from a TOML file given with
// --config: the table named after the command holds the flags by name,
// dotted names as nested keys, e.g.
//
//	[client]
//	http = "127.0.0.1:8545"
//	"ulc.servers" = "enode://...,enode://..."
//	"ulc.fraction" = 67
//
// (Dotted names may also be written as nested keys, ulc.fraction = 67, where
// no flag has the name of their first part.)
//
// Flags on the command line override the file.

// parseFlags parses args into fs, first applying the file named by a
// --config flag among them. Under dumpconfig (see withDump) it then writes
// the effective settings and returns errDumped, so that the command stops
// before it starts anything.
func parseFlags(ctx context.Context, fs *flag.FlagSet, args []string) error {
	if path := configPath(args); path != "" {
		if err := applyConfig(fs, path); err != nil {
			return err
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if w, ok := ctx.Value(dumpKey{}).(io.Writer); ok {
		if err := writeConfig(w, fs); err != nil {
			return err
		}
		return errDumped
	}
	return nil
}

type dumpKey struct{}

var errDumped = errors.New("configuration written")

// configPath finds --config in args before they are parsed.
func configPath(args []string) string {
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// applyConfig sets the flags of fs from the command's table in the file.
func applyConfig(fs *flag.FlagSet, path string) error {
	var file map[string]any
	if _, err := toml.DecodeFile(path, &file); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	table, ok := file[fs.Name()].(map[string]any)
	if !ok {
		return nil // nothing for this command
	}
	values := make(map[string]string)
	flatten("", table, values)
	for name, value := range values {
		if name == "config" {
			continue
		}
		if fs.Lookup(name) == nil {
			return fmt.Errorf("--config %s: [%s] has no setting %q", path, fs.Name(), name)
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("--config %s: %s: %w", path, name, err)
		}
	}
	return nil
}

func flatten(prefix string, table map[string]any, out map[string]string) {
	for k, v := range table {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			flatten(name, v, out)
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			out[name] = strings.Join(parts, ",")
		default:
			out[name] = fmt.Sprint(v)
		}
	}
}

// writeConfig writes the effective settings of fs as the command's TOML
// table.
func writeConfig(w io.Writer, fs *flag.FlagSet) error {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	var b bytes.Buffer
	fmt.Fprintf(&b, "[%s]\n", fs.Name())
	for _, name := range names {
		f := fs.Lookup(name)
		key := name
		if strings.Contains(name, ".") {
			key = fmt.Sprintf("%q", name) // "http" and "http.corsdomain" cannot both be tables
		}
		fmt.Fprintf(&b, "# %s\n%s = %s\n", f.Usage, key, tomlValue(f.Value))
	}
	_, err := w.Write(b.Bytes())
	return err
}

func tomlValue(v flag.Value) string {
	switch g := v.(flag.Getter).Get().(type) {
	case bool, int, int64, uint, uint64:
		return fmt.Sprint(g)
	case time.Duration:
		return fmt.Sprintf("%q", g.String())
	default:
		return fmt.Sprintf("%q", v.String())
	}
}

// runDumpConfig prints the effective configuration of a command: its flags'
// defaults, overridden by --config and the flags given.
func runDumpConfig(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: lightmarket dumpconfig <command> [--config FILE] [flags]")
	}
	for _, c := range commands {
		if c.name == args[0] && c.name != "dumpconfig" {
			err := c.run(context.WithValue(ctx, dumpKey{}, stdout), args[1:], io.Discard)
			if errors.Is(err, errDumped) {
				return nil
			}
			return err
		}
	}
	return fmt.Errorf("dumpconfig: unknown command %q", args[0])
}

// controlSecret loads the secret of a control endpoint (rpcauth.ControlSecret).
var controlSecret = rpcauth.ControlSecret

// checkListen fails at once when a listen address given by a flag is
// taken or invalid, before anything slow (a chain, a contract) starts.
// Empty addresses and port 0 are fine.
func checkListen(flags map[string]string) error {
	for name, addr := range flags {
		if addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("--%s %s: %w", name, addr, err)
		}
		ln.Close()
	}
	return nil
}
