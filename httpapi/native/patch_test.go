package native_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPatch: members sent replace, null clears the nullable ones, members
// omitted stay; permissions and acl replace their own part of the ACL.
func TestPatch(t *testing.T) {
	s := newStack(t)
	exp := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	k := s.createKey(t, s.admin, `{"name":"k","prefix":"acme","permissions":["orders.read"],
		"acl":[{"scope":{"planId":["gold"]},"permissions":["orders.write"]}],
		"allowedIps":["203.0.113.0/24"],"expiresAt":"`+exp+`","rateLimit":{"limit":5,"period":"1s"},"metadata":{"a":1}}`)

	steps := []struct {
		name, body string
		check      func(t *testing.T, got key)
	}{
		{"name only", `{"name":"renamed"}`, func(t *testing.T, got key) {
			if got.Name != "renamed" || strings.Join(got.Permissions, ",") != "orders.read" {
				t.Errorf("got %+v", got)
			}
			wantJSON(t, "acl", got.ACL, `[{"scope":{"planId":["gold"]},"permissions":["orders.write"]}]`)
			wantJSON(t, "allowedIps", got.AllowedIPs, `["203.0.113.0/24"]`)
			wantJSON(t, "expiresAt", got.ExpiresAt, `"`+exp+`"`)
			wantJSON(t, "rateLimit", got.RateLimit, `{"limit":5,"period":"1s"}`)
			wantJSON(t, "metadata", got.Metadata, `{"a":1}`)
		}},
		{"permissions replace the unscoped part only", `{"permissions":["orders.*","GetKey"]}`, func(t *testing.T, got key) {
			if strings.Join(got.Permissions, ",") != "orders.*,GetKey" {
				t.Errorf("permissions = %q", got.Permissions)
			}
			wantJSON(t, "acl", got.ACL, `[{"scope":{"planId":["gold"]},"permissions":["orders.write"]}]`)
		}},
		{"acl replaces the scoped part only", `{"acl":[]}`, func(t *testing.T, got key) {
			if strings.Join(got.Permissions, ",") != "orders.*,GetKey" {
				t.Errorf("permissions = %q", got.Permissions)
			}
			wantJSON(t, "acl", got.ACL, `[]`)
		}},
		{"replace the rest", `{"allowedIps":["198.51.100.7"],"rateLimit":{"limit":60,"period":"1h30m"},"metadata":{"b":"x"},"enabled":false}`,
			func(t *testing.T, got key) {
				wantJSON(t, "allowedIps", got.AllowedIPs, `["198.51.100.7"]`)
				wantJSON(t, "rateLimit", got.RateLimit, `{"limit":60,"period":"1h30m"}`)
				wantJSON(t, "metadata", got.Metadata, `{"b":"x"}`)
				if got.Enabled {
					t.Error("still enabled")
				}
			}},
		{"null clears", `{"allowedIps":null,"expiresAt":null,"rateLimit":null,"metadata":null,"enabled":true}`, func(t *testing.T, got key) {
			for name, raw := range map[string][]byte{"allowedIps": got.AllowedIPs, "expiresAt": got.ExpiresAt,
				"rateLimit": got.RateLimit, "metadata": got.Metadata} {
				wantJSON(t, name, raw, "null")
			}
			if !got.Enabled {
				t.Error("not enabled again")
			}
		}},
		{"no permissions at all", `{"permissions":[]}`, func(t *testing.T, got key) {
			if len(got.Permissions) != 0 {
				t.Errorf("permissions = %q", got.Permissions)
			}
			wantJSON(t, "acl", got.ACL, `[]`)
		}},
		{"immutables sent unchanged, read-only members ignored",
			`{"type":"secret","prefix":"acme","owner":{"type":"account","id":"` + s.Account.AccountID + `"},"id":"other","createdAt":"2000-01-01T00:00:00Z","name":"same"}`,
			func(t *testing.T, got key) {
				if got.ID != k.ID || got.CreatedAt != k.CreatedAt || got.Name != "same" {
					t.Errorf("got %+v", got)
				}
			}},
		{"a past expiry is allowed on PATCH", `{"expiresAt":"2001-01-01T00:00:00Z"}`, func(t *testing.T, got key) {
			wantJSON(t, "expiresAt", got.ExpiresAt, `"2001-01-01T00:00:00Z"`)
		}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			resp, body := s.call(t, "PATCH", "/v1/keys/"+k.ID, s.admin, step.body)
			wantStatus(t, resp, body, http.StatusOK)
			got := decode[key](t, body)
			if got.ID != k.ID || got.Secret != "" || got.Prefix != "acme" || got.Type != "secret" || got.CreatedAt != k.CreatedAt {
				t.Fatalf("PATCH = %s", body)
			}
			step.check(t, got)
			if stored := s.getKey(t, k.ID); mustJSON(t, stored) != mustJSON(t, got) {
				t.Errorf("GET = %+v, want what PATCH returned %+v", stored, got)
			}
		})
	}
	// The secret still works after all that: a PATCH does not roll it.
	resp, body := s.call(t, "PATCH", "/v1/keys/"+k.ID, s.admin, `{"expiresAt":null,"permissions":["*"]}`)
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = s.call(t, "GET", "/v1/whoami", k.Secret, "")
	wantStatus(t, resp, body, http.StatusOK)

	t.Run("a disabled key authenticates nowhere until enabled again", func(t *testing.T) {
		for _, c := range []struct {
			body   string
			status int
		}{{`{"enabled":false}`, http.StatusUnauthorized}, {`{"enabled":true}`, http.StatusOK}} {
			resp, body := s.call(t, "PATCH", "/v1/keys/"+k.ID, s.admin, c.body)
			wantStatus(t, resp, body, http.StatusOK)
			resp, body = s.call(t, "GET", "/v1/whoami", k.Secret, "")
			if resp.StatusCode != c.status {
				t.Errorf("after %s, whoami = %d %s; want %d", c.body, resp.StatusCode, body, c.status)
			}
		}
	})

	t.Run("immutables", func(t *testing.T) {
		a := s.createApp(t, "A")
		for _, c := range []struct{ body, field string }{
			{`{"type":"publishable"}`, "type"},
			{`{"prefix":"other"}`, "prefix"},
			{`{"prefix":""}`, "prefix"},
			{`{"owner":{"type":"app","id":"` + a + `"}}`, "owner"},
			{`{"owner":{"type":"account","id":"` + missingApp + `"}}`, "owner"},
		} {
			before := s.Snapshot(t)
			resp, body := s.call(t, "PATCH", "/v1/keys/"+k.ID, s.admin, c.body)
			wantError(t, resp, body, http.StatusBadRequest, "invalid_request", c.field)
			wantUnchanged(t, s, before)
		}
		// Every problem at once.
		resp, body := s.call(t, "PATCH", "/v1/keys/"+k.ID, s.admin, `{"type":"publishable","prefix":"x","name":""}`)
		wantError(t, resp, body, http.StatusBadRequest, "invalid_request", "type", "prefix", "name")
	})
	wantNoErrorLogged(t, s)
}

