package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/httpapi"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
)

// Every line logged while a request is served carries that request's id,
// the one its answer sends back in X-Request-Id, whoever logs it.
func TestLogLinesCarryTheRequestID(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(httpapi.LogHandler(slog.NewJSONHandler(&out, nil)))
	ctx := audit.WithRequest(t.Context(), &audit.Request{ID: "req-42"})
	logger.WarnContext(ctx, "something deep down")
	logger.With("component", "x").InfoContext(ctx, "with attrs")
	logger.InfoContext(ctx, "already named", "request_id", "req-42")
	logger.Info("no request")
	logged := out.String()
	var ids []string
	sc := bufio.NewScanner(strings.NewReader(logged))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		id, _ := line["request_id"].(string)
		ids = append(ids, id)
	}
	if strings.Join(ids, ",") != "req-42,req-42,req-42," {
		t.Fatalf("request ids by line: %q", ids)
	}
	if strings.Count(logged, `"request_id"`) != 3 {
		t.Fatalf("a line that named its request id got it twice:\n%s", logged)
	}
}

// Through the server: the error a closed store causes is logged with the id
// the client was sent, as is the request's own line.
func TestAServerErrorIsLoggedWithTheRequestID(t *testing.T) {
	s := lktest.New(t)
	var out bytes.Buffer
	logger := slog.New(httpapi.LogHandler(slog.NewJSONHandler(&out, nil)))
	srv := httpapi.NewServer(logger, web.Config{}, s.Svc, s.Verifier)
	s.Store.Close()
	req, _ := http.NewRequest(http.MethodGet, "/v1/apps", nil)
	req.Header.Set("Authorization", s.Account.Basic())
	rec := &recorder{header: http.Header{}}
	srv.ServeHTTP(rec, req)
	id := rec.header.Get("X-Request-Id")
	if rec.status < http.StatusInternalServerError || id == "" {
		t.Fatalf("status %d, id %q", rec.status, id)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.Contains(line, `"request_id":"`+id+`"`) {
			t.Errorf("a line without the request's id %s: %s", id, line)
		}
	}
	if n := strings.Count(out.String(), "\n"); n < 2 {
		t.Fatalf("want the error's line and the request's, got %d:\n%s", n, out.String())
	}
}

type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
func (r *recorder) WriteHeader(code int) { r.status = code }
