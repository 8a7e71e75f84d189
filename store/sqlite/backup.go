package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// BackupInfo is what VerifyBackup found in a backup (or a restored
// database): enough to tell that it is whole, and whose it is.
type BackupInfo struct {
	// Path is the file checked.
	Path string
	// Size is its length in bytes.
	Size int64
	// Migrations are the migrations recorded in it, in order; Schema is
	// the last of them, the version of its schema.
	Migrations []string
	Schema     string
	// Accounts and Keys are its counts of accounts and of keys.
	Accounts, Keys int64
}

// Backup writes a consistent copy of the SQLite database at src to dst
// while servers use src, and verifies it (see VerifyBackup). Unlike Open it
// neither creates nor migrates src: a backup taken by a newer latchkey
// before an upgrade must hold the schema the running server wrote. dst is
// written as (*Store).BackupTo writes it.
func Backup(ctx context.Context, src, dst string, overwrite bool) (*BackupInfo, error) {
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("sqlite: backup: the database: %w", err)
	}
	// mode=rw: open what is there, never create it. A reader of a WAL
	// database writes only the -shm index, as the server's readers do.
	db, err := sql.Open("sqlite", fileURI(src, url.Values{"mode": {"rw"}, "_busy_timeout": {"10000"}}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	defer db.Close()
	return backup(ctx, db, src, dst, overwrite)
}

// BackupTo writes a consistent copy of the store's database to dst, and
// verifies it, while the store, and any server beside it, keeps working.
//
// The copy is SQLite's VACUUM INTO, which reads the database in one read
// transaction: a snapshot of the last commit before it began, WAL and all,
// which writers do not wait for. It is written to a temporary file beside
// dst, synced, checked by VerifyBackup (and its migrations compared with
// the database's), and only then installed, mode 0600, in one step: a
// reader or a crash finds the whole backup at dst or none. dst is not
// replaced if it exists, unless overwrite; then the error satisfies
// errors.Is(err, fs.ErrExist).
func (s *Store) BackupTo(ctx context.Context, dst string, overwrite bool) (*BackupInfo, error) {
	var src string
	if err := s.read.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&src); err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	return backup(ctx, s.read, src, dst, overwrite)
}

