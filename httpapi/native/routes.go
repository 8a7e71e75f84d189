// Package native serves Latchkey's own management API under /v1: apps, keys
// with their whole policy (permissions, scoped ACL entries, allowed
// addresses, expiry, rate limit, metadata, an on/off switch), rolling a
// key's secret with a grace period, its usage, and the calling key itself.
//
// Like every surface it is a thin adapter over the core: it parses and
// bounds the request, authorizes it through web.Gate, calls the core, and
// maps errors to {"error":{"code","message","fields"}} in one place
// (errors.go). Ownership, no widening, no reaching up and quotas are the
// core's rules and are not repeated here.
package native

import (
	"log/slog"
	"net/http"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// route is one line of the table below.
type route struct {
	// pattern is the net/http ServeMux pattern, method included.
	pattern string
	// operationID names the operation; it is also the ACL permission the
	// route needs, unless anyKey is set.
	operationID string
	// orgParam is the path value naming the app (ACL organization) the
	// request addresses; "" when it addresses none, so that only unscoped
	// ACL entries grant it.
	orgParam string
	// anyKey admits any valid secret key whatever its permissions
	// (web.Authenticate): for routes that grant nothing.
	anyKey bool
	handle handlerFunc
}

// routes is the one place the surface's routes are listed. Add a route by
// adding a line.
func (s *surface) routes() []route {
	return []route{
		{pattern: "POST /v1/apps", operationID: "CreateApp", handle: s.createApp},
		{pattern: "GET /v1/apps", operationID: "ListApps", handle: s.listApps},
		{pattern: "GET /v1/apps/{appId}", operationID: "GetApp", orgParam: "appId", handle: s.getApp},
		{pattern: "PATCH /v1/apps/{appId}", operationID: "UpdateApp", orgParam: "appId", handle: s.updateApp},
		{pattern: "DELETE /v1/apps/{appId}", operationID: "DeleteApp", orgParam: "appId", handle: s.deleteApp},

		{pattern: "POST /v1/keys", operationID: "CreateKey", handle: s.createKey},
		{pattern: "GET /v1/keys", operationID: "ListKeys", handle: s.listKeys},
		{pattern: "GET /v1/keys/{id}", operationID: "GetKey", handle: s.getKey},
		{pattern: "PATCH /v1/keys/{id}", operationID: "UpdateKey", handle: s.updateKey},
		{pattern: "DELETE /v1/keys/{id}", operationID: "DeleteKey", handle: s.deleteKey},
		{pattern: "POST /v1/keys/{id}/roll", operationID: "RollKey", handle: s.rollKey},
		{pattern: "GET /v1/keys/{id}/usage", operationID: "GetKeyUsage", handle: s.keyUsage},

		{pattern: "GET /v1/whoami", operationID: "WhoAmI", anyKey: true, handle: s.whoami},

		{pattern: "POST /v1/verify", operationID: core.PermissionVerifyKey, handle: s.verify},
	}
}

// fallback catches every other path under /v1/, for this surface's 404 and
// 405.
const fallback = "/v1/"

// AddRoutes mounts the surface on mux.
func AddRoutes(mux *http.ServeMux, logger *slog.Logger, cfg web.Config, svc *core.Service, verifier *auth.Verifier) {
	s := &surface{logger: logger, cfg: cfg, svc: svc, verifier: verifier}
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.operation(rt))
	}
	// Gateways present no key of their own, so authorize is not an
	// operation: it authenticates the credential it relays.
	mux.HandleFunc(authorizePath, s.authorize)
	mux.HandleFunc(authorizePath+"/", s.authorize)
	mux.HandleFunc(fallback, func(w http.ResponseWriter, r *http.Request) {
		s.noRoute(mux, w, r)
	})
}
