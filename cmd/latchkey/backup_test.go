package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/secret"
)

// runCmd runs latchkey in process and returns its stdout, stderr and error.
func runCmd(getenv func(string) string, args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, getenv, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// madeKey is a key created through the API: its id and secret.
type madeKey struct{ id, secret string }

// createKey creates a key through a running server with the account key.
func createKey(t *testing.T, base, accountSecret, name string) (madeKey, error) {
	status, body := callNative(t, base, "POST", "/v1/keys", accountSecret, `{"name":"`+name+`"}`)
	id, _ := body["id"].(string)
	sec, _ := body["secret"].(string)
	if status != http.StatusCreated || id == "" || sec == "" {
		return madeKey{}, fmt.Errorf("POST /v1/keys: %d %v", status, body)
	}
	return madeKey{id, sec}, nil
}

// verifyCode asks a server about a key's secret: VALID, NOT_FOUND, …
func verifyCode(t *testing.T, base, accountSecret string, k madeKey) string {
	t.Helper()
	status, body := callNative(t, base, "POST", "/v1/verify", accountSecret, `{"key":"`+k.secret+`"}`)
	if status != http.StatusOK {
		t.Fatalf("POST /v1/verify: %d %v", status, body)
	}
	if body["code"] == "VALID" && body["keyId"] != k.id {
		t.Fatalf("POST /v1/verify of %s: %v", k.id, body)
	}
	code, _ := body["code"].(string)
	return code
}

// dirState is every file in dir and its contents.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		m[e.Name()] = string(b)
	}
	return m
}

