package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/store/sqlite"
)

// latchkey audit export writes every event as a JSON line, oldest first,
// beside a running server, with the same database settings; --from,
// --to and --account narrow it.
func TestAuditExport(t *testing.T) {
	dir := t.TempDir()
	getenv := env(map[string]string{"LATCHKEY_DB": "sqlite:" + filepath.Join(dir, "lk.db"), "LATCHKEY_MASTER_KEY": secret.NewMasterKey()})
	creds := bootstrapFor(t, getenv)
	base, _, _ := startServe(t, getenv)
	start := time.Now().UTC()
	for _, name := range []string{"One", "Two", "Three"} {
		if code, _ := callNative(t, base, "POST", "/v1/apps", creds["secret"], `{"name":"`+name+`"}`); code != http.StatusCreated {
			t.Fatalf("create app: %d", code)
		}
	}
	req, _ := http.NewRequest("GET", base+"/v1/keys", nil)
	req.SetBasicAuth(creds["id"], "wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("a wrong secret: %v %v", resp, err)
	}

	export := func(args ...string) []map[string]any {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), append([]string{"audit", "export"}, args...), getenv, &stdout, &stderr); err != nil {
			t.Fatalf("audit export %v: %v\n%s", args, err, stderr.String())
		}
		var lines []map[string]any
		sc := bufio.NewScanner(&stdout)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			lines = append(lines, ev)
		}
		if strings.Contains(stdout.String()+stderr.String(), creds["secret"]) {
			t.Fatal("the export shows a secret")
		}
		return lines
	}
	all := export()
	actions := make([]string, len(all))
	for i, ev := range all {
		actions[i] = ev["action"].(string) + ":" + ev["outcome"].(string)
	}
	want := "account.create:success app.create:success app.create:success app.create:success key.list:unauthorized"
	if strings.Join(actions, " ") != want {
		t.Errorf("export = %v, want %s", actions, want)
	}
	if last := all[len(all)-1]; last["actor"] != creds["id"] || last["accountId"] != creds["accountId"] || last["requestId"] == nil {
		t.Errorf("the refusal exported as %v", last)
	}
	if got := export("--from", start.Format(time.RFC3339Nano)); len(got) != 4 {
		t.Errorf("--from after the bootstrap: %d events, want 4", len(got))
	}
	if got := export("--to", start.Format(time.RFC3339Nano)); len(got) != 1 {
		t.Errorf("--to before the apps: %d events, want 1", len(got))
	}
	if got := export("--account", "nobody"); len(got) != 0 {
		t.Errorf("--account nobody: %d events, want 0", len(got))
	}
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"audit", "export", "--from", "yesterday"}, getenv, &bytes.Buffer{}, &stderr); err == nil || !strings.Contains(err.Error(), "--from") {
		t.Errorf("--from yesterday: %v, want an error naming --from", err)
	}
}

func bootstrapFor(t *testing.T, getenv func(string) string) map[string]string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"bootstrap"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, stderr.String())
	}
	var creds map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &creds); err != nil {
		t.Fatal(err)
	}
	return creds
}

// serve applies --audit-retention: events older than it are deleted at
// start (and every hour after).
func TestAuditRetention(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lk.db")
	getenv := env(map[string]string{"LATCHKEY_DB": "sqlite:" + path, "LATCHKEY_MASTER_KEY": secret.NewMasterKey()})
	bootstrapFor(t, getenv)
	store, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	old := &latchkey.AuditEvent{ID: "00000000000000000000000001", Time: time.Now().Add(-100 * 24 * time.Hour).UTC().Truncate(time.Microsecond),
		Action: "app.create", Surface: "native", Outcome: latchkey.OutcomeSuccess}
	if err := store.AppendAuditEvents(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	store.Close()
	_, _, stop := startServe(t, getenv, "--audit-retention", "90d")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	store, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	evs, err := store.AuditEvents(t.Context(), latchkey.AuditQuery{All: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Action != latchkey.ActionAccountCreate {
		t.Errorf("after serve with 90d retention: %d events (%v), want only the bootstrap's", len(evs), evs)
	}
}

// Bad values of the new settings are refused, naming the flag, its
// variable and what is accepted.
func TestAuditAndThrottleFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--failed-auth-limit", "30"},
		{"--failed-auth-limit", "x/1m"},
		{"--failed-auth-limit", "30/1ms"},
		{"--audit-retention", "forever"},
		{"--audit-retention", "-1h"},
	} {
		_, err := parseConfig("serve", args, env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), args[0]) || !strings.Contains(err.Error(), "LATCHKEY_") {
			t.Errorf("%v: error %v, want one naming the flag and its variable", args, err)
		}
	}
	for _, args := range [][]string{{"--failed-auth-limit", "off"}, {"--failed-auth-limit", "0"}} {
		cfg, err := parseConfig("serve", args, env(nil), &bytes.Buffer{})
		if err != nil || cfg.web.FailedAuth != nil {
			t.Errorf("%v: %v, throttle %v; want no throttling", args, err, cfg.web.FailedAuth)
		}
	}
	cfg, err := parseConfig("serve", nil, env(map[string]string{"LATCHKEY_FAILED_AUTH_LIMIT": "3/10s", "LATCHKEY_AUDIT_RETENTION": "720h"}), &bytes.Buffer{})
	if err != nil || cfg.web.FailedAuth == nil || cfg.retention != 720*time.Hour {
		t.Errorf("from the environment: %v, %+v", err, cfg)
	}
}
