package postgres

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openAt opens the store on dsn and closes it when the test ends.
func openAt(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() error = %v", err)
		}
	})
	return s
}

// rawConn connects to dsn directly, beside the store, for what the Store
// interface does not show.
func rawConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("pgx.Connect() error = %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// migrated is a database with every migration applied, which the contract
// suite's stores copy: copying costs less than migrating. Migrating an
// empty database is tested below.
var migrated = sync.OnceValues(func() (string, error) {
	return pgtest.NewTemplate(func(dsn string) error {
		s, err := Open(context.Background(), dsn)
		if err != nil {
			return err
		}
		return s.Close()
	})
})

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) latchkey.Store {
		// Every subtest has a database of its own, so they run side by
		// side: most of their time goes to waiting for the disk.
		t.Parallel()
		template, err := migrated()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		return openAt(t, pgtest.DSNFrom(t, template))
	})
}

// appliedMigrations returns schema_migrations as name → applied_at.
func appliedMigrations(t *testing.T, dsn string) map[string]time.Time {
	t.Helper()
	rows, err := rawConn(t, dsn).Query(t.Context(), `SELECT name, applied_at FROM schema_migrations`)
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	m := map[string]time.Time{}
	for rows.Next() {
		var name string
		var at time.Time
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

// migrationNames lists the .sql files of dir as schema_migrations names them.
func migrationNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files in %s: %v", dir, err)
	}
	var names []string
	for _, f := range files {
		names = append(names, "migrations/"+filepath.Base(f))
	}
	slices.Sort(names)
	return names
}

// TestMigrationsInStepWithSQLite: each PostgreSQL migration has the name of
// the SQLite migration it translates, one for one, so that a schema change
// is seen to be made for both backends.
func TestMigrationsInStepWithSQLite(t *testing.T) {
	pg, lite := migrationNames(t, "migrations"), migrationNames(t, filepath.Join("..", "sqlite", "migrations"))
	if !slices.Equal(pg, lite) {
		t.Errorf("PostgreSQL migrations %v, want the SQLite store's names %v", pg, lite)
	}
}

