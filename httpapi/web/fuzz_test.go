package web_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
)

// FuzzParsePrefix checks the address and range parsers behind
// --trusted-proxies and keys' allowedIps. What ParsePrefix accepts is a
// valid, masked range with no zone and no IPv4-mapped form, that reads back
// the same from its own text and contains the address that was written; a
// bare address is a single-address range. ParsePrefixes accepts a list
// exactly when ParsePrefix accepts each of its non-empty parts, and returns
// their ranges in order.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{
		"10.0.0.1", "10.1.2.3/8", "::ffff:10.0.0.2", "::ffff:192.168.0.0/112", "::ffff:0:0/95", "::ffff:1.2.3.4/128",
		"2001:db8::/32", "2001:DB8::1/64", "fe80::1%eth0", "fe80::1%eth0/64", "10.0.0.0/33", "0.0.0.0/0", "::/0",
		"1.2.3.4/-1", "1.2.3.4/08", " 10.0.0.1", "10.0.0.1 ,, ::1", "[::1]", "::ffff:1.2.3.4%x", "1.2.3", "",
		"10.0.0.1,nope", "::ffff:0.0.0.0/96", "0:0:0:0:0:ffff:7f00:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := web.ParsePrefix(s); err == nil {
			checkPrefix(t, s, p)
		}
		list, err := web.ParsePrefixes(s)
		var want []netip.Prefix
		wantOK := true
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			p, err := web.ParsePrefix(part)
			if err != nil {
				wantOK = false
				break
			}
			want = append(want, p)
		}
		switch {
		case (err == nil) != wantOK:
			t.Fatalf("ParsePrefixes(%q): err = %v; yet ParsePrefix of every part accepts: %v", s, err, wantOK)
		case err != nil:
			if list != nil {
				t.Fatalf("ParsePrefixes(%q) failed but returned %v", s, list)
			}
			return
		case len(list) != len(want):
			t.Fatalf("ParsePrefixes(%q) = %v, want %v", s, list, want)
		}
		for i := range list {
			if list[i] != want[i] {
				t.Fatalf("ParsePrefixes(%q) = %v, want %v", s, list, want)
			}
		}
	})
}

// checkPrefix checks one range ParsePrefix accepted from s.
func checkPrefix(t *testing.T, s string, p netip.Prefix) {
	t.Helper()
	switch {
	case !p.IsValid():
		t.Fatalf("ParsePrefix(%q) = %v, not a valid range", s, p)
	case p != p.Masked():
		t.Fatalf("ParsePrefix(%q) = %v, not normalised to its network address", s, p)
	case p.Addr().Is4In6():
		t.Fatalf("ParsePrefix(%q) = %v, an IPv4-mapped range", s, p)
	case p.Addr().Zone() != "":
		t.Fatalf("ParsePrefix(%q) = %v, with a zone", s, p)
	}
	if again, err := web.ParsePrefix(p.String()); err != nil || again != p {
		t.Fatalf("ParsePrefix(%q) = %v, whose text reads back as %v, %v", s, p, again, err)
	}
	written, _, isRange := strings.Cut(s, "/")
	a, err := netip.ParseAddr(written)
	if err != nil {
		t.Fatalf("ParsePrefix(%q) = %v, but %q is no address", s, p, written)
	}
	if !p.Contains(a.Unmap()) {
		t.Fatalf("ParsePrefix(%q) = %v, which does not contain %v", s, p, a)
	}
	if !isRange && p.Bits() != a.Unmap().BitLen() {
		t.Fatalf("ParsePrefix(%q) = %v, not a single address", s, p)
	}
}

// The forwarding headers, in net/http's canonical form, by the mode that
// reads each.
var forwardingHeaders = map[web.ForwardedHeader]string{
	web.XForwardedFor: "X-Forwarded-For", web.Forwarded: "Forwarded", web.XRealIP: "X-Real-Ip",
}

// decoy is written to every forwarding header the configuration does not
// name: it must never be read.
const decoy = "198.18.0.99"

