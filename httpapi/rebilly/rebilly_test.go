package rebilly_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
)

var (
	keyIDPattern   = regexp.MustCompile(`^api_key_[0-9A-Z]{26}$`)
	secretPattern  = regexp.MustCompile(`^sk_live_[A-Za-z0-9_-]{49}$`)
	publishPattern = regexp.MustCompile(`^pk_live_[A-Za-z0-9_-]{49}$`)
)

// unrestrictedACL is how a key without an ACL is shown.
const unrestrictedACL = `[{"scope":{},"permissions":["*"]}]`

// missingApp is a well-formed organization id no app has.
const missingApp = "000000000000000000000000"

// apiKey is the ApiKey schema as a client reads it. ACL and AllowedIPs stay
// raw so that null, [] and an absent member can be told apart.
type apiKey struct {
	ID          string          `json:"id"`
	Description string          `json:"description"`
	Type        string          `json:"type"`
	ACL         json.RawMessage `json:"acl"`
	AllowedIPs  json.RawMessage `json:"allowedIps"`
	APIUser     string          `json:"apiUser"`
	SecretKey   string          `json:"secretKey"`
	CreatedTime string          `json:"createdTime"`
	UpdatedTime string          `json:"updatedTime"`
	Links       []struct {
		Href string `json:"href"`
		Rel  string `json:"rel"`
	} `json:"_links"`
}

// stack is an in-process Latchkey with the account key's secret at hand for
// REB-APIKEY.
type stack struct {
	*lktest.Stack
	acct string
}

func newStack(t *testing.T) *stack { return wrap(lktest.New(t)) }

func newStackWithConfig(t *testing.T, cfg web.Config) *stack {
	return wrap(lktest.NewWithConfig(t, cfg))
}

func wrap(s *lktest.Stack) *stack { return &stack{Stack: s, acct: s.Account.Secret} }

// trustLoopback is a deployment behind a proxy on the loopback address, which
// is where the test server's requests come from.
var trustLoopback = web.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// call sends a request with key in REB-APIKEY (no such header if key is
// empty) and the extra header pairs.
func (s *stack) call(t *testing.T, method, path, key, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	if key != "" {
		headers = append([]string{"REB-APIKEY", key}, headers...)
	}
	return s.Do(t, method, path, "", body, headers...)
}

// createApp makes an app (an organization) in the account.
func (s *stack) createApp(t *testing.T, name string) string {
	t.Helper()
	app, err := s.Svc.CreateApp(t.Context(), s.Principal(t), &latchkey.App{DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	return app.ID
}

// create POSTs body to path with key and returns the created key, checking
// the 201, its Location and its self link.
func (s *stack) create(t *testing.T, key, path, body string, headers ...string) apiKey {
	t.Helper()
	resp, got := s.call(t, "POST", path, key, body, headers...)
	wantStatus(t, resp, got, http.StatusCreated)
	k := decodeKey(t, got)
	if len(k.Links) != 1 || resp.Header.Get("Location") != k.Links[0].Href {
		t.Fatalf("Location = %q, _links = %+v; want Location equal to the one self link", resp.Header.Get("Location"), k.Links)
	}
	return k
}

// list GETs path and returns the keys' ids and the pagination headers.
func (s *stack) list(t *testing.T, key, path string, headers ...string) (ids []string, total, limit, offset string) {
	t.Helper()
	resp, body := s.call(t, "GET", path, key, "", headers...)
	wantStatus(t, resp, body, http.StatusOK)
	var keys []apiKey
	if err := json.Unmarshal(body, &keys); err != nil || keys == nil {
		t.Fatalf("GET %s: body %s is not a JSON array of keys: %v", path, body, err)
	}
	ids = []string{}
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	h := resp.Header
	return ids, h.Get("Pagination-Total"), h.Get("Pagination-Limit"), h.Get("Pagination-Offset")
}

func decodeKey(t *testing.T, body []byte) apiKey {
	t.Helper()
	var k apiKey
	if err := json.Unmarshal(body, &k); err != nil {
		t.Fatalf("body %s is not an ApiKey: %v", body, err)
	}
	return k
}

// wantStatus checks a response's status and that a body, if any, is JSON.
func wantStatus(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status = %d, want %d; body %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, status, body)
	}
	if status == http.StatusNoContent {
		return
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type = %q, want application/json", resp.Request.Method, resp.Request.URL, ct)
	}
}

