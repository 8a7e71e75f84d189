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
	"slices"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/importhash"
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
	// serve, instead of handle, serves a route that is not an operation:
	// it authenticates what it is sent itself (authorize).
	serve http.HandlerFunc

	// body describes the JSON body the route reads (nil for none), which
	// may be left out if bodyOptional; query, the query parameters it
	// reads. Both are what Routes shows; query is also what operation
	// reads the query against (web.ParseQuery).
	body         *web.Field
	bodyOptional bool
	query        []web.Field
	// maxBody caps the body if it may be larger than web.MaxBodyBytes.
	maxBody int64
}

// routes is the one place the surface's routes are listed. Add a route by
// adding a line. AddRoutes mounts exactly these, and Routes returns them as
// data.
func (s *surface) routes() []route {
	return []route{
		{pattern: "POST /v1/apps", operationID: "CreateApp", handle: s.createApp, body: appBody()},
		{pattern: "GET /v1/apps", operationID: "ListApps", handle: s.listApps, query: pageParams()},
		{pattern: "GET /v1/apps/{appId}", operationID: "GetApp", orgParam: "appId", handle: s.getApp},
		{pattern: "PATCH /v1/apps/{appId}", operationID: "UpdateApp", orgParam: "appId", handle: s.updateApp, body: appBody()},
		{pattern: "DELETE /v1/apps/{appId}", operationID: "DeleteApp", orgParam: "appId", handle: s.deleteApp},

		{pattern: "POST /v1/apps/{appId}/integrations", operationID: "CreateIntegration", orgParam: "appId", handle: s.createIntegration, body: integrationBody()},
		{pattern: "GET /v1/apps/{appId}/integrations", operationID: "ListIntegrations", orgParam: "appId", handle: s.listIntegrations, query: pageParams()},
		{pattern: "GET /v1/apps/{appId}/integrations/{integrationId}", operationID: "GetIntegration", orgParam: "appId", handle: s.getIntegration},
		{pattern: "PATCH /v1/apps/{appId}/integrations/{integrationId}", operationID: "UpdateIntegration", orgParam: "appId", handle: s.updateIntegration, body: integrationUpdateBody()},
		{pattern: "DELETE /v1/apps/{appId}/integrations/{integrationId}", operationID: "DeleteIntegration", orgParam: "appId", handle: s.deleteIntegration},

		{pattern: "POST /v1/keys", operationID: "CreateKey", handle: s.createKey, body: keyBody()},
		{pattern: "GET /v1/keys", operationID: "ListKeys", handle: s.listKeys, query: keyListQuery()},
		{pattern: "GET /v1/keys/{id}", operationID: "GetKey", handle: s.getKey},
		{pattern: "PATCH /v1/keys/{id}", operationID: "UpdateKey", handle: s.updateKey, body: keyBody()},
		{pattern: "DELETE /v1/keys/{id}", operationID: "DeleteKey", handle: s.deleteKey},
		{pattern: "POST /v1/keys/{id}/roll", operationID: "RollKey", handle: s.rollKey, body: rollBody(), bodyOptional: true},
		{pattern: "POST /v1/keys/import", operationID: "ImportKeys", handle: s.importKeys, body: importBody(), maxBody: maxImportBodyBytes},
		{pattern: "GET /v1/keys/{id}/usage", operationID: "GetKeyUsage", handle: s.keyUsage, query: usageQuery()},

		{pattern: "GET /v1/whoami", operationID: "WhoAmI", anyKey: true, handle: s.whoami},

		{pattern: "GET /v1/audit-events", operationID: "ListAuditEvents", handle: s.listAuditEvents, query: auditQuery()},

		{pattern: "POST /v1/verify", operationID: core.PermissionVerifyKey, handle: s.verify, body: verifyBody()},

		// Gateways present no key of their own, so authorize is not an
		// operation: it authenticates the credential it relays, with any
		// method. Below /v1/authorize/ the query is the client's, and is
		// ignored (see authorize).
		{pattern: authorizePath, operationID: "Authorize", serve: s.authorize, query: authorizeQuery()},
		{pattern: authorizePath + "/", operationID: "Authorize", serve: s.authorize},
	}
}

// Routes returns the surface's routes as data: what AddRoutes mounts.
func Routes() []web.Route {
	table := (&surface{}).routes()
	out := make([]web.Route, len(table))
	for i, rt := range table {
		method, path, found := strings.Cut(rt.pattern, " ")
		if !found {
			method, path = "", rt.pattern
		}
		out[i] = web.Route{Method: method, Path: path, OperationID: rt.operationID,
			Body: rt.body, BodyOptional: rt.bodyOptional, MaxBody: rt.maxBody, Query: rt.query}
	}
	return out
}

// readQuery reads r's query strictly against the parameters the route
// declares (web.ParseQuery), and returns r with its query as read.
func (rt route) readQuery(r *http.Request) (*http.Request, error) {
	query, err := web.ParseQuery(r.URL.RawQuery, rt.query)
	if err != nil {
		return nil, err
	}
	return web.WithQuery(r, query), nil
}

// The bodies the routes read. Every object is strict (unknown members get
// 400: a misspelt "allowedIps" must not pass silently), except metadata,
// which is the client's own; read-only members are ignored (fields.go).

func appBody() *web.Field {
	return &web.Field{Type: web.Object, Strict: true, Members: []web.Field{
		{Name: "name", Type: web.String},
		{Name: "metadata", Type: web.Object, Nullable: true}, // flat: strings, numbers, booleans
	}}
}

