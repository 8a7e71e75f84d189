package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/lktest"
)

// The shipped configuration, and the three addresses in it that a user
// edits (and this test rewrites; nothing else in the file is touched).
const (
	nginxConfPath     = "../../deploy/nginx/latchkey.conf"
	nginxConfLatchkey = "127.0.0.1:8080"
	nginxConfListen   = "127.0.0.1:8081"
	nginxConfAPI      = "127.0.0.1:9000"
)

// nginxBinary finds Debian's nginx. When it is missing it is installed as
// root, and otherwise the test fails naming the package: a skip would count
// as a pass.
func nginxBinary(t *testing.T) string {
	t.Helper()
	find := func() string {
		if p, err := exec.LookPath("nginx"); err == nil {
			return p
		}
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p
			}
		}
		return ""
	}
	if p := find(); p != "" {
		return p
	}
	if os.Geteuid() != 0 {
		t.Fatal("nginx is not installed: install the Debian package nginx (sudo apt-get install nginx), or run `make test` as root")
	}
	apt := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	t.Log("nginx is not installed; installing the Debian package nginx")
	if err := apt("install", "-y", "nginx"); err != nil {
		if err := apt("update"); err != nil {
			t.Fatal(err)
		}
		if err := apt("install", "-y", "nginx"); err != nil {
			t.Fatal(err)
		}
	}
	if p := find(); p != "" {
		return p
	}
	t.Fatal("installed the Debian package nginx, but found no nginx binary")
	return ""
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free a
// moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startNginx runs nginx with the shipped configuration, its three addresses
// rewritten, inside the minimal wrapper nginx needs to run from a temporary
// directory. It returns nginx's base URL; nginx is stopped in t.Cleanup.
func startNginx(t *testing.T, latchkeyAddr, apiAddr string) string {
	t.Helper()
	bin := nginxBinary(t)
	shipped, err := os.ReadFile(nginxConfPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{nginxConfLatchkey, nginxConfListen, nginxConfAPI} {
		if !bytes.Contains(shipped, []byte(addr)) {
			t.Fatalf("%s no longer contains the address %s that this test rewrites", nginxConfPath, addr)
		}
	}
	// A port can be taken between finding it free and nginx binding it:
	// try a few times, then fail with nginx's own words.
	var lastErr string
	for attempt := 0; attempt < 3; attempt++ {
		listen := freeLoopbackAddr(t)
		dir := t.TempDir()
		conf := strings.NewReplacer(nginxConfLatchkey, latchkeyAddr, nginxConfListen, listen, nginxConfAPI, apiAddr).Replace(string(shipped))
		if err := os.WriteFile(filepath.Join(dir, "latchkey.conf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		wrapper := fmt.Sprintf(`daemon off;
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
    include %[1]s/latchkey.conf;
}
`, dir)
		mainConf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(mainConf, []byte(wrapper), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "-t", "-p", dir, "-c", mainConf).CombinedOutput(); err != nil {
			t.Fatalf("nginx -t refuses the shipped configuration: %v\n%s", err, out)
		}

		var output lktest.Buffer
		cmd := exec.Command(bin, "-p", dir, "-c", mainConf)
		cmd.Stdout, cmd.Stderr = &output, &output
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers too can be stopped as a group
		if err := cmd.Start(); err != nil {
			t.Fatalf("start nginx: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		errorLog := func() string {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return output.String() + string(b)
		}
		stop := func() {
			cmd.Process.Signal(syscall.SIGTERM) // fast shutdown
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				t.Errorf("nginx did not stop within 10 s of SIGTERM; killed it\n%s", errorLog())
			}
			if t.Failed() {
				t.Logf("nginx error log:\n%s", errorLog())
			}
		}

		deadline := time.Now().Add(10 * time.Second)
		for {
			if conn, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
				conn.Close()
				t.Cleanup(stop)
				return "http://" + listen
			}
			select {
			case err := <-exited:
				lastErr = fmt.Sprintf("nginx exited at start: %v\n%s", err, errorLog())
			case <-time.After(20 * time.Millisecond):
				if time.Now().Before(deadline) {
					continue
				}
				stop()
				t.Fatalf("nginx did not accept connections on %s within 10 s\n%s", listen, errorLog())
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

// echoed is what the upstream API received, as it answers it.
type echoed struct {
	Method  string              `json:"method"`
	URI     string              `json:"uri"`
	Body    string              `json:"body"`
	Headers map[string][]string `json:"headers"`
}

// startEchoAPI starts the protected API: it answers every request with
// what it received. /api-401 answers with a refusal of its own, which must
// reach the client untouched. It returns its address and a count of the
// requests that reached it.
func startEchoAPI(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/api-401" {
			w.Header().Set("WWW-Authenticate", `Basic realm="the api"`)
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "the API's own refusal")
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echoed{Method: r.Method, URI: r.RequestURI, Body: string(body), Headers: r.Header})
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), &hits
}

// nginxRig is Latchkey in process, the echo API, and a real nginx in front
// of the API with the shipped configuration.
type nginxRig struct {
	t            *testing.T
	latchkey     string // Latchkey's base URL, for managing keys
	gateway      string // nginx's base URL, for the API's clients
	admin        string // the account key's secret
	accountID    string
	apiHits      *atomic.Int64
	client       *http.Client // connects from clientAddr
	stopLatchkey func() error
}

func startNginxRig(t *testing.T) *nginxRig {
	dir := t.TempDir()
	base, _, stop := startServe(t, env(nil), "--db", "sqlite:"+filepath.Join(dir, "lk.db"),
		"--trusted-proxies", "127.0.0.1", "--allow-private-ips")
	b, err := os.ReadFile(filepath.Join(dir, initialCredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	var creds credentials
	if err := json.Unmarshal(b, &creds); err != nil {
		t.Fatal(err)
	}
	apiAddr, hits := startEchoAPI(t)
	gateway := startNginx(t, strings.TrimPrefix(base, "http://"), apiAddr)
	client := loopbackClient(clientAddr)
	client.Timeout = 10 * time.Second
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &nginxRig{t: t, latchkey: base, gateway: gateway, admin: creds.Secret, accountID: creds.AccountID,
		apiHits: hits, client: client, stopLatchkey: stop}
}

// manage calls Latchkey's native API with the account key and decodes the
// answer into out, failing unless it has status want.
func (g *nginxRig) manage(method, path, body string, want int, out any) {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.latchkey+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+g.admin)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		g.t.Fatalf("%s %s %s: %d, want %d: %s", method, path, body, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			g.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// apiKey is a key made through the native API.
type apiKey struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	Owner  struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"owner"`
}

func (g *nginxRig) createKey(body string) apiKey {
	g.t.Helper()
	var k apiKey
	g.manage("POST", "/v1/keys", body, http.StatusCreated, &k)
	if k.ID == "" || k.Secret == "" {
		g.t.Fatalf("create key %s: no id or secret", body)
	}
	return k
}

// roll gives the key a new secret and returns it.
func (g *nginxRig) roll(id, body string) string {
	g.t.Helper()
	var k apiKey
	g.manage("POST", "/v1/keys/"+id+"/roll", body, http.StatusOK, &k)
	if k.Secret == "" {
		g.t.Fatalf("roll %s: no secret", id)
	}
	return k.Secret
}

// A credential form: how a client presents a key.
type credForm struct {
	name string
	set  func(h http.Header, id, secret string)
}

var credForms = []credForm{
	{"Bearer", func(h http.Header, _, secret string) { h.Set("Authorization", "Bearer "+secret) }},
	{"X-API-Key", func(h http.Header, _, secret string) { h.Set("X-API-Key", secret) }},
	{"Basic", func(h http.Header, id, secret string) {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	}},
}

// reply is one answer the client got through nginx.
type reply struct {
	status int
	header http.Header
	body   []byte
	// hit says whether the request reached the API.
	hit bool
}

// send makes a request through nginx from clientAddr. headers are name,
// value pairs, added as sent.
func (g *nginxRig) send(method, uri, body string, cred func(http.Header), headers ...string) reply {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.gateway+uri, strings.NewReader(body))
	if cred != nil {
		cred(req.Header)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	before := g.apiHits.Load()
	resp, err := g.client.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b, hit: g.apiHits.Load() > before}
}

// get is send for a GET with key's credential in form f.
func (g *nginxRig) get(uri string, f credForm, id, secret string, headers ...string) reply {
	g.t.Helper()
	return g.send("GET", uri, "", func(h http.Header) { f.set(h, id, secret) }, headers...)
}

// echo decodes what the API received, failing unless the request reached it.
func (r reply) echo(t *testing.T) echoed {
	t.Helper()
	if r.status != http.StatusOK || !r.hit {
		t.Fatalf("want the request to reach the API with 200; got %d (reached: %v) %s", r.status, r.hit, r.body)
	}
	var e echoed
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("the API's answer: %v: %s", err, r.body)
	}
	return e
}

// refused checks a refusal made by nginx on Latchkey's word: the status, a
// JSON body with the code, and that the API never saw the request.
func (r reply) refused(t *testing.T, what string, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: %d, want %d: %s", what, r.status, status, r.body)
		return
	}
	if r.hit {
		t.Errorf("%s: refused with %d, but the request reached the API", what, status)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Code != code || body.Error.Message == "" {
		t.Errorf("%s: body %s, want error code %q with a message", what, r.body, code)
	}
}

// direct asks Latchkey's authorize endpoint itself, as nginx does, for
// comparing what nginx passed on.
func (g *nginxRig) direct(cred func(http.Header)) *http.Response {
	g.t.Helper()
	req, _ := http.NewRequest("GET", g.latchkey+"/v1/authorize?gateway=nginx", nil)
	if cred != nil {
		cred(req.Header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// unauthorized checks a 401 whose WWW-Authenticate is Latchkey's own.
func (g *nginxRig) unauthorized(t *testing.T, what string, r reply, cred func(http.Header)) {
	t.Helper()
	r.refused(t, what, http.StatusUnauthorized, "unauthorized")
	want := g.direct(cred).Header.Values("WWW-Authenticate")
	if got := r.header.Values("WWW-Authenticate"); len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("%s: WWW-Authenticate %q, want Latchkey's %q", what, got, want)
	}
}

// TestNginxGateway runs the shipped deploy/nginx/latchkey.conf in a real
// nginx in front of an API, with Latchkey deciding, and checks what clients
// and the API see.
func TestNginxGateway(t *testing.T) {
	g := startNginxRig(t)
	var app struct{ ID string }
	g.manage("POST", "/v1/apps", `{"name":"Shop"}`, http.StatusCreated, &app)

	t.Run("a valid key reaches the API, which learns whose key it is", func(t *testing.T) {
		metadata := map[string]any{"crm": "c_42", "tier": 3.0, "vip": true, "name": "Zoë ✓ 🔑"}
		mb, _ := json.Marshal(metadata)
		k := g.createKey(`{"name":"Customer 42","owner":{"type":"app","id":"` + app.ID + `"},` +
			`"permissions":["orders.read","reports.view"],"metadata":` + string(mb) + `}`)
		for _, f := range credForms {
			r := g.send("POST", "/widgets/7?color=red", "the body", func(h http.Header) { f.set(h, k.ID, k.Secret) },
				"X-Latchkey-Key-Id", "key_forged", "X-Latchkey-Owner", "account:forged",
				"X-Latchkey-Permissions", "*", "X-Latchkey-Metadata", `{"forged":true}`, "X-Latchkey-Code", "VALID")
			e := r.echo(t)
			if e.Method != "POST" || e.URI != "/widgets/7?color=red" || e.Body != "the body" {
				t.Errorf("%s: the API got %s %s %q, want POST /widgets/7?color=red with the body", f.name, e.Method, e.URI, e.Body)
			}
			for name, want := range map[string]string{
				"X-Latchkey-Key-Id":      k.ID,
				"X-Latchkey-Owner":       "app:" + app.ID,
				"X-Latchkey-Permissions": "orders.read,reports.view",
			} {
				if got := e.Headers[name]; len(got) != 1 || got[0] != want {
					t.Errorf("%s: the API got %s %q, want exactly %q", f.name, name, got, want)
				}
			}
			if got := e.Headers["X-Latchkey-Metadata"]; len(got) != 1 {
				t.Errorf("%s: the API got X-Latchkey-Metadata %q, want the key's alone", f.name, got)
			} else {
				var m map[string]any
				if err := json.Unmarshal([]byte(got[0]), &m); err != nil || !reflect.DeepEqual(m, metadata) {
					t.Errorf("%s: X-Latchkey-Metadata %q decodes to %v (%v), want %v", f.name, got[0], m, err, metadata)
				}
			}
			for _, name := range []string{"X-Latchkey-Code", "Authorization", "X-Api-Key", "Reb-Apikey"} {
				if got, ok := e.Headers[name]; ok {
					t.Errorf("%s: the API got %s %q; it must not", f.name, name, got)
				}
			}
		}

		// A key without metadata: the header a client forged is not passed on.
		plain := g.createKey(`{"name":"plain"}`)
		e := g.get("/", credForms[0], plain.ID, plain.Secret, "X-Latchkey-Metadata", `{"admin":true}`).echo(t)
		if got, ok := e.Headers["X-Latchkey-Metadata"]; ok {
			t.Errorf("key without metadata: the API got X-Latchkey-Metadata %q", got)
		}
		if got := e.Headers["X-Latchkey-Owner"]; len(got) != 1 || got[0] != "account:"+g.accountID {
			t.Errorf("account key: X-Latchkey-Owner %q, want account:%s", got, g.accountID)
		}
		if got := e.Headers["X-Latchkey-Permissions"]; len(got) != 0 && (len(got) != 1 || got[0] != "") {
			t.Errorf("key without permissions: X-Latchkey-Permissions %q", got)
		}
	})

	t.Run("no key gets 401 with WWW-Authenticate", func(t *testing.T) {
		r := g.send("GET", "/", "", nil, "X-Latchkey-Key-Id", "key_forged")
		g.unauthorized(t, "no key", r, nil)
	})

	t.Run("a wrong, deleted, expired or disabled key gets 401", func(t *testing.T) {
		good := g.createKey(`{"name":"good"}`)
		deleted := g.createKey(`{"name":"deleted"}`)
		expired := g.createKey(`{"name":"expired"}`)
		disabled := g.createKey(`{"name":"disabled"}`)
		for _, f := range credForms {
			for _, k := range []apiKey{deleted, expired, disabled} {
				g.get("/", f, k.ID, k.Secret).echo(t) // each works to begin with
			}
		}
		g.manage("DELETE", "/v1/keys/"+deleted.ID, "", http.StatusNoContent, nil)
		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		g.manage("PATCH", "/v1/keys/"+expired.ID, `{"expiresAt":"`+past+`"}`, http.StatusOK, nil)
		g.manage("PATCH", "/v1/keys/"+disabled.ID, `{"enabled":false}`, http.StatusOK, nil)

		mistyped := good.Secret[:len(good.Secret)-1] + "A"
		if mistyped == good.Secret {
			mistyped = good.Secret[:len(good.Secret)-1] + "B"
		}
		wrong := []struct{ what, id, secret string }{
			{"a malformed secret", good.ID, "sk_live_nope"},
			{"a mistyped secret", good.ID, mistyped},
			{"a deleted key", deleted.ID, deleted.Secret},
			{"an expired key", expired.ID, expired.Secret},
			{"a disabled key", disabled.ID, disabled.Secret},
		}
		for _, f := range credForms {
			for _, w := range wrong {
				cred := func(h http.Header) { f.set(h, w.id, w.secret) }
				g.unauthorized(t, f.name+", "+w.what, g.send("GET", "/", "", cred), cred)
			}
		}

		// Enabled again, the disabled key works again at once.
		g.manage("PATCH", "/v1/keys/"+disabled.ID, `{"enabled":true}`, http.StatusOK, nil)
		g.get("/", credForms[0], disabled.ID, disabled.Secret).echo(t)
	})

	t.Run("a location's permission is enforced", func(t *testing.T) {
		none := g.createKey(`{"name":"no permissions"}`)
		other := g.createKey(`{"name":"billing","permissions":["billing.read","orders.write"]}`)
		reader := g.createKey(`{"name":"reader","permissions":["orders.read"]}`)
		wildcard := g.createKey(`{"name":"orders.*","permissions":["orders.*"]}`)
		for _, f := range credForms {
			for _, k := range []apiKey{none, other} {
				r := g.get("/orders/17", f, k.ID, k.Secret)
				r.refused(t, f.name+", /orders/ without orders.read", http.StatusForbidden, "forbidden")
				if v := r.header.Get("Retry-After"); v != "" {
					t.Errorf("%s: a 403 for a missing permission has Retry-After %q", f.name, v)
				}
				g.get("/elsewhere", f, k.ID, k.Secret).echo(t) // "/" asks for no permission
			}
			for _, k := range []apiKey{reader, wildcard} {
				if e := g.get("/orders/17", f, k.ID, k.Secret).echo(t); e.URI != "/orders/17" {
					t.Errorf("%s: the API got %s", f.name, e.URI)
				}
			}
		}
	})

	t.Run("allowedIps is checked against the client's address, not a forged one", func(t *testing.T) {
		elsewhere := g.createKey(`{"name":"elsewhere","allowedIps":["127.0.0.9"]}`)
		here := g.createKey(`{"name":"here","allowedIps":["` + clientAddr + `/32"]}`)
		for _, f := range credForms {
			r := g.get("/", f, elsewhere.ID, elsewhere.Secret)
			r.refused(t, f.name+", a key for 127.0.0.9 only", http.StatusForbidden, "forbidden")
			r = g.get("/", f, elsewhere.ID, elsewhere.Secret, "X-Forwarded-For", "127.0.0.9", "X-Real-IP", "127.0.0.9")
			r.refused(t, f.name+", a key for 127.0.0.9 only, X-Forwarded-For forged", http.StatusForbidden, "forbidden")
			g.get("/", f, here.ID, here.Secret).echo(t)
		}
	})

	t.Run("over the rate limit is 429 with Retry-After, never 500", func(t *testing.T) {
		k := g.createKey(`{"name":"limited","rateLimit":{"limit":2,"period":"1h"}}`)
		for i, f := range credForms[:2] {
			r := g.get("/", f, k.ID, k.Secret)
			r.echo(t)
			if got, want := r.header.Get("RateLimit-Limit")+"/"+r.header.Get("RateLimit-Remaining"), "2/"+strconv.Itoa(1-i); got != want {
				t.Errorf("request %d: RateLimit-Limit/Remaining %s, want %s", i+1, got, want)
			}
		}
		for _, f := range credForms {
			r := g.get("/", f, k.ID, k.Secret)
			r.refused(t, f.name+", over the limit", http.StatusTooManyRequests, "rate_limited")
			// At most the period plus one of the limiter's 63 sub-windows
			// (see package ratelimit), rounded up to whole seconds.
			const most = 3600 + 3600/63 + 1
			for _, name := range []string{"Retry-After", "RateLimit-Reset"} {
				if n, err := strconv.Atoi(r.header.Get(name)); err != nil || n < 1 || n > most {
					t.Errorf("%s: %s %q, want 1 to %d seconds", f.name, name, r.header.Get(name), most)
				}
			}
			if r.header.Get("RateLimit-Limit") != "2" || r.header.Get("RateLimit-Remaining") != "0" {
				t.Errorf("%s: RateLimit-Limit %q, -Remaining %q; want 2 and 0", f.name,
					r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
			}
		}
		// Another key is not affected.
		other := g.createKey(`{"name":"unlimited"}`)
		g.get("/", credForms[0], other.ID, other.Secret).echo(t)
	})

	t.Run("a rolled key: both secrets in the grace period, none after a roll without one", func(t *testing.T) {
		k := g.createKey(`{"name":"rolled"}`)
		first := k.Secret
		second := g.roll(k.ID, `{"gracePeriod":"1h"}`)
		for _, f := range credForms {
			for _, s := range []string{first, second} {
				if e := g.get("/", f, k.ID, s).echo(t); !reflect.DeepEqual(e.Headers["X-Latchkey-Key-Id"], []string{k.ID}) {
					t.Errorf("%s: X-Latchkey-Key-Id %q, want %s", f.name, e.Headers["X-Latchkey-Key-Id"], k.ID)
				}
			}
		}
		third := g.roll(k.ID, `{"gracePeriod":"0"}`)
		for _, f := range credForms {
			for i, s := range []string{first, second} {
				cred := func(h http.Header) { f.set(h, k.ID, s) }
				g.unauthorized(t, fmt.Sprintf("%s, secret %d after a roll without grace", f.name, i+1), g.send("GET", "/", "", cred), cred)
			}
			g.get("/", f, k.ID, third).echo(t)
		}
	})

	t.Run("the API's own refusals and nginx's internals", func(t *testing.T) {
		k := g.createKey(`{"name":"plain"}`)
		r := g.get("/api-401", credForms[0], k.ID, k.Secret)
		if r.status != http.StatusUnauthorized || !r.hit || string(r.body) != "the API's own refusal" ||
			r.header.Get("WWW-Authenticate") != `Basic realm="the api"` {
			t.Errorf("the API's own 401 was changed on its way: %d %q %q", r.status, r.header.Get("WWW-Authenticate"), r.body)
		}
		if r := g.get("/_latchkey/authorize", credForms[0], k.ID, k.Secret); r.status != http.StatusNotFound || r.hit {
			t.Errorf("the internal authorize location from outside: %d, want 404", r.status)
		}
	})

	// Last: with Latchkey gone, requests are refused with 503, never let
	// through and never a bare 500.
	t.Run("Latchkey unreachable: 503", func(t *testing.T) {
		k := g.createKey(`{"name":"before the outage"}`)
		if err := g.stopLatchkey(); err != nil {
			t.Fatalf("stop Latchkey: %v", err)
		}
		r := g.get("/", credForms[0], k.ID, k.Secret)
		r.refused(t, "Latchkey down", http.StatusServiceUnavailable, "unavailable")
	})
}
