package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/secret"
)

// outageBound is the --max-staleness of the nodes in these tests: short, so
// that the outage tests stay quick.
const outageBound = 500 * time.Millisecond

// outageMargin is added to the bound before a 200 counts as served from a
// cache older than the bound. The bound is measured from when PostgreSQL
// had exited, after every read a node could have made of it, so the margin
// covers only the clock readings on both sides.
const outageMargin = 100 * time.Millisecond

// patience bounds the waits for something that must happen: a node
// noticing the outage, or recovering. They are not performance assertions:
// each wait ends as soon as the thing happens, and the time it took is
// logged.
const patience = 15 * time.Second

// outageClient has a timeout, so that a request that hangs fails the test
// instead of blocking it.
var outageClient = &http.Client{Timeout: 10 * time.Second}

// outageCluster is two serve nodes on a PostgreSQL server of the test's own.
type outageCluster struct {
	pg           *pgtest.Server
	nodeA, nodeB string
	admin        credentials
	appID        string
}

func newOutageCluster(t *testing.T, args ...string) *outageCluster {
	t.Helper()
	c := &outageCluster{pg: pgtest.NewServer(t)}
	getenv := env(map[string]string{"LATCHKEY_DB": c.pg.DSN(), "LATCHKEY_MASTER_KEY": secret.NewMasterKey()})
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"bootstrap"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &c.admin); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"--max-staleness", outageBound.String()}, args...)
	c.nodeA, _, _ = startServe(t, getenv, args...)
	c.nodeB, _, _ = startServe(t, getenv, args...)
	for _, node := range c.nodes() {
		waitFor(t, node+" ready", func() bool { return getStatus(t, node+"/readyz") == http.StatusOK })
	}
	status, body, _ := c.native(t, c.nodeA, "POST", "/v1/apps", `{"name":"Outage"}`)
	if status != http.StatusCreated {
		t.Fatalf("create app: %d %s", status, body)
	}
	c.appID = jsonField(t, body, "id")
	return c
}

func (c *outageCluster) nodes() []string { return []string{c.nodeA, c.nodeB} }

