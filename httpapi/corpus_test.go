package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/httpapi/native"
	"github.com/latchkey/latchkey/httpapi/rebilly"
	"github.com/latchkey/latchkey/httpapi/sunshine"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"

	_ "modernc.org/sqlite" // the driver the state dump reads the database with
)

// TestBadInputCorpus generates bad input from the route tables of every
// surface (sunshine.Routes, rebilly.Routes, native.Routes), not from a list
// written by hand, and sends all of it, with a valid account credential, to
// a real server on a real SQLite store seeded with two accounts' apps,
// integrations and keys:
//
//   - for every route that reads a body: malformed JSON (truncated,
//     trailing garbage, two values, every wrong top-level type), every wrong
//     JSON type in every field at every depth, numbers that cannot be kept
//     (1e400, 2^64, -0, 1e-400), 10,000 levels of nesting, invalid UTF-8
//     and lone surrogates in every string, U+0000 in every string, a
//     duplicate of every member, unknown members in every object, and a
//     1 MB string, sized and chunked;
//   - for every path parameter: empty-ish ids, 10 kB ids, %00, ../, dot
//     segments, non-ASCII and invalid UTF-8, and the ids of another
//     account's records;
//   - for every query parameter: wrong types, huge and negative numbers,
//     values outside its enum or format, repeats, and invalid
//     percent-encoding.
//
// Every case must get a 4xx in its surface's own error format (never 401,
// 403 or 429: the credential is good), never a 5xx or a panic, and leave
// every table of the database as it was, save what changes by design when a
// key is used (usage counts, lastUsedAt) and the audit log of refusals.
func TestBadInputCorpus(t *testing.T) {
	start := time.Now()
	s := lktest.NewAudited(t, web.Config{}) // the audit log at work, as a server has it
	fx := seedCorpus(t, s)
	surfaces := corpusSurfaces(fx)

	var cases []corpusCase
	for _, sf := range surfaces {
		n := len(cases)
		for _, rt := range sf.routes {
			cases = append(cases, generate(t, sf, rt)...)
		}
		t.Logf("%s: %d routes, %d cases", sf.name, len(sf.routes), len(cases)-n)
	}
	t.Logf("%d cases in all", len(cases))

	dump := dumpState(t, s.DBPath)
	client := noRedirects(s.Server.Client())
	var failures atomic.Int32
	runParallel(cases, 8, func(c *corpusCase) {
		if msg := c.run(client, s.Server.URL); msg != "" {
			if failures.Add(1) <= 60 {
				t.Errorf("%s: %s", c, msg)
			}
		}
	})
	if n := failures.Load(); n > 60 {
		t.Errorf("… and %d more failures", n-60)
	}
	if after := dumpState(t, s.DBPath); after != dump {
		t.Errorf("the corpus changed the stored state:\n%s", diffLines(dump, after))
		// Find the culprits: send every case again, one at a time, with a
		// dump around each (only when something is wrong, as it is slow).
		for i := range cases {
			before := dumpState(t, s.DBPath)
			cases[i].run(client, s.Server.URL)
			if after := dumpState(t, s.DBPath); after != before {
				t.Errorf("%s changed the stored state:\n%s", &cases[i], diffLines(before, after))
			}
		}
	}
	if logs := s.Logs(); strings.Contains(logs, "panic") || strings.Contains(logs, "level=ERROR") {
		t.Errorf("the server logged a panic or an internal error:\n%.4000s", logs)
	}

	// The corpus proves something only if the bodies it mutated were valid:
	// each example, sent as it is, succeeds (this changes the state, so it
	// comes last).
	for _, sf := range surfaces {
		for _, rt := range sf.routes {
			for _, ex := range sf.examples[rt.OperationID] {
				if rt.Body == nil {
					continue
				}
				c := corpusCase{sf: sf, route: rt, name: "the example itself", method: methodOf(rt),
					path: sf.path(rt, ex.path), body: []byte(ex.body), hasBody: true}
				status, body := c.send(client, s.Server.URL)
				if status < 200 || status > 299 {
					t.Errorf("%s: the example gets %d, want 2xx: %s", &c, status, body)
				}
				if batchRoutes[rt.OperationID] && !bytes.Contains(body, []byte(`"created":1,`)) {
					t.Errorf("%s: the example created nothing: %s", &c, body)
				}
			}
		}
	}
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
}

