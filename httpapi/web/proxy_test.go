package web

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	type h = map[string][]string
	tests := []struct {
		name   string
		header ForwardedHeader
		remote string
		hdr    h
		want   string
	}{
		{"no proxy", "", "198.51.100.7:1234", nil, "198.51.100.7"},
		{"untrusted peer's header ignored", "", "198.51.100.7:1234", h{"X-Forwarded-For": {"203.0.113.7"}}, "198.51.100.7"},
		{"trusted peer", "", "127.0.0.1:1", h{"X-Forwarded-For": {"203.0.113.7"}}, "203.0.113.7"},
		{"spoofed left entries are skipped", "", "127.0.0.1:1", h{"X-Forwarded-For": {"1.1.1.1, 203.0.113.7"}}, "203.0.113.7"},
		{"chain of trusted proxies", "", "127.0.0.1:1", h{"X-Forwarded-For": {"203.0.113.7, 10.1.1.1", "10.2.2.2"}}, "203.0.113.7"},
		{"all trusted: leftmost", "", "127.0.0.1:1", h{"X-Forwarded-For": {"10.1.1.1"}}, "10.1.1.1"},
		{"garbage stops the walk at the proxy", "", "127.0.0.1:1", h{"X-Forwarded-For": {"203.0.113.7, garbage"}}, "127.0.0.1"},
		{"trusted peer without header", "", "127.0.0.1:1", nil, "127.0.0.1"},
		{"IPv6 peer is not the trusted IPv4 loopback", "", "[::1]:80", h{"X-Forwarded-For": {"203.0.113.7"}}, "::1"},
		{"mapped IPv4", "", "127.0.0.1:1", h{"X-Forwarded-For": {"::ffff:203.0.113.7"}}, "203.0.113.7"},
		// The review's finding: by default a client's own Forwarded header
		// is never read, whatever else the request carries.
		{"default ignores a spoofed Forwarded", "", "127.0.0.1:1", h{"Forwarded": {"for=203.0.113.7"}, "X-Forwarded-For": {"198.51.100.7"}}, "198.51.100.7"},
		{"default ignores Forwarded alone", "", "127.0.0.1:1", h{"Forwarded": {"for=203.0.113.7"}}, "127.0.0.1"},
		{"default ignores X-Real-IP", XForwardedFor, "127.0.0.1:1", h{"X-Real-IP": {"203.0.113.7"}}, "127.0.0.1"},
		{"Forwarded mode", Forwarded, "127.0.0.1:1", h{"Forwarded": {`for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"`}}, "2001:db8::17"},
		{"Forwarded mode ignores X-Forwarded-For", Forwarded, "127.0.0.1:1", h{"X-Forwarded-For": {"203.0.113.7"}}, "127.0.0.1"},
		{"Forwarded mode skips spoofed left entries", Forwarded, "127.0.0.1:1", h{"Forwarded": {"for=203.0.113.7, for=198.51.100.7"}}, "198.51.100.7"},
		{"Forwarded unknown", Forwarded, "127.0.0.1:1", h{"Forwarded": {"for=unknown"}}, "127.0.0.1"},
		{"X-Real-IP mode", XRealIP, "127.0.0.1:1", h{"X-Real-IP": {"203.0.113.7"}, "X-Forwarded-For": {"198.51.100.7"}}, "203.0.113.7"},
		{"X-Real-IP mode refuses a list", XRealIP, "127.0.0.1:1", h{"X-Real-IP": {"203.0.113.7, 198.51.100.7"}}, "127.0.0.1"},
		{"X-Real-IP mode refuses two headers", XRealIP, "127.0.0.1:1", h{"X-Real-IP": {"203.0.113.7", "198.51.100.7"}}, "127.0.0.1"},
		{"X-Real-IP from an untrusted peer", XRealIP, "198.51.100.7:1", h{"X-Real-IP": {"203.0.113.7"}}, "198.51.100.7"},
	}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: tt.remote, Header: header(tt.hdr)}
		cfg := Config{TrustedProxies: trusted, ForwardedHeader: tt.header}
		if got := cfg.ClientIP(r); got.String() != tt.want {
			t.Errorf("%s: ClientIP = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestBaseURL(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	type h = map[string][]string
	tests := []struct {
		name   string
		cfg    Config
		remote string
		host   string
		hdr    h
		want   string
	}{
		{"Host naming the listener", Config{}, "127.0.0.1:5", "127.0.0.1:8080", nil, "http://127.0.0.1:8080"},
		{"localhost on a loopback listener", Config{}, "127.0.0.1:5", "localhost:8080", nil, "http://localhost:8080"},
		{"forged Host", Config{}, "127.0.0.1:5", "evil.example", nil, "http://127.0.0.1:8080"},
		{"forged Host with the right port", Config{}, "127.0.0.1:5", "evil.example:8080", nil, "http://127.0.0.1:8080"},
		{"untrusted forwarding headers", Config{TrustedProxies: trusted}, "198.51.100.7:5", "127.0.0.1:8080",
			h{"X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}}, "http://127.0.0.1:8080"},
		{"trusted proxy", Config{TrustedProxies: trusted}, "10.0.0.2:5", "internal:8080",
			h{"X-Forwarded-Host": {"keys.example.com"}, "X-Forwarded-Proto": {"https"}}, "https://keys.example.com"},
		{"trusted proxy without X-Forwarded-Host", Config{TrustedProxies: trusted}, "10.0.0.2:5", "keys.example.com", nil, "http://keys.example.com"},
		{"appended values: the proxy's own, on the right", Config{TrustedProxies: trusted}, "10.0.0.2:5", "internal",
			h{"X-Forwarded-Host": {"evil.example, keys.example.com"}, "X-Forwarded-Proto": {"http, https"}}, "https://keys.example.com"},
		{"a host that would change the URL", Config{TrustedProxies: trusted}, "10.0.0.2:5", "internal",
			h{"X-Forwarded-Host": {"evil.example/x?"}}, "http://internal"},
		{"Forwarded mode reads proto= and host=", Config{TrustedProxies: trusted, ForwardedHeader: Forwarded}, "10.0.0.2:5", "internal",
			h{"Forwarded": {"for=203.0.113.7;proto=https;host=keys.example.com"}, "X-Forwarded-Host": {"evil.example"}}, "https://keys.example.com"},
		{"Forwarded mode: the client's own element is not believed", Config{TrustedProxies: trusted, ForwardedHeader: Forwarded}, "10.0.0.2:5", "internal",
			h{"Forwarded": {"for=1.1.1.1;host=evil.example, for=203.0.113.7;proto=https;host=keys.example.com"}}, "https://keys.example.com"},
		{"public URL wins over everything", Config{TrustedProxies: trusted, PublicURL: "https://api.example.com/keys"}, "10.0.0.2:5", "internal",
			h{"X-Forwarded-Host": {"evil.example"}}, "https://api.example.com/keys"},
	}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: tt.remote, Host: tt.host, Header: header(tt.hdr)}
		r = r.WithContext(context.WithValue(context.Background(), http.LocalAddrContextKey, local))
		if got := tt.cfg.BaseURL(r); got != tt.want {
			t.Errorf("%s: BaseURL = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes(" 10.0.0.1, ::ffff:10.0.0.2 ,::ffff:192.168.0.0/112,2001:db8::/32,172.16.5.4/12")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1/32", "10.0.0.2/32", "192.168.0.0/16", "2001:db8::/32", "172.16.0.0/12"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, got[i], want[i])
		}
	}
	// A peer 10.0.0.2 (unmapped, as peers are) matches the mapped form.
	cfg := Config{TrustedProxies: got}
	r := &http.Request{RemoteAddr: "[::ffff:10.0.0.2]:9", Header: http.Header{"X-Forwarded-For": {"203.0.113.7"}}}
	if ip := cfg.ClientIP(r); ip.String() != "203.0.113.7" {
		t.Errorf("a proxy configured as ::ffff:10.0.0.2 was not trusted: ClientIP = %s", ip)
	}
	for _, bad := range []string{"nope", "10.0.0.0/33", "::ffff:0:0/95", "fe80::1%eth0"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) accepted", bad)
		}
	}
}

func TestParsePublicURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://keys.example.com":       "https://keys.example.com",
		"https://keys.example.com/":      "https://keys.example.com",
		"http://10.0.0.5:8080/latchkey/": "http://10.0.0.5:8080/latchkey",
	} {
		if got, err := ParsePublicURL(in); err != nil || got != want {
			t.Errorf("ParsePublicURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "keys.example.com", "ftp://x", "https://", "https://u:p@x", "https://x/?a=1", "https://x/#f"} {
		if _, err := ParsePublicURL(bad); err == nil {
			t.Errorf("ParsePublicURL(%q) accepted", bad)
		}
	}
}

// header builds a header as net/http's server does, with canonical names.
func header(m map[string][]string) http.Header {
	h := http.Header{}
	for k, vs := range m {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return h
}
