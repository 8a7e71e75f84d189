package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/latchkey/latchkey/internal/lktest"
	"github.com/latchkey/latchkey/secret"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServe runs "latchkey serve" in process on a free port and returns its
// base URL, its log, and a stop function that returns run's error.
func startServe(t testing.TB, getenv func(string) string, args ...string) (string, *lktest.Buffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lktest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), getenv, &bytes.Buffer{}, stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			base := "http://" + m[1]
			resp, err := http.Get(base + "/healthz")
			if err == nil && resp.StatusCode == 200 {
				resp.Body.Close()
				stopped := false
				stop := func() error {
					if stopped {
						return nil
					}
					stopped = true
					cancel()
					select {
					case err := <-done:
						return err
					case <-time.After(15 * time.Second):
						t.Fatal("serve did not stop within 15 s of its context ending")
						return nil
					}
				}
				t.Cleanup(func() { stop() })
				return base, stderr, stop
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited early: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("serve never became ready:\n%s", stderr.String())
	return "", nil, nil
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestServeFirstStart(t *testing.T) {
	dir := t.TempDir()
	base, logs, stop := startServe(t, env(nil), "--db", "sqlite:"+filepath.Join(dir, "lk.db"))

	for _, name := range []string{"master.key", initialCredentialsFile, "lk.db"} {
		if got := fileMode(t, filepath.Join(dir, name)); got != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, got)
		}
	}
	var creds credentials
	b, err := os.ReadFile(filepath.Join(dir, initialCredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &creds); err != nil || !strings.HasPrefix(creds.ID, "act_") || !secret.WellFormed(creds.Secret) {
		t.Fatalf("initial credentials = %s (%v)", b, err)
	}
	if !strings.Contains(logs.String(), initialCredentialsFile) || strings.Contains(logs.String(), creds.Secret) {
		t.Fatalf("the log must name the credentials file and never the secret:\n%s", logs)
	}

	req, _ := http.NewRequest("POST", base+"/v2/apps", strings.NewReader(`{"displayName":"first"}`))
	req.SetBasicAuth(creds.ID, creds.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create app with the initial key: %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful shutdown returned %v", err)
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Fatalf("no shutdown in the log:\n%s", logs)
	}

	// While the credentials file exists, every start warns about it.
	_, logs, stop = startServe(t, env(nil), "--db", "sqlite:"+filepath.Join(dir, "lk.db"))
	stop()
	if !strings.Contains(logs.String(), "level=WARN msg=\"the first account key's credentials are still on disk") {
		t.Fatalf("no warning about the credentials file left on disk:\n%s", logs)
	}

	// Once it is gone, a start keeps the data, makes no new first key, and
	// does not warn.
	os.Remove(filepath.Join(dir, initialCredentialsFile))
	_, logs, stop = startServe(t, env(nil), "--db", "sqlite:"+filepath.Join(dir, "lk.db"))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, initialCredentialsFile)); !os.IsNotExist(err) {
		t.Fatal("a second start wrote new initial credentials")
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("a start without the credentials file warned:\n%s", logs)
	}
}

// TestOneServerPerDataDirectory: a second server on the same data directory
// is refused with a message that says why, while bootstrap still works
// beside the running one.
func TestOneServerPerDataDirectory(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "lk.db")
	startServe(t, env(nil), "--db", db)
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", db}, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "another latchkey server is running on this data directory") {
		t.Fatalf("second serve: err = %v", err)
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"bootstrap", "--db", db}, env(nil), &stdout, &bytes.Buffer{}); err != nil {
		t.Fatalf("bootstrap beside a running server: %v", err)
	}
}

// TestSecretsAreNotWrittenThroughSymlinks plants symlinks where the server
// writes its master key and first credentials: it refuses to start, and the
// files they point at are untouched.
func TestSecretsAreNotWrittenThroughSymlinks(t *testing.T) {
	for _, name := range []string{"master.key", initialCredentialsFile} {
		dir := t.TempDir()
		target := filepath.Join(t.TempDir(), "precious")
		os.WriteFile(target, []byte("precious"), 0o644)
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "lk.db")},
			env(nil), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil {
			t.Errorf("%s is a symlink: serve started", name)
		}
		if b, _ := os.ReadFile(target); string(b) != "precious" {
			t.Errorf("%s is a symlink: its target now holds %q", name, b)
		}
	}
}