// TestRoutesAreMounted: each surface serves exactly the routes its Routes
// lists, each under its own pattern.
func TestRoutesAreMounted(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, sf := range map[string]struct {
		add    func(mux *http.ServeMux)
		routes []web.Route
	}{
		"sunshine": {func(mux *http.ServeMux) { sunshine.AddRoutes(mux, logger, web.Config{}, nil, nil) }, sunshine.Routes()},
		"rebilly":  {func(mux *http.ServeMux) { rebilly.AddRoutes(mux, logger, web.Config{}, nil, nil) }, rebilly.Routes()},
		"native":   {func(mux *http.ServeMux) { native.AddRoutes(mux, logger, web.Config{}, nil, nil) }, native.Routes()},
	} {
		mux := http.NewServeMux()
		sf.add(mux)
		if len(sf.routes) == 0 {
			t.Errorf("%s lists no routes", name)
		}
		for _, rt := range sf.routes {
			path := strings.ReplaceAll(pathParam.ReplaceAllString(rt.Path, "x"), "{$}", "")
			req, _ := http.NewRequest(methodOf(rt), "http://h"+path, nil)
			if _, pattern := mux.Handler(req); pattern != rt.Pattern() {
				t.Errorf("%s: %s %s is served by %q, want %q", name, req.Method, path, pattern, rt.Pattern())
			}
			if rt.OperationID == "" {
				t.Errorf("%s: %s has no operation id", name, rt.Pattern())
			}
		}
	}
}

// ---- the fixture ----

// corpusFixture is what the corpus is sent against: account A, whose
// credential every case carries, and account B, whose ids A must not reach.
type corpusFixture struct {
	s *lktest.Stack
	// A's records, and B's of the same kinds.
	app, integration, appKey, intKey, rootKey, orgKey, nativeKey, nativeIntKey string
	nativeSecret                                                               string
	other                                                                      map[string]string
}

func seedCorpus(t *testing.T, s *lktest.Stack) *corpusFixture {
	t.Helper()
	fx := &corpusFixture{s: s}
	seed := func(acct lktest.Credentials) (ids map[string]string, nativeSecret string) {
		basic, bearer := acct.Basic(), "Bearer "+acct.Secret
		// post creates a record; authz "" sends the secret as REB-APIKEY.
		post := func(authz, path, body, member string) map[string]any {
			var headers []string
			if authz == "" {
				headers = []string{"REB-APIKEY", acct.Secret}
			}
			resp, got := s.Do(t, "POST", path, authz, body, headers...)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("seeding: POST %s = %d %s", path, resp.StatusCode, got)
			}
			var m map[string]any
			if err := json.Unmarshal(got, &m); err != nil {
				t.Fatal(err)
			}
			if member != "" {
				m = m[member].(map[string]any)
			}
			return m
		}
		ids = map[string]string{}
		ids["app"] = post(basic, "/v2/apps", `{"displayName":"Corpus app","metadata":{"k":"v"}}`, "app")["id"].(string)
		ids["integration"] = post(basic, "/v2/apps/"+ids["app"]+"/integrations",
			`{"type":"custom","displayName":"Bot","webhooks":[{"target":"https://example.com/cb","triggers":["conversation:message"]}]}`,
			"integration")["id"].(string)
		ids["appKey"] = post(basic, "/v2/apps/"+ids["app"]+"/keys", `{"displayName":"app key"}`, "key")["id"].(string)
		ids["intKey"] = post(basic, "/v2/apps/"+ids["app"]+"/integrations/"+ids["integration"]+"/keys", `{"displayName":"int key"}`, "key")["id"].(string)
		ids["rootKey"] = post("", "/api-keys", `{"description":"root"}`, "")["id"].(string)
		ids["orgKey"] = post("", "/organizations/"+ids["app"]+"/api-keys", `{"description":"org","acl":[{"scope":{},"permissions":["GetApiKey"]}]}`, "")["id"].(string)
		k := post(bearer, "/v1/keys", `{"name":"native","owner":{"type":"app","id":"`+ids["app"]+`"},"prefix":"acme",
			"permissions":["orders.read"],"rateLimit":{"limit":1000,"period":"1m"},"metadata":{"crm":"c_1"}}`, "")
		ids["nativeKey"], nativeSecret = k["id"].(string), k["secret"].(string)
		ids["nativeIntKey"] = post(bearer, "/v1/keys", `{"name":"native int","owner":{"type":"integration","id":"`+
			ids["integration"]+`","appId":"`+ids["app"]+`"}}`, "")["id"].(string)
		return ids, nativeSecret
	}
	a, secret := seed(s.Account)
	fx.app, fx.integration, fx.appKey, fx.intKey = a["app"], a["integration"], a["appKey"], a["intKey"]
	fx.rootKey, fx.orgKey, fx.nativeKey, fx.nativeIntKey, fx.nativeSecret = a["rootKey"], a["orgKey"], a["nativeKey"], a["nativeIntKey"], secret

	_, bKey, err := s.Svc.Bootstrap(context.Background(), "Another account")
	if err != nil {
		t.Fatal(err)
	}
	fx.other, _ = seed(lktest.Credentials{ID: bKey.ID, Secret: bKey.Secrets[0].Plain})
	return fx
}

