// Package rebilly serves Rebilly's /api-keys API, so that the official
// rebilly-js-sdk works unchanged: restricted keys with ACLs, publishable keys
// and IP allowlists, at the root (keys of the caller's account) and under
// /organizations/{organizationId} (keys of that app). Errors are RFC 9457
// problem objects. Like every surface, it is a thin adapter over the core.
package rebilly

import (
	"log/slog"
	"net/http"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// AddRoutes mounts the surface on mux. This is the one place its routes are
// listed, each with the specification's operation id, which is also the ACL
// permission it needs.
func AddRoutes(mux *http.ServeMux, logger *slog.Logger, cfg web.Config, svc *core.Service, verifier *auth.Verifier) {
	s := &surface{logger: logger, cfg: cfg, svc: svc, verifier: verifier}
	for _, prefix := range []string{"", "/organizations/{organizationId}"} {
		mux.Handle("GET "+prefix+"/api-keys", s.operation("GetApiKeyCollection", s.list))
		mux.Handle("POST "+prefix+"/api-keys", s.operation("PostApiKey", s.create))
		// The JS SDK posts to /api-keys/ with a trailing slash.
		mux.Handle("POST "+prefix+"/api-keys/{$}", s.operation("PostApiKey", s.create))
		mux.Handle("GET "+prefix+"/api-keys/{id}", s.operation("GetApiKey", s.get))
		mux.Handle("PUT "+prefix+"/api-keys/{id}", s.operation("PutApiKey", s.put))
		mux.Handle("DELETE "+prefix+"/api-keys/{id}", s.operation("DeleteApiKey", s.delete))
	}
	// Anything else under these paths gets this dialect's 404, or its 405
	// with Allow when the path exists under another method.
	fallbacks := []string{"/api-keys", "/api-keys/", "/organizations/"}
	for _, pattern := range fallbacks {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			noRoute(mux, fallbacks, w, r)
		})
	}
}
