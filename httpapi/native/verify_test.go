package native_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/httpapi/web"
)

// verdict is the answer of POST /v1/verify as a client reads it.
type verdict struct {
	Valid       bool                       `json:"valid"`
	Code        string                     `json:"code"`
	KeyID       string                     `json:"keyId"`
	Owner       *struct{ Type, ID string } `json:"owner"`
	Name        string                     `json:"name"`
	Permissions []string                   `json:"permissions"`
	Metadata    map[string]any             `json:"metadata"`
	ExpiresAt   *string                    `json:"expiresAt"`
	RateLimit   *struct {
		Limit, Remaining int
		Reset            string
	} `json:"rateLimit"`
}

// verify asks POST /v1/verify with the caller's secret.
func (s *stack) verify(t *testing.T, caller, body string) verdict {
	t.Helper()
	resp, got := s.call(t, "POST", "/v1/verify", caller, body)
	wantStatus(t, resp, got, http.StatusOK)
	return decode[verdict](t, got)
}

func wantCode(t *testing.T, what string, v verdict, code latchkey.Code) {
	t.Helper()
	if v.Code != string(code) || v.Valid != (code == latchkey.CodeValid) {
		t.Errorf("%s: valid=%v code=%s, want %s", what, v.Valid, v.Code, code)
	}
	if code == latchkey.CodeNotFound && (v.KeyID != "" || v.Owner != nil || v.Name != "" || v.Metadata != nil) {
		t.Errorf("%s: NOT_FOUND tells about the key: %+v", what, v)
	}
}

func TestVerifyCodes(t *testing.T) {
	s := newStackWithConfig(t, webConfigAllowingPrivate())
	appA, appB := s.createApp(t, "A"), s.createApp(t, "B")
	k := s.createKey(t, s.admin, `{"name":"customer","owner":{"type":"app","id":"`+appA+`"},"prefix":"acme",
		"permissions":["orders.*"],"metadata":{"plan":"gold"}}`)
	body := func(key string, extra string) string { return `{"key":"` + key + `"` + extra + `}` }

	v := s.verify(t, s.admin, body(k.Secret, `,"apps":["`+appA+`"],"permissions":["orders.read","orders.items.write"]`))
	wantCode(t, "valid", v, latchkey.CodeValid)
	if v.KeyID != k.ID || v.Owner == nil || v.Owner.Type != "app" || v.Owner.ID != appA || v.Name != "customer" ||
		v.Metadata["plan"] != "gold" || fmt.Sprint(v.Permissions) != "[orders.*]" {
		t.Errorf("valid verdict = %+v", v)
	}
	// Every credential form.
	basic := k.ID + ":" + k.Secret
	wantCode(t, "keyId:secret", s.verify(t, s.admin, body(basic, "")), latchkey.CodeValid)
	wantCode(t, "keyId:wrong", s.verify(t, s.admin, body(k.ID+":sk_live_"+strings.Repeat("A", 49), "")), latchkey.CodeNotFound)

	wantCode(t, "unknown secret", s.verify(t, s.admin, body("acme_sk_live_"+strings.Repeat("x", 49), "")), latchkey.CodeNotFound)
	wantCode(t, "garbage", s.verify(t, s.admin, body("nonsense", "")), latchkey.CodeNotFound)
	wantCode(t, "another app's key", s.verify(t, s.admin, body(k.Secret, `,"apps":["`+appB+`"]`)), latchkey.CodeNotFound)
	wantCode(t, "missing permission", s.verify(t, s.admin, body(k.Secret, `,"permissions":["billing.read"]`)), latchkey.CodeInsufficientPermissions)
	wantCode(t, "bare prefix", s.verify(t, s.admin, body(k.Secret, `,"permissions":["orders"]`)), latchkey.CodeInsufficientPermissions)

	// Addresses: a key with allowedIps needs the ip, and the right one.
	fenced := s.createKey(t, s.admin, `{"name":"fenced","permissions":["orders.read"],"allowedIps":["203.0.113.0/24"]}`)
	wantCode(t, "allowed ip", s.verify(t, s.admin, body(fenced.Secret, `,"ip":"203.0.113.9"`)), latchkey.CodeValid)
	wantCode(t, "other ip", s.verify(t, s.admin, body(fenced.Secret, `,"ip":"198.51.100.1"`)), latchkey.CodeIPNotAllowed)
	wantCode(t, "no ip given", s.verify(t, s.admin, body(fenced.Secret, "")), latchkey.CodeIPNotAllowed)

	// Disabled, then expired: reported once the secret proves the key.
	resp, got := s.call(t, "PATCH", "/v1/keys/"+k.ID, s.admin, `{"enabled":false}`)
	wantStatus(t, resp, got, http.StatusOK)
	wantCode(t, "disabled", s.verify(t, s.admin, body(k.Secret, "")), latchkey.CodeDisabled)
	resp, got = s.call(t, "PATCH", "/v1/keys/"+k.ID, s.admin, `{"enabled":true,"expiresAt":"2001-01-01T00:00:00Z"}`)
	wantStatus(t, resp, got, http.StatusOK)
	wantCode(t, "expired", s.verify(t, s.admin, body(k.Secret, "")), latchkey.CodeExpired)
	// NOT_FOUND first: an expired key outside apps tells nothing.
	wantCode(t, "expired, other app", s.verify(t, s.admin, body(k.Secret, `,"apps":["`+appB+`"]`)), latchkey.CodeNotFound)

	// Deleted: at once.
	resp, got = s.call(t, "DELETE", "/v1/keys/"+fenced.ID, s.admin, "")
	wantStatus(t, resp, got, http.StatusNoContent)
	wantCode(t, "deleted", s.verify(t, s.admin, body(fenced.Secret, `,"ip":"203.0.113.9"`)), latchkey.CodeNotFound)
}