// ---- the surfaces ----

// corpusSurface is one surface as the corpus sees it: its routes, how a
// request is authenticated, its error format, valid path values, and valid
// bodies to mutate.
type corpusSurface struct {
	name     string
	routes   []web.Route
	header   [2]string
	parse    func(status int, body []byte) string // "" if body is the surface's error format for status
	ids      func(rt web.Route, param string) (valid, otherAccount string)
	examples map[string][]example // by operation id
}

// example is a valid body for an operation, and, where it needs them, the
// path values to send it to.
type example struct {
	body string
	path map[string]string
}

func corpusSurfaces(fx *corpusFixture) []*corpusSurface {
	o := fx.other
	meta := `{"a":"b","n":1.5,"t":true}`
	sun := &corpusSurface{
		name: "sunshine", routes: sunshine.Routes(),
		header: [2]string{"Authorization", fx.s.Account.Basic()},
		parse:  parseSunshineError,
		ids: func(rt web.Route, param string) (string, string) {
			switch param {
			case "appId":
				return fx.app, o["app"]
			case "integrationId":
				return fx.integration, o["integration"]
			default: // keyId
				if strings.Contains(rt.Path, "/integrations/") {
					return fx.intKey, o["intKey"]
				}
				return fx.appKey, o["appKey"]
			}
		},
		examples: map[string][]example{
			"CreateApp": {{body: `{"displayName":"Corpus","settings":{"conversationRetentionSeconds":60,"maskCreditCardNumbers":true,` +
				`"useAnimalNames":false,"echoPostback":true,"ignoreAutoConversationStart":false,"multiConvoEnabled":true,` +
				`"appLocalizationEnabled":false,"endSessionEnabled":true,"disableConversationReopen":false},"metadata":` + meta + `}`}},
			"CreateAppKey":               {{body: `{"displayName":"k"}`}},
			"CreateCustomIntegrationKey": {{body: `{"displayName":"k"}`}},
			"CreateIntegration": {{body: `{"type":"custom","displayName":"Bot","webhooks":[{"target":"https://example.com/cb",` +
				`"triggers":["conversation:message","*"],"includeFullUser":false,"includeFullSource":true}]}`}},
			"UpdateIntegration": {{body: `{"displayName":"Bot 2"}`}},
		},
	}
	sun.examples["UpdateApp"] = sun.examples["CreateApp"]

	acl := `[{"scope":{"organizationId":["` + fx.app + `"],"productId":["p1"],"planId":["p1"],"customFieldName":["f1"]},"permissions":["GetApiKey","*"]}]`
	rebillyKey := `{"description":"d","type":"secret","acl":` + acl + `,"allowedIps":["203.0.113.0/24","2001:db8::1"]}`
	reb := &corpusSurface{
		name: "rebilly", routes: rebilly.Routes(),
		header: [2]string{"REB-APIKEY", fx.s.Account.Secret},
		parse:  parseProblem,
		ids: func(rt web.Route, param string) (string, string) {
			switch {
			case param == "organizationId":
				return fx.app, o["app"]
			case strings.HasPrefix(rt.Path, "/organizations/"):
				return fx.orgKey, o["orgKey"]
			default:
				return fx.rootKey, o["rootKey"]
			}
		},
		examples: map[string][]example{"PostApiKey": {{body: rebillyKey}}, "PutApiKey": {{body: rebillyKey}}},
	}

	nativeKey := func(owner, typ string) string {
		return `{"name":"n","owner":` + owner + `,"type":"` + typ + `","prefix":"acme","permissions":["orders.read","orders.items.*"],` +
			`"acl":[{"scope":{"organizationId":["` + fx.app + `"],"productId":["p"],"planId":["p"],"customFieldName":["f"]},"permissions":["orders.write"]}],` +
			`"allowedIps":["203.0.113.0/24"],"expiresAt":"2099-01-01T00:00:00Z","rateLimit":{"limit":100,"period":"1m"},` +
			`"metadata":{"crm":"c_42","nested":{"list":[1,"x",true,null]}},"enabled":true}`
	}
	appOwner := `{"type":"app","id":"` + fx.app + `"}`
	intOwner := `{"type":"integration","id":"` + fx.integration + `","appId":"` + fx.app + `"}`
	nat := &corpusSurface{
		name: "native", routes: native.Routes(),
		header: [2]string{"Authorization", "Bearer " + fx.s.Account.Secret},
		parse:  parseNativeError,
		ids: func(rt web.Route, param string) (string, string) {
			if param == "appId" {
				return fx.app, o["app"]
			}
			if param == "integrationId" {
				return fx.integration, o["integration"]
			}
			return fx.nativeKey, o["nativeKey"]
		},
		examples: map[string][]example{
			"CreateApp": {{body: `{"name":"Corpus","metadata":` + meta + `}`}},
			"CreateKey": {{body: nativeKey(appOwner, "secret")}, {body: nativeKey(intOwner, "publishable")}},
			// A PATCH may send owner, type and prefix only unchanged.
			"UpdateKey": {{body: nativeKey(appOwner, "secret")},
				{body: `{"owner":` + intOwner + `,"name":"m"}`, path: map[string]string{"id": fx.nativeIntKey}}},
			"RollKey": {{body: `{"gracePeriod":"1h"}`}},
			// An import answers 200 and reports each item (see batchRoutes).
			"ImportKeys": {
				{body: `{"keys":[` + strings.TrimSuffix(nativeKey(intOwner, "secret"), "}") + `,"id":"legacy_1","secret":"legacy-secret-0001"}]}`},
				{body: `{"keys":[` + strings.TrimSuffix(nativeKey(appOwner, "secret"), "}") +
					`,"id":"legacy_2","hash":"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW","hashAlgorithm":"bcrypt"}]}`},
			},
			"CreateIntegration": {{body: `{"name":"Bot","type":"custom"}`}},
			"UpdateIntegration": {{body: `{"name":"Bot 2"}`}},
			"VerifyKey": {{body: `{"key":"` + fx.nativeSecret + `","apps":["` + fx.app + `"],"permissions":["orders.read"],` +
				`"scope":{"organizationId":"` + fx.app + `","productId":"p","planId":"p","customFieldName":"f"},"ip":"203.0.113.7","cost":1}`}},
		},
	}
	nat.examples["UpdateApp"] = nat.examples["CreateApp"]
	return []*corpusSurface{sun, reb, nat}
}

