package openapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/httpapi/native"
	"github.com/latchkey/latchkey/httpapi/openapi"
	"github.com/latchkey/latchkey/httpapi/rebilly"
	"github.com/latchkey/latchkey/httpapi/sunshine"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
)

// servedRoute is a route a server serves, with the surface it belongs to.
type servedRoute struct {
	surface string
	web.Route
}

// servedRoutes are the routes of every surface's route table (as the
// corpus test gets them), and the server's own API routes, which
// httpapi/server.go mounts without a table. Those are listed here by hand;
// TestEveryDocumentedOperationIsServed proves each is served.
func servedRoutes() []servedRoute {
	var out []servedRoute
	for _, sf := range []struct {
		name   string
		routes []web.Route
	}{{"sunshine", sunshine.Routes()}, {"rebilly", rebilly.Routes()}, {"native", native.Routes()}} {
		for _, rt := range sf.routes {
			out = append(out, servedRoute{sf.name, rt})
		}
	}
	for _, rt := range []web.Route{
		{Method: "GET", Path: "/healthz", OperationID: "Health"},
		{Method: "GET", Path: "/readyz", OperationID: "Ready"},
		{Method: "GET", Path: openapi.DocumentPath, OperationID: "GetOpenAPIDocument"},
	} {
		out = append(out, servedRoute{"server", rt})
	}
	return out
}

// anyMethod is what a route without a method (it takes every method) is
// documented under.
var anyMethod = []string{"get", "head", "post", "put", "patch", "delete", "options"}

// docOperation is one documented operation: its place and what it says.
type docOperation struct {
	path, method string
	op           map[string]any
	item         map[string]any
}

// expected is where and how a served route must be documented.
type expected struct {
	path        string
	methods     []string
	operationID map[string]string // by method
}

