package sunshine

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

type surface struct {
	logger   *slog.Logger
	cfg      web.Config
	svc      *core.Service
	verifier *auth.Verifier
}

// handlerFunc is a route's handler once the request is authenticated and
// admitted. A returned error is written in this dialect's format.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error

// operation authenticates a request (HTTP Basic, a Bearer JWT, or any other
// form web.Gate takes), applies the key's policy (publishable keys, allowed
// addresses, ACL), admits it only if the key's scope is one the operation
// allows and, for app and integration keys, only on their own app, then
// runs h.
//
// The query is read strictly (web.ParseQuery) against the parameters the
// route declares, and h sees it as read.
func (s *surface) operation(rt route) http.Handler {
	operationID, scopes, h := rt.OperationID, rt.scopes, rt.handle
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := web.Gate(r, s.cfg, s.verifier, operationID, r.PathValue("appId"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !slices.Contains(scopes, p.Scope) {
			s.writeError(w, r, &latchkey.Error{Code: latchkey.EFORBIDDEN,
				Message: "Forbidden: " + operationID + " needs a key of scope " + scopeList(scopes)})
			return
		}
		if appID := r.PathValue("appId"); p.Scope != latchkey.ScopeAccount && appID != p.AppID {
			s.writeError(w, r, &latchkey.Error{Code: latchkey.EFORBIDDEN, Message: "Forbidden: the key belongs to another app"})
			return
		}
		query, qerr := web.ParseQuery(r.URL.RawQuery, rt.Query)
		if qerr != nil {
			s.writeError(w, r, qerr)
			return
		}
		if err := h(w, web.WithQuery(r, query), p); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func scopeList(scopes []latchkey.Scope) string {
	names := make([]string, len(scopes))
	for i, sc := range scopes {
		names[i] = string(sc)
	}
	return strings.Join(names, " or ")
}

// apiError is one entry of the dialect's error list.
type apiError struct {
	Code  string `json:"code"`
	Title string `json:"title"`
}

func writeErrors(w http.ResponseWriter, status int, code, title string) {
	web.WriteJSON(w, status, map[string][]apiError{"errors": {{Code: code, Title: title}}})
}

// writeError maps an error to this dialect's status, code and title: the one
// place where that mapping lives.
func (s *surface) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		bodyErr  *web.BodyError
		queryErr *web.QueryError
	)
	if errors.As(err, &queryErr) {
		writeErrors(w, http.StatusBadRequest, "bad_request", queryErr.Message)
		return
	}
	if errors.As(err, &bodyErr) {
		code := "bad_request"
		switch bodyErr.Status {
		case http.StatusRequestEntityTooLarge:
			code = "payload_too_large"
		case http.StatusUnsupportedMediaType:
			code = "unsupported_media_type"
		}
		writeErrors(w, bodyErr.Status, code, bodyErr.Message)
		return
	}
	msg := latchkey.ErrorMessage(err)
	switch latchkey.ErrorCode(err) {
	case latchkey.EINVALID, latchkey.ELIMIT:
		writeErrors(w, http.StatusBadRequest, "bad_request", msg)
	case latchkey.EUNAUTHORIZED:
		writeErrors(w, http.StatusUnauthorized, "unauthorized", msg)
	case latchkey.ETHROTTLED:
		web.SetThrottled(w, err)
		writeErrors(w, http.StatusTooManyRequests, "too_many_requests", msg)
	case latchkey.EFORBIDDEN:
		writeErrors(w, http.StatusForbidden, "forbidden", msg)
	case latchkey.ENOTFOUND:
		switch latchkey.ErrorSubject(err) {
		case "app":
			writeErrors(w, http.StatusNotFound, "app_not_found", "App not found")
		case "integration":
			writeErrors(w, http.StatusNotFound, "integration_not_found", "Integration not found")
		default:
			writeErrors(w, http.StatusNotFound, "not_found", "Resource not found")
		}
	case latchkey.ECONFLICT:
		writeErrors(w, http.StatusConflict, "conflict", msg)
	case latchkey.EUNAVAILABLE:
		web.LogUnavailable(s.logger, r, err)
		web.SetRetryAfter(w)
		writeErrors(w, http.StatusServiceUnavailable, "service_unavailable", msg)
	default:
		s.logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		writeErrors(w, http.StatusInternalServerError, "uncategorized_error", "Internal error.")
	}
}

// noRoute answers a /v2/ request no route matches: 405 with Allow when the
// path exists under other methods, else 404.
func (s *surface) noRoute(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	if allowed := web.AllowedMethods(mux, r, "/v2/"); len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeErrors(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method "+r.Method+" is not allowed here")
		return
	}
	writeErrors(w, http.StatusNotFound, "not_found", "Resource not found")
}
