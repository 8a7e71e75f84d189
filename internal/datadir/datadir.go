// Package datadir writes the files Latchkey keeps in its data directory
// beside the SQLite database (master.key, initial-credentials.json) so that
// a crash never leaves one half-written and two processes never overwrite
// each other's, and holds the lock that keeps two servers off one database.
package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrSymlink is returned for a destination that is a symbolic link: a
// secret is never written through one, wherever it points.
var ErrSymlink = errors.New("is a symbolic link; refusing to write a secret through it")

// CreateExclusive writes a new file, mode 0600, holding data, unless path
// already exists: then it returns an error satisfying errors.Is(err,
// fs.ErrExist) and leaves the existing file alone. The file appears whole or
// not at all: data goes to a temporary file that is synced, then linked to
// path (link never replaces), and the directory is synced.
func CreateExclusive(path string, data []byte) error {
	return write(path, data, func(tmp string) error { return os.Link(tmp, path) })
}

// Replace writes a file, mode 0600, holding data, replacing any file at path
// in one step (rename), so that a reader or a crash sees the old contents
// or the new, never a part. A symbolic link at path is refused.
func Replace(path string, data []byte) error {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s %w", path, ErrSymlink)
	}
	return write(path, data, func(tmp string) error { return os.Rename(tmp, path) })
}

// write puts data in a fresh temporary file beside path, syncs it, installs
// it with install, and syncs the directory so that the new name survives a
// power cut too.
func write(path string, data []byte, install func(tmp string) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// CreateTemp opens with O_EXCL: it never follows a planted symlink.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after link, the temporary name; after rename, nothing
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := install(tmp); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
