// Package rebilly serves Rebilly's /api-keys API, so that the official
// rebilly-js-sdk works unchanged: restricted keys with ACLs, publishable keys
// and IP allowlists, at the root (keys of the caller's account) and under
// /organizations/{organizationId} (keys of that app). Errors are RFC 9457
// problem objects. Like every surface, it is a thin adapter over the core.
package rebilly

import (
	"log/slog"
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// route is one line of the table below: the route as data and its handler.
type route struct {
	web.Route
	handle handlerFunc
}

// table is the one place the surface's routes are listed, each with the
// specification's operation id, which is also the ACL permission it needs.
// AddRoutes mounts exactly these, and Routes returns them as data.
func (s *surface) table() []route {
	var routes []route
	for _, prefix := range []string{"", "/organizations/{organizationId}"} {
		r := func(method, path, operationID string, h handlerFunc, body *web.Field, query []web.Field) route {
			return route{web.Route{Method: method, Path: prefix + path, OperationID: operationID, Body: body, Query: query}, h}
		}
		routes = append(routes,
			r("GET", "/api-keys", "GetApiKeyCollection", s.list, nil, listQuery()),
			r("POST", "/api-keys", "PostApiKey", s.create, apiKeyBody(), nil),
			// The JS SDK posts to /api-keys/ with a trailing slash.
			r("POST", "/api-keys/{$}", "PostApiKey", s.create, apiKeyBody(), nil),
			r("GET", "/api-keys/{id}", "GetApiKey", s.get, nil, nil),
			r("PUT", "/api-keys/{id}", "PutApiKey", s.put, apiKeyBody(), nil),
			r("DELETE", "/api-keys/{id}", "DeleteApiKey", s.delete, nil, nil),
		)
	}
	return routes
}

// Routes returns the surface's routes as data: what AddRoutes mounts.
func Routes() []web.Route {
	table := (&surface{}).table()
	out := make([]web.Route, len(table))
	for i, rt := range table {
		out[i] = rt.Route
	}
	return out
}

// apiKeyBody is the specification's ApiKey, less its read-only members
// (readAPIKey ignores them, whatever their type). The body itself is open,
// as the specification's schema is: clients send back what they fetched,
// and older SDK models carry members since retired (datetimeFormat). An
// acl entry and its scope are strict: there every member narrows the key,
// so one that is misspelt, or the retired "scopes", would be ignored into a
// wider key than the client asked for.
func apiKeyBody() *web.Field {
	list := func(name string) web.Field {
		return web.Field{Name: name, Type: web.Array, Nullable: true, Items: &web.Field{Type: web.String}}
	}
	entry := web.Field{Type: web.Object, Strict: true, Members: []web.Field{
		{Name: "scope", Type: web.Object, Strict: true, Members: []web.Field{
			list("organizationId"), list("productId"), list("planId"), list("customFieldName"),
		}},
		{Name: "permissions", Type: web.Array, Items: &web.Field{Type: web.String}},
	}}
	return &web.Field{Type: web.Object, Members: []web.Field{
		{Name: "description", Type: web.String},
		{Name: "type", Type: web.String, Nullable: true, Enum: []string{string(latchkey.KeyTypeSecret), string(latchkey.KeyTypePublishable)}},
		{Name: "acl", Type: web.Array, Nullable: true, Items: &entry},
		{Name: "allowedIps", Type: web.Array, Nullable: true, Items: &web.Field{Type: web.String}},
	}}
}

// listQuery is what GET /api-keys reads. sort is an array sent as one
// comma-separated value (style form, explode false), so it is not
// repeatable either.
func listQuery() []web.Field {
	return []web.Field{
		{Name: "limit", Type: web.Integer},
		{Name: "offset", Type: web.Integer},
		{Name: "sort", Type: web.String},
		{Name: "filter", Type: web.String},
	}
}

// AddRoutes mounts the surface's routes (table) on mux.
func AddRoutes(mux *http.ServeMux, logger *slog.Logger, cfg web.Config, svc *core.Service, verifier *auth.Verifier) {
	s := &surface{logger: logger, cfg: cfg, svc: svc, verifier: verifier}
	for _, rt := range s.table() {
		mux.Handle(rt.Pattern(), s.operation(rt))
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
