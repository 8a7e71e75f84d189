package sunshine_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/latchkey/latchkey/internal/lktest"
)

var (
	objectID  = regexp.MustCompile(`^[0-9a-f]{24}$`)
	intKeyID  = regexp.MustCompile(`^int_[0-9a-f]{24}$`)
	appKeyID  = regexp.MustCompile(`^app_[0-9a-f]{24}$`)
	secretFmt = regexp.MustCompile(`^sk_live_[A-Za-z0-9_-]{49}$`)
)

// decode parses a JSON body into a generic map, failing the test if it is not one.
func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", body, err)
	}
	return m
}

// want checks a response's status, failing with its body.
func want(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status = %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
}

// wantError checks a response is the dialect's error with this status and code.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	want(t, resp, body, status)
	var e struct {
		Errors []struct{ Code, Title string }
	}
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) != 1 {
		t.Fatalf("body %s is not {\"errors\":[{code,title}]}", body)
	}
	if e.Errors[0].Code != code || e.Errors[0].Title == "" {
		t.Fatalf("error = %+v, want code %q with a title", e.Errors[0], code)
	}
}

type fixture struct {
	*lktest.Stack
	acct string // the account key's Basic header
}

func newFixture(t *testing.T) *fixture {
	s := lktest.New(t)
	return &fixture{Stack: s, acct: s.Account.Basic()}
}

func (f *fixture) createApp(t *testing.T, name string) string {
	t.Helper()
	resp, body := f.Do(t, "POST", "/v2/apps", f.acct, fmt.Sprintf(`{"displayName":%q}`, name))
	want(t, resp, body, http.StatusCreated)
	return decode(t, body)["app"].(map[string]any)["id"].(string)
}

func (f *fixture) createIntegration(t *testing.T, app string) string {
	t.Helper()
	resp, body := f.Do(t, "POST", "/v2/apps/"+app+"/integrations", f.acct,
		`{"type":"custom","displayName":"Bot","webhooks":[{"target":"https://example.com/cb","triggers":["conversation:message"]}]}`)
	want(t, resp, body, http.StatusCreated)
	return decode(t, body)["integration"].(map[string]any)["id"].(string)
}

// createKey creates a key at path (…/keys) and returns its credentials.
func (f *fixture) createKey(t *testing.T, authz, path, name string) lktest.Credentials {
	t.Helper()
	resp, body := f.Do(t, "POST", path, authz, fmt.Sprintf(`{"displayName":%q}`, name))
	want(t, resp, body, http.StatusCreated)
	k := decode(t, body)["key"].(map[string]any)
	return lktest.Credentials{ID: k["id"].(string), Secret: k["secret"].(string)}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + s
}

func hs256(t *testing.T, c lktest.Credentials, scope string) string {
	return sign(t, jwt.SigningMethodHS256, []byte(c.Secret), c.ID, jwt.MapClaims{"scope": scope})
}

// TestSeedRequest is the documentation page's request: create an integration
// key with Basic auth and {"displayName": "My custom key"}.
func TestSeedRequest(t *testing.T) {
	f := newFixture(t)
	app := f.createApp(t, "My App")
	in := f.createIntegration(t, app)
	resp, body := f.Do(t, "POST", "/v2/apps/"+app+"/integrations/"+in+"/keys", f.acct, `{"displayName": "My custom key"}`)
	want(t, resp, body, http.StatusCreated)
	var got map[string]map[string]string
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	key := got["key"]
	if len(got) != 1 || len(key) != 3 {
		t.Fatalf("body = %s, want exactly {\"key\":{id,displayName,secret}}", body)
	}
	if !intKeyID.MatchString(key["id"]) || key["displayName"] != "My custom key" || !secretFmt.MatchString(key["secret"]) {
		t.Fatalf("key = %v", key)
	}
	// The new key authenticates, and may not manage keys (integration scope).
	k := lktest.Credentials{ID: key["id"], Secret: key["secret"]}
	resp, body = f.Do(t, "GET", "/v2/apps/"+app+"/integrations/"+in+"/keys", k.Basic(), "")
	wantError(t, resp, body, http.StatusForbidden, "forbidden")
}

