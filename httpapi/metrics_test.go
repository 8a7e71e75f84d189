package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/secret"
)

// metricsStack is a stack (lktest's store, master key, account and usage
// recorder) served by a verifier, core and server of its own, all
// reporting to fresh metrics, as `latchkey serve --metrics` wires them.
type metricsStack struct {
	*lktest.Stack
	m   *metrics.Metrics
	srv *httptest.Server
}

func newMetricsStack(t *testing.T, opts ...httpapi.Option) *metricsStack {
	t.Helper()
	s := lktest.New(t)
	m := metrics.New()
	store := m.InstrumentStore(s.Store)
	// A verifier of its own, cold, so that its cache counts start at 0.
	v := auth.NewVerifier(store, s.Keys, nil)
	m.WatchCache(v)
	m.WatchUsage(s.Usage)
	svc := core.New(store, s.Keys, secret.Live, v, core.WithVerification(v, ratelimit.New(), s.Usage), core.WithMetrics(m))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := httpapi.NewServer(logger, web.Config{}, svc, v, append([]httpapi.Option{httpapi.WithMetrics(m)}, opts...)...)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &metricsStack{Stack: s, m: m, srv: srv}
}

func (ms *metricsStack) do(t *testing.T, method, path, authorization, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ms.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ms.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape GETs /metrics with authorization and parses the text exposition.
func (ms *metricsStack) scrape(t *testing.T, authorization string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := ms.do(t, http.MethodGet, "/metrics", authorization, "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the exposition: %v\n%s", err, body)
	}
	return families
}

// sample returns the metric of family name whose labels are exactly
// labels (name, value pairs), or nil.
func sample(families map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	f := families[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for i, l := range m.GetLabel() {
			// The exposition sorts labels by name; so must the caller.
			if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
				continue next
			}
		}
		return m
	}
	return nil
}

func counter(t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := sample(families, name, labels...)
	if m == nil {
		t.Fatalf("no %s%v", name, labels)
	}
	return m.GetCounter().GetValue()
}

func histogramCount(t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string) uint64 {
	t.Helper()
	m := sample(families, name, labels...)
	if m == nil {
		t.Fatalf("no %s%v", name, labels)
	}
	return m.GetHistogram().GetSampleCount()
}