func TestReopenAppliesMigrationsOnce(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	s := openAt(t, dsn)
	if _, err := s.InitMeta(ctx, "check", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	first := appliedMigrations(t, dsn)
	var got []string
	for name := range first {
		got = append(got, name)
	}
	slices.Sort(got)
	if want := migrationNames(t, "migrations"); !slices.Equal(got, want) {
		t.Errorf("schema_migrations = %v, want %v", got, want)
	}
	for i := range 2 {
		s := openAt(t, dsn) // would fail if a migration ran again
		if v, err := s.Meta(ctx, "check"); err != nil || string(v) != "v1" {
			t.Errorf("reopen %d: Meta(\"check\") = %q, %v, want \"v1\", nil", i+1, v, err)
		}
	}
	again := appliedMigrations(t, dsn)
	for name, at := range first {
		if !again[name].Equal(at) {
			t.Errorf("migration %s applied_at = %v after reopening, want %v (applied once)", name, again[name], at)
		}
	}
	if len(again) != len(first) {
		t.Errorf("schema_migrations has %d rows after reopening, want %d", len(again), len(first))
	}
}

// TestConcurrentMigrations opens one new database from several stores at
// once, as nodes starting together do: the advisory lock lets one migrate
// while the others wait, and every store opens.
func TestConcurrentMigrations(t *testing.T) {
	const trials, nodes = 5, 6
	for trial := range trials {
		dsn := pgtest.DSN(t)
		stores := make([]*Store, nodes)
		errs := make([]error, nodes)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for n := range nodes {
			wg.Go(func() {
				<-start
				stores[n], errs[n] = Open(t.Context(), dsn)
			})
		}
		close(start)
		wg.Wait()
		for n, err := range errs {
			if err != nil {
				t.Fatalf("trial %d: Open() on node %d error = %v", trial, n, err)
			}
			t.Cleanup(func() { stores[n].Close() })
		}
		if got, want := len(appliedMigrations(t, dsn)), len(migrationNames(t, "migrations")); got != want {
			t.Errorf("trial %d: %d migrations recorded, want %d", trial, got, want)
		}
		// Every node sees the one schema.
		a := &latchkey.Account{ID: fmt.Sprintf("%024x", trial+1), Name: "A", CreatedAt: time.Now()}
		k := &latchkey.Key{ID: fmt.Sprintf("%024x", 100+trial), AccountID: a.ID, Name: "k",
			Policy:  latchkey.Policy{Type: latchkey.KeyTypeSecret},
			Secrets: []latchkey.Secret{{Hash: []byte("hash"), Sealed: []byte("sealed"), CreatedAt: time.Now()}}}
		if err := stores[0].CreateAccountWithKey(t.Context(), a, k); err != nil {
			t.Fatal(err)
		}
		for n, s := range stores {
			if got, err := s.KeyBySecretHash(t.Context(), []byte("hash")); err != nil || got.ID != k.ID {
				t.Errorf("trial %d: node %d KeyBySecretHash() = %v, %v, want key %s", trial, n, got, err, k.ID)
			}
		}
	}
}

// TestRefusesNewerSchema: a database that a newer version migrated further
// is refused, with an error naming the migration this version lacks, and
// left as it was.
func TestRefusesNewerSchema(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	s := openAt(t, dsn)
	if _, err := s.InitMeta(ctx, "check", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	const future = "migrations/9999_from_the_future.sql"
	if _, err := rawConn(t, dsn).Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, now())`, future); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, dsn)
	if err == nil || !strings.Contains(err.Error(), future) || !strings.Contains(err.Error(), "does not know") {
		t.Fatalf("Open() of a newer schema error = %v, want one naming %s", err, future)
	}
	if v, err := s.Meta(ctx, "check"); err != nil || string(v) != "v1" {
		t.Errorf("after the refused Open, Meta(\"check\") = %q, %v, want \"v1\", nil", v, err)
	}
	if got := len(appliedMigrations(t, dsn)); got != len(migrationNames(t, "migrations"))+1 {
		t.Errorf("schema_migrations has %d rows after the refused Open", got)
	}
}

// TestKeyCapAcrossNodes creates keys for one integration from two stores,
// two pools as two nodes would have, all at once: exactly the cap's worth
// succeed, however the creations interleave.
func TestKeyCapAcrossNodes(t *testing.T) {
	const trials, workers, limit = 5, 24, 10
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	nodes := []*Store{openAt(t, dsn), openAt(t, dsn)}
	acc := &latchkey.Account{ID: fmt.Sprintf("%024x", 1), Name: "A", CreatedAt: time.Now()}
	if err := nodes[0].CreateAccountWithKey(ctx, acc, newTestKey(latchkey.KeyOwner{AccountID: acc.ID}, 0)); err != nil {
		t.Fatal(err)
	}
	for trial := range trials {
		app := &latchkey.App{ID: fmt.Sprintf("a%023x", trial), AccountID: acc.ID, DisplayName: "App"}
		if err := nodes[1].CreateApp(ctx, app); err != nil {
			t.Fatal(err)
		}
		in := &latchkey.Integration{ID: fmt.Sprintf("b%023x", trial), AppID: app.ID, Type: latchkey.IntegrationTypeCustom, Status: "active"}
		if err := nodes[0].CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		owner := latchkey.KeyOwner{AccountID: acc.ID, AppID: app.ID, IntegrationID: in.ID}
		errs := make([]error, workers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for n := range workers {
			wg.Go(func() {
				<-start
				errs[n] = nodes[n%2].CreateKey(ctx, newTestKey(owner, trial*1000+n+1), limit)
			})
		}
		close(start)
		wg.Wait()
		created := 0
		for _, err := range errs {
			switch latchkey.ErrorCode(err) {
			case "":
				created++
			case latchkey.ELIMIT:
			default:
				t.Errorf("trial %d: CreateKey() error = %v, want nil or ELIMIT", trial, err)
			}
		}
		if created != limit {
			t.Errorf("trial %d: %d of %d concurrent CreateKey() calls on two nodes succeeded, want %d", trial, created, workers, limit)
		}
		for n, s := range nodes {
			if keys, err := s.ListKeys(ctx, owner); err != nil || len(keys) != limit {
				t.Errorf("trial %d: node %d ListKeys() = %d keys, %v, want %d", trial, n, len(keys), err, limit)
			}
		}
	}
}

// newTestKey returns a key for owner with one secret, its id and hash
// derived from n.
func newTestKey(o latchkey.KeyOwner, n int) *latchkey.Key {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &latchkey.Key{ID: fmt.Sprintf("c%023x", n), AccountID: o.AccountID, AppID: o.AppID, IntegrationID: o.IntegrationID,
		Name: "key", Policy: latchkey.Policy{Type: latchkey.KeyTypeSecret}, CreatedAt: now, UpdatedAt: now,
		Secrets: []latchkey.Secret{{Hash: []byte(fmt.Sprintf("hash-%d", n)), Sealed: []byte("sealed"), CreatedAt: now}}}
}

// TestInitMetaAcrossNodes: nodes starting together each offer their own
// value for one name (as each seals the master key check), and all come
// away with the one that was stored.
func TestInitMetaAcrossNodes(t *testing.T) {
	const nodes = 6
	dsn := pgtest.DSN(t)
	stores := make([]*Store, nodes)
	for n := range stores {
		stores[n] = openAt(t, dsn)
	}
	got := make([]string, nodes)
	errs := make([]error, nodes)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for n, s := range stores {
		wg.Go(func() {
			<-start
			var v []byte
			v, errs[n] = s.InitMeta(t.Context(), "check", []byte(fmt.Sprintf("node %d", n)))
			got[n] = string(v)
		})
	}
	close(start)
	wg.Wait()
	stored, err := stores[0].Meta(t.Context(), "check")
	if err != nil {
		t.Fatal(err)
	}
	for n := range stores {
		if errs[n] != nil || got[n] != string(stored) {
			t.Errorf("node %d: InitMeta() = %q, %v, want the stored %q", n, got[n], errs[n], stored)
		}
	}
}
