package sdk_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/sdk"
)

// countingTransport counts the verify calls that reach Latchkey.
type countingTransport struct{ verifies atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/v1/verify") {
		c.verifies.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// verifier returns a client whose key may verify keys and nothing else,
// sending through rt if it is not nil.
func verifier(t *testing.T, rt http.RoundTripper) *sdk.Client {
	t.Helper()
	k := newKey(t, sdk.CreateKeyRequest{Name: "verifier " + t.Name(), Permissions: []string{"VerifyKey"}})
	var opts []sdk.Option
	if rt != nil {
		opts = append(opts, sdk.WithHTTPClient(&http.Client{Transport: rt, Timeout: 10 * time.Second}))
	}
	return sdk.New(latchkeyURL, k.Secret.Reveal(), opts...)
}

// api is your API behind the middleware: it answers the verdict it finds
// in the request's context.
type api struct {
	*httptest.Server
	reached atomic.Int64
}

func newAPI(t *testing.T, client *sdk.Client, opts sdk.MiddlewareOptions) *api {
	t.Helper()
	a := &api{}
	a.Server = httptest.NewServer(sdk.Middleware(client, opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.reached.Add(1)
		v, ok := sdk.FromContext(r.Context())
		if !ok {
			http.Error(w, "no verdict in the context", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(v)
	})))
	t.Cleanup(a.Close)
	return a
}

// answer is what the API answered.
type answer struct {
	status  int
	header  http.Header
	verdict sdk.VerifyResult // on 200
	refusal struct {         // otherwise
		Error struct{ Code, Message, Reason string }
	}
}

// call sends GET path with a credential set by auth (nil: none).
func (a *api) call(t *testing.T, path string, auth func(h http.Header)) answer {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", a.URL+path, nil)
	if auth != nil {
		auth(req.Header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := answer{status: resp.StatusCode, header: resp.Header}
	var into any = &out.refusal
	if resp.StatusCode == http.StatusOK {
		into = &out.verdict
	} else if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("a refusal as %q", ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("%d answer: %v", resp.StatusCode, err)
	}
	return out
}

func bearer(secret string) func(http.Header) {
	return func(h http.Header) { h.Set("Authorization", "Bearer "+secret) }
}

func TestMiddlewareAdmits(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	k := newKey(t, sdk.CreateKeyRequest{
		Name: "Customer 42", Owner: &sdk.Owner{Type: sdk.OwnerApp, ID: app.ID},
		Permissions: []string{"orders.read"}, Metadata: map[string]any{"crm": "c_42"},
	})
	a := newAPI(t, verifier(t, nil), sdk.MiddlewareOptions{Apps: []string{app.ID}, Permissions: []string{"orders.read"}})
	secret := k.Secret.Reveal()
	for name, auth := range map[string]func(http.Header){
		"bearer": bearer(secret),
		"basic": func(h http.Header) {
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(k.ID+":"+secret)))
		},
		"x-api-key":  func(h http.Header) { h.Set("X-API-Key", secret) },
		"reb-apikey": func(h http.Header) { h.Set("REB-APIKEY", secret); h.Set("Authorization", "Bearer nonsense") },
	} {
		got := a.call(t, "/orders", auth)
		if got.status != http.StatusOK {
			t.Fatalf("%s: %d %+v", name, got.status, got.refusal)
		}
		v := got.verdict
		if !v.Valid || v.Code != sdk.CodeValid || v.KeyID != k.ID || v.Name != "Customer 42" ||
			v.Owner == nil || v.Owner.ID != app.ID || !slices.Equal(v.Permissions, []string{"orders.read"}) || v.Metadata["crm"] != "c_42" {
			t.Fatalf("%s: the handler saw %+v", name, v)
		}
	}
}

func TestMiddlewareRefuses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	app := newApp(t)
	owner := &sdk.Owner{Type: sdk.OwnerApp, ID: app.ID}
	tr := &countingTransport{}
	a := newAPI(t, verifier(t, tr), sdk.MiddlewareOptions{Apps: []string{app.ID}, Permissions: []string{"orders.read"}})

	good := newKey(t, sdk.CreateKeyRequest{Owner: owner, Permissions: []string{"orders.read"}})
	expired := newKey(t, sdk.CreateKeyRequest{Owner: owner, Permissions: []string{"orders.read"}})
	if _, err := admin().UpdateKey(ctx, expired.ID, sdk.UpdateKeyRequest{ExpiresAt: new(time.Now().Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	disabled := newKey(t, sdk.CreateKeyRequest{Owner: owner, Permissions: []string{"orders.read"}})
	if _, err := admin().UpdateKey(ctx, disabled.ID, sdk.UpdateKeyRequest{Enabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	weak := newKey(t, sdk.CreateKeyRequest{Owner: owner, Permissions: []string{"orders.list"}})
	elsewhere := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"orders.read"}}) // not the app's
	fenced := newKey(t, sdk.CreateKeyRequest{Owner: owner, Permissions: []string{"orders.read"}, AllowedIPs: []string{"203.0.113.0/24"}})

	invalidToken := `Bearer realm="api", error="invalid_token"`
	for _, tc := range []struct {
		name         string
		auth         func(http.Header)
		status       int
		code, reason string
		authenticate string
		asksLatchkey bool
	}{
		{"no credential", nil, 401, "unauthorized", "", `Bearer realm="api"`, false},
		{"basic without a colon", func(h http.Header) { h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("x"))) },
			401, "unauthorized", "", `Bearer realm="api"`, false},
		{"too long", bearer(strings.Repeat("a", 10_000)), 401, "unauthorized", "NOT_FOUND", invalidToken, false},
		{"unknown", bearer("sk_live_" + strings.Repeat("A", 49)), 401, "unauthorized", "NOT_FOUND", invalidToken, true},
		{"expired", bearer(expired.Secret.Reveal()), 401, "unauthorized", "EXPIRED", invalidToken, true},
		{"disabled", bearer(disabled.Secret.Reveal()), 401, "unauthorized", "DISABLED", invalidToken, true},
		{"another app's", bearer(elsewhere.Secret.Reveal()), 401, "unauthorized", "NOT_FOUND", invalidToken, true},
		{"missing permission", bearer(weak.Secret.Reveal()), 403, "forbidden", "INSUFFICIENT_PERMISSIONS", "", true},
		{"address not allowed", bearer(fenced.Secret.Reveal()), 403, "forbidden", "IP_NOT_ALLOWED", "", true},
	} {
		before, reached := tr.verifies.Load(), a.reached.Load()
		got := a.call(t, "/orders", tc.auth)
		if got.status != tc.status || got.refusal.Error.Code != tc.code || got.refusal.Error.Reason != tc.reason || got.refusal.Error.Message == "" {
			t.Errorf("%s: %d %+v, want %d %s %s", tc.name, got.status, got.refusal, tc.status, tc.code, tc.reason)
		}
		if h := got.header.Get("WWW-Authenticate"); h != tc.authenticate {
			t.Errorf("%s: WWW-Authenticate %q, want %q", tc.name, h, tc.authenticate)
		}
		if asked := tr.verifies.Load() > before; asked != tc.asksLatchkey {
			t.Errorf("%s: asked Latchkey: %v", tc.name, asked)
		}
		if a.reached.Load() != reached {
			t.Errorf("%s: a refused request reached the handler", tc.name)
		}
	}
	if got := a.call(t, "/orders", bearer(good.Secret.Reveal())); got.status != http.StatusOK {
		t.Fatalf("the good key: %d %+v", got.status, got.refusal)
	}

	// A realm of your own.
	b := newAPI(t, verifier(t, nil), sdk.MiddlewareOptions{Realm: "orders"})
	if got := b.call(t, "/", nil); got.header.Get("WWW-Authenticate") != `Bearer realm="orders"` {
		t.Fatalf("realm: %q", got.header.Get("WWW-Authenticate"))
	}
}

