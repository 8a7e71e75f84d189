package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/secret"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestServePostgres runs two servers on one PostgreSQL database, as two
// nodes of a fleet: the first account comes from bootstrap, a key made
// through one node verifies on the other, a key deleted through one is
// refused by the other, and an app made on one is found by the other.
func TestServePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	getenv := env(map[string]string{"LATCHKEY_DB": dsn, "LATCHKEY_MASTER_KEY": secret.NewMasterKey()})

	// An empty database: serve starts, makes no account, and says how to.
	base1, logs1, _ := startServe(t, getenv)
	if !strings.Contains(logs1.String(), "latchkey bootstrap") {
		t.Errorf("serve on an empty database does not point to bootstrap:\n%s", logs1)
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"bootstrap"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, stderr.String())
	}
	var admin credentials
	if err := json.Unmarshal(stdout.Bytes(), &admin); err != nil || !secret.WellFormed(admin.Secret) {
		t.Fatalf("bootstrap printed %q (%v)", stdout.String(), err)
	}
	// A second node on the same database: no data directory, so no lock.
	base2, _, _ := startServe(t, getenv)

	call := func(base, method, path, bearer, body string) (int, map[string]any) {
		t.Helper()
		return callNative(t, base, method, path, bearer, body)
	}

	status, key := call(base1, "POST", "/v1/keys", admin.Secret, `{"name":"node test","permissions":["orders.read"]}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /v1/keys on node 1: %d %v", status, key)
	}
	keySecret, _ := key["secret"].(string)
	for i, base := range []string{base2, base1} {
		status, v := call(base, "POST", "/v1/verify", admin.Secret, `{"key":"`+keySecret+`","permissions":["orders.read"]}`)
		if status != http.StatusOK || v["valid"] != true || v["keyId"] != key["id"] {
			t.Errorf("POST /v1/verify on node %d: %d %v, want the key valid", 2-i, status, v)
		}
	}
	status, v := call(base2, "POST", "/v1/verify", admin.Secret, `{"key":"`+keySecret+`","permissions":["orders.write"]}`)
	if status != http.StatusOK || v["valid"] != false || v["code"] != "INSUFFICIENT_PERMISSIONS" {
		t.Errorf("POST /v1/verify beyond the key's permissions on node 2: %d %v", status, v)
	}

	// Deleted through node 2, the key is refused by node 1, which has
	// verified it before, within the staleness bound (fleet_test.go
	// measures how soon).
	if status, _ := call(base2, "DELETE", "/v1/keys/"+key["id"].(string), admin.Secret, ""); status != http.StatusNoContent {
		t.Fatalf("DELETE /v1/keys/%v on node 2: %d", key["id"], status)
	}
	deleted := time.Now()
	for {
		status, v = call(base1, "POST", "/v1/verify", admin.Secret, `{"key":"`+keySecret+`"}`)
		if status == http.StatusOK && v["code"] == "NOT_FOUND" {
			break
		}
		if status != http.StatusOK || v["code"] != "VALID" || time.Since(deleted) > time.Second {
			t.Fatalf("POST /v1/verify on node 1 of a key deleted on node 2, %v later: %d %v, want NOT_FOUND within 1 s",
				time.Since(deleted), status, v)
		}
		time.Sleep(time.Millisecond)
	}

	status, app := call(base2, "POST", "/v1/apps", admin.Secret, `{"name":"made on node 2"}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /v1/apps on node 2: %d %v", status, app)
	}
	if status, got := call(base1, "GET", "/v1/apps/"+app["id"].(string), admin.Secret, ""); status != http.StatusOK || got["id"] != app["id"] {
		t.Errorf("GET /v1/apps/%v on node 1: %d %v", app["id"], status, got)
	}
}

// TestPostgresNeedsMasterKey: with PostgreSQL there is no data directory to
// generate a master key in, so one must be given; the refusal says how,
// and never shows the DSN's password.
func TestPostgresNeedsMasterKey(t *testing.T) {
	for _, db := range []string{"postgres://latchkey:hunter2@db.example:5432/latchkey", "postgresql://latchkey:hunter2@db.example/latchkey"} {
		err := run(context.Background(), []string{"serve", "--db", db}, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "LATCHKEY_MASTER_KEY") || !strings.Contains(err.Error(), "--master-key-file") {
			t.Errorf("serve --db %s without a master key: err = %v, want a refusal naming LATCHKEY_MASTER_KEY and --master-key-file", db, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the refusal shows the password: %v", err)
		}
	}
	// Given a key, the DSN is accepted: the flag, or the environment.
	for _, getenv := range []func(string) string{
		env(map[string]string{"LATCHKEY_MASTER_KEY": secret.NewMasterKey()}),
		env(map[string]string{"LATCHKEY_MASTER_KEY_FILE": "/run/secrets/latchkey-master-key"}),
	} {
		cfg, err := parseConfig("serve", []string{"--db", "postgres://latchkey@db.example/latchkey"}, getenv, &bytes.Buffer{})
		if err != nil || cfg.postgresDSN != "postgres://latchkey@db.example/latchkey" || cfg.dataDir != "" {
			t.Errorf("parseConfig(postgres DSN with a master key) = %+v, %v", cfg, err)
		}
	}
}