func TestVerifyRateLimit(t *testing.T) {
	s := newStack(t)
	k := s.createKey(t, s.admin, `{"name":"limited","permissions":["orders.read"],"rateLimit":{"limit":3,"period":"1h"}}`)
	req := `{"key":"` + k.Secret + `","cost":2}`
	v := s.verify(t, s.admin, req)
	wantCode(t, "first, cost 2", v, latchkey.CodeValid)
	if v.RateLimit == nil || v.RateLimit.Limit != 3 || v.RateLimit.Remaining != 1 {
		t.Fatalf("rateLimit after cost 2 of 3 = %+v", v.RateLimit)
	}
	if reset, err := time.Parse(time.RFC3339, v.RateLimit.Reset); err != nil || !reset.After(time.Now()) {
		t.Errorf("reset = %q", v.RateLimit.Reset)
	}
	wantCode(t, "second, cost 2", s.verify(t, s.admin, req), latchkey.CodeRateLimited)
	wantCode(t, "cost 1 still fits", s.verify(t, s.admin, `{"key":"`+k.Secret+`"}`), latchkey.CodeValid)
	wantCode(t, "then nothing", s.verify(t, s.admin, `{"key":"`+k.Secret+`"}`), latchkey.CodeRateLimited)
	// A refused check (a missing permission) takes nothing.
	other := s.createKey(t, s.admin, `{"name":"l2","permissions":["orders.read"],"rateLimit":{"limit":1,"period":"1h"}}`)
	wantCode(t, "refused", s.verify(t, s.admin, `{"key":"`+other.Secret+`","permissions":["x"]}`), latchkey.CodeInsufficientPermissions)
	wantCode(t, "after a refusal", s.verify(t, s.admin, `{"key":"`+other.Secret+`"}`), latchkey.CodeValid)
}

