package rebilly_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestBadInput sends every route malformed and mistyped bodies, bad ids,
// bad query parameters and wrong methods: each gets its documented 4xx as a
// problem object, never a 500, and the store is left exactly as it was.
func TestBadInput(t *testing.T) {
	s := newStack(t)
	app := s.createApp(t, "A")
	org := "/organizations/" + app + "/api-keys"
	existing := s.create(t, s.acct, "/api-keys", `{"description":"existing"}`)
	orgKey := s.create(t, s.acct, org, `{"description":"in the org"}`)

	desc := func(members string) string { return `{"description":"d",` + members + `}` }
	acl := func(entries string) string { return desc(`"acl":[` + entries + `]`) }
	ips := func(list string) string { return desc(`"allowedIps":[` + list + `]`) }
	many := func(n int, item string) string {
		return strings.TrimSuffix(strings.Repeat(item+",", n), ",")
	}

	type req struct {
		name, body string
		status     int
		fields     []string
	}
	// Bodies refused the same way by every create and update.
	bodies := []req{
		{"malformed JSON", `{"description":`, 400, nil},
		{"trailing garbage", `{"description":"a"} x`, 400, nil},
		{"two objects", `{"description":"a"}{"description":"b"}`, 400, nil},
		{"array body", `[{"description":"a"}]`, 400, nil},
		{"null body", `null`, 400, nil},
		{"string body", `"description"`, 400, nil},
		{"body over 100 kB", `{"description":"` + strings.Repeat("x", 100_001) + `"}`, 413, nil},
		{"padding over 100 kB", `{"description":"a"}` + strings.Repeat(" ", 100_001), 413, nil},

		// Strict input (web.DecodeObject), 400 as malformed JSON is: what
		// is stored is what was sent, or the request is refused.
		{"description invalid UTF-8", "{\"description\":\"a\xffb\"}", 400, nil},
		{"description overlong UTF-8", "{\"description\":\"\xc0\xaf\"}", 400, nil},
		{"description lone surrogate", `{"description":"a\ud800"}`, 400, nil},
		{"description reversed pair", `{"description":"\udd11\ud83d"}`, 400, nil},
		{"description twice", `{"description":"a","description":"b"}`, 400, nil},
		{"allowedIps twice", desc(`"allowedIps":["203.0.113.1"],"allowedIps":null`), 400, nil},
		{"scope member twice", acl(`{"scope":{"organizationId":["o1"],"organizationId":[]},"permissions":["*"]}`), 400, nil},
		{"duplicate in an ignored member", desc(`"_links":[{"rel":"self","rel":"x"}]`), 400, nil},
		{"lone surrogate in an ignored member", desc(`"apiUser":"\udfff"`), 400, nil},
		// Well-formed JSON whose value cannot be kept as sent is invalid
		// content: 422, as the NUL in a description above.
		{"U+0000 in a productId", acl(`{"scope":{"productId":["p\u0000"]},"permissions":["*"]}`), 422, []string{"acl.0.scope.productId.0"}},
		{"U+0000 in an ignored member", desc(`"apiUser":"\u0000"`), 422, []string{"apiUser"}},
		{"1e-400 in an ignored member", desc(`"x":{"n":1e-400}`), 422, []string{"x.n"}},
		{"10,000 levels", desc(`"x":` + strings.Repeat(`{"a":`, 10_000) + `1` + strings.Repeat("}", 10_000)), 400, nil},

		// An acl entry and its scope are strict: a member ignored there
		// would leave the entry wider than the client meant.
		{"acl entry unknown member", acl(`{"scope":{},"permissions":["*"],"colour":"blue"}`), 422, []string{"acl.0.colour"}},
		{"acl entry retired scopes", acl(`{"scope":{},"scopes":[{"organizationId":["o1"]}],"permissions":["*"]}`), 422, []string{"acl.0.scopes"}},
		{"scope misspelt", acl(`{"scope":{"organizationIds":["o1"]},"permissions":["*"]}`), 422, []string{"acl.0.scope.organizationIds"}},
		{"retired top-level permissions", desc(`"permissions":["GetApiKey"]`), 422, []string{"permissions"}},

		{"empty object", `{}`, 422, []string{"description"}},
		{"description missing", `{"type":"secret"}`, 422, []string{"description"}},
		{"description null", `{"description":null}`, 422, []string{"description"}},
		{"description empty", `{"description":""}`, 422, []string{"description"}},
		{"description blank", `{"description":"  \t "}`, 422, []string{"description"}},
		{"description number", `{"description":42}`, 422, []string{"description"}},
		{"description array", `{"description":["a"]}`, 422, []string{"description"}},
		{"description 256 characters", `{"description":"` + strings.Repeat("é", 256) + `"}`, 422, []string{"description"}},
		{"description with a NUL", `{"description":"a\u0000b"}`, 422, []string{"description"}},
		{"description with a newline", `{"description":"a\nb"}`, 422, []string{"description"}},
		{"description with an escape", `{"description":"a\u001b[31mb"}`, 422, []string{"description"}},
		{"description with DEL", `{"description":"a\u007fb"}`, 422, []string{"description"}},
		{"description with a C1 control", `{"description":"a\u0085b"}`, 422, []string{"description"}},

		{"type other", desc(`"type":"other"`), 422, []string{"type"}},
		{"type empty", desc(`"type":""`), 422, []string{"type"}},
		{"type upper case", desc(`"type":"SECRET"`), 422, []string{"type"}},
		{"type number", desc(`"type":1`), 422, []string{"type"}},

		{"acl not array", desc(`"acl":{"scope":{},"permissions":["*"]}`), 422, []string{"acl"}},
		{"acl string", desc(`"acl":"*"`), 422, []string{"acl"}},
		{"acl item not object", acl(`"*"`), 422, []string{"acl.0"}},
		{"acl item null", acl(`null`), 422, []string{"acl.0"}},
		{"acl item array", acl(`[]`), 422, []string{"acl.0"}},
		{"acl second item bad", acl(`{"scope":{},"permissions":["*"]},7`), 422, []string{"acl.1"}},
		{"acl over 100 entries", acl(many(101, `{"scope":{},"permissions":["*"]}`)), 422, []string{"acl"}},
		{"acl.0.scope missing", acl(`{"permissions":["*"]}`), 422, []string{"acl.0.scope"}},
		{"acl.0.scope not object", acl(`{"scope":[],"permissions":["*"]}`), 422, []string{"acl.0.scope"}},
		{"acl.0.scope string", acl(`{"scope":"all","permissions":["*"]}`), 422, []string{"acl.0.scope"}},
		{"acl.0.permissions missing", acl(`{"scope":{}}`), 422, []string{"acl.0.permissions"}},
		{"acl.0.permissions null", acl(`{"scope":{},"permissions":null}`), 422, []string{"acl.0.permissions"}},
		{"acl.0.permissions empty", acl(`{"scope":{},"permissions":[]}`), 422, []string{"acl.0.permissions"}},
		{"acl.0.permissions not strings", acl(`{"scope":{},"permissions":[1]}`), 422, []string{"acl.0.permissions"}},
		{"acl.0.permissions a string", acl(`{"scope":{},"permissions":"*"}`), 422, []string{"acl.0.permissions"}},
		{"acl.0.permissions over 500", acl(`{"scope":{},"permissions":[` + many(501, `"GetApiKey"`) + `]}`), 422, []string{"acl.0.permissions"}},
		{"permission with a space", acl(`{"scope":{},"permissions":["Get ApiKey"]}`), 422, []string{"acl.0.permissions.0"}},
		{"permission with a dash", acl(`{"scope":{},"permissions":["GetApiKey","get-api-key"]}`), 422, []string{"acl.0.permissions.1"}},
		{"permission empty", acl(`{"scope":{},"permissions":[""]}`), 422, []string{"acl.0.permissions.0"}},
		{"permission wildcard suffix", acl(`{"scope":{},"permissions":["Get*"]}`), 422, []string{"acl.0.permissions.0"}},
		{"permission starting with a digit", acl(`{"scope":{},"permissions":["1Get"]}`), 422, []string{"acl.0.permissions.0"}},
		{"scope.organizationId not array", acl(`{"scope":{"organizationId":"o1"},"permissions":["*"]}`), 422, []string{"acl.0.scope.organizationId"}},
		{"scope.organizationId not strings", acl(`{"scope":{"organizationId":[1]},"permissions":["*"]}`), 422, []string{"acl.0.scope.organizationId"}},
		{"scope.organizationId bad id", acl(`{"scope":{"organizationId":["o1","a b"]},"permissions":["*"]}`), 422, []string{"acl.0.scope.organizationId.1"}},
		{"scope.organizationId empty id", acl(`{"scope":{"organizationId":[""]},"permissions":["*"]}`), 422, []string{"acl.0.scope.organizationId.0"}},
		{"scope.organizationId 51 characters", acl(`{"scope":{"organizationId":["` + strings.Repeat("o", 51) + `"]},"permissions":["*"]}`), 422, []string{"acl.0.scope.organizationId.0"}},
		{"scope.customFieldName bad", acl(`{"scope":{"customFieldName":["a.b"]},"permissions":["*"]}`), 422, []string{"acl.0.scope.customFieldName.0"}},
		{"scope.productId not array", acl(`{"scope":{"productId":{}},"permissions":["*"]}`), 422, []string{"acl.0.scope.productId"}},
		{"scope.planId too long", acl(`{"scope":{"planId":["` + strings.Repeat("p", 51) + `"]},"permissions":["*"]}`), 422, []string{"acl.0.scope.planId.0"}},
		{"scope.organizationId over 100", acl(`{"scope":{"organizationId":[` + many(101, `"o1"`) + `]},"permissions":["*"]}`), 422, []string{"acl.0.scope.organizationId"}},
		{"scope.productId over 100", acl(`{"scope":{"productId":[` + many(101, `"p1"`) + `]},"permissions":["*"]}`), 422, []string{"acl.0.scope.productId"}},
		{"scope.planId over 100", acl(`{"scope":{"planId":[` + many(101, `"p1"`) + `]},"permissions":["*"]}`), 422, []string{"acl.0.scope.planId"}},
		{"scope.customFieldName over 100", acl(`{"scope":{"customFieldName":[` + many(101, `"f1"`) + `]},"permissions":["*"]}`), 422, []string{"acl.0.scope.customFieldName"}},
		{"every scope list over 100, in two entries", acl(
			`{"scope":{"organizationId":[` + many(101, `"o1"`) + `],"productId":[` + many(101, `"p1"`) + `]},"permissions":["*"]},` +
				`{"scope":{"planId":[` + many(101, `"p1"`) + `],"customFieldName":[` + many(5000, `"a b"`) + `]},"permissions":["*"]}`), 422,
			[]string{"acl.0.scope.organizationId", "acl.0.scope.productId", "acl.1.scope.planId", "acl.1.scope.customFieldName"}},

		{"allowedIps not array", desc(`"allowedIps":"203.0.113.1"`), 422, []string{"allowedIps"}},
		{"allowedIps object", desc(`"allowedIps":{}`), 422, []string{"allowedIps"}},
		{"allowedIps not strings", ips(`1`), 422, []string{"allowedIps"}},
		{"allowedIps over 100", ips(many(101, `"203.0.113.1"`)), 422, []string{"allowedIps"}},
		{"allowedIps bad address", ips(`"not an ip"`), 422, []string{"allowedIps.0"}},
		{"allowedIps empty string", ips(`""`), 422, []string{"allowedIps.0"}},
		{"allowedIps wildcard", ips(`"76.*.*.*"`), 422, []string{"allowedIps.0"}},
		{"allowedIps host name", ips(`"example.com"`), 422, []string{"allowedIps.0"}},
		{"allowedIps bad prefix length", ips(`"203.0.113.0/33"`), 422, []string{"allowedIps.0"}},
		{"allowedIps bad IPv6 prefix length", ips(`"2001:db8::/129"`), 422, []string{"allowedIps.0"}},
		{"allowedIps with a port", ips(`"203.0.113.1:80"`), 422, []string{"allowedIps.0"}},
		{"allowedIps with a zone", ips(`"2001:db8::1%eth0"`), 422, []string{"allowedIps.0"}},
		{"allowedIps second bad", ips(`"203.0.113.1","203.0.113.256"`), 422, []string{"allowedIps.1"}},
		{"allowedIps private", ips(`"10.0.0.1"`), 422, []string{"allowedIps.0"}},
		{"allowedIps loopback", ips(`"127.0.0.1"`), 422, []string{"allowedIps.0"}},
		{"allowedIps link-local", ips(`"169.254.0.0/16"`), 422, []string{"allowedIps.0"}},
		{"allowedIps CGNAT", ips(`"100.64.1.1"`), 422, []string{"allowedIps.0"}},
		{"allowedIps ULA", ips(`"fd00::1"`), 422, []string{"allowedIps.0"}},
		{"allowedIps everything", ips(`"0.0.0.0/0"`), 422, []string{"allowedIps.0"}},
		{"allowedIps everything IPv6", ips(`"::/0"`), 422, []string{"allowedIps.0"}},

		{"every problem at once", `{"description":"","type":"x","acl":[{"scope":{}}],"allowedIps":["10.0.0.1","nope"]}`, 422,
			[]string{"description", "type", "acl.0.permissions", "allowedIps.0", "allowedIps.1"}},
	}

	type routeReq struct {
		req
		method, path string
	}
	var cases []routeReq
	for _, route := range []struct{ method, path string }{
		{"POST", "/api-keys"},
		{"POST", "/api-keys/"},
		{"PUT", "/api-keys/new-key"},
		{"PUT", "/api-keys/" + existing.ID},
		{"POST", org},
		{"PUT", org + "/" + orgKey.ID},
	} {
		for _, b := range bodies {
			cases = append(cases, routeReq{b, route.method, route.path})
		}
	}
	longID := strings.Repeat("a", 51)
	cases = append(cases, []routeReq{
		{req{"id of 51 characters", `{"description":"d"}`, 422, []string{"id"}}, "PUT", "/api-keys/" + longID},
		{req{"id of 51 characters in an org", `{"description":"d"}`, 422, []string{"id"}}, "PUT", org + "/" + longID},
		{req{"id with a space", `{"description":"d"}`, 422, []string{"id"}}, "PUT", "/api-keys/a%20b"},
		{req{"id with an exclamation mark", `{"description":"d"}`, 422, []string{"id"}}, "PUT", "/api-keys/a!b"},
		{req{"id with an encoded slash", `{"description":"d"}`, 422, []string{"id"}}, "PUT", "/api-keys/a%2Fb"},
		{req{"id with a quote", `{"description":"d"}`, 422, []string{"id"}}, "PUT", "/api-keys/a%27b"},
		{req{"id not ASCII", `{"description":"d"}`, 422, []string{"id"}}, "PUT", "/api-keys/" + url.PathEscape("ключ")},
		{req{"bad id with a bad body", `{`, 422, []string{"id"}}, "PUT", "/api-keys/a%20b"},
		// Dot segments: clients and proxies remove them from URLs, so a
		// key with such an id could not be reached at its Location.
		{req{"id a dot", `{"description":"d"}`, 422, []string{"id"}}, "PUT", "/api-keys/%2E"},
		{req{"id two dots", `{"description":"d"}`, 422, []string{"id"}}, "PUT", "/api-keys/%2E%2E"},
		{req{"id two dots in an org", `{"description":"d"}`, 422, []string{"id"}}, "PUT", org + "/%2e%2e"},
		{req{"type change", `{"description":"d","type":"publishable"}`, 422, []string{"type"}}, "PUT", "/api-keys/" + existing.ID},
		{req{"type change in an org", `{"description":"d","type":"publishable"}`, 422, []string{"type"}}, "PUT", org + "/" + orgKey.ID},

		{req{"get unknown key", "", 404, nil}, "GET", "/api-keys/api_key_00000000000000000000000000"},
		{req{"get over-long id", "", 404, nil}, "GET", "/api-keys/" + longID},
		{req{"get odd id", "", 404, nil}, "GET", "/api-keys/%27%3B--"},
		{req{"delete unknown key", "", 404, nil}, "DELETE", "/api-keys/nope"},
		{req{"delete unknown key in an org", "", 404, nil}, "DELETE", org + "/nope"},
		{req{"unknown path under a key", "", 404, nil}, "GET", "/api-keys/x/y"},
		{req{"unknown path under a key, POST", `{"description":"d"}`, 404, nil}, "POST", "/api-keys/x/y"},
		{req{"unknown path under an org key", "", 404, nil}, "GET", org + "/x/y"},
		{req{"unknown path under an org", "", 404, nil}, "GET", "/organizations/" + app + "/other"},
		{req{"organization itself", "", 404, nil}, "GET", "/organizations/" + app},
		{req{"organizations root", "", 404, nil}, "GET", "/organizations/"},
		{req{"unknown organization", `{"description":"d"}`, 404, nil}, "POST", "/organizations/" + missingApp + "/api-keys"},
		{req{"malformed organization", `{"description":"d"}`, 404, nil}, "PUT", "/organizations/x/api-keys/y"},

		{req{"DELETE the collection", "", 405, nil}, "DELETE", "/api-keys"},
		{req{"PUT the collection", `{"description":"d"}`, 405, nil}, "PUT", "/api-keys"},
		{req{"PATCH a key", `{"description":"d"}`, 405, nil}, "PATCH", "/api-keys/" + existing.ID},
		{req{"POST to a key", `{"description":"d"}`, 405, nil}, "POST", "/api-keys/" + existing.ID},
		{req{"PATCH an org key", `{"description":"d"}`, 405, nil}, "PATCH", org + "/" + orgKey.ID},
		{req{"DELETE an org collection", "", 405, nil}, "DELETE", org},
	}...)
	// Bad query parameters on both listings.
	for _, path := range []string{"/api-keys", org} {
		for _, q := range []struct {
			query  string
			fields []string
		}{
			{"limit=-1", []string{"limit"}},
			{"limit=1001", []string{"limit"}},
			{"limit=abc", []string{"limit"}},
			{"limit=1.5", []string{"limit"}},
			{"limit=1e2", []string{"limit"}},
			{"offset=-1", []string{"offset"}},
			{"offset=1001", []string{"offset"}},
			{"offset=x", []string{"offset"}},
			{"limit=-1&offset=-1", []string{"limit", "offset"}},
			{"sort=name", []string{"sort"}},
			{"sort=description", []string{"sort"}},
			{"sort=createdTime,bogus", []string{"sort"}},
			{"sort=" + url.QueryEscape("--id"), []string{"sort"}},
			{"sort=,", []string{"sort", "sort"}},
			{"filter=name:x", []string{"filter"}},
			{"filter=createdTime:x", []string{"filter"}},
			{"filter=id", []string{"filter"}},
			{"filter=id:", []string{"filter"}},
			{"filter=id:!", []string{"filter"}},
			{"filter=" + url.QueryEscape("id:a;bogus:b"), []string{"filter"}},
			{"limit=x&sort=x&filter=x", []string{"limit", "sort", "filter"}},
			// Strict query (web.ParseQuery, web.ParseInt): nothing is
			// dropped or guessed at.
			{"limit=10&limit=20", []string{"limit"}},
			{"sort=id&sort=-id", []string{"sort"}},
			{"filter=type:secret&filter=type:publishable", []string{"filter"}},
			{"limit=%zz", []string{"limit"}},
			{"limit=%", []string{"limit"}},
			{"filter=id:%zz", []string{"filter"}},
			{"filter=description:%FF", []string{"filter"}},
			{"filter=description:a%00", []string{"filter"}},
			{"%zz=1", []string{"%zz"}},
			{"limit=-0", []string{"limit"}},
			{"limit=010", []string{"limit"}},
			{"limit=%2B10", []string{"limit"}},
			{"offset=18446744073709551616", []string{"offset"}},
		} {
			cases = append(cases, routeReq{req{"list " + q.query, "", 422, q.fields}, "GET", path + "?" + q.query})
		}
		// Lists over their caps, named for short subtest names. Caps are
		// counted before anything is split, and each is reported once.
		for _, q := range []struct {
			name, query string
			fields      []string
		}{
			// The reproduction: 33,000 values once reached SQLite, past its
			// limit on bound variables, and came back as a 500.
			{"33,000 filter values", "filter=id:" + many(33_000, "x"), []string{"filter"}},
			{"33,000 negated filter values", "filter=id:!" + many(33_000, "x"), []string{"filter"}},
			{"33,000 escaped description values", "filter=description:" + many(33_000, "a%2Cb"), []string{"filter"}},
			{"33,000 filter clauses", "filter=" + strings.Repeat("type:secret;", 33_000) + "bogus:x", []string{"filter"}},
			{"33,000 filter clauses and a bad limit", "filter=" + strings.Repeat("id:x;", 33_000) + "id:y&limit=-1", []string{"limit", "filter"}},
			{"33,000 sort fields", "sort=" + many(33_000, "id"), []string{"sort"}},
			{"33,000 unknown sort fields", "sort=" + many(33_000, "bogus"), []string{"sort"}},
			{"sort id twice", "sort=id,-id", []string{"sort"}},
			{"sort createdTime twice", "sort=-createdTime,createdTime", []string{"sort"}},
			{"sort updatedTime twice", "sort=updatedTime,id,updatedTime", []string{"sort"}},
			{"four sort fields", "sort=createdTime,updatedTime,id,-id", []string{"sort"}},
			{"every list problem at once", "filter=type:secret;id:" + many(101, "x") + ";description:" + many(101, "d") + "&sort=id,id&offset=1001",
				[]string{"offset", "sort", "filter", "filter"}},
		} {
			cases = append(cases, routeReq{req{"list with " + q.name, "", 422, q.fields}, "GET", path + "?" + q.query})
		}
	}

	for _, tc := range cases {
		// The name leaves out the query, which list cases name themselves
		// (some are 33,000 values long).
		path, _, _ := strings.Cut(tc.path, "?")
		t.Run(fmt.Sprintf("%s %s %s", tc.method, path, tc.name), func(t *testing.T) {
			before := s.Snapshot(t)
			resp, body := s.call(t, tc.method, tc.path, s.acct, tc.body)
			wantProblem(t, resp, body, tc.status, tc.fields...)
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			wantUnchanged(t, s, before)
		})
	}

	t.Run("Allow lists the path's methods", func(t *testing.T) {
		for path, want := range map[string]string{
			"/api-keys":                 "GET, HEAD, POST",
			"/api-keys/x":               "GET, HEAD, PUT, DELETE",
			org:                         "GET, HEAD, POST",
			org + "/" + orgKey.ID:       "GET, HEAD, PUT, DELETE",
			"/api-keys/" + longID:       "GET, HEAD, PUT, DELETE",
			"/organizations/x/api-keys": "GET, HEAD, POST",
		} {
			resp, body := s.call(t, "PATCH", path, s.acct, `{"description":"d"}`)
			wantProblem(t, resp, body, http.StatusMethodNotAllowed)
			if got := resp.Header.Get("Allow"); got != want {
				t.Errorf("PATCH %s: Allow = %q, want %q", path, got, want)
			}
		}
	})

	t.Run("content types", func(t *testing.T) {
		for _, tc := range []struct {
			ct     string
			status int
		}{
			{"application/x-www-form-urlencoded", 415},
			{"multipart/form-data; boundary=x", 415},
			{"text/plain", 415},
			{"application/xml", 415},
			{"not a media type", 415},
		} {
			for _, route := range []struct{ method, path string }{
				{"POST", "/api-keys"}, {"PUT", "/api-keys/new-key"}, {"PUT", "/api-keys/" + existing.ID}, {"POST", org},
			} {
				before := s.Snapshot(t)
				resp, body := s.call(t, route.method, route.path, s.acct, "description=d", "Content-Type", tc.ct)
				wantProblem(t, resp, body, tc.status)
				wantUnchanged(t, s, before)
			}
		}
	})

	t.Run("empty body", func(t *testing.T) {
		for _, route := range []struct{ method, path string }{{"POST", "/api-keys"}, {"PUT", "/api-keys/new-key"}} {
			before := s.Snapshot(t)
			resp, body := s.call(t, route.method, route.path, s.acct, "")
			wantProblem(t, resp, body, http.StatusBadRequest)
			wantUnchanged(t, s, before)
		}
	})

	t.Run("refusals come before the body is read", func(t *testing.T) {
		// No credentials and an unusable body: 401, not 400/413/422.
		for _, body := range []string{`{`, `{}`, `{"description":"` + strings.Repeat("x", 100_001) + `"}`} {
			before := s.Snapshot(t)
			resp, got := s.call(t, "POST", "/api-keys", "", body)
			wantProblem(t, resp, got, http.StatusUnauthorized)
			wantUnchanged(t, s, before)
		}
	})

	t.Run("unknown top-level members are ignored, as the open schema allows", func(t *testing.T) {
		// Older SDK models still carry datetimeFormat.
		k := s.create(t, s.acct, "/api-keys", `{"description":"lenient","datetimeFormat":"iso8601","colour":"blue"}`)
		if k.Description != "lenient" {
			t.Fatalf("created %+v", k)
		}
	})

	t.Run("the snapshot sees a real change", func(t *testing.T) {
		before := s.Snapshot(t)
		s.create(t, s.acct, "/api-keys", `{"description":"real"}`)
		if s.Snapshot(t) == before {
			t.Fatal("Snapshot did not change after a key was created: the unchanged-state checks above prove nothing")
		}
	})

	t.Run("nothing was created or changed", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			ids  int
		}{{"/api-keys", 4}, {org, 1}} {
			ids, _, _, _ := s.list(t, s.acct, tc.path)
			if len(ids) != tc.ids {
				t.Errorf("%s lists %v, want %d keys", tc.path, ids, tc.ids)
			}
		}
		resp, body := s.call(t, "GET", "/api-keys/"+existing.ID, s.acct, "")
		wantStatus(t, resp, body, http.StatusOK)
		if k := decodeKey(t, body); k.Description != "existing" || k.Type != "secret" || k.SecretKey != existing.SecretKey {
			t.Errorf("existing key = %s", body)
		}
	})

	wantNoErrorLogged(t, s)
}

