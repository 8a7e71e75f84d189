// Package sunshine serves the Sunshine Conversations v2 key API: apps, custom
// integrations, app keys and integration keys, with the routes, statuses, JSON
// shapes and errors of Zendesk's specification, so that the official clients
// work unchanged. It is a thin adapter: parse, authorize, call the core, map
// errors to {"errors":[{"code","title"}]}.
package sunshine

import (
	"log/slog"
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// MaxKeysPerOwner is the specification's cap: 10 keys per app and per integration.
const MaxKeysPerOwner = 10

// Scope sets for the routes, from each operation's security in the specification.
var (
	accountOnly  = []latchkey.Scope{latchkey.ScopeAccount}
	appOrAccount = []latchkey.Scope{latchkey.ScopeApp, latchkey.ScopeAccount}
)

// route is one line of the table below: the route as data, the key scopes
// it admits (from each operation's security in the specification), and its
// handler.
type route struct {
	web.Route
	scopes []latchkey.Scope
	handle handlerFunc
}

// table is the one place the surface's routes are listed. AddRoutes mounts
// exactly these, and Routes returns them as data.
func (s *surface) table() []route {
	const (
		apps         = "/v2/apps"
		app          = apps + "/{appId}"
		integrations = app + "/integrations"
		integration  = integrations + "/{integrationId}"
	)
	r := func(method, path, operationID string, scopes []latchkey.Scope, h handlerFunc, body *web.Field, query []web.Field) route {
		return route{web.Route{Method: method, Path: path, OperationID: operationID, Body: body, Query: query}, scopes, h}
	}
	return []route{
		r("POST", apps, "CreateApp", accountOnly, s.createApp, appBody(), nil),
		r("GET", apps, "ListApps", accountOnly, s.listApps, nil, pageQuery()),
		r("GET", app, "GetApp", appOrAccount, s.getApp, nil, nil),
		r("PATCH", app, "UpdateApp", appOrAccount, s.updateApp, appBody(), nil),
		r("DELETE", app, "DeleteApp", accountOnly, s.deleteApp, nil, nil),

		r("POST", app+"/keys", "CreateAppKey", accountOnly, s.createKey, keyBody(), nil),
		r("GET", app+"/keys", "ListAppKeys", accountOnly, s.listKeys, nil, nil),
		r("GET", app+"/keys/{keyId}", "GetAppKey", accountOnly, s.getKey, nil, nil),
		r("DELETE", app+"/keys/{keyId}", "DeleteAppKey", accountOnly, s.deleteKey, nil, nil),

		r("POST", integrations, "CreateIntegration", appOrAccount, s.createIntegration, integrationBody(), nil),
		r("GET", integrations, "ListIntegrations", appOrAccount, s.listIntegrations, nil,
			append(pageQuery(), web.Field{Name: "filter[types]", Type: web.String})),
		r("GET", integration, "GetIntegration", appOrAccount, s.getIntegration, nil, nil),
		r("PATCH", integration, "UpdateIntegration", appOrAccount, s.updateIntegration, integrationUpdateBody(), nil),
		r("DELETE", integration, "DeleteIntegration", appOrAccount, s.deleteIntegration, nil, nil),

		r("POST", integration+"/keys", "CreateCustomIntegrationKey", appOrAccount, s.createKey, keyBody(), nil),
		r("GET", integration+"/keys", "ListCustomIntegrationKeys", appOrAccount, s.listKeys, nil, nil),
		r("GET", integration+"/keys/{keyId}", "GetCustomIntegrationKey", appOrAccount, s.getKey, nil, nil),
		r("DELETE", integration+"/keys/{keyId}", "DeleteCustomIntegrationKey", appOrAccount, s.deleteKey, nil, nil),
	}
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

// The bodies the routes read, as the specification's schemas give them.
// Every object is open, as in the specification (none says
// additionalProperties: false): members Latchkey does not know are ignored,
// not refused. Clients send back what they fetched (an integration's id and
// status, a webhook's id, version and secret), and the specification's
// appSettings has settings Latchkey does not keep (attachmentsAccess, …).

func displayNameField(nullable bool) web.Field {
	return web.Field{Name: "displayName", Type: web.String, Nullable: nullable}
}

func appBody() *web.Field {
	settings := []web.Field{{Name: "conversationRetentionSeconds", Type: web.Integer}}
	for _, name := range settingNames {
		settings = append(settings, web.Field{Name: name, Type: web.Boolean})
	}
	return &web.Field{Type: web.Object, Members: []web.Field{
		displayNameField(false),
		{Name: "settings", Type: web.Object, Members: settings},
		{Name: "metadata", Type: web.Object, Nullable: true}, // flat: strings, numbers, booleans
	}}
}

func keyBody() *web.Field {
	return &web.Field{Type: web.Object, Members: []web.Field{displayNameField(false)}}
}

func integrationBody() *web.Field {
	webhook := web.Field{Type: web.Object, Members: []web.Field{
		{Name: "target", Type: web.String},
		{Name: "triggers", Type: web.Array, Items: &web.Field{Type: web.String}},
		{Name: "includeFullUser", Type: web.Boolean},
		{Name: "includeFullSource", Type: web.Boolean},
	}}
	return &web.Field{Type: web.Object, Members: []web.Field{
		{Name: "type", Type: web.String, Enum: []string{latchkey.IntegrationTypeCustom}},
		displayNameField(true),
		{Name: "webhooks", Type: web.Array, Items: &webhook},
	}}
}

func integrationUpdateBody() *web.Field {
	return &web.Field{Type: web.Object, Members: []web.Field{displayNameField(true)}}
}

// pageQuery is the cursor pagination every list of apps and integrations
// takes.
func pageQuery() []web.Field {
	return []web.Field{
		{Name: "page[after]", Type: web.String},
		{Name: "page[before]", Type: web.String},
		{Name: "page[size]", Type: web.Integer},
	}
}

// AddRoutes mounts the surface's routes (table) on mux.
func AddRoutes(mux *http.ServeMux, logger *slog.Logger, cfg web.Config, svc *core.Service, verifier *auth.Verifier) {
	s := &surface{logger: logger, cfg: cfg, svc: svc, verifier: verifier}
	for _, rt := range s.table() {
		mux.Handle(rt.Pattern(), s.operation(rt))
	}

	// Anything else under /v2/ gets this dialect's 404, or its 405 with Allow
	// when the path exists under another method.
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		s.noRoute(mux, w, r)
	})
}