// FuzzClientIP checks Config.ClientIP for any peer, trusted ranges, mode
// and header values (two values of the configured header, as two header
// lines; the other forwarding headers hold a decoy). It checks that
//   - the result is a valid, unmapped address;
//   - from an untrusted peer it is the peer, whatever the headers say;
//   - without the configured header it is the peer, and the other
//     forwarding headers change nothing;
//   - once the walk stops at an address that is not a trusted proxy, a
//     client that adds entries of its own on the left (an extra header line
//     before the others) cannot change the result: only trusted hops are
//     believed about who came before them;
//   - in X-Real-IP mode, two header lines or a list are not believed.
//
// Along the way it checks that BaseURL, from a trusted proxy that forwards
// any host and proto, is http(s)://host with nothing that changes a URL's
// meaning.
func FuzzClientIP(f *testing.F) {
	for _, s := range []struct {
		peer, trusted string
		mode          uint8
		h1, h2, spoof string
	}{
		{"127.0.0.1", "127.0.0.1, 10.0.0.0/8", 0, "203.0.113.7", "", "1.1.1.1"},
		{"127.0.0.1", "127.0.0.1, 10.0.0.0/8", 0, "203.0.113.7, 10.1.1.1", "10.2.2.2", "1.1.1.1"},
		{"10.0.0.5", "10.0.0.0/8", 0, "10.1.1.1", "", "1.1.1.1"},
		{"10.0.0.5", "10.0.0.0/8", 1, "203.0.113.7, garbage", "", "10.9.9.9"},
		{"::ffff:10.0.0.5", "::ffff:10.0.0.0/104", 1, "::ffff:203.0.113.7", "[2001:db8::1]:80", ""},
		{"198.51.100.7", "10.0.0.0/8", 0, "203.0.113.7", "", "1.1.1.1"},
		{"127.0.0.1", "127.0.0.1", 2, `for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"`, "for=unknown", "for=1.1.1.1"},
		{"127.0.0.1", "127.0.0.1", 2, `for=203.0.113.7;host=keys.example.com;proto=https`, `FOR="10.0.0.1:80";for=1.2.3.4`, `for=1.1.1.1;host=evil`},
		{"127.0.0.1", "127.0.0.1", 3, "203.0.113.7", "", ""},
		{"127.0.0.1", "127.0.0.1", 3, "203.0.113.7, 198.51.100.7", "", ""},
		{"127.0.0.1", "127.0.0.1", 3, "203.0.113.7", "198.51.100.7", ""},
		{"fe80::1%eth0", "fe80::/10", 0, "fe80::2%eth1", "", "1.1.1.1"},
		{"::1", "::/0, 0.0.0.0/0", 0, "1.2.3.4, ::ffff:5.6.7.8", "\"9.9.9.9\"", "8.8.8.8"},
		{"127.0.0.1", "not a range", 0, "203.0.113.7", "", ""},
	} {
		f.Add(s.peer, s.trusted, s.mode, s.h1, s.h2, s.spoof)
	}
	f.Fuzz(func(t *testing.T, peer, trusted string, mode uint8, h1, h2, spoof string) {
		addr, err := netip.ParseAddr(peer)
		if err != nil {
			addr = netip.MustParseAddr("10.0.0.5")
		}
		// net/http gives RemoteAddr as ip:port.
		remote := netip.AddrPortFrom(addr, 4711).String()
		proxies, err := web.ParsePrefixes(trusted)
		if err != nil {
			proxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
		}
		cfg := web.Config{TrustedProxies: proxies, ForwardedHeader: [...]web.ForwardedHeader{"", web.XForwardedFor, web.Forwarded, web.XRealIP}[mode%4]}
		name := forwardingHeaders[cfg.ForwardedHeader]
		if name == "" {
			name = "X-Forwarded-For"
		}
		peerAddr := addr.Unmap()
		request := func(values []string, decoys bool) *http.Request {
			r := &http.Request{RemoteAddr: remote, Host: "internal:8080", Header: http.Header{}}
			if decoys {
				for _, other := range forwardingHeaders {
					if other != name {
						r.Header[other] = []string{decoy, "for=" + decoy}
					}
				}
			}
			if values != nil {
				r.Header[name] = values
			}
			return r
		}
		values := []string{h1}
		if h2 != "" {
			values = append(values, h2)
		}
		got := cfg.ClientIP(request(values, true))
		trustedPeer := contains(proxies, peerAddr)
		switch {
		case !got.IsValid() || got.Is4In6():
			t.Fatalf("ClientIP = %v: not a valid unmapped address", got)
		case !trustedPeer && got != peerAddr:
			t.Fatalf("ClientIP from untrusted peer %s = %v", peerAddr, got)
		case cfg.ClientIP(request(nil, true)) != peerAddr:
			t.Fatalf("without %s, ClientIP = %v, want the peer %v", name, cfg.ClientIP(request(nil, true)), peerAddr)
		case cfg.ClientIP(request(values, false)) != got:
			t.Fatalf("the other forwarding headers changed ClientIP from %v to %v", cfg.ClientIP(request(values, false)), got)
		}
		if cfg.ForwardedHeader == web.XRealIP && (len(values) > 1 || strings.Contains(h1, ",")) && got != peerAddr {
			t.Fatalf("X-Real-IP %q was believed: ClientIP = %v", values, got)
		}
		if cfg.ForwardedHeader != web.XRealIP && !contains(proxies, got) {
			if spoofed := cfg.ClientIP(request(append([]string{spoof}, values...), true)); spoofed != got {
				t.Fatalf("ClientIP = %v, an untrusted hop, but an entry %q added on the left makes it %v", got, spoof, spoofed)
			}
		}

		// BaseURL from a trusted proxy that forwards the fuzzer's host and
		// proto (in h1 and h2, or in a Forwarded element).
		r := request(nil, false)
		r.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr("10.0.0.5"), 1).String()
		r.Header["X-Forwarded-Host"] = []string{h1}
		r.Header["X-Forwarded-Proto"] = []string{h2}
		r.Header["Forwarded"] = []string{spoof}
		base := web.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, ForwardedHeader: cfg.ForwardedHeader}.BaseURL(r)
		scheme, host, ok := strings.Cut(base, "://")
		if !ok || (scheme != "http" && scheme != "https") || host == "" || strings.ContainsAny(host, "/?#@\\ \t\"'<>") {
			t.Fatalf("BaseURL = %q, not http(s)://host", base)
		}
	})
}