func TestVerifyCaller(t *testing.T) {
	s := newStack(t)
	appA, appB := s.createApp(t, "A"), s.createApp(t, "B")
	target := s.createKey(t, s.admin, `{"name":"t","owner":{"type":"app","id":"`+appA+`"},"permissions":["orders.read"]}`)
	body := `{"key":"` + target.Secret + `"}`

	// A key without VerifyKey may not verify.
	plain := s.createKey(t, s.admin, `{"name":"p","permissions":["orders.read"]}`)
	resp, got := s.call(t, "POST", "/v1/verify", plain.Secret, body)
	wantError(t, resp, got, http.StatusForbidden, "forbidden")
	// One with it may, within its own reach: an app key sees its app only.
	verifierA := s.createKey(t, s.admin, `{"name":"vA","owner":{"type":"app","id":"`+appA+`"},"permissions":["VerifyKey"]}`)
	verifierB := s.createKey(t, s.admin, `{"name":"vB","owner":{"type":"app","id":"`+appB+`"},"permissions":["VerifyKey"]}`)
	wantCode(t, "app A's verifier", s.verify(t, verifierA.Secret, body), latchkey.CodeValid)
	wantCode(t, "app B's verifier", s.verify(t, verifierB.Secret, body), latchkey.CodeNotFound)
	// Another account sees nothing, not even that the key exists.
	_, otherKey, err := s.Svc.Bootstrap(t.Context(), "other")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "another account", s.verify(t, otherKey.Secrets[0].Plain, body), latchkey.CodeNotFound)
	// No credential at all: 401 in this surface's format.
	resp, got = s.call(t, "POST", "/v1/verify", "", body)
	wantError(t, resp, got, http.StatusUnauthorized, "unauthorized")
}

func TestVerifyBadInput(t *testing.T) {
	s := newStack(t)
	before := s.Snapshot(t)
	for _, tt := range []struct{ body, field string }{
		{`{}`, "key"},
		{`{"key":5}`, "key"},
		{`{"key":"x","apps":"a"}`, "apps"},
		{`{"key":"x","apps":[` + strings.Repeat(`"a",`, 100) + `"a"]}`, "apps"},
		{`{"key":"x","permissions":["bad perm"]}`, "permissions.0"},
		{`{"key":"x","ip":"not-an-ip"}`, "ip"},
		{`{"key":"x","cost":-1}`, "cost"},
		{`{"key":"x","cost":0}`, "cost"},
		{`{"key":"x","cost":1.5}`, "cost"},
		{`{"key":"x","scope":{"productId":5}}`, "scope"},
		{`{"key":"x","nope":1}`, "nope"},
	} {
		resp, got := s.call(t, "POST", "/v1/verify", s.admin, tt.body)
		wantError(t, resp, got, http.StatusBadRequest, "invalid_request", tt.field)
	}
	wantUnchanged(t, s, before)
}

// TestVerifyScopes: an entry scoped by product grants only when the request
// names that product.
func TestVerifyScopes(t *testing.T) {
	s := newStack(t)
	k := s.createKey(t, s.admin, `{"name":"scoped","acl":[{"scope":{"productId":["p1"]},"permissions":["orders.read"]}]}`)
	req := func(scope string) string {
		return `{"key":"` + k.Secret + `","permissions":["orders.read"]` + scope + `}`
	}
	wantCode(t, "no product named", s.verify(t, s.admin, req("")), latchkey.CodeInsufficientPermissions)
	wantCode(t, "p1", s.verify(t, s.admin, req(`,"scope":{"productId":"p1"}`)), latchkey.CodeValid)
	wantCode(t, "p2", s.verify(t, s.admin, req(`,"scope":{"productId":"p2"}`)), latchkey.CodeInsufficientPermissions)
}

// authorize sends a gateway's request to /v1/authorize.
func (s *stack) authorize(t *testing.T, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	return s.Do(t, "GET", path, "", "", headers...)
}

// wantGate checks an authorize answer's status and body: none on a 200 or
// for nginx, else the native error body.
func wantGate(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status = %d, want %d; body %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, status, body)
	}
	if status == http.StatusOK || strings.Contains(resp.Request.URL.RawQuery, "gateway=nginx") && resp.Request.URL.Path == "/v1/authorize" {
		if len(body) != 0 {
			t.Fatalf("%s: %d with a body: %s", resp.Request.URL, status, body)
		}
		return
	}
	want := map[int]string{401: "unauthorized", 403: "forbidden", 429: "rate_limited"}[status]
	wantError(t, resp, body, status, want)
}

