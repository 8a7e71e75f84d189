package main

// The attack suite's end-to-end part: the real `serve` command behind a
// real nginx, attacked by a client (from 127.0.0.3) that sends its own
// forwarding headers to get past a key's allowedIps, or that talks to the
// server directly with them, and that sends its credential twice. Each
// case must be refused in the surface's own format and leave the SQLite
// file as it was (every table, but usage counts, lastUsedAt and the audit
// log of refused attempts). The in-process part, with every surface and
// route, is httpapi/attack_test.go.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/lktest"
)

// atkServer is `latchkey serve` on a SQLite file of its own, trusting
// 127.0.0.1 (where nginx connects from) and not throttling failed
// authentications, so that every refusal here is the 401 or 403 it is
// about rather than a 429.
type atkServer struct {
	t     *testing.T
	base  string // http://127.0.0.1:port
	addr  string
	admin credentials
	dump  *lktest.StateDumper
	cases *atkCounter
}

// atkCounter counts the cases run, by category, across servers.
type atkCounter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *atkCounter) add(category string) {
	c.mu.Lock()
	c.m[category]++
	c.mu.Unlock()
}

func (c *atkCounter) log(t *testing.T, start time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	total := 0
	for k, n := range c.m {
		parts = append(parts, fmt.Sprintf("%s: %d", k, n))
		total += n
	}
	slices.Sort(parts)
	t.Logf("%d cases (%s) in %v", total, strings.Join(parts, "; "), time.Since(start).Round(time.Millisecond))
}

func startAtkServer(t *testing.T, cases *atkCounter, args ...string) *atkServer {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "lk.db")
	base, _, _ := startServe(t, env(nil), append([]string{"--db", "sqlite:" + db, "--trusted-proxies", "127.0.0.1",
		"--allow-private-ips", "--failed-auth-limit", "0"}, args...)...)
	b, err := os.ReadFile(filepath.Join(dir, initialCredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	s := &atkServer{t: t, base: base, addr: strings.TrimPrefix(base, "http://"), dump: lktest.NewStateDumper(t, db), cases: cases}
	if err := json.Unmarshal(b, &s.admin); err != nil {
		t.Fatal(err)
	}
	return s
}

// atkKey is a key made for the attacks.
type atkKey struct{ id, secret, scope string }

// key makes a native key with the admin key.
func (s *atkServer) key(body string) atkKey {
	s.t.Helper()
	r := lktest.SendRaw(s.t, s.addr, "", lktest.RawRequest{Method: "POST", Path: "/v1/keys", Body: body,
		Headers: []lktest.Header{{"Authorization", "Bearer " + s.admin.Secret}}})
	var k struct{ ID, Secret string }
	if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &k) != nil {
		s.t.Fatalf("create key %s: %d %s", body, r.Status, r.Body)
	}
	return atkKey{k.ID, k.Secret, "account"}
}

// refused sends req to addr from clientAddr and checks that it is refused
// with want (in the surface's format, with code if set) and changes nothing.
// surfacePath names the surface when addr is a gateway whose paths are the
// protected API's: "" for req's own path.
func (s *atkServer) refused(t *testing.T, category, what, addr string, req lktest.RawRequest, want int, code, surfacePath string) lktest.RawResponse {
	t.Helper()
	before := s.dump.Dump(t)
	r := lktest.SendRaw(t, addr, clientAddr, req)
	after := s.dump.Dump(t)
	s.cases.add(category)
	what = fmt.Sprintf("[%s] %s: %s %s", category, what, req.Method, req.Path)
	if before != after {
		t.Errorf("VULNERABLE? %s changed the store (answered %d %s):\n%s", what, r.Status, r.Body, lktest.StateDiff(before, after))
	}
	if r.Status != want {
		t.Errorf("%s: %d, want %d: %s", what, r.Status, want, r.Body)
		return r
	}
	if want == http.StatusBadRequest {
		// nginx's own refusal (see nginxRefusesDuplicate), before Latchkey.
		if !strings.Contains(string(r.Body), "nginx") {
			t.Errorf("%s: a 400 that is not nginx's: %s", what, r.Body)
		}
		return r
	}
	lktest.CheckRefusal(t, what, cmpOrStr(surfacePath, req.Path), r, code)
	return r
}