// contains reports whether any of prefixes holds a.
func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// FuzzCredentialOf checks CredentialOf, which reads the credential the
// authorize API verifies, against the gate every other route uses, on
// any REB-APIKEY, X-API-Key and Authorization values (as net/http delivers
// them; {sN}, {bN} and {jN} stand for key N's secret, Basic pair and JWT,
// see expand). It checks that
//   - CredentialOf invents nothing: it returns "" or a part of a header,
//     or the decoded payload of a Basic header;
//   - whatever key the gate (Authenticate) admits, the verify API
//     (Verifier.Check of CredentialOf) finds valid too, so that a gateway
//     asking /v1/authorize never refuses a client the surfaces accept.
func FuzzCredentialOf(f *testing.F) {
	s := lktest.New(f)
	ctx := context.Background()
	keys := []lktest.Credentials{s.Account}
	for _, spec := range []core.KeySpec{
		{Name: "publishable", Policy: latchkey.Policy{Type: latchkey.KeyTypePublishable}},
		{Name: "branded", Prefix: "acme"},
	} {
		k, err := s.Svc.CreateKey(ctx, s.Principal(f), spec)
		if err != nil {
			f.Fatal(err)
		}
		keys = append(keys, lktest.Credentials{ID: k.ID, Secret: k.Secrets[0].Plain})
	}
	for _, seed := range [][3]string{
		{"{s0}", "", ""}, {"", "{s2}", ""}, {"", "", "Basic {b0}"}, {"", "", "Bearer {s0}"}, {"", "", "{s1}"},
		{"", "", "Bearer {j0}"}, {"\u00a0", "{s0}", "Basic {b2}"}, {"", "garbage", "Bearer {s0}"},
		{"{s0}", "{s2}", "Basic {b0}"}, {"", "", "Basic " + base64.StdEncoding.EncodeToString([]byte(":x"))},
		{"", "", "Bearer {b0}"}, {"", "", "bASIC   {b2}"}, {"", "", "Token {s0}"}, {"", "", "{j0}"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, rebAPIKey, xAPIKey, authorization string) {
		r := httptest.NewRequest("GET", "/v1/whoami", nil)
		for name, v := range map[string]string{"Reb-Apikey": rebAPIKey, "X-Api-Key": xAPIKey, "Authorization": authorization} {
			if v == "" {
				continue // not sent; " " is sent, as a header line with an empty value
			}
			v = strings.Trim(expand(t, keys, v), " \t") // as net/http reads a header line
			if !validHeaderValue(v) {
				return // net/http refuses such a request
			}
			r.Header[name] = []string{v}
		}
		c := web.CredentialOf(r)
		if c != "" && !strings.Contains(strings.Join([]string{r.Header.Get("Reb-Apikey"), r.Header.Get("X-Api-Key"), r.Header.Get("Authorization")}, "\n"), c) {
			scheme, rest, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
			if !strings.EqualFold(scheme, "Basic") || err != nil || string(raw) != c {
				t.Fatalf("CredentialOf = %q, which the request does not carry", mask(keys, c))
			}
		}
		p, err := web.Authenticate(r, web.Config{}, s.Verifier, "WhoAmI")
		if err != nil {
			return
		}
		vp, code, err := s.Verifier.Check(ctx, c)
		if err != nil || code != latchkey.CodeValid || vp.KeyID != p.KeyID {
			var id string
			if vp != nil {
				id = vp.KeyID
			}
			t.Fatalf("the gate admits key %s, but the verify API answers %q for %s (%v) for the same request", p.KeyID, code, id, err)
		}
	})
}

// expand replaces {sN} with key N's secret, {bN} with its Basic pair in
// base64 and {jN} with a JWT it signed, so that the corpus stays valid
// across runs, whose secrets differ.
func expand(t *testing.T, keys []lktest.Credentials, s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	var args []string
	for i, k := range keys {
		n := string(rune('0' + i))
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"scope": "account", "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = k.ID
		signed, err := tok.SignedString([]byte(k.Secret))
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "{s"+n+"}", k.Secret, "{b"+n+"}", base64.StdEncoding.EncodeToString([]byte(k.ID+":"+k.Secret)), "{j"+n+"}", signed)
	}
	return strings.NewReplacer(args...).Replace(s)
}

// mask replaces the keys' secrets in s with placeholders, so that no
// secret, even a test's, is printed.
func mask(keys []lktest.Credentials, s string) string {
	for i, k := range keys {
		s = strings.ReplaceAll(s, k.Secret, "{s"+string(rune('0'+i))+"}")
	}
	return s
}

// validHeaderValue is what net/http's server accepts in a header value: no
// control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
