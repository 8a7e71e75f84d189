package rebilly

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/httpapi/web"
)

// problem is an RFC 9457 problem object, as Rebilly sends them (with
// Content-Type application/json, as its specification declares).
type problem struct {
	Type          string         `json:"type"`
	Title         string         `json:"title"`
	Status        int            `json:"status"`
	Detail        string         `json:"detail,omitempty"`
	InvalidFields []invalidField `json:"invalidFields,omitempty"`
}

type invalidField struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// validationError collects every problem with a request, so that the client
// learns of them all at once.
type validationError struct{ fields []invalidField }

func (e *validationError) Error() string { return "validation failed" }

func (e *validationError) add(field, format string, args ...any) {
	e.fields = append(e.fields, invalidField{Field: field, Message: sprintf(format, args...)})
}

// err returns e if it holds any problem, else nil.
func (e *validationError) err() error {
	if len(e.fields) == 0 {
		return nil
	}
	return e
}

var titles = map[int]string{
	http.StatusBadRequest:            "Bad Request",
	http.StatusUnauthorized:          "Unauthorized",
	http.StatusForbidden:             "Forbidden",
	http.StatusNotFound:              "Not Found",
	http.StatusMethodNotAllowed:      "Method Not Allowed",
	http.StatusConflict:              "Conflict",
	http.StatusRequestEntityTooLarge: "Payload Too Large",
	http.StatusUnsupportedMediaType:  "Unsupported Media Type",
	http.StatusUnprocessableEntity:   "Validation error",
	http.StatusTooManyRequests:       "Too Many Requests",
	http.StatusInternalServerError:   "Internal Server Error",
	http.StatusServiceUnavailable:    "Service Unavailable",
}

func writeProblem(w http.ResponseWriter, status int, detail string, fields []invalidField) {
	web.WriteJSON(w, status, problem{Type: "about:blank", Title: titles[status], Status: status, Detail: detail, InvalidFields: fields})
}

// writeError maps an error to this dialect's status and problem: the one
// place where that mapping lives.
func writeError(logger *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	var (
		bodyErr  *web.BodyError
		validErr *validationError
		queryErr *web.QueryError
	)
	switch {
	case errors.As(err, &queryErr):
		// A parameter that cannot be read is invalid, as one with a wrong
		// value is.
		writeProblem(w, http.StatusUnprocessableEntity, "The request is invalid; see invalidFields.",
			[]invalidField{{Field: queryErr.Param, Message: queryErr.Message}})
		return
	case errors.As(err, &bodyErr) && bodyErr.Value && bodyErr.Field != "":
		// Well-formed JSON with a value that cannot be kept as sent (U+0000,
		// a number a float64 would round) is invalid content: 422, as any
		// other invalid value. Malformed JSON, invalid UTF-8, a lone
		// surrogate or a member named twice is a bad request: 400.
		writeProblem(w, http.StatusUnprocessableEntity, "The request is invalid; see invalidFields.",
			[]invalidField{{Field: bodyErr.Field, Message: bodyErr.Message}})
		return
	case errors.As(err, &bodyErr):
		writeProblem(w, bodyErr.Status, bodyErr.Message, nil)
		return
	case errors.As(err, &validErr):
		writeProblem(w, http.StatusUnprocessableEntity, "The request is invalid; see invalidFields.", validErr.fields)
		return
	}
	msg := latchkey.ErrorMessage(err)
	switch latchkey.ErrorCode(err) {
	case latchkey.EINVALID, latchkey.ELIMIT:
		var fields []invalidField
		if f := latchkey.ErrorField(err); f != "" {
			fields = []invalidField{{Field: f, Message: msg}}
		}
		writeProblem(w, http.StatusUnprocessableEntity, msg, fields)
	case latchkey.EUNAUTHORIZED:
		writeProblem(w, http.StatusUnauthorized, msg, nil)
	case latchkey.ETHROTTLED:
		// Rebilly's own 429 says when to retry as a Unix time in
		// X-RateLimit-Retry-After; its JS SDK reads Retry-After.
		web.SetThrottled(w, err)
		w.Header().Set("X-RateLimit-Retry-After", strconv.FormatInt(time.Now().Add(latchkey.ErrorRetryAfter(err)).Unix()+1, 10))
		writeProblem(w, http.StatusTooManyRequests, msg, nil)
	case latchkey.EFORBIDDEN:
		writeProblem(w, http.StatusForbidden, msg, nil)
	case latchkey.ENOTFOUND:
		switch latchkey.ErrorSubject(err) {
		case "app":
			writeProblem(w, http.StatusNotFound, "Organization was not found.", nil)
		default:
			writeProblem(w, http.StatusNotFound, "ApiKey with ID \""+r.PathValue("id")+"\" was not found.", nil)
		}
	case latchkey.ECONFLICT:
		writeProblem(w, http.StatusConflict, msg, nil)
	case latchkey.EUNAVAILABLE:
		web.LogUnavailable(logger, r, err)
		web.SetRetryAfter(w)
		writeProblem(w, http.StatusServiceUnavailable, msg, nil)
	default:
		logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, http.StatusInternalServerError, "Internal error.", nil)
	}
}

// noRoute answers a request under this surface's paths that no route
// matches: 405 with Allow when the path exists under other methods, else 404.
func noRoute(mux *http.ServeMux, fallbacks []string, w http.ResponseWriter, r *http.Request) {
	if allowed := web.AllowedMethods(mux, r, fallbacks...); len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeProblem(w, http.StatusMethodNotAllowed, "Method "+r.Method+" is not allowed here.", nil)
		return
	}
	writeProblem(w, http.StatusNotFound, "No resource at "+r.URL.Path+".", nil)
}