var pathParam = regexp.MustCompile(`\{(\w+)\}`)

// path is rt's path with every parameter valid, or as given in values.
func (sf *corpusSurface) path(rt web.Route, values map[string]string) string {
	p := strings.ReplaceAll(rt.Path, "{$}", "")
	return pathParam.ReplaceAllStringFunc(p, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := values[name]; ok {
			return v
		}
		v, _ := sf.ids(rt, name)
		return v
	})
}

func methodOf(rt web.Route) string {
	if rt.Method == "" {
		return http.MethodGet
	}
	return rt.Method
}

// ---- the error formats ----

func parseSunshineError(status int, body []byte) string {
	var e struct {
		Errors []struct{ Code, Title string }
	}
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
		return "not {\"errors\":[…]}"
	}
	for _, x := range e.Errors {
		if x.Code == "" || x.Title == "" {
			return "an error without code or title"
		}
	}
	return ""
}

func parseProblem(status int, body []byte) string {
	var p struct {
		Type, Title, Detail string
		Status              int
		InvalidFields       *[]struct{ Field, Message string } `json:"invalidFields"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Type == "" || p.Title == "" || p.Detail == "" {
		return "not a problem object with type, title and detail"
	}
	if p.Status != status {
		return fmt.Sprintf("problem status %d", p.Status)
	}
	if status == http.StatusUnprocessableEntity && (p.InvalidFields == nil || len(*p.InvalidFields) == 0) {
		return "422 without invalidFields"
	}
	return ""
}

func parseNativeError(status int, body []byte) string {
	var e struct {
		Error *struct {
			Code, Message string
			Fields        *[]struct{ Field, Message string }
		}
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		return "not {\"error\":{code,message}}"
	}
	if (e.Error.Code == "invalid_request") != (e.Error.Fields != nil) {
		return "fields where they do not belong, or invalid_request without them"
	}
	return ""
}

// ---- cases ----

type corpusCase struct {
	sf           *corpusSurface
	route        web.Route
	name         string
	method, path string
	body         []byte
	hasBody      bool
	chunked      bool // sent without a Content-Length
	want         int  // the one status it must get; 0 for any 4xx the surface may choose
}

func (c *corpusCase) String() string {
	path := c.path
	if len(path) > 120 {
		path = path[:120] + "…"
	}
	return fmt.Sprintf("%s %s %s [%s]", c.sf.name, c.method, path, c.name)
}

func (c *corpusCase) send(client *http.Client, base string) (int, []byte) {
	var body io.Reader
	if c.hasBody {
		body = bytes.NewReader(c.body)
		if c.chunked {
			body = io.MultiReader(body) // hides the length: sent chunked
		}
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	if err != nil {
		return -1, []byte(err.Error())
	}
	req.Header.Set(c.sf.header[0], c.sf.header[1])
	if c.hasBody {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return -1, []byte(err.Error())
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && !strings.HasPrefix(ct, "application/json") {
		return resp.StatusCode, append([]byte("(Content-Type "+ct+") "), got...)
	}
	return resp.StatusCode, got
}

// run sends the case and returns what is wrong with the answer, or "".
func (c *corpusCase) run(client *http.Client, base string) string {
	status, body := c.send(client, base)
	brief := string(body)
	if len(brief) > 300 {
		brief = brief[:300] + "…"
	}
	switch {
	case status == -1:
		return "request failed: " + brief
	case status == http.StatusOK && batchRoutes[c.route.OperationID] && c.want == 0:
		if msg := batchRefused(body); msg != "" {
			return msg + ": " + brief
		}
		return ""
	case c.want != 0 && status != c.want:
		return fmt.Sprintf("status %d, want %d: %s", status, c.want, brief)
	case status < 400 || status > 499:
		return fmt.Sprintf("status %d, want a 4xx: %s", status, brief)
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusTooManyRequests:
		return fmt.Sprintf("status %d with a valid credential: %s", status, brief)
	case bytes.HasPrefix(body, []byte("(Content-Type")):
		return "an error that is not JSON: " + brief
	}
	if msg := c.sf.parse(status, body); msg != "" {
		return fmt.Sprintf("status %d, %s: %s", status, msg, brief)
	}
	return ""
}

// batchRoutes are the routes whose body is a batch of items each answered
// on its own: a bad item is reported failed in a 200, not with a 4xx, and
// must create nothing (the state check at the end holds them to that).
var batchRoutes = map[string]bool{"ImportKeys": true}

// batchRefused checks a batch's 200: every item failed, each with a native
// error. It returns what is wrong, or "".
func batchRefused(body []byte) string {
	var out struct {
		Created, Skipped, Failed int
		Results                  []struct {
			Status string
			Error  *struct{ Code, Message string }
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "a batch answer that is not JSON"
	}
	if out.Created != 0 || out.Skipped != 0 || out.Failed != len(out.Results) || len(out.Results) == 0 {
		return "a bad item that was not reported failed"
	}
	for _, r := range out.Results {
		if r.Status != "failed" || r.Error == nil || r.Error.Code == "" || r.Error.Message == "" {
			return "a failed item without its error"
		}
	}
	return ""
}

// generate makes every case for one route.
func generate(t *testing.T, sf *corpusSurface, rt web.Route) []corpusCase {
	g := &generator{sf: sf, rt: rt}
	if rt.Body != nil {
		examples := sf.examples[rt.OperationID]
		if len(examples) == 0 {
			t.Errorf("%s %s reads a body but the corpus has no valid example of it", sf.name, rt.Pattern())
		}
		seen := map[string]bool{}
		for _, ex := range examples {
			root := parseTree(t, ex.body)
			g.path = sf.path(rt, ex.path)
			g.bodyCases(ex.body, root)
			g.object(root, nil, *rt.Body, "", seen)
		}
		for _, missing := range declared(*rt.Body, "") {
			if !seen[missing] {
				t.Errorf("%s %s: no example holds %s, so the corpus cannot mutate it", sf.name, rt.Pattern(), missing)
			}
		}
	}
	g.pathCases()
	g.queryCases()
	return g.cases
}

type generator struct {
	sf    *corpusSurface
	rt    web.Route
	path  string // the path body cases go to
	cases []corpusCase
}

func (g *generator) add(name, path string, body []byte, hasBody bool, want int) {
	g.cases = append(g.cases, corpusCase{sf: g.sf, route: g.rt, name: name, method: methodOf(g.rt), path: path,
		body: body, hasBody: hasBody, want: want})
}

// bodyCases are the cases about the body as a whole.
func (g *generator) bodyCases(valid string, root *jnode) {
	for name, body := range map[string]string{
		"truncated":            valid[:len(valid)/2],
		"truncated by a byte":  valid[:len(valid)-1],
		"trailing garbage":     valid + " x",
		"trailing comma":       valid + ",",
		"two objects":          valid + valid,
		"an array of it":       "[" + valid + "]",
		"top-level array":      "[]",
		"top-level string":     `"x"`,
		"top-level number":     "1",
		"top-level true":       "true",
		"top-level null":       "null",
		"whitespace":           " \n\t",
		"a byte-order mark":    "\uFEFF" + valid,
		"single quotes":        strings.ReplaceAll(valid, `"`, `'`),
		"10,000 nested arrays": `{"` + root.names[0] + `":` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + "}",
		"10,000 nested objects": `{"` + root.names[0] + `":` + strings.Repeat(`{"a":`, 10_000) + "1" +
			strings.Repeat("}", 10_000) + "}",
	} {
		g.add(name, g.path, []byte(body), true, 0)
	}
	if !g.rt.BodyOptional {
		g.add("empty body", g.path, nil, true, 0)
	}
	// 1 MB in the first string member (more than the route's cap, for a
	// batch): refused for its size, with and without a Content-Length.
	huge := root.clone()
	if p := firstString(huge, nil); p != nil {
		at(huge, p).raw = `"` + strings.Repeat("x", max(1_000_000, int(g.rt.MaxBody)+1)) + `"`
		body := huge.bytes()
		g.add("a 1 MB string", g.path, body, true, http.StatusRequestEntityTooLarge)
		g.cases = append(g.cases, corpusCase{sf: g.sf, route: g.rt, name: "a 1 MB string, chunked", method: methodOf(g.rt),
			path: g.path, body: body, hasBody: true, chunked: true, want: http.StatusRequestEntityTooLarge})
	}
}

