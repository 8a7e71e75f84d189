package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/latchkey/latchkey"
)

// markUnavailable replaces *err with latchkey.EUNAVAILABLE (the driver's
// error kept as its cause) when it says the database could not be reached
// or did not answer in time, so that every surface answers 503 and the
// client retries, instead of 500. Every exported method defers it. An
// application error is left as it is: a NOT_FOUND, a CONFLICT, or an error
// a caller's callback returned is an answer, not an outage.
func markUnavailable(err *error) {
	if *err != nil && unreachable(*err) {
		*err = latchkey.Unavailable(*err)
	}
}

// unreachable reports whether err is the database being out of reach:
// what a client cannot fix by changing its request and may see go away by
// retrying. A constraint violation, a syntax error or bad text is not: the
// server answered.
func unreachable(err error) bool {
	var app *latchkey.Error
	if errors.As(err, &app) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The server answered, with an error that says it cannot serve
		// now rather than that the statement was wrong.
		switch code := pgErr.Code; {
		case strings.HasPrefix(code, "08"): // connection exception
			return true
		case code == "57P01", // admin_shutdown: the server is stopping (fast shutdown)
			code == "57P02", // crash_shutdown
			code == "57P03", // cannot_connect_now: starting up, shutting down, recovering
			code == "53300", // too_many_connections
			code == "57014": // query_canceled: statement_timeout, or a cancel on the caller's deadline
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr):
		// Connecting failed: refused, no socket, DNS, TLS, or the server
		// refused the login (a password changed under a running node is
		// an outage for its clients too).
		return true
	case pgconn.SafeToRetry(err):
		// Failed before anything was sent: a closed connection, a failed
		// dial inside the pool.
		return true
	case pgconn.Timeout(err), errors.Is(err, context.DeadlineExceeded):
		// A deadline passed while acquiring a connection or waiting for
		// the server's answer.
		return true
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, net.ErrClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// The connection went away under a statement.
		return true
	case errors.As(err, &netErr):
		return true
	}
	return false
}
