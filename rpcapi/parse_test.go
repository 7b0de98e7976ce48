package rpcapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseCall checks parseCall against encoding/json: whatever it
// accepts is an object of exactly its fields, with the values it picked.
func FuzzParseCall(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`,
		` { "id" : "x" , "method" : "eth_getBalance" , "jsonrpc" : "2.0" , "params" : [ "0x1" , { "a" : [ 1 , "]" ] } ] } `,
		`{"jsonrpc":"2.0","id":-1.5e3,"method":"m","params":null}`,
		`{"jsonrpc":"2.0","id":"a\"b","method":"m"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"m"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		c, ok := parseCall(body)
		if !ok {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("accepted %q, not an object: %v", body, err)
		}
		want := 3
		if c.params != nil {
			want = 4
			elems := splitArray(c.params)
			var list []json.RawMessage
			json.Unmarshal(c.params, &list)
			if len(elems) != len(list) {
				t.Fatalf("%q: %d arguments, encoding/json %d", body, len(elems), len(list))
			}
			for i := range elems {
				if !bytes.Equal(compact(elems[i]), compact(list[i])) {
					t.Fatalf("%q: argument %d %q, encoding/json %q", body, i, elems[i], list[i])
				}
			}
		}
		var method string
		if len(m) != want || string(m["jsonrpc"]) != `"2.0"` || !bytes.Equal(m["id"], c.id) ||
			json.Unmarshal(m["method"], &method) != nil || method != c.method ||
			!bytes.Equal(compact(m["params"]), compact(c.params)) {
			t.Fatalf("%q: picked id %q method %q params %q, encoding/json %v", body, c.id, c.method, c.params, m)
		}
	})
}

func compact(b []byte) []byte {
	var out bytes.Buffer
	if len(b) > 0 {
		json.Compact(&out, b)
	}
	return out.Bytes()
}
