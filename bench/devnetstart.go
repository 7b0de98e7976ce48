package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// DevnetStartConfig configures DevnetStart.
type DevnetStartConfig struct {
	Command []string // runs lightmarket (its subcommand devnet is added)
	Runs    int      // devnet processes started one after the other (default 3)
}

// DevnetStartResult is what a newcomer sees of `lightmarket devnet`.
type DevnetStartResult struct {
	// FirstHeadSeconds is the median time from starting the process to
	// its banner, which it prints once its client has a verified head.
	FirstHeadSeconds float64 `json:"devnet_first_head_seconds"`
	// FirstHeadMaxSeconds is the slowest run's time to the banner.
	FirstHeadMaxSeconds float64 `json:"devnet_first_head_max_seconds"`
	// Warnings counts the WARN and ERROR lines before the banner, over
	// all runs.
	Warnings int `json:"devnet_start_warnings"`
}

// DevnetStart starts `lightmarket devnet` as a process (in memory, its
// JSON-RPC on a free loopback port) Runs times and times each to its
// banner.
func DevnetStart(ctx context.Context, cfg DevnetStartConfig) (*DevnetStartResult, error) {
	if cfg.Runs == 0 {
		cfg.Runs = 3
	}
	res := &DevnetStartResult{}
	var took []float64
	for range cfg.Runs {
		d, warnings, err := devnetToBanner(ctx, cfg.Command)
		if err != nil {
			return nil, err
		}
		took = append(took, d.Seconds())
		res.Warnings += warnings
	}
	res.FirstHeadSeconds, res.FirstHeadMaxSeconds = median(took), slices.Max(took)
	return res, nil
}

// devnetToBanner starts one devnet process and reads its output (both
// streams) until the banner.
func devnetToBanner(ctx context.Context, command []string) (time.Duration, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, command[0], append(slices.Clone(command[1:]), "devnet", "--http", freeLoopback())...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer stopProcess(cmd)
	warnings := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, "lightmarket devnet is up") {
			took := time.Since(start)
			go io.Copy(io.Discard, out) // the process may still write until stopped
			return took, warnings, nil
		}
		if strings.HasPrefix(l, "WARN") || strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "CRIT") {
			warnings++
		}
	}
	err = sc.Err()
	if err == nil {
		err = errors.New("output ended")
	}
	return 0, 0, fmt.Errorf("devnet: no banner: %w", err)
}
