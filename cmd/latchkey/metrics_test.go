package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeMetrics(t *testing.T) {
	t.Run("at /metrics, without a credential by default", func(t *testing.T) {
		base, _, stop := startServe(t, env(nil), "--db", "sqlite:"+filepath.Join(t.TempDir(), "latchkey.db"))
		defer stop()
		get(t, base+"/v1/whoami", "")
		status, body := get(t, base+"/metrics", "")
		if status != http.StatusOK || !strings.Contains(body, `latchkey_http_requests_total{code="401",method="GET",route="GET /v1/whoami"} 1`) ||
			!strings.Contains(body, "latchkey_verifications_total") || !strings.Contains(body, "go_goroutines") {
			t.Fatalf("/metrics: %d\n%s", status, body)
		}
	})
	t.Run("with a token", func(t *testing.T) {
		base, _, stop := startServe(t, env(map[string]string{"LATCHKEY_METRICS_TOKEN": "s3cret-token"}),
			"--db", "sqlite:"+filepath.Join(t.TempDir(), "latchkey.db"))
		defer stop()
		if status, _ := get(t, base+"/metrics", ""); status != http.StatusUnauthorized {
			t.Fatalf("/metrics without the token: %d, want 401", status)
		}
		if status, _ := get(t, base+"/metrics", "s3cret-token"); status != http.StatusOK {
			t.Fatalf("/metrics with the token: %d", status)
		}
	})
	t.Run("on an address of their own", func(t *testing.T) {
		base, logs, stop := startServe(t, env(nil), "--db", "sqlite:"+filepath.Join(t.TempDir(), "latchkey.db"),
			"--metrics-addr", "127.0.0.1:0")
		defer stop()
		m := regexp.MustCompile(`msg="serving metrics" addr=(\S+)`).FindStringSubmatch(logs.String())
		if m == nil {
			t.Fatalf("no metrics address logged:\n%s", logs.String())
		}
		if status, _ := get(t, base+"/metrics", ""); status != http.StatusNotFound {
			t.Fatalf("/metrics on the main address with --metrics-addr: %d, want 404", status)
		}
		if status, body := get(t, "http://"+m[1]+"/metrics", ""); status != http.StatusOK || !strings.Contains(body, "latchkey_") {
			t.Fatalf("metrics on their own address: %d", status)
		}
	})
}