// /metrics counts requests by the route pattern that matched (never the
// path), verifications by outcome, the verifier's cache hits and misses
// and the store's reads, exactly; and the Go and process collectors are
// there.
func TestMetricsEndpoint(t *testing.T) {
	ms := newMetricsStack(t, httpapi.WithMetricsEndpoint(""))
	acct := ms.Account.Basic()

	// A management call: its authentication reads the key (a cache miss).
	if code, body := ms.do(t, http.MethodGet, "/v1/keys/"+ms.Account.ID, acct, ""); code != http.StatusOK {
		t.Fatalf("get key: %d %s", code, body)
	}
	// Two VALID verifications, each a cache hit for the caller and one for
	// the credential (a bare secret, cached since the first read).
	for range 2 {
		if code, body := ms.do(t, http.MethodPost, "/v1/verify", acct, `{"key":"`+ms.Account.Secret+`"}`); code != http.StatusOK || !strings.Contains(body, `"VALID"`) {
			t.Fatalf("verify: %d %s", code, body)
		}
	}
	// One NOT_FOUND: an unknown key id with a well-formed secret reads the
	// store (a miss).
	if code, body := ms.do(t, http.MethodPost, "/v1/verify", acct, `{"key":"000000000000000000000000:`+ms.Account.Secret+`"}`); code != http.StatusOK || !strings.Contains(body, `"NOT_FOUND"`) {
		t.Fatalf("verify unknown: %d %s", code, body)
	}
	// No route: neither path nor method may become a label value.
	if code, _ := ms.do(t, http.MethodGet, "/no/such/path/12345", "", ""); code != http.StatusNotFound {
		t.Fatalf("unknown path: %d", code)
	}
	if code, _ := ms.do(t, "BREW", "/coffee", "", ""); code != http.StatusNotFound {
		t.Fatalf("unknown method: %d", code)
	}

	f := ms.scrape(t, "")
	const req = "latchkey_http_requests_total"
	for _, c := range []struct {
		route, method, code string
		want                float64
	}{
		{"GET /v1/keys/{id}", "GET", "200", 1},
		{"POST /v1/verify", "POST", "200", 3},
		{metrics.Unmatched, "GET", "404", 1},
		{metrics.Unmatched, "OTHER", "404", 1},
	} {
		if got := counter(t, f, req, "code", c.code, "method", c.method, "route", c.route); got != c.want {
			t.Errorf("%s{route=%q,method=%q,code=%q} = %v, want %v", req, c.route, c.method, c.code, got, c.want)
		}
	}
	// Those are all: the scrape itself is counted once it is answered.
	if n := len(f[req].GetMetric()); n != 4 {
		t.Errorf("%s has %d series, want 4: %v", req, n, f[req].GetMetric())
	}
	for _, m := range f[req].GetMetric() {
		for _, l := range m.GetLabel() {
			if strings.Contains(l.GetValue(), "/no/such") || strings.Contains(l.GetValue(), ms.Account.ID) || l.GetValue() == "BREW" {
				t.Errorf("a raw path or method became a label: %v", m)
			}
		}
	}
	const dur = "latchkey_http_request_duration_seconds"
	if got := histogramCount(t, f, dur, "route", "POST /v1/verify"); got != 3 {
		t.Errorf("%s{route=verify} count = %d, want 3", dur, got)
	}
	if got := histogramCount(t, f, dur, "route", metrics.Unmatched); got != 2 {
		t.Errorf("%s{route=unmatched} count = %d, want 2", dur, got)
	}

	const ver = "latchkey_verifications_total"
	for code, want := range map[string]float64{"VALID": 2, "NOT_FOUND": 1, "EXPIRED": 0, "RATE_LIMITED": 0} {
		if got := counter(t, f, ver, "code", code); got != want {
			t.Errorf("%s{code=%s} = %v, want %v", ver, code, got, want)
		}
	}

	const cache = "latchkey_verifier_cache_lookups_total"
	if hit, miss := counter(t, f, cache, "result", "hit"), counter(t, f, cache, "result", "miss"); hit != 5 || miss != 2 {
		t.Errorf("cache hits %v misses %v, want 5 and 2", hit, miss)
	}

	const store = "latchkey_store_operation_duration_seconds"
	// The two cache misses read keys by id; no secret was looked up by hash.
	if got := histogramCount(t, f, store, "operation", metrics.OpKey); got < 2 {
		t.Errorf("%s{operation=key} count = %d, want at least 2", store, got)
	}
	if got := histogramCount(t, f, store, "operation", metrics.OpKeyBySecretHash); got != 0 {
		t.Errorf("%s{operation=key_by_secret_hash} count = %d, want 0", store, got)
	}

	if m := sample(f, "latchkey_usage_flush_lag_seconds"); m == nil || m.GetGauge().GetValue() < 0 {
		t.Errorf("usage flush lag: %v", m)
	}
	if got := counter(t, f, "latchkey_usage_flush_failures_total"); got != 0 {
		t.Errorf("usage flush failures = %v", got)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if f[name] == nil {
			t.Errorf("no %s", name)
		}
	}

	// The first scrape is counted by the second.
	f = ms.scrape(t, "")
	if got := counter(t, f, req, "code", "200", "method", "GET", "route", "GET /metrics"); got != 1 {
		t.Errorf("scrapes counted: %v, want 1", got)
	}
}

// With a token, /metrics refuses a request without it or with a wrong one
// (401), and serves the right one; MetricsHandler, for a listener of its
// own, does the same.
func TestMetricsToken(t *testing.T) {
	const token = "metrics-token-0123456789"
	ms := newMetricsStack(t, httpapi.WithMetricsEndpoint(token))
	for _, authz := range []string{"", "Bearer wrong", "Bearer " + token + "x", "Bearer " + token[:len(token)-1], "Basic " + token, token, ms.Account.Basic()} {
		if code, body := ms.do(t, http.MethodGet, "/metrics", authz, ""); code != http.StatusUnauthorized || strings.Contains(body, "latchkey_") {
			t.Errorf("Authorization %q: %d %s", authz, code, body)
		}
	}
	if f := ms.scrape(t, "Bearer "+token); f["latchkey_http_requests_total"] == nil {
		t.Fatal("no requests counted")
	} else if got := counter(t, f, "latchkey_http_requests_total", "code", "401", "method", "GET", "route", "GET /metrics"); got != 7 {
		t.Errorf("refused scrapes counted: %v, want 7", got)
	}

	h := httpapi.MetricsHandler(ms.m, token)
	for authz, want := range map[string]int{"": 401, "Bearer nope": 401, "Bearer " + token: 200} {
		r := httptest.NewRequest(http.MethodGet, "/anything", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("MetricsHandler with %q: %d, want %d", authz, w.Code, want)
		}
	}
}

// Without WithMetricsEndpoint, /metrics is not served, even with metrics
// recorded.
func TestMetricsNotMountedByDefault(t *testing.T) {
	ms := newMetricsStack(t)
	if code, body := ms.do(t, http.MethodGet, "/metrics", "", ""); code != http.StatusNotFound || strings.Contains(body, "latchkey_") {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	// The request was counted all the same, as unmatched.
	if got := testutilCount(ms.m, metrics.Unmatched); got != 1 {
		t.Fatalf("unmatched requests: %v, want 1", got)
	}
}

func testutilCount(m *metrics.Metrics, route string) float64 {
	families, err := m.Registry().Gather()
	if err != nil {
		panic(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "latchkey_http_requests_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					n += s.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