// expect maps a served route to its documented form. The mux pattern's
// path becomes the OpenAPI path: "{$}" (exact match after a trailing
// slash) is dropped, a subtree pattern ("/v1/authorize/") gets a {path}
// parameter for the rest, and "{name...}" becomes "{name}". The
// operationId is the route table's id, qualified where two routes share
// one (see the conventions at the top of openapi.yaml).
func expect(rt servedRoute, sunshineIDs map[string]bool) expected {
	path := strings.ReplaceAll(rt.Path, "...}", "}")
	exact := strings.HasSuffix(path, "{$}")
	path = strings.TrimSuffix(path, "{$}")
	subtree := !exact && len(path) > 1 && strings.HasSuffix(path, "/")
	if subtree {
		path += "{path}"
	}
	e := expected{path: path, operationID: map[string]string{}}
	id := rt.OperationID
	if rt.surface == "native" && sunshineIDs[id] {
		id = "Native" + id
	}
	if rt.surface == "rebilly" {
		if strings.HasPrefix(rt.Path, "/organizations/") {
			id += "InOrganization"
		}
		if exact {
			id += "TrailingSlash"
		}
	}
	if rt.Method == "" {
		e.methods = anyMethod
		for _, m := range anyMethod {
			switch {
			case subtree:
				e.operationID[m] = id + "Subpath" + title(m)
			case m == "get":
				e.operationID[m] = id
			default:
				e.operationID[m] = id + title(m)
			}
		}
		return e
	}
	m := strings.ToLower(rt.Method)
	e.methods = []string{m}
	e.operationID[m] = id
	return e
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// loadDocument returns the served document as plain JSON.
func loadDocument(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openapi.JSON(""), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func operations(doc map[string]any) []docOperation {
	var out []docOperation
	paths, _ := doc["paths"].(map[string]any)
	for path, v := range paths {
		item, _ := v.(map[string]any)
		for _, m := range []string{"get", "head", "post", "put", "patch", "delete", "options", "trace"} {
			if op, ok := item[m].(map[string]any); ok {
				out = append(out, docOperation{path: path, method: m, op: op, item: item})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	return out
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// pathParams returns the names of the {parameters} of a path.
func pathParams(path string) []string {
	var names []string
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		names = append(names, m[1])
	}
	sort.Strings(names)
	return names
}

// declaredPathParams returns the names of the in: path parameters an
// operation declares (at the path or the operation level, references
// resolved), and a problem for each that is not required.
func declaredPathParams(doc map[string]any, o docOperation) (names, problems []string) {
	var params []any
	for _, level := range []map[string]any{o.item, o.op} {
		if ps, ok := level["parameters"].([]any); ok {
			params = append(params, ps...)
		}
	}
	for _, p := range params {
		pm, _ := p.(map[string]any)
		if ref, ok := pm["$ref"].(string); ok {
			pm, _ = dig(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...).(map[string]any)
		}
		if pm["in"] != "path" {
			continue
		}
		name, _ := pm["name"].(string)
		names = append(names, name)
		if pm["required"] != true {
			problems = append(problems, fmt.Sprintf("path parameter %q is not required", name))
		}
	}
	sort.Strings(names)
	return names, problems
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// coverage compares the served routes with the document and returns every
// difference, each naming the route or operation at fault: a served route
// that is not documented (under its method and path template), path
// parameters that differ, an operationId that is not the expected one or
// not unique, an x-latchkey-operation that is not the route table's id, and
// a documented operation that no route serves.
func coverage(doc map[string]any, routes []servedRoute) []string {
	var problems []string
	sunshineIDs := map[string]bool{}
	for _, rt := range routes {
		if rt.surface == "sunshine" {
			sunshineIDs[rt.OperationID] = true
		}
	}
	ops := operations(doc)
	find := func(path, method string) *docOperation {
		for i := range ops {
			if ops[i].path == path && ops[i].method == method {
				return &ops[i]
			}
		}
		return nil
	}
	served := map[string]bool{}
	for _, rt := range routes {
		e := expect(rt, sunshineIDs)
		for _, m := range e.methods {
			name := fmt.Sprintf("%s route %q (%s)", rt.surface, rt.Pattern(), rt.OperationID)
			o := find(e.path, m)
			if o == nil {
				problems = append(problems, fmt.Sprintf("%s is not documented: want %s %s", name, strings.ToUpper(m), e.path))
				continue
			}
			served[m+" "+e.path] = true
			if got, want := o.op["operationId"], e.operationID[m]; got != want {
				problems = append(problems, fmt.Sprintf("%s: %s %s has operationId %v, want %s", name, strings.ToUpper(m), e.path, got, want))
			}
			if rt.OperationID != "" && rt.surface != "server" {
				if got := o.op["x-latchkey-operation"]; got != rt.OperationID {
					problems = append(problems, fmt.Sprintf("%s: %s %s has x-latchkey-operation %v, want %s", name, strings.ToUpper(m), e.path, got, rt.OperationID))
				}
			}
			declared, bad := declaredPathParams(doc, *o)
			for _, b := range bad {
				problems = append(problems, fmt.Sprintf("%s %s: %s", strings.ToUpper(m), e.path, b))
			}
			if want := pathParams(e.path); !slices.Equal(declared, want) {
				problems = append(problems, fmt.Sprintf("%s: %s %s declares path parameters %v, want %v", name, strings.ToUpper(m), e.path, declared, want))
			}
		}
	}
	ids := map[string]string{}
	for _, o := range ops {
		where := strings.ToUpper(o.method) + " " + o.path
		id, _ := o.op["operationId"].(string)
		if id == "" {
			problems = append(problems, where+" has no operationId")
		} else if other, dup := ids[id]; dup {
			problems = append(problems, fmt.Sprintf("operationId %s is used by both %s and %s", id, other, where))
		}
		ids[id] = where
		if !served[o.method+" "+o.path] {
			problems = append(problems, fmt.Sprintf("%s (%s) is documented, but no route serves it", where, id))
		}
	}
	return problems
}

// TestEveryRouteIsDocumented: every route of every surface's route table,
// and the server's own API routes, is in the document under its method and
// path template, with its path parameters and operation id; operationIds
// are unique; and every documented operation is one of those routes.
func TestEveryRouteIsDocumented(t *testing.T) {
	routes := servedRoutes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes: the route tables are not being read", len(routes))
	}
	for _, p := range coverage(loadDocument(t), routes) {
		t.Error(p)
	}
}

// TestCoverageNamesWhatIsMissing shows that the comparison can fail, and
// says what is wrong: a route dropped from the document, a path parameter
// renamed, a route that only the server has, and a wrong operationId.
func TestCoverageNamesWhatIsMissing(t *testing.T) {
	routes := servedRoutes()
	has := func(problems []string, want string) bool {
		for _, p := range problems {
			if strings.Contains(p, want) {
				return true
			}
		}
		return false
	}

	doc := loadDocument(t)
	delete(dig(doc, "paths", "/v2/apps/{appId}/keys/{keyId}").(map[string]any), "delete")
	if got := coverage(doc, routes); !has(got, `sunshine route "DELETE /v2/apps/{appId}/keys/{keyId}" (DeleteAppKey) is not documented`) {
		t.Errorf("a route missing from the document is not named:\n%s", strings.Join(got, "\n"))
	}

	doc = loadDocument(t)
	paths := doc["paths"].(map[string]any)
	paths["/v1/keys/{keyId}/usage"] = paths["/v1/keys/{id}/usage"]
	delete(paths, "/v1/keys/{id}/usage")
	if got := coverage(doc, routes); !has(got, `native route "GET /v1/keys/{id}/usage" (GetKeyUsage) is not documented`) ||
		!has(got, "GET /v1/keys/{keyId}/usage (GetKeyUsage) is documented, but no route serves it") {
		t.Errorf("a renamed path parameter is not named:\n%s", strings.Join(got, "\n"))
	}

	extra := append(routes, servedRoute{"native", web.Route{Method: "POST", Path: "/v1/keys/{id}/freeze", OperationID: "FreezeKey"}})
	if got := coverage(loadDocument(t), extra); !has(got, `native route "POST /v1/keys/{id}/freeze" (FreezeKey) is not documented`) {
		t.Errorf("an undocumented route is not named:\n%s", strings.Join(got, "\n"))
	}

	doc = loadDocument(t)
	dig(doc, "paths", "/api-keys/{id}", "get").(map[string]any)["operationId"] = "GetApiKeyInOrganization"
	if got := coverage(doc, routes); !has(got, "GET /api-keys/{id} has operationId GetApiKeyInOrganization, want GetApiKey") ||
		!has(got, "operationId GetApiKeyInOrganization is used by both") {
		t.Errorf("a wrong, duplicated operationId is not named:\n%s", strings.Join(got, "\n"))
	}
}

// TestEveryDocumentedOperationIsServed sends every documented operation,
// without credentials, to a real server (the real handler on a real SQLite
// file): each must be served, not answered by a fallback's 404 or 405.
// Operations need a credential, so served means 401 (or 200 for the server
// routes); what the fallbacks answer is 404 or 405.
func TestEveryDocumentedOperationIsServed(t *testing.T) {
	s := lktest.New(t)
	client := s.Server.Client()
	for _, o := range operations(loadDocument(t)) {
		path := pathParam.ReplaceAllString(o.path, "x")
		req, err := http.NewRequest(strings.ToUpper(o.method), s.Server.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := http.StatusUnauthorized
		if o.op["security"] != nil && len(o.op["security"].([]any)) == 0 {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("%s %s (%v): got %d, want %d: not served? %.200s", strings.ToUpper(o.method), o.path, o.op["operationId"],
				resp.StatusCode, want, body)
		}
	}
}