func TestBootstrap(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "lk.db")
	key := secret.NewMasterKey()
	getenv := env(map[string]string{"LATCHKEY_DB": db, "LATCHKEY_MASTER_KEY": key})
	var ids, secrets []string
	for range 2 {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{"bootstrap"}, getenv, &stdout, &stderr); err != nil {
			t.Fatalf("bootstrap: %v\n%s", err, stderr.String())
		}
		var out map[string]string
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || strings.Count(stdout.String(), "\n") != 1 {
			t.Fatalf("stdout = %q, want one JSON object", stdout.String())
		}
		if !regexp.MustCompile(`^act_[0-9a-f]{24}$`).MatchString(out["id"]) || !secret.WellFormed(out["secret"]) || out["scope"] != "account" {
			t.Fatalf("bootstrap printed %v", out)
		}
		if strings.Contains(stderr.String(), out["secret"]) {
			t.Fatal("bootstrap logged the secret")
		}
		ids, secrets = append(ids, out["id"]), append(secrets, out["secret"])
	}
	if ids[0] == ids[1] {
		t.Fatal("two bootstraps returned one key")
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); !os.IsNotExist(err) {
		t.Fatal("a master.key was generated although LATCHKEY_MASTER_KEY was set")
	}

	// The printed key works on a server started with the same settings.
	base, _, _ := startServe(t, getenv)
	req, _ := http.NewRequest("GET", base+"/v2/apps", nil)
	req.SetBasicAuth(ids[0], secrets[0])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/apps with the bootstrap key: %d", resp.StatusCode)
	}
}

func TestMasterKeyChecks(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "lk.db")
	first := secret.NewMasterKey()
	ctx := context.Background()
	if err := run(ctx, []string{"bootstrap", "--db", db}, env(map[string]string{"LATCHKEY_MASTER_KEY": first}), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}

	// Another key: refused at start, with a message that says why.
	err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", db},
		env(map[string]string{"LATCHKEY_MASTER_KEY": secret.NewMasterKey()}), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("serve with another master key: err = %v", err)
	}
	// No key at all, and no master.key beside the database: refused, not replaced.
	err = run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", db}, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "master.key is missing") {
		t.Fatalf("serve with no master key: err = %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "master.key")); !os.IsNotExist(statErr) {
		t.Fatal("a new master.key was generated for a sealed database")
	}
	// The right key from a file works.
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(first+"\n"), 0o600)
	_, _, stop := startServe(t, env(map[string]string{"LATCHKEY_MASTER_KEY_FILE": keyFile}), "--db", db)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A malformed key is refused with its reason.
	err = run(ctx, []string{"bootstrap", "--db", db}, env(map[string]string{"LATCHKEY_MASTER_KEY": base64.StdEncoding.EncodeToString([]byte("short"))}),
		&bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Fatalf("short master key: err = %v", err)
	}
}