func TestAppsLifecycle(t *testing.T) {
	f := newFixture(t)
	resp, body := f.Do(t, "POST", "/v2/apps", f.acct,
		`{"displayName":"My App","settings":{"echoPostback":true,"conversationRetentionSeconds":3600},"metadata":{"lang":"en-ca","tier":3}}`)
	want(t, resp, body, http.StatusCreated)
	app := decode(t, body)["app"].(map[string]any)
	id := app["id"].(string)
	if !objectID.MatchString(id) || app["displayName"] != "My App" {
		t.Fatalf("app = %v", app)
	}
	settings := app["settings"].(map[string]any)
	if settings["echoPostback"] != true || settings["maskCreditCardNumbers"] != true || settings["conversationRetentionSeconds"] != 3600.0 {
		t.Fatalf("settings = %v", settings)
	}
	if md := app["metadata"].(map[string]any); md["lang"] != "en-ca" || md["tier"] != 3.0 {
		t.Fatalf("metadata = %v", md)
	}

	resp, body = f.Do(t, "PATCH", "/v2/apps/"+id, f.acct, `{"displayName":"Renamed","settings":{"useAnimalNames":true},"metadata":null}`)
	want(t, resp, body, http.StatusOK)
	app = decode(t, body)["app"].(map[string]any)
	settings = app["settings"].(map[string]any)
	if app["displayName"] != "Renamed" || app["metadata"] != nil || settings["useAnimalNames"] != true || settings["echoPostback"] != true {
		t.Fatalf("after PATCH app = %v", app)
	}

	resp, body = f.Do(t, "GET", "/v2/apps/"+id, f.acct, "")
	want(t, resp, body, http.StatusOK)
	if got := decode(t, body)["app"].(map[string]any)["displayName"]; got != "Renamed" {
		t.Fatalf("GET displayName = %v, want Renamed", got)
	}

	resp, body = f.Do(t, "DELETE", "/v2/apps/"+id, f.acct, "")
	want(t, resp, body, http.StatusOK)
	if string(body) != "{}" {
		t.Fatalf("DELETE body = %q, want {}", body)
	}
	resp, body = f.Do(t, "GET", "/v2/apps/"+id, f.acct, "")
	wantError(t, resp, body, http.StatusNotFound, "app_not_found")
}

