package sqlite

import (
	"context"
	"errors"

	"github.com/latchkey/latchkey"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// markUnavailable replaces *err with latchkey.EUNAVAILABLE (the driver's
// error kept as its cause) when it says the database cannot be used right
// now, so that the surfaces answer 503 rather than 500. Every exported
// method defers it. Application errors are left as they are.
func markUnavailable(err *error) {
	if *err != nil && unusable(*err) {
		*err = latchkey.Unavailable(*err)
	}
}

// unusable reports whether err is the database file being out of use
// rather than the request being wrong:
//   - SQLITE_BUSY and SQLITE_LOCKED: another process held the file past
//     busy_timeout (10 s). It goes away by itself; a retry may pass.
//   - SQLITE_IOERR, SQLITE_FULL, SQLITE_READONLY, SQLITE_CANTOPEN: the
//     disk failed, filled up, or the file or its directory was made
//     read-only or removed. The operator must act, but nothing is wrong
//     with the request, and SQLite rolled the transaction back, so nothing
//     was half-written.
//   - A deadline passed while waiting for a connection.
//
// SQLITE_CORRUPT and SQLITE_NOTADB stay internal errors: a retry cannot
// help, and they must be looked at.
func unusable(err error) bool {
	var app *latchkey.Error
	if errors.As(err, &app) {
		return false
	}
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
			sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN:
			return true
		}
		return false
	}
	return errors.Is(err, context.DeadlineExceeded)
}