func TestConfig(t *testing.T) {
	getenv := env(map[string]string{"LATCHKEY_ADDR": "127.0.0.1:9999", "LATCHKEY_DB": "sqlite:/env/lk.db"})
	cfg, err := parseConfig("serve", []string{"--db", "sqlite:/flag/lk.db"}, getenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:9999" || cfg.sqlitePath != "/flag/lk.db" || cfg.dataDir != "/flag" {
		t.Fatalf("flag over env over default: got addr %q, db %q, dir %q", cfg.addr, cfg.sqlitePath, cfg.dataDir)
	}
	cfg, err = parseConfig("serve", nil, env(nil), &bytes.Buffer{})
	if err != nil || cfg.addr != "127.0.0.1:8080" || cfg.sqlitePath != "./data/latchkey.db" || cfg.dataDir != "data" {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{
		{"--db", "mysql://x"}, {"--db", "sqlite:"}, {"--db", "postgres://u:pw@h/db"}, {"--nope"}, {"extra"},
	} {
		if _, err := parseConfig("serve", args, env(nil), &bytes.Buffer{}); err == nil {
			t.Errorf("parseConfig(%q) accepted", args)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("parseConfig(%q) error shows the password: %v", args, err)
		}
	}
	if err := run(context.Background(), []string{"frobnicate"}, env(nil), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("an unknown command was accepted")
	}
	if err := run(context.Background(), nil, env(nil), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("no command was accepted")
	}
}

// TestJWTLifetimeFlags: by default a JWT without exp is accepted, as
// Sunshine's samples sign none; --jwt-require-exp and --jwt-max-age make the
// server demand exp and cap a token's age from its iat.
func TestJWTLifetimeFlags(t *testing.T) {
	status := func(base string, creds credentials, claims jwt.MapClaims) int {
		t.Helper()
		claims["scope"] = "account"
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		tok.Header["kid"] = creds.ID
		signed, err := tok.SignedString([]byte(creds.Secret))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", base+"/v2/apps", nil)
		req.Header.Set("Authorization", "Bearer "+signed)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	start := func(args ...string) (string, credentials) {
		dir := t.TempDir()
		base, _, _ := startServe(t, env(nil), append([]string{"--db", "sqlite:" + filepath.Join(dir, "lk.db")}, args...)...)
		b, _ := os.ReadFile(filepath.Join(dir, initialCredentialsFile))
		var c credentials
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return base, c
	}
	now := time.Now()
	base, creds := start()
	if got := status(base, creds, jwt.MapClaims{}); got != http.StatusOK {
		t.Errorf("default, no exp: %d, want 200", got)
	}

	base, creds = start("--jwt-require-exp", "--jwt-max-age", "1h")
	for _, tt := range []struct {
		name   string
		claims jwt.MapClaims
		want   int
	}{
		{"no exp", jwt.MapClaims{"iat": now.Unix()}, http.StatusUnauthorized},
		{"no iat", jwt.MapClaims{"exp": now.Add(time.Minute).Unix()}, http.StatusUnauthorized},
		{"older than the max age, exp still ahead", jwt.MapClaims{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(time.Hour).Unix()}, http.StatusUnauthorized},
		{"issued in the future", jwt.MapClaims{"iat": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}, http.StatusUnauthorized},
		{"fresh", jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}, http.StatusOK},
	} {
		if got := status(base, creds, tt.claims); got != tt.want {
			t.Errorf("strict, %s: %d, want %d", tt.name, got, tt.want)
		}
	}
	if _, err := parseConfig("serve", []string{"--jwt-max-age", "-1h"}, env(nil), &bytes.Buffer{}); err == nil {
		t.Error("a negative --jwt-max-age was accepted")
	}
}

// Gateways call authorize for every request they serve, so those calls are
// logged only at debug level; other requests are logged at info.
func TestLogLevel(t *testing.T) {
	get := func(t *testing.T, url string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, tc := range []struct {
		args          []string
		authorizeLine bool
	}{
		{nil, false},
		{[]string{"--log-level", "debug"}, true},
	} {
		dir := t.TempDir()
		base, logs, stop := startServe(t, env(nil), append([]string{"--db", "sqlite:" + filepath.Join(dir, "lk.db")}, tc.args...)...)
		get(t, base+"/v1/authorize")
		get(t, base+"/v1/whoami")
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "level=INFO msg=request method=GET path=/v1/whoami status=401") {
			t.Errorf("%v: the whoami request is not logged at info:\n%s", tc.args, logs)
		}
		logged := strings.Contains(logs.String(), "level=DEBUG msg=request method=GET path=/v1/authorize status=401")
		if logged != tc.authorizeLine || strings.Contains(logs.String(), "level=INFO msg=request method=GET path=/v1/authorize") {
			t.Errorf("%v: authorize logged at debug = %v, want %v:\n%s", tc.args, logged, tc.authorizeLine, logs)
		}
	}
	err := run(context.Background(), []string{"serve", "--log-level", "loud"}, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "log-level") {
		t.Fatalf("--log-level loud: %v, want an error naming the flag", err)
	}
}