func TestListAppsPagination(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, f.createApp(t, fmt.Sprintf("app %d", i)))
	}
	// Ids sort by creation second, then at random: the list's order is id order.
	sorted := append([]string(nil), ids...)
	sortStrings(sorted)

	list := func(query string) (ids []string, meta, links map[string]any) {
		t.Helper()
		resp, body := f.Do(t, "GET", "/v2/apps"+query, f.acct, "")
		want(t, resp, body, http.StatusOK)
		m := decode(t, body)
		for _, a := range m["apps"].([]any) {
			ids = append(ids, a.(map[string]any)["id"].(string))
		}
		return ids, m["meta"].(map[string]any), m["links"].(map[string]any)
	}

	all, meta, links := list("")
	if fmt.Sprint(all) != fmt.Sprint(sorted) || meta["hasMore"] != false || len(links) != 0 {
		t.Fatalf("default page = %v %v %v, want all 5 in id order, no links", all, meta, links)
	}

	// Walk forward two at a time by the next links.
	var walked []string
	query := "?page%5Bsize%5D=2"
	for range 5 {
		page, meta, links := list(query)
		walked = append(walked, page...)
		next, ok := links["next"].(string)
		if !ok {
			if meta["hasMore"] != false || meta["afterCursor"] != nil {
				t.Fatalf("last page meta = %v", meta)
			}
			break
		}
		if meta["hasMore"] != true || meta["afterCursor"] != page[len(page)-1] {
			t.Fatalf("meta = %v for page %v", meta, page)
		}
		u, err := url.Parse(next)
		if err != nil || u.Query().Get("page[size]") != "2" {
			t.Fatalf("next link %q does not keep page[size]", next)
		}
		query = "?" + u.RawQuery
	}
	if fmt.Sprint(walked) != fmt.Sprint(sorted) {
		t.Fatalf("walked %v, want %v", walked, sorted)
	}

	// Backwards from the last record.
	page, meta, links := list("?page[before]=" + sorted[4] + "&page[size]=2")
	if fmt.Sprint(page) != fmt.Sprint(sorted[2:4]) || meta["hasMore"] != true || meta["beforeCursor"] != sorted[2] ||
		meta["afterCursor"] != sorted[3] || links["prev"] == nil || links["next"] == nil {
		t.Fatalf("before page = %v %v %v", page, meta, links)
	}
	page, meta, _ = list("?page[before]=" + sorted[2] + "&page[size]=5")
	if fmt.Sprint(page) != fmt.Sprint(sorted[:2]) || meta["hasMore"] != false || meta["beforeCursor"] != nil {
		t.Fatalf("first page backwards = %v %v", page, meta)
	}

	for _, bad := range []string{
		"?page[size]=0", "?page[size]=101", "?page[size]=ten", "?page[size]=",
		"?page[after]=nothex", "?page[after]=" + sorted[0] + "&page[before]=" + sorted[1], "?page[before]=" + strings.ToUpper(sorted[0]),
	} {
		resp, body := f.Do(t, "GET", "/v2/apps"+bad, f.acct, "")
		wantError(t, resp, body, http.StatusBadRequest, "bad_request")
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func TestIntegrations(t *testing.T) {
	f := newFixture(t)
	app := f.createApp(t, "App")
	resp, body := f.Do(t, "POST", "/v2/apps/"+app+"/integrations", f.acct,
		`{"type":"custom","webhooks":[{"target":"https://example.com/cb","triggers":["conversation:message","conversation:read"],"includeFullUser":true,"secret":"ignored"}]}`)
	want(t, resp, body, http.StatusCreated)
	in := decode(t, body)["integration"].(map[string]any)
	id := in["id"].(string)
	hook := in["webhooks"].([]any)[0].(map[string]any)
	if !objectID.MatchString(id) || in["type"] != "custom" || in["status"] != "active" || in["displayName"] != nil {
		t.Fatalf("integration = %v", in)
	}
	if !objectID.MatchString(hook["id"].(string)) || hook["version"] != "v2" || hook["includeFullUser"] != true ||
		hook["includeFullSource"] != false || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(hook["secret"].(string)) {
		t.Fatalf("webhook = %v", hook)
	}

	resp, body = f.Do(t, "POST", "/v2/apps/"+app+"/integrations", f.acct, `{"type":"web"}`)
	wantError(t, resp, body, http.StatusBadRequest, "bad_request")
	if !strings.Contains(string(body), "Invalid integration type") {
		t.Fatalf("body = %s, want the title Invalid integration type", body)
	}

	resp, body = f.Do(t, "PATCH", "/v2/apps/"+app+"/integrations/"+id, f.acct, `{"displayName":"My bot"}`)
	want(t, resp, body, http.StatusOK)
	if got := decode(t, body)["integration"].(map[string]any)["displayName"]; got != "My bot" {
		t.Fatalf("displayName = %v", got)
	}
	resp, body = f.Do(t, "PATCH", "/v2/apps/"+app+"/integrations/"+id, f.acct, `{"displayName":null}`)
	want(t, resp, body, http.StatusOK)
	if _, ok := decode(t, body)["integration"].(map[string]any)["displayName"]; ok {
		t.Fatalf("displayName still set after null: %s", body)
	}

	for query, wantCount := range map[string]int{"": 1, "?filter[types]=custom": 1, "?filter[types]=web,ios": 0, "?filter%5Btypes%5D=ios,custom": 1} {
		resp, body = f.Do(t, "GET", "/v2/apps/"+app+"/integrations"+query, f.acct, "")
		want(t, resp, body, http.StatusOK)
		if got := len(decode(t, body)["integrations"].([]any)); got != wantCount {
			t.Errorf("list%s: %d integrations, want %d", query, got, wantCount)
		}
	}

	// Deleting the integration deletes its keys, which stop authenticating.
	key := f.createKey(t, f.acct, "/v2/apps/"+app+"/integrations/"+id+"/keys", "k")
	resp, body = f.Do(t, "GET", "/v2/apps/"+app+"/integrations/"+id+"/keys", hs256(t, f.Account, "account"), "")
	want(t, resp, body, http.StatusOK)
	resp, body = f.Do(t, "DELETE", "/v2/apps/"+app+"/integrations/"+id, f.acct, "")
	want(t, resp, body, http.StatusOK)
	resp, body = f.Do(t, "GET", "/v2/apps/"+app, key.Basic(), "")
	wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	resp, body = f.Do(t, "GET", "/v2/apps/"+app+"/integrations/"+id, f.acct, "")
	wantError(t, resp, body, http.StatusNotFound, "integration_not_found")
}

func TestKeys(t *testing.T) {
	f := newFixture(t)
	app := f.createApp(t, "App")
	in := f.createIntegration(t, app)
	for _, tc := range []struct {
		name, path string
		id         *regexp.Regexp
	}{
		{"integration keys", "/v2/apps/" + app + "/integrations/" + in + "/keys", intKeyID},
		{"app keys", "/v2/apps/" + app + "/keys", appKeyID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var made []lktest.Credentials
			for i := range 10 {
				k := f.createKey(t, f.acct, tc.path, fmt.Sprintf("key %d", i))
				if !tc.id.MatchString(k.ID) || !secretFmt.MatchString(k.Secret) {
					t.Fatalf("key = %+v", k)
				}
				made = append(made, k)
			}
			before := f.Snapshot(t)
			resp, body := f.Do(t, "POST", tc.path, f.acct, `{"displayName":"eleventh"}`)
			wantError(t, resp, body, http.StatusBadRequest, "bad_request")
			if f.Snapshot(t) != before {
				t.Fatal("the refused 11th key changed the store")
			}

			resp, body = f.Do(t, "GET", tc.path, f.acct, "")
			want(t, resp, body, http.StatusOK)
			var list struct{ Keys []map[string]string }
			json.Unmarshal(body, &list)
			if len(list.Keys) != 10 || list.Keys[0]["secret"] == "" {
				t.Fatalf("list = %s", body)
			}

			resp, body = f.Do(t, "GET", tc.path+"/"+made[3].ID, f.acct, "")
			want(t, resp, body, http.StatusOK)
			if got := decode(t, body)["key"].(map[string]any); got["secret"] != made[3].Secret || got["displayName"] != "key 3" {
				t.Fatalf("GET key = %v", got)
			}

			// The key works by Basic and by JWT, until it is deleted.
			scope := map[bool]string{true: "integration", false: "app"}[tc.id == intKeyID]
			for _, authz := range []string{made[3].Basic(), hs256(t, made[3], scope)} {
				resp, _ := f.Do(t, "GET", "/v2/apps/"+app, authz, "")
				if resp.StatusCode == http.StatusUnauthorized {
					t.Fatalf("a live key was refused")
				}
			}
			resp, body = f.Do(t, "DELETE", tc.path+"/"+made[3].ID, f.acct, "")
			want(t, resp, body, http.StatusOK)
			for _, authz := range []string{made[3].Basic(), hs256(t, made[3], scope)} {
				resp, body := f.Do(t, "GET", "/v2/apps/"+app, authz, "")
				wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
			}
			resp, body = f.Do(t, "GET", tc.path+"/"+made[3].ID, f.acct, "")
			wantError(t, resp, body, http.StatusNotFound, "not_found")
			resp, body = f.Do(t, "DELETE", tc.path+"/"+made[3].ID, f.acct, "")
			wantError(t, resp, body, http.StatusNotFound, "not_found")
		})
	}

	// A key of another owner is not found under this one.
	other := f.createKey(t, f.acct, "/v2/apps/"+app+"/keys", "x")
	_ = other
	resp, body := f.Do(t, "GET", "/v2/apps/"+app+"/integrations/"+in+"/keys/"+f.Account.ID, f.acct, "")
	wantError(t, resp, body, http.StatusNotFound, "not_found")
}