// backup is BackupTo from the database db has open at src.
func backup(ctx context.Context, db *sql.DB, src, dst string, overwrite bool) (*BackupInfo, error) {
	if dst == "" {
		return nil, errors.New("sqlite: backup: no destination file")
	}
	if err := refuseOwnFiles(src, dst); err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	if !overwrite {
		if _, err := os.Lstat(dst); err == nil {
			return nil, fmt.Errorf("sqlite: backup: %s: %w", dst, fs.ErrExist)
		}
	}
	dir := filepath.Dir(dst)
	// CreateTemp: O_EXCL, mode 0600. VACUUM INTO writes into an empty file.
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	tmp := f.Name()
	f.Close()
	defer removeFiles(tmp, tmp+"-journal") // once installed, only a second name of dst
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return nil, fmt.Errorf("sqlite: backup: VACUUM INTO: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	info, err := VerifyBackup(ctx, tmp)
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: the copy fails its check: %w", err)
	}
	want, err := appliedMigrations(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	if !slices.Equal(info.Migrations, want) {
		return nil, fmt.Errorf("sqlite: backup: the copy's migrations %v are not the database's %v", info.Migrations, want)
	}
	if overwrite {
		err = os.Rename(tmp, dst)
	} else {
		err = os.Link(tmp, dst) // never replaces: one made meanwhile stays
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("sqlite: backup: %s: %w", dst, fs.ErrExist)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("sqlite: backup: %w", err)
	}
	info.Path = dst
	return info, nil
}

// VerifyBackup checks the SQLite database at path without changing it
// (read-only, no journal, no migration): PRAGMA integrity_check answers ok
// and foreign_key_check finds nothing, it has the migrations table with
// migrations this latchkey knows (a backup made by a newer one is
// refused: this one could not serve it), and its accounts and keys can be
// read. It returns what it found. Use it on a file no process writes to,
// such as a backup.
func VerifyBackup(ctx context.Context, path string) (*BackupInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	// immutable: no locks, no -wal or -shm looked for or made; the file
	// alone is the database, as a backup must be.
	db, err := sql.Open("sqlite", fileURI(path, url.Values{"mode": {"ro"}, "immutable": {"1"}}))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	info := &BackupInfo{Path: path, Size: st.Size()}
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return nil, notDatabase(path, err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return nil, notDatabase(path, err)
		}
		// One row may hold many lines; a few say enough.
		for l := range strings.Lines(line) {
			if l = strings.TrimSpace(l); l != "ok" && l != "" && len(problems) < 3 {
				problems = append(problems, l)
			}
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, notDatabase(path, err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s is damaged: integrity_check: %s", path, strings.Join(problems, "; "))
	}
	var violations int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_foreign_key_check`).Scan(&violations); err != nil {
		return nil, notDatabase(path, err)
	}
	if violations > 0 {
		return nil, fmt.Errorf("%s is damaged: %d rows refer to rows that are not there (foreign_key_check)", path, violations)
	}
	if info.Migrations, err = appliedMigrations(ctx, db); err != nil {
		return nil, fmt.Errorf("%s is not a latchkey database: %w", path, err)
	}
	if len(info.Migrations) == 0 {
		return nil, fmt.Errorf("%s is not a latchkey database: it has no migrations", path)
	}
	info.Schema = strings.TrimSuffix(strings.TrimPrefix(info.Migrations[len(info.Migrations)-1], "migrations/"), ".sql")
	known, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	for _, name := range info.Migrations {
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("%s has migration %s, which this latchkey does not know: a newer version made it; use that version or a later one", path, name)
		}
	}
	for _, c := range []struct {
		table string
		n     *int64
	}{{"accounts", &info.Accounts}, {"keys", &info.Keys}} {
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+c.table).Scan(c.n); err != nil {
			return nil, fmt.Errorf("%s: read %s: %w", path, c.table, err)
		}
	}
	return info, nil
}

// notDatabase says that the file at path could not be read as a database.
func notDatabase(path string, err error) error {
	return fmt.Errorf("%s is not a whole SQLite database (truncated, damaged, or another kind of file): %w", path, err)
}

// appliedMigrations returns the names in schema_migrations, in order.
func appliedMigrations(ctx context.Context, db querier) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, rows.Err()
}

// RestoreOptions are Restore's choices.
type RestoreOptions struct {
	// Replace lets Restore replace a database that exists at dst; without
	// it, one there is an error satisfying errors.Is(err, fs.ErrExist).
	Replace bool
	// NoKeep drops the database replaced; by default it is kept beside
	// dst, as dst.bak-TIMESTAMP (with its -wal, if it had one).
	NoKeep bool
	// Check, if set, is run on the restored copy, open as a Store, before
	// it replaces anything: an error stops the restore with nothing
	// changed. The caller checks the master key here.
	Check func(ctx context.Context, s *Store) error
	// Now is the time in the name of the kept database; default time.Now.
	Now func() time.Time
}

// RestoreResult is what Restore did.
type RestoreResult struct {
	// Info is the check of the backup as it was restored.
	Info *BackupInfo
	// Replaced is whether a database was replaced, and Kept where it was
	// kept ("" if it was not).
	Replaced bool
	Kept     string
}

// Restore replaces the database at dst with a copy of the backup at src.
// Nothing may use dst meanwhile: the caller holds the data directory's
// lock.
//
// It checks the backup (VerifyBackup), copies it to a temporary file beside
// dst, syncs it, opens that as a Store (which applies the migrations the
// backup lacks, if an older latchkey made it) and runs opts.Check on it;
// so far nothing at dst has changed. Then, if a database is at dst, it
// keeps it as dst.bak-TIMESTAMP (hard links: the database and its -wal,
// which holds commits not yet copied into it), removes its -wal, -shm
// and -journal (SQLite would otherwise apply the old database's journal
// to the new one), and renames the copy to dst: a crash at any point
// leaves the old database (without its latest commits, which the kept
// copy has) or the restored one at dst.
func Restore(ctx context.Context, src, dst string, opts RestoreOptions) (*RestoreResult, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := refuseOwnFiles(dst, src); err != nil {
		return nil, fmt.Errorf("sqlite: restore: %w", err)
	}
	if _, err := VerifyBackup(ctx, src); err != nil {
		return nil, fmt.Errorf("sqlite: restore: the backup fails its check: %w", err)
	}
	_, statErr := os.Lstat(dst)
	exists := statErr == nil
	if exists && !opts.Replace {
		return nil, fmt.Errorf("sqlite: restore: a database is at %s: %w", dst, fs.ErrExist)
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: restore: %w", err)
	}
	tmp, err := copyToTemp(src, dir, "."+filepath.Base(dst)+".restore-*")
	if err != nil {
		return nil, fmt.Errorf("sqlite: restore: copy the backup: %w", err)
	}
	defer removeFiles(tmp, tmp+"-wal", tmp+"-shm", tmp+"-journal")
	if err := prepareRestored(ctx, tmp, opts.Check); err != nil {
		return nil, err
	}
	info, err := VerifyBackup(ctx, tmp)
	if err != nil {
		return nil, fmt.Errorf("sqlite: restore: the restored copy fails its check: %w", err)
	}
	res := &RestoreResult{Info: info, Replaced: exists}
	if exists && !opts.NoKeep {
		kept := dst + ".bak-" + opts.Now().UTC().Format("20060102T150405Z")
		if err := keep(dst, kept); err != nil {
			return nil, fmt.Errorf("sqlite: restore: keep the old database: %w", err)
		}
		res.Kept = kept
	}
	// The old database's journals go before the new file comes: SQLite
	// would take them for the new one's.
	if err := removeFiles(dst+"-wal", dst+"-shm", dst+"-journal"); err != nil {
		return nil, fmt.Errorf("sqlite: restore: remove the old database's journal: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("sqlite: restore: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return nil, fmt.Errorf("sqlite: restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("sqlite: restore: %w", err)
	}
	res.Info.Path = dst
	return res, nil
}

// prepareRestored opens the copy at path as a Store, runs check on it, and
// closes it with its WAL copied into it and gone, so that the file alone
// is the database when it is renamed.
func prepareRestored(ctx context.Context, path string, check func(context.Context, *Store) error) (err error) {
	s, err := Open(ctx, path)
	if err != nil {
		return fmt.Errorf("sqlite: restore: open the backup: %w", err)
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("sqlite: restore: %w", cerr)
		}
		if err == nil {
			err = walGone(path)
		}
	}()
	if check != nil {
		if err := check(ctx, s); err != nil {
			return err
		}
	}
	// TRUNCATE: every frame copied into the database and the WAL emptied;
	// busy is 1 if a reader stopped it, which no one else can be here.
	var busy, frames, copied int
	if err := s.write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied); err != nil {
		return fmt.Errorf("sqlite: restore: checkpoint: %w", err)
	}
	if busy != 0 {
		return errors.New("sqlite: restore: checkpoint: the restored copy is in use")
	}
	return nil
}

// walGone removes the empty -wal and the -shm a closed database at path
// may leave, and fails if the -wal still holds anything.
func walGone(path string) error {
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		return fmt.Errorf("sqlite: restore: %s-wal was not copied into the database", path)
	}
	return removeFiles(path+"-wal", path+"-shm")
}

// keep makes kept a second name of the database at path, and kept-wal of
// its -wal if it has one; a copy where hard links cannot be made.
func keep(path, kept string) error {
	for _, suffix := range []string{"", "-wal"} {
		from, to := path+suffix, kept+suffix
		if _, err := os.Lstat(from); errors.Is(err, fs.ErrNotExist) && suffix != "" {
			continue
		}
		if err := os.Link(from, to); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return err
			}
			tmp, cerr := copyToTemp(from, filepath.Dir(to), "."+filepath.Base(to)+".tmp-*")
			if cerr != nil {
				return errors.Join(err, cerr)
			}
			if lerr := os.Link(tmp, to); lerr != nil {
				os.Remove(tmp)
				return lerr
			}
			os.Remove(tmp)
		}
	}
	return syncDir(filepath.Dir(kept))
}

// refuseOwnFiles fails if dst is the database at db or one of its
// journals: a backup or restore onto itself.
func refuseOwnFiles(db, dst string) error {
	a, err1 := filepath.Abs(db)
	b, err2 := filepath.Abs(dst)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if b == a+suffix {
			return fmt.Errorf("%s is the database's own file", dst)
		}
	}
	if s1, err := os.Stat(db); err == nil {
		if s2, err := os.Stat(dst); err == nil && os.SameFile(s1, s2) {
			return fmt.Errorf("%s is the database itself", dst)
		}
	}
	return nil
}

// copyToTemp copies the file at src to a new file in dir (named by
// pattern, as os.CreateTemp does), mode 0600, synced; it returns its name.
func copyToTemp(src, dir, pattern string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}

// removeFiles removes the files that exist among paths.
func removeFiles(paths ...string) error {
	var errs []error
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// fileURI is an SQLite URI filename for path with the given parameters,
// escaped so that any path works.
func fileURI(path string, params url.Values) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: params.Encode()}
	return u.String()
}
