package openapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/httpapi/openapi"
)

func serve(t *testing.T, publicURL string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	openapi.AddRoutes(mux, publicURL)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestDocumentIsServed(t *testing.T) {
	srv := serve(t, "")
	resp, body := get(t, srv.URL+"/openapi.json")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for name, want := range map[string]string{
		"Content-Type":                "application/json; charset=utf-8",
		"Cache-Control":               "public, max-age=300",
		"X-Content-Type-Options":      "nosniff",
		"Access-Control-Allow-Origin": "*",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if body != string(openapi.JSON("")) {
		t.Error("the body is not the document")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc["openapi"] != "3.1.0" {
		t.Fatalf("not an OpenAPI 3.1.0 document: %v", err)
	}
	etag := resp.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(etag) {
		t.Fatalf("ETag %q", etag)
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		resp, body := get(t, srv.URL+"/openapi.json", "If-None-Match", inm)
		if resp.StatusCode != http.StatusNotModified || body != "" || resp.Header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d %q (ETag %q), want 304 with no body", inm, resp.StatusCode, body, resp.Header.Get("ETag"))
		}
	}
	if resp, _ := get(t, srv.URL+"/openapi.json", "If-None-Match", `"stale"`); resp.StatusCode != 200 {
		t.Errorf("a stale ETag gets %d, want 200", resp.StatusCode)
	}

	// A server with a public URL names it; its document, so its ETag, differs.
	other := serve(t, "https://keys.example.com")
	resp2, body2 := get(t, other.URL+"/openapi.json")
	if !strings.Contains(body2, `"servers":[{"url":"https://keys.example.com"`) || resp2.Header.Get("ETag") == etag {
		t.Errorf("with a public URL: ETag %s, servers not the public URL: %.300s", resp2.Header.Get("ETag"), body2)
	}
}

// TestReferencePage: /docs is a self-contained HTML page under a strict
// Content-Security-Policy, with an anchor for every operation and schema,
// and a stylesheet from this server.
func TestReferencePage(t *testing.T) {
	srv := serve(t, "")
	resp, page := get(t, srv.URL+"/docs")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q admits scripts or unsafe sources", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("ETag") == "" {
		t.Errorf("headers: %v", resp.Header)
	}
	for _, bad := range []string{"<script", "style=", "<iframe", "http://", "https://", `src="//`, `href="//`} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q: it must need nothing from elsewhere, and nothing inline", bad)
		}
	}
	var doc struct {
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi.JSON(""), &doc); err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths {
		for method, op := range item {
			if m, ok := op.(map[string]any); ok && m["operationId"] != nil {
				if id := m["operationId"].(string); !strings.Contains(page, `id="op-`+id+`"`) {
					t.Errorf("no section for %s %s (%s)", method, path, id)
				}
			}
		}
	}
	for name := range doc.Components.Schemas {
		if !strings.Contains(page, `id="schema-`+name+`"`) {
			t.Errorf("no section for schema %s", name)
		}
	}
	for _, want := range []string{"Sunshine Conversations v2", "dashboard", "/metrics", "Bearer"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not mention %q", want)
		}
	}

	css := regexp.MustCompile(`<link rel="stylesheet" href="(/docs/docs\.css\?v=[0-9a-f]+)">`).FindStringSubmatch(page)
	if css == nil {
		t.Fatal("no stylesheet link")
	}
	resp, body := get(t, srv.URL+css[1])
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(body, ".operation") {
		t.Errorf("stylesheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(css[1], strings.Trim(resp.Header.Get("ETag"), `"`)) {
		t.Errorf("the stylesheet's URL %s does not carry its ETag %s", css[1], resp.Header.Get("ETag"))
	}
}