// dupWant is how a duplicate-credential request is refused: 401 by
// Latchkey, but nginx itself answers 400 to a request with two
// Authorization lines ("client sent duplicate header line") before passing
// anything on, so through nginx those never reach Latchkey.
func dupWant(dup []lktest.Header, viaNginx bool) (int, string) {
	n := 0
	for _, h := range dup {
		if strings.EqualFold(h[0], "Authorization") {
			n++
		}
	}
	if viaNginx && n > 1 {
		return http.StatusBadRequest, ""
	}
	return http.StatusUnauthorized, "unauthorized"
}

func cmpOrStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// atkStartNginx runs nginx with server, a server {} block whose listen
// address is written as LISTEN, and extra http-level directives. It returns
// nginx's address; nginx is stopped in t.Cleanup.
func atkStartNginx(t *testing.T, extra, server string) string {
	t.Helper()
	bin := nginxBinary(t)
	var lastErr string
	for attempt := 0; attempt < 3; attempt++ {
		listen := freeLoopbackAddr(t)
		dir := t.TempDir()
		conf := fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
worker_processes 1;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    %[2]s
    %[3]s
}
`, dir, extra, strings.ReplaceAll(server, "LISTEN", listen))
		mainConf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(mainConf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "-t", "-p", dir, "-c", mainConf).CombinedOutput(); err != nil {
			t.Fatalf("nginx -t: %v\n%s\n%s", err, out, conf)
		}
		cmd := exec.Command(bin, "-p", dir, "-c", mainConf)
		var output lktest.Buffer
		cmd.Stdout, cmd.Stderr = &output, &output
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if r, err := http.Get("http://" + listen + "/healthz"); err == nil {
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				t.Cleanup(stop)
				return listen
			}
			select {
			case err := <-exited:
				b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				lastErr = fmt.Sprintf("nginx exited at start: %v\n%s%s", err, output.String(), b)
			case <-time.After(20 * time.Millisecond):
				if time.Now().Before(deadline) {
					continue
				}
				stop()
				t.Fatalf("nginx did not answer on %s within 10 s", listen)
			}
			break
		}
		if !strings.Contains(lastErr, "Address already in use") {
			break
		}
	}
	t.Fatal(lastErr)
	return ""
}

// proxyModes are the three --forwarded-header modes, each with the nginx
// lines that write that header (the README's "Behind a proxy" block for
// x-forwarded-for; X-Real-IP set to the peer; Forwarded appended to).
var proxyModes = []struct {
	mode, extra, headers string
}{
	{"x-forwarded-for", "", `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`},
	{"x-real-ip", "", `proxy_set_header X-Real-IP $remote_addr;`},
	{"forwarded", `map $http_forwarded $lk_forwarded {
        ""      "for=$remote_addr";
        default "$http_forwarded, for=$remote_addr";
    }`, `proxy_set_header Forwarded $lk_forwarded;`},
}

// atkSpoofs are the headers a client sends to claim the address addr.
func atkSpoofs(addr string) [][]lktest.Header {
	return [][]lktest.Header{
		{{"X-Forwarded-For", addr}},
		{{"X-Forwarded-For", addr + ", 127.0.0.1"}},
		{{"X-Forwarded-For", addr}, {"X-Forwarded-For", addr}},
		{{"X-Forwarded-For", "::ffff:" + addr}},
		{{"Forwarded", "for=" + addr}},
		{{"Forwarded", `for="` + addr + `:443";proto=https;by=127.0.0.1`}},
		{{"Forwarded", `for="[::ffff:` + addr + `]"`}},
		{{"X-Real-IP", addr}},
		{{"X-Forwarded-For", addr}, {"Forwarded", "for=" + addr}, {"X-Real-IP", addr}, {"True-Client-IP", addr}, {"X-Client-IP", addr}},
	}
}

// spoofRoutes: a write of each surface, whoami and authorize.
var spoofRoutes = []lktest.RawRequest{
	{Method: "POST", Path: "/v2/apps", Body: `{"displayName":"spoofed"}`},
	{Method: "POST", Path: "/api-keys", Body: `{"description":"spoofed"}`},
	{Method: "POST", Path: "/v1/keys", Body: `{"name":"spoofed","permissions":["*"]}`},
	{Method: "GET", Path: "/v1/authorize"},
}

// spoof sends every spoof of every claimed address, in every credential
// form, to every route at addr, with keys allowed only from the claimed
// addresses: all must get 403. A key allowed from the client's real
// address is admitted, with the same headers, so that the refusals are
// the address check's.
func (s *atkServer) spoof(t *testing.T, category, addr string, fenced map[string]atkKey, real atkKey) {
	for claimed, k := range fenced {
		for _, hs := range atkSpoofs(claimed) {
			for _, f := range lktest.CredentialForms {
				cred := f.Headers(k.id, k.secret, k.scope)
				for _, rt := range spoofRoutes {
					req := rt
					req.Headers = append(slices.Clone(hs), cred...)
					s.refused(t, category, fmt.Sprintf("key for %s only, as %s, with %q", claimed, f.Name, hs), addr, req, http.StatusForbidden, "forbidden", "")
				}
			}
		}
	}
	for _, hs := range atkSpoofs("203.0.113.7") {
		for _, f := range lktest.CredentialForms {
			req := lktest.RawRequest{Method: "GET", Path: "/v1/whoami", Headers: append(slices.Clone(hs), f.Headers(real.id, real.secret, real.scope)...)}
			if r := lktest.SendRaw(t, addr, clientAddr, req); r.Status != http.StatusOK {
				t.Errorf("[%s] the key for %s, as %s, with %q: %d %s, want 200", category, clientAddr, f.Name, hs, r.Status, r.Body)
			}
		}
	}
}

// atkDuplicates are pairs of credential headers, each an ambiguous request.
func atkDuplicates(a, b atkKey) [][]lktest.Header {
	unknown := "sk_live_" + strings.Repeat("C", 49)
	var out [][]lktest.Header
	for _, names := range [][2]string{{"Authorization", "Authorization"}, {"REB-APIKEY", "REB-APIKEY"}, {"X-API-Key", "X-API-Key"}, {"REB-APIKEY", "X-API-Key"}} {
		val := func(name, secret string) string {
			if name == "Authorization" {
				return "Bearer " + secret
			}
			return secret
		}
		for _, pair := range [][2]string{{a.secret, b.secret}, {b.secret, a.secret}, {a.secret, unknown}, {unknown, a.secret}, {a.secret, a.secret}} {
			out = append(out,
				[]lktest.Header{{names[0], val(names[0], pair[0])}, {names[1], val(names[1], pair[1])}},
				[]lktest.Header{{names[1], val(names[1], pair[0])}, {names[0], val(names[0], pair[1])}})
		}
	}
	return slices.CompactFunc(out, func(x, y []lktest.Header) bool { return slices.Equal(x, y) })
}

// TestAttacksBehindNginx: forwarding headers and duplicate credentials,
// through a real nginx in front of the management API in each forwarding
// mode, through the shipped gateway configuration, and straight to the
// server from an address it does not trust.
func TestAttacksBehindNginx(t *testing.T) {
	start := time.Now()
	cases := &atkCounter{m: map[string]int{}}
	for i, m := range proxyModes {
		t.Run("management behind nginx, "+m.mode, func(t *testing.T) {
			s := startAtkServer(t, cases, "--forwarded-header", m.mode)
			proxy := atkStartNginx(t, m.extra, `server {
        listen LISTEN;
        location / {
            proxy_pass http://`+s.addr+`;
            proxy_set_header Host              $host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host  $host;
            `+m.headers+`
        }
    }`)
			fenced := map[string]atkKey{
				"203.0.113.7": s.key(`{"name":"elsewhere","permissions":["*"],"allowedIps":["203.0.113.7"]}`),
				"127.0.0.1":   s.key(`{"name":"the proxy's address","permissions":["*"],"allowedIps":["127.0.0.1"]}`),
			}
			real := s.key(`{"name":"the client's address","permissions":["*"],"allowedIps":["` + clientAddr + `"]}`)
			s.spoof(t, "forwarded headers via nginx ("+m.mode+")", proxy, fenced, real)

			if i == 0 {
				// Straight to the server from 127.0.0.3, which it does not
				// trust: every forwarding header is ignored.
				s.spoof(t, "forwarded headers, direct", s.addr, fenced, real)

				// Duplicate credentials, through nginx and straight.
				other := s.key(`{"name":"another valid key","permissions":["*"]}`)
				admin := atkKey{s.admin.ID, s.admin.Secret, "account"}
				for _, dup := range atkDuplicates(admin, other) {
					for _, addr := range []string{proxy, s.addr} {
						for _, rt := range []lktest.RawRequest{
							{Method: "POST", Path: "/v2/apps", Body: `{"displayName":"dup"}`},
							{Method: "POST", Path: "/api-keys", Body: `{"description":"dup"}`},
							{Method: "POST", Path: "/v1/keys", Body: `{"name":"dup","permissions":["*"]}`},
							{Method: "POST", Path: "/v1/verify", Body: `{"key":"` + other.secret + `"}`},
							{Method: "GET", Path: "/v1/authorize"},
						} {
							req := rt
							req.Headers = dup
							want, code := dupWant(dup, addr == proxy)
							s.refused(t, "duplicate credentials", fmt.Sprintf("%q via %s", dup, addr), addr, req, want, code, "")
						}
					}
				}
			}
		})
	}

	t.Run("the shipped gateway configuration", func(t *testing.T) {
		s := startAtkServer(t, cases)
		apiAddr, hits := startEchoAPI(t)
		gateway := strings.TrimPrefix(startNginx(t, s.addr, apiAddr), "http://")
		fenced := map[string]atkKey{
			"203.0.113.7": s.key(`{"name":"elsewhere","allowedIps":["203.0.113.7"]}`),
			"127.0.0.1":   s.key(`{"name":"the gateway's address","allowedIps":["127.0.0.1"]}`),
		}
		real := s.key(`{"name":"the client's address","allowedIps":["` + clientAddr + `"]}`)
		check := func(what string, req lktest.RawRequest, want int, code string) {
			t.Helper()
			before := hits.Load()
			s.refused(t, "gateway (nginx auth_request)", what, gateway, req, want, code, "/v1/authorize")
			if hits.Load() != before {
				t.Errorf("VULNERABLE: %s reached the protected API", what)
			}
		}
		for claimed, k := range fenced {
			for _, hs := range atkSpoofs(claimed) {
				for _, f := range lktest.CredentialForms {
					req := lktest.RawRequest{Method: "GET", Path: "/orders-free/1", Headers: append(slices.Clone(hs), f.Headers(k.id, k.secret, k.scope)...)}
					check(fmt.Sprintf("key for %s only, as %s, with %q", claimed, f.Name, hs), req, http.StatusForbidden, "forbidden")
				}
			}
		}
		other := s.key(`{"name":"another valid key"}`)
		for _, dup := range atkDuplicates(real, other) {
			want, code := dupWant(dup, true)
			check(fmt.Sprintf("%q", dup), lktest.RawRequest{Method: "GET", Path: "/", Headers: dup}, want, code)
		}
		// The real client's key passes, whatever it claims.
		for _, hs := range atkSpoofs("203.0.113.7") {
			req := lktest.RawRequest{Method: "GET", Path: "/", Headers: append(slices.Clone(hs), lktest.Header{"X-API-Key", real.secret})}
			if r := lktest.SendRaw(t, gateway, clientAddr, req); r.Status != http.StatusOK {
				t.Errorf("the client's own key with %q: %d %s", hs, r.Status, r.Body)
			}
		}
	})
	cases.log(t, start)
}
