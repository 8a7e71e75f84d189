package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The error codes of the native API, as Error.Code holds them.
const (
	ErrorCodeInvalidRequest       = "invalid_request"        // 400: see Error.Fields
	ErrorCodeUnauthorized         = "unauthorized"           // 401: missing or invalid credentials
	ErrorCodeForbidden            = "forbidden"              // 403: the key lacks the permission, or the address is not allowed
	ErrorCodeNotFound             = "not_found"              // 404: an unknown id, or one of another account
	ErrorCodeMethodNotAllowed     = "method_not_allowed"     // 405
	ErrorCodeConflict             = "conflict"               // 409: such as a key deleting itself
	ErrorCodePayloadTooLarge      = "payload_too_large"      // 413: a body over 100 kB
	ErrorCodeUnsupportedMediaType = "unsupported_media_type" // 415
	ErrorCodeThrottled            = "throttled"              // 429: too many failed authentications from this address; see Retry-After
	ErrorCodeInternal             = "internal"               // 500
	ErrorCodeUnavailable          = "unavailable"            // 503: the server cannot reach its database; retry
)

// Error is an error answer of the Latchkey API: any status other than the
// one the operation succeeds with. Get it with errors.As, or test it with
// IsNotFound and its siblings:
//
//	var apiErr *sdk.Error
//	if errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest {
//		for _, f := range apiErr.Fields {
//			fmt.Println(f.Field, f.Message)
//		}
//	}
//
// Network failures, timeouts and undecodable answers are other errors
// (wrapping the cause), never an *Error.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the API's error code, one of the ErrorCode constants; "" when
	// the answer was not in Latchkey's error format (a proxy's error page,
	// say).
	Code string
	// Message is the API's message, meant for people. When the answer was
	// not in Latchkey's format it is the status text; the body itself is
	// never copied into the error.
	Message string
	// Fields lists every problem with the request, by dot path such as
	// "permissions.0" or "rateLimit.period": for invalid_request only.
	Fields []FieldError
}

// FieldError is one problem with one member of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error returns "latchkey: <status> <code>: <message>", and the fields at
// fault.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "latchkey: %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	b.WriteString(": " + e.Message)
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Message)
		if i == len(e.Fields)-1 {
			b.WriteString(")")
		}
	}
	return b.String()
}

// readError turns a refused response into an *Error, reading at most
// maxErrorBytes of its body.
func readError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
	b, err := readBounded(resp.Body, maxErrorBytes)
	if err != nil {
		return e
	}
	var body struct {
		Error *struct {
			Code    string       `json:"code"`
			Message string       `json:"message"`
			Fields  []FieldError `json:"fields"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error != nil && body.Error.Code != "" {
		e.Code, e.Fields = body.Error.Code, body.Error.Fields
		if body.Error.Message != "" {
			e.Message = body.Error.Message
		}
	}
	return e
}

// is reports whether err is an *Error with the code, or, if the answer was
// not in Latchkey's format, with the status.
func is(err error, code string, status int) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Code != "" {
		return e.Code == code
	}
	return e.Status == status
}

// IsNotFound reports whether err is a 404 from Latchkey: the id is unknown,
// or belongs to another account.
func IsNotFound(err error) bool { return is(err, ErrorCodeNotFound, http.StatusNotFound) }

// IsInvalidRequest reports whether err is a 400 from Latchkey. The
// *Error's Fields say what was wrong.
func IsInvalidRequest(err error) bool {
	return is(err, ErrorCodeInvalidRequest, http.StatusBadRequest)
}

// IsUnauthorized reports whether err is a 401 from Latchkey: the Client's
// API key is missing, unknown, expired, disabled, or publishable.
func IsUnauthorized(err error) bool {
	return is(err, ErrorCodeUnauthorized, http.StatusUnauthorized)
}

// IsForbidden reports whether err is a 403 from Latchkey: the Client's key
// lacks the permission, is used from an address it does not allow, or the
// operation reaches beyond its rights.
func IsForbidden(err error) bool { return is(err, ErrorCodeForbidden, http.StatusForbidden) }

// IsConflict reports whether err is a 409 from Latchkey, such as a key
// deleting itself.
func IsConflict(err error) bool { return is(err, ErrorCodeConflict, http.StatusConflict) }
