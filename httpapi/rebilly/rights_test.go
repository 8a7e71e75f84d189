package rebilly_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// TestRightsOverStrongerKeys: a restricted key sees keys with more rights
// than its own without their secrets, and may neither change nor delete
// them; no key may delete itself.
func TestRightsOverStrongerKeys(t *testing.T) {
	s := newStack(t)
	strong := s.create(t, s.acct, "/api-keys", `{"description":"strong"}`)
	editor := s.create(t, s.acct, "/api-keys",
		`{"description":"editor","acl":[{"scope":{},"permissions":["GetApiKeyCollection","GetApiKey","PutApiKey","DeleteApiKey","PostApiKey"]}]}`)
	weak := s.create(t, editor.SecretKey, "/api-keys", `{"description":"weak","acl":[{"scope":{},"permissions":["GetApiKey"]}]}`)

	resp, body := s.call(t, "GET", "/api-keys", editor.SecretKey, "")
	wantStatus(t, resp, body, http.StatusOK)
	var keys []apiKey
	if err := json.Unmarshal(body, &keys); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{}
	for _, k := range keys {
		secrets[k.ID] = k.SecretKey
	}
	if secrets[strong.ID] != "" || secrets[s.Account.ID] != "" {
		t.Fatalf("a restricted key was shown the secret of an unrestricted key: %s", body)
	}
	if secrets[weak.ID] != weak.SecretKey || secrets[editor.ID] != editor.SecretKey {
		t.Fatalf("a restricted key was not shown the secrets of keys within its rights: %s", body)
	}
	resp, body = s.call(t, "GET", "/api-keys/"+strong.ID, editor.SecretKey, "")
	wantStatus(t, resp, body, http.StatusOK)
	if k := decodeKey(t, body); k.SecretKey != "" {
		t.Fatal("GET showed a stronger key's secret")
	}

	for _, tc := range []struct{ name, method, path, body string }{
		{"rename a stronger key", "PUT", "/api-keys/" + strong.ID, `{"description":"renamed"}`},
		{"narrow a stronger key", "PUT", "/api-keys/" + strong.ID, `{"description":"x","acl":[{"scope":{},"permissions":["GetApiKey"]}]}`},
		{"delete a stronger key", "DELETE", "/api-keys/" + strong.ID, ""},
		{"delete the account key", "DELETE", "/api-keys/" + s.Account.ID, ""},
	} {
		before := s.Snapshot(t)
		resp, body := s.call(t, tc.method, tc.path, editor.SecretKey, tc.body)
		wantProblem(t, resp, body, http.StatusForbidden)
		wantUnchanged(t, s, before)
	}

	// Within its rights it may change and delete; not itself.
	resp, body = s.call(t, "PUT", "/api-keys/"+weak.ID, editor.SecretKey, `{"description":"weak, renamed"}`)
	wantStatus(t, resp, body, http.StatusOK)
	before := s.Snapshot(t)
	resp, body = s.call(t, "DELETE", "/api-keys/"+editor.ID, editor.SecretKey, "")
	wantProblem(t, resp, body, http.StatusConflict)
	wantUnchanged(t, s, before)
	resp, body = s.call(t, "DELETE", "/api-keys/"+weak.ID, editor.SecretKey, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete a weaker key: %d %s", resp.StatusCode, body)
	}
	wantNoErrorLogged(t, s)
}

// TestPutKeepsTypeWhenOmitted: updating a publishable key with only a
// description (the official update sample) keeps it publishable.
func TestPutKeepsTypeWhenOmitted(t *testing.T) {
	s := newStack(t)
	pk := s.create(t, s.acct, "/api-keys", `{"description":"browser","type":"publishable"}`)
	for _, body := range []string{`{"description":"renamed"}`, `{"description":"renamed again","type":null}`} {
		resp, got := s.call(t, "PUT", "/api-keys/"+pk.ID, s.acct, body)
		wantStatus(t, resp, got, http.StatusOK)
		if k := decodeKey(t, got); k.Type != "publishable" || k.SecretKey != pk.SecretKey {
			t.Fatalf("PUT %s: %s", body, got)
		}
	}
}

// TestListFilterWithSemicolon: Rebilly's filter separates fields with a
// plain ";", which net/url would drop.
func TestListFilterWithSemicolon(t *testing.T) {
	s := newStack(t)
	want := s.create(t, s.acct, "/api-keys", `{"description":"Beta","type":"publishable"}`)
	s.create(t, s.acct, "/api-keys", `{"description":"Beta"}`)
	s.create(t, s.acct, "/api-keys", `{"description":"Alpha","type":"publishable"}`)
	for _, query := range []string{"filter=type:publishable;description:Beta", "filter=type:publishable%3Bdescription:Beta"} {
		ids, total, _, _ := s.list(t, s.acct, "/api-keys?"+query)
		if total != "1" || !slices.Equal(ids, []string{want.ID}) {
			t.Errorf("?%s: ids %v (total %s), want only %s", query, ids, total, want.ID)
		}
	}
	resp, body := s.call(t, "GET", "/api-keys?filter=type:publishable;nope:x", s.acct, "")
	wantProblem(t, resp, body, http.StatusUnprocessableEntity, "filter")
}

// TestMappedPrefixes: IPv4-mapped IPv6 ranges are IPv4 ranges; shorter than
// /96 they name none, and are refused.
func TestMappedPrefixes(t *testing.T) {
	s := newStack(t)
	k := s.create(t, s.acct, "/api-keys", `{"description":"m","allowedIps":["::ffff:203.0.113.0/120"]}`)
	wantJSON(t, "allowedIps", k.AllowedIPs, `["203.0.113.0/24"]`)
	for _, bad := range []string{"::ffff:0:0/80", "::ffff:203.0.113.0/95", "::ffff:203.0.113.0/64"} {
		before := s.Snapshot(t)
		resp, body := s.call(t, "POST", "/api-keys", s.acct, `{"description":"m","allowedIps":["`+bad+`"]}`)
		wantProblem(t, resp, body, http.StatusUnprocessableEntity, "allowedIps.0")
		wantUnchanged(t, s, before)
	}
}
