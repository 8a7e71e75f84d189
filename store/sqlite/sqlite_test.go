package sqlite

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/store/storetest"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// openAt opens the store at path and closes it when the test ends.
func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() error = %v", err)
		}
	})
	return s
}

// rawDB opens the file directly, beside the store, for what the Store
// interface does not show.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatalf("sql.Open(%q) error = %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) latchkey.Store {
		return openAt(t, filepath.Join(t.TempDir(), "latchkey.db"))
	})
}

func TestReopenKeepsDataAndAppliesMigrationsOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	a := &latchkey.Account{ID: strings.Repeat("a", 24), Name: "A"}
	k := &latchkey.Key{ID: strings.Repeat("b", 24), AccountID: a.ID, Name: "k",
		Policy:  latchkey.Policy{Type: latchkey.KeyTypeSecret},
		Secrets: []latchkey.Secret{{Hash: []byte("hash"), Sealed: []byte("sealed")}}}
	if err := s.CreateAccountWithKey(ctx, a, k); err != nil {
		t.Fatalf("CreateAccountWithKey() error = %v", err)
	}
	if _, err := s.InitMeta(ctx, "check", []byte("v1")); err != nil {
		t.Fatalf("InitMeta() error = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	applied := func() map[string]string {
		rows, err := rawDB(t, path).QueryContext(ctx, `SELECT name, applied_at FROM schema_migrations`)
		if err != nil {
			t.Fatalf("query schema_migrations: %v", err)
		}
		defer rows.Close()
		m := map[string]string{}
		for rows.Next() {
			var name, at string
			if err := rows.Scan(&name, &at); err != nil {
				t.Fatal(err)
			}
			if _, dup := m[name]; dup {
				t.Errorf("schema_migrations lists %q twice", name)
			}
			m[name] = at
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := applied()

	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files found: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, "migrations/"+filepath.Base(f))
	}
	var got []string
	for name := range first {
		got = append(got, name)
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("schema_migrations = %v, want %v", got, names)
	}

	for i := range 2 {
		s, err := Open(ctx, path) // would fail if a migration ran again
		if err != nil {
			t.Fatalf("reopen %d: Open() error = %v", i+1, err)
		}
		if n, err := s.CountAccounts(ctx); err != nil || n != 1 {
			t.Errorf("reopen %d: CountAccounts() = %d, %v, want 1, nil", i+1, n, err)
		}
		if v, err := s.Meta(ctx, "check"); err != nil || string(v) != "v1" {
			t.Errorf("reopen %d: Meta(\"check\") = %q, %v, want \"v1\", nil", i+1, v, err)
		}
		if got, err := s.KeyBySecretHash(ctx, []byte("hash")); err != nil || got.ID != k.ID {
			t.Errorf("reopen %d: KeyBySecretHash() = %v, %v, want key %q", i+1, got, err, k.ID)
		}
		if err := s.Close(); err != nil {
			t.Errorf("reopen %d: Close() error = %v", i+1, err)
		}
	}
	again := applied()
	for name, at := range first {
		if again[name] != at {
			t.Errorf("migration %s applied_at = %q after reopening, want %q (applied once)", name, again[name], at)
		}
	}
	if len(again) != len(first) {
		t.Errorf("schema_migrations has %d rows after reopening, want %d", len(again), len(first))
	}
}

func TestFileModes(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "latchkey.db")
	s := openAt(t, path)
	// Write something, so that the WAL exists.
	if _, err := s.InitMeta(ctx, "x", []byte("y")); err != nil {
		t.Fatalf("InitMeta() error = %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("Stat(%q) error = %v", path, err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("database file mode = %v, want %v", got, os.FileMode(0o600))
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			t.Errorf("Stat(%q) error = %v", path+suffix, err)
			continue
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s file mode = %v, want %v", suffix, got, os.FileMode(0o600))
		}
	}
	fi, err = os.Stat(dir)
	if err != nil {
		t.Fatalf("Stat(%q) error = %v", dir, err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("created data directory mode = %v, want %v", got, os.FileMode(0o700))
	}
}

// TestCommitsAreDurable checks that the connection that commits writes
// syncs the WAL before each commit returns (synchronous=FULL). With NORMAL,
// a commit already acknowledged, such as deleting a key that leaked, can
// roll back after an OS crash or a power cut.
func TestCommitsAreDurable(t *testing.T) {
	ctx := t.Context()
	s := openAt(t, filepath.Join(t.TempDir(), "latchkey.db"))
	const full = 2 // PRAGMA synchronous reports FULL as 2, NORMAL as 1
	var level int
	// Asked inside a write transaction: this is the connection, and the
	// transaction kind, that every store write commits through.
	if err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level)
	}); err != nil {
		t.Fatalf("PRAGMA synchronous on the write pool: %v", err)
	}
	if level != full {
		t.Errorf("write pool: PRAGMA synchronous = %d, want %d (FULL)", level, full)
	}
	// Readers never commit, but any connection may run a checkpoint, the
	// last one to close included; see Open. Hold several at once so that
	// each is a distinct connection.
	for i := range 3 {
		conn, err := s.read.Conn(ctx)
		if err != nil {
			t.Fatalf("read pool connection %d: %v", i, err)
		}
		defer conn.Close()
		if err := conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level); err != nil {
			t.Fatalf("PRAGMA synchronous on read connection %d: %v", i, err)
		}
		if level != full {
			t.Errorf("read connection %d: PRAGMA synchronous = %d, want %d (FULL)", i, level, full)
		}
	}
}

func TestWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	openAt(t, path)
	var mode string
	if err := rawDB(t, path).QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatalf("PRAGMA journal_mode error = %v", err)
	}
	if mode != "wal" {
		t.Errorf("PRAGMA journal_mode = %q, want %q", mode, "wal")
	}
}

// TestForeignKeys checks that the schema's cascades run: deleting through the
// store leaves no orphan row in any table.
func TestForeignKeys(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	s := openAt(t, path)
	acc := &latchkey.Account{ID: strings.Repeat("0", 23) + "1", Name: "A"}
	key := func(id, appID, integrationID string) *latchkey.Key {
		return &latchkey.Key{ID: id, AccountID: acc.ID, AppID: appID, IntegrationID: integrationID, Name: id,
			Policy:  latchkey.Policy{Type: latchkey.KeyTypeSecret},
			Secrets: []latchkey.Secret{{Hash: []byte("hash-" + id), Sealed: []byte("sealed")}}}
	}
	if err := s.CreateAccountWithKey(ctx, acc, key("acckey", "", "")); err != nil {
		t.Fatalf("CreateAccountWithKey() error = %v", err)
	}
	for _, appID := range []string{"app1", "app2"} {
		if err := s.CreateApp(ctx, &latchkey.App{ID: appID, AccountID: acc.ID, DisplayName: appID}); err != nil {
			t.Fatalf("CreateApp() error = %v", err)
		}
		for _, n := range []string{"a", "b"} {
			in := &latchkey.Integration{ID: appID + "-in" + n, AppID: appID, Type: latchkey.IntegrationTypeCustom,
				Status: "active", Webhooks: []latchkey.Webhook{{ID: appID + "-wh" + n, Version: "v2",
					Target: "https://example.com", Triggers: []string{"*"}, SealedSecret: []byte("s")}}}
			if err := s.CreateIntegration(ctx, in); err != nil {
				t.Fatalf("CreateIntegration() error = %v", err)
			}
			if err := s.CreateKey(ctx, key(in.ID+"-key", appID, in.ID), 0); err != nil {
				t.Fatalf("CreateKey() error = %v", err)
			}
		}
		if err := s.CreateKey(ctx, key(appID+"-key", appID, ""), 0); err != nil {
			t.Fatalf("CreateKey() error = %v", err)
		}
	}
	if err := s.DeleteIntegration(ctx, "app2", "app2-ina", nil); err != nil {
		t.Fatalf("DeleteIntegration() error = %v", err)
	}
	if err := s.DeleteApp(ctx, "app1", nil); err != nil {
		t.Fatalf("DeleteApp() error = %v", err)
	}
	if err := s.DeleteKey(ctx, "app2-key"); err != nil {
		t.Fatalf("DeleteKey() error = %v", err)
	}

	db := rawDB(t, path)
	queries := []struct {
		query string
		want  []string
	}{
		{`SELECT id FROM apps ORDER BY id`, []string{"app2"}},
		{`SELECT id FROM integrations ORDER BY id`, []string{"app2-inb"}},
		{`SELECT id FROM webhooks ORDER BY id`, []string{"app2-whb"}},
		{`SELECT id FROM keys ORDER BY id`, []string{"acckey", "app2-inb-key"}},
		{`SELECT key_id FROM key_secrets ORDER BY key_id`, []string{"acckey", "app2-inb-key"}},
	}
	for _, q := range queries {
		rows, err := db.QueryContext(ctx, q.query)
		if err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		var got []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		rows.Close()
		if !slices.Equal(got, q.want) {
			t.Errorf("%s = %v, want %v", q.query, got, q.want)
		}
	}
	var violations int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_foreign_key_check`).Scan(&violations); err != nil {
		t.Fatalf("foreign_key_check: %v", err)
	}
	if violations != 0 {
		t.Errorf("PRAGMA foreign_key_check reports %d violations, want 0", violations)
	}
}

// TestConcurrentOpens opens one new file from several goroutines at once,
// many times: each open waits its turn and none fails with SQLITE_BUSY, as
// the first did when two processes started on a fresh data directory.
func TestConcurrentOpens(t *testing.T) {
	for trial := range 60 {
		path := filepath.Join(t.TempDir(), "latchkey.db")
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(t.Context(), path)
				if err != nil {
					t.Errorf("trial %d: Open: %v", trial, err)
					return
				}
				s.Close()
			}()
		}
		wg.Wait()
	}
}

// TestRefusesNewerSchema: a database that a newer version migrated further
// is refused, with an error naming the migration this version lacks, and
// left as it was.
func TestRefusesNewerSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	s := openAt(t, path)
	const future = "migrations/9999_from_the_future.sql"
	if _, err := s.write.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, 'x')`, future); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InitMeta(ctx, "check", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, path)
	if err == nil || !strings.Contains(err.Error(), future) || !strings.Contains(err.Error(), "does not know") {
		t.Fatalf("Open() of a newer schema error = %v, want one naming %s", err, future)
	}
	if v, err := s.Meta(ctx, "check"); err != nil || string(v) != "v1" {
		t.Errorf("after the refused Open, Meta(\"check\") = %q, %v, want \"v1\", nil", v, err)
	}
}
