package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// addAccount writes account number i with one key, as one transaction.
func addAccount(ctx context.Context, s *Store, i int) error {
	a := &latchkey.Account{ID: fmt.Sprintf("a%023d", i), Name: "A"}
	k := &latchkey.Key{ID: fmt.Sprintf("k%023d", i), AccountID: a.ID, Name: "k",
		Policy:  latchkey.Policy{Type: latchkey.KeyTypeSecret},
		Secrets: []latchkey.Secret{{Hash: fmt.Appendf(nil, "hash%d", i), Sealed: []byte("sealed")}}}
	return s.CreateAccountWithKey(ctx, a, k)
}

// leftovers lists the temporary files in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") || strings.Contains(e.Name(), ".restore-") {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestBackupWhileWriting: a backup taken while another goroutine commits
// an account with its key every few hundred microseconds holds every
// account committed before it began and none half-written, passes its
// check, has the database's migrations, is mode 0600, and leaves no
// temporary file. A second backup to the same file is refused unless told
// to overwrite; a backup onto the database itself is refused either way.
func TestBackupWhileWriting(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openAt(t, filepath.Join(dir, "latchkey.db"))
	var committed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := addAccount(ctx, s, i); err != nil {
				t.Error(err)
				return
			}
			committed.Store(int64(i + 1))
		}
	})
	for committed.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	before := committed.Load()
	info, err := s.BackupTo(ctx, out, false)
	after := committed.Load()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("BackupTo() error = %v", err)
	}
	if info.Accounts < before || info.Accounts > after+1 || info.Keys != info.Accounts {
		t.Errorf("backup has %d accounts and %d keys; %d accounts were committed before it began, %d when it ended",
			info.Accounts, info.Keys, before, after)
	}
	if before == after {
		t.Logf("no commit during the backup (%d before)", before)
	}
	if len(info.Migrations) == 0 || info.Schema == "" || strings.Contains(info.Schema, "/") {
		t.Errorf("info = %+v, want the migrations and the schema version", info)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 || st.Size() != info.Size {
		t.Errorf("backup file: %v, %v; want mode 0600 and %d bytes", st, err, info.Size)
	}
	if left := leftovers(t, filepath.Dir(out)); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// The backup alone is the database: Open on it sees the same data.
	copyStore := openAt(t, out)
	if n, err := copyStore.CountAccounts(ctx); err != nil || int64(n) != info.Accounts {
		t.Errorf("the backup opened: %d accounts, %v; want %d", n, err, info.Accounts)
	}

	if _, err := s.BackupTo(ctx, out, false); !errors.Is(err, fs.ErrExist) {
		t.Errorf("BackupTo an existing file: %v, want fs.ErrExist", err)
	}
	if _, err := s.BackupTo(ctx, filepath.Join(filepath.Dir(out), "other.db"), true); err != nil {
		t.Errorf("BackupTo a new file with overwrite: %v", err)
	}
	if _, err := s.BackupTo(ctx, out, true); err != nil {
		t.Errorf("BackupTo an existing file with overwrite: %v", err)
	}
	for _, own := range []string{"latchkey.db", "latchkey.db-wal", "latchkey.db-shm"} {
		if _, err := s.BackupTo(ctx, filepath.Join(dir, own), true); err == nil || !strings.Contains(err.Error(), "own file") {
			t.Errorf("BackupTo(%s) = %v, want a refusal", own, err)
		}
	}
	if n, err := s.CountAccounts(ctx); err != nil || int64(n) != committed.Load() {
		t.Errorf("the database after the refusals: %d accounts, %v; want %d", n, err, committed.Load())
	}
}

// Backup (by path) does not create a database that is not there, and
// does not migrate one: the copy has the migrations the file had.
func TestBackupByPathDoesNotMigrate(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	if _, err := Backup(ctx, filepath.Join(dir, "missing.db"), filepath.Join(dir, "out.db"), false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Backup of a missing database: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("Backup created the database it was to copy")
	}
	path := filepath.Join(dir, "latchkey.db")
	s := openAt(t, path)
	if err := addAccount(ctx, s, 1); err != nil {
		t.Fatal(err)
	}
	last, _ := appliedMigrations(ctx, s.read)
	if _, err := s.write.ExecContext(ctx, `DELETE FROM schema_migrations WHERE name = ?`, last[len(last)-1]); err != nil {
		t.Fatal(err)
	}
	info, err := Backup(ctx, path, filepath.Join(dir, "out.db"), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Migrations) != len(last)-1 || info.Accounts != 1 {
		t.Errorf("backup: %+v; want %d migrations, the file's, and 1 account", info, len(last)-1)
	}
}

