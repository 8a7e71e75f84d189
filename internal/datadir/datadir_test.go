package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCreateExclusiveNeverReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "master.key")
	if err := CreateExclusive(path, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := CreateExclusive(path, []byte("second")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create: err = %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "first" {
		t.Fatalf("file holds %q, want the first value", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	assertNoTemporaries(t, filepath.Dir(path), 1)
}

// TestCreateExclusiveRace has many writers race to create one file: exactly
// one wins, and the file holds the winner's value whole.
func TestCreateExclusiveRace(t *testing.T) {
	for trial := range 20 {
		dir := t.TempDir()
		path := filepath.Join(dir, "master.key")
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []string
		)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				value := fmt.Sprintf("value-%d-%0200d", i, i)
				err := CreateExclusive(path, []byte(value))
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, value)
					mu.Unlock()
				case !errors.Is(err, fs.ErrExist):
					t.Errorf("trial %d: %v", trial, err)
				}
			}()
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("trial %d: %d writers succeeded, want exactly 1", trial, len(winners))
		}
		if b, _ := os.ReadFile(path); string(b) != winners[0] {
			t.Fatalf("trial %d: file holds %q, want the winner's value", trial, b)
		}
		assertNoTemporaries(t, dir, 1)
	}
}

func TestSymlinksAreNotFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "initial-credentials.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Replace(link, []byte("secret")); !errors.Is(err, ErrSymlink) {
		t.Errorf("Replace through a symlink: err = %v, want ErrSymlink", err)
	}
	if err := CreateExclusive(link, []byte("secret")); err == nil {
		t.Error("CreateExclusive wrote through a symlink")
	}
	dangling := filepath.Join(dir, "master.key")
	if err := os.Symlink(filepath.Join(dir, "nothing-here"), dangling); err != nil {
		t.Fatal(err)
	}
	if err := CreateExclusive(dangling, []byte("secret")); err == nil {
		t.Error("CreateExclusive wrote through a dangling symlink")
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Fatalf("the symlink's target was changed to %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing-here")); !os.IsNotExist(err) {
		t.Fatal("a file was created at a dangling symlink's target")
	}
}

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "initial-credentials.json")
	for _, v := range []string{"old", "new"} {
		if err := Replace(path, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("file holds %q", b)
	}
	assertNoTemporaries(t, dir, 1)
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock conflicts between open file descriptions, so a second Lock in
	// this process stands for a second server.
	if _, err := Lock(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock: err = %v, want ErrLocked", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock, err = Lock(dir)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock()
}

// assertNoTemporaries checks that dir holds exactly want files besides the
// lock: no temporary file was left behind.
func assertNoTemporaries(t *testing.T, dir string, want int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != want {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("%s holds %v, want %d file(s)", dir, names, want)
	}
}
