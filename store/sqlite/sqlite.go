// Package sqlite is Latchkey's embedded store: latchkey.Store on one SQLite
// file in WAL mode, through the pure-Go modernc.org/sqlite driver, with its
// migrations embedded and applied on open.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is latchkey.Store on SQLite.
//
// It keeps two pools on the same file: writes go through a single connection
// (SQLite allows one writer at a time; queueing in Go beats SQLITE_BUSY
// retries) whose transactions begin IMMEDIATE, so that a read-then-write
// such as a quota check cannot be overtaken; reads use several connections,
// which WAL lets run beside the writer.
type Store struct {
	read  *sql.DB
	write *sql.DB
	// level is the synchronous level every commit is made at, except
	// AddUsage's (see usageSyncEvery). Open sets FULL.
	level synchronous
	// Now returns the current time; tests replace it.
	Now func() time.Time
	// stmts are the hot statements, prepared once; see stmts.
	stmts stmts

	// usageMu guards usageSyncedAt: when (by Now) the last AddUsage commit
	// made at synchronous=FULL that wrote something began. Zero until one
	// has.
	usageMu       sync.Mutex
	usageSyncedAt time.Time
	// usageTxHook, if set, runs inside each AddUsage transaction after its
	// writes, and an error from it fails the transaction. Tests use it to
	// see the level the commit is about to use, on the connection itself.
	usageTxHook func(*sql.Tx) error
}

var _ latchkey.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database at path, with its
// directory, and applies pending migrations. A write is on disk before the
// call that made it returns, so an acknowledged change (a deleted key above
// all) survives an OS crash or a power cut. The one exception is usage
// counts (AddUsage): they survive the process crashing, but an OS crash or
// a power cut may take back those committed in about the last second; see
// usageSyncEvery.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, syncFull)
}

// synchronous is a value of PRAGMA synchronous.
type synchronous string

const (
	// syncFull syncs the WAL on every commit: what Open uses.
	syncFull synchronous = "FULL"
	// syncNormal syncs only at checkpoints, so the last commits before a
	// power cut can roll back. As a store's level, only the benchmark that
	// measures what FULL costs uses it; it is unexported so that no caller
	// can trade durability for speed. AddUsage commits at it for a moment,
	// within a bound; see usageSyncEvery.
	syncNormal synchronous = "NORMAL"
)

// pragmaValue is what PRAGMA synchronous reports for l.
func (l synchronous) pragmaValue() int {
	if l == syncNormal {
		return 1
	}
	return 2
}