func TestDeleteAppRevokesItsKeys(t *testing.T) {
	f := newFixture(t)
	app := f.createApp(t, "App")
	in := f.createIntegration(t, app)
	appKey := f.createKey(t, f.acct, "/v2/apps/"+app+"/keys", "a")
	intKey := f.createKey(t, f.acct, "/v2/apps/"+app+"/integrations/"+in+"/keys", "i")
	for _, k := range []string{appKey.Basic(), hs256(t, intKey, "integration")} {
		if resp, _ := f.Do(t, "GET", "/v2/apps/"+app, k, ""); resp.StatusCode == http.StatusUnauthorized {
			t.Fatal("live key refused")
		}
	}
	resp, body := f.Do(t, "DELETE", "/v2/apps/"+app, f.acct, "")
	want(t, resp, body, http.StatusOK)
	for _, k := range []string{appKey.Basic(), intKey.Basic(), hs256(t, appKey, "app"), hs256(t, intKey, "integration")} {
		resp, body := f.Do(t, "GET", "/v2/apps/"+app, k, "")
		wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	}
}

func TestScopes(t *testing.T) {
	f := newFixture(t)
	app, other := f.createApp(t, "App"), f.createApp(t, "Other")
	in := f.createIntegration(t, app)
	appKey := f.createKey(t, f.acct, "/v2/apps/"+app+"/keys", "app key")
	otherKey := f.createKey(t, f.acct, "/v2/apps/"+other+"/keys", "other app key")
	intKey := f.createKey(t, f.acct, "/v2/apps/"+app+"/integrations/"+in+"/keys", "int key")

	// A second account must not see the first one's apps.
	_, strangerKey, err := f.Svc.Bootstrap(t.Context(), "Stranger")
	if err != nil {
		t.Fatal(err)
	}
	stranger := lktest.Credentials{ID: strangerKey.ID, Secret: strangerKey.Secrets[0].Plain}

	intKeys := "/v2/apps/" + app + "/integrations/" + in + "/keys"
	cases := []struct {
		name, method, path, body string
		authz                    string
		status                   int
		code                     string
	}{
		{"app key reads its app", "GET", "/v2/apps/" + app, "", appKey.Basic(), 200, ""},
		{"app key by JWT", "GET", "/v2/apps/" + app, "", hs256(t, appKey, "app"), 200, ""},
		{"app key makes integration keys", "POST", intKeys, `{"displayName":"by app"}`, appKey.Basic(), 201, ""},
		{"app key lists integrations", "GET", "/v2/apps/" + app + "/integrations", "", appKey.Basic(), 200, ""},
		{"app key on another app", "GET", "/v2/apps/" + other, "", appKey.Basic(), 403, "forbidden"},
		{"app key on another app's integrations", "GET", "/v2/apps/" + other + "/integrations", "", appKey.Basic(), 403, "forbidden"},
		{"other app's key on this app", "POST", intKeys, `{"displayName":"x"}`, otherKey.Basic(), 403, "forbidden"},
		{"app key creates apps", "POST", "/v2/apps", `{"displayName":"x"}`, appKey.Basic(), 403, "forbidden"},
		{"app key lists apps", "GET", "/v2/apps", "", appKey.Basic(), 403, "forbidden"},
		{"app key deletes its app", "DELETE", "/v2/apps/" + app, "", appKey.Basic(), 403, "forbidden"},
		{"app key makes app keys", "POST", "/v2/apps/" + app + "/keys", `{"displayName":"x"}`, appKey.Basic(), 403, "forbidden"},
		{"app key lists app keys", "GET", "/v2/apps/" + app + "/keys", "", appKey.Basic(), 403, "forbidden"},
		{"integration key makes keys", "POST", intKeys, `{"displayName":"x"}`, intKey.Basic(), 403, "forbidden"},
		{"integration key by JWT", "GET", intKeys, "", hs256(t, intKey, "integration"), 403, "forbidden"},
		{"integration key reads app", "GET", "/v2/apps/" + app, "", intKey.Basic(), 403, "forbidden"},
		{"stranger account on app", "GET", "/v2/apps/" + app, "", stranger.Basic(), 404, "app_not_found"},
		{"stranger account makes keys", "POST", intKeys, `{"displayName":"x"}`, stranger.Basic(), 404, "app_not_found"},
		{"stranger lists own apps", "GET", "/v2/apps", "", stranger.Basic(), 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.Snapshot(t)
			resp, body := f.Do(t, tc.method, tc.path, tc.authz, tc.body)
			if tc.code == "" {
				want(t, resp, body, tc.status)
				return
			}
			wantError(t, resp, body, tc.status, tc.code)
			if f.Snapshot(t) != before {
				t.Fatal("a refused request changed the store")
			}
		})
	}
	resp, body := f.Do(t, "GET", "/v2/apps", stranger.Basic(), "")
	if apps := decode(t, body)["apps"].([]any); resp.StatusCode != 200 || len(apps) != 0 {
		t.Fatalf("stranger sees apps: %s", body)
	}
}

