//go:build !unix

package datadir

import "errors"

// LockFile is the name of the lock file in a data directory.
const LockFile = "latchkey.lock"

// ErrLocked is returned by Lock when another process holds the lock.
var ErrLocked = errors.New("another latchkey server is running on this data directory")

// Lock is not implemented off Unix: there, nothing stops two servers on one
// data directory, and the operator must make sure of it.
func Lock(dir string) (unlock func() error, err error) {
	return func() error { return nil }, nil
}
