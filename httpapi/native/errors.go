package native

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/httpapi/web"
)

// The surface's one error format:
//
//	{"error":{"code":"invalid_request","message":"…","fields":[{"field":"name","message":"…"}]}}
//
// fields is present on invalid_request only (and only there), and lists
// every problem found; it is empty when the body as a whole is unusable.
type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Fields  []fieldError `json:"fields,omitzero"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// fieldErrors collects every problem with a request, so that the client
// learns of them all at once.
type fieldErrors struct{ list []fieldError }

func (e *fieldErrors) Error() string { return "invalid request" }

// add records a problem with a field (a dot path such as "acl.0.permissions").
func (e *fieldErrors) add(field, format string, args ...any) {
	e.list = append(e.list, fieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// err returns e if it holds any problem, else nil.
func (e *fieldErrors) err() error {
	if len(e.list) == 0 {
		return nil
	}
	return e
}

func writeErrorJSON(w http.ResponseWriter, status int, code, message string, fields []fieldError) {
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey"`)
	}
	web.WriteJSON(w, status, errorBody{errorJSON{Code: code, Message: message, Fields: fields}})
}

// writeError writes err in this surface's format, with the headers and
// the log line its status calls for.
func (s *surface) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, e := errorOf(err)
	switch status {
	case http.StatusTooManyRequests:
		web.SetThrottled(w, err)
	case http.StatusServiceUnavailable:
		web.LogUnavailable(s.logger, r, err)
		web.SetRetryAfter(w)
	case http.StatusInternalServerError:
		s.logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeErrorJSON(w, status, e.Code, e.Message, e.Fields)
}

// errorOf maps an error to this surface's status, code and message: the
// one place where that mapping lives.
func errorOf(err error) (int, errorJSON) {
	var (
		bodyErr  *web.BodyError
		fieldErr *fieldErrors
		queryErr *web.QueryError
	)
	switch {
	case errors.As(err, &queryErr):
		return http.StatusBadRequest, errorJSON{"invalid_request", queryErr.Message,
			[]fieldError{{Field: queryErr.Param, Message: queryErr.Message}}}
	case errors.As(err, &bodyErr):
		code := map[int]string{
			http.StatusRequestEntityTooLarge: "payload_too_large",
			http.StatusUnsupportedMediaType:  "unsupported_media_type",
		}[bodyErr.Status]
		var fields []fieldError
		if code == "" {
			// A body with no field at fault has none; a member at fault
			// (a duplicate, a lone surrogate) is named.
			code, fields = "invalid_request", []fieldError{}
			if bodyErr.Field != "" {
				fields = append(fields, fieldError{Field: bodyErr.Field, Message: bodyErr.Message})
			}
		}
		return bodyErr.Status, errorJSON{code, bodyErr.Message, fields}
	case errors.As(err, &fieldErr):
		return http.StatusBadRequest, errorJSON{"invalid_request", "The request is invalid; see fields.", fieldErr.list}
	}
	msg := latchkey.ErrorMessage(err)
	switch latchkey.ErrorCode(err) {
	case latchkey.EINVALID:
		fields := []fieldError{}
		if f := latchkey.ErrorField(err); f != "" {
			fields = append(fields, fieldError{Field: f, Message: msg})
		}
		return http.StatusBadRequest, errorJSON{"invalid_request", msg, fields}
	case latchkey.EUNAUTHORIZED:
		return http.StatusUnauthorized, errorJSON{Code: "unauthorized", Message: msg}
	case latchkey.ETHROTTLED:
		return http.StatusTooManyRequests, errorJSON{Code: "throttled", Message: msg}
	case latchkey.EFORBIDDEN:
		return http.StatusForbidden, errorJSON{Code: "forbidden", Message: msg}
	case latchkey.ENOTFOUND:
		return http.StatusNotFound, errorJSON{Code: "not_found", Message: msg}
	case latchkey.ECONFLICT, latchkey.ELIMIT:
		return http.StatusConflict, errorJSON{Code: "conflict", Message: msg}
	case latchkey.EUNAVAILABLE:
		return http.StatusServiceUnavailable, errorJSON{Code: "unavailable", Message: msg}
	default:
		return http.StatusInternalServerError, errorJSON{Code: "internal", Message: "Internal error."}
	}
}
