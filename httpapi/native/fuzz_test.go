package native_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi"
	"github.com/latchkey/latchkey/httpapi/native"
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
func (fs *fuzzServer) serve(t testing.TB, method, target string, body []byte) int {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+fs.Account.Secret)
	w := httptest.NewRecorder()
	fs.handler.ServeHTTP(w, r)
	// A 401 would mean the account key stopped working, and every later
	// request would test nothing but the gate.
	if logged := fs.errors.String(); w.Code >= 500 || w.Code == http.StatusUnauthorized || logged != "" {
		t.Fatalf("%s %s with body %q: %d %s\nlogged: %s", method, target, body, w.Code, w.Body, logged)
	}
	if w.Code != http.StatusNoContent && !json.Valid(w.Body.Bytes()) {
		t.Fatalf("%s %s with body %q: %d, body %q is not JSON", method, target, body, w.Code, w.Body)
	}
	return w.Code
}

// FuzzBodies sends the fuzzed bytes as the body of every route of this
// surface that reads one (today: create and update an app, create and
// update a key, roll a key, create and update an integration, and verify). None may answer 5xx or log an error, and
// every answer is JSON. Updates and rolls go to a key made for them, never
// to the account key that makes the requests, so that no body can lock the
// fuzzer out.
func FuzzBodies(f *testing.F) {
	fs := newFuzzServer(f)
	ctx := context.Background()
	app, err := fs.Svc.CreateApp(ctx, fs.Principal(f), &latchkey.App{DisplayName: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	victim, err := fs.Svc.CreateKey(ctx, fs.Principal(f), core.KeySpec{Name: "victim"})
	if err != nil {
		f.Fatal(err)
	}
	integration, err := fs.Svc.CreateIntegration(ctx, fs.Principal(f), app.ID, &latchkey.Integration{Type: latchkey.IntegrationTypeCustom})
	if err != nil {
		f.Fatal(err)
	}
	routes := lktest.BodyRoutes(f, native.Routes(), map[string][]string{"appId": {app.ID}, "id": {victim.ID}, "integrationId": {integration.ID}})
	verified, err := fs.Svc.CreateKey(ctx, fs.Principal(f), core.KeySpec{Name: "verified", Owner: latchkey.KeyOwner{AppID: app.ID},
		Policy: latchkey.Policy{ACL: []latchkey.ACLEntry{{Permissions: []string{"orders.*"}}}}})
	if err != nil {
		f.Fatal(err)
	}
	for _, body := range []string{
		`{"name":"My App","metadata":{"team":"billing","n":1.5,"ok":true}}`,
		`{"name":"k","owner":{"type":"app","id":"` + app.ID + `"},"permissions":["orders.*","VerifyKey"]}`,
		`{"name":"k","owner":{"type":"account"},"type":"publishable","allowedIps":["203.0.113.0/24"],"expiresAt":"2030-01-01T00:00:00Z","rateLimit":{"limit":10,"period":"1m"}}`,
		`{"name":"k","acl":[{"scope":{"organizationId":["` + app.ID + `"],"productId":["p"],"planId":null},"permissions":["*"]}]}`,
		`{"name":"k","prefix":"acme","metadata":{"a":"b","n":1},"enabled":false}`,
		`{"name":"k","expiresAt":"1970-01-01T00:00:00Z","rateLimit":{"limit":-1,"period":"0s"}}`,
		`{"name":"k","expiresAt":"9999-12-31T23:59:59.999999999+14:00","rateLimit":{"limit":9223372036854775807,"period":"2562047h"}}`,
		`{"name":"k","allowedIps":["10.0.0.1","fe80::1%eth0","1.2.3.4/33"],"permissions":["a b",""]}`,
		`{"name":"k","owner":{"type":"integration","id":"000000000000000000000000","appId":"` + app.ID + `"}}`,
		`{"enabled":true,"allowedIps":null,"expiresAt":null,"rateLimit":null,"metadata":null}`,
		`{"gracePeriod":"24h"}`, `{"gracePeriod":"-1s"}`, `{"gracePeriod":"9999999h"}`, `{"gracePeriod":"0"}`,
		`{"key":"{secret}","apps":["` + app.ID + `"],"permissions":["orders.read"],"scope":{"organizationId":"` + app.ID + `","productId":"p"},"ip":"203.0.113.7","cost":1}`,
		`{"key":"{id}:{secret}","permissions":["PostApiKey"],"cost":1000000}`,
		`{"key":"{secret}","ip":"10.0.0.1","cost":0}`,
		`{"key":"act_x:sk_live_y","cost":-5,"ip":"::ffff:1.2.3.4%x"}`,
		`{"key":"eyJhbGciOiJIUzI1NiJ9.e30.x","cost":1e100,"apps":null}`,
		`{"key":"","apps":[` + strings.Repeat(`"a",`, 200) + `"b"]}`,
		`{"name":"` + strings.Repeat("é", 200) + `"}`,
		`{"name":"\ud800\u0000"}`,
		`{"name":1,"metadata":[],"owner":"x","permissions":"*"}`,
		`{"name":"a","name":"b"}`,
		`{"name":"d"} trailing`,
		`[{"name":"d"}]`,
		`{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		``, `null`, `{}`, `{"name":null}`, "\xef\xbb\xbf{}",
	} {
		f.Add([]byte(body))
	}
	// The corpus names the verified key's credentials by placeholder: they
	// differ from run to run, and no secret lands in testdata.
	placeholders := strings.NewReplacer("{secret}", verified.Secrets[0].Plain, "{id}", verified.ID)
	f.Fuzz(func(t *testing.T, body []byte) {
		if bytes.IndexByte(body, '{') >= 0 {
			body = []byte(placeholders.Replace(string(body)))
		}
		for _, rt := range routes {
			fs.serve(t, rt[0], rt[1], body)
		}
	})
}
