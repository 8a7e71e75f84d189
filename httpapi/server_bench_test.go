package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/httpapi"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
)

// discardWriter is the least a ResponseWriter can be, so that a benchmark
// measures the handler and its middleware, not a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkAuthorizeHandler is what GET /v1/authorize costs in process,
// middleware included, for a warm key, against BenchmarkBareHandler: the
// share of a request's server time that is Latchkey's own (the rest is
// net/http and the kernel; cmd/latchkey-bench measures the whole).
func BenchmarkAuthorizeHandler(b *testing.B) {
	s := lktest.New(b)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := httpapi.NewServer(logger, web.Config{}, s.Svc, s.Verifier)
	r, _ := http.NewRequest(http.MethodGet, "/v1/authorize?permission=orders.read", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Authorization", "Bearer "+s.Account.Secret)
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	if got := w.h.Get("X-Latchkey-Code"); got != "VALID" {
		b.Fatalf("code %q", got)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// BenchmarkBareHandler is the baseline: a handler that only answers 200.
func BenchmarkBareHandler(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	r, _ := http.NewRequest(http.MethodGet, "/v1/authorize", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