// wantProblem checks a response is an RFC 9457 problem with this status and
// exactly these invalidFields (none if fields is empty).
func wantProblem(t *testing.T, resp *http.Response, body []byte, status int, fields ...string) {
	t.Helper()
	wantStatus(t, resp, body, status)
	var p struct {
		Type, Title, Detail *string
		Status              *int
		InvalidFields       []struct{ Field, Message string } `json:"invalidFields"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body %s is not a problem object: %v", body, err)
	}
	if p.Type == nil || *p.Type == "" || p.Title == nil || *p.Title == "" || p.Detail == nil || *p.Detail == "" || p.Status == nil {
		t.Fatalf("problem %s lacks one of type, title, status, detail", body)
	}
	if *p.Status != status {
		t.Fatalf("problem status = %d, want %d", *p.Status, status)
	}
	got := []string{}
	for _, f := range p.InvalidFields {
		if f.Message == "" {
			t.Errorf("invalid field %q has no message", f.Field)
		}
		got = append(got, f.Field)
	}
	slices.Sort(got)
	want := append([]string{}, fields...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("invalidFields = %q, want %q; body %s", got, want, body)
	}
}

// wantSunshineError checks a response is the Sunshine dialect's error.
func wantSunshineError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	wantStatus(t, resp, body, status)
	var e struct {
		Errors []struct{ Code, Title string }
	}
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) != 1 || e.Errors[0].Code != code || e.Errors[0].Title == "" {
		t.Fatalf("body %s, want {\"errors\":[{\"code\":%q,\"title\":…}]}", body, code)
	}
}

// canon re-encodes JSON with sorted object members, so that documents can be
// compared whatever order their members come in.
func canon(t *testing.T, raw string) string {
	t.Helper()
	if raw == "" {
		return "(absent)"
	}
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatalf("%q is not JSON: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func wantJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	if canon(t, string(got)) != canon(t, want) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

// bearer is an HS256 JWT signed with a key's secret, kid the key id.
func bearer(t *testing.T, kid, secret, scope string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"scope": scope, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + s
}

func wantUnchanged(t *testing.T, s *stack, before string) {
	t.Helper()
	if s.Snapshot(t) != before {
		t.Fatal("a refused request changed the store")
	}
}

func wantNoErrorLogged(t *testing.T, s *stack) {
	t.Helper()
	if strings.Contains(s.Logs(), "level=ERROR") {
		t.Fatalf("the server logged an error:\n%s", s.Logs())
	}
}

func TestCreate(t *testing.T) {
	s := newStack(t)
	longDesc := strings.Repeat("é", 255)
	cases := []struct {
		name, path, body string
		desc, typ        string
		secret           *regexp.Regexp
		acl, ips         string
	}{
		{"minimal", "/api-keys", `{"description":"Server key"}`,
			"Server key", "secret", secretPattern, unrestrictedACL, "null"},
		{"trailing slash, as the JS SDK posts", "/api-keys/", `{"description":"SDK key"}`,
			"SDK key", "secret", secretPattern, unrestrictedACL, "null"},
		{"explicit secret", "/api-keys", `{"description":"s","type":"secret"}`,
			"s", "secret", secretPattern, unrestrictedACL, "null"},
		{"type null is secret", "/api-keys", `{"description":"s","type":null}`,
			"s", "secret", secretPattern, unrestrictedACL, "null"},
		{"publishable", "/api-keys", `{"description":"browser","type":"publishable"}`,
			"browser", "publishable", publishPattern, unrestrictedACL, "null"},
		{"acl and allowedIps null", "/api-keys", `{"description":"n","acl":null,"allowedIps":null}`,
			"n", "secret", secretPattern, unrestrictedACL, "null"},
		{"explicit unrestricted acl", "/api-keys", `{"description":"u","acl":[{"scope":{},"permissions":["*"]}]}`,
			"u", "secret", secretPattern, unrestrictedACL, "null"},
		{"restricted", "/api-keys/",
			`{"description":"r","acl":[{"scope":{"organizationId":["org-1"],"productId":["p1"]},"permissions":["GetApiKeyCollection","GetApiKey"]},
			{"scope":{"planId":["gold"],"customFieldName":["my-field"]},"permissions":["*"]}],
			"allowedIps":["203.0.113.5","198.51.100.9/32","198.51.100.77/24","2001:db8::1","2001:db8::2/128","2001:db8:abcd:12::0/64","::ffff:203.0.113.6"]}`,
			"r", "secret", secretPattern,
			`[{"scope":{"organizationId":["org-1"],"productId":["p1"]},"permissions":["GetApiKeyCollection","GetApiKey"]},
			{"scope":{"planId":["gold"],"customFieldName":["my-field"]},"permissions":["*"]}]`,
			`["203.0.113.5","198.51.100.9","198.51.100.0/24","2001:db8::1","2001:db8::2","2001:db8:abcd:12::/64","203.0.113.6"]`},
		{"description of 255 characters", "/api-keys", `{"description":"` + longDesc + `"}`,
			longDesc, "secret", secretPattern, unrestrictedACL, "null"},
		{"unicode description", "/api-keys", `{"description":"Clé d’API ✓ 🔑"}`,
			"Clé d’API ✓ 🔑", "secret", secretPattern, unrestrictedACL, "null"},
		{"unknown members ignored", "/api-keys", `{"description":"x","colour":"blue","expiresAt":null}`,
			"x", "secret", secretPattern, unrestrictedACL, "null"},
		{"content type with charset", "/api-keys", `{"description":"cs"}`,
			"cs", "secret", secretPattern, unrestrictedACL, "null"},
	}
	start := time.Now().Add(-time.Second)
	secrets := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.name == "content type with charset" {
				headers = []string{"Content-Type", "application/json; charset=utf-8"}
			}
			k := s.create(t, s.acct, tc.path, tc.body, headers...)
			if !keyIDPattern.MatchString(k.ID) {
				t.Errorf("id = %q, want api_key_ and 26 base32 characters", k.ID)
			}
			if k.Description != tc.desc || k.Type != tc.typ {
				t.Errorf("description, type = %q, %q; want %q, %q", k.Description, k.Type, tc.desc, tc.typ)
			}
			if !tc.secret.MatchString(k.SecretKey) {
				t.Errorf("secretKey = %q, want %v", k.SecretKey, tc.secret)
			}
			if secrets[k.SecretKey] {
				t.Errorf("secretKey %q was issued twice", k.SecretKey)
			}
			secrets[k.SecretKey] = true
			if k.APIUser != s.Account.AccountID {
				t.Errorf("apiUser = %q, want the account id %q", k.APIUser, s.Account.AccountID)
			}
			wantJSON(t, "acl", k.ACL, tc.acl)
			wantJSON(t, "allowedIps", k.AllowedIPs, tc.ips)
			if want := s.Server.URL + "/api-keys/" + k.ID; k.Links[0].Href != want || k.Links[0].Rel != "self" {
				t.Errorf("_links = %+v, want [{href %s, rel self}]", k.Links, want)
			}
			for name, v := range map[string]string{"createdTime": k.CreatedTime, "updatedTime": k.UpdatedTime} {
				ts, err := time.Parse(time.RFC3339, v)
				if err != nil || !strings.HasSuffix(v, "Z") || ts.Before(start) || ts.After(time.Now().Add(time.Second)) {
					t.Errorf("%s = %q, want the current time in RFC 3339 UTC", name, v)
				}
			}
			if k.CreatedTime != k.UpdatedTime {
				t.Errorf("a new key's updatedTime %s differs from its createdTime %s", k.UpdatedTime, k.CreatedTime)
			}

			// The same key, read back, with every member of the schema and
			// the right JSON types.
			resp, body := s.call(t, "GET", "/api-keys/"+k.ID, s.acct, "")
			wantStatus(t, resp, body, http.StatusOK)
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"id", "description", "type", "apiUser", "secretKey", "createdTime", "updatedTime"} {
				if _, ok := m[name].(string); !ok {
					t.Errorf("%s = %#v, want a string", name, m[name])
				}
			}
			for _, name := range []string{"acl", "_links"} {
				if _, ok := m[name].([]any); !ok {
					t.Errorf("%s = %#v, want an array", name, m[name])
				}
			}
			if ips, ok := m["allowedIps"]; !ok {
				t.Error("allowedIps is missing, want null or an array")
			} else if _, isArray := ips.([]any); ips != nil && !isArray {
				t.Errorf("allowedIps = %#v, want null or an array", ips)
			}
			if got := decodeKey(t, body); got.SecretKey != k.SecretKey || got.CreatedTime != k.CreatedTime ||
				canon(t, string(got.ACL)) != canon(t, string(k.ACL)) || canon(t, string(got.AllowedIPs)) != canon(t, string(k.AllowedIPs)) {
				t.Errorf("GET = %s, want what POST returned", body)
			}
		})
	}
	wantNoErrorLogged(t, s)
}

// TestCreatedKeyAuthenticates: a new secret key works by REB-APIKEY at once.
func TestCreatedKeyAuthenticates(t *testing.T) {
	s := newStack(t)
	k := s.create(t, s.acct, "/api-keys", `{"description":"k"}`)
	ids, _, _, _ := s.list(t, k.SecretKey, "/api-keys?sort=id")
	if !slices.Contains(ids, k.ID) || !slices.Contains(ids, s.Account.ID) {
		t.Fatalf("the new key lists %v, want its own and the account key", ids)
	}
}

func TestGetPutDelete(t *testing.T) {
	s := newStack(t)

	// PUT creates a key with the client's id.
	id := "my-key_1.v2@home~x"
	resp, body := s.call(t, "PUT", "/api-keys/"+id, s.acct,
		`{"description":"mine","acl":[{"scope":{},"permissions":["GetApiKey"]}],"allowedIps":["203.0.113.0/24"]}`)
	wantStatus(t, resp, body, http.StatusCreated)
	created := decodeKey(t, body)
	wantHref := s.Server.URL + "/api-keys/" + id
	if created.ID != id || resp.Header.Get("Location") != wantHref || len(created.Links) != 1 || created.Links[0].Href != wantHref {
		t.Fatalf("PUT create: id %q, Location %q, _links %+v; want id %q at %s", created.ID, resp.Header.Get("Location"), created.Links, id, wantHref)
	}
	if !secretPattern.MatchString(created.SecretKey) || created.Type != "secret" || created.Description != "mine" {
		t.Fatalf("PUT create = %s", body)
	}

	resp, body = s.call(t, "GET", "/api-keys/"+id, s.acct, "")
	wantStatus(t, resp, body, http.StatusOK)
	if got := decodeKey(t, body); got.ID != id || got.SecretKey != created.SecretKey || got.Description != "mine" {
		t.Fatalf("GET = %s, want the created key", body)
	}

	updates := []struct {
		name, body string
		desc       string
		acl, ips   string
	}{
		{"description replaced, acl and allowedIps kept when omitted", `{"description":"renamed"}`,
			"renamed", `[{"scope":{},"permissions":["GetApiKey"]}]`, `["203.0.113.0/24"]`},
		{"allowedIps replaced", `{"description":"renamed","allowedIps":["198.51.100.0/24","2001:db8::/32"]}`,
			"renamed", `[{"scope":{},"permissions":["GetApiKey"]}]`, `["198.51.100.0/24","2001:db8::/32"]`},
		{"allowedIps null clears", `{"description":"renamed","allowedIps":null}`,
			"renamed", `[{"scope":{},"permissions":["GetApiKey"]}]`, `null`},
		{"acl replaced", `{"description":"again","acl":[{"scope":{"organizationId":["o1"]},"permissions":["*"]}]}`,
			"again", `[{"scope":{"organizationId":["o1"]},"permissions":["*"]}]`, `null`},
		{"acl null makes it unrestricted", `{"description":"again","acl":null}`,
			"again", unrestrictedACL, `null`},
		{"same type accepted", `{"description":"typed","type":"secret"}`,
			"typed", unrestrictedACL, `null`},
	}
	for _, u := range updates {
		t.Run(u.name, func(t *testing.T) {
			resp, body := s.call(t, "PUT", "/api-keys/"+id, s.acct, u.body)
			wantStatus(t, resp, body, http.StatusOK)
			k := decodeKey(t, body)
			if k.ID != id || k.SecretKey != created.SecretKey || k.CreatedTime != created.CreatedTime || k.Type != "secret" {
				t.Fatalf("PUT update = %s; id, secretKey, createdTime and type must stay", body)
			}
			if k.UpdatedTime < k.CreatedTime {
				t.Errorf("updatedTime %s is before createdTime %s", k.UpdatedTime, k.CreatedTime)
			}
			if k.Description != u.desc {
				t.Errorf("description = %q, want %q", k.Description, u.desc)
			}
			wantJSON(t, "acl", k.ACL, u.acl)
			wantJSON(t, "allowedIps", k.AllowedIPs, u.ips)
			// What PUT returned is what is stored.
			resp, got := s.call(t, "GET", "/api-keys/"+id, s.acct, "")
			wantStatus(t, resp, got, http.StatusOK)
			if canon(t, string(got)) != canon(t, string(body)) {
				t.Errorf("GET after PUT = %s, want %s", got, body)
			}
		})
	}

	t.Run("type cannot change", func(t *testing.T) {
		before := s.Snapshot(t)
		resp, body := s.call(t, "PUT", "/api-keys/"+id, s.acct, `{"description":"x","type":"publishable"}`)
		wantProblem(t, resp, body, http.StatusUnprocessableEntity, "type")
		wantUnchanged(t, s, before)
	})

	t.Run("id of 50 characters", func(t *testing.T) {
		long := strings.Repeat("a", 50)
		resp, body := s.call(t, "PUT", "/api-keys/"+long, s.acct, `{"description":"long id"}`)
		wantStatus(t, resp, body, http.StatusCreated)
		if got := decodeKey(t, body).ID; got != long {
			t.Fatalf("id = %q, want %q", got, long)
		}
	})

	t.Run("delete", func(t *testing.T) {
		resp, body := s.call(t, "DELETE", "/api-keys/"+id, s.acct, "")
		if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
			t.Fatalf("DELETE: status %d body %q, want 204 and no body", resp.StatusCode, body)
		}
		resp, body = s.call(t, "GET", "/api-keys/"+id, s.acct, "")
		wantProblem(t, resp, body, http.StatusNotFound)
		if !strings.Contains(string(body), id) {
			t.Errorf("404 detail %s does not name the id", body)
		}
		before := s.Snapshot(t)
		resp, body = s.call(t, "DELETE", "/api-keys/"+id, s.acct, "")
		wantProblem(t, resp, body, http.StatusNotFound)
		wantUnchanged(t, s, before)
		// The deleted key no longer authenticates.
		resp, body = s.call(t, "GET", "/api-keys", created.SecretKey, "")
		wantProblem(t, resp, body, http.StatusUnauthorized)
	})

	t.Run("PUT recreates a deleted id with a new secret", func(t *testing.T) {
		resp, body := s.call(t, "PUT", "/api-keys/"+id, s.acct, `{"description":"reborn"}`)
		wantStatus(t, resp, body, http.StatusCreated)
		if k := decodeKey(t, body); k.ID != id || k.SecretKey == created.SecretKey || resp.Header.Get("Location") != wantHref {
			t.Fatalf("PUT after DELETE = %s (Location %q)", body, resp.Header.Get("Location"))
		}
	})
	wantNoErrorLogged(t, s)
}

// TestReadOnlyMembersIgnored: clients send back what they fetched; id,
// apiUser, secretKey, createdTime, updatedTime and _links are ignored, not
// refused, and change nothing.
func TestReadOnlyMembersIgnored(t *testing.T) {
	s := newStack(t)
	k := s.create(t, s.acct, "/api-keys", `{"description":"echo me","acl":[{"scope":{},"permissions":["GetApiKey"]}],"allowedIps":["203.0.113.0/24"]}`)

	t.Run("PUT of a fetched key", func(t *testing.T) {
		resp, fetched := s.call(t, "GET", "/api-keys/"+k.ID, s.acct, "")
		wantStatus(t, resp, fetched, http.StatusOK)
		resp, body := s.call(t, "PUT", "/api-keys/"+k.ID, s.acct, string(fetched))
		wantStatus(t, resp, body, http.StatusOK)
		got := decodeKey(t, body)
		if got.ID != k.ID || got.SecretKey != k.SecretKey || got.CreatedTime != k.CreatedTime || got.Description != "echo me" {
			t.Fatalf("PUT of the fetched key = %s, want it unchanged", body)
		}
		wantJSON(t, "acl", got.ACL, string(k.ACL))
		wantJSON(t, "allowedIps", got.AllowedIPs, string(k.AllowedIPs))
	})

	t.Run("POST of a fetched key", func(t *testing.T) {
		_, fetched := s.call(t, "GET", "/api-keys/"+k.ID, s.acct, "")
		n := s.create(t, s.acct, "/api-keys", string(fetched))
		if n.ID == k.ID || n.SecretKey == k.SecretKey || !keyIDPattern.MatchString(n.ID) {
			t.Fatalf("POST of a fetched key = %+v, want a new id and secret", n)
		}
		if n.Description != "echo me" {
			t.Errorf("description = %q", n.Description)
		}
	})

	t.Run("POST with read-only members of any type", func(t *testing.T) {
		n := s.create(t, s.acct, "/api-keys", `{"description":"ro","id":"api_key_00000000000000000000000000",
			"apiUser":"someone-else","secretKey":"sk_live_chosen","createdTime":"2000-01-01T00:00:00Z",
			"updatedTime":42,"_links":"nope"}`)
		if n.ID == "api_key_00000000000000000000000000" || n.APIUser != s.Account.AccountID || n.SecretKey == "sk_live_chosen" ||
			strings.HasPrefix(n.CreatedTime, "2000") || !keyIDPattern.MatchString(n.ID) || !secretPattern.MatchString(n.SecretKey) {
			t.Fatalf("created = %+v; read-only members must be ignored", n)
		}
	})

	t.Run("PUT: the path's id wins over the body's", func(t *testing.T) {
		resp, body := s.call(t, "PUT", "/api-keys/path-id", s.acct, `{"description":"p","id":"body-id"}`)
		wantStatus(t, resp, body, http.StatusCreated)
		if got := decodeKey(t, body).ID; got != "path-id" {
			t.Fatalf("id = %q, want path-id", got)
		}
		resp, body = s.call(t, "GET", "/api-keys/body-id", s.acct, "")
		wantProblem(t, resp, body, http.StatusNotFound)
	})
	wantNoErrorLogged(t, s)
}

func TestList(t *testing.T) {
	s := newStack(t)
	act := s.Account.ID
	// Made in this order, so that id order and creation order differ.
	for _, k := range []struct{ id, body string }{
		{"k-c", `{"description":"Gamma"}`},
		{"k-b", `{"description":"Beta","type":"publishable"}`},
		{"k-a", `{"description":"Alpha"}`},
	} {
		resp, body := s.call(t, "PUT", "/api-keys/"+k.id, s.acct, k.body)
		wantStatus(t, resp, body, http.StatusCreated)
	}
	// Updating k-c makes it the most recently updated.
	resp, body := s.call(t, "PUT", "/api-keys/k-c", s.acct, `{"description":"Gamma"}`)
	wantStatus(t, resp, body, http.StatusOK)

	created := []string{act, "k-c", "k-b", "k-a"}
	filter := func(f string) string { return "filter=" + url.QueryEscape(f) }
	cases := []struct {
		query                string
		ids                  []string
		total, limit, offset string
	}{
		{"", []string{"k-a", "k-b", "k-c", act}, "4", "100", "0"},
		{"?limit=&offset=", []string{"k-a", "k-b", "k-c", act}, "4", "100", "0"},
		{"?limit=2", []string{"k-a", "k-b"}, "4", "2", "0"},
		{"?limit=2&offset=2", []string{"k-c", act}, "4", "2", "2"},
		{"?limit=2&offset=3", []string{act}, "4", "2", "3"},
		{"?limit=0", []string{}, "4", "0", "0"},
		{"?limit=0&offset=2", []string{}, "4", "0", "2"},
		{"?offset=4", []string{}, "4", "100", "4"},
		{"?offset=1000", []string{}, "4", "100", "1000"},
		{"?limit=1000", []string{"k-a", "k-b", "k-c", act}, "4", "1000", "0"},

		{"?sort=createdTime", created, "4", "100", "0"},
		{"?sort=-createdTime", []string{"k-a", "k-b", "k-c", act}, "4", "100", "0"},
		{"?sort=id", []string{act, "k-a", "k-b", "k-c"}, "4", "100", "0"},
		{"?sort=-id", []string{"k-c", "k-b", "k-a", act}, "4", "100", "0"},
		{"?sort=updatedTime", []string{act, "k-b", "k-a", "k-c"}, "4", "100", "0"},
		{"?sort=-updatedTime", []string{"k-c", "k-a", "k-b", act}, "4", "100", "0"},
		{"?sort=updatedTime,id", []string{act, "k-b", "k-a", "k-c"}, "4", "100", "0"},
		{"?sort=-id,createdTime", []string{"k-c", "k-b", "k-a", act}, "4", "100", "0"},
		{"?sort=createdTime,-updatedTime,id", created, "4", "100", "0"},
		{"?sort=-id&limit=2&offset=1", []string{"k-b", "k-a"}, "4", "2", "1"},

		{"?" + filter("id:k-a"), []string{"k-a"}, "1", "100", "0"},
		{"?sort=id&" + filter("id:k-a,k-c"), []string{"k-a", "k-c"}, "2", "100", "0"},
		{"?sort=id&" + filter("id:!k-a,k-c"), []string{act, "k-b"}, "2", "100", "0"},
		{"?" + filter("type:publishable"), []string{"k-b"}, "1", "100", "0"},
		{"?sort=id&" + filter("type:!publishable"), []string{act, "k-a", "k-c"}, "3", "100", "0"},
		{"?sort=id&" + filter("type:secret,publishable"), []string{act, "k-a", "k-b", "k-c"}, "4", "100", "0"},
		{"?sort=id&" + filter("description:Alpha,Gamma"), []string{"k-a", "k-c"}, "2", "100", "0"},
		{"?sort=id&" + filter("description:!Alpha"), []string{act, "k-b", "k-c"}, "3", "100", "0"},
		{"?" + filter("type:secret;description:Alpha,Beta"), []string{"k-a"}, "1", "100", "0"},
		{"?sort=id&" + filter("description:!Alpha;id:!k-c"), []string{act, "k-b"}, "2", "100", "0"},
		{"?" + filter("id:nothing"), []string{}, "0", "100", "0"},
		{"?sort=id&limit=1&offset=1&" + filter("id:k-a,k-b,k-c"), []string{"k-b"}, "3", "1", "1"},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			ids, total, limit, offset := s.list(t, s.acct, "/api-keys"+tc.query)
			if !slices.Equal(ids, tc.ids) {
				t.Errorf("ids = %v, want %v", ids, tc.ids)
			}
			if total != tc.total || limit != tc.limit || offset != tc.offset {
				t.Errorf("Pagination-Total, -Limit, -Offset = %q, %q, %q; want %q, %q, %q", total, limit, offset, tc.total, tc.limit, tc.offset)
			}
		})
	}

	t.Run("empty page is [] not null", func(t *testing.T) {
		resp, body := s.call(t, "GET", "/api-keys?limit=0", s.acct, "")
		wantStatus(t, resp, body, http.StatusOK)
		if string(body) != "[]" {
			t.Fatalf("body = %s, want []", body)
		}
	})

	t.Run("items are full keys", func(t *testing.T) {
		resp, body := s.call(t, "GET", "/api-keys?"+filter("id:k-b"), s.acct, "")
		wantStatus(t, resp, body, http.StatusOK)
		var keys []apiKey
		if err := json.Unmarshal(body, &keys); err != nil || len(keys) != 1 {
			t.Fatalf("body = %s", body)
		}
		k := keys[0]
		if k.Description != "Beta" || k.Type != "publishable" || !publishPattern.MatchString(k.SecretKey) ||
			k.APIUser != s.Account.AccountID || len(k.Links) != 1 || k.Links[0].Href != s.Server.URL+"/api-keys/k-b" {
			t.Fatalf("listed key = %+v", k)
		}
		wantJSON(t, "acl", k.ACL, unrestrictedACL)
		wantJSON(t, "allowedIps", k.AllowedIPs, "null")
	})
	wantNoErrorLogged(t, s)
}

func TestListDefaultLimit(t *testing.T) {
	s := newStack(t)
	p := s.Principal(t)
	for i := range 100 {
		if _, err := s.Svc.CreateKey(t.Context(), p, core.KeySpec{Name: fmt.Sprintf("key %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		query                string
		n                    int
		total, limit, offset string
	}{
		{"", 100, "101", "100", "0"},
		{"?limit=1000", 101, "101", "1000", "0"},
		{"?offset=100", 1, "101", "100", "100"},
		{"?offset=99&limit=5", 2, "101", "5", "99"},
	} {
		ids, total, limit, offset := s.list(t, s.acct, "/api-keys"+tc.query)
		if len(ids) != tc.n || total != tc.total || limit != tc.limit || offset != tc.offset {
			t.Errorf("GET /api-keys%s: %d keys, headers %s/%s/%s; want %d keys, %s/%s/%s",
				tc.query, len(ids), total, limit, offset, tc.n, tc.total, tc.limit, tc.offset)
		}
	}
}

func TestOrganizations(t *testing.T) {
	s := newStack(t)
	appA, appB := s.createApp(t, "a"), s.createApp(t, "b")
	orgA := "/organizations/" + appA + "/api-keys"

	rootKey := s.create(t, s.acct, "/api-keys", `{"description":"root"}`)
	orgKey := s.create(t, s.acct, orgA, `{"description":"in A"}`)
	if want := s.Server.URL + orgA + "/" + orgKey.ID; orgKey.Links[0].Href != want {
		t.Fatalf("org key self link = %q, want %q", orgKey.Links[0].Href, want)
	}
	slashKey := s.create(t, s.acct, orgA+"/", `{"description":"in A, trailing slash"}`)
	resp, body := s.call(t, "PUT", orgA+"/chosen", s.acct, `{"description":"put in A"}`)
	wantStatus(t, resp, body, http.StatusCreated)
	if loc := resp.Header.Get("Location"); loc != s.Server.URL+orgA+"/chosen" {
		t.Fatalf("PUT in org: Location = %q", loc)
	}

	// A key made by the Sunshine surface for app A is one of A's keys.
	resp, body = s.Do(t, "POST", "/v2/apps/"+appA+"/keys", s.Account.Basic(), `{"displayName":"sunshine key"}`)
	wantStatus(t, resp, body, http.StatusCreated)
	var sun struct{ Key struct{ ID, Secret string } }
	if err := json.Unmarshal(body, &sun); err != nil || sun.Key.ID == "" {
		t.Fatalf("Sunshine key = %s", body)
	}

	ids, total, _, _ := s.list(t, s.acct, orgA+"?sort=id")
	want := []string{orgKey.ID, slashKey.ID, sun.Key.ID, "chosen"}
	slices.Sort(want)
	if !slices.Equal(ids, want) || total != "4" {
		t.Fatalf("organization A lists %v (total %s), want %v", ids, total, want)
	}
	resp, body = s.call(t, "GET", orgA+"?"+"filter="+url.QueryEscape("id:"+sun.Key.ID), s.acct, "")
	wantStatus(t, resp, body, http.StatusOK)
	var listed []apiKey
	json.Unmarshal(body, &listed)
	if len(listed) != 1 || listed[0].Description != "sunshine key" || listed[0].SecretKey != sun.Key.Secret || listed[0].Type != "secret" {
		t.Fatalf("the Sunshine key as listed = %s", body)
	}

	// A Sunshine integration key belongs to the integration, not the app.
	resp, body = s.Do(t, "POST", "/v2/apps/"+appA+"/integrations", s.Account.Basic(),
		`{"type":"custom","webhooks":[{"target":"https://example.com/cb","triggers":["*"]}]}`)
	wantStatus(t, resp, body, http.StatusCreated)
	var integration struct{ Integration struct{ ID string } }
	json.Unmarshal(body, &integration)
	resp, body = s.Do(t, "POST", "/v2/apps/"+appA+"/integrations/"+integration.Integration.ID+"/keys", s.Account.Basic(), `{"displayName":"int"}`)
	wantStatus(t, resp, body, http.StatusCreated)
	var intKey struct{ Key struct{ ID string } }
	json.Unmarshal(body, &intKey)
	if ids, _, _, _ := s.list(t, s.acct, orgA); slices.Contains(ids, intKey.Key.ID) || len(ids) != 4 {
		t.Fatalf("organization A lists %v; the integration key %s is not the app's", ids, intKey.Key.ID)
	}
	resp, body = s.call(t, "GET", orgA+"/"+intKey.Key.ID, s.acct, "")
	wantProblem(t, resp, body, http.StatusNotFound)

	ids, _, _, _ = s.list(t, s.acct, "/api-keys?sort=id")
	if want := []string{s.Account.ID, rootKey.ID}; !slices.Equal(ids, want) {
		t.Fatalf("the root lists %v, want only the account's own keys %v", ids, want)
	}
	if ids, total, _, _ := s.list(t, s.acct, "/organizations/"+appB+"/api-keys"); len(ids) != 0 || total != "0" {
		t.Fatalf("organization B lists %v, want none", ids)
	}

	_, strangerKey, err := s.Svc.Bootstrap(t.Context(), "Stranger")
	if err != nil {
		t.Fatal(err)
	}
	stranger := strangerKey.Secrets[0].Plain

	cases := []struct {
		name, method, path, key, body string
		status                        int
	}{
		{"org key read at the root", "GET", "/api-keys/" + orgKey.ID, s.acct, "", 404},
		{"root key read in org", "GET", orgA + "/" + rootKey.ID, s.acct, "", 404},
		{"org key read in another org", "GET", "/organizations/" + appB + "/api-keys/" + orgKey.ID, s.acct, "", 404},
		{"org key deleted at the root", "DELETE", "/api-keys/" + orgKey.ID, s.acct, "", 404},
		{"root key deleted in org", "DELETE", orgA + "/" + rootKey.ID, s.acct, "", 404},
		{"PUT in org on a root key's id", "PUT", orgA + "/" + rootKey.ID, s.acct, `{"description":"steal"}`, 409},
		{"PUT at the root on an org key's id", "PUT", "/api-keys/" + orgKey.ID, s.acct, `{"description":"steal"}`, 409},
		{"unknown organization list", "GET", "/organizations/" + missingApp + "/api-keys", s.acct, "", 404},
		{"unknown organization create", "POST", "/organizations/" + missingApp + "/api-keys", s.acct, `{"description":"x"}`, 404},
		{"unknown organization PUT", "PUT", "/organizations/" + missingApp + "/api-keys/x", s.acct, `{"description":"x"}`, 404},
		{"unknown organization get", "GET", "/organizations/" + missingApp + "/api-keys/" + orgKey.ID, s.acct, "", 404},
		{"malformed organization list", "GET", "/organizations/not-an-id/api-keys", s.acct, "", 404},
		{"malformed organization create", "POST", "/organizations/NOT-AN-ID/api-keys/", s.acct, `{"description":"x"}`, 404},
		{"uppercase organization id", "GET", "/organizations/" + strings.ToUpper(appA) + "/api-keys", s.acct, "", 404},
		{"another account's organization", "GET", orgA, stranger, "", 404},
		{"another account's organization create", "POST", orgA, stranger, `{"description":"x"}`, 404},
		{"another account's key", "GET", "/api-keys/" + rootKey.ID, stranger, "", 404},
		{"org key on the root list", "GET", "/api-keys", orgKey.SecretKey, "", 403},
		{"org key on the root create", "POST", "/api-keys", orgKey.SecretKey, `{"description":"x"}`, 403},
		{"org key on another org", "GET", "/organizations/" + appB + "/api-keys", orgKey.SecretKey, "", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snapshot(t)
			resp, body := s.call(t, tc.method, tc.path, tc.key, tc.body)
			wantProblem(t, resp, body, tc.status)
			wantUnchanged(t, s, before)
		})
	}

	t.Run("org key manages its own org", func(t *testing.T) {
		ids, _, _, _ := s.list(t, orgKey.SecretKey, orgA)
		if len(ids) != 4 {
			t.Fatalf("org key lists %v in its org", ids)
		}
		k := s.create(t, orgKey.SecretKey, orgA, `{"description":"by the org key"}`)
		resp, body := s.call(t, "DELETE", orgA+"/"+k.ID, orgKey.SecretKey, "")
		wantStatus(t, resp, body, http.StatusNoContent)
	})

	t.Run("the stranger's root list is its own", func(t *testing.T) {
		ids, _, _, _ := s.list(t, stranger, "/api-keys")
		if !slices.Equal(ids, []string{strangerKey.ID}) {
			t.Fatalf("stranger lists %v", ids)
		}
	})
	wantNoErrorLogged(t, s)
}

func TestCredentials(t *testing.T) {
	s := newStack(t)
	k := s.create(t, s.acct, "/api-keys", `{"description":"rebilly key"}`)
	gone := s.create(t, s.acct, "/api-keys", `{"description":"deleted"}`)
	resp, body := s.call(t, "DELETE", "/api-keys/"+gone.ID, s.acct, "")
	wantStatus(t, resp, body, http.StatusNoContent)
	basic := s.Account.Basic()

	cases := []struct {
		name    string
		headers []string
		status  int
	}{
		{"no credentials", nil, 401},
		{"REB-APIKEY", []string{"REB-APIKEY", s.acct}, 200},
		{"REB-APIKEY of a Rebilly-made key", []string{"REB-APIKEY", k.SecretKey}, 200},
		{"X-API-Key", []string{"X-API-Key", k.SecretKey}, 200},
		{"Basic", []string{"Authorization", basic}, 200},
		{"Bearer secret", []string{"Authorization", "Bearer " + k.SecretKey}, 200},
		{"bare secret in Authorization", []string{"Authorization", k.SecretKey}, 200},
		{"Bearer JWT of the account key", []string{"Authorization", bearer(t, s.Account.ID, s.acct, "account")}, 200},
		{"Bearer JWT of a Rebilly-made key", []string{"Authorization", bearer(t, k.ID, k.SecretKey, "account")}, 200},
		{"REB-APIKEY wins over a bad Authorization", []string{"REB-APIKEY", s.acct, "Authorization", "Bearer garbage"}, 200},
		{"a bad REB-APIKEY wins over a good Authorization", []string{"REB-APIKEY", "sk_live_wrong", "Authorization", basic}, 401},
		{"REB-APIKEY and X-API-Key together are ambiguous", []string{"REB-APIKEY", "nonsense", "X-API-Key", s.acct}, 401},
		{"REB-APIKEY unknown well-formed secret", []string{"REB-APIKEY", "sk_live_" + strings.Repeat("A", 49)}, 401},
		{"REB-APIKEY garbage", []string{"REB-APIKEY", "garbage"}, 401},
		{"REB-APIKEY of a deleted key", []string{"REB-APIKEY", gone.SecretKey}, 401},
		{"REB-APIKEY key id instead of secret", []string{"REB-APIKEY", k.ID}, 401},
		{"JWT with the wrong scope", []string{"Authorization", bearer(t, k.ID, k.SecretKey, "app")}, 401},
		{"JWT signed with another key's secret", []string{"Authorization", bearer(t, k.ID, s.acct, "account")}, 401},
		{"JWT of a deleted key", []string{"Authorization", bearer(t, gone.ID, gone.SecretKey, "account")}, 401},
		{"unknown scheme", []string{"Authorization", "Digest abc"}, 401},
		{"empty Bearer", []string{"Authorization", "Bearer "}, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, route := range []struct{ method, path, body string }{
				{"GET", "/api-keys", ""},
				{"POST", "/api-keys", `{"description":"by credential"}`},
			} {
				before := s.Snapshot(t)
				resp, body := s.Do(t, route.method, route.path, "", route.body, tc.headers...)
				if tc.status == 200 {
					want := map[string]int{"GET": 200, "POST": 201}[route.method]
					wantStatus(t, resp, body, want)
					continue
				}
				wantProblem(t, resp, body, tc.status)
				wantUnchanged(t, s, before)
			}
		})
	}
	wantNoErrorLogged(t, s)
}

// TestPublishableKey: a publishable key is for browsers; it may not manage
// keys on any route, in any credential form, on either surface.
func TestPublishableKey(t *testing.T) {
	s := newStack(t)
	app := s.createApp(t, "a")
	pk := s.create(t, s.acct, "/api-keys", `{"description":"browser","type":"publishable"}`)
	other := s.create(t, s.acct, "/api-keys", `{"description":"other"}`)
	if !publishPattern.MatchString(pk.SecretKey) {
		t.Fatalf("secretKey = %q", pk.SecretKey)
	}

	forms := []struct {
		name    string
		headers []string
	}{
		{"REB-APIKEY", []string{"REB-APIKEY", pk.SecretKey}},
		{"X-API-Key", []string{"X-API-Key", pk.SecretKey}},
		{"raw in Authorization", []string{"Authorization", pk.SecretKey}},
		{"Bearer", []string{"Authorization", "Bearer " + pk.SecretKey}},
		{"Basic", []string{"Authorization", (lktest.Credentials{ID: pk.ID, Secret: pk.SecretKey}).Basic()}},
		{"JWT", []string{"Authorization", bearer(t, pk.ID, pk.SecretKey, "account")}},
	}
	routes := []struct{ method, path, body string }{
		{"GET", "/api-keys", ""},
		{"POST", "/api-keys", `{"description":"x"}`},
		{"POST", "/api-keys/", `{"description":"x"}`},
		{"GET", "/api-keys/" + pk.ID, ""},
		{"GET", "/api-keys/" + other.ID, ""},
		{"PUT", "/api-keys/" + other.ID, `{"description":"x"}`},
		{"PUT", "/api-keys/new-one", `{"description":"x"}`},
		{"DELETE", "/api-keys/" + other.ID, ""},
		{"DELETE", "/api-keys/" + pk.ID, ""},
		{"GET", "/organizations/" + app + "/api-keys", ""},
		{"POST", "/organizations/" + app + "/api-keys", `{"description":"x"}`},
	}
	for _, f := range forms {
		for _, r := range routes {
			t.Run(f.name+" "+r.method+" "+r.path, func(t *testing.T) {
				before := s.Snapshot(t)
				resp, body := s.Do(t, r.method, r.path, "", r.body, f.headers...)
				wantProblem(t, resp, body, http.StatusUnauthorized)
				wantUnchanged(t, s, before)
			})
		}
		t.Run(f.name+" on Sunshine", func(t *testing.T) {
			for _, r := range []struct{ method, path, body string }{
				{"GET", "/v2/apps", ""},
				{"GET", "/v2/apps/" + app, ""},
				{"POST", "/v2/apps", `{"displayName":"x"}`},
			} {
				before := s.Snapshot(t)
				resp, body := s.Do(t, r.method, r.path, "", r.body, f.headers...)
				wantSunshineError(t, resp, body, http.StatusUnauthorized, "unauthorized")
				wantUnchanged(t, s, before)
			}
		})
	}
	wantNoErrorLogged(t, s)
}

func TestACL(t *testing.T) {
	s := newStack(t)
	appA, appB := s.createApp(t, "A"), s.createApp(t, "B")
	target := s.create(t, s.acct, "/api-keys", `{"description":"target"}`)
	listOnly := s.create(t, s.acct, "/api-keys", `{"description":"list only","acl":[{"scope":{},"permissions":["GetApiKeyCollection"]}]}`)
	inA := s.create(t, s.acct, "/api-keys", fmt.Sprintf(`{"description":"A only","acl":[{"scope":{"organizationId":[%q]},"permissions":["*"]}]}`, appA))
	// Empty lists would make a key that can do nothing (and are easily
	// mistaken for "unrestricted"): they are refused, null is the way to
	// say unrestricted.
	for _, body := range []string{`{"description":"nothing","acl":[]}`, `{"description":"nowhere","allowedIps":[]}`} {
		before := s.Snapshot(t)
		resp, respBody := s.Do(t, "POST", "/api-keys", s.acct, body)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("POST %s: status %d, want 422; body %s", body, resp.StatusCode, respBody)
		}
		wantUnchanged(t, s, before)
	}

	cases := []struct {
		name, key, method, path, body string
		status                        int
	}{
		{"list-only key lists", listOnly.SecretKey, "GET", "/api-keys", "", 200},
		{"list-only key lists in an org", listOnly.SecretKey, "GET", "/organizations/" + appA + "/api-keys", "", 200},
		{"list-only key creates", listOnly.SecretKey, "POST", "/api-keys", `{"description":"x"}`, 403},
		{"list-only key creates with a slash", listOnly.SecretKey, "POST", "/api-keys/", `{"description":"x"}`, 403},
		{"list-only key reads one", listOnly.SecretKey, "GET", "/api-keys/" + target.ID, "", 403},
		{"list-only key puts", listOnly.SecretKey, "PUT", "/api-keys/" + target.ID, `{"description":"x"}`, 403},
		{"list-only key widens itself", listOnly.SecretKey, "PUT", "/api-keys/" + listOnly.ID, `{"description":"x","acl":null}`, 403},
		{"list-only key deletes", listOnly.SecretKey, "DELETE", "/api-keys/" + target.ID, "", 403},
		{"org-scoped key in its org", inA.SecretKey, "GET", "/organizations/" + appA + "/api-keys", "", 200},
		{"org-scoped key creates in its org", inA.SecretKey, "POST", "/organizations/" + appA + "/api-keys", `{"description":"in A by inA"}`, 201},
		{"org-scoped key in another org", inA.SecretKey, "GET", "/organizations/" + appB + "/api-keys", "", 403},
		{"org-scoped key creates in another org", inA.SecretKey, "POST", "/organizations/" + appB + "/api-keys", `{"description":"x"}`, 403},
		{"org-scoped key at the root", inA.SecretKey, "GET", "/api-keys", "", 403},
		{"org-scoped key reads at the root", inA.SecretKey, "GET", "/api-keys/" + target.ID, "", 403},
		{"org-scoped key deletes at the root", inA.SecretKey, "DELETE", "/api-keys/" + target.ID, "", 403},
		{"org-scoped key in an unknown org", inA.SecretKey, "GET", "/organizations/" + missingApp + "/api-keys", "", 403},
		{"org-scoped key creates an unscoped key", inA.SecretKey, "POST", "/organizations/" + appA + "/api-keys",
			`{"description":"x","acl":[{"scope":{},"permissions":["GetApiKey"]}]}`, 403},
		{"org-scoped key creates a key for another org", inA.SecretKey, "POST", "/organizations/" + appA + "/api-keys",
			fmt.Sprintf(`{"description":"x","acl":[{"scope":{"organizationId":[%q]},"permissions":["GetApiKey"]}]}`, appB), 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snapshot(t)
			resp, body := s.call(t, tc.method, tc.path, tc.key, tc.body)
			if tc.status >= 400 {
				wantProblem(t, resp, body, tc.status)
				wantUnchanged(t, s, before)
				return
			}
			wantStatus(t, resp, body, tc.status)
		})
	}

	t.Run("a key made by an org-scoped key inherits its scope", func(t *testing.T) {
		k := s.create(t, inA.SecretKey, "/organizations/"+appA+"/api-keys", `{"description":"child"}`)
		wantJSON(t, "acl", k.ACL, string(inA.ACL))
	})

	t.Run("the same ACL applies on Sunshine routes", func(t *testing.T) {
		listApps := s.create(t, s.acct, "/api-keys", `{"description":"sunshine lister","acl":[{"scope":{},"permissions":["ListApps"]}]}`)
		resp, body := s.call(t, "GET", "/v2/apps", listApps.SecretKey, "")
		wantStatus(t, resp, body, http.StatusOK)
		resp, body = s.Do(t, "GET", "/v2/apps", bearer(t, listApps.ID, listApps.SecretKey, "account"), "")
		wantStatus(t, resp, body, http.StatusOK)
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/v2/apps", `{"displayName":"x"}`},
			{"GET", "/v2/apps/" + appA, ""},
			{"DELETE", "/v2/apps/" + appA, ""},
			{"POST", "/v2/apps/" + appA + "/keys", `{"displayName":"x"}`},
		} {
			before := s.Snapshot(t)
			resp, body := s.call(t, r.method, r.path, listApps.SecretKey, r.body)
			wantSunshineError(t, resp, body, http.StatusForbidden, "forbidden")
			wantUnchanged(t, s, before)
		}
		// An organization scope narrows Sunshine's apps too.
		resp, body = s.call(t, "GET", "/v2/apps/"+appA, inA.SecretKey, "")
		wantStatus(t, resp, body, http.StatusOK)
		resp, body = s.call(t, "GET", "/v2/apps/"+appB, inA.SecretKey, "")
		wantSunshineError(t, resp, body, http.StatusForbidden, "forbidden")
	})
	wantNoErrorLogged(t, s)
}

// TestRestrictedCreator: a key cannot make or widen a key beyond its own
// ACL and addresses; what it leaves unset inherits its restriction.
func TestRestrictedCreator(t *testing.T) {
	s := newStackWithConfig(t, trustLoopback)
	from := []string{"X-Forwarded-For", "203.0.113.7"}
	appA := s.createApp(t, "A")
	creatorACL := `[{"scope":{},"permissions":["GetApiKeyCollection","PostApiKey","PutApiKey","GetApiKey"]}]`
	creatorIPs := `["203.0.113.0/24"]`
	creator := s.create(t, s.acct, "/api-keys", `{"description":"creator","acl":`+creatorACL+`,"allowedIps":`+creatorIPs+`}`)
	wantJSON(t, "creator acl", creator.ACL, creatorACL)

	narrowACL := `[{"scope":{},"permissions":["GetApiKeyCollection"]}]`
	cases := []struct {
		name, body string
		status     int
		acl, ips   string
	}{
		{"acl and allowedIps omitted inherit", `{"description":"x"}`, 201, creatorACL, creatorIPs},
		{"acl and allowedIps null inherit", `{"description":"x","acl":null,"allowedIps":null}`, 201, creatorACL, creatorIPs},
		{"narrower acl", `{"description":"x","acl":` + narrowACL + `}`, 201, narrowACL, creatorIPs},
		{"narrower organization scope", fmt.Sprintf(`{"description":"x","acl":[{"scope":{"organizationId":[%q]},"permissions":["PostApiKey"]}]}`, appA),
			201, fmt.Sprintf(`[{"scope":{"organizationId":[%q]},"permissions":["PostApiKey"]}]`, appA), creatorIPs},
		{"narrower allowedIps", `{"description":"x","allowedIps":["203.0.113.128/25","203.0.113.9"]}`, 201, creatorACL, `["203.0.113.128/25","203.0.113.9"]`},
		{"acl *", `{"description":"x","acl":[{"scope":{},"permissions":["*"]}]}`, 403, "", ""},
		{"acl with a permission the creator lacks", `{"description":"x","acl":[{"scope":{},"permissions":["DeleteApiKey"]}]}`, 403, "", ""},
		{"acl one permission too many", `{"description":"x","acl":[{"scope":{},"permissions":["GetApiKey","DeleteApiKey"]}]}`, 403, "", ""},
		{"wider allowedIps", `{"description":"x","allowedIps":["203.0.112.0/23"]}`, 403, "", ""},
		{"other allowedIps", `{"description":"x","allowedIps":["198.51.100.0/24"]}`, 403, "", ""},
		{"allowedIps one too many", `{"description":"x","allowedIps":["203.0.113.1","198.51.100.1"]}`, 403, "", ""},
		{"publishable key inheriting", `{"description":"x","type":"publishable"}`, 201, creatorACL, creatorIPs},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snapshot(t)
			resp, body := s.call(t, "POST", "/api-keys", creator.SecretKey, tc.body, from...)
			if tc.status != 201 {
				wantProblem(t, resp, body, tc.status)
				wantUnchanged(t, s, before)
				return
			}
			wantStatus(t, resp, body, 201)
			k := decodeKey(t, body)
			wantJSON(t, "acl", k.ACL, tc.acl)
			wantJSON(t, "allowedIps", k.AllowedIPs, tc.ips)
		})
	}

	child := s.create(t, creator.SecretKey, "/api-keys", `{"description":"child","acl":`+narrowACL+`}`, from...)
	updates := []struct {
		name, id, body string
		status         int
		acl, ips       string
	}{
		{"creator widens itself to unrestricted", creator.ID, `{"description":"x","acl":[{"scope":{},"permissions":["*"]}]}`, 403, "", ""},
		{"creator drops its own address limit", creator.ID, `{"description":"x","allowedIps":["203.0.0.0/16"]}`, 403, "", ""},
		{"creator widens a child", child.ID, `{"description":"x","acl":[{"scope":{},"permissions":["DeleteApiKey"]}]}`, 403, "", ""},
		{"acl null on a child inherits, not unrestricted", child.ID, `{"description":"y","acl":null,"allowedIps":null}`, 200, creatorACL, creatorIPs},
		{"creator renames itself", creator.ID, `{"description":"renamed"}`, 200, creatorACL, creatorIPs},
	}
	for _, tc := range updates {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snapshot(t)
			resp, body := s.call(t, "PUT", "/api-keys/"+tc.id, creator.SecretKey, tc.body, from...)
			if tc.status != 200 {
				wantProblem(t, resp, body, tc.status)
				wantUnchanged(t, s, before)
				return
			}
			wantStatus(t, resp, body, 200)
			k := decodeKey(t, body)
			wantJSON(t, "acl", k.ACL, tc.acl)
			wantJSON(t, "allowedIps", k.AllowedIPs, tc.ips)
		})
	}
	wantNoErrorLogged(t, s)
}

// TestAllowedIPs: a key restricted to addresses works only from them, as
// told by a trusted proxy's X-Forwarded-For header.
func TestAllowedIPs(t *testing.T) {
	s := newStackWithConfig(t, trustLoopback)
	v4 := s.create(t, s.acct, "/api-keys", `{"description":"v4","allowedIps":["203.0.113.0/24"]}`)
	v6 := s.create(t, s.acct, "/api-keys", `{"description":"v6","allowedIps":["2001:db8::/32","198.51.100.1"]}`)
	wantJSON(t, "allowedIps", v6.AllowedIPs, `["2001:db8::/32","198.51.100.1"]`)

	cases := []struct {
		name    string
		key     apiKey
		headers []string
		status  int
	}{
		{"no forwarding header: the proxy's address", v4, nil, 403},
		{"X-Forwarded-For outside", v4, []string{"X-Forwarded-For", "198.51.100.7"}, 403},
		{"X-Forwarded-For inside", v4, []string{"X-Forwarded-For", "203.0.113.7"}, 200},
		{"X-Forwarded-For spoofed behind the proxy", v4, []string{"X-Forwarded-For", "203.0.113.7, 198.51.100.7"}, 403},
		{"X-Forwarded-For with an earlier hop", v4, []string{"X-Forwarded-For", "198.51.100.7, 203.0.113.7"}, 200},
		{"X-Forwarded-For garbage", v4, []string{"X-Forwarded-For", "not-an-address"}, 403},
		// Only the configured header (X-Forwarded-For here) is believed; a
		// Forwarded header is the client's own claim.
		{"Forwarded is not believed", v4, []string{"Forwarded", "for=203.0.113.7"}, 403},
		{"Forwarded with a port and proto is not believed", v4, []string{"Forwarded", `for="203.0.113.7:4711";proto=https`}, 403},
		{"X-Forwarded-For wins over Forwarded", v4, []string{"Forwarded", "for=198.51.100.7", "X-Forwarded-For", "203.0.113.7"}, 200},
		{"IPv6 X-Forwarded-For inside", v6, []string{"X-Forwarded-For", "2001:db8::5"}, 200},
		{"IPv6 Forwarded is not believed", v6, []string{"Forwarded", `for="[2001:db8::5]:4711"`}, 403},
		{"IPv6 outside", v6, []string{"X-Forwarded-For", "2001:db9::5"}, 403},
		{"single IPv4 address of a mixed list", v6, []string{"X-Forwarded-For", "198.51.100.1"}, 200},
		{"next IPv4 address", v6, []string{"X-Forwarded-For", "198.51.100.2"}, 403},
		{"IPv4-mapped IPv6 of an allowed address", v6, []string{"X-Forwarded-For", "::ffff:198.51.100.1"}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, cred := range []struct{ name, authz, apiKey string }{
				{"REB-APIKEY", "", tc.key.SecretKey},
				{"JWT", bearer(t, tc.key.ID, tc.key.SecretKey, "account"), ""},
			} {
				headers := tc.headers
				if cred.apiKey != "" {
					headers = append([]string{"REB-APIKEY", cred.apiKey}, headers...)
				}
				before := s.Snapshot(t)
				resp, body := s.Do(t, "GET", "/api-keys", cred.authz, "", headers...)
				if tc.status == 200 {
					wantStatus(t, resp, body, 200)
					continue
				}
				wantProblem(t, resp, body, tc.status)
				wantUnchanged(t, s, before)
			}
		})
	}

	t.Run("also on Sunshine routes", func(t *testing.T) {
		resp, body := s.call(t, "GET", "/v2/apps", v4.SecretKey, "", "X-Forwarded-For", "198.51.100.7")
		wantSunshineError(t, resp, body, http.StatusForbidden, "forbidden")
		resp, body = s.call(t, "GET", "/v2/apps", v4.SecretKey, "", "X-Forwarded-For", "203.0.113.7")
		wantStatus(t, resp, body, http.StatusOK)
	})

	t.Run("without trusted proxies forwarding headers are ignored", func(t *testing.T) {
		plain := newStack(t)
		k := plain.create(t, plain.acct, "/api-keys", `{"description":"v4","allowedIps":["203.0.113.0/24"]}`)
		for _, h := range [][]string{
			{"X-Forwarded-For", "203.0.113.7"},
			{"Forwarded", "for=203.0.113.7"},
			nil,
		} {
			before := plain.Snapshot(t)
			resp, body := plain.call(t, "GET", "/api-keys", k.SecretKey, "", h...)
			wantProblem(t, resp, body, http.StatusForbidden)
			wantUnchanged(t, plain, before)
		}
		wantNoErrorLogged(t, plain)
	})
	wantNoErrorLogged(t, s)
}

// TestNonPublicAllowedIPs: private, loopback, link-local and other
// non-public ranges (and anything overlapping them) are refused unless the
// deployment allows them.
func TestNonPublicAllowedIPs(t *testing.T) {
	public := newStack(t)
	private := newStackWithConfig(t, web.Config{AllowPrivateIPs: true})
	cases := []struct{ in, shown string }{
		{"10.1.2.3", "10.1.2.3"},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"172.16.0.0/12", "172.16.0.0/12"},
		{"192.168.1.0/24", "192.168.1.0/24"},
		{"127.0.0.1", "127.0.0.1"},
		{"169.254.1.1", "169.254.1.1"},
		{"100.64.0.1", "100.64.0.1"},
		{"100.64.0.0/10", "100.64.0.0/10"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"0.0.0.0", "0.0.0.0"},
		{"8.0.0.0/6", "8.0.0.0/6"},
		{"224.0.0.1", "224.0.0.1"},
		{"::1", "::1"},
		{"::/0", "::/0"},
		{"fd12:3456::1", "fd12:3456::1"},
		{"fc00::/7", "fc00::/7"},
		{"fe80::1", "fe80::1"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			body := fmt.Sprintf(`{"description":"x","allowedIps":["203.0.113.1",%q]}`, tc.in)
			before := public.Snapshot(t)
			resp, got := public.call(t, "POST", "/api-keys", public.acct, body)
			wantProblem(t, resp, got, http.StatusUnprocessableEntity, "allowedIps.1")
			wantUnchanged(t, public, before)

			k := private.create(t, private.acct, "/api-keys", body)
			wantJSON(t, "allowedIps", k.AllowedIPs, fmt.Sprintf(`["203.0.113.1",%q]`, tc.shown))
		})
	}
	t.Run("PUT update is checked too", func(t *testing.T) {
		k := public.create(t, public.acct, "/api-keys", `{"description":"x","allowedIps":["203.0.113.1"]}`)
		before := public.Snapshot(t)
		resp, body := public.call(t, "PUT", "/api-keys/"+k.ID, public.acct, `{"description":"x","allowedIps":["192.168.0.1"]}`)
		wantProblem(t, resp, body, http.StatusUnprocessableEntity, "allowedIps.0")
		wantUnchanged(t, public, before)
	})
	t.Run("a private deployment's key works from a private address", func(t *testing.T) {
		k := private.create(t, private.acct, "/api-keys", `{"description":"loopback","allowedIps":["127.0.0.1"]}`)
		ids, _, _, _ := private.list(t, k.SecretKey, "/api-keys")
		if len(ids) == 0 {
			t.Fatal("no keys listed")
		}
	})
	wantNoErrorLogged(t, public)
	wantNoErrorLogged(t, private)
}
