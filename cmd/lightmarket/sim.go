package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lightmarket/lightmarket/sim"
)

func runSim(ctx context.Context, args []string, stdout io.Writer) error {
	fs, _ := newFlagSet("sim", "Simulates a market of servers selling capacity in auctions and clients\nwith fluctuating demand, on a simulated clock, and reports it.")
	var (
		clients  = fs.Int("clients", 10_000, "clients")
		servers  = fs.Int("servers", 50, "servers")
		duration = fs.Duration("duration", 24*time.Hour, "simulated time")
		seed     = fs.Int64("seed", 1, "random seed")
		jsonOut  = fs.String("json", "", "write the figures (and every sample) to this JSON file")
		htmlOut  = fs.String("html", "", "write a report with plots to this HTML file")
	)
	if err := parseFlags(ctx, fs, args); err != nil {
		return err
	}
	r, err := sim.Run(sim.Config{Clients: *clients, Servers: *servers, Duration: *duration, Seed: *seed})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, r)
	if *jsonOut != "" {
		enc, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(*jsonOut, append(enc, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *htmlOut != "" {
		f, err := os.Create(*htmlOut)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := r.WriteHTML(f); err != nil {
			return err
		}
	}
	return nil
}