// sameDir fails the test if dir differs from before (the lock file, which
// a refused restore may create empty, aside).
func sameDir(t *testing.T, what, dir string, before map[string]string) {
	t.Helper()
	after := dirState(t, dir)
	delete(after, "latchkey.lock")
	delete(before, "latchkey.lock")
	var changed []string
	for name := range after {
		if b, ok := before[name]; !ok || b != after[name] {
			changed = append(changed, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			changed = append(changed, name+" (removed)")
		}
	}
	if len(changed) > 0 {
		slices.Sort(changed)
		t.Errorf("%s: the data directory changed: %v", what, changed)
	}
}

// TestBackupWhileServingThenRestore: a backup taken while a server runs on
// the database and two clients create keys through it is a snapshot:
// restored into a new directory beside a copy of master.key and served
// from there, every key created before the backup began verifies, and no
// key created after it ended exists. The backup is mode 0600, verified,
// names where the master key is and never shows it; a second backup to
// the same file needs --force; a restore onto the running server's
// directory is refused and changes nothing; a restore onto an existing
// database needs --force and keeps the old one.
func TestBackupWhileServingThenRestore(t *testing.T) {
	dir := t.TempDir()
	getenv := env(map[string]string{"LATCHKEY_DB": "sqlite:" + filepath.Join(dir, "lk.db")}) // master.key: the default
	base, _, stop := startServe(t, getenv)
	var admin credentials
	if b, err := os.ReadFile(filepath.Join(dir, initialCredentialsFile)); err != nil || json.Unmarshal(b, &admin) != nil {
		t.Fatalf("initial credentials: %v", err)
	}
	masterKey, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}

	// Two clients create keys from before the backup until after it.
	type timedKey struct {
		madeKey
		sent, acked time.Time
	}
	var (
		mu      sync.Mutex
		acked   []timedKey
		writing = make(chan struct{})
		wg      sync.WaitGroup
	)
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-writing:
					return
				default:
				}
				sent := time.Now()
				k, err := createKey(t, base, admin.Secret, fmt.Sprintf("w%d-%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, timedKey{k, sent, time.Now()})
				mu.Unlock()
			}
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	for count() < 20 {
		time.Sleep(time.Millisecond)
	}
	out := filepath.Join(t.TempDir(), "latchkey-backup.db")
	started := time.Now()
	stdout, stderr, err := runCmd(getenv, "backup", "--out", out)
	ended := time.Now()
	for n := count(); count() < n+10; { // and some after it
		time.Sleep(time.Millisecond)
	}
	close(writing)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup beside a running server: %v\n%s", err, stderr)
	}
	// Keys acknowledged before the backup began must be in it; keys whose
	// request was sent after it ended must not.
	var ackedBefore, sentBefore, during int
	for _, k := range acked {
		if k.acked.Before(started) {
			ackedBefore++
		}
		if k.sent.Before(ended) {
			sentBefore++
		}
		if k.acked.After(started) && k.sent.Before(ended) {
			during++
		}
	}
	t.Logf("backup took %v; %d keys acknowledged before it, %d created during it", ended.Sub(started), ackedBefore, during)

	var report struct {
		File      string `json:"file"`
		Keys      int    `json:"keys"`
		Accounts  int    `json:"accounts"`
		Schema    string `json:"schema"`
		Verified  bool   `json:"verified"`
		MasterKey string `json:"masterKey"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("backup printed %q: %v", stdout, err)
	}
	// The account key, and every key acknowledged before the backup; at
	// most those acknowledged by its end, and the two in flight.
	if report.File != out || !report.Verified || report.Accounts != 1 || report.Schema == "" ||
		report.Keys < 1+ackedBefore || report.Keys > 1+sentBefore {
		t.Errorf("backup report %+v; want 1 account and from %d to %d keys", report, 1+ackedBefore, 1+sentBefore)
	}
	if !strings.Contains(report.MasterKey, "not in the backup") || !strings.Contains(report.MasterKey, filepath.Join(dir, "master.key")) ||
		!strings.Contains(stderr, "master key is NOT in the backup") {
		t.Errorf("the output does not say that the master key is not in the backup, and where it is:\n%s%s", stdout, stderr)
	}
	if strings.Contains(stdout+stderr, strings.TrimSpace(string(masterKey))) {
		t.Error("backup printed the master key")
	}
	if got := fileMode(t, out); got != 0o600 {
		t.Errorf("backup mode = %v, want 0600", got)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("the backup's directory holds %v, want the backup alone", entries)
	}

	// Another backup to the same file: refused, the file untouched; with
	// --force, replaced.
	first, _ := os.ReadFile(out)
	if _, _, err := runCmd(getenv, "backup", "--out", out); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("backup to an existing file: %v, want a refusal naming --force", err)
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(again, first) {
		t.Error("a refused backup changed the file")
	}
	if _, stderr, err := runCmd(getenv, "backup", "--out", out, "--force"); err != nil {
		t.Errorf("backup --force to an existing file: %v\n%s", err, stderr)
	}
	if err := os.WriteFile(out, first, 0o600); err != nil { // the snapshot the keys above were counted against
		t.Fatal(err)
	}

	// Restore onto the running server's directory: refused, nothing changed.
	before := dirState(t, dir)
	delete(before, "lk.db-wal") // the server may checkpoint meanwhile
	delete(before, "lk.db-shm")
	delete(before, "lk.db")
	_, _, err = runCmd(getenv, "restore", "--from", out, "--force")
	if err == nil || !strings.Contains(err.Error(), "another latchkey server is running") {
		t.Fatalf("restore while serving: %v, want a refusal", err)
	}
	after := dirState(t, dir)
	for _, name := range []string{"lk.db-wal", "lk.db-shm", "lk.db"} {
		delete(after, name)
	}
	if len(after) != len(before) {
		t.Errorf("restore while serving left files: %v", slices.Sorted(maps.Keys(after)))
	}
	if verifyCode(t, base, admin.Secret, acked[len(acked)-1].madeKey) != "VALID" {
		t.Error("after the refused restore, the newest key does not verify")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Restore into a new directory, with master.key copied beside it as
	// the README says, and serve from there.
	newDir := filepath.Join(t.TempDir(), "restored")
	if err := os.MkdirAll(newDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(newDir, "master.key"), masterKey, 0o600); err != nil {
		t.Fatal(err)
	}
	newEnv := env(map[string]string{"LATCHKEY_DB": "sqlite:" + filepath.Join(newDir, "lk.db")})
	stdout, stderr, err = runCmd(newEnv, "restore", "--from", out)
	if err != nil {
		t.Fatalf("restore into a new directory: %v\n%s", err, stderr)
	}
	var restored map[string]any
	if err := json.Unmarshal([]byte(stdout), &restored); err != nil || restored["keys"] != float64(report.Keys) || restored["replaced"] != false {
		t.Errorf("restore printed %q (%v), want %d keys, nothing replaced", stdout, err, report.Keys)
	}
	if _, _, err := runCmd(newEnv, "restore", "--from", out); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore onto the restored database: %v, want a refusal naming --force", err)
	}
	base, _, stop = startServe(t, newEnv)
	var found int
	for i, k := range acked {
		code := verifyCode(t, base, admin.Secret, k.madeKey)
		switch {
		case k.acked.Before(started) && code != "VALID":
			t.Errorf("key %d, acknowledged before the backup began: %s after the restore, want VALID", i, code)
		case k.sent.After(ended) && code != "NOT_FOUND":
			t.Errorf("key %d, created after the backup ended: %s after the restore, want NOT_FOUND", i, code)
		case code != "VALID" && code != "NOT_FOUND":
			t.Errorf("key %d: %s after the restore", i, code)
		}
		if code == "VALID" {
			found++
		}
	}
	if found+1 != report.Keys { // and the account key
		t.Errorf("%d of the keys created verify after the restore; the backup had %d besides the account key", found, report.Keys-1)
	}
	if status, body := callNative(t, base, "GET", "/v1/keys", admin.Secret, ""); status != http.StatusOK {
		t.Errorf("GET /v1/keys with the restored account key: %d %v", status, body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Restore onto the original database, the server stopped: --force
	// replaces it and keeps it as lk.db.bak-TIMESTAMP.
	stdout, stderr, err = runCmd(getenv, "restore", "--from", out, "--force")
	if err != nil {
		t.Fatalf("restore --force: %v\n%s", err, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &restored); err != nil || restored["replaced"] != true {
		t.Fatalf("restore --force printed %q", stdout)
	}
	kept, _ := restored["kept"].(string)
	if !strings.HasPrefix(filepath.Base(kept), "lk.db.bak-") || fileMode(t, kept) != 0o600 {
		t.Errorf("the old database was kept as %q", kept)
	}
}

// setupSealed bootstraps a database under master key and returns its
// environment and the account key printed.
func setupSealed(t *testing.T, dir, master string) (func(string) string, credentials) {
	t.Helper()
	getenv := env(map[string]string{"LATCHKEY_DB": "sqlite:" + filepath.Join(dir, "lk.db"), "LATCHKEY_MASTER_KEY": master})
	stdout, stderr, err := runCmd(getenv, "bootstrap")
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, stderr)
	}
	var creds credentials
	if err := json.Unmarshal([]byte(stdout), &creds); err != nil {
		t.Fatal(err)
	}
	return getenv, creds
}

// TestRestoreWrongMasterKey: a backup restored with a master key other
// than the one it was sealed under is refused before anything is
// replaced, whether onto an existing database (with --force) or into an
// empty directory; with no key at all, master.key is not generated.
func TestRestoreWrongMasterKey(t *testing.T) {
	right, wrong := secret.NewMasterKey(), secret.NewMasterKey()
	srcEnv, _ := setupSealed(t, t.TempDir(), right)
	backupFile := filepath.Join(t.TempDir(), "b.db")
	if _, stderr, err := runCmd(srcEnv, "backup", "--out", backupFile); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}

	dst := t.TempDir()
	setupSealed(t, dst, wrong)
	before := dirState(t, dst)
	_, _, err := runCmd(env(map[string]string{"LATCHKEY_DB": "sqlite:" + filepath.Join(dst, "lk.db"), "LATCHKEY_MASTER_KEY": wrong}),
		"restore", "--from", backupFile, "--force")
	if err == nil || !strings.Contains(err.Error(), "does not match") || !strings.Contains(err.Error(), "Nothing was changed") {
		t.Errorf("restore --force with the wrong master key: %v, want a refusal", err)
	}
	sameDir(t, "restore with the wrong master key", dst, before)

	empty := filepath.Join(t.TempDir(), "data")
	_, _, err = runCmd(env(map[string]string{"LATCHKEY_DB": "sqlite:" + filepath.Join(empty, "lk.db"), "LATCHKEY_MASTER_KEY": wrong}),
		"restore", "--from", backupFile)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("restore into an empty directory with the wrong master key: %v", err)
	}
	_, _, err = runCmd(env(map[string]string{"LATCHKEY_DB": "sqlite:" + filepath.Join(empty, "lk.db")}), "restore", "--from", backupFile)
	if err == nil || !strings.Contains(err.Error(), "master.key is missing") {
		t.Errorf("restore with no master key: %v, want a refusal saying master.key is missing", err)
	}
	if left := dirState(t, empty); len(left) > 1 { // the lock file alone
		t.Errorf("refused restores left %v", slices.Sorted(maps.Keys(left)))
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(right+"\n"), 0o600)
	if _, stderr, err := runCmd(env(map[string]string{"LATCHKEY_DB": "sqlite:" + filepath.Join(empty, "lk.db")}),
		"restore", "--from", backupFile, "--master-key-file", keyFile); err != nil {
		t.Errorf("restore with the right master key (--master-key-file): %v\n%s", err, stderr)
	}
}

// TestRestoreRefusesDamagedBackup: a truncated backup, one with a damaged
// page, and a file that is no database are refused, and the database
// there is left as it was.
func TestRestoreRefusesDamagedBackup(t *testing.T) {
	master := secret.NewMasterKey()
	srcEnv, _ := setupSealed(t, t.TempDir(), master)
	for i := range 3 { // some rows, so that the file has several pages
		if _, stderr, err := runCmd(srcEnv, "bootstrap", "--name", "account "+strconv.Itoa(i)); err != nil {
			t.Fatalf("bootstrap: %v\n%s", err, stderr)
		}
	}
	good := filepath.Join(t.TempDir(), "b.db")
	if _, stderr, err := runCmd(srcEnv, "backup", "--out", good); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 8*4096 {
		t.Fatalf("the backup is %d bytes: too small to damage a page in its middle", len(b))
	}
	damaged := bytes.Clone(b)
	page := len(b) / 4096 / 2 * 4096
	copy(damaged[page:page+4000], bytes.Repeat([]byte{0xA5}, 4000)) // its header too: every page counts, even an empty table's

	dst := t.TempDir()
	dstEnv, _ := setupSealed(t, dst, master)
	before := dirState(t, dst)
	for name, data := range map[string][]byte{
		"truncated":       b[:len(b)*2/3],
		"a damaged page":  damaged,
		"not a database":  bytes.Repeat([]byte("latchkey\n"), 1000),
		"an empty file":   nil,
		"the header only": b[:100],
	} {
		path := filepath.Join(t.TempDir(), "bad.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := runCmd(dstEnv, "restore", "--from", path, "--force")
		if err == nil {
			t.Errorf("restore of %s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "fails its check") {
			t.Errorf("restore of %s: %v, want a refusal saying the backup fails its check", name, err)
		}
		sameDir(t, "restore of "+name, dst, before)
	}
	if _, stderr, err := runCmd(dstEnv, "restore", "--from", good, "--force", "--no-keep"); err != nil {
		t.Fatalf("restore of the good backup: %v\n%s", err, stderr)
	}
	names := slices.Sorted(maps.Keys(dirState(t, dst)))
	if !slices.Equal(names, []string{"latchkey.lock", "lk.db"}) {
		t.Errorf("after restore --no-keep the directory holds %v, want the database and the lock file alone", names)
	}
}

// TestBackupRestoreFlags: --out and --from are required; a backup of a
// database that is not there is refused and does not create it.
func TestBackupRestoreFlags(t *testing.T) {
	dir := t.TempDir()
	getenv := env(map[string]string{"LATCHKEY_DB": "sqlite:" + filepath.Join(dir, "lk.db")})
	if _, _, err := runCmd(getenv, "backup"); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("backup without --out: %v", err)
	}
	if _, _, err := runCmd(getenv, "restore"); err == nil || !strings.Contains(err.Error(), "--from") {
		t.Errorf("restore without --from: %v", err)
	}
	if _, _, err := runCmd(getenv, "backup", "--out", filepath.Join(dir, "b.db")); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("backup of a missing database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lk.db")); !os.IsNotExist(err) {
		t.Error("backup created the database it was to copy")
	}
	if _, _, err := runCmd(getenv, "backup", "--out"); err == nil {
		t.Error("backup --out without a value: accepted")
	}
}

// With PostgreSQL, backup and restore do not pretend: they refuse and
// print the pg_dump and pg_restore commands, with or without a master key
// given, and never the DSN's password.
func TestBackupPostgresPointsToPgDump(t *testing.T) {
	dsn := "postgres://latchkey:hunter2@db.example:5432/latchkey"
	for _, getenv := range []func(string) string{
		env(map[string]string{"LATCHKEY_MASTER_KEY": secret.NewMasterKey(), "LATCHKEY_DB": dsn}),
		env(map[string]string{"LATCHKEY_DB": dsn}),
		env(nil),
	} {
		for _, args := range [][]string{
			{"backup", "--out", "x.db", "--db", dsn},
			{"backup", "--db=" + dsn, "--out", "x.db"},
			{"restore", "--from", "x.db", "--db", dsn},
		} {
			_, _, err := runCmd(getenv, args...)
			if err == nil || !strings.Contains(err.Error(), `pg_dump --format=custom --file latchkey.dump "$DSN"`) ||
				!strings.Contains(err.Error(), `pg_restore --clean --if-exists --dbname "$DSN" latchkey.dump`) {
				t.Errorf("%v: %v, want the pg_dump and pg_restore commands", args, err)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%v: the error shows the password", args)
			}
		}
	}
	if _, err := os.Stat("x.db"); err == nil {
		t.Error("a backup file was written")
	}
}

// pgTool returns the path of a PostgreSQL client program from the server
// binaries pgtest runs (Debian's /usr/lib/postgresql/VERSION/bin, newest
// first, else PATH), so that pg_dump is as new as the server.
func pgTool(t *testing.T, name string) string {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	slices.SortFunc(found, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	if len(found) > 0 {
		return found[len(found)-1]
	}
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (the Debian package postgresql has it): %v", name, err)
	}
	return path
}

// TestPostgresBackupWithPgDump does what the README says for PostgreSQL:
// pg_dump of a database a server is running on, pg_restore into a fresh
// database, and a server on that with the same master key: the keys
// verify, the apps are there, and another master key is refused.
func TestPostgresBackupWithPgDump(t *testing.T) {
	master := secret.NewMasterKey()
	srcDSN := pgtest.DSN(t)
	srcEnv := env(map[string]string{"LATCHKEY_DB": srcDSN, "LATCHKEY_MASTER_KEY": master})
	stdout, stderr, err := runCmd(srcEnv, "bootstrap")
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, stderr)
	}
	var admin credentials
	if err := json.Unmarshal([]byte(stdout), &admin); err != nil {
		t.Fatal(err)
	}
	base, _, _ := startServe(t, srcEnv)
	var keys []madeKey
	for i := range 3 {
		k, err := createKey(t, base, admin.Secret, "pg "+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	status, app := callNative(t, base, "POST", "/v1/apps", admin.Secret, `{"name":"dumped"}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /v1/apps: %d %v", status, app)
	}

	// The commands as the README prints them, DSN from the environment.
	dump := filepath.Join(t.TempDir(), "latchkey.dump")
	dstDSN := pgtest.DSN(t)
	for _, c := range []struct {
		tool string
		args []string
		dsn  string
	}{
		{"pg_dump", []string{"--format=custom", "--file", dump, srcDSN}, srcDSN},
		{"pg_restore", []string{"--clean", "--if-exists", "--dbname", dstDSN, dump}, dstDSN},
	} {
		cmd := exec.Command(pgTool(t, c.tool), c.args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c.tool, err, out)
		}
	}

	// A server on the restored database, with another master key: refused.
	err = run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"},
		env(map[string]string{"LATCHKEY_DB": dstDSN, "LATCHKEY_MASTER_KEY": secret.NewMasterKey()}), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("serve on the restored database with another master key: %v, want a refusal", err)
	}
	// With the same key, everything is there.
	restored, _, _ := startServe(t, env(map[string]string{"LATCHKEY_DB": dstDSN, "LATCHKEY_MASTER_KEY": master}))
	for _, k := range keys {
		if code := verifyCode(t, restored, admin.Secret, k); code != "VALID" {
			t.Errorf("key %s on the restored database: %s, want VALID", k.id, code)
		}
	}
	if code := verifyCode(t, restored, admin.Secret, madeKey{secret: keys[0].secret + "x"}); code == "VALID" {
		t.Error("a wrong secret verifies on the restored database")
	}
	if status, got := callNative(t, restored, "GET", "/v1/apps/"+app["id"].(string), admin.Secret, ""); status != http.StatusOK || got["id"] != app["id"] {
		t.Errorf("GET /v1/apps/%v on the restored database: %d %v", app["id"], status, got)
	}
	// And new keys can be made there (the sequences and constraints came too).
	if _, err := createKey(t, restored, admin.Secret, "after restore"); err != nil {
		t.Errorf("create a key on the restored database: %v", err)
	}
}