func TestMiddlewarePermissionsPerRoute(t *testing.T) {
	t.Parallel()
	a := newAPI(t, verifier(t, nil), sdk.MiddlewareOptions{
		Permissions: []string{"ignored.when.func.is.set"},
		PermissionsFunc: func(r *http.Request) []string {
			if r.Method == http.MethodGet && r.URL.Path == "/orders" {
				return []string{"orders.read"}
			}
			return []string{"orders.write"}
		},
	})
	k := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"orders.read"}})
	if got := a.call(t, "/orders", bearer(k.Secret.Reveal())); got.status != http.StatusOK {
		t.Fatalf("/orders: %d %+v", got.status, got.refusal)
	}
	if got := a.call(t, "/orders/cancel", bearer(k.Secret.Reveal())); got.status != http.StatusForbidden ||
		got.refusal.Error.Reason != "INSUFFICIENT_PERMISSIONS" {
		t.Fatalf("/orders/cancel: %d %+v", got.status, got.refusal)
	}
}

func TestMiddlewareClientIP(t *testing.T) {
	t.Parallel()
	k := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"x"}, AllowedIPs: []string{"203.0.113.0/24"}})
	v := verifier(t, nil)

	// By default the address is the connection's peer: here 127.0.0.1.
	if got := newAPI(t, v, sdk.MiddlewareOptions{}).call(t, "/", bearer(k.Secret.Reveal())); got.refusal.Error.Reason != "IP_NOT_ALLOWED" {
		t.Fatalf("from 127.0.0.1: %d %+v", got.status, got.refusal)
	}
	// Behind a proxy, the application says where the address is.
	proxied := newAPI(t, v, sdk.MiddlewareOptions{ClientIP: func(r *http.Request) string { return r.Header.Get("X-Test-Client") }})
	for ip, want := range map[string]int{
		"203.0.113.5":        http.StatusOK,
		"::ffff:203.0.113.5": http.StatusOK, // IPv4-mapped IPv6 is the IPv4 address
		"198.51.100.5":       http.StatusForbidden,
		"not an address":     http.StatusForbidden, // unknown: refused, never an error
		"":                   http.StatusForbidden,
	} {
		got := proxied.call(t, "/", func(h http.Header) {
			h.Set("Authorization", "Bearer "+k.Secret.Reveal())
			h.Set("X-Test-Client", ip)
		})
		if got.status != want {
			t.Errorf("from %q: %d %+v, want %d", ip, got.status, got.refusal, want)
		}
	}
}