// object makes the cases for the members of the object at path (n in the
// example's tree), described by f.
func (g *generator) object(root *jnode, path []int, f web.Field, label string, seen map[string]bool) {
	n := at(root, path)
	if f.Members == nil && !f.Strict {
		g.freeForm(root, path, label)
		return
	}
	for _, m := range f.Members {
		i := slices.Index(n.names, m.Name)
		if i < 0 {
			continue
		}
		child := append(slices.Clone(path), i)
		name := join(label, m.Name)
		seen[name] = true
		g.value(root, child, m, name, seen)
		// The member twice, with the same value.
		g.mutate(root, path, "duplicate "+name, func(n *jnode) {
			n.names = append(n.names, m.Name)
			n.vals = append(n.vals, n.vals[i].clone())
		})
	}
	// A member no one declared: refused by a strict object; ignored by an
	// open one, whose ignored members must still be well-formed.
	unknown := map[string]string{"unknown member": `1`}
	if !f.Strict {
		unknown = map[string]string{
			"unknown member with a lone surrogate":  `"\ud800"`,
			"unknown member with a duplicate":       `{"k":1,"k":2}`,
			"unknown member with invalid UTF-8":     "\"\xff\"",
			"unknown member with a number too big":  `1e400`,
			"unknown member named with a surrogate": ``,
		}
	}
	for what, raw := range unknown {
		name, value := "zzUnknown", raw
		if raw == "" {
			name, value = `\udc00`, "1"
		}
		g.mutate(root, path, what+at2(label), func(n *jnode) {
			n.names = append(n.names, name)
			n.vals = append(n.vals, &jnode{raw: value})
		})
	}
}