// importBody is POST /v1/keys/import's: keys, each a key body with the
// import's own members.
func importBody() *web.Field {
	item := *keyBody()
	item.Members = append(slices.Clip(item.Members),
		web.Field{Name: "id", Type: web.String},
		web.Field{Name: "secret", Type: web.String},
		web.Field{Name: "hash", Type: web.String},
		web.Field{Name: "hashAlgorithm", Type: web.String, Enum: importhash.Algorithms},
	)
	return &web.Field{Type: web.Object, Strict: true, Members: []web.Field{{Name: "keys", Type: web.Array, Items: &item}}}
}

func keyBody() *web.Field {
	strs := func(name string, nullable bool) web.Field {
		return web.Field{Name: name, Type: web.Array, Nullable: nullable, Items: &web.Field{Type: web.String}}
	}
	entry := web.Field{Type: web.Object, Strict: true, Members: []web.Field{
		{Name: "scope", Type: web.Object, Strict: true, Members: []web.Field{
			strs("organizationId", true), strs("productId", true), strs("planId", true), strs("customFieldName", true),
		}},
		strs("permissions", false),
	}}
	return &web.Field{Type: web.Object, Strict: true, Members: []web.Field{
		{Name: "name", Type: web.String},
		{Name: "owner", Type: web.Object, Strict: true, Members: []web.Field{
			{Name: "type", Type: web.String, Enum: []string{ownerAccount, ownerApp, ownerIntegration}},
			{Name: "id", Type: web.String},
			{Name: "appId", Type: web.String},
		}},
		{Name: "type", Type: web.String, Enum: []string{string(latchkey.KeyTypeSecret), string(latchkey.KeyTypePublishable)}},
		{Name: "prefix", Type: web.String},
		strs("permissions", false),
		{Name: "acl", Type: web.Array, Items: &entry},
		strs("allowedIps", true),
		{Name: "expiresAt", Type: web.String, Nullable: true, Format: "date-time"},
		{Name: "rateLimit", Type: web.Object, Nullable: true, Strict: true, Members: []web.Field{
			{Name: "limit", Type: web.Integer},
			{Name: "period", Type: web.String},
		}},
		{Name: "metadata", Type: web.Object, Nullable: true},
		{Name: "enabled", Type: web.Boolean},
	}}
}

func rollBody() *web.Field {
	return &web.Field{Type: web.Object, Strict: true, Members: []web.Field{{Name: "gracePeriod", Type: web.String}}}
}

func verifyBody() *web.Field {
	target := func(name string) web.Field { return web.Field{Name: name, Type: web.String, Nullable: true} }
	return &web.Field{Type: web.Object, Strict: true, Members: []web.Field{
		{Name: "key", Type: web.String},
		{Name: "apps", Type: web.Array, Nullable: true, Items: &web.Field{Type: web.String}},
		{Name: "permissions", Type: web.Array, Nullable: true, Items: &web.Field{Type: web.String}},
		{Name: "scope", Type: web.Object, Nullable: true, Strict: true, Members: []web.Field{
			target("organizationId"), target("productId"), target("planId"), target("customFieldName"),
		}},
		{Name: "ip", Type: web.String, Nullable: true},
		{Name: "cost", Type: web.Integer, Nullable: true},
	}}
}

// members returns the names of the members of the object at path in body
// (the body itself for no path): the one list both Routes and the readers
// (onlyMembers) use.
func members(body *web.Field, path ...string) []string {
	f := *body
	for _, name := range path {
		for _, m := range f.Members {
			if m.Name == name {
				f = m
				break
			}
		}
		if f.Type == web.Array {
			f = *f.Items
		}
	}
	return web.Names(f.Members)
}

func pageParams() []web.Field {
	return []web.Field{{Name: "limit", Type: web.Integer}, {Name: "cursor", Type: web.String}}
}

func keyListQuery() []web.Field {
	return append(pageParams(),
		web.Field{Name: "ownerType", Type: web.String, Enum: []string{ownerAccount, ownerApp, ownerIntegration}},
		web.Field{Name: "ownerId", Type: web.String},
		web.Field{Name: "ownerAppId", Type: web.String},
	)
}

func usageQuery() []web.Field {
	return []web.Field{
		{Name: "from", Type: web.String, Format: "date-time"},
		{Name: "to", Type: web.String, Format: "date-time"},
		{Name: "granularity", Type: web.String, Enum: []string{string(core.ByMinute), string(core.ByHour), string(core.ByDay)}},
	}
}

// authorizeQuery is what a gateway's configuration says to check; app and
// permission are repeatable.
func authorizeQuery() []web.Field {
	return []web.Field{
		{Name: "app", Type: web.String, Repeatable: true},
		{Name: "permission", Type: web.String, Repeatable: true},
		{Name: "cost", Type: web.Integer},
		{Name: "gateway", Type: web.String},
	}
}

// fallback catches every other path under /v1/, for this surface's 404 and
// 405.
const fallback = "/v1/"

// AddRoutes mounts the surface's routes on mux.
func AddRoutes(mux *http.ServeMux, logger *slog.Logger, cfg web.Config, svc *core.Service, verifier *auth.Verifier) {
	s := &surface{logger: logger, cfg: cfg, svc: svc, verifier: verifier}
	for _, rt := range s.routes() {
		if rt.serve != nil {
			mux.HandleFunc(rt.pattern, rt.serve)
			continue
		}
		mux.Handle(rt.pattern, s.operation(rt))
	}
	mux.HandleFunc(fallback, func(w http.ResponseWriter, r *http.Request) {
		s.noRoute(mux, w, r)
	})
}