func TestMiddlewareRateLimited(t *testing.T) {
	t.Parallel()
	k := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"x"}, RateLimit: &sdk.RateLimit{Limit: 1, Period: time.Hour}})
	a := newAPI(t, verifier(t, nil), sdk.MiddlewareOptions{})
	if got := a.call(t, "/", bearer(k.Secret.Reveal())); got.status != http.StatusOK {
		t.Fatalf("first: %d %+v", got.status, got.refusal)
	}
	got := a.call(t, "/", bearer(k.Secret.Reveal()))
	if got.status != http.StatusTooManyRequests || got.refusal.Error.Code != "rate_limited" || got.refusal.Error.Reason != "RATE_LIMITED" {
		t.Fatalf("second: %d %+v", got.status, got.refusal)
	}
	retry, err := strconv.Atoi(got.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 3700 {
		t.Fatalf("Retry-After %q", got.header.Get("Retry-After"))
	}
	if got.header.Get("RateLimit-Limit") != "1" || got.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("RateLimit headers: %v", got.header)
	}
	if a.reached.Load() != 1 {
		t.Fatalf("the handler was reached %d times", a.reached.Load())
	}
}

func TestMiddlewareFailsClosed(t *testing.T) {
	t.Parallel()
	k := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"x"}})
	secret := k.Secret.Reveal()

	var mu sync.Mutex
	var errs []error
	onError := func(r *http.Request, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	lastErr := func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(errs) == 0 {
			return nil
		}
		return errs[len(errs)-1]
	}

	// Latchkey not there: nothing listens where the client points.
	down := newAPI(t, sdk.New(closedURL(t), secret), sdk.MiddlewareOptions{OnError: onError})
	got := down.call(t, "/", bearer(secret))
	if got.status != http.StatusServiceUnavailable || got.refusal.Error.Code != "unavailable" || down.reached.Load() != 0 {
		t.Fatalf("Latchkey down: %d %+v", got.status, got.refusal)
	}
	if err := lastErr(); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("OnError got %v", err)
	}

	// The middleware's own key may not verify: no verdict either.
	noVerify := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"ListKeys"}})
	refused := newAPI(t, sdk.New(latchkeyURL, noVerify.Secret.Reveal()), sdk.MiddlewareOptions{OnError: onError})
	got = refused.call(t, "/", bearer(secret))
	if got.status != http.StatusServiceUnavailable || refused.reached.Load() != 0 {
		t.Fatalf("a verifier without VerifyKey: %d %+v", got.status, got.refusal)
	}
	if err := lastErr(); !sdk.IsForbidden(err) {
		t.Fatalf("OnError got %v, want a 403", err)
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestMiddlewareCache(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tr := &countingTransport{}
	clock := newFakeClock()
	cache := &sdk.CacheOptions{TTL: 30 * time.Second}
	sdk.SetCacheClock(cache, clock.now)
	a := newAPI(t, verifier(t, tr), sdk.MiddlewareOptions{
		Cache: cache,
		PermissionsFunc: func(r *http.Request) []string {
			return []string{"orders." + strings.TrimPrefix(r.URL.Path, "/")}
		},
	})
	k := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"orders.*"}})
	auth := bearer(k.Secret.Reveal())
	expect := func(step string, path string, status int, verifies int64) {
		t.Helper()
		got := a.call(t, path, auth)
		if got.status != status {
			t.Fatalf("%s: %d %+v, want %d", step, got.status, got.refusal, status)
		}
		if status == http.StatusOK && got.verdict.KeyID != k.ID {
			t.Fatalf("%s: the handler saw %+v", step, got.verdict)
		}
		if n := tr.verifies.Load(); n != verifies {
			t.Fatalf("%s: %d verify calls reached Latchkey, want %d", step, n, verifies)
		}
	}

	expect("first request", "/read", 200, 1)
	expect("the same request again: from the cache", "/read", 200, 1)
	clock.advance(29 * time.Second)
	expect("just within the TTL", "/read", 200, 1)
	expect("other permissions: another entry", "/write", 200, 2)
	expect("and again: from the cache", "/write", 200, 2)

	// The documented trade-off: a disabled key keeps working here until
	// its entry expires.
	if _, err := admin().UpdateKey(ctx, k.ID, sdk.UpdateKeyRequest{Enabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	expect("disabled, but cached", "/read", 200, 2)
	clock.advance(2 * time.Second)
	expect("the TTL is over: asked again", "/read", 401, 3)
	expect("refusals are never cached", "/read", 401, 4)
	if a.reached.Load() != 6 {
		t.Fatalf("the handler was reached %d times, want 6", a.reached.Load())
	}
}

func TestMiddlewareCacheBounds(t *testing.T) {
	t.Parallel()
	tr := &countingTransport{}
	v := verifier(t, tr)

	// A TTL over the maximum is the maximum.
	clock := newFakeClock()
	long := &sdk.CacheOptions{TTL: time.Hour}
	sdk.SetCacheClock(long, clock.now)
	a := newAPI(t, v, sdk.MiddlewareOptions{Cache: long})
	k := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"x"}})
	for _, step := range []struct {
		advance time.Duration
		calls   int64
	}{{0, 1}, {sdk.MaxCacheTTL - time.Second, 1}, {time.Second, 2}} {
		clock.advance(step.advance)
		if got := a.call(t, "/", bearer(k.Secret.Reveal())); got.status != 200 || tr.verifies.Load() != step.calls {
			t.Fatalf("after %v: %d, %d calls, want %d", step.advance, got.status, tr.verifies.Load(), step.calls)
		}
	}

	// An entry never outlives the key's own expiry.
	tr.verifies.Store(0)
	clock2 := newFakeClock()
	opts := &sdk.CacheOptions{TTL: sdk.MaxCacheTTL}
	sdk.SetCacheClock(opts, clock2.now)
	b := newAPI(t, v, sdk.MiddlewareOptions{Cache: opts})
	soon := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"x"}, ExpiresAt: new(time.Now().Add(30 * time.Second))})
	b.call(t, "/", bearer(soon.Secret.Reveal()))
	b.call(t, "/", bearer(soon.Secret.Reveal()))
	if n := tr.verifies.Load(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
	clock2.advance(31 * time.Second) // past the key's expiry, within the TTL
	b.call(t, "/", bearer(soon.Secret.Reveal()))
	if n := tr.verifies.Load(); n != 2 {
		t.Fatalf("an entry outlived its key's expiry: %d calls, want 2", n)
	}

	// A TTL of 0 is no cache.
	tr.verifies.Store(0)
	off := newAPI(t, v, sdk.MiddlewareOptions{Cache: &sdk.CacheOptions{}})
	for range 3 {
		off.call(t, "/", bearer(k.Secret.Reveal()))
	}
	if n := tr.verifies.Load(); n != 3 {
		t.Fatalf("without a TTL: %d calls, want 3", n)
	}
}

