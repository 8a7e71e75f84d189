package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A panic in a handler is answered with 500 in the error format of the
// surface the request was for, and logged; the server goes on.
func TestPanicsAnswerInTheSurfacesFormat(t *testing.T) {
	logs := &strings.Builder{}
	h := recoverPanics(slog.New(slog.NewTextHandler(logs, nil)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	for path, want := range map[string]string{
		"/v2/apps":           `{"errors":[{"code":"uncategorized_error","title":"Internal error."}]}`,
		"/api-keys":          `{"detail":"Internal error.","status":500,"title":"Internal Server Error","type":"about:blank"}`,
		"/v1/keys":           `{"error":{"code":"internal","message":"Internal error."}}`,
		"/v1/authorize":      `{"error":{"code":"internal","message":"Internal error."}}`,
		"/dashboard/keys":    "Internal error.\n",
		"/no/surface/at/all": `{"error":{"code":"internal","message":"Internal error."}}`,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusInternalServerError || string(body) != want {
			t.Errorf("%s: %d %s, want 500 %s", path, rec.Code, body, want)
		}
	}
	if !strings.Contains(logs.String(), "panic serving request") {
		t.Error("the panic was not logged")
	}
}
