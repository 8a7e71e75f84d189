package native_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
)

var (
	keyIDPattern  = regexp.MustCompile(`^key_[0-9A-Z]{26}$`)
	secretPattern = regexp.MustCompile(`^sk_live_[A-Za-z0-9_-]{49}$`)
	appIDPattern  = regexp.MustCompile(`^[0-9a-f]{24}$`)
)

// missingApp is a well-formed app id no app has.
const missingApp = "000000000000000000000000"

// stack is an in-process Latchkey; admin is the bootstrap key's secret.
type stack struct {
	*lktest.Stack
	admin string
}

func newStack(t *testing.T) *stack { return newStackWithConfig(t, web.Config{}) }

func newStackWithConfig(t *testing.T, cfg web.Config) *stack {
	s := lktest.NewWithConfig(t, cfg)
	return &stack{Stack: s, admin: s.Account.Secret}
}

// call sends a request with secret as a Bearer token (no Authorization if
// secret is empty) and the extra header pairs.
func (s *stack) call(t *testing.T, method, path, secret, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	auth := ""
	if secret != "" {
		auth = "Bearer " + secret
	}
	return s.Do(t, method, path, auth, body, headers...)
}

// key is the key JSON as a client reads it; members that may be null or
// absent stay raw so that null, [] and absence can be told apart.
type key struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Owner struct {
		Type, ID, AppID string
	} `json:"owner"`
	Type        string          `json:"type"`
	Prefix      string          `json:"prefix"`
	Permissions []string        `json:"permissions"`
	ACL         json.RawMessage `json:"acl"`
	AllowedIPs  json.RawMessage `json:"allowedIps"`
	ExpiresAt   json.RawMessage `json:"expiresAt"`
	RateLimit   json.RawMessage `json:"rateLimit"`
	Metadata    json.RawMessage `json:"metadata"`
	Enabled     bool            `json:"enabled"`
	CreatedAt   string          `json:"createdAt"`
	UpdatedAt   string          `json:"updatedAt"`
	LastUsedAt  json.RawMessage `json:"lastUsedAt"`
	Secret      string          `json:"secret"`
}

type app struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt string          `json:"createdAt"`
	UpdatedAt string          `json:"updatedAt"`
}

type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body %s does not decode: %v", body, err)
	}
	return v
}

// createKey POSTs a key body with secret and returns the new key.
func (s *stack) createKey(t *testing.T, secret, body string) key {
	t.Helper()
	resp, got := s.call(t, "POST", "/v1/keys", secret, body)
	wantStatus(t, resp, got, http.StatusCreated)
	k := decode[key](t, got)
	if k.Secret == "" {
		t.Fatalf("created key's secret = %q", k.Secret)
	}
	return k
}

// getKey GETs a key with the admin key.
func (s *stack) getKey(t *testing.T, id string) key {
	t.Helper()
	resp, body := s.call(t, "GET", "/v1/keys/"+id, s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	return decode[key](t, body)
}

// createApp POSTs an app with the admin key and returns its id.
func (s *stack) createApp(t *testing.T, name string) string {
	t.Helper()
	resp, body := s.call(t, "POST", "/v1/apps", s.admin, `{"name":"`+name+`"}`)
	wantStatus(t, resp, body, http.StatusCreated)
	return decode[app](t, body).ID
}

// createIntegration makes a custom integration in an app, through the core.
func (s *stack) createIntegration(t *testing.T, appID string) string {
	t.Helper()
	in, err := s.Svc.CreateIntegration(t.Context(), s.Principal(t), appID, &latchkey.Integration{Type: latchkey.IntegrationTypeCustom})
	if err != nil {
		t.Fatal(err)
	}
	return in.ID
}

// wantStatus checks a response's status and that a body, if any, is JSON.
func wantStatus(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status = %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if status == http.StatusNoContent {
		if len(body) != 0 {
			t.Fatalf("204 with a body: %s", body)
		}
		return
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type = %q, want application/json", resp.Request.Method, resp.Request.URL.Path, ct)
	}
}

// wantError checks a response is this surface's error with this status and
// code, and, for invalid_request, exactly these fields (in any order).
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string, fields ...string) {
	t.Helper()
	wantStatus(t, resp, body, status)
	var e struct {
		Error *struct {
			Code    string
			Message string
			Fields  *[]struct{ Field, Message string }
		}
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil {
		t.Fatalf("body %s is not {\"error\":{…}}: %v", body, err)
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error = %s, want code %q and a message", body, code)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="latchkey"`) {
		t.Errorf("401 with WWW-Authenticate %q, want Bearer", resp.Header.Get("WWW-Authenticate"))
	}
	if code != "invalid_request" {
		if e.Error.Fields != nil {
			t.Errorf("%s carries fields: %s", code, body)
		}
		return
	}
	if e.Error.Fields == nil {
		t.Fatalf("invalid_request without fields: %s", body)
	}
	got := []string{}
	for _, f := range *e.Error.Fields {
		if f.Message == "" {
			t.Errorf("field %q has no message", f.Field)
		}
		got = append(got, f.Field)
	}
	slices.Sort(got)
	want := append([]string{}, fields...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("fields = %q, want %q; body %s", got, want, body)
	}
}

// canon re-encodes JSON with sorted object members, so that documents can
// be compared whatever order their members come in.
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
		t.Errorf("%s = %s, want %s", what, got, want)
	}
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

func webConfigAllowingPrivate() web.Config { return web.Config{AllowPrivateIPs: true} }