func TestCredentials(t *testing.T) {
	f := newFixture(t)
	app := f.createApp(t, "App")
	in := f.createIntegration(t, app)
	appKey := f.createKey(t, f.acct, "/v2/apps/"+app+"/keys", "app key")
	gone := f.createKey(t, f.acct, "/v2/apps/"+app+"/keys", "deleted key")
	resp, body := f.Do(t, "DELETE", "/v2/apps/"+app+"/keys/"+gone.ID, f.acct, "")
	want(t, resp, body, http.StatusOK)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	basic := func(s string) string { return "Basic " + b64(s) }
	cases := []struct{ name, authz string }{
		{"no header", ""},
		{"empty Basic", "Basic "},
		{"Basic not base64", "Basic !!!"},
		{"Basic without colon", basic(appKey.ID + appKey.Secret)},
		{"Basic empty user", basic(":" + appKey.Secret)},
		{"Basic wrong secret", basic(appKey.ID + ":" + f.Account.Secret)},
		{"Basic truncated secret", basic(appKey.ID + ":" + appKey.Secret[:len(appKey.Secret)-1])},
		{"Basic unknown key", basic("app_000000000000000000000000:" + appKey.Secret)},
		{"Basic deleted key", gone.Basic()},
		{"unknown scheme", "Digest abc"},
		{"Bearer empty", "Bearer "},
		{"Bearer garbage", "Bearer garbage"},
		{"Bearer three dots", "Bearer a.b.c"},
		{"JWT alg none", "Bearer " + noneToken(appKey.ID, "app")},
		{"JWT alg RS256", sign(t, jwt.SigningMethodRS256, rsaKey, appKey.ID, jwt.MapClaims{"scope": "app"})},
		{"JWT alg HS512", sign(t, jwt.SigningMethodHS512, []byte(appKey.Secret), appKey.ID, jwt.MapClaims{"scope": "app"})},
		{"JWT without kid", sign(t, jwt.SigningMethodHS256, []byte(appKey.Secret), "", jwt.MapClaims{"scope": "app"})},
		{"JWT unknown kid", sign(t, jwt.SigningMethodHS256, []byte(appKey.Secret), "app_000000000000000000000000", jwt.MapClaims{"scope": "app"})},
		{"JWT deleted kid", hs256(t, gone, "app")},
		{"JWT wrong secret", sign(t, jwt.SigningMethodHS256, []byte(f.Account.Secret), appKey.ID, jwt.MapClaims{"scope": "app"})},
		{"JWT expired", sign(t, jwt.SigningMethodHS256, []byte(appKey.Secret), appKey.ID, jwt.MapClaims{"scope": "app", "exp": now.Add(-2 * time.Minute).Unix()})},
		{"JWT not yet valid", sign(t, jwt.SigningMethodHS256, []byte(appKey.Secret), appKey.ID, jwt.MapClaims{"scope": "app", "nbf": now.Add(5 * time.Minute).Unix()})},
		{"JWT scope account on app key", hs256(t, appKey, "account")},
		{"JWT scope integration on app key", hs256(t, appKey, "integration")},
		{"JWT without scope", sign(t, jwt.SigningMethodHS256, []byte(appKey.Secret), appKey.ID, jwt.MapClaims{})},
		{"JWT scope not a string", sign(t, jwt.SigningMethodHS256, []byte(appKey.Secret), appKey.ID, jwt.MapClaims{"scope": 1})},
		{"JWT kid not a string", numericKidToken(t, appKey.Secret)},
	}
	path := "/v2/apps/" + app + "/integrations/" + in + "/keys"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.Snapshot(t)
			resp, body := f.Do(t, "POST", path, tc.authz, `{"displayName":"should not exist"}`)
			wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
			if f.Snapshot(t) != before {
				t.Fatal("a refused request changed the store")
			}
		})
	}

	// Within the leeway an expired token still works; exp in the future works.
	for _, exp := range []time.Duration{-10 * time.Second, time.Hour} {
		authz := sign(t, jwt.SigningMethodHS256, []byte(appKey.Secret), appKey.ID, jwt.MapClaims{"scope": "app", "exp": now.Add(exp).Unix()})
		resp, body := f.Do(t, "GET", "/v2/apps/"+app, authz, "")
		want(t, resp, body, http.StatusOK)
	}
	// Other claims are ignored; the scheme is case-insensitive.
	authz := sign(t, jwt.SigningMethodHS256, []byte(appKey.Secret), appKey.ID, jwt.MapClaims{"scope": "app", "app_id": "x", "iat": now.Unix()})
	resp, body = f.Do(t, "GET", "/v2/apps/"+app, strings.Replace(authz, "Bearer", "bearer", 1), "")
	want(t, resp, body, http.StatusOK)
	resp, body = f.Do(t, "GET", "/v2/apps/"+app, strings.Replace(appKey.Basic(), "Basic", "basic", 1), "")
	want(t, resp, body, http.StatusOK)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func numericKidToken(t *testing.T, secret string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"scope": "app"})
	tok.Header["kid"] = 12345
	s, err := tok.SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + s
}