func TestAuthorize(t *testing.T) {
	trusted := web.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, AllowPrivateIPs: true}
	s := newStackWithConfig(t, trusted)
	appA, appB := s.createApp(t, "A"), s.createApp(t, "B")
	k := s.createKey(t, s.admin, `{"name":"customer","owner":{"type":"app","id":"`+appA+`"},"permissions":["orders.*"],
		"metadata":{"plan":"gold","city":"Zürich"}}`)
	bearer := "Bearer " + k.Secret

	resp, body := s.authorize(t, "/v1/authorize?permission=orders.read&app="+appA, "Authorization", bearer)
	wantGate(t, resp, body, http.StatusOK)
	h := resp.Header
	if h.Get("X-Latchkey-Key-Id") != k.ID || h.Get("X-Latchkey-Owner") != "app:"+appA || h.Get("X-Latchkey-Permissions") != "orders.*" ||
		h.Get("X-Latchkey-Metadata") != `{"city":"Z\u00fcrich","plan":"gold"}` || h.Get("X-Latchkey-Code") != "VALID" {
		t.Errorf("identity headers = %v", h)
	}
	// Any method and any path below the prefix, as Envoy sends them, and
	// every credential form.
	for _, form := range [][]string{
		{"Authorization", bearer},
		{"X-API-Key", k.Secret},
		{"REB-APIKEY", k.Secret},
		{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(k.ID+":"+k.Secret))},
	} {
		resp, body := s.Do(t, "DELETE", "/v1/authorize/orders/17?x=1", "", "", form...)
		wantGate(t, resp, body, http.StatusOK)
	}

	for _, tt := range []struct {
		name, path string
		headers    []string
		status     int
		code       string
	}{
		{"no key", "/v1/authorize", nil, 401, "NOT_FOUND"},
		{"unknown key", "/v1/authorize", []string{"Authorization", "Bearer sk_live_" + strings.Repeat("B", 49)}, 401, "NOT_FOUND"},
		{"other app", "/v1/authorize?app=" + appB, []string{"Authorization", bearer}, 401, "NOT_FOUND"},
		{"missing permission", "/v1/authorize?permission=billing.read", []string{"Authorization", bearer}, 403, "INSUFFICIENT_PERMISSIONS"},
		{"empty parameters are none", "/v1/authorize?permission=&app=", []string{"Authorization", bearer}, 200, "VALID"},
	} {
		resp, body := s.authorize(t, tt.path, tt.headers...)
		wantGate(t, resp, body, tt.status)
		if got := resp.Header.Get("X-Latchkey-Code"); got != tt.code {
			t.Errorf("%s: X-Latchkey-Code = %q, want %s", tt.name, got, tt.code)
		}
		if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: 401 without WWW-Authenticate", tt.name)
		}
		if tt.status != 200 && resp.Header.Get("X-Latchkey-Key-Id") != "" {
			t.Errorf("%s: identity headers on a refusal", tt.name)
		}
	}

	// The client address comes from the trusted proxy's X-Forwarded-For.
	fenced := s.createKey(t, s.admin, `{"name":"fenced","permissions":["orders.read"],"allowedIps":["203.0.113.7"]}`)
	resp, body = s.authorize(t, "/v1/authorize", "X-API-Key", fenced.Secret, "X-Forwarded-For", "203.0.113.7")
	wantGate(t, resp, body, http.StatusOK)
	resp, body = s.authorize(t, "/v1/authorize", "X-API-Key", fenced.Secret, "X-Forwarded-For", "198.51.100.7")
	wantGate(t, resp, body, http.StatusForbidden)
	if resp.Header.Get("X-Latchkey-Code") != "IP_NOT_ALLOWED" {
		t.Errorf("code = %q", resp.Header.Get("X-Latchkey-Code"))
	}
}

func TestAuthorizeRateLimited(t *testing.T) {
	s := newStack(t)
	k := s.createKey(t, s.admin, `{"name":"limited","rateLimit":{"limit":1,"period":"1h"}}`)
	resp, body := s.authorize(t, "/v1/authorize", "X-API-Key", k.Secret)
	wantGate(t, resp, body, http.StatusOK)
	if resp.Header.Get("RateLimit-Limit") != "1" || resp.Header.Get("RateLimit-Remaining") != "0" || resp.Header.Get("RateLimit-Reset") == "" {
		t.Errorf("RateLimit headers = %v", resp.Header)
	}
	resp, body = s.authorize(t, "/v1/authorize", "X-API-Key", k.Secret)
	wantGate(t, resp, body, http.StatusTooManyRequests)
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("429 Retry-After = %q", ra)
	}
	// nginx's auth_request passes only 2xx, 401 and 403: the nginx form of
	// a rate-limited answer is a 403 that says why.
	resp, body = s.authorize(t, "/v1/authorize?gateway=nginx", "X-API-Key", k.Secret)
	wantGate(t, resp, body, http.StatusForbidden)
	if resp.Header.Get("X-Latchkey-Code") != "RATE_LIMITED" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("nginx form: %v", resp.Header)
	}
}

