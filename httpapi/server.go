// Package httpapi assembles Latchkey's HTTP server: it mounts each surface
// (the dialects in its subpackages, and the dashboard) on one net/http ServeMux and wraps them in
// the middleware every request gets: a request id (X-Request-Id), panic
// recovery, the audit of refused management attempts, and a request log
// that never carries a secret or an Authorization header.
package httpapi

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"time"

	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/dashboard"
	"github.com/latchkey/latchkey/httpapi/native"
	"github.com/latchkey/latchkey/httpapi/openapi"
	"github.com/latchkey/latchkey/httpapi/rebilly"
	"github.com/latchkey/latchkey/httpapi/sunshine"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/metrics"
)

// Option configures the server NewServer returns.
type Option func(*options)

type options struct {
	ready           func() error
	audit           *audit.Recorder
	sessionLifetime time.Duration
	metrics         *metrics.Metrics
	// metricsEndpoint says whether GET /metrics is mounted, and
	// metricsToken, if not "", is the bearer token it requires.
	metricsEndpoint bool
	metricsToken    string
}

// WithMetrics makes the server count every request it answers in m, by
// the route pattern that matched (see metrics.Metrics.ObserveRequest). It
// does not serve m: see WithMetricsEndpoint and MetricsHandler.
func WithMetrics(m *metrics.Metrics) Option { return func(o *options) { o.metrics = m } }

// WithMetricsEndpoint mounts GET /metrics, serving the metrics given with
// WithMetrics (NewServer panics without them): to anyone if token is "",
// else only to requests with the header "Authorization: Bearer <token>".
func WithMetricsEndpoint(token string) Option {
	return func(o *options) { o.metricsEndpoint, o.metricsToken = true, token }
}

// MetricsHandler serves m in the Prometheus formats, at any path: to anyone
// if token is "", else only to requests with the header "Authorization:
// Bearer <token>" (compared in constant time), others being answered 401.
// It is what WithMetricsEndpoint mounts, and what a listener of its own
// for metrics serves.
func MetricsHandler(m *metrics.Metrics, token string) http.Handler {
	h := m.Handler()
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			web.WriteJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{
				"code": "unauthorized", "message": "The metrics need the header Authorization: Bearer <token>, with the metrics token",
			}})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// WithReadiness makes GET /readyz ask ready: nil is ready (200), an error
// is not (503, with the error's text). Without it /readyz answers 200
// whenever the server answers at all.
func WithReadiness(ready func() error) Option { return func(o *options) { o.ready = ready } }

// WithAudit makes the server record refused management attempts (401 and
// 403) and throttled authentications in rec. Without it, only changes are
// recorded (by the core).
func WithAudit(rec *audit.Recorder) Option { return func(o *options) { o.audit = rec } }

// WithSessionLifetime sets how long a dashboard session lasts; without it,
// dashboard.DefaultSessionLifetime.
func WithSessionLifetime(d time.Duration) Option { return func(o *options) { o.sessionLifetime = d } }

// NewServer returns the handler for every route Latchkey serves.
func NewServer(logger *slog.Logger, cfg web.Config, svc *core.Service, verifier *auth.Verifier, opts ...Option) http.Handler {
	o := options{ready: func() error { return nil }}
	for _, opt := range opts {
		opt(&o)
	}
	if o.metricsEndpoint && o.metrics == nil {
		panic("httpapi: WithMetricsEndpoint needs WithMetrics")
	}
	cfg.Operations = web.NewOperationNames(operationIDs(sunshine.Routes(), rebilly.Routes(), native.Routes()))
	mux := http.NewServeMux()
	addRoutes(mux, logger, cfg, svc, verifier, o)
	return observe(logger, cfg, o.audit, o.metrics, recoverPanics(logger, mux))
}

// operationIDs lists the operations of the surfaces' routes, once each.
func operationIDs(tables ...[]web.Route) []string {
	var ids []string
	for _, table := range tables {
		for _, rt := range table {
			if rt.OperationID != "" && !slices.Contains(ids, rt.OperationID) {
				ids = append(ids, rt.OperationID)
			}
		}
	}
	return ids
}

