package native

import (
	"log/slog"
	"net/http"
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
// admitted. A returned error is written in this surface's format.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error

// operation authenticates a request and applies the key's policy before
// anything of the request is read, so that an unauthenticated or forbidden
// request is refused whatever its body holds.
func (s *surface) operation(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var (
			p   *latchkey.Principal
			err error
		)
		if rt.anyKey {
			p, err = web.Authenticate(r, s.cfg, s.verifier, rt.operationID)
		} else {
			var org string
			if rt.orgParam != "" {
				org = r.PathValue(rt.orgParam)
			}
			p, err = web.Gate(r, s.cfg, s.verifier, rt.operationID, org)
		}
		if err == nil {
			// The query is read strictly against the route's parameters,
			// and the handler sees it as read (routes.go).
			var read *http.Request
			if read, err = rt.readQuery(r); err == nil {
				err = rt.handle(w, read, p)
			}
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// noRoute answers a /v1/ request that no route matches: 405 with Allow when
// the path exists under other methods, else 404.
func (s *surface) noRoute(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	if allowed := web.AllowedMethods(mux, r, fallback); len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeErrorJSON(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method "+r.Method+" is not allowed on "+r.URL.Path+".", nil)
		return
	}
	writeErrorJSON(w, http.StatusNotFound, "not_found", "No route for "+r.URL.Path+".", nil)
}