// TestRoll: grace 0 ends the old secret at once; a grace period keeps both
// working until it ends.
func TestRoll(t *testing.T) {
	s := newStack(t)
	k := s.createKey(t, s.admin, `{"name":"rolled","prefix":"acme"}`)

	t.Run("grace 0 by default", func(t *testing.T) {
		resp, body := s.call(t, "POST", "/v1/keys/"+k.ID+"/roll", s.admin, "")
		wantStatus(t, resp, body, http.StatusOK)
		rolled := decode[key](t, body)
		if rolled.ID != k.ID || rolled.Secret == "" || rolled.Secret == k.Secret || !strings.HasPrefix(rolled.Secret, "acme_sk_live_") {
			t.Fatalf("roll = %s", body)
		}
		resp, body = s.call(t, "GET", "/v1/whoami", k.Secret, "")
		wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
		resp, body = s.call(t, "GET", "/v1/whoami", rolled.Secret, "")
		wantStatus(t, resp, body, http.StatusOK)
		if me := decode[key](t, body); me.ID != k.ID || me.Secret != "" {
			t.Errorf("whoami with the new secret = %s", body)
		}
		k.Secret = rolled.Secret
	})

	t.Run("explicit 0", func(t *testing.T) {
		resp, body := s.call(t, "POST", "/v1/keys/"+k.ID+"/roll", s.admin, `{"gracePeriod":"0"}`)
		wantStatus(t, resp, body, http.StatusOK)
		rolled := decode[key](t, body)
		resp, body = s.call(t, "GET", "/v1/whoami", k.Secret, "")
		wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
		k.Secret = rolled.Secret
	})

	t.Run("grace 1h", func(t *testing.T) {
		resp, body := s.call(t, "POST", "/v1/keys/"+k.ID+"/roll", s.admin, `{"gracePeriod":"1h"}`)
		wantStatus(t, resp, body, http.StatusOK)
		rolled := decode[key](t, body)
		if rolled.Secret == k.Secret {
			t.Fatal("the roll answered the old secret")
		}
		for _, sec := range []string{k.Secret, rolled.Secret} {
			resp, body = s.call(t, "GET", "/v1/whoami", sec, "")
			wantStatus(t, resp, body, http.StatusOK)
		}
	})

	t.Run("over the core's cap", func(t *testing.T) {
		before := s.Snapshot(t)
		resp, body := s.call(t, "POST", "/v1/keys/"+k.ID+"/roll", s.admin, `{"gracePeriod":"721h"}`)
		wantError(t, resp, body, http.StatusBadRequest, "invalid_request", "gracePeriod")
		wantUnchanged(t, s, before)
	})
}

// TestRollGraceEnds: the old secret stops when the grace period ends. The
// service clock is set two hours back before the server sees a request, so
// that a grace of one hour has already ended by the verifier's clock.
func TestRollGraceEnds(t *testing.T) {
	s := newStack(t)
	s.Svc.SetClock(func() time.Time { return time.Now().Add(-2 * time.Hour) })
	k := s.createKey(t, s.admin, `{"name":"rolled"}`)
	resp, body := s.call(t, "POST", "/v1/keys/"+k.ID+"/roll", s.admin, `{"gracePeriod":"1h"}`)
	wantStatus(t, resp, body, http.StatusOK)
	rolled := decode[key](t, body)
	resp, body = s.call(t, "GET", "/v1/whoami", k.Secret, "")
	wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	resp, body = s.call(t, "GET", "/v1/whoami", rolled.Secret, "")
	wantStatus(t, resp, body, http.StatusOK)
}