// value makes the cases for one value, described by f, and recurses.
func (g *generator) value(root *jnode, path []int, f web.Field, label string, seen map[string]bool) {
	for _, lit := range wrongTypes(f) {
		g.set(root, path, fmt.Sprintf("%s as %s", label, lit), lit)
	}
	switch f.Type {
	case web.String:
		for what, lit := range badStrings {
			g.set(root, path, label+" with "+what, lit)
		}
		for _, e := range f.Enum {
			g.set(root, path, label+" outside its enum", `"`+strings.ToUpper(e)+`x"`)
			break
		}
		if f.Format == "date-time" {
			g.set(root, path, label+" not a date-time", `"tomorrow"`)
			g.set(root, path, label+" in month 13", `"2099-13-01T00:00:00Z"`)
		}
	case web.Integer, web.Number:
		for _, lit := range hugeNumbers {
			g.set(root, path, label+" as "+lit, lit)
		}
	case web.Object:
		if at(root, path).kind == '{' {
			g.object(root, path, f, label, seen)
		}
	case web.Array:
		if n := at(root, path); n.kind == '[' && len(n.vals) > 0 && f.Items != nil {
			item := append(slices.Clone(path), 0)
			g.value(root, item, *f.Items, label+".0", seen)
			if f.Items.Type == web.Object {
				seen[label+".0"] = true
			}
		}
	}
}

// freeForm makes the cases for an object of the client's own (metadata):
// whatever its members, they must be kept exactly as sent.
func (g *generator) freeForm(root *jnode, path []int, label string) {
	for what, members := range map[string]string{
		"a lone surrogate in a name":  `"\ud800":1`,
		"a lone surrogate in a value": `"k":"\udbff"`,
		"invalid UTF-8 in a value":    "\"k\":\"\xed\xa0\x80\"",
		"U+0000 in a value":           `"k":"a\u0000"`,
		"a duplicate":                 `"k":1,"k":1`,
		"1e400":                       `"k":1e400`,
		"1e-400":                      `"k":1e-400`,
		"2^64":                        `"k":18446744073709551616`,
		"-0":                          `"k":-0`,
		"10,000 levels":               `"k":` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000),
	} {
		g.set(root, path, label+" with "+what, "{"+members+"}")
	}
}

