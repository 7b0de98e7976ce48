package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/rpcauth"
)

// runCall is `lightmarket call`: one JSON-RPC call, signed with a control
// secret when one is given, for the methods that need a token
// (lm_setDemand on a client, lm_setBalance and lm_claim on a server).
func runCall(ctx context.Context, args []string, stdout io.Writer) error {
	fs, _ := newFlagSet("call", "Makes one JSON-RPC call and prints its result:\n  lightmarket call [flags] METHOD [PARAM ...]\neach PARAM a JSON value (anything else is taken as a string). With\n--jwtsecret the call carries a token signed with that secret, as the\ncontrol methods want.")
	var (
		url     = fs.String("url", "http://127.0.0.1:8545", "endpoint: a client's wallet JSON-RPC, or a server's admin JSON-RPC (e.g. http://127.0.0.1:8550)")
		secret  = fs.String("jwtsecret", "", "file of the secret to sign the call's token with (a client's control.jwtsecret or a server's admin.jwtsecret)")
		timeout = fs.Duration("timeout", 30*time.Second, "give up after this long")
	)
	if err := parseFlags(ctx, fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return errors.New("give the method to call, e.g. lightmarket call lm_head")
	}
	var opts []rpc.ClientOption
	if *secret != "" {
		s, err := rpcauth.LoadSecret(*secret)
		if err != nil {
			return fmt.Errorf("--jwtsecret: %w", err)
		}
		opts = append(opts, rpc.WithHTTPAuth(rpcauth.Auth(s)))
	}
	params := make([]any, 0, fs.NArg()-1)
	for _, a := range fs.Args()[1:] {
		var v json.RawMessage
		if json.Unmarshal([]byte(a), &v) != nil {
			v, _ = json.Marshal(a)
		}
		params = append(params, v)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, err := rpc.DialOptions(ctx, *url, opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	var out json.RawMessage
	if err := c.CallContext(ctx, &out, fs.Arg(0), params...); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(out))
	return err
}
