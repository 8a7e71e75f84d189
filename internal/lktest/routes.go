package lktest

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/httpapi/web"
)

// BodyRoutes returns the method and path of every route that reads a body,
// from the surface's own table (Routes), with each {wildcard} filled in
// with every value params gives it. A wildcard that params lacks fails the
// setup, so that a new route is never silently left out.
func BodyRoutes(tb testing.TB, routes []web.Route, params map[string][]string) [][2]string {
	tb.Helper()
	var out [][2]string
	for _, rt := range routes {
		if rt.Body == nil {
			continue
		}
		paths := []string{""}
		for _, seg := range strings.Split(strings.TrimPrefix(rt.Path, "/"), "/") {
			values := []string{seg}
			if name, ok := strings.CutPrefix(seg, "{"); ok {
				name = strings.TrimSuffix(name, "}")
				if values, ok = params[name]; !ok && name != "$" {
					tb.Fatalf("route %s %s: no value for {%s}", rt.Method, rt.Path, name)
				} else if name == "$" {
					values = []string{""}
				}
			}
			var next []string
			for _, p := range paths {
				for _, v := range values {
					next = append(next, p+"/"+v)
				}
			}
			paths = next
		}
		for _, p := range paths {
			out = append(out, [2]string{rt.Method, p})
		}
	}
	if len(out) == 0 {
		tb.Fatal("no route reads a body")
	}
	return out
}
