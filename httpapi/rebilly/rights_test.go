package rebilly_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/latchkey/latchkey/internal/lktest"
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

// TestScopesLatchkeyCannotEvaluate: an ACL entry scoped by productId, planId
// or customFieldName is stored and shown as sent, but grants none of
// Latchkey's own operations, which name no product, plan or field. (Such a
// key once acted as an unrestricted account key: it created apps and
// deleted another app with all its keys.)
func TestScopesLatchkeyCannotEvaluate(t *testing.T) {
	s := newStack(t)
	appA, other := s.createApp(t, "A"), s.createApp(t, "Other")
	// The other app holds a key, which deleting the app would take with it.
	otherKey := s.create(t, s.acct, "/organizations/"+other+"/api-keys", `{"description":"other app's key"}`)

	for _, acl := range []string{
		`[{"scope":{"productId":["p1"]},"permissions":["*"]}]`,
		`[{"scope":{"planId":["gold"]},"permissions":["*"]}]`,
		`[{"scope":{"customFieldName":["region"]},"permissions":["*"]}]`,
		fmt.Sprintf(`[{"scope":{"organizationId":[%q],"productId":["p1"]},"permissions":["*"]}]`, appA),
	} {
		t.Run(acl, func(t *testing.T) {
			k := s.create(t, s.acct, "/api-keys", `{"description":"scoped","acl":`+acl+`}`)
			wantJSON(t, "acl as created", k.ACL, acl)
			resp, body := s.call(t, "GET", "/api-keys/"+k.ID, s.acct, "")
			wantStatus(t, resp, body, http.StatusOK)
			wantJSON(t, "acl as stored", decodeKey(t, body).ACL, acl)

			for _, r := range []struct{ method, path, body string }{
				{"POST", "/v2/apps", `{"displayName":"made by a product key"}`},
				{"GET", "/v2/apps", ""},
				{"DELETE", "/v2/apps/" + other, ""},
				{"DELETE", "/v2/apps/" + appA, ""},
				{"GET", "/v2/apps/" + appA, ""},
				{"POST", "/v2/apps/" + appA + "/keys", `{"displayName":"x"}`},
			} {
				before := s.Snapshot(t)
				resp, body := s.call(t, r.method, r.path, k.SecretKey, r.body)
				wantSunshineError(t, resp, body, http.StatusForbidden, "forbidden")
				wantUnchanged(t, s, before)
			}
			for _, r := range []struct{ method, path, body string }{
				{"GET", "/api-keys", ""},
				{"POST", "/api-keys", `{"description":"x"}`},
				{"POST", "/api-keys", `{"description":"x","acl":` + acl + `}`},
				{"GET", "/api-keys/" + k.ID, ""},
				{"PUT", "/api-keys/" + k.ID, `{"description":"x","acl":null}`},
				{"DELETE", "/api-keys/" + s.Account.ID, ""},
				{"GET", "/organizations/" + appA + "/api-keys", ""},
				{"POST", "/organizations/" + appA + "/api-keys", `{"description":"x"}`},
				{"DELETE", "/organizations/" + other + "/api-keys/" + otherKey.ID, ""},
			} {
				before := s.Snapshot(t)
				resp, body := s.call(t, r.method, r.path, k.SecretKey, r.body)
				wantProblem(t, resp, body, http.StatusForbidden)
				wantUnchanged(t, s, before)
			}
			// Basic auth reaches the same check.
			resp, body = s.Do(t, "POST", "/v2/apps", lktest.Credentials{ID: k.ID, Secret: k.SecretKey}.Basic(), `{"displayName":"x"}`)
			wantSunshineError(t, resp, body, http.StatusForbidden, "forbidden")
		})
	}
	resp, body := s.call(t, "GET", "/organizations/"+other+"/api-keys/"+otherKey.ID, s.acct, "")
	wantStatus(t, resp, body, http.StatusOK)
	wantNoErrorLogged(t, s)
}

// TestProductScopeDoesNotWiden: a key that may manage keys, and also holds an
// entry scoped by product, can hand that product scope on but nothing wider:
// not unscoped, not another organization's, not more products.
func TestProductScopeDoesNotWiden(t *testing.T) {
	s := newStack(t)
	appA := s.createApp(t, "A")
	manage := `{"scope":{},"permissions":["GetApiKeyCollection","GetApiKey","PostApiKey","PutApiKey"]}`
	product := `{"scope":{"productId":["p1"]},"permissions":["*"]}`
	creator := s.create(t, s.acct, "/api-keys", `{"description":"creator","acl":[`+manage+`,`+product+`]}`)

	for _, acl := range []string{
		`[{"scope":{},"permissions":["*"]}]`,
		`[{"scope":{},"permissions":["DeleteApiKey"]}]`,
		fmt.Sprintf(`[{"scope":{"organizationId":[%q]},"permissions":["*"]}]`, appA),
		`[{"scope":{"productId":["p1","p2"]},"permissions":["*"]}]`,
		`[{"scope":{"planId":["gold"]},"permissions":["*"]}]`,
	} {
		before := s.Snapshot(t)
		resp, body := s.call(t, "POST", "/api-keys", creator.SecretKey, `{"description":"wider","acl":`+acl+`}`)
		wantProblem(t, resp, body, http.StatusForbidden)
		wantUnchanged(t, s, before)
	}
	// The product scope itself, or a narrower one, may be handed on; such a
	// key can do nothing here.
	narrower := fmt.Sprintf(`[{"scope":{"organizationId":[%q],"productId":["p1"]},"permissions":["DeleteApp","DeleteApiKey"]}]`, appA)
	child := s.create(t, creator.SecretKey, "/api-keys", `{"description":"child","acl":`+narrower+`}`)
	wantJSON(t, "child acl", child.ACL, narrower)
	for _, r := range []struct{ method, path string }{{"DELETE", "/v2/apps/" + appA}, {"DELETE", "/api-keys/" + creator.ID}} {
		before := s.Snapshot(t)
		resp, _ := s.call(t, r.method, r.path, child.SecretKey, "")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s %s by the product-scoped child: %d, want 403", r.method, r.path, resp.StatusCode)
		}
		wantUnchanged(t, s, before)
	}
	// Nor may the creator widen the child, or itself, beyond what it holds.
	for _, id := range []string{child.ID, creator.ID} {
		before := s.Snapshot(t)
		resp, body := s.call(t, "PUT", "/api-keys/"+id, creator.SecretKey, `{"description":"x","acl":[{"scope":{},"permissions":["*"]}]}`)
		wantProblem(t, resp, body, http.StatusForbidden)
		wantUnchanged(t, s, before)
	}
	wantNoErrorLogged(t, s)
}