// TestUsageCounted: verifications are counted by outcome and show in the
// key's usage and lastUsedAt once flushed.
func TestUsageCounted(t *testing.T) {
	s := newStack(t)
	k := s.createKey(t, s.admin, `{"name":"counted","permissions":["orders.read"]}`)
	for range 3 {
		s.verify(t, s.admin, `{"key":"`+k.Secret+`"}`)
	}
	s.verify(t, s.admin, `{"key":"`+k.Secret+`","permissions":["x"]}`)
	if err := s.Usage.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	resp, body := s.call(t, "GET", "/v1/keys/"+k.ID+"/usage?granularity=minute", s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	u := decode[struct {
		Buckets []struct {
			Counts map[string]int64 `json:"counts"`
		} `json:"buckets"`
	}](t, body)
	var valid, refused int64
	for _, b := range u.Buckets {
		valid += b.Counts["VALID"]
		refused += b.Counts["INSUFFICIENT_PERMISSIONS"]
	}
	if valid != 3 || refused != 1 {
		t.Errorf("usage = %s; want 3 VALID and 1 INSUFFICIENT_PERMISSIONS", body)
	}
	if got := s.getKey(t, k.ID); string(got.LastUsedAt) == "null" {
		t.Error("lastUsedAt still null after a flushed VALID verification")
	}
}

// TestAuthorizeBelowPrefix: below /v1/authorize the path and query are the
// client's own (Envoy appends them), so they change nothing; what to check
// comes from headers the gateway adds.
func TestAuthorizeBelowPrefix(t *testing.T) {
	s := newStack(t)
	appA, appB := s.createApp(t, "A"), s.createApp(t, "B")
	keyB := s.createKey(t, s.admin, `{"name":"b","owner":{"type":"app","id":"`+appB+`"},"permissions":["orders.read"],
		"rateLimit":{"limit":1,"period":"1h"}}`)
	gateway := []string{"X-API-Key", keyB.Secret, "X-Latchkey-App", appA, "X-Latchkey-Permission", "orders.read"}
	// The gateway protects app A; a client with app B's key adds its own
	// app to the query, and a zero cost: neither counts.
	resp, body := s.Do(t, "GET", "/v1/authorize/orders?app="+appB+"&cost=0&gateway=nginx", "", "", gateway...)
	wantGate(t, resp, body, http.StatusUnauthorized)
	gateway[3] = appA + ", " + appB
	resp, body = s.Do(t, "GET", "/v1/authorize/orders", "", "", gateway...)
	wantGate(t, resp, body, http.StatusOK)
	resp, body = s.Do(t, "GET", "/v1/authorize/orders?cost=0", "", "", gateway...)
	wantGate(t, resp, body, http.StatusTooManyRequests) // not nginx's 403, and the limit holds
	gateway[5] = "orders.read,billing.read"
	resp, body = s.Do(t, "GET", "/v1/authorize/orders", "", "", gateway...)
	wantGate(t, resp, body, http.StatusForbidden)
}

// TestAuthorizeLogsOrigin: the request log names the request a gateway
// asked about, without its query (which may carry a credential).
func TestAuthorizeLogsOrigin(t *testing.T) {
	s := newStack(t)
	k := s.createKey(t, s.admin, `{"name":"k"}`)
	s.authorize(t, "/v1/authorize", "X-API-Key", k.Secret, "X-Original-Method", "POST", "X-Original-URI", "/orders/17?api_key="+k.Secret)
	s.Do(t, "PUT", "/v1/authorize/items/3?token="+k.Secret, "", "", "X-API-Key", k.Secret)
	logs := s.Logs()
	for _, want := range []string{`for="POST /orders/17"`, `for="PUT /items/3"`, "key=" + k.ID} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, k.Secret) {
		t.Error("the log holds the secret")
	}
}