// pathCases put bad values in each path parameter, the others valid, with
// the route's first example as body.
func (g *generator) pathCases() {
	params := pathParam.FindAllStringSubmatch(g.rt.Path, -1)
	var body []byte
	if ex := g.sf.examples[g.rt.OperationID]; g.rt.Body != nil && len(ex) > 0 {
		body = []byte(ex[0].body)
	}
	for i, p := range params {
		name := p[1]
		bad := map[string]string{
			"space":            "%20",
			"tab":              "%09",
			"a dot":            "%2E",
			"two dots":         "%2E%2E",
			"../":              "..%2F",
			"../../etc/passwd": "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
			"%00":              "%00",
			"a NUL inside":     "x%00y",
			"10 kB":            strings.Repeat("a", 10_000),
			"a snowman":        "%E2%98%83",
			"Cyrillic":         "%D0%BA%D0%BB%D1%8E%D1%87",
			"an emoji":         "%F0%9F%94%91",
			"invalid UTF-8":    "%FF%FE",
			"a quote":          "%27%3B--",
		}
		if _, other := g.sf.ids(g.rt, name); other != "" {
			bad["another account's"] = other
		}
		if i == len(params)-1 && strings.HasSuffix(g.rt.Path, p[0]) {
			bad["empty"] = "" // only at the end: an empty segment inside is a redirect to the cleaned path
		}
		for what, v := range bad {
			g.add(fmt.Sprintf("path %s: %s", name, what), g.sf.path(g.rt, map[string]string{name: v}), body, body != nil, 0)
		}
	}
}

// queryCases put bad values in each query parameter.
func (g *generator) queryCases() {
	path := g.sf.path(g.rt, nil)
	for _, p := range g.rt.Query {
		var bad []string
		switch {
		case p.Type == web.Integer:
			bad = []string{"abc", "1.5", "1e2", "true", "0x10", "%2B1", "01", "%201", "1e400", "18446744073709551616",
				"99999999999999999999999", "-1", "-9223372036854775809", "-0", "1000001"}
		case len(p.Enum) > 0:
			bad = []string{"bogus", strings.ToUpper(p.Enum[0])}
		case p.Format == "date-time":
			bad = []string{"yesterday", "1", "2099-13-01T00:00:00Z"}
		}
		bad = append(bad, "%zz", "%", "%FF", "%C0%AF", "%00", "a%00")
		for _, v := range bad {
			g.add(fmt.Sprintf("query %s=%s", p.Name, v), path+"?"+escapeName(p.Name)+"="+v, nil, false, 0)
		}
		if !p.Repeatable {
			v := "1"
			if len(p.Enum) > 0 {
				v = p.Enum[0]
			}
			g.add("query "+p.Name+" repeated", path+"?"+escapeName(p.Name)+"="+v+"&"+escapeName(p.Name)+"="+v, nil, false, 0)
		}
	}
	if len(g.rt.Query) > 0 {
		g.add("query with a name in bad percent-encoding", path+"?%zz=1", nil, false, 0)
	}
}

func escapeName(name string) string {
	return strings.NewReplacer("[", "%5B", "]", "%5D").Replace(name)
}

// set adds the case of the value at path replaced with the bytes lit.
func (g *generator) set(root *jnode, path []int, name, lit string) {
	g.mutate(root, path, name, func(n *jnode) { *n = jnode{raw: lit} })
}

// mutate adds the case of the example with the node at path changed by f.
func (g *generator) mutate(root *jnode, path []int, name string, f func(*jnode)) {
	c := root.clone()
	f(at(c, path))
	g.add(name, g.path, c.bytes(), true, 0)
}

// wrongTypes are JSON values of every type but f's (and null if f takes it).
func wrongTypes(f web.Field) []string {
	var out []string
	for _, lit := range []string{`"x"`, `7`, `1.5`, `true`, `{}`, `[]`, `null`} {
		switch {
		case f.Type == web.String && lit == `"x"`,
			(f.Type == web.Integer || f.Type == web.Number) && lit == `7`,
			f.Type == web.Number && lit == `1.5`,
			f.Type == web.Boolean && lit == `true`,
			f.Type == web.Object && lit == `{}`,
			f.Type == web.Array && lit == `[]`,
			f.Nullable && lit == `null`:
			continue
		}
		out = append(out, lit)
	}
	return out
}

// badStrings are string values that must never be stored.
var badStrings = map[string]string{
	"invalid UTF-8":         "\"a\xffb\"",
	"overlong UTF-8":        "\"\xc0\xaf\"",
	"UTF-8 of a surrogate":  "\"\xed\xa0\x80\"",
	"truncated UTF-8":       "\"a\xe2\x82\"",
	"a lone high surrogate": `"a\ud800b"`,
	"a lone low surrogate":  `"\udc00"`,
	"a reversed pair":       `"\udd11\ud83d"`,
	"two high surrogates":   `"\ud800\ud800"`,
	"an escaped NUL":        `"a\u0000b"`,
	"a raw NUL":             "\"a\x00b\"",
}

