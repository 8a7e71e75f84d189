package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/internal/datadir"
	"github.com/latchkey/latchkey/store/sqlite"
)

// pgBackupAdvice is what backup and restore answer for a PostgreSQL
// database: its own tools do it better than latchkey could, online.
const pgBackupAdvice = `with PostgreSQL, use PostgreSQL's own tools; latchkey backup and restore are for SQLite.
Back up (a consistent snapshot, while the servers run):
  pg_dump --format=custom --file latchkey.dump "$DSN"
Restore (with every latchkey server on the database stopped):
  pg_restore --clean --if-exists --dbname "$DSN" latchkey.dump
where DSN is the --db (LATCHKEY_DB) of the servers. The master key is not in the dump: keep it separately`

// backupCommand runs "latchkey backup --out FILE": a consistent copy of
// the SQLite database, taken while a server runs on it (no lock needed:
// it is one read transaction, which the server's writers do not wait
// for), checked, and written atomically, mode 0600 (sqlite.Backup). The
// database is neither created nor migrated. The master key is not in the
// backup: the command says where it is, never what it is.
func backupCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		out   string
		force bool
	)
	cfg, err := parseConfig("backup", args, getenv, stderr, func(fs *flagSet) {
		fs.StringVar(&out, "out", "", "the file to write the backup to (required); refused if it exists, unless --force")
		fs.BoolVar(&force, "force", false, "replace --out if it exists")
	})
	if err != nil {
		return postgresOr(err, args, getenv)
	}
	if cfg.postgresDSN != "" {
		return errors.New(pgBackupAdvice)
	}
	if out == "" {
		return errors.New("--out FILE is required: the file to write the backup to")
	}
	if _, err := os.Stat(cfg.sqlitePath); err != nil {
		return fmt.Errorf("no database to back up at %s (--db, LATCHKEY_DB): %w", cfg.sqlitePath, err)
	}
	logger := cfg.newLogger(stderr)
	info, err := sqlite.Backup(ctx, cfg.sqlitePath, out, force)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: give --force to replace it, or another --out", out)
	}
	if err != nil {
		return err
	}
	where, missing := masterKeyLocation(cfg)
	logger.Info("backup written and verified", "file", out, "bytes", info.Size, "schema", info.Schema,
		"accounts", info.Accounts, "keys", info.Keys)
	logger.Warn("the master key is NOT in the backup, and the backup is useless without it: back the master key up "+
		"separately (the one in use now; after a rotate-master-key, older backups need the older key)", "master_key", where)
	if missing {
		logger.Warn("there is no master key file where this configuration looks for it: find the key the server uses "+
			"before you rely on this backup", "master_key", where)
	}
	return json.NewEncoder(stdout).Encode(map[string]any{
		"file": out, "bytes": info.Size, "schema": info.Schema, "accounts": info.Accounts, "keys": info.Keys, "verified": true,
		"masterKey": "not in the backup: it is " + where + "; back it up separately",
	})
}