// TestLimits takes each list a client sends to its cap and one past it: at
// the cap the request succeeds with the whole list, past it the request gets
// a 422 problem naming the list, and changes nothing.
func TestLimits(t *testing.T) {
	s := newStack(t)
	k := s.create(t, s.acct, "/api-keys", `{"description":"the key"}`)
	other := s.create(t, s.acct, "/api-keys", `{"description":"another","type":"publishable"}`)

	// join returns n items made by item, separated by sep.
	join := func(n int, sep string, item func(i int) string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = item(i)
		}
		return strings.Join(items, sep)
	}
	quoted := func(format string) func(int) string {
		return func(i int) string { return `"` + fmt.Sprintf(format, i) + `"` }
	}
	// idValues is n alternatives for the id filter: the key's id, then ids
	// no key has.
	idValues := func(n int) string {
		return join(n, ",", func(i int) string {
			if i == 0 {
				return k.ID
			}
			return fmt.Sprintf("nope-%d", i)
		})
	}

	type list struct {
		name  string
		limit int
		// request is the request carrying n items.
		request func(n int) (method, path, body string)
		// field is the invalidFields entry past the limit.
		field string
		// check, at the limit, checks the response body.
		check func(t *testing.T, body []byte)
	}
	lists := []list{
		{
			name: "filter values", limit: 100, field: "filter",
			request: func(n int) (string, string, string) {
				return "GET", "/api-keys?filter=id:" + idValues(n), ""
			},
			check: wantIDs(k.ID),
		},
		{
			name: "negated filter values", limit: 100, field: "filter",
			request: func(n int) (string, string, string) {
				return "GET", "/api-keys?filter=id:!" + idValues(n) + ";type:publishable", ""
			},
			check: wantIDs(other.ID),
		},
		{
			// Ten clauses of a hundred values each: a thousand values, all
			// the store takes in one query.
			name: "filter clauses of 100 values", limit: 10, field: "filter",
			request: func(n int) (string, string, string) {
				return "GET", "/api-keys?filter=" + join(n, ";", func(int) string { return "id:" + idValues(100) }), ""
			},
			check: wantIDs(k.ID),
		},
		{
			name: "sort fields", limit: 3, field: "sort",
			request: func(n int) (string, string, string) {
				fields := []string{"-updatedTime", "createdTime", "id", "-createdTime"}
				return "GET", "/api-keys?sort=" + strings.Join(fields[:n], ","), ""
			},
			check: wantIDs(other.ID, k.ID, s.Account.ID),
		},
		{
			name: "ACL entries", limit: 100, field: "acl",
			request: func(n int) (string, string, string) {
				return "POST", "/api-keys", `{"description":"d","acl":[` +
					join(n, ",", func(i int) string { return `{"scope":{},"permissions":["GetApiKey"]}` }) + `]}`
			},
			check: wantListLen("acl", 100),
		},
		{
			name: "permissions", limit: 500, field: "acl.0.permissions",
			request: func(n int) (string, string, string) {
				return "POST", "/api-keys", `{"description":"d","acl":[{"scope":{},"permissions":[` + join(n, ",", quoted("Op%d")) + `]}]}`
			},
			check: wantListLen("acl.0.permissions", 500),
		},
		{
			name: "allowedIps", limit: 100, field: "allowedIps",
			request: func(n int) (string, string, string) {
				return "POST", "/api-keys", `{"description":"d","allowedIps":[` + join(n, ",", quoted("203.0.113.%d")) + `]}`
			},
			check: wantListLen("allowedIps", 100),
		},
	}
	for _, scope := range []struct{ name, format string }{
		{"organizationId", "org%d"}, {"productId", "product-%d"}, {"planId", "plan-%d"}, {"customFieldName", "field_%d"},
	} {
		lists = append(lists, list{
			name: "scope " + scope.name, limit: 100, field: "acl.0.scope." + scope.name,
			request: func(n int) (string, string, string) {
				return "POST", "/api-keys", `{"description":"d","acl":[{"scope":{"` + scope.name + `":[` +
					join(n, ",", quoted(scope.format)) + `]},"permissions":["*"]}]}`
			},
			check: wantListLen("acl.0.scope."+scope.name, 100),
		})
	}

	for _, l := range lists {
		t.Run(l.name, func(t *testing.T) {
			method, path, body := l.request(l.limit)
			resp, got := s.call(t, method, path, s.acct, body)
			wantStatus(t, resp, got, map[string]int{"GET": http.StatusOK, "POST": http.StatusCreated}[method])
			l.check(t, got)

			before := s.Snapshot(t)
			method, path, body = l.request(l.limit + 1)
			resp, got = s.call(t, method, path, s.acct, body)
			wantProblem(t, resp, got, http.StatusUnprocessableEntity, l.field)
			wantUnchanged(t, s, before)
		})
	}
	wantNoErrorLogged(t, s)
}

// wantIDs checks a listing holds exactly these keys, in this order.
func wantIDs(ids ...string) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		var keys []apiKey
		if err := json.Unmarshal(body, &keys); err != nil {
			t.Fatalf("body %s is not a list of keys: %v", body, err)
		}
		got := []string{}
		for _, k := range keys {
			got = append(got, k.ID)
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("listed %v, want %v", got, ids)
		}
	}
}

// wantListLen checks that the created key's member at a dot path (such as
// acl.0.permissions) is a list of n items: nothing was dropped.
func wantListLen(path string, n int) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("body %s is not JSON: %v", body, err)
		}
		for _, step := range strings.Split(path, ".") {
			switch node := v.(type) {
			case map[string]any:
				v = node[step]
			case []any:
				i, err := strconv.Atoi(step)
				if err != nil || i >= len(node) {
					t.Fatalf("%s: no item %q in %v", path, step, node)
				}
				v = node[i]
			}
		}
		if list, ok := v.([]any); !ok || len(list) != n {
			t.Fatalf("%s = %v, want a list of %d items", path, v, n)
		}
	}
}
