package openapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/httpapi/openapi"
	"github.com/latchkey/latchkey/httpapi/openapi/check"
	"github.com/latchkey/latchkey/internal/lktest"
)

// exchanger sends requests to a real stack and checks every response
// against the document.
type exchanger struct {
	t       *testing.T
	s       *lktest.Stack
	c       *check.Checker
	checked map[string]bool // operations checked, "METHOD path"
	last    check.Exchange
}

func newExchanger(t *testing.T) *exchanger {
	t.Helper()
	c, err := check.New(openapi.JSON(""))
	if err != nil {
		t.Fatal(err)
	}
	return &exchanger{t: t, s: lktest.New(t), c: c, checked: map[string]bool{}}
}

// do sends a request (authorization "" for none; headers as name, value
// pairs), checks the response, asserts its status, and returns its JSON.
func (x *exchanger) do(wantStatus int, method, path, authorization, body string, headers ...string) map[string]any {
	x.t.Helper()
	resp, b := x.s.Do(x.t, method, path, authorization, body, headers...)
	x.last = check.Exchange{Method: method, Target: path, Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	if resp.StatusCode != wantStatus {
		x.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, wantStatus, b)
	}
	r := x.c.Check(x.last)
	switch {
	case r.Skipped != "" && wantStatus != http.StatusNotFound && wantStatus != http.StatusMethodNotAllowed:
		x.t.Errorf("%s %s (%d): skipped: %s", method, path, resp.StatusCode, r.Skipped)
	case r.Operation != "":
		x.checked[r.Operation] = true
	}
	for _, p := range r.Problems {
		x.t.Errorf("%s %s (%d) does not match the document: %s\n    body: %.300s", method, path, resp.StatusCode, p, b)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, k := range path {
		v = v.(map[string]any)[k]
	}
	return v.(string)
}

// TestRealResponsesMatchTheDocument drives every surface of a real server
// (the real handler, on a real SQLite file) through successes and refusals,
// and checks each response against the document: status, declared headers,
// media type and body schema. The end-to-end suite does the same for what
// the official clients provoke; this runs with go test alone.
func TestRealResponsesMatchTheDocument(t *testing.T) {
	x := newExchanger(t)
	acct := x.s.Account
	basic, bearer, reb := acct.Basic(), "Bearer "+acct.Secret, []string{"REB-APIKEY", acct.Secret}

	// The server's own routes.
	x.do(200, "GET", "/healthz", "", "")
	x.do(200, "GET", "/readyz", "", "")
	x.do(200, "GET", "/openapi.json", "", "")
	x.do(304, "GET", "/openapi.json", "", "", "If-None-Match", x.last.Header.Get("ETag"))

	// Sunshine.
	app := str(x.do(201, "POST", "/v2/apps", basic, `{"displayName":"Docs","metadata":{"tier":"gold","n":1},"settings":{"conversationRetentionSeconds":60}}`), "app", "id")
	x.do(201, "POST", "/v2/apps", basic, `{"displayName":"Second"}`)
	x.do(200, "GET", "/v2/apps", basic, "")
	x.do(200, "GET", "/v2/apps?page[size]=1", basic, "")
	x.do(200, "GET", "/v2/apps/"+app, basic, "")
	x.do(200, "PATCH", "/v2/apps/"+app, basic, `{"metadata":null,"settings":{"useAnimalNames":true}}`)
	integ := str(x.do(201, "POST", "/v2/apps/"+app+"/integrations", basic,
		`{"type":"custom","displayName":"Bot","webhooks":[{"target":"https://example.com/cb","triggers":["conversation:message"]}]}`), "integration", "id")
	x.do(200, "GET", "/v2/apps/"+app+"/integrations?filter[types]=custom", basic, "")
	x.do(200, "GET", "/v2/apps/"+app+"/integrations/"+integ, basic, "")
	x.do(200, "PATCH", "/v2/apps/"+app+"/integrations/"+integ, basic, `{"displayName":null}`)
	appKey := x.do(201, "POST", "/v2/apps/"+app+"/keys", basic, `{"displayName":"app key"}`)["key"].(map[string]any)
	x.do(200, "GET", "/v2/apps/"+app+"/keys", basic, "")
	x.do(200, "GET", "/v2/apps/"+app+"/keys/"+appKey["id"].(string), basic, "")
	intKey := str(x.do(201, "POST", "/v2/apps/"+app+"/integrations/"+integ+"/keys", basic, `{"displayName":"int key"}`), "key", "id")
	x.do(200, "GET", "/v2/apps/"+app+"/integrations/"+integ+"/keys", basic, "")
	x.do(200, "GET", "/v2/apps/"+app+"/integrations/"+integ+"/keys/"+intKey, basic, "")
	x.do(200, "DELETE", "/v2/apps/"+app+"/integrations/"+integ+"/keys/"+intKey, basic, "")
	x.do(401, "GET", "/v2/apps", "", "")
	x.do(401, "GET", "/v2/apps", "Basic bm9wZTpub3Bl", "")
	x.do(400, "POST", "/v2/apps", basic, `{}`)
	x.do(400, "GET", "/v2/apps?page[size]=0", basic, "")
	x.do(404, "GET", "/v2/apps/not-an-id", basic, "")
	x.do(404, "GET", "/v2/apps/"+app+"/integrations/"+strings.Repeat("0", 24), basic, "")
	x.do(404, "GET", "/v2/apps/"+app+"/keys/app_nothing", basic, "")
	x.do(413, "POST", "/v2/apps", basic, `{"displayName":"x","pad":"`+strings.Repeat("p", 100_001)+`"}`)
	x.do(415, "POST", "/v2/apps", basic, `{"displayName":"x"}`, "Content-Type", "text/plain")
	appBasic := "Basic " + basicOf(appKey["id"].(string), appKey["secret"].(string))
	x.do(403, "GET", "/v2/apps", appBasic, "")
	x.do(404, "GET", "/v2/nothing-here", basic, "")
	x.do(405, "PUT", "/v2/apps", basic, "")

	// Rebilly.
	made := x.do(201, "POST", "/api-keys", "", `{"description":"made"}`, reb...)
	x.do(201, "POST", "/api-keys/", "", `{"description":"slash","type":"publishable"}`, reb...)
	x.do(200, "GET", "/api-keys", "", "", reb...)
	x.do(200, "GET", "/api-keys?limit=1&offset=0&sort=-createdTime,id&filter=type:secret", "", "", reb...)
	x.do(200, "GET", "/api-keys/"+made["id"].(string), "", "", reb...)
	x.do(201, "PUT", "/api-keys/my-key", "", `{"description":"mine","allowedIps":["203.0.113.0/24"],"acl":[{"scope":{"organizationId":["`+app+`"]},"permissions":["GetApiKey"]}]}`, reb...)
	x.do(200, "PUT", "/api-keys/my-key", "", `{"description":"mine, renamed","allowedIps":null}`, reb...)
	x.do(201, "POST", "/organizations/"+app+"/api-keys", "", `{"description":"in org"}`, reb...)
	x.do(200, "GET", "/organizations/"+app+"/api-keys", "", "", reb...)
	x.do(404, "GET", "/organizations/"+strings.Repeat("f", 24)+"/api-keys", "", "", reb...)
	x.do(404, "GET", "/api-keys/nothing", "", "", reb...)
	x.do(422, "GET", "/api-keys?limit=abc", "", "", reb...)
	x.do(422, "POST", "/api-keys", "", `{"description":"","type":"other"}`, reb...)
	x.do(400, "POST", "/api-keys", "", `{"description":`, reb...)
	x.do(401, "GET", "/api-keys", "", "")
	x.do(409, "DELETE", "/api-keys/"+acct.ID, "", "", reb...)
	x.do(204, "DELETE", "/api-keys/my-key", "", "", reb...)

	// Native.
	napp := str(x.do(201, "POST", "/v1/apps", bearer, `{"name":"Shop","metadata":{"tier":"gold"}}`), "id")
	x.do(200, "GET", "/v1/apps?limit=1", bearer, "")
	x.do(200, "GET", "/v1/apps/"+napp, bearer, "")
	x.do(200, "PATCH", "/v1/apps/"+napp, bearer, `{"name":"Shop 2","metadata":null}`)
	nint := str(x.do(201, "POST", "/v1/apps/"+napp+"/integrations", bearer, `{"name":"Billing"}`), "id")
	x.do(200, "GET", "/v1/apps/"+napp+"/integrations", bearer, "")
	x.do(200, "GET", "/v1/apps/"+napp+"/integrations/"+nint, bearer, "")
	x.do(200, "PATCH", "/v1/apps/"+napp+"/integrations/"+nint, bearer, `{"name":"Billing 2"}`)
	x.do(200, "GET", "/v2/apps/"+napp+"/integrations/"+nint, basic, "") // a /v1 integration through Sunshine: no webhook
	key := x.do(201, "POST", "/v1/keys", bearer, `{"name":"checkout","owner":{"type":"app","id":"`+napp+`"},"prefix":"shop",
		"permissions":["orders.read"],"acl":[{"scope":{"productId":["p1"]},"permissions":["orders.write"]}],
		"rateLimit":{"limit":100,"period":"1m"},"metadata":{"crm":{"id":7}},"expiresAt":"2099-01-01T00:00:00Z"}`)
	keyID, secret := key["id"].(string), key["secret"].(string)
	x.do(201, "POST", "/v1/keys", bearer, `{"name":"integration key","owner":{"type":"integration","id":"`+nint+`","appId":"`+napp+`"}}`)
	x.do(200, "GET", "/v1/keys?limit=2", bearer, "")
	x.do(200, "GET", "/v1/keys?ownerType=app&ownerId="+napp, bearer, "")
	x.do(200, "GET", "/v1/keys/"+keyID, bearer, "")
	x.do(200, "GET", "/v1/keys/"+made["id"].(string), bearer, "") // a Rebilly key, shown natively
	// Keys made on one surface as another shows them: a native key with
	// no permission at all and a long scope value (Rebilly: acl []), and a
	// Rebilly permission longer than /v1 takes.
	bare := str(x.do(201, "POST", "/v1/keys", bearer, `{"name":"bare","permissions":[]}`), "id")
	x.do(200, "GET", "/api-keys/"+bare, "", "", reb...)
	scoped := str(x.do(201, "POST", "/v1/keys", bearer, `{"name":"scoped","acl":[{"scope":{"customFieldName":["`+strings.Repeat("f ", 45)+`"]},"permissions":["x.read"]}]}`), "id")
	x.do(200, "GET", "/api-keys/"+scoped, "", "", reb...)
	long := str(x.do(201, "POST", "/api-keys", "", `{"description":"long","acl":[{"scope":{},"permissions":["A`+strings.Repeat("b", 119)+`"]}]}`, reb...), "id")
	x.do(200, "GET", "/v1/keys/"+long, bearer, "")
	x.do(200, "PATCH", "/v1/keys/"+keyID, bearer, `{"enabled":true,"allowedIps":["198.51.100.7"]}`)
	x.do(200, "POST", "/v1/keys/"+keyID+"/roll", bearer, `{"gracePeriod":"1h"}`)
	x.do(200, "POST", "/v1/verify", bearer, `{"key":"nope-nope-nope"}`)
	x.do(200, "POST", "/v1/verify", bearer, `{"key":"`+secret+`","ip":"198.51.100.7","permissions":["orders.read"]}`)
	x.do(200, "POST", "/v1/verify", bearer, `{"key":"`+secret+`","ip":"192.0.2.1"}`)
	x.do(200, "GET", "/v1/keys/"+keyID+"/usage?granularity=minute", bearer, "")
	x.do(200, "GET", "/v1/whoami", bearer, "")
	x.do(200, "GET", "/v1/audit-events?limit=5", bearer, "")
	open := x.do(201, "POST", "/v1/keys", bearer, `{"name":"open","permissions":["orders.read"],"metadata":{"plan":"pro"}}`)
	x.do(200, "GET", "/v1/authorize?permission=orders.read", "Bearer "+open["secret"].(string), "")
	x.do(200, "HEAD", "/v1/authorize/orders/17", "", "", "X-API-Key", open["secret"].(string))
	x.do(200, "POST", "/v1/authorize/orders/17", "", "", "X-API-Key", open["secret"].(string), "X-Latchkey-Permission", "orders.read")
	x.do(401, "GET", "/v1/authorize", "", "")
	x.do(401, "GET", "/v1/authorize?gateway=nginx", "", "")
	x.do(403, "GET", "/v1/authorize?permission=admin", "Bearer "+open["secret"].(string), "")
	x.do(403, "GET", "/v1/authorize?permission=admin&gateway=nginx", "Bearer "+open["secret"].(string), "")
	x.do(400, "GET", "/v1/authorize?cost=0", "Bearer "+open["secret"].(string), "")
	x.do(200, "POST", "/v1/keys/import", bearer, `{"keys":[
		{"name":"imported","id":"legacy-1","secret":"legacy-secret-0001"},
		{"name":"again","id":"legacy-1","secret":"legacy-secret-0002"},
		{"name":"bad","secret":"short"},
		{"name":"hashed","id":"legacy-2","hash":"`+strings.Repeat("ab", 32)+`","hashAlgorithm":"sha256-hex"}]}`)
	x.do(400, "POST", "/v1/keys/import", bearer, `{"keys":[]}`)
	x.do(400, "POST", "/v1/keys", bearer, `{"nmae":"typo"}`)
	x.do(400, "GET", "/v1/keys?limit=1000", bearer, "")
	x.do(401, "GET", "/v1/keys", "", "")
	x.do(404, "GET", "/v1/keys/key_nothing", bearer, "")
	x.do(404, "GET", "/v1/apps/zzz", bearer, "")
	x.do(409, "DELETE", "/v1/keys/"+acct.ID, bearer, "")
	x.do(415, "POST", "/v1/apps", bearer, `{"name":"x"}`, "Content-Type", "text/plain")
	x.do(204, "DELETE", "/v1/apps/"+napp+"/integrations/"+nint, bearer, "")
	x.do(204, "DELETE", "/v1/keys/"+keyID, bearer, "")
	x.do(204, "DELETE", "/v1/apps/"+napp, bearer, "")
	x.do(404, "GET", "/v1/nothing", bearer, "")

	// Sunshine deletes, last: they take the keys with them.
	x.do(200, "DELETE", "/v2/apps/"+app+"/integrations/"+integ, basic, "")
	x.do(200, "DELETE", "/v2/apps/"+app+"/keys/"+appKey["id"].(string), basic, "")
	x.do(200, "DELETE", "/v2/apps/"+app, basic, "")

	if len(x.checked) < 45 {
		t.Errorf("only %d operations were checked", len(x.checked))
	}
	t.Logf("%d operations checked", len(x.checked))
}

func basicOf(id, secret string) string {
	return strings.TrimPrefix((lktest.Credentials{ID: id, Secret: secret}).Basic(), "Basic ")
}

// TestCheckerCatchesMismatches: responses that differ from the document in
// one way each (a wrong type, a missing required member, a member the
// document does not have, a missing header, a body where there is none, an
// undocumented status, a wrong media type) are each reported; the server's
// answers to paths and methods it does not serve are skipped.
func TestCheckerCatchesMismatches(t *testing.T) {
	x := newExchanger(t)
	basic, reb := x.s.Account.Basic(), []string{"REB-APIKEY", x.s.Account.Secret}
	x.do(201, "POST", "/v2/apps", basic, `{"displayName":"Docs"}`)
	sunshineApp := x.last
	x.do(200, "GET", "/api-keys", "", "", reb...)
	rebillyList := x.last
	x.do(200, "GET", "/v1/whoami", "Bearer "+x.s.Account.Secret, "")
	nativeKey := x.last

	mutate := func(ex check.Exchange, f func(map[string]any)) check.Exchange {
		var m map[string]any
		if err := json.Unmarshal([]byte(ex.Body), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		ex.Body = string(b)
		return ex
	}
	withHeader := func(ex check.Exchange, name, value string) check.Exchange {
		ex.Header = ex.Header.Clone()
		if value == "" {
			ex.Header.Del(name)
		} else {
			ex.Header.Set(name, value)
		}
		return ex
	}
	for _, tt := range []struct {
		name string
		ex   check.Exchange
		want string
	}{
		{"a number for a string", mutate(sunshineApp, func(m map[string]any) { m["app"].(map[string]any)["displayName"] = 7 }), "displayName"},
		{"a required member missing", mutate(sunshineApp, func(m map[string]any) { delete(m["app"].(map[string]any), "settings") }), "settings"},
		{"a member the document lacks", mutate(nativeKey, func(m map[string]any) { m["secret"] = "leaked" }), "secret"},
		{"a bad date-time", mutate(nativeKey, func(m map[string]any) { m["createdAt"] = "yesterday" }), "createdAt"},
		{"a value outside its enum", mutate(nativeKey, func(m map[string]any) { m["type"] = "private" }), "type"},
		{"null where it may not be", mutate(nativeKey, func(m map[string]any) { m["permissions"] = nil }), "permissions"},
		{"a required header missing", withHeader(rebillyList, "Pagination-Total", ""), "Pagination-Total"},
		{"a header of the wrong type", withHeader(rebillyList, "Pagination-Limit", "many"), "Pagination-Limit"},
		{"another media type", withHeader(sunshineApp, "Content-Type", "text/plain"), "text/plain"},
		{"an undocumented status", func() check.Exchange { ex := sunshineApp; ex.Status = 418; return ex }(), "418"},
		{"a body where none is documented", check.Exchange{Method: "DELETE", Target: "/v1/keys/k", Status: 204, Header: http.Header{"X-Request-Id": {"r"}}, Body: "{}"}, "no body"},
		{"no body where one is documented", func() check.Exchange { ex := sunshineApp; ex.Body = ""; return ex }(), "none"},
		{"an undocumented path that is served", check.Exchange{Method: "GET", Target: "/v1/secret-route", Status: 200}, "no documented path"},
	} {
		r := x.c.Check(tt.ex)
		if len(r.Problems) == 0 {
			t.Errorf("%s: not reported", tt.name)
			continue
		}
		if all := strings.Join(r.Problems, "\n"); !strings.Contains(strings.ToLower(all), strings.ToLower(tt.want)) {
			t.Errorf("%s: reported without naming %q:\n%s", tt.name, tt.want, all)
		}
	}
	for _, ex := range []check.Exchange{
		{Method: "GET", Target: "/v2/nothing", Status: 404, Body: `{"errors":[{"code":"not_found","title":"Resource not found"}]}`},
		{Method: "PUT", Target: "/v2/apps", Status: 405},
	} {
		if r := x.c.Check(ex); r.Skipped == "" || len(r.Problems) > 0 {
			t.Errorf("%s %s %d: %+v, want skipped", ex.Method, ex.Target, ex.Status, r)
		}
	}
}