// addRoutes mounts every surface; each surface's own routes.go lists its routes.
func addRoutes(mux *http.ServeMux, logger *slog.Logger, cfg web.Config, svc *core.Service, verifier *auth.Verifier, o options) {
	// healthz: the process serves. readyz: it should be sent traffic (on a
	// fleet, its cache is in step with the other nodes' changes).
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		web.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := o.ready(); err != nil {
			web.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		web.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if o.metricsEndpoint {
		mux.Handle("GET /metrics", MetricsHandler(o.metrics, o.metricsToken))
	}
	sunshine.AddRoutes(mux, logger, cfg, svc, verifier)
	rebilly.AddRoutes(mux, logger, cfg, svc, verifier)
	native.AddRoutes(mux, logger, cfg, svc, verifier)
	// The API's description: /openapi.json and the /docs reference page.
	openapi.AddRoutes(mux, cfg.PublicURL)
	dashboard.AddRoutes(mux, logger, cfg, svc, verifier, o.sessionLifetime)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		web.WriteJSON(w, http.StatusNotFound, map[string]any{"error": map[string]string{
			"code": "not_found", "message": "No route for " + r.URL.Path + ".",
		}})
	})
}

// recoverPanics turns a panic into a logged 500, so that one bad request
// cannot take the server down. Handlers are written never to panic; this is
// the net under them.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				writeInternalError(w, surfaceOf(r.URL.Path))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// writeInternalError answers a request that failed in a way no handler
// foresaw with 500, in its surface's own error format.
func writeInternalError(w http.ResponseWriter, surface string) {
	switch surface {
	case "sunshine":
		web.WriteJSON(w, http.StatusInternalServerError, map[string]any{"errors": []map[string]string{
			{"code": "uncategorized_error", "title": "Internal error."},
		}})
	case "rebilly":
		web.WriteJSON(w, http.StatusInternalServerError, map[string]any{
			"type": "about:blank", "title": "Internal Server Error", "status": http.StatusInternalServerError, "detail": "Internal error.",
		})
	case "dashboard":
		http.Error(w, "Internal error.", http.StatusInternalServerError)
	default: // native and gateway
		web.WriteJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]string{
			"code": "internal", "message": "Internal error.",
		}})
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// exchange is what observe keeps of one request, in one allocation: every
// request, verifications above all, pays for each allocation twice, once
// to make it and once in the garbage collector.
type exchange struct {
	sw        statusWriter
	req       audit.Request
	info      web.LogInfo
	requestID [1]string // the X-Request-Id header's value
}

// observe gives every request its id (sent back in X-Request-Id) and its
// audit record, then, once it is answered, audits a refused management
// attempt and logs one line: method, path, status, duration, request id and
// the id of the key that authenticated it. Headers and bodies are never
// logged, so neither are secrets. Verifications are logged at debug level
// (see web.LogInfo), unless they fail with a 5xx. With m, it counts the
// request there, by the pattern the mux matched.
func observe(logger *slog.Logger, cfg web.Config, rec *audit.Recorder, m *metrics.Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		x := &exchange{sw: statusWriter{ResponseWriter: w},
			req: audit.Request{ID: cfg.RequestID(r), ClientIP: cfg.ClientIP(r), Surface: surfaceOf(r.URL.Path)}}
		sw, req := &x.sw, &x.req
		ctx := audit.WithRequest(web.WithLogInfo(r.Context(), &x.info), req)
		x.requestID[0] = req.ID
		w.Header()["X-Request-Id"] = x.requestID[:]
		// The mux sets the pattern it matched on the request it is given:
		// this one, kept for the metrics.
		inner := r.WithContext(ctx)
		next.ServeHTTP(sw, inner)
		if m != nil {
			status := sw.status
			if status == 0 {
				status = http.StatusOK // nothing written: net/http answers 200
			}
			m.ObserveRequest(inner.Pattern, r.Method, status, time.Since(start))
		}
		if rec != nil {
			auditRefusal(ctx, rec, r, req, sw.status)
		}
		seen := x.info
		level := slog.LevelInfo
		if seen.Verification && sw.status < http.StatusInternalServerError {
			level = slog.LevelDebug
		}
		if !logger.Enabled(ctx, level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", req.ID),
			slog.String("key", seen.KeyID),
			slog.String("remote", r.RemoteAddr),
		}
		if seen.Origin != "" {
			attrs = append(attrs, slog.String("for", seen.Origin))
		}
		logger.LogAttrs(ctx, level, "request", attrs...)
	})
}
