package native_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// importAnswer is POST /v1/keys/import's answer as a client reads it.
type importAnswer struct {
	Created, Skipped, Failed int
	Results                  []struct {
		Index  int
		Status string
		ID     string
		Reason string
		Error  *struct {
			Code    string
			Message string
			Fields  []struct{ Field, Message string }
		}
	}
}

func (s *stack) importKeys(t *testing.T, caller string, items ...string) importAnswer {
	t.Helper()
	resp, body := s.call(t, "POST", "/v1/keys/import", caller, `{"keys":[`+strings.Join(items, ",")+`]}`)
	wantStatus(t, resp, body, http.StatusOK)
	return decode[importAnswer](t, body)
}

// verifyCredential asks POST /v1/verify about a credential, as the admin.
func (s *stack) verifyCredential(t *testing.T, credential string) verdict {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"key": credential})
	return s.verify(t, s.admin, string(b))
}

func sha256Hex(s string) string { d := sha256.Sum256([]byte(s)); return hex.EncodeToString(d[:]) }
func sha256Base64(s string) string {
	d := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(d[:])
}

func bcryptOf(t *testing.T, s string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(s), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func argon2idOf(s string) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(s), salt, 1, 1024, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=1024,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Keys come in with their ids and their secrets in every form the import
// takes; each then proves itself with the secret its holder already has,
// and the hashed ones are adopted into Latchkey's own index on first use.
func TestImportEveryForm(t *testing.T) {
	s := newStack(t)
	secrets := map[string]string{
		"legacy-plain":  "unkey_3ZbDn8Jm7p2QyXr5KwLm",
		"legacy-hex":    "tyk_a1b2c3d4e5f60718293a",
		"legacy-b64":    "home_grown_key_00000001",
		"legacy-bcrypt": "bc_secret_value_123",
		"legacy-argon":  "ar_secret_value_456",
	}
	ans := s.importKeys(t, s.admin,
		`{"id":"legacy-plain","name":"plain","secret":"`+secrets["legacy-plain"]+`","permissions":["orders.read"],"metadata":{"from":"unkey"}}`,
		`{"id":"legacy-hex","name":"hex","hash":"`+sha256Hex(secrets["legacy-hex"])+`","hashAlgorithm":"sha256-hex"}`,
		`{"id":"legacy-b64","name":"b64","hash":"`+sha256Base64(secrets["legacy-b64"])+`","hashAlgorithm":"sha256-base64","prefix":"home"}`,
		`{"id":"legacy-bcrypt","name":"bcrypt","hash":"`+bcryptOf(t, secrets["legacy-bcrypt"])+`","hashAlgorithm":"bcrypt"}`,
		`{"id":"legacy-argon","name":"argon","hash":"`+argon2idOf(secrets["legacy-argon"])+`","hashAlgorithm":"argon2id","expiresAt":"2099-01-01T00:00:00Z"}`,
	)
	if ans.Created != 5 || ans.Skipped != 0 || ans.Failed != 0 {
		t.Fatalf("import = %+v, want 5 created", ans)
	}
	for i, r := range ans.Results {
		if r.Index != i || r.Status != "created" || secrets[r.ID] == "" {
			t.Errorf("result %d = %+v", i, r)
		}
	}

	// The keys are there, with their ids and policies, and no secret is
	// shown: Latchkey never had the hashed ones', and does not show the
	// others' once made.
	k := s.getKey(t, "legacy-plain")
	if k.Name != "plain" || len(k.Permissions) != 1 || k.Permissions[0] != "orders.read" {
		t.Errorf("GET legacy-plain = %+v", k)
	}
	if s.getKey(t, "legacy-b64").Prefix != "home" {
		t.Error("the imported prefix was not kept")
	}

	// A bare secret proves a plaintext or SHA-256 import; salted hashes
	// are found by id, so as id:secret.
	for _, id := range []string{"legacy-plain", "legacy-hex", "legacy-b64"} {
		if v := s.verifyCredential(t, secrets[id]); v.Code != "VALID" || v.KeyID != id {
			t.Errorf("verify %s's secret = %+v, want VALID", id, v)
		}
	}
	for _, id := range []string{"legacy-bcrypt", "legacy-argon"} {
		if v := s.verifyCredential(t, secrets[id]); v.Code != "NOT_FOUND" {
			t.Errorf("verify %s's bare secret before its first id:secret = %s, want NOT_FOUND", id, v.Code)
		}
		if v := s.verifyCredential(t, id+":"+secrets[id]+"x"); v.Code != "NOT_FOUND" {
			t.Errorf("verify %s with a wrong secret = %s, want NOT_FOUND", id, v.Code)
		}
		if v := s.verifyCredential(t, id+":"+secrets[id]); v.Code != "VALID" || v.KeyID != id {
			t.Errorf("verify %s:secret = %+v, want VALID", id, v)
		}
	}

	// Each was adopted on first use: the store holds the secret sealed and
	// indexed, and no imported hash is left; so the bare secret of a
	// salted import now works too, and the secret works on every surface.
	for id, sec := range secrets {
		stored, err := s.Store.Key(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Imported != nil || len(stored.Secrets) != 1 || string(stored.Secrets[0].Hash) != string(s.Keys.Hash(sec)) {
			t.Errorf("%s after first use: imported %v, %d secrets; want the secret adopted", id, stored.Imported, len(stored.Secrets))
		}
		if v := s.verifyCredential(t, sec); v.Code != "VALID" || v.KeyID != id {
			t.Errorf("verify %s's bare secret after adoption = %+v, want VALID", id, v)
		}
		resp, body := s.call(t, "GET", "/v1/whoami", sec, "")
		wantStatus(t, resp, body, http.StatusOK)
	}
	// The hashed secrets are in the store now, sealed: they show once
	// adopted, as any key's would.
	if !strings.Contains(string(s.RawFiles(t)), "legacy-hex") {
		t.Error("the database file does not hold the imported key")
	}
	for _, sec := range secrets {
		if strings.Contains(string(s.RawFiles(t)), sec) {
			t.Errorf("the database file holds the secret %q in plaintext", sec)
		}
	}
}

// An import run twice creates nothing the second time: each key is skipped
// and says why. Without ids, secrets and unsalted hashes are recognised.
func TestImportTwiceSkips(t *testing.T) {
	s := newStack(t)
	items := []string{
		`{"id":"again-1","name":"a","secret":"again-secret-0001"}`,
		`{"name":"b","secret":"again-secret-0002"}`,
		`{"name":"c","hash":"` + sha256Hex("again-secret-0003") + `","hashAlgorithm":"sha256-hex"}`,
		`{"id":"again-4","name":"d","hash":"` + bcryptOf(t, "again-secret-0004") + `","hashAlgorithm":"bcrypt"}`,
	}
	if ans := s.importKeys(t, s.admin, items...); ans.Created != 4 {
		t.Fatalf("first import = %+v", ans)
	}
	before := s.Snapshot(t)
	ans := s.importKeys(t, s.admin, items...)
	if ans.Created != 0 || ans.Skipped != 4 || ans.Failed != 0 {
		t.Fatalf("second import = %+v, want 4 skipped", ans)
	}
	want := []string{"id_exists", "secret_exists", "secret_exists", "id_exists"}
	for i, r := range ans.Results {
		if r.Status != "skipped" || r.Reason != want[i] {
			t.Errorf("result %d = %+v, want skipped for %s", i, r, want[i])
		}
	}
	// The plaintext of a secret imported as its SHA-256 is the same key.
	// (The other way round is not seen: Latchkey keeps no unsalted hash of
	// the secrets it knows in plaintext, so only the id tells.)
	ans = s.importKeys(t, s.admin, `{"name":"f","secret":"again-secret-0003"}`)
	if ans.Skipped != 1 || ans.Results[0].Reason != "secret_exists" {
		t.Errorf("a secret imported before as its SHA-256 = %+v, want skipped", ans)
	}
	wantUnchanged(t, s, before)
}

// Bad items fail on their own, each with the native error naming its
// fields, and change nothing; the good ones beside them are imported.
func TestImportBadItems(t *testing.T) {
	s := newStack(t)
	bad := []struct{ item, field string }{
		{`{"name":"x"}`, "secret"},
		{`{"name":"x","secret":"short"}`, "secret"},
		{`{"name":"x","secret":"has:colon-inside"}`, "secret"},
		{`{"name":"x","secret":"a.jwt.shaped"}`, "secret"},
		{`{"name":"x","secret":"sk_live_` + strings.Repeat("A", 49) + `"}`, "secret"}, // Latchkey's layout, wrong checksum
		{`{"name":"x","secret":"valid-secret-1","hash":"` + sha256Hex("y") + `","hashAlgorithm":"sha256-hex"}`, "secret"},
		{`{"name":"x","hash":"abc","hashAlgorithm":"sha256-hex"}`, "hash"},
		{`{"name":"x","hash":"abc","hashAlgorithm":"md5"}`, "hashAlgorithm"},
		{`{"name":"x","hash":"` + sha256Hex("y") + `"}`, "hashAlgorithm"},
		{`{"name":"x","hash":"` + bcryptOf(t, "y") + `","hashAlgorithm":"bcrypt"}`, "id"},
		{`{"id":"../etc","name":"x","secret":"valid-secret-2"}`, "id"},
		{`{"id":"..","name":"x","secret":"valid-secret-3"}`, "id"},
		{`{"id":"ok-id","secret":"valid-secret-4"}`, "name"},
		{`{"name":"x","secret":"valid-secret-5","expiresAt":"2001-01-01T00:00:00Z"}`, "expiresAt"},
		{`{"name":"x","secret":"valid-secret-6","allowedIps":["nonsense"]}`, "allowedIps.0"},
		{`{"name":"x","secret":"valid-secret-7","nope":1}`, "nope"},
		{`"not an object"`, ""},
	}
	items := []string{`{"id":"good-1","name":"good","secret":"good-secret-0001"}`}
	for _, b := range bad {
		items = append(items, b.item)
	}
	ans := s.importKeys(t, s.admin, items...)
	if ans.Created != 1 || ans.Failed != len(bad) || ans.Results[0].Status != "created" {
		t.Fatalf("import = %+v, want the good key created and %d failed", ans, len(bad))
	}
	for i, b := range bad {
		r := ans.Results[i+1]
		if r.Status != "failed" || r.Error == nil || r.Error.Code != "invalid_request" {
			t.Errorf("%s: result %+v, want failed with invalid_request", b.item, r)
			continue
		}
		var fields []string
		for _, f := range r.Error.Fields {
			fields = append(fields, f.Field)
		}
		if !strings.Contains(","+strings.Join(fields, ",")+",", ","+b.field+",") {
			t.Errorf("%s: fields %v, want %q among them", b.item, fields, b.field)
		}
	}
	// Only the good key was added.
	counts, err := s.Store.CountRecords(t.Context(), s.Account.AccountID)
	if err != nil || counts.Keys != 2 {
		t.Errorf("after the import: %+v, %v; want the account key and good-1", counts, err)
	}
	wantNoErrorLogged(t, s)
}

// The request as a whole is refused in the native format when it cannot
// be a batch.
func TestImportRequestRefused(t *testing.T) {
	s := newStack(t)
	before := s.Snapshot(t)
	for _, c := range []struct {
		body, field string
		status      int
		code        string
	}{
		{`{}`, "keys", 400, "invalid_request"},
		{`{"keys":[]}`, "keys", 400, "invalid_request"},
		{`{"keys":{}}`, "keys", 400, "invalid_request"},
		{`{"keys":[` + strings.Repeat(`{"name":"x","secret":"valid-secret-9"},`, 1000) + `{"name":"x","secret":"valid-secret-9"}]}`, "keys", 400, "invalid_request"},
		{`{"keys":[{"name":"x","secret":"valid-secret-9"}],"more":1}`, "more", 400, "invalid_request"},
		{`{"keys":[{"name":"` + strings.Repeat("x", 4_000_000) + `"}]}`, "", 413, "payload_too_large"},
	} {
		resp, body := s.call(t, "POST", "/v1/keys/import", s.admin, c.body)
		if c.field != "" {
			wantError(t, resp, body, c.status, c.code, c.field)
		} else {
			wantError(t, resp, body, c.status, c.code)
		}
	}
	resp, body := s.call(t, "POST", "/v1/keys/import", "", `{"keys":[{"name":"x","secret":"valid-secret-9"}]}`)
	wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	wantUnchanged(t, s, before)
}

// An app key imports into its own app only, and never keys wider than
// itself; what it may not do fails item by item.
func TestImportWithinRights(t *testing.T) {
	s := newStack(t)
	app := s.createApp(t, "Shop")
	other := s.createApp(t, "Other")
	appKey := s.createKey(t, s.admin, `{"name":"app admin","owner":{"type":"app","id":"`+app+`"},"permissions":["ImportKeys","orders.read"]}`)
	ans := s.importKeys(t, appKey.Secret,
		`{"name":"in app","owner":{"type":"app","id":"`+app+`"},"secret":"rights-secret-01","permissions":["orders.read"]}`,
		`{"name":"other app","owner":{"type":"app","id":"`+other+`"},"secret":"rights-secret-02"}`,
		`{"name":"wider","owner":{"type":"app","id":"`+app+`"},"secret":"rights-secret-03","permissions":["orders.write"]}`,
		`{"name":"account","owner":{"type":"account","id":"`+s.Account.AccountID+`"},"secret":"rights-secret-04"}`,
	)
	if ans.Created != 1 || ans.Failed != 3 {
		t.Fatalf("import by an app key = %+v, want 1 created, 3 failed", ans)
	}
	for i, want := range []string{"", "forbidden", "forbidden", "forbidden"} {
		r := ans.Results[i]
		if i == 0 {
			if r.Status != "created" {
				t.Errorf("result 0 = %+v", r)
			}
			continue
		}
		if r.Error == nil || r.Error.Code != want || r.ID != "" {
			t.Errorf("result %d = %+v (%+v), want %s", i, r, r.Error, want)
		}
	}
	// A key without the permission may not import at all.
	reader := s.createKey(t, s.admin, `{"name":"reader","permissions":["ListKeys"]}`)
	resp, body := s.call(t, "POST", "/v1/keys/import", reader.Secret, `{"keys":[{"name":"x","secret":"rights-secret-05"}]}`)
	wantError(t, resp, body, http.StatusForbidden, "forbidden")
}

// A secret tried before its key was imported is remembered as unknown; the
// import makes it known at once, as a create does.
func TestImportedKeyFoundAfterEarlierMiss(t *testing.T) {
	s := newStack(t)
	const sec = "tried-before-import-01"
	for _, cred := range []string{sec, "tried-bcrypt:" + sec} {
		if v := s.verifyCredential(t, cred); v.Code != "NOT_FOUND" {
			t.Fatalf("before import: %s", v.Code)
		}
	}
	s.importKeys(t, s.admin, `{"name":"late","hash":"`+sha256Hex(sec)+`","hashAlgorithm":"sha256-hex"}`,
		`{"id":"tried-bcrypt","name":"late 2","hash":"`+bcryptOf(t, "other-secret-02")+`","hashAlgorithm":"bcrypt"}`)
	if v := s.verifyCredential(t, sec); v.Code != "VALID" {
		t.Errorf("after import: %s, want VALID", v.Code)
	}
	if v := s.verifyCredential(t, "tried-bcrypt:other-secret-02"); v.Code != "VALID" {
		t.Errorf("id:secret after import: %s, want VALID", v.Code)
	}
}

// A roll ends an imported secret as it ends any: at once, or after the
// grace period, during which both work.
func TestImportedSecretRolled(t *testing.T) {
	s := newStack(t)
	s.importKeys(t, s.admin, `{"id":"rolled","name":"r","hash":"`+bcryptOf(t, "rolled-secret-01")+`","hashAlgorithm":"bcrypt"}`)
	resp, body := s.call(t, "POST", "/v1/keys/rolled/roll", s.admin, `{"gracePeriod":"1h"}`)
	wantStatus(t, resp, body, http.StatusOK)
	next := decode[key](t, body).Secret
	for _, cred := range []string{next, "rolled:rolled-secret-01"} {
		if v := s.verifyCredential(t, cred); v.Code != "VALID" {
			t.Errorf("during the grace period, %q = %s", cred, v.Code)
		}
	}
	resp, body = s.call(t, "POST", "/v1/keys/rolled/roll", s.admin, `{}`)
	wantStatus(t, resp, body, http.StatusOK)
	if v := s.verifyCredential(t, "rolled:rolled-secret-01"); v.Code != "NOT_FOUND" {
		t.Errorf("after a roll without grace, the imported secret = %s", v.Code)
	}
	stored, err := s.Store.Key(t.Context(), "rolled")
	if err != nil || stored.Imported != nil || len(stored.Secrets) != 1 {
		t.Errorf("after two rolls: %v, %+v", err, stored)
	}
}
