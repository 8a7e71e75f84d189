package native_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

func TestApps(t *testing.T) {
	s := newStack(t)
	start := time.Now().Add(-time.Second)

	resp, body := s.call(t, "POST", "/v1/apps", s.admin, `{"name":"My App","metadata":{"tier":"gold","seats":5,"beta":true}}`)
	wantStatus(t, resp, body, http.StatusCreated)
	a := decode[app](t, body)
	if !appIDPattern.MatchString(a.ID) || a.Name != "My App" {
		t.Fatalf("created app = %s", body)
	}
	wantJSON(t, "metadata", a.Metadata, `{"tier":"gold","seats":5,"beta":true}`)
	for _, ts := range []string{a.CreatedAt, a.UpdatedAt} {
		if tm, err := time.Parse(time.RFC3339, ts); err != nil || !strings.HasSuffix(ts, "Z") || tm.Before(start.Truncate(time.Second)) {
			t.Errorf("timestamp %q, want the current time in RFC 3339 UTC", ts)
		}
	}
	var members map[string]any
	_ = json.Unmarshal(body, &members)
	if len(members) != 5 {
		t.Errorf("app members = %v, want id, name, metadata, createdAt, updatedAt", members)
	}

	resp, body = s.call(t, "GET", "/v1/apps/"+a.ID, s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	if canon(t, string(body)) != canon(t, mustJSON(t, a)) {
		t.Errorf("GET = %s, want what POST returned", body)
	}

	// The Sunshine surface shows the same app.
	resp, body = s.Do(t, "GET", "/v2/apps/"+a.ID, s.Account.Basic(), "")
	wantStatus(t, resp, body, http.StatusOK)
	if !strings.Contains(string(body), `"displayName":"My App"`) {
		t.Errorf("Sunshine GET = %s", body)
	}

	// PATCH: name only keeps metadata; metadata replaces; null clears.
	for _, step := range []struct{ body, name, md string }{
		{`{"name":"Renamed"}`, "Renamed", `{"tier":"gold","seats":5,"beta":true}`},
		{`{"metadata":{"tier":"silver"}}`, "Renamed", `{"tier":"silver"}`},
		{`{"metadata":null}`, "Renamed", `null`},
		{`{}`, "Renamed", `null`},
	} {
		resp, body = s.call(t, "PATCH", "/v1/apps/"+a.ID, s.admin, step.body)
		wantStatus(t, resp, body, http.StatusOK)
		got := decode[app](t, body)
		if got.ID != a.ID || got.Name != step.name || got.CreatedAt != a.CreatedAt {
			t.Errorf("PATCH %s = %s", step.body, body)
		}
		wantJSON(t, "metadata after PATCH "+step.body, got.Metadata, step.md)
	}

	// List: one page holds both apps, in id order (object ids order by the
	// second they were made in, then at random).
	b := s.createApp(t, "Second")
	first, second := a.ID, b
	if second < first {
		first, second = second, first
	}
	resp, body = s.call(t, "GET", "/v1/apps", s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	list := decode[page[app]](t, body)
	if len(list.Data) != 2 || list.Data[0].ID != first || list.Data[1].ID != second || list.NextCursor != nil {
		t.Errorf("GET /v1/apps = %s", body)
	}
	// And by pages of one.
	resp, body = s.call(t, "GET", "/v1/apps?limit=1", s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	list = decode[page[app]](t, body)
	if len(list.Data) != 1 || list.NextCursor == nil || *list.NextCursor != first {
		t.Fatalf("first page = %s", body)
	}
	resp, body = s.call(t, "GET", "/v1/apps?limit=1&cursor="+*list.NextCursor, s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	list = decode[page[app]](t, body)
	if len(list.Data) != 1 || list.Data[0].ID != second || list.NextCursor != nil {
		t.Fatalf("second page = %s", body)
	}

	resp, body = s.call(t, "DELETE", "/v1/apps/"+a.ID, s.admin, "")
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = s.call(t, "GET", "/v1/apps/"+a.ID, s.admin, "")
	wantError(t, resp, body, http.StatusNotFound, "not_found")
	wantNoErrorLogged(t, s)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKeyShape checks every member of a new key, and that the secret is
// shown once: in the answer to create, never on get, list or whoami.
func TestKeyShape(t *testing.T) {
	s := newStack(t)
	appID := s.createApp(t, "A")
	start := time.Now().Add(-time.Second)

	t.Run("minimal management key", func(t *testing.T) {
		resp, body := s.call(t, "POST", "/v1/keys", s.admin, `{"name":"CI","permissions":["*"]}`)
		wantStatus(t, resp, body, http.StatusCreated)
		k := decode[key](t, body)
		if !keyIDPattern.MatchString(k.ID) || k.Name != "CI" || k.Type != "secret" || k.Prefix != "" || !k.Enabled {
			t.Fatalf("created = %s", body)
		}
		if resp.Header.Get("Location") != s.Server.URL+"/v1/keys/"+k.ID {
			t.Errorf("Location = %q", resp.Header.Get("Location"))
		}
		if !secretPattern.MatchString(k.Secret) {
			t.Errorf("secret = %q", k.Secret)
		}
		if k.Owner.Type != "account" || k.Owner.ID != s.Account.AccountID || k.Owner.AppID != "" {
			t.Errorf("owner = %+v, want the account", k.Owner)
		}
		if len(k.Permissions) != 1 || k.Permissions[0] != "*" {
			t.Errorf("permissions = %q", k.Permissions)
		}
		for name, raw := range map[string]json.RawMessage{"allowedIps": k.AllowedIPs, "expiresAt": k.ExpiresAt,
			"rateLimit": k.RateLimit, "metadata": k.Metadata, "lastUsedAt": k.LastUsedAt} {
			wantJSON(t, name, raw, "null")
		}
		wantJSON(t, "acl", k.ACL, `[]`)
		for _, ts := range []string{k.CreatedAt, k.UpdatedAt} {
			if tm, err := time.Parse(time.RFC3339, ts); err != nil || !strings.HasSuffix(ts, "Z") || tm.Before(start.Truncate(time.Second)) {
				t.Errorf("timestamp %q", ts)
			}
		}
		// Every member, and nothing else.
		var m map[string]json.RawMessage
		_ = json.Unmarshal(body, &m)
		want := []string{"id", "name", "owner", "type", "prefix", "permissions", "acl", "allowedIps", "expiresAt",
			"rateLimit", "metadata", "enabled", "createdAt", "updatedAt", "lastUsedAt", "secret"}
		if len(m) != len(want) {
			t.Errorf("members = %d, want %d: %s", len(m), len(want), body)
		}
		for _, name := range want {
			if _, ok := m[name]; !ok {
				t.Errorf("member %s is missing", name)
			}
		}

		// Get, list and whoami: the same key, without its secret.
		resp, got := s.call(t, "GET", "/v1/keys/"+k.ID, s.admin, "")
		wantStatus(t, resp, got, http.StatusOK)
		withoutSecret := strings.Replace(string(body), `,"secret":"`+k.Secret+`"`, "", 1)
		if canon(t, string(got)) != canon(t, withoutSecret) {
			t.Errorf("GET = %s, want %s", got, withoutSecret)
		}
		resp, got = s.call(t, "GET", "/v1/keys", s.admin, "")
		wantStatus(t, resp, got, http.StatusOK)
		if strings.Contains(string(got), `"secret":`) || strings.Contains(string(got), k.Secret) {
			t.Errorf("the list shows a secret: %s", got)
		}
		resp, got = s.call(t, "GET", "/v1/whoami", k.Secret, "")
		wantStatus(t, resp, got, http.StatusOK)
		if canon(t, string(got)) != canon(t, withoutSecret) {
			t.Errorf("whoami = %s, want %s", got, withoutSecret)
		}
	})

	t.Run("every member", func(t *testing.T) {
		exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
		k := s.createKey(t, s.admin, `{"name":"Customer key","owner":{"type":"app","id":"`+appID+`"},"prefix":"acme",
			"permissions":["orders.read","orders.items.*"],
			"acl":[{"scope":{"productId":["p1","p2"]},"permissions":["billing.read"]}],
			"allowedIps":["203.0.113.7","198.51.100.77/24","2001:db8::/32"],
			"expiresAt":"`+exp+`","rateLimit":{"limit":100,"period":"1m"},
			"metadata":{"customer":"c_42","plan":{"name":"gold","seats":[1,2]}},"enabled":false}`)
		if !strings.HasPrefix(k.Secret, "acme_sk_live_") || k.Prefix != "acme" {
			t.Errorf("prefix %q, secret %q…", k.Prefix, k.Secret[:13])
		}
		if k.Owner.Type != "app" || k.Owner.ID != appID {
			t.Errorf("owner = %+v", k.Owner)
		}
		if strings.Join(k.Permissions, ",") != "orders.read,orders.items.*" {
			t.Errorf("permissions = %q", k.Permissions)
		}
		wantJSON(t, "acl", k.ACL, `[{"scope":{"productId":["p1","p2"]},"permissions":["billing.read"]}]`)
		wantJSON(t, "allowedIps", k.AllowedIPs, `["203.0.113.7","198.51.100.0/24","2001:db8::/32"]`)
		wantJSON(t, "expiresAt", k.ExpiresAt, `"`+exp+`"`)
		wantJSON(t, "rateLimit", k.RateLimit, `{"limit":100,"period":"1m"}`)
		wantJSON(t, "metadata", k.Metadata, `{"customer":"c_42","plan":{"name":"gold","seats":[1,2]}}`)
		if k.Enabled {
			t.Error("enabled = true, want false")
		}
		got := s.getKey(t, k.ID)
		got.Secret = k.Secret
		if mustJSON(t, got) != mustJSON(t, k) {
			t.Errorf("GET = %+v, want %+v", got, k)
		}
	})

	t.Run("integration owner", func(t *testing.T) {
		in := s.createIntegration(t, appID)
		k := s.createKey(t, s.admin, `{"name":"int","owner":{"type":"integration","id":"`+in+`","appId":"`+appID+`"}}`)
		if k.Owner.Type != "integration" || k.Owner.ID != in || k.Owner.AppID != appID {
			t.Errorf("owner = %+v", k.Owner)
		}
	})

	t.Run("publishable", func(t *testing.T) {
		k := s.createKey(t, s.admin, `{"name":"browser","type":"publishable"}`)
		if k.Type != "publishable" || !strings.HasPrefix(k.Secret, "pk_live_") {
			t.Errorf("type %q, secret %q…", k.Type, k.Secret[:8])
		}
		// Publishable keys manage nothing, not even whoami.
		resp, body := s.call(t, "GET", "/v1/whoami", k.Secret, "")
		wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	})
	wantNoErrorLogged(t, s)
}

func TestWhoami(t *testing.T) {
	s := newStack(t)
	resp, body := s.call(t, "GET", "/v1/whoami", s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	me := decode[key](t, body)
	if me.ID != s.Account.ID || me.Secret != "" || me.Owner.Type != "account" || me.Permissions[0] != "*" {
		t.Errorf("whoami = %s", body)
	}
	// Every credential form works.
	resp, body = s.Do(t, "GET", "/v1/whoami", s.Account.Basic(), "")
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = s.Do(t, "GET", "/v1/whoami", "", "", "X-API-Key", s.admin)
	wantStatus(t, resp, body, http.StatusOK)

	for _, auth := range []string{"", "Bearer sk_live_nope", "Basic Zm9vOmJhcg=="} {
		resp, body = s.Do(t, "GET", "/v1/whoami", auth, "")
		wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	}
	// A key restricted to other addresses gets 403 even here.
	k := s.createKey(t, s.admin, `{"name":"far away","allowedIps":["203.0.113.0/24"]}`)
	resp, body = s.call(t, "GET", "/v1/whoami", k.Secret, "")
	wantError(t, resp, body, http.StatusForbidden, "forbidden")
}

// TestUsage reads counts the store holds, in buckets.
func TestUsage(t *testing.T) {
	s := newStack(t)
	k := s.createKey(t, s.admin, `{"name":"counted"}`)
	h := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	err := s.Store.AddUsage(t.Context(), []latchkey.UsageCount{
		{KeyID: k.ID, Minute: h.Add(time.Minute), Code: latchkey.CodeValid, Count: 2},
		{KeyID: k.ID, Minute: h.Add(59 * time.Minute), Code: latchkey.CodeValid, Count: 3},
		{KeyID: k.ID, Minute: h.Add(61 * time.Minute), Code: latchkey.CodeValid, Count: 5},
		{KeyID: k.ID, Minute: h.Add(61 * time.Minute), Code: latchkey.CodeRateLimited, Count: 1},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := s.call(t, "GET", "/v1/keys/"+k.ID+"/usage", s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	var got struct {
		KeyID       string `json:"keyId"`
		From        string `json:"from"`
		To          string `json:"to"`
		Granularity string `json:"granularity"`
		Buckets     []struct {
			Start  string           `json:"start"`
			Counts map[string]int64 `json:"counts"`
		} `json:"buckets"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	from, _ := time.Parse(time.RFC3339, got.From)
	to, _ := time.Parse(time.RFC3339, got.To)
	if got.KeyID != k.ID || got.Granularity != "hour" || to.Sub(from) != 24*time.Hour || time.Since(to) > time.Minute {
		t.Errorf("usage = %s, want the last 24 hours by hour", body)
	}
	if len(got.Buckets) != 2 || got.Buckets[0].Start != h.Format(time.RFC3339) || got.Buckets[0].Counts["VALID"] != 5 ||
		got.Buckets[1].Counts["VALID"] != 5 || got.Buckets[1].Counts["RATE_LIMITED"] != 1 {
		t.Errorf("buckets = %s", body)
	}

	q := "?from=" + h.Format(time.RFC3339) + "&to=" + h.Add(2*time.Hour).Format(time.RFC3339) + "&granularity=minute"
	resp, body = s.call(t, "GET", "/v1/keys/"+k.ID+"/usage"+q, s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Buckets) != 3 || got.Granularity != "minute" || got.Buckets[2].Start != h.Add(61*time.Minute).Format(time.RFC3339) {
		t.Errorf("by minute = %s", body)
	}
	q = "?from=" + h.Format(time.RFC3339) + "&to=" + h.Add(time.Hour).Format(time.RFC3339) + "&granularity=day"
	resp, body = s.call(t, "GET", "/v1/keys/"+k.ID+"/usage"+q, s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Buckets) != 1 || got.Buckets[0].Counts["VALID"] != 5 {
		t.Errorf("by day over the first hour = %s", body)
	}
}
