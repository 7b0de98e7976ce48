package server

import (
	"testing"
)

// FuzzDecodeWitnessCall feeds arbitrary parameters, as a client sends
// them, to the decoder of witness requests: it must never panic, and what
// it accepts must be a call the server can run.
func FuzzDecodeWitnessCall(f *testing.F) {
	for _, seed := range []struct{ method, params string }{
		{"eth_call", `[{"from":"0x0000000000000000000000000000000000000001","to":"0x0000000000000000000000000000000000000002","input":"0x1234"}]`},
		{"eth_call", `[{"to":"0x0000000000000000000000000000000000000002"},{"0x0000000000000000000000000000000000000002":{"balance":"0x1","stateDiff":{"0x0000000000000000000000000000000000000000000000000000000000000000":"0x0000000000000000000000000000000000000000000000000000000000000001"}}},{"number":"0x10"}]`},
		{"eth_estimateGas", `[{"value":"0x1"},null,{"time":"0x1"}]`},
		{"eth_createAccessList", `[{"gas":"0x5208"},{"0x0000000000000000000000000000000000000001":{"movePrecompileToAddress":"0x0000000000000000000000000000000000000009"}}]`},
		{"eth_simulateV1", `[{"blockStateCalls":[{"blockOverrides":{"number":"0x5"},"calls":[{"to":"0x0000000000000000000000000000000000000002"}]}],"validation":true,"traceTransfers":true}]`},
		{"eth_simulateV1", `[{"blockStateCalls":[]}]`},
		{"eth_getBalance", `[]`},
		{"eth_call", `[`},
	} {
		f.Add(seed.method, []byte(seed.params))
	}
	f.Fuzz(func(t *testing.T, method string, params []byte) {
		w, err := decodeWitnessCall(method, params)
		if err != nil {
			return
		}
		switch w.method {
		case "eth_call", "eth_estimateGas", "eth_createAccessList":
		case "eth_simulateV1":
			if len(w.sim.BlockStateCalls) == 0 {
				t.Fatal("a simulation without blocks was accepted")
			}
		default:
			t.Fatalf("a witness of %q was accepted", method)
		}
	})
}
