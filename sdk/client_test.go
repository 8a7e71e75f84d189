package sdk_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/sdk"
)

// admin is a client with the server's first account key: every permission.
func admin() *sdk.Client { return sdk.New(latchkeyURL, adminKey) }

// newApp makes an app for one test, so that tests running side by side do
// not see one another's keys.
func newApp(t *testing.T) *sdk.App {
	t.Helper()
	app, err := admin().CreateApp(t.Context(), sdk.CreateAppRequest{Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// newKey makes a key with the admin client.
func newKey(t *testing.T, req sdk.CreateKeyRequest) *sdk.Key {
	t.Helper()
	if req.Name == "" {
		req.Name = t.Name()
	}
	k, err := admin().CreateKey(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if k.Secret == "" {
		t.Fatal("CreateKey returned no secret")
	}
	return k
}

// apiError returns err as an *sdk.Error, or fails.
func apiError(t *testing.T, err error) *sdk.Error {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *sdk.Error", err, err)
	}
	return e
}

func TestKeyRoundTrip(t *testing.T) {
	t.Parallel()
	ctx, c := t.Context(), admin()
	app := newApp(t)
	owner := &sdk.Owner{Type: sdk.OwnerApp, ID: app.ID}
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)

	created := newKey(t, sdk.CreateKeyRequest{
		Name:        "Round trip",
		Owner:       owner,
		Prefix:      "rt",
		Permissions: []string{"orders.read", "orders.items.*"},
		ACL:         []sdk.ACLEntry{{Scope: sdk.ACLScope{ProductID: []string{"p1"}}, Permissions: []string{"billing.read"}}},
		AllowedIPs:  []string{"203.0.113.0/24", "198.51.100.7"},
		ExpiresAt:   &expires,
		RateLimit:   &sdk.RateLimit{Limit: 100, Period: time.Minute},
		Metadata:    map[string]any{"crm": "c_42", "seats": 3.0, "nested": map[string]any{"a": true}},
		Enabled:     new(true),
	})
	want := sdk.Key{
		ID: created.ID, Name: "Round trip", Owner: *owner, Type: sdk.KeyTypeSecret, Prefix: "rt",
		Permissions: []string{"orders.read", "orders.items.*"},
		ACL:         []sdk.ACLEntry{{Scope: sdk.ACLScope{ProductID: []string{"p1"}}, Permissions: []string{"billing.read"}}},
		AllowedIPs:  []string{"203.0.113.0/24", "198.51.100.7"},
		ExpiresAt:   &expires,
		RateLimit:   &sdk.RateLimit{Limit: 100, Period: time.Minute},
		Metadata:    map[string]any{"crm": "c_42", "seats": 3.0, "nested": map[string]any{"a": true}},
		Enabled:     true,
		CreatedAt:   created.CreatedAt, UpdatedAt: created.UpdatedAt,
		Secret: created.Secret,
	}
	if !strings.HasPrefix(created.ID, "key_") || !strings.HasPrefix(created.Secret.Reveal(), "rt_sk_live_") {
		t.Fatalf("id %q, secret prefix wrong", created.ID)
	}
	if !reflect.DeepEqual(*created, want) {
		t.Fatalf("created\n%+v\nwant\n%+v", *created, want)
	}
	if time.Since(created.CreatedAt) > time.Minute || created.LastUsedAt != nil {
		t.Fatalf("createdAt %v, lastUsedAt %v", created.CreatedAt, created.LastUsedAt)
	}

	got, err := c.GetKey(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	want.Secret = "" // shown once, never again
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", *got, want)
	}

	// PATCH: what is sent replaces, what is not stays.
	updated, err := c.UpdateKey(ctx, created.ID, sdk.UpdateKeyRequest{
		Name:     new("Renamed"),
		Metadata: map[string]any{"crm": "c_43"},
		Enabled:  new(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Name != "Renamed" || updated.Enabled || !reflect.DeepEqual(updated.Metadata, map[string]any{"crm": "c_43"}) ||
		!reflect.DeepEqual(updated.Permissions, want.Permissions) || updated.RateLimit == nil || updated.ExpiresAt == nil {
		t.Fatalf("after a PATCH: %+v", updated)
	}
	// Clear flags send null; an empty slice is sent, and means none.
	cleared, err := c.UpdateKey(ctx, created.ID, sdk.UpdateKeyRequest{
		Permissions:     []string{},
		ClearAllowedIPs: true, ClearExpiresAt: true, ClearRateLimit: true, ClearMetadata: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if cleared.AllowedIPs != nil || cleared.ExpiresAt != nil || cleared.RateLimit != nil || cleared.Metadata != nil ||
		len(cleared.Permissions) != 0 || !reflect.DeepEqual(cleared.ACL, want.ACL) || cleared.Name != "Renamed" {
		t.Fatalf("after clearing: %+v", cleared)
	}
	if _, err := c.UpdateKey(ctx, created.ID, sdk.UpdateKeyRequest{Metadata: map[string]any{}, ClearMetadata: true}); !errors.Is(err, sdk.ErrConflictingPatch) {
		t.Fatalf("set and clear: %v, want ErrConflictingPatch", err)
	}

	if err := c.DeleteKey(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetKey(ctx, created.ID); !sdk.IsNotFound(err) {
		t.Fatalf("after delete: %v, want not found", err)
	}
	if err := c.DeleteKey(ctx, created.ID); !sdk.IsNotFound(err) {
		t.Fatalf("deleting twice: %v, want not found", err)
	}
}

func TestListKeys(t *testing.T) {
	t.Parallel()
	ctx, c := t.Context(), admin()
	app := newApp(t)
	owner := &sdk.Owner{Type: sdk.OwnerApp, ID: app.ID}
	var ids []string
	for i := range 5 {
		ids = append(ids, newKey(t, sdk.CreateKeyRequest{Name: fmt.Sprint("key ", i), Owner: owner}).ID)
	}
	slices.Sort(ids) // lists are in id order

	first, err := c.ListKeys(ctx, sdk.ListKeysOptions{Owner: owner, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Data) != 2 || first.Data[0].ID != ids[0] || first.Data[1].ID != ids[1] || first.NextCursor == "" {
		t.Fatalf("first page: %+v", first)
	}
	if first.Data[0].Secret != "" {
		t.Fatal("a list shows a secret")
	}
	var paged []string
	for p := first; ; {
		for _, k := range p.Data {
			paged = append(paged, k.ID)
		}
		if p.NextCursor == "" {
			break
		}
		if p, err = c.ListKeys(ctx, sdk.ListKeysOptions{Owner: owner, Limit: 2, Cursor: p.NextCursor}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(paged, ids) {
		t.Fatalf("paged %v, want %v", paged, ids)
	}

	var all []string
	for k, err := range c.AllKeys(ctx, sdk.ListKeysOptions{Owner: owner, Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, k.ID)
	}
	if !slices.Equal(all, ids) {
		t.Fatalf("AllKeys %v, want %v", all, ids)
	}
	// Breaking out of the loop stops the iteration.
	n := 0
	for range c.AllKeys(ctx, sdk.ListKeysOptions{Owner: owner, Limit: 1}) {
		if n++; n == 2 {
			break
		}
	}
	// An error is yielded, then the iteration ends.
	var errs []error
	for k, err := range c.AllKeys(ctx, sdk.ListKeysOptions{Owner: owner, Limit: 1000}) {
		if k != nil {
			t.Fatal("a key with an error")
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 || !sdk.IsInvalidRequest(errs[0]) {
		t.Fatalf("errors %v, want one invalid_request", errs)
	}
}

func TestRollKey(t *testing.T) {
	t.Parallel()
	ctx, c := t.Context(), admin()
	k := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"x.read"}})
	s0 := k.Secret.Reveal()

	rolled, err := c.RollKey(ctx, k.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s1 := rolled.Secret.Reveal()
	if s1 == "" || s1 == s0 || rolled.ID != k.ID {
		t.Fatalf("rolled: id %s, a new secret: %v", rolled.ID, s1 != "" && s1 != s0)
	}
	verdict := func(secret string) sdk.Code {
		t.Helper()
		res, err := c.Verify(ctx, sdk.VerifyRequest{Key: secret})
		if err != nil {
			t.Fatal(err)
		}
		return res.Code
	}
	if a, b := verdict(s0), verdict(s1); a != sdk.CodeValid || b != sdk.CodeValid {
		t.Fatalf("within the grace period: old %s, new %s; want both VALID", a, b)
	}

	rolled, err = c.RollKey(ctx, k.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	s2 := rolled.Secret.Reveal()
	if a, b, n := verdict(s0), verdict(s1), verdict(s2); a != sdk.CodeNotFound || b != sdk.CodeNotFound || n != sdk.CodeValid {
		t.Fatalf("after a roll without grace: %s %s %s; want NOT_FOUND NOT_FOUND VALID", a, b, n)
	}
	if _, err := c.RollKey(ctx, k.ID, 10000*time.Hour); !sdk.IsInvalidRequest(err) {
		t.Fatalf("a grace period over 720h: %v, want invalid_request", err)
	}
}

func TestKeyUsage(t *testing.T) {
	t.Parallel()
	ctx, c := t.Context(), admin()
	k := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"x.read"}})
	for range 3 {
		if _, err := c.Verify(ctx, sdk.VerifyRequest{Key: k.Secret.Reveal()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Verify(ctx, sdk.VerifyRequest{Key: k.Secret.Reveal(), Permissions: []string{"x.write"}}); err != nil {
		t.Fatal(err)
	}
	// The server writes usage every few seconds: poll for it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		u, err := c.KeyUsage(ctx, k.ID, sdk.UsageOptions{
			From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Minute), Granularity: sdk.GranularityMinute,
		})
		if err != nil {
			t.Fatal(err)
		}
		if u.KeyID != k.ID || u.Granularity != sdk.GranularityMinute || !u.From.Before(u.To) {
			t.Fatalf("usage: %+v", u)
		}
		var valid, refused int64
		for _, b := range u.Buckets {
			valid += b.Counts[sdk.CodeValid]
			refused += b.Counts[sdk.CodeInsufficientPermissions]
		}
		if valid == 3 && refused == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage after 30 s: %+v", u)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The defaults: the last 24 hours, by hour.
	u, err := c.KeyUsage(ctx, k.ID, sdk.UsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u.Granularity != sdk.GranularityHour || u.To.Sub(u.From) != 24*time.Hour {
		t.Fatalf("default usage: %+v", u)
	}
	if _, err := c.KeyUsage(ctx, k.ID, sdk.UsageOptions{Granularity: "week"}); !sdk.IsInvalidRequest(err) {
		t.Fatalf("granularity week: %v", err)
	}
}

func TestWhoAmI(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	me, err := admin().WhoAmI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.ID != adminKeyID || me.Owner.Type != sdk.OwnerAccount || !slices.Equal(me.Permissions, []string{"*"}) || me.Secret != "" {
		t.Fatalf("whoami: %+v", me)
	}
	// Any secret key may ask, whatever its permissions; HTTP Basic works too.
	k := newKey(t, sdk.CreateKeyRequest{})
	for _, cred := range []string{k.Secret.Reveal(), k.ID + ":" + k.Secret.Reveal()} {
		me, err := sdk.New(latchkeyURL, cred).WhoAmI(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if me.ID != k.ID || len(me.Permissions) != 0 {
			t.Fatalf("whoami: %+v", me)
		}
	}
}

func TestAppRoundTrip(t *testing.T) {
	t.Parallel()
	ctx, c := t.Context(), admin()
	app, err := c.CreateApp(ctx, sdk.CreateAppRequest{Name: "Shop", Metadata: map[string]any{"tier": "gold", "seats": 5.0, "beta": true}})
	if err != nil {
		t.Fatal(err)
	}
	if app.ID == "" || app.Name != "Shop" || app.Metadata["tier"] != "gold" || app.CreatedAt.IsZero() {
		t.Fatalf("created: %+v", app)
	}
	got, err := c.GetApp(ctx, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, app) {
		t.Fatalf("got %+v, want %+v", got, app)
	}

	updated, err := c.UpdateApp(ctx, app.ID, sdk.UpdateAppRequest{Name: new("Shop EU")})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Name != "Shop EU" || !reflect.DeepEqual(updated.Metadata, app.Metadata) {
		t.Fatalf("renamed: %+v", updated)
	}
	updated, err = c.UpdateApp(ctx, app.ID, sdk.UpdateAppRequest{Metadata: map[string]any{"tier": "silver"}})
	if err != nil || !reflect.DeepEqual(updated.Metadata, map[string]any{"tier": "silver"}) {
		t.Fatalf("new metadata: %+v, %v", updated, err)
	}
	updated, err = c.UpdateApp(ctx, app.ID, sdk.UpdateAppRequest{ClearMetadata: true})
	if err != nil || updated.Metadata != nil || updated.Name != "Shop EU" {
		t.Fatalf("cleared metadata: %+v, %v", updated, err)
	}
	if _, err := c.UpdateApp(ctx, app.ID, sdk.UpdateAppRequest{Metadata: map[string]any{}, ClearMetadata: true}); !errors.Is(err, sdk.ErrConflictingPatch) {
		t.Fatalf("set and clear: %v", err)
	}

	// Listing: other tests make apps at the same time, so look for ours.
	more := []string{app.ID, newApp(t).ID, newApp(t).ID}
	first, err := c.ListApps(ctx, sdk.ListAppsOptions{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Data) != 1 || first.NextCursor == "" {
		t.Fatalf("first page: %+v", first)
	}
	var seen []string
	for a, err := range c.AllApps(ctx, sdk.ListAppsOptions{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, a.ID)
	}
	if !slices.IsSorted(seen) {
		t.Fatalf("apps not in id order: %v", seen)
	}
	for _, id := range more {
		if !slices.Contains(seen, id) {
			t.Fatalf("AllApps misses %s: %v", id, seen)
		}
	}

	// Deleting an app deletes its keys.
	k := newKey(t, sdk.CreateKeyRequest{Owner: &sdk.Owner{Type: sdk.OwnerApp, ID: app.ID}})
	if err := c.DeleteApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetApp(ctx, app.ID); !sdk.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := c.GetKey(ctx, k.ID); !sdk.IsNotFound(err) {
		t.Fatalf("the app's key after the app's delete: %v", err)
	}
}

func TestVerifyFields(t *testing.T) {
	t.Parallel()
	ctx, c := t.Context(), admin()
	app := newApp(t)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	k := newKey(t, sdk.CreateKeyRequest{
		Owner:       &sdk.Owner{Type: sdk.OwnerApp, ID: app.ID},
		Permissions: []string{"orders.*"},
		ACL:         []sdk.ACLEntry{{Scope: sdk.ACLScope{ProductID: []string{"p1"}}, Permissions: []string{"billing.read"}}},
		AllowedIPs:  []string{"203.0.113.0/24"},
		ExpiresAt:   &expires,
		RateLimit:   &sdk.RateLimit{Limit: 10, Period: time.Hour},
		Metadata:    map[string]any{"crm": "c_1"},
	})
	res, err := c.Verify(ctx, sdk.VerifyRequest{
		Key: k.Secret.Reveal(), Apps: []string{app.ID}, Permissions: []string{"orders.write", "billing.read"},
		Scope: &sdk.VerifyScope{ProductID: "p1"}, IP: "203.0.113.9", Cost: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &sdk.VerifyResult{
		Valid: true, Code: sdk.CodeValid, KeyID: k.ID, Owner: &sdk.Owner{Type: sdk.OwnerApp, ID: app.ID}, Name: k.Name,
		Permissions: []string{"orders.*"}, Metadata: map[string]any{"crm": "c_1"}, ExpiresAt: &expires,
		RateLimit: &sdk.RateLimitStatus{Limit: 10, Remaining: 8, Reset: res.RateLimit.Reset},
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("verdict\n%+v\nwant\n%+v", res, want)
	}
	for _, tc := range []struct {
		req  sdk.VerifyRequest
		want sdk.Code
	}{
		{sdk.VerifyRequest{IP: "198.51.100.1"}, sdk.CodeIPNotAllowed},
		{sdk.VerifyRequest{}, sdk.CodeIPNotAllowed},                                                                    // no address: refused by a key with allowed addresses
		{sdk.VerifyRequest{IP: "203.0.113.9", Permissions: []string{"billing.read"}}, sdk.CodeInsufficientPermissions}, // out of scope
		{sdk.VerifyRequest{IP: "203.0.113.9", Apps: []string{newApp(t).ID}}, sdk.CodeNotFound},
	} {
		tc.req.Key = k.Secret.Reveal()
		res, err := c.Verify(ctx, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Code != tc.want || res.Valid {
			t.Fatalf("%+v: %s, want %s", tc.req, res.Code, tc.want)
		}
	}
	if _, err := c.Verify(ctx, sdk.VerifyRequest{}); !errors.Is(err, sdk.ErrNoCredential) {
		t.Fatalf("no credential: %v", err)
	}
	_, err = c.Verify(ctx, sdk.VerifyRequest{Key: k.Secret.Reveal(), IP: "not an ip", Cost: -1})
	if e := apiError(t, err); e.Status != http.StatusBadRequest || !hasFields(e, "ip", "cost") {
		t.Fatalf("bad verify request: %+v", e)
	}
}

func hasFields(e *sdk.Error, fields ...string) bool {
	for _, f := range fields {
		if !slices.ContainsFunc(e.Fields, func(fe sdk.FieldError) bool { return fe.Field == f && fe.Message != "" }) {
			return false
		}
	}
	return true
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ctx, c := t.Context(), admin()

	// 404
	_, err := c.GetKey(ctx, "key_01JNOSUCHKEY0000000000000")
	if e := apiError(t, err); e.Status != 404 || e.Code != sdk.ErrorCodeNotFound || e.Message == "" || !sdk.IsNotFound(err) {
		t.Fatalf("404: %+v", e)
	}
	if _, err := c.GetApp(ctx, "nope/../../v1/keys"); !sdk.IsNotFound(err) {
		t.Fatalf("an id is a path segment: %v", err)
	}

	// 400, every field at fault at once
	_, err = c.CreateKey(ctx, sdk.CreateKeyRequest{
		Permissions: []string{"bad permission!"},
		AllowedIPs:  []string{"not-an-ip"},
		RateLimit:   &sdk.RateLimit{Limit: 0, Period: time.Nanosecond},
	})
	e := apiError(t, err)
	if e.Status != 400 || e.Code != sdk.ErrorCodeInvalidRequest || !sdk.IsInvalidRequest(err) ||
		!hasFields(e, "name", "permissions.0", "allowedIps.0", "rateLimit.limit", "rateLimit.period") {
		t.Fatalf("400: %+v", e)
	}
	if !strings.Contains(err.Error(), "permissions.0") || !strings.HasPrefix(err.Error(), "latchkey: 400 invalid_request: ") {
		t.Fatalf("400 message: %s", err)
	}
	// An empty list is sent, not dropped, and refused.
	if _, err := c.CreateKey(ctx, sdk.CreateKeyRequest{Name: "x", AllowedIPs: []string{}}); !hasFields(apiError(t, err), "allowedIps") {
		t.Fatalf("empty allowedIps: %v", err)
	}

	// 403: a key without the permission. The message names no secret.
	weak := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"orders.read"}})
	wc := sdk.New(latchkeyURL, weak.Secret.Reveal())
	_, err = wc.ListKeys(ctx, sdk.ListKeysOptions{})
	if e := apiError(t, err); e.Status != 403 || e.Code != sdk.ErrorCodeForbidden || !sdk.IsForbidden(err) {
		t.Fatalf("403: %+v", e)
	}
	if _, err := wc.Verify(ctx, sdk.VerifyRequest{Key: weak.Secret.Reveal()}); !sdk.IsForbidden(err) || strings.Contains(err.Error(), weak.Secret.Reveal()) {
		t.Fatalf("verify without VerifyKey: %v", err)
	}

	// 401
	bogus := "sk_live_" + strings.Repeat("A", 49)
	_, err = sdk.New(latchkeyURL, bogus).WhoAmI(ctx)
	if e := apiError(t, err); e.Status != 401 || !sdk.IsUnauthorized(err) || strings.Contains(err.Error(), bogus) {
		t.Fatalf("401: %v", err)
	}

	// 409: a key deleting itself
	self := newKey(t, sdk.CreateKeyRequest{Permissions: []string{"DeleteKey", "GetKey"}})
	if err := sdk.New(latchkeyURL, self.Secret.Reveal()).DeleteKey(ctx, self.ID); !sdk.IsConflict(err) {
		t.Fatalf("deleting itself: %v", err)
	}

	// Not an *Error: a network failure, which names no secret either.
	_, err = sdk.New(closedURL(t), weak.Secret.Reveal()).WhoAmI(ctx)
	var ae *sdk.Error
	if err == nil || errors.As(err, &ae) || strings.Contains(err.Error(), weak.Secret.Reveal()) {
		t.Fatalf("network failure: %v", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("network failure %v does not wrap its cause", err)
	}
}

// closedURL is the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestResponsesAreBounded(t *testing.T) {
	t.Parallel()
	var mode atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case "huge":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"`))
			io.Copy(w, io.LimitReader(zeros{}, sdk.MaxResponseBytes+1))
		case "huge error":
			w.WriteHeader(http.StatusForbidden)
			io.Copy(w, io.LimitReader(zeros{}, 1<<20))
		case "proxy page":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html>upstream sk_live_leaked went away</html>"))
		}
	}))
	defer srv.Close()
	c := sdk.New(srv.URL, "sk_live_whatever")

	mode.Store("huge")
	if _, err := c.WhoAmI(t.Context()); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("a huge answer: %v", err)
	}
	mode.Store("huge error")
	_, err := c.WhoAmI(t.Context())
	if e := apiError(t, err); e.Status != 403 || e.Code != "" || e.Message != "Forbidden" || !sdk.IsForbidden(err) {
		t.Fatalf("a huge error: %+v", e)
	}
	mode.Store("proxy page")
	_, err = c.WhoAmI(t.Context())
	if e := apiError(t, err); e.Status != 502 || e.Code != "" || e.Message != "Bad Gateway" || strings.Contains(err.Error(), "sk_live") {
		t.Fatalf("a proxy's page: %+v", e)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

func TestRequestsCarryCredentialsAndUserAgent(t *testing.T) {
	t.Parallel()
	headers := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/whoami" {
			http.NotFound(w, r)
			return
		}
		headers <- r.Header.Clone()
		w.Write([]byte(`{"id":"key_1"}`))
	}))
	defer srv.Close()

	if _, err := sdk.New(srv.URL+"/", "sk_live_abc").WhoAmI(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := <-headers
	if got.Get("Authorization") != "Bearer sk_live_abc" || !strings.HasPrefix(got.Get("User-Agent"), "latchkey-go-sdk/") {
		t.Fatalf("headers: %v", got)
	}
	if _, err := sdk.New(srv.URL, "key_1:sk_live_abc", sdk.WithUserAgent("shop/1.0")).WhoAmI(t.Context()); err != nil {
		t.Fatal(err)
	}
	got = <-headers
	r := &http.Request{Header: got}
	if id, secret, ok := r.BasicAuth(); !ok || id != "key_1" || secret != "sk_live_abc" || got.Get("User-Agent") != "shop/1.0" {
		t.Fatalf("basic: %v", got)
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	t.Parallel()
	k := newKey(t, sdk.CreateKeyRequest{})
	secret := k.Secret.Reveal()
	c := sdk.New(latchkeyURL, secret)
	printed := fmt.Sprintf("%v %+v %#v %s %q %x %d %v %+v %#v", k, k, k, k.Secret, k.Secret, k.Secret, k.Secret, c, c, *c)
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	logger.Info("made", "key", k, "secret", k.Secret, "client", c)
	for _, out := range []string{printed, buf.String()} {
		if strings.Contains(out, secret) || strings.Contains(out, secret[len(secret)-12:]) {
			t.Fatalf("a secret printed: %s", out)
		}
	}
	if !strings.Contains(printed, "[REDACTED]") {
		t.Fatalf("no redaction marker: %s", printed)
	}
	if k.Secret.String() != "[REDACTED]" || sdk.Secret("").String() != "" || string(k.Secret) != secret {
		t.Fatal("Secret's forms")
	}
}
