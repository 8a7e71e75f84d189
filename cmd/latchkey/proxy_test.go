package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Addresses on the loopback network, so that the client, the proxy and the
// server each have their own: the server trusts only the proxy's.
const (
	proxyAddr  = "127.0.0.2" // where the proxy connects to Latchkey from
	clientAddr = "127.0.0.3" // where the client connects from
	spoofed    = "203.0.113.7"
)

// loopbackClient is an HTTP client whose connections come from addr.
func loopbackClient(addr string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// startProxy puts a Go httputil.ReverseProxy in front of base, connecting
// from proxyAddr. With a Director (as here, by default) it appends the
// client's address to X-Forwarded-For and passes every other header through
// untouched, as nginx's $proxy_add_x_forwarded_for does; setHeaders adds
// what a particular proxy configuration sets.
func startProxy(t *testing.T, base string, setHeaders func(out *http.Request, clientIP string)) string {
	t.Helper()
	target, _ := url.Parse(base)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = loopbackClient(proxyAddr).Transport
	if setHeaders != nil {
		// Director, unlike Rewrite, appends the peer to X-Forwarded-For
		// after it runs, as the proxies these tests stand for do.
		//lint:ignore SA1019 see above
		director := rp.Director
		//lint:ignore SA1019 see above
		rp.Director = func(out *http.Request) {
			director(out)
			host, _, _ := net.SplitHostPort(out.RemoteAddr)
			setHeaders(out, host)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// proxied is one Latchkey behind one proxy, with the account key.
type proxied struct {
	t           *testing.T
	direct, via string
	id, secret  string
}

func startBehindProxy(t *testing.T, setHeaders func(*http.Request, string), args ...string) *proxied {
	t.Helper()
	dir := t.TempDir()
	args = append([]string{"--db", "sqlite:" + filepath.Join(dir, "lk.db"), "--trusted-proxies", proxyAddr, "--allow-private-ips"}, args...)
	base, _, _ := startServe(t, env(nil), args...)
	b, err := os.ReadFile(filepath.Join(dir, initialCredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	var creds credentials
	if err := json.Unmarshal(b, &creds); err != nil {
		t.Fatal(err)
	}
	return &proxied{t: t, direct: base, via: startProxy(t, base, setHeaders), id: creds.ID, secret: creds.Secret}
}

// send makes a request from clientAddr to base with the given headers and
// returns the status and the Location header.
func (p *proxied) send(base, method, path, apiKey, body string, headers ...string) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("REB-APIKEY", apiKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := loopbackClient(clientAddr).Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Location")
}

// keyAllowedFrom makes a key that may be used only from addr.
func (p *proxied) keyAllowedFrom(addr string) string {
	p.t.Helper()
	req, _ := http.NewRequest("POST", p.direct+"/api-keys", strings.NewReader(`{"description":"k","allowedIps":["`+addr+`"]}`))
	req.SetBasicAuth(p.id, p.secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ SecretKey string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		p.t.Fatalf("create key: %d, %v", resp.StatusCode, err)
	}
	return out.SecretKey
}

// spoofs are the ways a client can claim another address in its own headers.
var spoofs = [][]string{
	{"Forwarded", "for=" + spoofed},
	{"Forwarded", `for="` + spoofed + `:443";proto=https`},
	{"X-Forwarded-For", spoofed},
	{"X-Real-IP", spoofed},
	{"Forwarded", "for=" + spoofed, "X-Forwarded-For", spoofed, "X-Real-IP", spoofed},
}

// assertClientIs checks that a request through the proxy counts as coming
// from clientAddr, whatever forwarding headers the client adds: a key allowed
// only from the spoofed address is refused, one allowed from the client's
// real address is admitted.
func (p *proxied) assertClientIs(t *testing.T) {
	onlySpoofed, onlyClient := p.keyAllowedFrom(spoofed), p.keyAllowedFrom(clientAddr)
	for _, headers := range spoofs {
		if status, _ := p.send(p.via, "GET", "/api-keys", onlySpoofed, "", headers...); status != http.StatusForbidden {
			t.Errorf("spoofing %q through the proxy: %d, want 403", headers, status)
		}
		if status, _ := p.send(p.via, "GET", "/api-keys", onlyClient, "", headers...); status != http.StatusOK {
			t.Errorf("the real client with %q: %d, want 200", headers, status)
		}
	}
}

// TestClientAddressBehindProxy runs Latchkey behind a real reverse proxy in
// each forwarding-header mode, with a client that spoofs every header.
func TestClientAddressBehindProxy(t *testing.T) {
	t.Run("x-forwarded-for (default), appending proxy", func(t *testing.T) {
		startBehindProxy(t, nil).assertClientIs(t)
	})
	t.Run("forwarded, appending proxy", func(t *testing.T) {
		p := startBehindProxy(t, func(out *http.Request, ip string) {
			out.Header.Add("Forwarded", "for="+ip)
		}, "--forwarded-header", "forwarded")
		p.assertClientIs(t)
	})
	t.Run("x-real-ip, replacing proxy", func(t *testing.T) {
		p := startBehindProxy(t, func(out *http.Request, ip string) {
			out.Header.Set("X-Real-IP", ip)
		}, "--forwarded-header", "x-real-ip")
		p.assertClientIs(t)
	})
	t.Run("proxy configured as an IPv4-mapped IPv6 address", func(t *testing.T) {
		startBehindProxy(t, nil, "--trusted-proxies", "::ffff:"+proxyAddr).assertClientIs(t)
	})
	t.Run("direct from an untrusted address", func(t *testing.T) {
		p := startBehindProxy(t, nil)
		onlySpoofed := p.keyAllowedFrom(spoofed)
		for _, headers := range spoofs {
			if status, _ := p.send(p.direct, "GET", "/api-keys", onlySpoofed, "", headers...); status != http.StatusForbidden {
				t.Errorf("spoofing %q with no proxy: %d, want 403", headers, status)
			}
		}
	})
}

// TestLinksBehindProxy checks the base of Location headers: forwarding
// headers only from the trusted proxy, a forged Host never, and a configured
// public URL over everything.
func TestLinksBehindProxy(t *testing.T) {
	create := func(p *proxied, base string, headers ...string) string {
		t.Helper()
		status, loc := p.send(base, "POST", "/api-keys", p.secret, `{"description":"k"}`, headers...)
		if status != http.StatusCreated {
			t.Fatalf("create: %d", status)
		}
		return loc
	}
	// A proxy that sets X-Forwarded-Host and -Proto, replacing the client's.
	setting := func(out *http.Request, _ string) {
		out.Header.Set("X-Forwarded-Host", "keys.example.com")
		out.Header.Set("X-Forwarded-Proto", "https")
	}
	p := startBehindProxy(t, setting)
	if loc := create(p, p.via, "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "http"); !strings.HasPrefix(loc, "https://keys.example.com/api-keys/") {
		t.Errorf("through the proxy: Location %q, want the proxy's host and proto", loc)
	}
	// Straight to the server, forwarding headers are not believed and a
	// forged Host is replaced by the address the connection came in on.
	want := p.direct + "/api-keys/"
	for _, headers := range [][]string{{"X-Forwarded-Host", "evil.example"}, {"Forwarded", "host=evil.example"}} {
		if loc := create(p, p.direct, headers...); !strings.HasPrefix(loc, want) {
			t.Errorf("direct with %q: Location %q, want it under %s", headers, loc, want)
		}
	}
	if loc := createWithHost(t, p, "evil.example"); !strings.HasPrefix(loc, want) {
		t.Errorf("direct with a forged Host: Location %q, want it under %s", loc, want)
	}

	// A proxy that passes the client's X-Forwarded-Host through: only a
	// public URL keeps links right.
	p = startBehindProxy(t, nil, "--public-url", "https://api.example.com/keys/")
	for _, base := range []string{p.via, p.direct} {
		if loc := create(p, base, "X-Forwarded-Host", "evil.example"); !strings.HasPrefix(loc, "https://api.example.com/keys/api-keys/") {
			t.Errorf("with --public-url: Location %q", loc)
		}
	}
}

// createWithHost creates a key directly with a forged Host header.
func createWithHost(t *testing.T, p *proxied, host string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "POST", p.direct+"/api-keys", strings.NewReader(`{"description":"k"}`))
	req.Host = host
	req.Header.Set("REB-APIKEY", p.secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := loopbackClient(clientAddr).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create with Host %q: %d", host, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}
