package sunshine_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestBadInput sends every route malformed and mistyped bodies, bad ids and
// wrong methods: each gets its documented 4xx in the dialect's format, never
// a 500, and the store is left exactly as it was.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	app := f.createApp(t, "App")
	in := f.createIntegration(t, app)
	key := f.createKey(t, f.acct, "/v2/apps/"+app+"/integrations/"+in+"/keys", "k")
	appKey := f.createKey(t, f.acct, "/v2/apps/"+app+"/keys", "a")
	missingApp := "000000000000000000000000"
	missingIn := "111111111111111111111111"

	huge := `{"displayName":"` + strings.Repeat("x", 100_001) + `"}`
	long := `{"displayName":"` + strings.Repeat("é", 101) + `"}`
	webhook := func(w string) string { return `{"type":"custom","webhooks":[` + w + `]}` }

	type req struct {
		name, method, path, body string
		status                   int
		code                     string
	}
	var cases []req
	// Bodies every create takes a displayName in.
	for _, path := range []string{"/v2/apps", "/v2/apps/" + app + "/keys", "/v2/apps/" + app + "/integrations/" + in + "/keys"} {
		cases = append(cases,
			req{"malformed JSON", "POST", path, `{"displayName":`, 400, "bad_request"},
			req{"trailing garbage", "POST", path, `{"displayName":"a"} x`, 400, "bad_request"},
			req{"array body", "POST", path, `[{"displayName":"a"}]`, 400, "bad_request"},
			req{"null body", "POST", path, `null`, 400, "bad_request"},
			req{"empty object", "POST", path, `{}`, 400, "bad_request"},
			req{"displayName number", "POST", path, `{"displayName":42}`, 400, "bad_request"},
			req{"displayName null", "POST", path, `{"displayName":null}`, 400, "bad_request"},
			req{"displayName empty", "POST", path, `{"displayName":""}`, 400, "bad_request"},
			req{"displayName 101 characters", "POST", path, long, 400, "bad_request"},
			req{"displayName with a NUL", "POST", path, `{"displayName":"a\u0000b"}`, 400, "bad_request"},
			req{"displayName with a newline", "POST", path, `{"displayName":"a\nb"}`, 400, "bad_request"},
			req{"body over 100 kB", "POST", path, huge, 413, "payload_too_large"},
			// Strict input (web.DecodeObject): what is stored is what was
			// sent, or the request is refused. A displayName with invalid
			// UTF-8 was once stored with U+FFFD in its place, and got 200.
			req{"displayName invalid UTF-8", "POST", path, "{\"displayName\":\"a\xffb\"}", 400, "bad_request"},
			req{"displayName UTF-8 of a surrogate", "POST", path, "{\"displayName\":\"\xed\xa0\x80\"}", 400, "bad_request"},
			req{"displayName lone surrogate", "POST", path, `{"displayName":"a\ud800"}`, 400, "bad_request"},
			req{"displayName lone low surrogate", "POST", path, `{"displayName":"\udc00b"}`, 400, "bad_request"},
			req{"displayName twice", "POST", path, `{"displayName":"a","displayName":"b"}`, 400, "bad_request"},
			req{"displayName twice, once escaped", "POST", path, `{"displayName":"a","display\u004eame":"b"}`, 400, "bad_request"},
			req{"duplicate in an ignored member", "POST", path, `{"displayName":"a","x":{"y":1,"y":2}}`, 400, "bad_request"},
			req{"lone surrogate in an ignored member", "POST", path, `{"displayName":"a","x":["\ud800"]}`, 400, "bad_request"},
			req{"10,000 levels in an ignored member", "POST", path,
				`{"displayName":"a","x":` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `}`, 400, "bad_request"},
		)
	}
	cases = append(cases,
		req{"app settings not object", "POST", "/v2/apps", `{"displayName":"a","settings":[]}`, 400, "bad_request"},
		req{"app setting wrong type", "POST", "/v2/apps", `{"displayName":"a","settings":{"echoPostback":"yes"}}`, 400, "bad_request"},
		req{"app retention negative", "POST", "/v2/apps", `{"displayName":"a","settings":{"conversationRetentionSeconds":-1}}`, 400, "bad_request"},
		req{"app retention fractional", "POST", "/v2/apps", `{"displayName":"a","settings":{"conversationRetentionSeconds":1.5}}`, 400, "bad_request"},
		req{"app metadata nested", "POST", "/v2/apps", `{"displayName":"a","metadata":{"a":{"b":1}}}`, 400, "bad_request"},
		req{"app metadata over 4 kB", "POST", "/v2/apps", `{"displayName":"a","metadata":{"a":"` + strings.Repeat("x", 4100) + `"}}`, 400, "bad_request"},
		req{"app metadata array", "POST", "/v2/apps", `{"displayName":"a","metadata":{"a":[1]}}`, 400, "bad_request"},
		req{"app metadata deeply nested", "POST", "/v2/apps", `{"displayName":"a","metadata":{"a":"b","c":{"d":{"e":"` + strings.Repeat("x", 5000) + `"}}}}`, 400, "bad_request"},
		req{"app metadata null member", "POST", "/v2/apps", `{"displayName":"a","metadata":{"a":null}}`, 400, "bad_request"},
		req{"app metadata an array", "POST", "/v2/apps", `{"displayName":"a","metadata":["a"]}`, 400, "bad_request"},
		// Numbers no float64 keeps as sent: 1e-400 would be stored as 0,
		// 2^64 as 18446744073709552000.
		req{"app metadata 1e-400", "POST", "/v2/apps", `{"displayName":"a","metadata":{"n":1e-400}}`, 400, "bad_request"},
		req{"app metadata 2^64", "POST", "/v2/apps", `{"displayName":"a","metadata":{"n":18446744073709551616}}`, 400, "bad_request"},
		req{"app metadata 1e400", "PATCH", "/v2/apps/" + app, `{"metadata":{"n":1e400}}`, 400, "bad_request"},
		req{"app metadata duplicate", "PATCH", "/v2/apps/" + app, `{"metadata":{"n":1,"n":2}}`, 400, "bad_request"},
		req{"app retention -0", "POST", "/v2/apps", `{"displayName":"a","settings":{"conversationRetentionSeconds":-0}}`, 400, "bad_request"},
		req{"app setting twice", "PATCH", "/v2/apps/" + app, `{"settings":{"echoPostback":true,"echoPostback":false}}`, 400, "bad_request"},
		req{"webhook trigger with U+0000", "POST", "/v2/apps/" + app + "/integrations",
			webhook(`{"target":"https://a.example","triggers":["conversation:\u0000message"]}`), 400, "bad_request"},
		req{"list apps page[size] twice", "GET", "/v2/apps?page[size]=5&page[size]=50", "", 400, "bad_request"},
		req{"list apps page[size] in bad percent-encoding", "GET", "/v2/apps?page%5Bsize%5D=%zz", "", 400, "bad_request"},
		req{"list apps page[size] with a leading zero", "GET", "/v2/apps?page[size]=05", "", 400, "bad_request"},
		req{"list apps page[size] with a semicolon", "GET", "/v2/apps?page[size]=5;x", "", 400, "bad_request"},
		req{"list integrations filter[types] twice", "GET", "/v2/apps/" + app + "/integrations?filter[types]=custom&filter[types]=web", "", 400, "bad_request"},
		req{"list integrations filter[types] invalid UTF-8", "GET", "/v2/apps/" + app + "/integrations?filter[types]=%FF", "", 400, "bad_request"},
		req{"patch app metadata nested", "PATCH", "/v2/apps/" + app, `{"metadata":{"a":{"b":1}}}`, 400, "bad_request"},
		req{"patch app malformed", "PATCH", "/v2/apps/" + app, `{`, 400, "bad_request"},
		req{"patch app displayName null", "PATCH", "/v2/apps/" + app, `{"displayName":null}`, 400, "bad_request"},
		req{"patch app displayName type", "PATCH", "/v2/apps/" + app, `{"displayName":["a"]}`, 400, "bad_request"},
		req{"patch missing app", "PATCH", "/v2/apps/" + missingApp, `{"displayName":"x"}`, 404, "app_not_found"},
		req{"get malformed app id", "GET", "/v2/apps/not-an-id", "", 404, "app_not_found"},
		req{"delete missing app", "DELETE", "/v2/apps/" + missingApp, "", 404, "app_not_found"},

		req{"integration no type", "POST", "/v2/apps/" + app + "/integrations", `{"webhooks":[]}`, 400, "bad_request"},
		req{"integration type number", "POST", "/v2/apps/" + app + "/integrations", `{"type":1}`, 400, "bad_request"},
		req{"integration type web", "POST", "/v2/apps/" + app + "/integrations", `{"type":"web"}`, 400, "bad_request"},
		req{"integration no webhooks", "POST", "/v2/apps/" + app + "/integrations", `{"type":"custom"}`, 400, "bad_request"},
		req{"integration webhooks object", "POST", "/v2/apps/" + app + "/integrations", `{"type":"custom","webhooks":{}}`, 400, "bad_request"},
		req{"integration zero webhooks", "POST", "/v2/apps/" + app + "/integrations", webhook(``), 400, "bad_request"},
		req{"integration two webhooks", "POST", "/v2/apps/" + app + "/integrations",
			webhook(`{"target":"https://a.example","triggers":["*"]},{"target":"https://b.example","triggers":["*"]}`), 400, "bad_request"},
		req{"webhook not object", "POST", "/v2/apps/" + app + "/integrations", webhook(`"https://a.example"`), 400, "bad_request"},
		req{"webhook no target", "POST", "/v2/apps/" + app + "/integrations", webhook(`{"triggers":["*"]}`), 400, "bad_request"},
		req{"webhook relative target", "POST", "/v2/apps/" + app + "/integrations", webhook(`{"target":"/cb","triggers":["*"]}`), 400, "bad_request"},
		req{"webhook ftp target", "POST", "/v2/apps/" + app + "/integrations", webhook(`{"target":"ftp://a.example","triggers":["*"]}`), 400, "bad_request"},
		req{"webhook no triggers", "POST", "/v2/apps/" + app + "/integrations", webhook(`{"target":"https://a.example"}`), 400, "bad_request"},
		req{"webhook empty triggers", "POST", "/v2/apps/" + app + "/integrations", webhook(`{"target":"https://a.example","triggers":[]}`), 400, "bad_request"},
		req{"webhook trigger number", "POST", "/v2/apps/" + app + "/integrations", webhook(`{"target":"https://a.example","triggers":[1]}`), 400, "bad_request"},
		req{"webhook flag type", "POST", "/v2/apps/" + app + "/integrations",
			webhook(`{"target":"https://a.example","triggers":["*"],"includeFullUser":"yes"}`), 400, "bad_request"},
		req{"integration in missing app", "POST", "/v2/apps/" + missingApp + "/integrations",
			webhook(`{"target":"https://a.example","triggers":["*"]}`), 404, "app_not_found"},
		req{"integration displayName too long", "PATCH", "/v2/apps/" + app + "/integrations/" + in, long, 400, "bad_request"},
		req{"patch missing integration", "PATCH", "/v2/apps/" + app + "/integrations/" + missingIn, `{"displayName":"x"}`, 404, "integration_not_found"},
		req{"get malformed integration id", "GET", "/v2/apps/" + app + "/integrations/xyz", "", 404, "integration_not_found"},
		req{"list integrations bad filter", "GET", "/v2/apps/" + app + "/integrations?filter[types]=,", "", 400, "bad_request"},
		req{"list integrations bad page", "GET", "/v2/apps/" + app + "/integrations?page[size]=1000", "", 400, "bad_request"},
		// 33,000 types once reached SQLite, past its limit on bound
		// variables, and came back as a 500.
		req{"list integrations of 33,000 types", "GET", "/v2/apps/" + app + "/integrations?filter[types]=" +
			strings.TrimSuffix(strings.Repeat("web,", 33_000), ","), "", 400, "bad_request"},
		req{"list integrations of 33,000 empty types", "GET", "/v2/apps/" + app + "/integrations?filter[types]=" +
			strings.Repeat(",", 33_000), "", 400, "bad_request"},
		req{"webhook of 5,000 triggers", "POST", "/v2/apps/" + app + "/integrations",
			webhook(`{"target":"https://a.example","triggers":[` + strings.TrimSuffix(strings.Repeat(`"*",`, 5000), ",") + `]}`), 400, "bad_request"},

		req{"key in missing app", "POST", "/v2/apps/" + missingApp + "/keys", `{"displayName":"x"}`, 404, "app_not_found"},
		req{"key in missing integration", "POST", "/v2/apps/" + app + "/integrations/" + missingIn + "/keys", `{"displayName":"x"}`, 404, "integration_not_found"},
		req{"key of missing integration in missing app", "GET", "/v2/apps/" + missingApp + "/integrations/" + missingIn + "/keys", "", 404, "app_not_found"},
		req{"get unknown key", "GET", "/v2/apps/" + app + "/keys/app_000000000000000000000000", "", 404, "not_found"},
		req{"get key id with odd characters", "GET", "/v2/apps/" + app + "/keys/%27%3B--", "", 404, "not_found"},
		req{"get integration key under app keys", "GET", "/v2/apps/" + app + "/keys/" + key.ID, "", 404, "not_found"},
		req{"delete app key under integration", "DELETE", "/v2/apps/" + app + "/integrations/" + in + "/keys/" + appKey.ID, "", 404, "not_found"},

		req{"wrong method on apps", "PUT", "/v2/apps", `{}`, 405, "method_not_allowed"},
		req{"wrong method on keys", "PATCH", "/v2/apps/" + app + "/keys/" + appKey.ID, `{}`, 405, "method_not_allowed"},
		req{"unknown route", "GET", "/v2/nothing", "", 404, "not_found"},
	)

	for _, tc := range cases {
		t.Run(tc.method+" "+tc.name, func(t *testing.T) {
			before := f.Snapshot(t)
			resp, body := f.Do(t, tc.method, tc.path, f.acct, tc.body)
			wantError(t, resp, body, tc.status, tc.code)
			if tc.status == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			if after := f.Snapshot(t); after != before {
				t.Fatalf("the refused request changed the store")
			}
		})
	}

	t.Run("the snapshot sees a real change", func(t *testing.T) {
		before := f.Snapshot(t)
		f.createKey(t, f.acct, "/v2/apps/"+app+"/keys", "real")
		if f.Snapshot(t) == before {
			t.Fatal("Snapshot did not change after a key was created: the unchanged-state checks above prove nothing")
		}
	})
	t.Run("unknown members are ignored, as the specification's open schemas allow", func(t *testing.T) {
		// What a client sends back of a fetched integration (id, status, a
		// webhook's id, version and secret) and settings Latchkey does not
		// keep are ignored, not refused.
		resp, body := f.Do(t, "POST", "/v2/apps/"+app+"/integrations", f.acct, `{"type":"custom","id":"x","status":"active",`+
			`"webhooks":[{"id":"w","version":"v2","secret":"s","target":"https://a.example","triggers":["*"]}]}`)
		want(t, resp, body, http.StatusCreated)
		resp, body = f.Do(t, "PATCH", "/v2/apps/"+app, f.acct, `{"settings":{"attachmentsAccess":"private"},"colour":"blue"}`)
		want(t, resp, body, http.StatusOK)
	})
	t.Run("form content type", func(t *testing.T) {
		resp, body := f.Do(t, "POST", "/v2/apps", f.acct, "displayName=x", "Content-Type", "application/x-www-form-urlencoded")
		wantError(t, resp, body, http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	t.Run("Allow lists the path's methods", func(t *testing.T) {
		resp, _ := f.Do(t, "PUT", "/v2/apps/"+app, f.acct, "")
		if got := resp.Header.Get("Allow"); got != "GET, HEAD, PATCH, DELETE" {
			t.Fatalf("Allow = %q", got)
		}
	})
	if strings.Contains(f.Logs(), "level=ERROR") {
		t.Fatalf("bad input logged an internal error:\n%s", f.Logs())
	}
}

// TestSecretsAtRest reads the raw database files and the server log: no
// key secret, webhook secret or Authorization value appears in either.
func TestSecretsAtRest(t *testing.T) {
	f := newFixture(t)
	app := f.createApp(t, "App")
	resp, body := f.Do(t, "POST", "/v2/apps/"+app+"/integrations", f.acct,
		`{"type":"custom","webhooks":[{"target":"https://example.com/cb","triggers":["*"]}]}`)
	want(t, resp, body, http.StatusCreated)
	in := decode(t, body)["integration"].(map[string]any)
	hookSecret := in["webhooks"].([]any)[0].(map[string]any)["secret"].(string)
	k1 := f.createKey(t, f.acct, "/v2/apps/"+app+"/integrations/"+in["id"].(string)+"/keys", "k1")
	k2 := f.createKey(t, hs256(t, f.Account, "account"), "/v2/apps/"+app+"/keys", "k2")
	jwtHeader := hs256(t, k2, "app")
	f.Do(t, "GET", "/v2/apps/"+app, jwtHeader, "")
	f.Do(t, "GET", "/v2/apps/"+app, k2.Basic(), "")
	f.Do(t, "GET", "/v2/apps/"+app, "Basic "+b64(k2.ID+":wrong"), "")

	raw := f.RawFiles(t)
	logs := f.Logs()
	for name, s := range map[string]string{
		"account secret": f.Account.Secret, "integration key secret": k1.Secret, "app key secret": k2.Secret,
		"webhook secret": hookSecret,
	} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the database files contain the %s", name)
		}
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s", name)
		}
	}
	for _, header := range []string{f.acct, k2.Basic(), jwtHeader} {
		value := strings.SplitN(header, " ", 2)[1]
		if strings.Contains(logs, value) {
			t.Errorf("the log contains an Authorization value")
		}
	}
	if !strings.Contains(logs, k2.ID) {
		t.Error("the log does not name the key that authenticated; it should (ids are not secret)")
	}
}