// writeBackup makes a database with n accounts and backs it up to a new
// file, which it returns.
func writeBackup(t *testing.T, n int) string {
	t.Helper()
	s := openAt(t, filepath.Join(t.TempDir(), "src.db"))
	for i := range n {
		if err := addAccount(t.Context(), s, i); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	if _, err := s.BackupTo(t.Context(), out, false); err != nil {
		t.Fatal(err)
	}
	return out
}

// VerifyBackup refuses a truncated file, one with a damaged page, an
// empty one, and one that is not a database, saying what is wrong.
func TestVerifyBackupRefusesDamage(t *testing.T) {
	ctx := t.Context()
	good := writeBackup(t, 300)
	if _, err := VerifyBackup(ctx, good); err != nil {
		t.Fatalf("VerifyBackup(good) = %v", err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(b)
	// Overwrite a page past the first few (the schema) with garbage, its
	// header and cell pointers included: a b-tree page that no longer
	// parses.
	mid := len(b) / 2 / 4096 * 4096
	copy(damaged[mid:mid+4000], bytes.Repeat([]byte{0xA5, 0x17}, 2000))
	for name, data := range map[string][]byte{
		"truncated":    b[:len(b)/2],
		"damaged":      damaged,
		"empty":        nil,
		"not sqlite":   []byte(strings.Repeat("not a database\n", 500)),
		"header alone": b[:100],
	} {
		path := filepath.Join(t.TempDir(), "backup.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyBackup(ctx, path); err == nil {
			t.Errorf("%s: VerifyBackup accepted it", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
			t.Errorf("%s: VerifyBackup changed the file", name)
		}
		if _, err := os.Stat(path + "-wal"); err == nil {
			t.Errorf("%s: VerifyBackup made a -wal", name)
		}
	}
}

// TestRestoreReplacesAndKeeps: Restore refuses to replace a database
// unless told to; told to, it keeps the old one, with the commits still in
// its WAL, as .bak-TIMESTAMP, and the restored database does not take in
// the old WAL. A Check that fails changes nothing.
func TestRestoreReplacesAndKeeps(t *testing.T) {
	ctx := t.Context()
	backup := writeBackup(t, 3)

	// The old database, as a server that died left it: commits in its
	// WAL, not yet in the file.
	dir := t.TempDir()
	dst := filepath.Join(dir, "latchkey.db")
	{
		live := filepath.Join(t.TempDir(), "live.db")
		s := openAt(t, live)
		for i := 100; i < 105; i++ {
			if err := addAccount(ctx, s, i); err != nil {
				t.Fatal(err)
			}
		}
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(live + suffix)
			if err != nil {
				t.Fatal(err)
			}
			if suffix == "-wal" && len(b) == 0 {
				t.Fatal("the WAL is empty: the test needs commits in it")
			}
			if err := os.WriteFile(dst+suffix, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	snapshot := func() map[string][]byte {
		m := map[string][]byte{}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			m[e.Name()], _ = os.ReadFile(filepath.Join(dir, e.Name()))
		}
		return m
	}
	unchanged := func(what string, before map[string][]byte) {
		t.Helper()
		after := snapshot()
		if len(after) != len(before) {
			t.Errorf("%s: the directory now holds %v", what, slices.Sorted(maps.Keys(after)))
		}
		for name, b := range before {
			if !bytes.Equal(after[name], b) {
				t.Errorf("%s: %s changed", what, name)
			}
		}
	}

	before := snapshot()
	if _, err := Restore(ctx, backup, dst, RestoreOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Restore over a database without Replace: %v, want fs.ErrExist", err)
	}
	unchanged("refused without Replace", before)
	refused := errors.New("wrong master key")
	if _, err := Restore(ctx, backup, dst, RestoreOptions{Replace: true, Check: func(context.Context, *Store) error { return refused }}); !errors.Is(err, refused) {
		t.Errorf("Restore with a failing check: %v", err)
	}
	unchanged("refused by its check", before)

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var checked int
	res, err := Restore(ctx, backup, dst, RestoreOptions{Replace: true, Now: func() time.Time { return now },
		Check: func(ctx context.Context, s *Store) error {
			n, err := s.CountAccounts(ctx)
			checked = n
			return err
		}})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if checked != 3 || !res.Replaced || res.Info.Accounts != 3 {
		t.Errorf("Restore: checked %d accounts, result %+v %+v", checked, res, res.Info)
	}
	wantKept := dst + ".bak-20260102T030405Z"
	if res.Kept != wantKept {
		t.Errorf("kept as %q, want %q", res.Kept, wantKept)
	}
	if left := leftovers(t, dir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(dst + suffix); err == nil {
			t.Errorf("%s%s is still there after the restore", dst, suffix)
		}
	}
	if st, err := os.Stat(dst); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("restored database: %v, %v; want mode 0600", st, err)
	}
	restored := openAt(t, dst)
	if n, err := restored.CountAccounts(ctx); err != nil || n != 3 {
		t.Errorf("restored: %d accounts, %v; want 3 (the backup's, nothing of the old WAL)", n, err)
	}
	kept := openAt(t, wantKept)
	if n, err := kept.CountAccounts(ctx); err != nil || n != 5 {
		t.Errorf("the kept database: %d accounts, %v; want 5, its WAL's commits included", n, err)
	}

	// NoKeep: nothing kept, and into a directory with no database yet,
	// Replace is not needed.
	restored.Close()
	if res, err := Restore(ctx, backup, dst, RestoreOptions{Replace: true, NoKeep: true}); err != nil || res.Kept != "" {
		t.Errorf("Restore NoKeep: %+v, %v", res, err)
	}
	fresh := filepath.Join(t.TempDir(), "new", "latchkey.db")
	if res, err := Restore(ctx, backup, fresh, RestoreOptions{}); err != nil || res.Replaced {
		t.Errorf("Restore into a new directory: %+v, %v", res, err)
	}
	if _, err := Restore(ctx, fresh, fresh, RestoreOptions{Replace: true}); err == nil {
		t.Error("Restore of a database onto itself was not refused")
	}
}
