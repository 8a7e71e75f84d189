package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/metrics"
)

// Every method is a no-op on a nil *Metrics, and InstrumentStore returns
// the store itself.
func TestNilMetrics(t *testing.T) {
	var m *metrics.Metrics
	m.ObserveRequest("GET /x", "GET", 200, time.Millisecond)
	m.Verified(latchkey.CodeValid)
	m.WatchCache(nil)
	m.WatchUsage(nil)
	m.WatchFleet(nil)
	var s latchkey.Store = fakeStore{}
	if m.InstrumentStore(s) != s {
		t.Fatal("InstrumentStore on nil metrics wrapped the store")
	}
}

// Routes and methods are bounded label values; every outcome is exported
// from the start; counts are exact; each Metrics has its own registry.
func TestFamilies(t *testing.T) {
	m := metrics.New()
	m.ObserveRequest("GET /v1/keys/{id}", "GET", 200, time.Millisecond)
	m.ObserveRequest("GET /v1/keys/{id}", "GET", 200, 2*time.Millisecond)
	m.ObserveRequest("", "DELETE", 405, time.Millisecond)
	m.ObserveRequest("/", "PROPFIND", 404, time.Millisecond)
	m.Verified(latchkey.CodeValid)
	m.Verified(latchkey.CodeNotFound)
	m.Verified(latchkey.CodeNotFound)
	m.Verified("SOMETHING_NEW")

	want := `
# HELP latchkey_http_requests_total HTTP requests answered, by the route pattern that matched ("unmatched" if none), method and status code.
# TYPE latchkey_http_requests_total counter
latchkey_http_requests_total{code="200",method="GET",route="GET /v1/keys/{id}"} 2
latchkey_http_requests_total{code="404",method="OTHER",route="unmatched"} 1
latchkey_http_requests_total{code="405",method="DELETE",route="unmatched"} 1
# HELP latchkey_verifications_total Credentials checked by the verify and authorize endpoints, by outcome (VALID, NOT_FOUND, ...).
# TYPE latchkey_verifications_total counter
latchkey_verifications_total{code="DISABLED"} 0
latchkey_verifications_total{code="EXPIRED"} 0
latchkey_verifications_total{code="INSUFFICIENT_PERMISSIONS"} 0
latchkey_verifications_total{code="IP_NOT_ALLOWED"} 0
latchkey_verifications_total{code="NOT_FOUND"} 2
latchkey_verifications_total{code="RATE_LIMITED"} 0
latchkey_verifications_total{code="SOMETHING_NEW"} 1
latchkey_verifications_total{code="VALID"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "latchkey_http_requests_total", "latchkey_verifications_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(metrics.New().Registry(), "latchkey_http_requests_total"); n != 0 {
		t.Fatalf("a new Metrics has %d request series: registries are shared", n)
	}
}

type cacheStats struct{ hits, misses uint64 }

func (c *cacheStats) CacheStats() (uint64, uint64) { return c.hits, c.misses }

type flushStats struct {
	lag      time.Duration
	failures int64
}

func (f *flushStats) FlushLag() time.Duration { return f.lag }
func (f *flushStats) FlushFailures() int64    { return f.failures }

// syncAge is a fleet follower: its sync age is d, and observe is the
// observer WatchFleet gave it.
type syncAge struct {
	d       time.Duration
	observe func(time.Duration)
}

func (s *syncAge) SyncAge() time.Duration                  { return s.d }
func (s *syncAge) ObserveChangeLags(o func(time.Duration)) { s.observe = o }

// The Watch* families read their sources at each scrape.
func TestWatched(t *testing.T) {
	m := metrics.New()
	c := &cacheStats{hits: 9, misses: 1}
	u := &flushStats{lag: 1500 * time.Millisecond, failures: 3}
	f := &syncAge{d: -1}
	m.WatchCache(c)
	m.WatchUsage(u)
	m.WatchFleet(f)
	want := func(text string) {
		t.Helper()
		if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(text),
			"latchkey_verifier_cache_lookups_total", "latchkey_usage_flush_lag_seconds", "latchkey_usage_flush_failures_total", "latchkey_fleet_sync_age_seconds"); err != nil {
			t.Fatal(err)
		}
	}
	const help = `
# HELP latchkey_fleet_sync_age_seconds Time since the last successful read of the fleet's key-change feed began (-1 before the first): how stale this node's view of other nodes' key changes may be.
# TYPE latchkey_fleet_sync_age_seconds gauge
# HELP latchkey_usage_flush_failures_total Usage flushes that the store failed (the counts are kept and sent again).
# TYPE latchkey_usage_flush_failures_total counter
# HELP latchkey_usage_flush_lag_seconds Time since the usage recorder last flushed its counts to the store successfully.
# TYPE latchkey_usage_flush_lag_seconds gauge
# HELP latchkey_verifier_cache_lookups_total Credential checks by the verifier: answered from its caches (hit; an unknown credential remembered as such counts too) or by reading the store (miss).
# TYPE latchkey_verifier_cache_lookups_total counter
`
	want(help + `latchkey_fleet_sync_age_seconds -1
latchkey_usage_flush_failures_total 3
latchkey_usage_flush_lag_seconds 1.5
latchkey_verifier_cache_lookups_total{result="hit"} 9
latchkey_verifier_cache_lookups_total{result="miss"} 1
`)
	c.hits, u.lag, f.d = 10, 0, 250*time.Millisecond
	want(help + `latchkey_fleet_sync_age_seconds 0.25
latchkey_usage_flush_failures_total 3
latchkey_usage_flush_lag_seconds 0
latchkey_verifier_cache_lookups_total{result="hit"} 10
latchkey_verifier_cache_lookups_total{result="miss"} 1
`)
}

// WatchFleet hooks the follower's change lags to a histogram from 1 ms to
// 60 s, in seconds.
func TestChangeLag(t *testing.T) {
	m := metrics.New()
	f := &syncAge{}
	m.WatchFleet(f)
	if f.observe == nil {
		t.Fatal("WatchFleet set no change lag observer")
	}
	const help = `
# HELP latchkey_fleet_change_lag_seconds Time from the commit of a transaction that changed keys, on any node of the fleet, to this node having applied it (forgotten the keys): PostgreSQL's clock from the commit to this node's read of the change feed, plus this node's time from the read to forgetting.
# TYPE latchkey_fleet_change_lag_seconds histogram
`
	want := func(text string) {
		t.Helper()
		if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(help+text), "latchkey_fleet_change_lag_seconds"); err != nil {
			t.Fatal(err)
		}
	}
	// Exported, empty, from the start.
	want(`latchkey_fleet_change_lag_seconds_bucket{le="0.001"} 0
latchkey_fleet_change_lag_seconds_bucket{le="0.0025"} 0
latchkey_fleet_change_lag_seconds_bucket{le="0.005"} 0
latchkey_fleet_change_lag_seconds_bucket{le="0.01"} 0
latchkey_fleet_change_lag_seconds_bucket{le="0.025"} 0
latchkey_fleet_change_lag_seconds_bucket{le="0.05"} 0
latchkey_fleet_change_lag_seconds_bucket{le="0.1"} 0
latchkey_fleet_change_lag_seconds_bucket{le="0.25"} 0
latchkey_fleet_change_lag_seconds_bucket{le="0.5"} 0
latchkey_fleet_change_lag_seconds_bucket{le="1"} 0
latchkey_fleet_change_lag_seconds_bucket{le="2.5"} 0
latchkey_fleet_change_lag_seconds_bucket{le="5"} 0
latchkey_fleet_change_lag_seconds_bucket{le="10"} 0
latchkey_fleet_change_lag_seconds_bucket{le="30"} 0
latchkey_fleet_change_lag_seconds_bucket{le="60"} 0
latchkey_fleet_change_lag_seconds_bucket{le="+Inf"} 0
latchkey_fleet_change_lag_seconds_sum 0
latchkey_fleet_change_lag_seconds_count 0
`)
	f.observe(3 * time.Millisecond)
	f.observe(1500 * time.Millisecond)
	f.observe(2 * time.Minute)
	want(`latchkey_fleet_change_lag_seconds_bucket{le="0.001"} 0
latchkey_fleet_change_lag_seconds_bucket{le="0.0025"} 0
latchkey_fleet_change_lag_seconds_bucket{le="0.005"} 1
latchkey_fleet_change_lag_seconds_bucket{le="0.01"} 1
latchkey_fleet_change_lag_seconds_bucket{le="0.025"} 1
latchkey_fleet_change_lag_seconds_bucket{le="0.05"} 1
latchkey_fleet_change_lag_seconds_bucket{le="0.1"} 1
latchkey_fleet_change_lag_seconds_bucket{le="0.25"} 1
latchkey_fleet_change_lag_seconds_bucket{le="0.5"} 1
latchkey_fleet_change_lag_seconds_bucket{le="1"} 1
latchkey_fleet_change_lag_seconds_bucket{le="2.5"} 2
latchkey_fleet_change_lag_seconds_bucket{le="5"} 2
latchkey_fleet_change_lag_seconds_bucket{le="10"} 2
latchkey_fleet_change_lag_seconds_bucket{le="30"} 2
latchkey_fleet_change_lag_seconds_bucket{le="60"} 2
latchkey_fleet_change_lag_seconds_bucket{le="+Inf"} 3
latchkey_fleet_change_lag_seconds_sum 121.503
latchkey_fleet_change_lag_seconds_count 3
`)
}

// fakeStore is a latchkey.Store that answers only Key.
type fakeStore struct{ latchkey.Store }

func (fakeStore) Key(context.Context, string) (*latchkey.Key, error) {
	time.Sleep(time.Millisecond)
	return nil, latchkey.NotFound("key")
}

// InstrumentStore times the operations it names, errors included, and
// passes the others through.
func TestInstrumentStore(t *testing.T) {
	m := metrics.New()
	s := m.InstrumentStore(fakeStore{})
	for range 3 {
		if _, err := s.Key(context.Background(), "k"); latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
			t.Fatal(err)
		}
	}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	var sum float64
	for _, f := range families {
		if f.GetName() != "latchkey_store_operation_duration_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			if s.GetLabel()[0].GetValue() == metrics.OpKey {
				count, sum = s.GetHistogram().GetSampleCount(), s.GetHistogram().GetSampleSum()
			} else if n := s.GetHistogram().GetSampleCount(); n != 0 {
				t.Errorf("%v observed %d times", s.GetLabel(), n)
			}
		}
	}
	if count != 3 || sum < 0.003 {
		t.Fatalf("key: %d observations summing %vs, want 3 and at least 0.003", count, sum)
	}
}

// Handler serves the text exposition with the Go and process collectors.
func TestHandler(t *testing.T) {
	m := metrics.New()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "go_goroutines") || !strings.Contains(w.Body.String(), "latchkey_verifications_total") {
		t.Fatalf("%d %.500s", w.Code, w.Body)
	}
}