func noneToken(kid, scope string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT", "kid": kid}) + "." + enc(map[string]string{"scope": scope}) + "."
}

// restrictedKey makes a key with an ACL through the Rebilly routes (the
// Sunshine ones take no ACL), at path, with the account key.
func (f *fixture) restrictedKey(t *testing.T, path, acl string) lktest.Credentials {
	t.Helper()
	resp, body := f.Do(t, "POST", path, f.acct, `{"description":"restricted","acl":`+acl+`}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	k := decode(t, body)
	return lktest.Credentials{ID: k["id"].(string), Secret: k["secretKey"].(string)}
}

// TestCascadesNeverReachUp: deleting an app or an integration deletes its
// keys, so it needs rights over each of them. A key restricted to app A
// cannot delete an unrestricted key of A directly, and so cannot delete A,
// or the integration holding it, either: 403, and nothing is deleted. Once
// they hold only keys within its rights, it can.
func TestCascadesNeverReachUp(t *testing.T) {
	f := newFixture(t)
	a, b := f.createApp(t, "A"), f.createApp(t, "B")
	inI, inJ := f.createIntegration(t, a), f.createIntegration(t, a)
	appKeys, iKeys, jKeys := "/v2/apps/"+a+"/keys", "/v2/apps/"+a+"/integrations/"+inI+"/keys", "/v2/apps/"+a+"/integrations/"+inJ+"/keys"
	strongApp := f.createKey(t, f.acct, appKeys, "unrestricted app key")
	strongInt := f.createKey(t, f.acct, iKeys, "unrestricted integration key")
	bKey := f.createKey(t, f.acct, "/v2/apps/"+b+"/keys", "B's key")

	orgA := f.restrictedKey(t, "/api-keys", fmt.Sprintf(`[{"scope":{"organizationId":[%q]},"permissions":["*"]}]`, a))
	// Keys it makes inherit its ACL, so they are within its rights.
	ownApp := f.createKey(t, orgA.Basic(), appKeys, "orgA's app key")
	ownI := f.createKey(t, orgA.Basic(), iKeys, "orgA's key in I")
	ownJ := f.createKey(t, orgA.Basic(), jKeys, "orgA's key in J")
	// An app key of A that may delete integrations, and little else.
	deleter := f.restrictedKey(t, "/organizations/"+a+"/api-keys", `[{"scope":{},"permissions":["DeleteIntegration","GetIntegration"]}]`)

	refused := []struct {
		name, path string
		by         lktest.Credentials
	}{
		{"the unrestricted app key directly", appKeys + "/" + strongApp.ID, orgA},
		{"the unrestricted integration key directly", iKeys + "/" + strongInt.ID, orgA},
		{"app A, which holds an unrestricted key", "/v2/apps/" + a, orgA},
		{"integration I, which holds an unrestricted key", "/v2/apps/" + a + "/integrations/" + inI, orgA},
		{"integration I, by a narrow app key", "/v2/apps/" + a + "/integrations/" + inI, deleter},
		{"integration J, by a narrow app key", "/v2/apps/" + a + "/integrations/" + inJ, deleter},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			before := f.Snapshot(t)
			for _, authz := range []string{tc.by.Basic(), hs256(t, tc.by, map[bool]string{true: "account", false: "app"}[tc.by == orgA])} {
				resp, body := f.Do(t, "DELETE", tc.path, authz, "")
				wantError(t, resp, body, http.StatusForbidden, "forbidden")
			}
			if f.Snapshot(t) != before {
				t.Fatal("a refused delete changed the store")
			}
		})
	}
	// Everything is still there, and every key still authenticates.
	for _, path := range []string{"/v2/apps/" + a, "/v2/apps/" + a + "/integrations/" + inI, "/v2/apps/" + a + "/integrations/" + inJ} {
		resp, body := f.Do(t, "GET", path, f.acct, "")
		want(t, resp, body, http.StatusOK)
	}
	for _, k := range []lktest.Credentials{strongApp, strongInt, ownApp, ownI, ownJ, deleter} {
		if resp, body := f.Do(t, "GET", "/v2/apps/"+a, k.Basic(), ""); resp.StatusCode == http.StatusUnauthorized {
			t.Fatalf("key %s stopped authenticating after refused deletes: %s", k.ID, body)
		}
	}

	// Within its rights, the cascade goes ahead.
	resp, body := f.Do(t, "DELETE", "/v2/apps/"+a+"/integrations/"+inJ, orgA.Basic(), "")
	want(t, resp, body, http.StatusOK)
	resp, body = f.Do(t, "GET", "/v2/apps/"+a, ownJ.Basic(), "")
	wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")

	resp, body = f.Do(t, "DELETE", iKeys+"/"+strongInt.ID, f.acct, "")
	want(t, resp, body, http.StatusOK)
	resp, body = f.Do(t, "DELETE", "/v2/apps/"+a+"/integrations/"+inI, orgA.Basic(), "")
	want(t, resp, body, http.StatusOK)

	resp, body = f.Do(t, "DELETE", "/v2/apps/"+a, orgA.Basic(), "")
	wantError(t, resp, body, http.StatusForbidden, "forbidden") // the unrestricted app key is still there
	resp, body = f.Do(t, "DELETE", appKeys+"/"+strongApp.ID, f.acct, "")
	want(t, resp, body, http.StatusOK)
	// The narrow app key is not within orgA's rights either (its unscoped
	// entry reaches beyond A).
	resp, body = f.Do(t, "DELETE", "/v2/apps/"+a, orgA.Basic(), "")
	wantError(t, resp, body, http.StatusForbidden, "forbidden")
	resp, body = f.Do(t, "DELETE", "/organizations/"+a+"/api-keys/"+deleter.ID, f.acct, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("deleting the narrow app key: %d %s", resp.StatusCode, body)
	}
	resp, body = f.Do(t, "DELETE", "/v2/apps/"+a, orgA.Basic(), "")
	want(t, resp, body, http.StatusOK)
	resp, body = f.Do(t, "GET", "/v2/apps/"+a, f.acct, "")
	wantError(t, resp, body, http.StatusNotFound, "app_not_found")
	for _, k := range []lktest.Credentials{ownApp, ownI} {
		resp, body := f.Do(t, "GET", "/v2/apps/"+a, k.Basic(), "")
		wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	}
	// App B and its key were never touched.
	resp, body = f.Do(t, "GET", "/v2/apps/"+b, bKey.Basic(), "")
	want(t, resp, body, http.StatusOK)
}
