package rebilly

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/httpapi/web"
)

// What the fuzz targets (package rebilly_test) need of the package's
// internals: the list query parser, its bounds, and the fields its
// validation errors name.

// ParseListQuery reads a raw query string as the list route does: strictly,
// against the route's parameters (web.ParseQuery, in operation), then with
// parseListQuery.
func ParseListQuery(raw string) (latchkey.KeyQuery, error) {
	values, qerr := web.ParseQuery(raw, listQuery())
	if qerr != nil {
		return latchkey.KeyQuery{}, qerr
	}
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/api-keys"}}
	return parseListQuery(web.WithQuery(r, values))
}

const (
	MaxLimit         = maxLimit
	MaxOffset        = maxOffset
	MaxSortFields    = maxSortFields
	MaxFilterClauses = maxFilterClauses
	MaxFilterValues  = maxFilterValues
)

// InvalidFields returns the fields a validation error names, and false for
// any other error.
func InvalidFields(err error) ([]string, bool) {
	var v *validationError
	if !errors.As(err, &v) {
		return nil, false
	}
	var fields []string
	for _, f := range v.fields {
		fields = append(fields, f.Field)
	}
	return fields, true
}