// open is Open with the synchronous level given.
func open(ctx context.Context, path string, level synchronous) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create data directory: %w", err)
		}
	}
	// Create the file readable by its owner only; SQLite gives the -wal and
	// -shm files the same mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	} else {
		f.Close()
	}
	// busy_timeout comes first (the driver applies it first too): the
	// switch to WAL itself may have to wait for another connection.
	//
	// synchronous=FULL: in WAL mode, NORMAL syncs the WAL only at
	// checkpoints, so a commit that was acknowledged can still roll back
	// after an OS crash or a power cut, and a key deleted because it leaked
	// would authenticate again after the reboot. FULL syncs the WAL before
	// each commit returns. Only the write pool commits, so only management
	// calls pay for it; verification reads, and a warm key not even that.
	//
	// The one exception is usage counts. The usage recorder commits a
	// batch several times a second, and a sync there (3 to 9 ms measured)
	// stalls every request on a server given one core. So AddUsage commits
	// at NORMAL on its own, except at least once per usageSyncEvery (one
	// second, by Now) at FULL, whose sync makes every earlier frame of the
	// WAL durable too. Usage committed is then never lost to a process
	// crash (NORMAL's WAL frames are written before the commit returns),
	// and an OS crash or a power cut loses at most the counts committed in
	// about the last usageSyncEvery. The level is switched on the write
	// connection for that one transaction and set back before any other
	// write can use the connection, or the connection is discarded: see
	// inWriteTxNormal. Every other write (keys, apps, audit, sessions) is
	// always committed at FULL.
	//
	// The read pool gets FULL too, although it never commits. What else
	// the setting governs is checkpoints, and any connection may run one:
	// the last connection to close checkpoints the WAL into the database
	// and deletes it, and that may be a reader. NORMAL and FULL sync a
	// checkpoint alike, so this costs readers nothing; setting FULL keeps
	// that true without relying on it, and keeps a write ever sent through
	// the read pool as durable as any other.
	//
	// foreign_keys is per connection in SQLite and off by default; our
	// cascades rely on it.
	params := url.Values{}
	params.Set("_busy_timeout", "10000")
	params.Set("_journal_mode", "WAL")
	params.Set("_synchronous", string(level))
	params.Set("_foreign_keys", "on")
	params.Set("_time_format", "sqlite")
	readDSN := path + "?" + params.Encode()
	params.Set("_txlock", "immediate")
	// A statement that changes many rows (a usage flush's upsert, an
	// import's batch) keeps a statement journal, to undo itself alone on
	// a constraint error. Past 64 KiB SQLite spills it to a temporary file,
	// and creating and closing that file took 0.5 and 3 to 5 ms of system
	// calls, during which a server given one core answers nothing. In
	// memory it costs at most the size of the statement's changes.
	params.Add("_pragma", "temp_store(memory)")
	writeDSN := path + "?" + params.Encode()

	write, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	write.SetMaxOpenConns(1)
	read, err := sql.Open("sqlite", readDSN)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	read.SetMaxOpenConns(8)
	s := &Store{read: read, write: write, level: level, Now: time.Now}
	if err := s.connect(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepareStmts(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// connectTimeout bounds how long Open waits for another process that is
// turning the same new file into a WAL database; as long as busy_timeout.
const connectTimeout = 10 * time.Second

// connect opens a first connection in each pool. Each applies the DSN's
// pragmas, and the first to set journal_mode=WAL on a new file converts it,
// which needs an exclusive lock that SQLite does not wait for: a process
// starting beside another on a fresh file gets SQLITE_BUSY at once. So
// connect retries on SQLITE_BUSY until connectTimeout has passed. Once the
// file is in WAL mode (it stays so), connections open without the lock.
func (s *Store) connect(ctx context.Context) error {
	deadline := time.Now().Add(connectTimeout)
	for _, db := range []*sql.DB{s.write, s.read} {
		for {
			err := db.PingContext(ctx)
			if err == nil {
				break
			}
			var e *sqlite.Error
			if !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
			}
		}
	}
	return nil
}

// Close closes the prepared statements and both pools.
func (s *Store) Close() error {
	return errors.Join(s.closeStmts(), s.write.Close(), s.read.Close())
}

// migrate applies the embedded migrations not yet recorded, each in its own
// transaction, in file-name order.
func (s *Store) migrate(ctx context.Context) error {
	// Inside a write transaction, which begins IMMEDIATE and so waits its
	// turn (busy_timeout) behind another process migrating the same file.
	// A bare statement would read first and then need the write lock,
	// which SQLite refuses at once if another process wrote in between.
	if err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`)
		return err
	}); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	// A migration this binary does not know was applied by a newer one;
	// running on that schema could lose what the newer version relies on.
	if err := s.refuseNewerSchema(ctx, names); err != nil {
		return err
	}
	for _, name := range names {
		if err := s.applyMigration(ctx, name); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
	}
	return nil
}

// refuseNewerSchema returns an error naming the first migration recorded in
// the database that is not among known.
func (s *Store) refuseNewerSchema(ctx context.Context, known []string) error {
	rows, err := s.write.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		if !slices.Contains(known, name) {
			return fmt.Errorf("sqlite: the database has migration %s, which this latchkey does not know: "+
				"a newer version migrated it; run that version or a later one", name)
		}
	}
	return rows.Err()
}

func (s *Store) applyMigration(ctx context.Context, name string) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`,
		name, formatTime(s.Now())); err != nil {
		return err
	}
	return tx.Commit()
}

