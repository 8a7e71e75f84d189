package rebilly_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi"
	"github.com/latchkey/latchkey/httpapi/rebilly"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
)

// fuzzServer is the real handler over a real store, made once per fuzz
// worker, with its error log kept apart so that a panic (which the recover
// middleware turns into a 500 and an error line) or any internal error is
// seen.
type fuzzServer struct {
	*lktest.Stack
	handler http.Handler
	errors  *lktest.Buffer
}

func newFuzzServer(f *testing.F) *fuzzServer {
	s := lktest.New(f)
	errs := &lktest.Buffer{}
	logger := slog.New(slog.NewTextHandler(errs, &slog.HandlerOptions{Level: slog.LevelError}))
	return &fuzzServer{Stack: s, handler: httpapi.NewServer(logger, web.Config{}, s.Svc, s.Verifier), errors: errs}
}

// serve sends one request with the account key and checks that the answer
// is neither 5xx nor 401, logs no error, and is a JSON document (or 204, empty).
func (fs *fuzzServer) serve(t testing.TB, method, target, rawQuery string, body []byte) int {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(string(body)))
	r.URL.RawQuery = rawQuery
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("REB-APIKEY", fs.Account.Secret)
	w := httptest.NewRecorder()
	fs.handler.ServeHTTP(w, r)
	// A 401 would mean the account key stopped working, and every later
	// request would test nothing but the gate.
	if logged := fs.errors.String(); w.Code >= 500 || w.Code == http.StatusUnauthorized || logged != "" {
		t.Fatalf("%s %s?%s with body %q: %d %s\nlogged: %s", method, target, rawQuery, body, w.Code, w.Body, logged)
	}
	if w.Code != http.StatusNoContent && !json.Valid(w.Body.Bytes()) {
		t.Fatalf("%s %s?%s with body %q: %d, body %q is not JSON", method, target, rawQuery, body, w.Code, w.Body)
	}
	return w.Code
}

// FuzzListQuery checks the filter and sort parser (parseListQuery) on any
// query string, and the list route it feeds:
//   - an error is a query string that cannot be read (web.QueryError) or a
//     validation error naming only limit, offset, sort or filter, both 422;
//   - an accepted query is within every bound (limit, offset, at most three
//     distinct sort fields, at most ten clauses of at most a page of values
//     on id, type or description, within the store's cap) and round-trips:
//     written back in Rebilly's syntax, it parses to the same query;
//   - GET /api-keys with it answers 200 exactly when the parser accepts it,
//     else 422, never 5xx.
func FuzzListQuery(f *testing.F) {
	fs := newFuzzServer(f)
	for _, q := range []string{
		"", "limit=5&offset=1", "limit=&offset=", "limit=-1", "limit=1001", "limit=1e3", "offset=99999999999999999999",
		"sort=-createdTime", "sort=id,-updatedTime, createdTime", "sort=id,id", "sort=name", "sort=a,b,c,d", "sort=-",
		"filter=id:a,b", "filter=type:!publishable;description:x y", "filter=description:a%3Bb", "filter=id:", "filter=nope:1",
		"filter=id:!", "filter=id:a:b", "filter=:x", "filter=id:!!x", "filter= id :,", "filter=id:a;;id:b", "filter=%zz:x",
		"filter=" + strings.Repeat("id:x;", 11), "filter=id:" + strings.Repeat("x,", 100), "filter=description:%",
		"filter=id:a&filter=type:b&sort=id&sort=x", "limit=1&limit=2", "a&&b=c&=d", "filter=description:' OR 1=1 --",
		"filter=description:%25_%5C", "filter=id:\x00", "sort=%2DcreatedTime",
	} {
		f.Add(q)
	}
	filterNames := map[latchkey.KeyField]string{latchkey.KeyFieldID: "id", latchkey.KeyFieldType: "type", latchkey.KeyFieldName: "description"}
	sortNames := map[latchkey.KeyField]string{latchkey.KeyFieldCreated: "createdTime", latchkey.KeyFieldUpdated: "updatedTime", latchkey.KeyFieldID: "id"}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		parse := rebilly.ParseListQuery
		q, err := parse(rawQuery)
		status := fs.serve(t, "GET", "/api-keys", rawQuery, nil)
		if err != nil {
			var queryErr *web.QueryError
			fields, ok := rebilly.InvalidFields(err)
			if !errors.As(err, &queryErr) && (!ok || len(fields) == 0) {
				t.Fatalf("parseListQuery(%q): %v, neither a query error nor a validation error", rawQuery, err)
			}
			for _, field := range fields {
				if !slices.Contains([]string{"limit", "offset", "sort", "filter"}, field) {
					t.Fatalf("parseListQuery(%q) names field %q", rawQuery, field)
				}
			}
			if status != http.StatusUnprocessableEntity {
				t.Fatalf("GET /api-keys?%s: %d for a query the parser refuses, want 422", rawQuery, status)
			}
			return
		}
		if status != http.StatusOK {
			t.Fatalf("GET /api-keys?%s: %d for a query the parser accepts", rawQuery, status)
		}
		if q.Limit < 0 || q.Limit > rebilly.MaxLimit || q.Offset < 0 || q.Offset > rebilly.MaxOffset {
			t.Fatalf("parseListQuery(%q): limit %d, offset %d out of bounds", rawQuery, q.Limit, q.Offset)
		}
		if len(q.Sort) == 0 || len(q.Sort) > rebilly.MaxSortFields {
			t.Fatalf("parseListQuery(%q): %d sort fields", rawQuery, len(q.Sort))
		}
		var params []string
		params = append(params, "limit="+strconv.Itoa(q.Limit), "offset="+strconv.Itoa(q.Offset))
		var sorts []string
		seen := map[latchkey.KeyField]bool{}
		for _, s := range q.Sort {
			name, ok := sortNames[s.Field]
			if !ok || seen[s.Field] {
				t.Fatalf("parseListQuery(%q): sort %+v", rawQuery, q.Sort)
			}
			seen[s.Field] = true
			if s.Desc {
				name = "-" + name
			}
			sorts = append(sorts, name)
		}
		params = append(params, "sort="+url.QueryEscape(strings.Join(sorts, ",")))
		if len(q.Filters) > rebilly.MaxFilterClauses {
			t.Fatalf("parseListQuery(%q): %d filter clauses", rawQuery, len(q.Filters))
		}
		var clauses []string
		total := 0
		for _, c := range q.Filters {
			name, ok := filterNames[c.Field]
			total += len(c.Values)
			if !ok || len(c.Values) == 0 || len(c.Values) > rebilly.MaxFilterValues {
				t.Fatalf("parseListQuery(%q): filter clause %+v", rawQuery, c)
			}
			for _, v := range c.Values {
				if strings.ContainsAny(v, ",;") {
					t.Fatalf("parseListQuery(%q): value %q holds a separator", rawQuery, v)
				}
			}
			if c.Negate {
				name += ":!"
			} else {
				name += ":"
			}
			clauses = append(clauses, name+strings.Join(c.Values, ","))
		}
		if total > latchkey.MaxFilterValues {
			t.Fatalf("parseListQuery(%q): %d filter values, over the store's cap", rawQuery, total)
		}
		if clauses != nil {
			params = append(params, "filter="+url.QueryEscape(strings.Join(clauses, ";")))
		}
		again, err := parse(strings.Join(params, "&"))
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("parseListQuery(%q) = %+v, written back as %q parses to %+v, %v", rawQuery, q, strings.Join(params, "&"), again, err)
		}
	})
}

