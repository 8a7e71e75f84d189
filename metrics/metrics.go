// Package metrics exposes Latchkey's Prometheus metrics: the Go runtime's
// and the process's, and Latchkey's own families, all prefixed latchkey_:
//
//	latchkey_http_requests_total{route,method,code}   requests answered
//	latchkey_http_request_duration_seconds{route}     time to answer them
//	latchkey_verifications_total{code}                verify and authorize outcomes
//	latchkey_verifier_cache_lookups_total{result}     verifier cache hits and misses
//	latchkey_store_operation_duration_seconds{operation}
//	latchkey_usage_flush_lag_seconds                  time since the last successful usage flush
//	latchkey_usage_flush_failures_total
//	latchkey_fleet_sync_age_seconds                   time since the last successful read of the change feed began
//	latchkey_fleet_change_lag_seconds                 time from a key change's commit to this node applying it
//
// The two fleet families exist only on the nodes of a fleet (PostgreSQL).
// latchkey_fleet_change_lag_seconds is a histogram with one observation
// per committed transaction that changed keys, through any node (this one
// included, though its own cache forgot them at once): the time from its
// commit to this node's verifier having forgotten the keys it changed. It
// is PostgreSQL's clock_timestamp() when this node read the change feed
// minus the one a trigger took as the transaction committed (one clock, so
// free of any skew between the nodes' clocks), plus this node's own time
// from that read to the forgetting. The commit's instant is taken just
// before the commit becomes visible: the lag leaves out only the end of
// the commit itself (its write to disk, any wait for synchronous
// replicas). Changes a node could not read one by one (it purged its cache
// after losing track for too long) are not observed: the sync age shows
// those. Its buckets (ChangeLagBuckets) run from 1 ms to 60 s.
//
// route is the net/http ServeMux pattern that matched (such as
// "GET /v1/keys/{id}"), never the raw path, so that its values are
// bounded; a request no pattern matched is "unmatched". method is one of
// the standard methods or "OTHER", for the same reason.
//
// Each Metrics has a registry of its own (never the global default one), so
// that tests can make as many as they like. Every method is safe on a nil
// *Metrics, and does nothing: code that records metrics needs no check.
// Counts that the hot path keeps anyway (the verifier's cache hits, the
// usage recorder's flushes) are read when Prometheus scrapes, through
// Watch* methods, so that they cost the hot path nothing more.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchkey/latchkey"
)

// Namespace prefixes every family of Latchkey's own.
const Namespace = "latchkey"

// Unmatched is the route label of a request that no route matched.
const Unmatched = "unmatched"

// DurationBuckets are the histogram buckets, in seconds, of request and
// store latencies: from a tenth of a millisecond (a warm verification
// answers in microseconds) to seconds (a slow store).
var DurationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// ChangeLagBuckets are the buckets, in seconds, of
// latchkey_fleet_change_lag_seconds: from a millisecond (the doorbell
// rings at once and the read is quick) to a minute (a node that cannot read
// the change feed, or a database slow to answer).
var ChangeLagBuckets = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// Metrics holds a registry and Latchkey's families in it. Make one with New.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	verifications *prometheus.CounterVec
	byCode        map[latchkey.Code]prometheus.Counter
	store         *prometheus.HistogramVec
}

// New returns a Metrics with a fresh registry holding the Go and process
// collectors and Latchkey's families.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by the route pattern that matched (\"unmatched\" if none), method and status code.",
	}, []string{"route", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by the route pattern that matched.",
		Buckets: DurationBuckets,
	}, []string{"route"})
	m.verifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "verifications_total",
		Help: "Credentials checked by the verify and authorize endpoints, by outcome (VALID, NOT_FOUND, ...).",
	}, []string{"code"})
	m.byCode = make(map[latchkey.Code]prometheus.Counter, len(latchkey.Codes))
	for _, c := range latchkey.Codes {
		// Made now, so that every outcome is exported (as 0) from the start
		// and counting one is a map read and an atomic add.
		m.byCode[c] = m.verifications.WithLabelValues(string(c))
	}
	m.store = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "store_operation_duration_seconds",
		Help:    "Time the store took for an operation (see InstrumentStore for the operations timed), whether or not it failed.",
		Buckets: DurationBuckets,
	}, []string{"operation"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.verifications, m.store,
	)
	return m
}

// Registry returns the registry, to register more collectors or to gather
// in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats, with no
// credential check: mount it behind one, or on an address of its own.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest counts one answered HTTP request. pattern is the
// ServeMux pattern that matched (http.Request.Pattern): "" (no pattern,
// as for a 405 or a redirect the mux made) and "/" (the catch-all that
// answers 404) are counted as Unmatched.
func (m *Metrics) ObserveRequest(pattern, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if pattern == "" || pattern == "/" {
		pattern = Unmatched
	}
	m.requests.WithLabelValues(pattern, methodLabel(method), statusLabel(status)).Inc()
	m.duration.WithLabelValues(pattern).Observe(d.Seconds())
}