// inWriteTx runs fn in a write transaction and commits if it returns nil.
// The audit event ctx carries, if any, is written in the same transaction,
// after fn: a change is never committed without its event, nor an event
// without its change.
func (s *Store) inWriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.inTx(ctx, s.write.BeginTx, fn)
}

// inTx is inWriteTx with the transaction begun by begin: the write pool's,
// or a connection's taken from it.
func (s *Store) inTx(ctx context.Context, begin func(context.Context, *sql.TxOptions) (*sql.Tx, error), fn func(tx *sql.Tx) error) error {
	tx, err := begin(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if ev := latchkey.AuditEventFrom(ctx); ev != nil {
		if err := s.insertAuditEvents(ctx, tx, ev); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// inWriteTxNormal is inWriteTx with the commit made at synchronous=NORMAL:
// the WAL is written but not synced, so the commit survives the process
// crashing but may roll back after an OS crash or a power cut. Only
// AddUsage uses it, within the bound usageSyncEvery sets.
//
// PRAGMA synchronous belongs to the connection and cannot change inside a
// transaction. So this takes the write pool's one connection for itself,
// sets NORMAL, runs the transaction, and sets the store's level back
// before the connection returns to the pool. Every other write commits on
// that connection next, and a key deletion committed at NORMAL could come
// back after a power cut; so if setting the level back fails, for whatever
// reason, the connection is discarded (see restoreLevel), and the pool
// opens a new one, which the DSN sets to the store's level.
//
// The error is the transaction's: a batch committed is reported as such
// even if the level could not be set back, since a failed batch is sent
// again and would be counted twice.
func (s *Store) inWriteTxNormal(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Deferred, so that it runs whatever happens below, a panic included,
	// and before Close hands the connection back.
	defer s.restoreLevel(ctx, conn)
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = `+string(syncNormal)); err != nil {
		return err
	}
	return s.inTx(ctx, conn.BeginTx, fn)
}

// restoreLevel sets conn back to the store's synchronous level and reads it
// back. If either fails, it makes database/sql discard conn rather than
// pool it, and returns the error. It ignores ctx's cancellation and
// deadline: a request that gave up must not leave the connection at
// NORMAL.
func (s *Store) restoreLevel(ctx context.Context, conn *sql.Conn) error {
	ctx = context.WithoutCancel(ctx)
	_, err := conn.ExecContext(ctx, `PRAGMA synchronous = `+string(s.level))
	if err == nil {
		var got int
		err = conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&got)
		if err == nil && got != s.level.pragmaValue() {
			err = fmt.Errorf("sqlite: PRAGMA synchronous = %d after setting %s", got, s.level)
		}
	}
	if err != nil {
		// database/sql closes the driver connection, instead of pooling
		// it, when Raw's function returns driver.ErrBadConn. If conn is
		// already done (ErrConnDone), database/sql ended it early, which
		// it does only on driver.ErrBadConn, and so discarded it already.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return fmt.Errorf("sqlite: set synchronous back to %s: %w", s.level, err)
	}
	return nil
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// timeLayout is fixed-width, so that text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) { return time.Parse(timeLayout, s) }

func formatTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

func parseTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	return &t, err
}

// mapError turns driver errors into application errors where they have a
// meaning for callers.
func mapError(err error, subject string) error {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return &latchkey.Error{Code: latchkey.ECONFLICT, Subject: subject, Message: subject + " already exists"}
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return latchkey.NotFound(subject)
	}
	return err
}

// mustAffect returns ENOTFOUND for subject unless res changed a row.
func mustAffect(res sql.Result, subject string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return latchkey.NotFound(subject)
	}
	return nil
}

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
