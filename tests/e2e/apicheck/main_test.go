package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/httpapi/openapi"
	"github.com/latchkey/latchkey/httpapi/openapi/check"
)

// record writes a directory as the harness leaves it: the document and one
// JSON-lines file of exchanges.
func record(t *testing.T, exchanges ...check.Exchange) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "openapi.json"), openapi.JSON(""), 0o644); err != nil {
		t.Fatal(err)
	}
	var lines bytes.Buffer
	for _, ex := range exchanges {
		b, _ := json.Marshal(ex)
		lines.Write(append(b, '\n'))
	}
	if err := os.WriteFile(filepath.Join(dir, "x.test.mjs-1.jsonl"), lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runIn(dir string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-dir", dir}, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

var health = check.Exchange{Method: "GET", Target: "/healthz", Status: 200, Source: "x.test.mjs",
	Header: map[string][]string{"content-type": {"application/json; charset=utf-8"}, "x-request-id": {"r1"}}, Body: `{"status":"ok"}`}

func TestMatchingExchangesPass(t *testing.T) {
	notFound := check.Exchange{Method: "GET", Target: "/v2/nothing", Status: 404, Source: "x.test.mjs",
		Header: map[string][]string{"Content-Type": {"application/json"}}, Body: `{"errors":[{"code":"not_found","title":"Resource not found"}]}`}
	code, out, errs := runIn(record(t, health, health, notFound))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "3 exchanges in 1 files; 2 responses match the document (1 operations); 0 with mismatches; 1 skipped") {
		t.Errorf("summary:\n%s", out)
	}
}

func TestMismatchesFailAndAreListed(t *testing.T) {
	bad := health
	bad.Body = `{"status":"fine"}`
	noID := health
	noID.Header = map[string][]string{"Content-Type": {"application/json"}}
	code, out, errs := runIn(record(t, health, bad, noID))
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
	}
	for _, want := range []string{"2 kinds of responses do not match", "GET /healthz → 200", "/status", "X-Request-Id", "x.test.mjs: GET /healthz → 200 (x.test.mjs-1.jsonl:2)"} {
		if !strings.Contains(errs, want) {
			t.Errorf("the report lacks %q:\n%s", want, errs)
		}
	}
}

func TestNothingValidatedFails(t *testing.T) {
	if code, out, errs := runIn(record(t)); code != 1 || !strings.Contains(errs, "no exchange was validated") {
		t.Errorf("no exchanges: exit %d\n%s%s", code, out, errs)
	}
	skippedOnly := check.Exchange{Method: "PUT", Target: "/v2/apps", Status: 405}
	if code, _, errs := runIn(record(t, skippedOnly)); code != 1 || !strings.Contains(errs, "no exchange was validated") {
		t.Errorf("only skipped exchanges: exit %d\n%s", code, errs)
	}
	dir := record(t, health)
	os.Remove(filepath.Join(dir, "openapi.json"))
	if code, _, errs := runIn(dir); code != 1 || !strings.Contains(errs, "no document") {
		t.Errorf("no document: exit %d\n%s", code, errs)
	}
}
