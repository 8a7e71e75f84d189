package httpapi_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/httpapi"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
)

// GET /readyz answers what the readiness check says; /healthz stays 200.
func TestReadyz(t *testing.T) {
	s := lktest.New(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var notReady error
	h := httpapi.NewServer(logger, web.Config{}, s.Svc, s.Verifier, httpapi.WithReadiness(func() error { return notReady }))
	get := func(path string) (int, map[string]string) {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v: %s", path, err, w.Body)
		}
		return w.Code, body
	}
	if code, body := get("/readyz"); code != http.StatusOK || body["status"] != "ready" {
		t.Fatalf("ready: %d %v", code, body)
	}
	notReady = errors.New("not in step with the other nodes' key changes")
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || body["reason"] != notReady.Error() {
		t.Fatalf("not ready: %d %v", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("healthz while not ready: %d", code)
	}
}
