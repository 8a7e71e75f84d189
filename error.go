package latchkey

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Every layer speaks these; each HTTP surface maps them to its own
// status codes and error format in one place.
const (
	EINVALID      = "invalid"      // the request is malformed or breaks a rule
	ENOTFOUND     = "not_found"    // the resource does not exist (or is not visible)
	ECONFLICT     = "conflict"     // the resource already exists
	ELIMIT        = "limit"        // a quota, such as keys per owner, is full
	EUNAUTHORIZED = "unauthorized" // no valid credential
	EFORBIDDEN    = "forbidden"    // a valid credential, outside its rights
	// EUNAVAILABLE: the store cannot be reached or did not answer in time
	// (the database is down, restarting, or out of connections). Nothing
	// is wrong with the request, and the same request may succeed a moment
	// later, so the surfaces answer 503 with Retry-After rather than 500.
	EUNAVAILABLE = "unavailable"
	// ETHROTTLED: too many failed authentications came from the client's
	// address; Error.RetryAfter says when it may try again. The surfaces
	// answer 429 with Retry-After.
	ETHROTTLED = "throttled"
	EINTERNAL  = "internal" // everything else: logged, never shown
)

// Error is an application error: a machine code, the kind of thing it is about
// (such as "app", "integration" or "key"), a message safe to show a client,
// and for EINVALID the request field at fault, if one is (dot notation, as
// in "acl.0.permissions").
type Error struct {
	Code    string
	Subject string
	Message string
	Field   string
	// Err is the cause, if any (for EUNAVAILABLE, the driver's error). It
	// is in Error's text, for logs, and never in Message, which clients
	// see: a driver's error may name hosts, users and databases.
	Err error
	// RetryAfter, for ETHROTTLED, is how long the client should wait.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var s string
	if e.Subject != "" {
		s = fmt.Sprintf("latchkey: %s %s: %s", e.Subject, e.Code, e.Message)
	} else {
		s = fmt.Sprintf("latchkey: %s: %s", e.Code, e.Message)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause, so that errors.Is and errors.As see through.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an application error with the given code and message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns the EINVALID error for a field.
func Invalid(field, message string) *Error {
	return &Error{Code: EINVALID, Field: field, Message: message}
}

// NotFound returns the ENOTFOUND error for a subject such as "app".
func NotFound(subject string) *Error {
	return &Error{Code: ENOTFOUND, Subject: subject, Message: subject + " not found"}
}

// Unavailable returns the EUNAVAILABLE error for a store that could not be
// reached; cause is the driver's error, kept for the logs.
func Unavailable(cause error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: "The database is unavailable; retry shortly.", Err: cause}
}

// ErrorCode unwraps an application error and returns its code. Errors that are
// not application errors return EINTERNAL; nil returns "".
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorSubject returns the subject of an application error, or "".
func ErrorSubject(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Subject
	}
	return ""
}

// ErrorField returns the field an EINVALID error is about, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorMessage returns the client-safe message of an application error. Other
// errors return "Internal error." so that details never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorRetryAfter returns how long an ETHROTTLED error asks the client to
// wait, or 0.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
