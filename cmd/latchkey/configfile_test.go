package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One precedence, followed everywhere: a flag, else its environment
// variable, else the config file, else the default.
func TestSettingsPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "latchkey.toml")
	if err := os.WriteFile(file, []byte(`
addr = "127.0.0.1:9001"
log-level = "debug"
max-staleness = "5s"
trusted-proxies = ["10.0.0.0/8", "192.168.0.0/16"]
allow-private-ips = true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := env(map[string]string{"LATCHKEY_CONFIG": file, "LATCHKEY_LOG_LEVEL": "warn", "LATCHKEY_ADDR": "127.0.0.1:9002"})
	cfg, err := parseConfig("serve", []string{"--addr", "127.0.0.1:9003"}, getenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:9003" {
		t.Errorf("addr %s: the flag should beat the environment and the file", cfg.addr)
	}
	if cfg.logLevel.String() != "WARN" {
		t.Errorf("log level %s: the environment should beat the file", cfg.logLevel)
	}
	if cfg.maxStaleness.String() != "5s" || !cfg.allowPrivate || len(cfg.web.TrustedProxies) != 2 {
		t.Errorf("from the file: staleness %s, private %v, proxies %v", cfg.maxStaleness, cfg.allowPrivate, cfg.web.TrustedProxies)
	}
	sources := map[string]string{}
	for _, s := range cfg.settings {
		sources[s.Name] = s.Source
	}
	for name, want := range map[string]string{"addr": "flag --addr", "log-level": "environment LATCHKEY_LOG_LEVEL",
		"max-staleness": "config file " + file, "environment": "default"} {
		if sources[name] != want {
			t.Errorf("%s comes from %q, want %q", name, sources[name], want)
		}
	}
}

func TestConfigFileErrorsNameTheFileAndTheKey(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		`adress = "x"`:                `"adress" is not a setting`,
		`max-staleness = "soon"`:      `max-staleness = "soon": want a duration`,
		`allow-private-ips = "maybe"`: `want true or false`,
		`addr = 1.5`:                  "want a string, a number or true/false",
		`addr = "unterminated`:        "latchkey.toml",
	} {
		file := filepath.Join(dir, "latchkey.toml")
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := parseConfig("serve", []string{"--config", file}, env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: %v, want an error naming %s and saying %q", body, err, file, want)
		}
	}
}

func TestConfigPrintRedactsSecrets(t *testing.T) {
	var stdout bytes.Buffer
	getenv := env(map[string]string{"LATCHKEY_MASTER_KEY": "c2VjcmV0LW1hc3Rlci1rZXktdGhhdC1pcy0zMi1ieXRlcyE=",
		"LATCHKEY_REDIS": "redis://user:redispw@127.0.0.1:6379/0"})
	err := run(context.Background(), []string{"config", "print", "--db", "postgres://u:dbpw@db.internal/latchkey"}, getenv, &stdout, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, secret := range []string{"dbpw", "redispw", "c2VjcmV0"} {
		if strings.Contains(out, secret) {
			t.Errorf("config print shows %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"db.internal/latchkey", "flag --db", "environment LATCHKEY_REDIS", "(set, not shown)", "session-lifetime"} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
}
