package audit

import "github.com/latchkey/latchkey"

// actions maps each surface's operation ids to the audit log's actions, so
// that a refused attempt reads the same whichever dialect it came in: the
// Sunshine CreateAppKey, the Rebilly PostApiKey and the native CreateKey are
// all "key.create". Reads, which are audited only when refused, have
// actions of their own.
var actions = map[string]string{
	// native and Sunshine
	"CreateApp": latchkey.ActionAppCreate,
	"ListApps":  "app.list",
	"GetApp":    "app.get",
	"UpdateApp": latchkey.ActionAppUpdate,
	"DeleteApp": latchkey.ActionAppDelete,
	// native
	"CreateKey":       latchkey.ActionKeyCreate,
	"ListKeys":        "key.list",
	"GetKey":          "key.get",
	"UpdateKey":       latchkey.ActionKeyUpdate,
	"DeleteKey":       latchkey.ActionKeyDelete,
	"RollKey":         latchkey.ActionKeyRoll,
	"GetKeyUsage":     "key.usage",
	"WhoAmI":          "key.whoami",
	"VerifyKey":       "key.verify",
	"ListAuditEvents": "audit.list",
	// dashboard
	"SignIn":  latchkey.ActionSessionCreate,
	"SignOut": latchkey.ActionSessionDelete,
	// Sunshine
	"CreateAppKey":               latchkey.ActionKeyCreate,
	"ListAppKeys":                "key.list",
	"GetAppKey":                  "key.get",
	"DeleteAppKey":               latchkey.ActionKeyDelete,
	"CreateIntegration":          latchkey.ActionIntegrationCreate,
	"ListIntegrations":           "integration.list",
	"GetIntegration":             "integration.get",
	"UpdateIntegration":          latchkey.ActionIntegrationUpdate,
	"DeleteIntegration":          latchkey.ActionIntegrationDelete,
	"CreateCustomIntegrationKey": latchkey.ActionKeyCreate,
	"ListCustomIntegrationKeys":  "key.list",
	"GetCustomIntegrationKey":    "key.get",
	"DeleteCustomIntegrationKey": latchkey.ActionKeyDelete,
	// Rebilly
	"GetApiKeyCollection": "key.list",
	"PostApiKey":          latchkey.ActionKeyCreate,
	"GetApiKey":           "key.get",
	"PutApiKey":           latchkey.ActionKeyUpdate,
	"DeleteApiKey":        latchkey.ActionKeyDelete,
}

// ActionFor returns the action of an operation id: "request" for an
// operation it does not know, or none (a credential refused before the
// route was known).
func ActionFor(operationID string) string {
	if a, ok := actions[operationID]; ok {
		return a
	}
	return "request"
}
