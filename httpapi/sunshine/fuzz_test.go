package sunshine_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/httpapi"
	"github.com/latchkey/latchkey/httpapi/sunshine"
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
// is neither 5xx nor 401, logs no error, and is a JSON document. It returns the status
// and body.
func (fs *fuzzServer) serve(t testing.TB, method, target string, body []byte) (int, []byte) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", fs.Account.Basic())
	w := httptest.NewRecorder()
	fs.handler.ServeHTTP(w, r)
	// A 401 would mean the account key stopped working, and every later
	// request would test nothing but the gate.
	if logged := fs.errors.String(); w.Code >= 500 || w.Code == http.StatusUnauthorized || logged != "" {
		t.Fatalf("%s %s with body %q: %d %s\nlogged: %s", method, target, body, w.Code, w.Body, logged)
	}
	if !json.Valid(w.Body.Bytes()) {
		t.Fatalf("%s %s with body %q: %d, body %q is not JSON", method, target, body, w.Code, w.Body)
	}
	return w.Code, w.Body.Bytes()
}

// created returns the id of the object under name in a 201's body.
func created(tb testing.TB, status int, body []byte, name string) string {
	var out map[string]struct{ ID string }
	if err := json.Unmarshal(body, &out); status != http.StatusCreated || err != nil || out[name].ID == "" {
		tb.Fatalf("creating the %s: %d %s", name, status, body)
	}
	return out[name].ID
}

// FuzzBodies sends the fuzzed bytes as the body of every route of this
// surface that reads one (today: create and update an app, create and
// update a custom integration, and create app and integration keys). None may answer
// 5xx or log an error, and every answer is JSON. (The account key that
// makes the requests is not one these routes can change.)
func FuzzBodies(f *testing.F) {
	fs := newFuzzServer(f)
	status, body := fs.serve(f, "POST", "/v2/apps", []byte(`{"displayName":"fuzz"}`))
	app := created(f, status, body, "app")
	status, body = fs.serve(f, "POST", "/v2/apps/"+app+"/integrations",
		[]byte(`{"type":"custom","displayName":"Bot","webhooks":[{"target":"https://example.com/cb","triggers":["conversation:message"]}]}`))
	integration := created(f, status, body, "integration")
	routes := lktest.BodyRoutes(f, sunshine.Routes(), map[string][]string{"appId": {app}, "integrationId": {integration}})
	for _, body := range []string{
		`{"displayName":"My App"}`,
		`{"displayName":"My custom key"}`,
		`{"displayName":"a","metadata":{"lang":"en","n":1.5,"ok":true,"none":null}}`,
		`{"displayName":"a","metadata":{"nested":{"x":1}}}`,
		`{"displayName":"a","metadata":{"x":"` + strings.Repeat("y", 4100) + `"}}`,
		`{"displayName":"a","settings":{"conversationRetentionSeconds":3600,"maskCreditCardNumbers":true}}`,
		`{"type":"custom","displayName":"Bot","webhooks":[{"target":"https://example.com/cb","triggers":["conversation:message"],"includeFullUser":true}]}`,
		`{"type":"custom","webhooks":[{"target":"javascript:alert(1)","triggers":["*"]}]}`,
		`{"type":"custom","webhooks":[{"target":"https://example.com/cb","triggers":[]},{"target":"https://example.com/2","triggers":["*"]}]}`,
		`{"type":"custom","webhooks":[{"target":"https://[::1","triggers":["` + strings.Repeat("t", 101) + `"]}]}`,
		`{"type":"web","displayName":"x"}`,
		`{"type":"custom","webhooks":null}`,
		`{"displayName":"` + strings.Repeat("é", 200) + `"}`,
		`{"displayName":"\ud800\u0000"}`,
		`{"displayName":1,"metadata":[],"type":{},"webhooks":"x"}`,
		`{"displayName":"a","displayName":"b"}`,
		`{"displayName":"d"} trailing`,
		`[{"displayName":"d"}]`,
		`{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		``, `null`, `{}`, `{"displayName":null}`, "\xef\xbb\xbf{}", `{"displayName":"a","metadata":{"` + strings.Repeat("k", 5000) + `":1}}`,
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, rt := range routes {
			fs.serve(t, rt[0], rt[1], body)
		}
	})
}
