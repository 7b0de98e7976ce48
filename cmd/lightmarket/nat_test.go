package main

import (
	"strings"
	"testing"
)

func TestNATFlags(t *testing.T) {
	for _, tc := range []struct {
		nat, extip, listen string
		want, err          string
	}{
		{"none", "", "127.0.0.1:30400", "<nil>", ""},
		{"none", "203.0.113.7", "0.0.0.0:30400", "ExtIP(203.0.113.7)", ""},
		{"extip:203.0.113.8", "", ":30400", "ExtIP(203.0.113.8)", ""},
		{"none", "", "0.0.0.0:30400", "", "--extip"},
		{"none", "", ":30400", "", "--extip"},
		{"none", "", "[::]:30400", "", "--extip"},
		{"none", "not-an-ip", "0.0.0.0:30400", "", "not an IP"},
		{"upnp", "203.0.113.7", "0.0.0.0:30400", "", "not both"},
		{"bogus", "", "127.0.0.1:30400", "", "--nat bogus"},
	} {
		m, err := natFlags(tc.nat, tc.extip, tc.listen)
		got := "<nil>"
		if m != nil {
			got = m.String()
		}
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("--nat %q --extip %q --listen %q: %v, want an error with %q", tc.nat, tc.extip, tc.listen, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("--nat %q --extip %q --listen %q: %s, %v; want %s", tc.nat, tc.extip, tc.listen, got, err, tc.want)
		}
	}
}
