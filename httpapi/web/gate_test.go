package web

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name    string
		remote  string
		headers map[string][]string
		want    string
	}{
		{"no proxy", "198.51.100.7:1234", nil, "198.51.100.7"},
		{"untrusted peer's header ignored", "198.51.100.7:1234", map[string][]string{"X-Forwarded-For": {"203.0.113.7"}}, "198.51.100.7"},
		{"trusted peer", "127.0.0.1:1", map[string][]string{"X-Forwarded-For": {"203.0.113.7"}}, "203.0.113.7"},
		{"spoofed left entries are skipped", "127.0.0.1:1", map[string][]string{"X-Forwarded-For": {"1.1.1.1, 203.0.113.7"}}, "203.0.113.7"},
		{"chain of trusted proxies", "127.0.0.1:1", map[string][]string{"X-Forwarded-For": {"203.0.113.7, 10.1.1.1", "10.2.2.2"}}, "203.0.113.7"},
		{"all trusted: leftmost", "127.0.0.1:1", map[string][]string{"X-Forwarded-For": {"10.1.1.1"}}, "10.1.1.1"},
		{"garbage stops the walk at the proxy", "127.0.0.1:1", map[string][]string{"X-Forwarded-For": {"203.0.113.7, garbage"}}, "127.0.0.1"},
		{"trusted peer without header", "127.0.0.1:1", nil, "127.0.0.1"},
		{"Forwarded", "127.0.0.1:1", map[string][]string{"Forwarded": {`for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"`}}, "2001:db8::17"},
		{"Forwarded wins over X-Forwarded-For", "127.0.0.1:1", map[string][]string{"Forwarded": {"for=203.0.113.7"}, "X-Forwarded-For": {"198.51.100.7"}}, "203.0.113.7"},
		{"Forwarded unknown", "127.0.0.1:1", map[string][]string{"Forwarded": {"for=unknown"}}, "127.0.0.1"},
		{"IPv6 peer", "[::1]:80", map[string][]string{"X-Forwarded-For": {"203.0.113.7"}}, "::1"},
		{"mapped IPv4", "127.0.0.1:1", map[string][]string{"X-Forwarded-For": {"::ffff:203.0.113.7"}}, "203.0.113.7"},
	}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: tt.remote, Header: http.Header(tt.headers)}
		if got := ClientIP(r, trusted); got.String() != tt.want {
			t.Errorf("%s: ClientIP = %s, want %s", tt.name, got, tt.want)
		}
	}
}
