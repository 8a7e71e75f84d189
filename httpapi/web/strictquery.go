package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// QueryError is a query string that cannot be used. Param names the
// parameter at fault, as sent if it could not be decoded.
type QueryError struct {
	Param, Message string
}

func (e *QueryError) Error() string { return e.Message }

// ParseQuery reads a raw query string strictly, where net/url is lenient in
// ways that silently change a request: url.ParseQuery drops a pair whose
// percent-encoding is invalid, and one holding a ";", so that "limit=%zz"
// or "limit=5;x" would list with the default limit, and Request.Query takes
// the first of two values where a client may have meant the second.
//
//   - Pairs are split on "&" only: a ";" is data (Rebilly's filter syntax
//     uses it, unescaped).
//   - Every name and value must be valid percent-encoding ("+" is a space)
//     of UTF-8 text without U+0000.
//   - A parameter of params that is not Repeatable may appear at most once.
//
// Parameters that are not in params are kept, once or more, for the caller
// to ignore.
func ParseQuery(raw string, params []Field) (url.Values, *QueryError) {
	values := url.Values{}
	if err := ScanQuery(raw, func(name, value string) *QueryError {
		values[name] = append(values[name], value)
		return nil
	}); err != nil {
		return nil, err
	}
	for _, p := range params {
		if !p.Repeatable && len(values[p.Name]) > 1 {
			return nil, OnlyOnce(p.Name)
		}
	}
	return values, nil
}

// ScanQuery decodes a raw query string as strictly as ParseQuery does and
// calls fn with each pair in order, stopping at the first error fn or the
// decoding returns. It builds no map, so a hot path that knows its few
// parameters (the gateway authorize endpoint) reads them without
// allocating; such a caller checks repeats itself, with OnlyOnce.
func ScanQuery(raw string, fn func(name, value string) *QueryError) *QueryError {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil || !queryText(name) {
			return &QueryError{Param: k, Message: "The query parameter name " + strconv.Quote(truncate(k, 100)) +
				" is not valid percent-encoding of UTF-8 text."}
		}
		value, err := url.QueryUnescape(v)
		if err != nil || !queryText(value) {
			return &QueryError{Param: name, Message: "The value of " + name + " is not valid percent-encoding of UTF-8 text."}
		}
		if qerr := fn(name, value); qerr != nil {
			return qerr
		}
	}
	return nil
}

// OnlyOnce is the error for a parameter that may be given only once and was
// given again.
func OnlyOnce(name string) *QueryError {
	return &QueryError{Param: name, Message: name + " may be given only once."}
}

func queryText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// WithQuery returns a shallow copy of r whose query is values, encoded
// canonically, so that a handler reading r.URL.Query() sees exactly what
// ParseQuery read. r itself is left as it is.
func WithQuery(r *http.Request, values url.Values) *http.Request {
	r2 := new(http.Request)
	*r2 = *r // path values included
	u := *r.URL
	u.RawQuery = values.Encode()
	r2.URL = &u
	return r2
}

// ParseInt reads a whole number written as JSON writes one: an optional
// "-", then digits without leading zeros, and never "-0" or "+1", so that
// "1e2", "1.0", "0x10", "010" and " 1" are refused rather than guessed at.
// It must lie in [min, max].
func ParseInt(s string, min, max int) (int, bool) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 18 || (len(digits) > 1 && digits[0] == '0') || s == "-0" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, false
	}
	return n, true
}
