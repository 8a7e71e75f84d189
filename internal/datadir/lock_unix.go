//go:build unix

package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is the name of the lock file in a data directory.
const LockFile = "latchkey.lock"

// ErrLocked is returned by Lock when another process holds the lock.
var ErrLocked = errors.New("another latchkey server is running on this data directory")

// Lock takes an exclusive lock on the data directory dir (creating it if
// needed), so that two servers never run on one SQLite file and its
// master.key. It does not wait: if another process holds the lock it
// returns ErrLocked. The lock is an flock(2) on dir/latchkey.lock, which the
// kernel releases when the process ends, however it ends, so a crash never
// leaves a stale lock behind. The lock file stays empty.
func Lock(dir string) (unlock func() error, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s is locked); stop it, or give this one its own --db", ErrLocked, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f.Close, nil // closing the descriptor releases the lock
}
