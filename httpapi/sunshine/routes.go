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

// AddRoutes mounts the surface on mux. This table is the one place its routes
// are listed; each names the specification's operation id and the key scopes
// it admits.
func AddRoutes(mux *http.ServeMux, logger *slog.Logger, cfg web.Config, svc *core.Service, verifier *auth.Verifier) {
	s := &surface{logger: logger, cfg: cfg, svc: svc, verifier: verifier}
	route := func(pattern, operationID string, scopes []latchkey.Scope, h handlerFunc) {
		mux.Handle(pattern, s.operation(operationID, scopes, h))
	}

	route("POST /v2/apps", "CreateApp", accountOnly, s.createApp)
	route("GET /v2/apps", "ListApps", accountOnly, s.listApps)
	route("GET /v2/apps/{appId}", "GetApp", appOrAccount, s.getApp)
	route("PATCH /v2/apps/{appId}", "UpdateApp", appOrAccount, s.updateApp)
	route("DELETE /v2/apps/{appId}", "DeleteApp", accountOnly, s.deleteApp)

	route("POST /v2/apps/{appId}/keys", "CreateAppKey", accountOnly, s.createKey)
	route("GET /v2/apps/{appId}/keys", "ListAppKeys", accountOnly, s.listKeys)
	route("GET /v2/apps/{appId}/keys/{keyId}", "GetAppKey", accountOnly, s.getKey)
	route("DELETE /v2/apps/{appId}/keys/{keyId}", "DeleteAppKey", accountOnly, s.deleteKey)

	route("POST /v2/apps/{appId}/integrations", "CreateIntegration", appOrAccount, s.createIntegration)
	route("GET /v2/apps/{appId}/integrations", "ListIntegrations", appOrAccount, s.listIntegrations)
	route("GET /v2/apps/{appId}/integrations/{integrationId}", "GetIntegration", appOrAccount, s.getIntegration)
	route("PATCH /v2/apps/{appId}/integrations/{integrationId}", "UpdateIntegration", appOrAccount, s.updateIntegration)
	route("DELETE /v2/apps/{appId}/integrations/{integrationId}", "DeleteIntegration", appOrAccount, s.deleteIntegration)

	route("POST /v2/apps/{appId}/integrations/{integrationId}/keys", "CreateCustomIntegrationKey", appOrAccount, s.createKey)
	route("GET /v2/apps/{appId}/integrations/{integrationId}/keys", "ListCustomIntegrationKeys", appOrAccount, s.listKeys)
	route("GET /v2/apps/{appId}/integrations/{integrationId}/keys/{keyId}", "GetCustomIntegrationKey", appOrAccount, s.getKey)
	route("DELETE /v2/apps/{appId}/integrations/{integrationId}/keys/{keyId}", "DeleteCustomIntegrationKey", appOrAccount, s.deleteKey)

	// Anything else under /v2/ gets this dialect's 404, or its 405 with Allow
	// when the path exists under another method.
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		s.noRoute(mux, w, r)
	})
}