// FuzzBodies sends the fuzzed bytes as the body of every route of this
// surface that reads one (today: creating a key at the root and in an
// organization, with and without the SDK's trailing slash, and PUT on
// existing keys and on a new id at both places). None may answer 5xx or log
// an error, and every answer is JSON. PUT goes to keys made for it, never
// to the account key that makes the requests, so that no body can lock the
// fuzzer out.
func FuzzBodies(f *testing.F) {
	fs := newFuzzServer(f)
	ctx := context.Background()
	app, err := fs.Svc.CreateApp(ctx, fs.Principal(f), &latchkey.App{DisplayName: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	var victims []string
	for _, owner := range []latchkey.KeyOwner{{}, {AppID: app.ID}} {
		k, err := fs.Svc.CreateKey(ctx, fs.Principal(f), core.KeySpec{Owner: owner, Name: "victim"})
		if err != nil {
			f.Fatal(err)
		}
		victims = append(victims, k.ID)
	}
	routes := lktest.BodyRoutes(f, rebilly.Routes(), map[string][]string{
		"organizationId": {app.ID}, "id": append(victims, "api_key_fuzz_new"),
	})
	for _, body := range []string{
		`{"description":"d"}`,
		`{"description":"d","type":"publishable"}`,
		`{"description":"d","acl":[{"scope":{"organizationId":["` + app.ID + `"]},"permissions":["GetApiKey","PostApiKey"]}]}`,
		`{"description":"d","acl":[{"scope":{"productId":["p"],"planId":[],"customFieldName":["f-1"]},"permissions":["*"]}]}`,
		`{"description":"d","acl":null,"allowedIps":null}`,
		`{"description":"d","allowedIps":["203.0.113.7","2001:db8::/32","::ffff:203.0.113.0/120"]}`,
		`{"description":"d","allowedIps":["10.0.0.1","fe80::1%eth0","1.2.3.4/33",""]}`,
		`{"description":"d","id":"x","apiUser":{},"secretKey":7,"createdTime":null,"_links":[]}`,
		`{"description":"` + strings.Repeat("é", 300) + `"}`,
		`{"description":"\ud800","type":"secret"}`,
		`{"description":1,"type":["secret"],"acl":{},"allowedIps":"1.2.3.4"}`,
		`{"description":"d","acl":[{"permissions":[1,null,"a b"]},{"scope":[]},null]}`,
		`{"description":"d","description":"e"}`,
		`{"Description":"d"}`,
		`{"description":"d"} trailing`,
		`[{"description":"d"}]`,
		`{"description":"d","acl":[{"scope":{"organizationId":"x"},"permissions":"*"}]}`,
		`{"description":"d","allowedIps":[` + strings.Repeat(`"203.0.113.7",`, 100) + `"203.0.113.8"]}`,
		`{"description":"d","acl":[{"scope":{"organizationId":[` + strings.Repeat(`"a",`, 100) + `"b"]},"permissions":["*"]}]}`,
		`{"description":"d","x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		``, `null`, `{}`, `{"description":null}`, `{"description":"d","type":null}`, "\xef\xbb\xbf{}",
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, rt := range routes {
			fs.serve(t, rt[0], rt[1], "", body)
		}
	})
}
