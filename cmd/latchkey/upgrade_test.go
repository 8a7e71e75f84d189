package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// The fixture testdata/sealed-v1.db was written by Latchkey before sealed
// values named the kind of their record (commit ee00ee2: additional data
// was the bare id). It holds an account key, an app, a custom integration
// with one webhook, an app key and an integration key, made through the v2
// API with this master key.
const (
	v1MasterKey      = "bGF0Y2hrZXkgbGVnYWN5IGZpeHR1cmUgbWFzdGVyIGs="
	v1AccountKey     = "act_6b10592fe867d1d90b89377e"
	v1AccountSecret  = "sk_live_eMuiHnzqmjesmT_GlsyuyKT3UKYWQltdyvIYYHZtS_0MjgCXQ"
	v1AppKey         = "app_6b1059302f655693ba41db09"
	v1AppSecret      = "sk_live_Utv_QA9OaiErW_nL6D0JetsDC1TcQ2F5MP73xmk5YcwKow_UQ"
	v1IntegrationKey = "int_6b1059309e29cd76a9b15ac2"
	v1IntSecret      = "sk_live_h9edpJN7pb0azkQ3G7e4t4as0KJdHjMejQ4GmVVN3mYZbxIJg"
	v1App            = "6b1059302166ca3f537f2cab"
	v1Integration    = "6b10593030474f0719632132"
	v1WebhookSecret  = "3576bde147b7e2cb82aa10fd902fcdb4"
)

// TestUpgradeSealedV1 starts the server on a database from before the
// upgrade, twice: every stored secret still works and reads back the same.
func TestUpgradeSealedV1(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "sealed-v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "lk.db")
	if err := os.WriteFile(db, fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := env(map[string]string{"LATCHKEY_MASTER_KEY": v1MasterKey, "LATCHKEY_DB": "sqlite:" + db})
	for start := range 2 {
		base, _, stop := startServe(t, getenv)
		get := func(id, secret, path string, out any) {
			t.Helper()
			req, _ := http.NewRequest("GET", base+path, nil)
			req.SetBasicAuth(id, secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, out) != nil {
				t.Fatalf("start %d: GET %s as %s: %d %s", start, path, id, resp.StatusCode, body)
			}
		}
		var app map[string]any
		get(v1AppKey, v1AppSecret, "/v2/apps/"+v1App, &app)

		var keys struct{ Keys []struct{ ID, Secret string } }
		get(v1AccountKey, v1AccountSecret, "/v2/apps/"+v1App+"/integrations/"+v1Integration+"/keys", &keys)
		if len(keys.Keys) != 1 || keys.Keys[0].ID != v1IntegrationKey || keys.Keys[0].Secret != v1IntSecret {
			t.Fatalf("start %d: integration keys = %+v, want %s with its secret", start, keys.Keys, v1IntegrationKey)
		}
		var in struct {
			Integration struct{ Webhooks []struct{ Secret string } }
		}
		get(v1AccountKey, v1AccountSecret, "/v2/apps/"+v1App+"/integrations/"+v1Integration, &in)
		if len(in.Integration.Webhooks) != 1 || in.Integration.Webhooks[0].Secret != v1WebhookSecret {
			t.Fatalf("start %d: webhooks = %+v, want the original signing secret", start, in.Integration.Webhooks)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	// Another master key is still refused after the upgrade.
	if err := run(t.Context(), []string{"bootstrap"}, env(map[string]string{"LATCHKEY_MASTER_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "LATCHKEY_DB": "sqlite:" + db}),
		io.Discard, io.Discard); err == nil {
		t.Fatal("a store upgraded under one master key accepted another")
	}
}
