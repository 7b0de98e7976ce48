package main

import (
	"context"
	"io"
	"strings"
	"testing"
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