func TestCredentialFromRequest(t *testing.T) {
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		headers map[string]string
		want    string
	}{
		{map[string]string{}, ""},
		{map[string]string{"Authorization": "Bearer sk_1"}, "sk_1"},
		{map[string]string{"Authorization": "bearer   sk_1 "}, "sk_1"},
		{map[string]string{"Authorization": basic("key_1:sk_1")}, "key_1:sk_1"},
		{map[string]string{"Authorization": basic("no colon")}, ""},
		{map[string]string{"Authorization": "Basic !!!"}, ""},
		{map[string]string{"Authorization": "pk_live_1"}, "pk_live_1"},
		{map[string]string{"Authorization": "Digest x"}, ""},
		{map[string]string{"X-API-Key": "sk_2", "Authorization": "Bearer sk_1"}, "sk_2"},
		// Both API-key headers: ambiguous, refused as Latchkey refuses it.
		{map[string]string{"REB-APIKEY": "sk_3", "X-API-Key": "sk_2"}, ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if got := sdk.CredentialFromRequest(r); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.headers, got, tc.want)
		}
	}
}

func TestContext(t *testing.T) {
	if _, ok := sdk.FromContext(t.Context()); ok {
		t.Fatal("a verdict outside the middleware")
	}
	want := &sdk.VerifyResult{Valid: true, Code: sdk.CodeValid, KeyID: "key_1"}
	if got, ok := sdk.FromContext(sdk.NewContext(t.Context(), want)); !ok || got != want {
		t.Fatal("NewContext and FromContext disagree")
	}
}