// hugeNumbers are numbers no float64 keeps as sent.
var hugeNumbers = []string{"1e400", "-1e400", "18446744073709551616", "-0", "1e-400", "9007199254740993"}

// declared lists the dot paths of every member f declares, items as ".0".
func declared(f web.Field, label string) []string {
	var out []string
	switch f.Type {
	case web.Object:
		for _, m := range f.Members {
			name := join(label, m.Name)
			out = append(out, name)
			out = append(out, declared(m, name)...)
		}
	case web.Array:
		if f.Items != nil && f.Items.Type == web.Object {
			out = append(out, label+".0")
			out = append(out, declared(*f.Items, label+".0")...)
		}
	}
	return out
}

func join(label, name string) string {
	if label == "" {
		return name
	}
	return label + "." + name
}

func at2(label string) string {
	if label == "" {
		return ""
	}
	return " in " + label
}

// ---- a JSON tree that keeps member order and can hold any bytes ----

// jnode is a JSON value as the example wrote it: an object ('{') with its
// members in order, an array ('['), or raw bytes standing for a value,
// which mutations may make anything at all.
type jnode struct {
	kind  byte
	names []string // an object's member names, as JSON string bodies
	vals  []*jnode
	raw   string
}

func parseTree(t *testing.T, s string) *jnode {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var read func() *jnode
	read = func() *jnode {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("example %s: %v", s, err)
		}
		switch v := tok.(type) {
		case json.Delim:
			n := &jnode{kind: byte(v)}
			for dec.More() {
				if v == '{' {
					name, _ := dec.Token()
					b, _ := json.Marshal(name)
					n.names = append(n.names, string(b[1:len(b)-1]))
				}
				n.vals = append(n.vals, read())
			}
			dec.Token() // the closing delimiter
			return n
		default:
			b, _ := json.Marshal(v)
			return &jnode{raw: string(b)}
		}
	}
	return read()
}

func (n *jnode) clone() *jnode {
	c := &jnode{kind: n.kind, raw: n.raw, names: slices.Clone(n.names)}
	for _, v := range n.vals {
		c.vals = append(c.vals, v.clone())
	}
	return c
}

func (n *jnode) write(b *bytes.Buffer) {
	switch n.kind {
	case '{':
		b.WriteByte('{')
		for i, name := range n.names {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + name + `":`)
			n.vals[i].write(b)
		}
		b.WriteByte('}')
	case '[':
		b.WriteByte('[')
		for i, v := range n.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			v.write(b)
		}
		b.WriteByte(']')
	default:
		b.WriteString(n.raw)
	}
}

func (n *jnode) bytes() []byte {
	var b bytes.Buffer
	n.write(&b)
	return b.Bytes()
}

func at(root *jnode, path []int) *jnode {
	n := root
	for _, i := range path {
		n = n.vals[i]
	}
	return n
}

// firstString is the path of the first string value in n, depth first.
func firstString(n *jnode, path []int) []int {
	if n.kind == 0 {
		if strings.HasPrefix(n.raw, `"`) {
			return path
		}
		return nil
	}
	for i, v := range n.vals {
		if p := firstString(v, append(slices.Clone(path), i)); p != nil {
			return p
		}
	}
	return nil
}

// ---- running, and the stored state ----

func noRedirects(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

// runParallel runs f on every case, n at a time.
func runParallel(cases []corpusCase, n int, f func(*corpusCase)) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(cases) {
					return
				}
				f(&cases[i])
			}
		}()
	}
	wg.Wait()
}

// skippedState is what changes by design when a key is merely used, or a
// request refused: usage counts, lastUsedAt, and the audit log.
var skippedState = map[string][]string{
	"key_usage":    nil, // the whole table
	"audit_events": nil,
	"keys":         {"last_used_at"},
}

// dumpState reads every table of the database (as sqlite_master lists
// them, so that tables added later are included) into one sorted text.
func dumpState(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	var out strings.Builder
	for _, table := range tables {
		skip, listed := skippedState[table]
		if listed && skip == nil {
			continue
		}
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var line strings.Builder
			for i, c := range cols {
				if slices.Contains(skip, c) {
					continue
				}
				fmt.Fprintf(&line, " %s=%q", c, fmt.Sprint(vals[i]))
			}
			lines = append(lines, table+":"+line.String())
		}
		rows.Close()
		sort.Strings(lines)
		out.WriteString(strings.Join(lines, "\n") + "\n")
	}
	return out.String()
}

// diffLines shows the lines only in a (-) and only in b (+).
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 40 {
		out = append(out[:40], fmt.Sprintf("… %d lines more", len(out)-40))
	}
	return strings.Join(out, "\n")
}
