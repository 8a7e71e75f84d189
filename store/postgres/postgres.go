// Package postgres is Latchkey's store for a fleet of nodes: latchkey.Store
// on PostgreSQL, through pgx v5 and a connection pool of its own, with its
// migrations embedded and applied on open.
//
// It behaves as store/sqlite does, and the contract suite (store/storetest)
// holds both to that. Where SQLite has one writer at a time, here several
// nodes write at once, so the transactions that read before they write lock
// what they read. They run at READ COMMITTED, where each statement sees what
// was committed before it began, and take row locks top-down: the account,
// the app, the integration, then keys in id order. A writer that must wait
// therefore waits for one that will not wait for it, and no two deadlock.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/latchkey/latchkey"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is latchkey.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ latchkey.Store = (*Store)(nil)

// Open connects to the database that dsn names (a postgres:// URL or a
// key=value string, as libpq takes them; pool settings such as
// pool_max_conns too) and applies the migrations it lacks. It refuses a
// database that a newer Latchkey has migrated further than it knows.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// Not wrapped: pgconn's parse errors quote the DSN, and hiding the
		// password in it is only best effort.
		return nil, errors.New("postgres: cannot parse the database DSN; " +
			"want postgres://user:password@host:port/database?option=value or key=value pairs")
	}
	if err := migrate(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrationLock is the pg_advisory_lock key under which nodes migrate: the
// bytes of "latchkey". Advisory locks belong to one database, so only nodes
// sharing a database wait for each other.
const migrationLock int64 = 0x6c617463686b6579

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, each in its own transaction, in file-name order. Nodes
// starting at once take turns: the first applies them, the others find them
// recorded. The lock is held by a connection of its own, closed at the end,
// which releases the lock however migrating ended.
func migrate(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("postgres: migrate: wait for the migration lock: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT COLLATE "C" PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	// A migration this binary does not know was applied by a newer one;
	// running on that schema could lose what the newer version relies on.
	for _, name := range applied {
		if !slices.Contains(names, name) {
			return fmt.Errorf("postgres: the database has migration %s, which this latchkey does not know: "+
				"a newer version migrated it; run that version or a later one", name)
		}
	}
	for _, name := range names {
		if slices.Contains(applied, name) {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// Without arguments Exec uses the simple protocol, which runs a
			// file of several statements.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, now())`, name)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", name, err)
		}
	}
	return nil
}

// inTx runs fn in a transaction and commits if it returns nil. The
// isolation level is set, not inherited from the server's default, because
// the locking throughout this package is designed for READ COMMITTED. The
// audit event ctx carries, if any, is written in the same transaction,
// after fn: a change is never committed without its event, nor an event
// without its change.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // a no-op once committed
	if err := fn(tx); err != nil {
		return err
	}
	if ev := latchkey.AuditEventFrom(ctx); ev != nil {
		if err := insertAuditEvents(ctx, tx, ev); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scanner is one row: pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// params collects a statement's arguments; add returns the placeholder of
// the one it appends.
type params []any

func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// representable reports whether PostgreSQL can hold s as text: valid UTF-8
// without NUL bytes. SQLite takes any bytes, so a request's id or filter
// value may not be; no stored id, name or type is ever anything else.
func representable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// textArg is s as an argument compared for equality: SQL NULL, which equals
// nothing, if s is not representable. A lookup by such a value finds
// nothing, as in SQLite, instead of failing on the encoding.
func textArg(s string) any {
	if !representable(s) {
		return nil
	}
	return s
}

// textArray is values as a text[] argument for = ANY or <> ALL, without
// those that are not representable: no stored value equals them, so
// dropping them changes neither what a list includes nor what it excludes.
func textArray(values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		if representable(v) {
			out = append(out, v)
		}
	}
	return out
}

// utc returns t in UTC: pgx gives timestamptz values in the local zone.
func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// SQLSTATE codes the store gives a meaning to.
const (
	uniqueViolation          = "23505"
	characterNotInRepertoire = "22021" // invalid UTF-8, or a NUL byte, in text
	lockNotAvailable         = "55P03" // a NOWAIT lock was held
)

// mapError turns driver errors into application errors where they have a
// meaning for callers.
func mapError(err error, subject string) error {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		switch e.Code {
		case uniqueViolation:
			return &latchkey.Error{Code: latchkey.ECONFLICT, Subject: subject, Message: subject + " already exists"}
		case characterNotInRepertoire:
			// SQLite would store such text; PostgreSQL cannot. The
			// surfaces refuse control characters in names before this.
			return &latchkey.Error{Code: latchkey.EINVALID, Subject: subject,
				Message: "text must be valid UTF-8 without NUL characters"}
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return latchkey.NotFound(subject)
	}
	return err
}

// mustAffect returns ENOTFOUND for subject unless tag reports a changed row.
func mustAffect(tag pgconn.CommandTag, subject string) error {
	if tag.RowsAffected() == 0 {
		return latchkey.NotFound(subject)
	}
	return nil
}

// lockRow locks the row query selects (it ends in FOR …) and returns
// ENOTFOUND for subject if there is none.
func lockRow(ctx context.Context, tx pgx.Tx, subject, query string, args ...any) error {
	var one int
	err := tx.QueryRow(ctx, query, args...).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return latchkey.NotFound(subject)
	}
	return err
}