// Verified counts one verification outcome. It implements
// core.VerificationObserver.
func (m *Metrics) Verified(code latchkey.Code) {
	if m == nil {
		return
	}
	if c, ok := m.byCode[code]; ok {
		c.Inc()
		return
	}
	m.verifications.WithLabelValues(string(code)).Inc()
}

// CacheStats is what WatchCache reads: auth.Verifier is one.
type CacheStats interface {
	// CacheStats reports how many checks the caches answered (hits) and
	// how many read the store (misses), since the start.
	CacheStats() (hits, misses uint64)
}

// WatchCache exports c's counts as latchkey_verifier_cache_lookups_total,
// read at each scrape. Call it once.
func (m *Metrics) WatchCache(c CacheStats) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&cacheCollector{c: c, desc: prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "verifier_cache", "lookups_total"),
		"Credential checks by the verifier: answered from its caches (hit; an unknown credential remembered as such counts too) or by reading the store (miss).",
		[]string{"result"}, nil)})
}

type cacheCollector struct {
	c    CacheStats
	desc *prometheus.Desc
}

func (cc *cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- cc.desc }

func (cc *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	hits, misses := cc.c.CacheStats()
	ch <- prometheus.MustNewConstMetric(cc.desc, prometheus.CounterValue, float64(hits), "hit")
	ch <- prometheus.MustNewConstMetric(cc.desc, prometheus.CounterValue, float64(misses), "miss")
}

// FlushStats is what WatchUsage reads: usage.Recorder is one.
type FlushStats interface {
	// FlushLag is the time since the last successful flush.
	FlushLag() time.Duration
	// FlushFailures counts the flushes the sink failed.
	FlushFailures() int64
}

// WatchUsage exports latchkey_usage_flush_lag_seconds (the time since the
// last successful flush: it stays below the flush interval while the sink
// works, and grows while it fails) and latchkey_usage_flush_failures_total,
// read from u at each scrape. Call it once.
func (m *Metrics) WatchUsage(u FlushStats) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "usage_flush_lag_seconds",
			Help: "Time since the usage recorder last flushed its counts to the store successfully.",
		}, func() float64 { return u.FlushLag().Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: Namespace, Name: "usage_flush_failures_total",
			Help: "Usage flushes that the store failed (the counts are kept and sent again).",
		}, func() float64 { return float64(u.FlushFailures()) }),
	)
}

// SyncAge is what WatchFleet reads: fleet.Follower is one.
type SyncAge interface {
	// SyncAge is the time since the last successful read of the change
	// feed began; negative before the first.
	SyncAge() time.Duration
}

// Fleet is what WatchFleet watches: fleet.Follower is one.
type Fleet interface {
	SyncAge
	// ObserveChangeLags has observe called, from then on, with the lag of
	// each committed transaction of key changes that the node applies:
	// the time from its commit to the node's cache having forgotten its
	// keys.
	ObserveChangeLags(observe func(lag time.Duration))
}

// WatchFleet exports latchkey_fleet_sync_age_seconds, read from f at each
// scrape: how old this node's knowledge of the other nodes' key changes
// may be. A change committed elsewhere is applied here at most this long
// after its commit, plus the read itself. Before the first successful
// read it is -1. It also exports latchkey_fleet_change_lag_seconds, the
// histogram of the lags f observes from then on (see the package
// documentation). Call it once.
func (m *Metrics) WatchFleet(f Fleet) {
	if m == nil {
		return
	}
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "fleet_change_lag_seconds",
		Help: "Time from the commit of a transaction that changed keys, on any node of the fleet, to this node having applied it (forgotten the keys): " +
			"PostgreSQL's clock from the commit to this node's read of the change feed, plus this node's time from the read to forgetting.",
		Buckets: ChangeLagBuckets,
	})
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "fleet_sync_age_seconds",
		Help: "Time since the last successful read of the fleet's key-change feed began (-1 before the first): how stale this node's view of other nodes' key changes may be.",
	}, func() float64 {
		if d := f.SyncAge(); d >= 0 {
			return d.Seconds()
		}
		return -1
	}), lag)
	f.ObserveChangeLags(func(d time.Duration) { lag.Observe(d.Seconds()) })
}

// methodLabel bounds the method label: a client may send any token.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusLabels are the status codes as strings, made once, so that
// labelling a request allocates none.
var statusLabels = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return strconv.Itoa(code)
}
