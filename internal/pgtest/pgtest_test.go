package pgtest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// TestDatabasesAreSeparate: each DSN names a database of its own, empty.
func TestDatabasesAreSeparate(t *testing.T) {
	ctx := t.Context()
	var names []string
	for range 2 {
		conn, err := pgx.Connect(ctx, DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var name string
		var tables int
		if err := conn.QueryRow(ctx, `SELECT current_database(),
			(SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public')`).Scan(&name, &tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("database %s has %d tables, want none", name, tables)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if names[0] == names[1] {
		t.Errorf("two DSNs named one database, %s", names[0])
	}
}

// TestMissingBinariesNameThePackage: without the server binaries, the error
// says which Debian package to install.
func TestMissingBinariesNameThePackage(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := findBinaries("/nonexistent/*/bin/initdb")
	if err == nil || !strings.Contains(err.Error(), "Debian package postgresql") {
		t.Fatalf("findBinaries() without binaries error = %v, want one naming the Debian package postgresql", err)
	}
}

// TestServerStopStart: a server of the test's own can be stopped, and is
// unreachable meanwhile, then started again on the same DSN with its data.
func TestServerStopStart(t *testing.T) {
	ctx := t.Context()
	s := NewServer(t)
	conn, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE t (x int); INSERT INTO t VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	// The open connection was ended, and no new one can be made.
	if _, err := conn.Exec(ctx, `SELECT 1`); err == nil {
		t.Fatal("a connection made before Stop still answers")
	}
	conn.Close(context.Background())
	if c, err := pgx.Connect(ctx, s.DSN()); err == nil {
		c.Close(context.Background())
		t.Fatal("connected to a stopped server")
	}
	s.Start()
	conn, err = pgx.Connect(ctx, s.DSN())
	if err != nil {
		t.Fatalf("after Start: %v", err)
	}
	defer conn.Close(context.Background())
	var x int
	if err := conn.QueryRow(ctx, `SELECT x FROM t`).Scan(&x); err != nil || x != 42 {
		t.Fatalf("after Start: x = %d, %v; want the row written before Stop", x, err)
	}
}