// restoreCommand runs "latchkey restore --from FILE": it replaces the
// SQLite database --db names with the backup, after checking it whole and
// sealed under the master key configured, as serve would find it. It
// takes the data directory's lock, so it refuses while a server runs there
// and no server starts until it is done. A database already there is
// replaced only with --force, and then kept as FILE.bak-TIMESTAMP unless
// --no-keep. See sqlite.Restore for the steps.
func restoreCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		from          string
		force, noKeep bool
	)
	cfg, err := parseConfig("restore", args, getenv, stderr, func(fs *flagSet) {
		fs.StringVar(&from, "from", "", "the backup file to restore (required), made by latchkey backup")
		fs.BoolVar(&force, "force", false, "replace the database at --db if there is one; it is kept as FILE.bak-TIMESTAMP unless --no-keep")
		fs.BoolVar(&noKeep, "no-keep", false, "with --force: do not keep the database replaced")
	})
	if err != nil {
		return postgresOr(err, args, getenv)
	}
	if cfg.postgresDSN != "" {
		return errors.New(pgBackupAdvice)
	}
	if from == "" {
		return errors.New("--from FILE is required: the backup to restore")
	}
	unlock, err := datadir.Lock(cfg.dataDir)
	if err != nil {
		if errors.Is(err, datadir.ErrLocked) {
			return fmt.Errorf("%w (%s is locked): stop it before restoring; nothing was changed",
				datadir.ErrLocked, filepath.Join(cfg.dataDir, datadir.LockFile))
		}
		return err
	}
	defer unlock()
	logger := cfg.newLogger(stderr)
	where, _ := masterKeyLocation(cfg)
	res, err := sqlite.Restore(ctx, from, cfg.sqlitePath, sqlite.RestoreOptions{Replace: force, NoKeep: noKeep,
		Check: func(ctx context.Context, s *sqlite.Store) error {
			// What serve checks at start, on the copy, before it replaces
			// anything: so that a restore with the wrong key stops here.
			if sealed, err := core.IsSealed(ctx, s); err != nil {
				return err
			} else if !sealed {
				return errors.New("the backup was never sealed with a master key (no server or bootstrap ever ran on it): nothing to restore")
			}
			keys, err := resolveMasterKey(ctx, cfg, s, logger)
			if err == nil {
				err = core.CheckMasterKey(ctx, s, keys)
			}
			if err != nil {
				return fmt.Errorf("the backup does not open with the master key %s: %w; give the master key that was in use "+
					"when the backup was taken (LATCHKEY_MASTER_KEY or --master-key-file, or master.key beside the database). "+
					"Nothing was changed", where, err)
			}
			return nil
		}})
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("a database is already at %s: give --force to replace it (it is kept as %s.bak-TIMESTAMP unless --no-keep); nothing was changed",
			cfg.sqlitePath, filepath.Base(cfg.sqlitePath))
	}
	if err != nil {
		return err
	}
	attrs := []any{"database", cfg.sqlitePath, "from", from, "schema", res.Info.Schema, "accounts", res.Info.Accounts, "keys", res.Info.Keys}
	if res.Kept != "" {
		attrs = append(attrs, "previous_kept_as", res.Kept)
	}
	logger.Info("restored; start the server with the same master key", attrs...)
	return json.NewEncoder(stdout).Encode(map[string]any{
		"restored": cfg.sqlitePath, "from": from, "schema": res.Info.Schema, "accounts": res.Info.Accounts, "keys": res.Info.Keys,
		"replaced": res.Replaced, "kept": res.Kept,
	})
}

// masterKeyLocation says where the configuration takes the master key
// from, as resolveMasterKey looks for it (never the key itself), and
// whether that is a file that is not there.
func masterKeyLocation(cfg *config) (where string, missing bool) {
	path := cfg.masterKeyFile
	switch {
	case cfg.masterKeyText != "":
		return "in the environment variable LATCHKEY_MASTER_KEY", false
	case path == "":
		path = filepath.Join(cfg.dataDir, "master.key")
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	_, err := os.Stat(path)
	return "in the file " + path, errors.Is(err, fs.ErrNotExist)
}

// postgresOr returns the advice to use pg_dump in place of err when the
// command line or LATCHKEY_DB names a PostgreSQL database: parseConfig
// refuses one without a master key, which neither command needs, and the
// advice is the answer either way. Errors of the flags themselves stay.
func postgresOr(err error, args []string, getenv func(string) string) error {
	var shown *flagError
	if errors.Is(err, flag.ErrHelp) || errors.As(err, &shown) {
		return err
	}
	db := getenv("LATCHKEY_DB")
	for i, a := range args {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue // a flag's value
		}
		name, value, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "db" {
			continue
		}
		if !inline && i+1 < len(args) {
			value = args[i+1]
		}
		db = value
	}
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return errors.New(pgBackupAdvice)
	}
	return err
}
