package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/lktest"
)

// The command line as a newcomer meets it: help is not an error, a
// mistyped flag is reported once, and a setting that is refused says
// which variable or flag it came from and what it takes.

func TestHelpIsNotAnError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "-h"}, env(nil), &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve -h: %v, want flag.ErrHelp (main exits 0 on it)", err)
	}
	if !strings.Contains(stderr.String(), "-addr") || !strings.Contains(stderr.String(), "-session-lifetime") {
		t.Fatalf("serve -h printed no flags:\n%s", stderr.String())
	}
}

func TestAFlagErrorIsPrintedOnce(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--no-such-flag"}, env(nil), &bytes.Buffer{}, &stderr)
	var shown *flagError
	if !errors.As(err, &shown) {
		t.Fatalf("an unknown flag: %v (%T), want a *flagError, which main does not print again", err, err)
	}
	if n := strings.Count(stderr.String(), "flag provided but not defined"); n != 1 {
		t.Fatalf("the error was printed %d times:\n%s", n, stderr.String())
	}
}

func TestEnvironmentSettingsSayWhatTheyTake(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	for _, tc := range []struct{ name, value, want string }{
		{"LATCHKEY_ALLOW_PRIVATE_IPS", "maybe", `LATCHKEY_ALLOW_PRIVATE_IPS="maybe" (the environment form of --allow-private-ips): want true or false`},
		{"LATCHKEY_MAX_STALENESS", "5", "want a duration such as 90s"},
		{"LATCHKEY_LOG_LEVEL", "loud", "want debug, info, warn or error"},
	} {
		_, err := parseConfig("serve", nil, env(map[string]string{tc.name: tc.value, "LATCHKEY_DB": db}), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v, want an error saying %q", tc.name, tc.value, err, tc.want)
		}
	}
	for _, yes := range []string{"yes", "on", "true", "1"} {
		cfg, err := parseConfig("serve", nil, env(map[string]string{"LATCHKEY_ALLOW_PRIVATE_IPS": yes, "LATCHKEY_DB": db}), &bytes.Buffer{})
		if err != nil || !cfg.allowPrivate {
			t.Errorf("LATCHKEY_ALLOW_PRIVATE_IPS=%s: %v, allow %v", yes, err, cfg != nil && cfg.allowPrivate)
		}
	}
}

func TestMasterKeyErrorsNameTheirSource(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "latchkey.db")
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"bootstrap", "--db", db}, env(map[string]string{"LATCHKEY_MASTER_KEY": "not base64!"}), &bytes.Buffer{}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "LATCHKEY_MASTER_KEY") || !strings.Contains(err.Error(), "openssl rand -base64 32") {
		t.Fatalf("a malformed LATCHKEY_MASTER_KEY: %v", err)
	}
	err = run(context.Background(), []string{"bootstrap", "--db", db, "--master-key-file", filepath.Join(dir, "key")},
		env(map[string]string{"LATCHKEY_MASTER_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}), &bytes.Buffer{}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Fatalf("a master key in both LATCHKEY_MASTER_KEY and --master-key-file: %v, want a refusal", err)
	}
}

func TestJSONLogsCarryTheRequestID(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	logs := &lktest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "latchkey.db"), "--log-format", "json"},
			env(nil), &bytes.Buffer{}, logs)
	}()
	listening := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			base = "http://" + m[1]
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("the server did not say where it listens:\n%s", logs.String())
	}
	resp, err := http.Get(base + "/v1/whoami")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("a log line that is not JSON: %s", line)
		}
		if fields["msg"] == "request" && fields["path"] == "/v1/whoami" {
			found = fields["request_id"] == id && id != ""
		}
	}
	if !found {
		t.Fatalf("no JSON request line with request_id %q:\n%s", id, logs.String())
	}
	if _, err := parseConfig("serve", []string{"--log-format", "xml"}, env(nil), &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), "want text or json") {
		t.Fatalf("--log-format xml: %v", err)
	}
}

func TestBootstrapSaysWhenItMadeANewDatabase(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "elsewhere", "latchkey.db")
	var first, second bytes.Buffer
	if err := run(context.Background(), []string{"bootstrap", "--db", db}, env(nil), &bytes.Buffer{}, &first); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.String(), "bootstrap created a new, empty database") || !strings.Contains(first.String(), filepath.Join("elsewhere", "latchkey.db")) {
		t.Fatalf("bootstrap on a new database gave no warning naming it:\n%s", first.String())
	}
	if err := run(context.Background(), []string{"bootstrap", "--db", db}, env(nil), &bytes.Buffer{}, &second); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(second.String(), "new, empty database") {
		t.Fatalf("bootstrap on an existing database warned of a new one:\n%s", second.String())
	}
}

func TestAdminCommandsTakeOnlyTheirSettings(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"bootstrap", "-h"}, env(nil), &bytes.Buffer{}, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("bootstrap -h: %v", err)
	}
	if usage := stderr.String(); strings.Contains(usage, "-addr") || strings.Contains(usage, "-redis") || !strings.Contains(usage, "-db") || !strings.Contains(usage, "-if-empty") {
		t.Fatalf("bootstrap -h lists the server's flags, or lacks its own:\n%s", usage)
	}
	db := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	err := run(context.Background(), []string{"bootstrap", "--db", db, "--addr", ":9999"}, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--addr is a setting of latchkey serve, which bootstrap does not use") {
		t.Fatalf("bootstrap --addr: %v, want a refusal", err)
	}
	// The environment is shared with serve: its server settings are not
	// bootstrap's, and do not stop it.
	if err := run(context.Background(), []string{"bootstrap", "--db", db}, env(map[string]string{"LATCHKEY_ADDR": ":9999"}),
		&bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatalf("bootstrap with LATCHKEY_ADDR set: %v", err)
	}
}

// --addr :0 ("any free port") listens on every interface, which a newcomer
// may not expect: the server says so, and how to serve this machine only.
// A loopback address says nothing of the kind.
func TestListeningOnEveryInterfaceIsSaid(t *testing.T) {
	dir := t.TempDir()
	_, logs, stop := startServe(t, env(nil), "--db", "sqlite:"+filepath.Join(dir, "a.db"), "--addr", ":0")
	stop()
	if !strings.Contains(logs.String(), "listening on every network interface") || !strings.Contains(logs.String(), "--addr 127.0.0.1:PORT") {
		t.Errorf("--addr :0 said nothing of every interface:\n%s", logs.String())
	}
	_, logs, stop = startServe(t, env(nil), "--db", "sqlite:"+filepath.Join(dir, "b.db"))
	stop()
	if strings.Contains(logs.String(), "every network interface") {
		t.Errorf("a loopback address warned of every interface:\n%s", logs.String())
	}
}