// newKey makes a key that may read orders, through node A.
func (c *outageCluster) newKey(t *testing.T, name string) (id, sec string) {
	t.Helper()
	status, body, _ := c.native(t, c.nodeA, "POST", "/v1/keys", `{"name":"`+name+`","permissions":["orders.read"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create key %s: %d %s", name, status, body)
	}
	return jsonField(t, body, "id"), jsonField(t, body, "secret")
}

// native sends a /v1 request with the admin key.
func (c *outageCluster) native(t *testing.T, base, method, path, body string) (int, []byte, http.Header) {
	t.Helper()
	return send(t, method, base+path, body, "Authorization", "Bearer "+c.admin.Secret)
}

// send makes a request with one header and returns the answer.
func send(t *testing.T, method, url, body, header, value string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(header, value)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := outageClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, b, resp.Header
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	status, _, _ := send(t, "GET", url, "", "Accept", "application/json")
	return status
}

// authorizeKey asks a node whether sec may read orders, as a gateway does.
func authorizeKey(t *testing.T, base, sec string) int {
	t.Helper()
	status, _, _ := send(t, "GET", base+"/v1/authorize?permission=orders.read", "", "X-API-Key", sec)
	return status
}

func jsonField(t *testing.T, body []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	s, _ := m[name].(string)
	if s == "" {
		t.Fatalf("no %s in %s", name, body)
	}
	return s
}

// waitFor polls cond until it holds, for up to patience.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > patience {
			t.Fatalf("not within %v: %s", patience, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// sample is one answer the load got: when its request was sent, to which
// node and endpoint, its status, and for verify whether the key was valid.
type sample struct {
	sent     time.Time
	node     string
	endpoint string
	status   int
	valid    bool
}

// load sends authorize and verify requests for sec to every node, without
// pause but for a millisecond between rounds, until stop is called; stop
// returns what it got. Requests that fail at the HTTP level are errors:
// the nodes stay up throughout.
func (c *outageCluster) load(t *testing.T, sec string) (stop func() []sample) {
	var (
		mu      sync.Mutex
		samples []sample
		errs    []error
		done    = make(chan struct{})
		wg      sync.WaitGroup
	)
	verifyBody := `{"key":"` + sec + `","permissions":["orders.read"]}`
	for _, node := range c.nodes() {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, endpoint := range []string{"authorize", "verify"} {
					var req *http.Request
					if endpoint == "authorize" {
						req, _ = http.NewRequest("GET", node+"/v1/authorize?permission=orders.read", nil)
						req.Header.Set("X-API-Key", sec)
					} else {
						req, _ = http.NewRequest("POST", node+"/v1/verify", strings.NewReader(verifyBody))
						req.Header.Set("Authorization", "Bearer "+c.admin.Secret)
						req.Header.Set("Content-Type", "application/json")
					}
					s := sample{sent: time.Now(), node: node, endpoint: endpoint}
					resp, err := outageClient.Do(req)
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("%s %s: %w", endpoint, node, err))
						mu.Unlock()
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					s.status = resp.StatusCode
					var v struct{ Valid bool }
					if endpoint == "verify" && json.Unmarshal(b, &v) == nil {
						s.valid = v.Valid
					}
					mu.Lock()
					samples = append(samples, s)
					mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	return func() []sample {
		close(done)
		wg.Wait()
		for _, err := range errs {
			t.Error(err)
		}
		return samples
	}
}

// checkUnavailable checks a 503 in a surface's own format, with
// Retry-After.
func checkUnavailable(t *testing.T, what string, status int, body []byte, h http.Header, format string) {
	t.Helper()
	if status != http.StatusServiceUnavailable {
		t.Errorf("%s: status %d %s, want 503", what, status, body)
		return
	}
	if got := h.Get("Retry-After"); got != "1" {
		t.Errorf("%s: Retry-After %q, want 1", what, got)
	}
	var ok bool
	switch format {
	case "sunshine":
		var b struct {
			Errors []struct{ Code, Title string }
		}
		ok = json.Unmarshal(body, &b) == nil && len(b.Errors) == 1 && b.Errors[0].Code == "service_unavailable" && b.Errors[0].Title != ""
	case "rebilly":
		var b struct {
			Type, Title, Detail string
			Status              int
		}
		ok = json.Unmarshal(body, &b) == nil && b.Status == 503 && b.Title == "Service Unavailable" && b.Type != "" && b.Detail != ""
	case "native":
		var b struct {
			Error struct{ Code, Message string }
		}
		ok = json.Unmarshal(body, &b) == nil && b.Error.Code == "unavailable" && b.Error.Message != ""
	}
	if !ok {
		t.Errorf("%s: 503 body %s is not in the %s format", what, body, format)
	}
}

// checkManagementUnavailable sends a management call on each surface to
// each node, with the database down: each answers 503 in its own format.
func (c *outageCluster) checkManagementUnavailable(t *testing.T) {
	t.Helper()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.admin.ID+":"+c.admin.Secret))
	for _, node := range c.nodes() {
		status, body, h := send(t, "GET", node+"/v2/apps/"+c.appID, "", "Authorization", basic)
		checkUnavailable(t, "Sunshine GET /v2/apps/{appId} on "+node, status, body, h, "sunshine")
		status, body, h = send(t, "GET", node+"/api-keys", "", "REB-APIKEY", c.admin.Secret)
		checkUnavailable(t, "Rebilly GET /api-keys on "+node, status, body, h, "rebilly")
		status, body, h = c.native(t, node, "GET", "/v1/keys", "")
		checkUnavailable(t, "native GET /v1/keys on "+node, status, body, h, "native")
		status, body, h = c.native(t, node, "GET", "/v1/apps/"+c.appID, "")
		checkUnavailable(t, "native GET /v1/apps/{id} on "+node, status, body, h, "native")
	}
}

// keyNamed reports whether a key with this name exists, and if it does,
// checks that it is whole: readable, with its owner and permissions.
func (c *outageCluster) keyNamed(t *testing.T, name string) bool {
	t.Helper()
	status, body, _ := c.native(t, c.nodeA, "GET", "/v1/keys?limit=100", "")
	if status != http.StatusOK {
		t.Fatalf("list keys: %d %s", status, body)
	}
	var page struct {
		Data []struct {
			ID          string
			Name        string
			Permissions []string
			Owner       *struct{ Type, ID string }
		}
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	for _, k := range page.Data {
		if k.Name != name {
			continue
		}
		if k.Owner == nil || len(k.Permissions) != 1 || k.Permissions[0] != "orders.read" {
			t.Errorf("key %s (%s) is half-written: %+v", name, k.ID, k)
		}
		if status, body, _ := c.native(t, c.nodeA, "GET", "/v1/keys/"+k.ID, ""); status != http.StatusOK {
			t.Errorf("key %s (%s) is listed but cannot be read: %d %s", name, k.ID, status, body)
		}
		return true
	}
	return false
}

// TestPostgresOutage stops the real PostgreSQL under two nodes serving
// verify and authorize calls, then starts it again: within the staleness
// bound the nodes stop admitting even warm keys (503, never 200 past the
// bound, never 500), every surface answers management calls with 503 in
// its own format, /readyz says 503, and a write refused meanwhile left
// nothing behind; once PostgreSQL is back the nodes, never restarted,
// answer normally again, and a key revoked through one node is refused by
// the other.
func TestPostgresOutage(t *testing.T) {
	c := newOutageCluster(t)
	warmID, warm := c.newKey(t, "warm")
	revokedID, revoked := c.newKey(t, "to revoke")
	_, cold := c.newKey(t, "cold") // never verified: in no node's cache
	for _, node := range c.nodes() {
		for _, sec := range []string{warm, revoked} {
			if got := authorizeKey(t, node, sec); got != http.StatusOK {
				t.Fatalf("authorize on %s before the outage: %d", node, got)
			}
		}
	}
	stopLoad := c.load(t, warm)
	time.Sleep(100 * time.Millisecond) // some answers before the outage

	// The bound is counted from when Stop returns, once PostgreSQL has
	// exited: every read a node made of it began before then. (It stops
	// answering earlier, as soon as the shutdown begins, so the nodes
	// refuse before the bound counted so.)
	c.pg.Stop()
	stopped := time.Now()
	for _, node := range c.nodes() {
		took := waitFor(t, "warm key refused on "+node, func() bool {
			return authorizeKey(t, node, warm) == http.StatusServiceUnavailable
		})
		t.Logf("%s refused the warm key %v after Stop returned (bound %v)", node, took, outageBound)
	}
	// Past the bound, whatever else the load saw.
	time.Sleep(time.Until(stopped.Add(outageBound + outageMargin)))
	for _, node := range c.nodes() {
		if got := authorizeKey(t, node, warm); got != http.StatusServiceUnavailable {
			t.Errorf("warm key on %s past the bound with PostgreSQL down: %d, want 503", node, got)
		}
		if got := getStatus(t, node+"/readyz"); got != http.StatusServiceUnavailable {
			t.Errorf("%s/readyz with PostgreSQL down: %d, want 503", node, got)
		}
		if got := authorizeKey(t, node, cold); got != http.StatusServiceUnavailable {
			t.Errorf("cold key on %s with PostgreSQL down: %d, want 503", node, got)
		}
		status, body, h := c.native(t, node, "POST", "/v1/verify", `{"key":"`+warm+`"}`)
		checkUnavailable(t, "native POST /v1/verify on "+node, status, body, h, "native")
	}
	c.checkManagementUnavailable(t)
	// Writes refused during the outage: a create and a delete.
	status, body, h := c.native(t, c.nodeA, "POST", "/v1/keys", `{"name":"made in the outage","permissions":["orders.read"]}`)
	checkUnavailable(t, "native POST /v1/keys", status, body, h, "native")
	status, body, h = c.native(t, c.nodeB, "DELETE", "/v1/keys/"+warmID, "")
	checkUnavailable(t, "native DELETE /v1/keys/{id}", status, body, h, "native")
	// Let the load see some of the outage past the bound.
	time.Sleep(time.Until(stopped.Add(3 * outageBound)))

	// The outage ends when Start begins: PostgreSQL may answer before Start
	// returns.
	restarting := time.Now()
	c.pg.Start()
	for _, node := range c.nodes() {
		took := waitFor(t, node+" ready again", func() bool { return getStatus(t, node+"/readyz") == http.StatusOK })
		t.Logf("%s ready %v after PostgreSQL started again", node, took)
		waitFor(t, "warm key admitted again on "+node, func() bool { return authorizeKey(t, node, warm) == http.StatusOK })
		waitFor(t, "cold key admitted on "+node, func() bool { return authorizeKey(t, node, cold) == http.StatusOK })
	}
	samples := stopLoad()

	// The load: no 500 ever, and no 200 for a request sent past the bound
	// while PostgreSQL was down.
	var during, refused int
	for _, s := range samples {
		inOutage := !s.sent.Before(stopped.Add(outageBound+outageMargin)) && s.sent.Before(restarting)
		switch {
		case s.status != http.StatusOK && s.status != http.StatusServiceUnavailable:
			t.Errorf("%s on %s at %v: status %d, want 200 or 503", s.endpoint, s.node, s.sent.Sub(stopped), s.status)
		case s.status == http.StatusOK && s.endpoint == "verify" && !s.valid:
			t.Errorf("verify on %s at %v: 200 but not valid", s.node, s.sent.Sub(stopped))
		case inOutage && s.status == http.StatusOK:
			t.Errorf("%s on %s admitted the key %v after PostgreSQL stopped, past the %v bound", s.endpoint, s.node, s.sent.Sub(stopped), outageBound)
		}
		if inOutage {
			during++
			if s.status == http.StatusServiceUnavailable {
				refused++
			}
		}
	}
	t.Logf("load: %d answers, %d sent during the outage past the bound, %d of them 503", len(samples), during, refused)
	if during == 0 {
		t.Error("the load sent nothing during the outage")
	}

	// Nothing half-written: the create that got 503 made no key (or a
	// whole one), and the delete that got 503 deleted nothing.
	if c.keyNamed(t, "made in the outage") {
		t.Log("the create refused with 503 had committed: its key is whole")
	}
	for _, node := range c.nodes() {
		if got := authorizeKey(t, node, warm); got != http.StatusOK {
			t.Errorf("the key whose delete got 503: authorize on %s = %d, want 200", node, got)
		}
	}

	// A revocation through node A after the outage reaches node B, which
	// had the key cached from before it.
	if status, body, _ := c.native(t, c.nodeA, "DELETE", "/v1/keys/"+revokedID, ""); status != http.StatusNoContent {
		t.Fatalf("delete after the outage: %d %s", status, body)
	}
	took := waitFor(t, "node B refusing the key revoked on node A", func() bool {
		return authorizeKey(t, c.nodeB, revoked) == http.StatusUnauthorized
	})
	t.Logf("node B refused the key revoked on node A after %v", took)
	for _, node := range c.nodes() {
		status, body, _ := c.native(t, node, "GET", "/v1/keys/"+warmID, "")
		if status != http.StatusOK {
			t.Errorf("management on %s after the outage: %d %s", node, status, body)
		}
	}
}

// TestPostgresOutageServeStale: with --serve-stale, the keys each node had
// verified before PostgreSQL stopped go on verifying through the outage;
// keys it had not get 503, as do management calls, and /readyz says the
// node is not in step. Once PostgreSQL is back, a revocation reaches every
// node again.
func TestPostgresOutageServeStale(t *testing.T) {
	c := newOutageCluster(t, "--serve-stale")
	warmID, warm := c.newKey(t, "warm")
	_, cold := c.newKey(t, "cold")
	for _, node := range c.nodes() {
		if got := authorizeKey(t, node, warm); got != http.StatusOK {
			t.Fatalf("authorize on %s before the outage: %d", node, got)
		}
	}
	stopLoad := c.load(t, warm)
	time.Sleep(100 * time.Millisecond)

	c.pg.Stop()
	stopped := time.Now()
	for _, node := range c.nodes() {
		waitFor(t, node+" out of step", func() bool { return getStatus(t, node+"/readyz") == http.StatusServiceUnavailable })
	}
	// Well past the bound: a node that did not serve stale would refuse.
	time.Sleep(time.Until(stopped.Add(2 * outageBound)))
	for _, node := range c.nodes() {
		if got := authorizeKey(t, node, warm); got != http.StatusOK {
			t.Errorf("warm key on %s during the outage with --serve-stale: %d, want 200", node, got)
		}
		if got := authorizeKey(t, node, cold); got != http.StatusServiceUnavailable {
			t.Errorf("cold key on %s during the outage with --serve-stale: %d, want 503", node, got)
		}
	}
	c.checkManagementUnavailable(t)

	c.pg.Start()
	for _, node := range c.nodes() {
		waitFor(t, node+" ready again", func() bool { return getStatus(t, node+"/readyz") == http.StatusOK })
	}
	samples := stopLoad()
	var during int
	for _, s := range samples {
		if !s.sent.Before(stopped) {
			during++
		}
		if s.status != http.StatusOK || (s.endpoint == "verify" && !s.valid) {
			// The verify endpoint authenticates its caller, the admin
			// key, warm too; so every answer is 200 and valid.
			t.Errorf("%s on %s at %v: %d (valid %v), want 200 and valid throughout", s.endpoint, s.node, s.sent.Sub(stopped), s.status, s.valid)
		}
	}
	t.Logf("load: %d answers, %d sent once PostgreSQL was stopped", len(samples), during)

	// Serving stale ends with the outage: a revocation reaches both nodes.
	if status, body, _ := c.native(t, c.nodeA, "DELETE", "/v1/keys/"+warmID, ""); status != http.StatusNoContent {
		t.Fatalf("delete after the outage: %d %s", status, body)
	}
	for _, node := range c.nodes() {
		waitFor(t, node+" refusing the revoked key", func() bool { return authorizeKey(t, node, warm) == http.StatusUnauthorized })
	}
}

// --serve-stale is off by default, and set by its flag or by
// LATCHKEY_SERVE_STALE.
func TestServeStaleFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want bool
	}{
		{nil, nil, false},
		{[]string{"--serve-stale"}, nil, true},
		{nil, map[string]string{"LATCHKEY_SERVE_STALE": "true"}, true},
		{[]string{"--serve-stale=false"}, map[string]string{"LATCHKEY_SERVE_STALE": "true"}, false},
	} {
		cfg, err := parseConfig("serve", tc.args, env(tc.env), io.Discard)
		if err != nil {
			t.Fatalf("%v %v: %v", tc.args, tc.env, err)
		}
		if cfg.serveStale != tc.want {
			t.Errorf("%v %v: serveStale = %v, want %v", tc.args, tc.env, cfg.serveStale, tc.want)
		}
	}
	if _, err := parseConfig("serve", nil, env(map[string]string{"LATCHKEY_SERVE_STALE": "sometimes"}), io.Discard); err == nil {
		t.Error("LATCHKEY_SERVE_STALE=sometimes: no error")
	}
}