// TestLimits takes each list a client sends to its cap and one past it: at
// the cap the request succeeds with the whole list, past it the request gets
// 400 bad_request and changes nothing.
func TestLimits(t *testing.T) {
	f := newFixture(t)
	app := f.createApp(t, "App")
	in := f.createIntegration(t, app)

	// join returns n items made by item, separated by commas.
	join := func(n int, item func(i int) string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = item(i)
		}
		return strings.Join(items, ",")
	}
	integrations := "/v2/apps/" + app + "/integrations"
	webhooks := func(n, triggers int) string {
		return `{"type":"custom","webhooks":[` + join(n, func(i int) string {
			return fmt.Sprintf(`{"target":"https://example.com/%d","triggers":[`, i) +
				join(triggers, func(j int) string { return fmt.Sprintf(`"conversation:t%d"`, j) }) + `]}`
		}) + `]}`
	}

	lists := []struct {
		name    string
		limit   int
		request func(n int) (method, path, body string)
		// check, at the limit, checks the response body.
		check func(t *testing.T, body []byte)
	}{
		{"filter[types]", 50, func(n int) (string, string, string) {
			types := join(n, func(i int) string {
				if i == 0 {
					return "custom"
				}
				return fmt.Sprintf("type%d", i)
			})
			return "GET", integrations + "?filter[types]=" + types, ""
		}, func(t *testing.T, body []byte) {
			list := decode(t, body)["integrations"].([]any)
			if len(list) != 1 || list[0].(map[string]any)["id"] != in {
				t.Fatalf("listed %s, want only integration %s", body, in)
			}
		}},
		{"webhooks", 1, func(n int) (string, string, string) {
			return "POST", integrations, webhooks(n, 1)
		}, func(t *testing.T, body []byte) {
			if hooks := decode(t, body)["integration"].(map[string]any)["webhooks"].([]any); len(hooks) != 1 {
				t.Fatalf("webhooks = %v, want 1", hooks)
			}
		}},
		{"triggers", 50, func(n int) (string, string, string) {
			return "POST", integrations, webhooks(1, n)
		}, func(t *testing.T, body []byte) {
			hook := decode(t, body)["integration"].(map[string]any)["webhooks"].([]any)[0].(map[string]any)
			if triggers := hook["triggers"].([]any); len(triggers) != 50 {
				t.Fatalf("triggers = %v, want 50", triggers)
			}
		}},
	}
	for _, l := range lists {
		t.Run(l.name, func(t *testing.T) {
			method, path, body := l.request(l.limit)
			resp, got := f.Do(t, method, path, f.acct, body)
			want(t, resp, got, map[string]int{"GET": http.StatusOK, "POST": http.StatusCreated}[method])
			l.check(t, got)

			before := f.Snapshot(t)
			method, path, body = l.request(l.limit + 1)
			resp, got = f.Do(t, method, path, f.acct, body)
			wantError(t, resp, got, http.StatusBadRequest, "bad_request")
			if f.Snapshot(t) != before {
				t.Fatal("the refused request changed the store")
			}
		})
	}

	// Metadata is capped at 4096 bytes of its compact JSON encoding:
	// whitespace and escapes in the request do not count, every byte of
	// UTF-8 does, and a number counts as it is kept and returned. Each
	// function returns metadata of exactly n such bytes.
	x := func(n int) string { return strings.Repeat("x", n) }
	metadata := []struct {
		name string
		of   func(n int) string
	}{
		{"ASCII", func(n int) string { return `{"a":"` + x(n-8) + `"}` }},
		{"pretty-printed", func(n int) string {
			return "{\n" + strings.Repeat(" ", 500) + `"a" :  "` + x(n-8) + "\"\n" + strings.Repeat("\t", 500) + "}"
		}},
		{"escaped UTF-8", func(n int) string { // \u00e9 is 6 bytes of request, 2 of metadata
			return `{"a":"` + strings.Repeat(`\u00e9`, (n-8)/2) + x((n-8)%2) + `"}`
		}},
		{"UTF-8", func(n int) string { return `{"a":"` + strings.Repeat("é", (n-8)/2) + x((n-8)%2) + `"}` }},
		{"exponent", func(n int) string { // 1e20 is kept as 100000000000000000000
			return `{"a":1e20,"b":"` + x(n-34) + `"}`
		}},
	}
	for _, md := range metadata {
		t.Run("metadata "+md.name, func(t *testing.T) {
			// At the limit, both create and update take it, whole.
			resp, body := f.Do(t, "POST", "/v2/apps", f.acct, `{"displayName":"m","metadata":`+md.of(4096)+`}`)
			want(t, resp, body, http.StatusCreated)
			created := decode(t, body)["app"].(map[string]any)
			wantMetadata(t, created["metadata"], md.of(4096))
			resp, body = f.Do(t, "PATCH", "/v2/apps/"+app, f.acct, `{"metadata":`+md.of(4096)+`}`)
			want(t, resp, body, http.StatusOK)
			wantMetadata(t, decode(t, body)["app"].(map[string]any)["metadata"], md.of(4096))

			// One byte more is refused by both, and changes nothing.
			for _, r := range []struct{ method, path, body string }{
				{"POST", "/v2/apps", `{"displayName":"m","metadata":` + md.of(4097) + `}`},
				{"PATCH", "/v2/apps/" + app, `{"metadata":` + md.of(4097) + `}`},
				{"PATCH", "/v2/apps/" + created["id"].(string), `{"displayName":"renamed","metadata":` + md.of(4097) + `}`},
			} {
				before := f.Snapshot(t)
				resp, body := f.Do(t, r.method, r.path, f.acct, r.body)
				wantError(t, resp, body, http.StatusBadRequest, "bad_request")
				if f.Snapshot(t) != before {
					t.Fatalf("the refused %s %s changed the store", r.method, r.path)
				}
			}
		})
	}
	if strings.Contains(f.Logs(), "level=ERROR") {
		t.Fatalf("a limit logged an internal error:\n%s", f.Logs())
	}
}

// wantMetadata checks that the app's metadata is the JSON object sent.
func wantMetadata(t *testing.T, got any, sent string) {
	t.Helper()
	var want map[string]any
	if err := json.Unmarshal([]byte(sent), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("metadata = %.80v…, want %.80v…", got, want)
	}
}
