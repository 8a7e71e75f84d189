package lktest

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver, as store/sqlite uses
)

// StateIgnored is what DumpState leaves out by default: the tables and
// columns that change on a refused request by design, or with verifications
// rather than management. Usage counts and lastUsedAt are written by the
// usage recorder for any verification; audit_events records refused attempts.
var StateIgnored = struct{ Tables, Columns []string }{
	Tables:  []string{"key_usage", "audit_events", "rate_counts"},
	Columns: []string{"last_used_at"},
}

// StateDumper reads every table of a SQLite database, as enumerated from
// sqlite_master, through a connection of its own, so that a test can tell
// whether a request changed anything: two equal dumps mean every row of
// every table is the same, whatever order the rows were written in.
type StateDumper struct {
	db *sql.DB
	// skipTables and skipColumns are left out of the dump.
	skipTables, skipColumns []string
	// last is the last dump, taken when the connection's data_version was
	// version: while it stays the same, no other connection committed, and
	// the dump is reused.
	last    string
	version int64
}

// NewStateDumper opens the SQLite database at path for reading; it is
// closed when tb ends. It leaves out StateIgnored's tables and columns.
func NewStateDumper(tb testing.TB, path string) *StateDumper {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	// One connection, kept: PRAGMA data_version is per connection.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	tb.Cleanup(func() { db.Close() })
	return &StateDumper{db: db, skipTables: StateIgnored.Tables, skipColumns: StateIgnored.Columns}
}

// Dump returns every row of every table but the skipped ones, as text, each
// table's rows sorted.
func (d *StateDumper) Dump(tb testing.TB) string {
	tb.Helper()
	tx, err := d.db.Begin() // one snapshot of the whole database
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	var version int64
	if err := tx.QueryRow(`PRAGMA data_version`).Scan(&version); err != nil {
		tb.Fatal(err)
	}
	if d.last != "" && version == d.version {
		return d.last // nothing was committed since
	}
	rows, err := tx.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		tb.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			tb.Fatal(err)
		}
		if !slices.Contains(d.skipTables, name) {
			tables = append(tables, name)
		}
	}
	rows.Close()
	var out strings.Builder
	for _, table := range tables {
		rows, err := tx.Query(`SELECT * FROM "` + strings.ReplaceAll(table, `"`, `""`) + `"`)
		if err != nil {
			tb.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			var line strings.Builder
			for i, c := range cols {
				if slices.Contains(d.skipColumns, c) {
					continue
				}
				fmt.Fprintf(&line, "%s=%q ", c, fmt.Sprint(vals[i]))
			}
			lines = append(lines, line.String())
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
		rows.Close()
		slices.Sort(lines)
		fmt.Fprintf(&out, "== %s (%d rows)\n%s\n", table, len(lines), strings.Join(lines, "\n"))
	}
	d.last, d.version = out.String(), version
	return d.last
}
