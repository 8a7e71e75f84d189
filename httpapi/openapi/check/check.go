// Package check validates real HTTP exchanges against Latchkey's OpenAPI
// document: that the response's status is one the operation documents, that
// the headers the document declares are there and well-formed, and that the
// body has the documented media type and matches its JSON Schema. Schemas
// and formats are checked by libopenapi-validator (pb33f), which implements
// OpenAPI 3.1 and JSON Schema 2020-12.
//
// Requests are not validated: tests send bad requests on purpose, and the
// server's answer to them is what is checked.
//
// It serves the end-to-end suite's checker (tests/e2e/apicheck) and this
// module's Go tests; the server does not use it.
package check

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/responses"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// Exchange is one request and the response it got, as recorded.
type Exchange struct {
	Method string `json:"method"`
	// Target is the request target: the path and query as sent.
	Target string `json:"target"`
	Status int    `json:"status"`
	// Header holds the response's headers.
	Header http.Header `json:"headers"`
	// Body is the response body: text, or base64 when Base64 is set.
	Body   string `json:"body"`
	Base64 bool   `json:"base64,omitempty"`
	// Source says where the exchange came from (a test file), for reports.
	Source string `json:"source,omitempty"`
}

// Result is what Check found.
type Result struct {
	// Operation names the documented operation the exchange was checked
	// against ("GET /v2/apps/{appId}"), or "" when it was skipped.
	Operation string
	// Skipped says why the exchange was not checked: the server's answer
	// to a path or method no operation serves (404 or 405).
	Skipped string
	// Problems are the mismatches found; none means the response matches.
	Problems []string
}

// Checker checks exchanges against one document. It is not safe for
// concurrent use.
type Checker struct {
	model     *v3.Document
	responses responses.ResponseBodyValidator
	paths     []template
	// raw is the document as plain JSON, for what the model does not give
	// simply (extensions, whether a response declares content).
	raw map[string]any
}

// template is one documented path, split in segments.
type template struct {
	path     string
	segments []string
	// rest names the parameter that takes the rest of the path, several
	// segments (x-latchkey-rest on the path item), or "".
	rest string
}

// New reads an OpenAPI 3.1 document (JSON or YAML).
func New(doc []byte) (*Checker, error) {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	m, err := d.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("building the document's model: %w", err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		return nil, fmt.Errorf("making the validator: %v", errs)
	}
	if ok, docErrs := v.ValidateDocument(); !ok {
		var b strings.Builder
		for _, e := range docErrs {
			fmt.Fprintf(&b, "\n  %s: %s", e.Message, e.Reason)
			for _, f := range e.SchemaValidationErrors {
				fmt.Fprintf(&b, "\n    %s at %s", f.Reason, f.KeywordLocation)
			}
		}
		return nil, fmt.Errorf("the document is not valid OpenAPI:%s", b.String())
	}
	c := &Checker{
		model: &m.Model,
		// Formats (date-time, uri) are asserted, not merely annotations.
		responses: responses.NewResponseBodyValidator(&m.Model, config.WithFormatAssertions()),
	}
	if err := json.Unmarshal(doc, &c.raw); err != nil {
		return nil, fmt.Errorf("the document is not JSON: %w", err)
	}
	paths, _ := c.raw["paths"].(map[string]any)
	for p, item := range paths {
		t := template{path: p, segments: strings.Split(p, "/")}
		if im, ok := item.(map[string]any); ok {
			t.rest, _ = im["x-latchkey-rest"].(string)
		}
		c.paths = append(c.paths, t)
	}
	// Literal segments before parameters, as routers prefer them; then
	// the path for a stable order.
	slices.SortFunc(c.paths, func(a, b template) int {
		if d := literals(b) - literals(a); d != 0 {
			return d
		}
		return strings.Compare(a.path, b.path)
	})
	return c, nil
}

func literals(t template) int {
	n := 0
	for _, s := range t.segments {
		if !isParam(s) {
			n++
		}
	}
	return n
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

// match finds the documented path that a request path falls under.
func (c *Checker) match(escapedPath string) (template, bool) {
	segs := strings.Split(escapedPath, "/")
	for _, t := range c.paths {
		if t.matches(segs) {
			return t, true
		}
	}
	return template{}, false
}

func (t template) matches(segs []string) bool {
	for i, want := range t.segments {
		if i >= len(segs) {
			return false
		}
		if isParam(want) {
			if segs[i] == "" {
				return false
			}
			if want[1:len(want)-1] == t.rest && i == len(t.segments)-1 {
				return true // the rest of the path, one segment or more
			}
			continue
		}
		got, err := url.PathUnescape(segs[i])
		if err != nil || got != want {
			return false
		}
	}
	return len(segs) == len(t.segments)
}

// Check checks one exchange.
func (c *Checker) Check(ex Exchange) Result {
	body := []byte(ex.Body)
	if ex.Base64 {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ex.Body); err != nil {
			return Result{Problems: []string{"the recorded body is not base64: " + err.Error()}}
		}
	}
	u, err := url.ParseRequestURI(ex.Target)
	if err != nil {
		return Result{Problems: []string{"the recorded target does not parse: " + err.Error()}}
	}
	t, ok := c.match(u.EscapedPath())
	if !ok {
		return c.undocumented(ex, "no documented path")
	}
	item := c.model.Paths.PathItems.GetOrZero(t.path)
	method := strings.ToUpper(ex.Method)
	op := operation(item, method)
	if op == nil && method == http.MethodHead {
		// A GET route answers HEAD too (net/http), with GET's headers
		// and no body: checked against GET.
		clone := *item
		clone.Head = item.Get
		item, op = &clone, item.Get
	}
	if op == nil {
		return c.undocumented(ex, "no documented "+method+" on "+t.path)
	}
	res := Result{Operation: method + " " + t.path}
	if op.Responses == nil {
		return res
	}
	status := strconv.Itoa(ex.Status)
	resp := op.Responses.Codes.GetOrZero(status)
	if resp == nil {
		res.Problems = append(res.Problems, fmt.Sprintf("status %d is not documented for %s (documented: %s)",
			ex.Status, res.Operation, strings.Join(codes(op), ", ")))
		return res
	}

	req := &http.Request{Method: method, URL: u, Header: http.Header{}, Host: "latchkey"}
	hresp := &http.Response{StatusCode: ex.Status, Header: canonical(ex.Header), Body: http.NoBody, Request: req}
	if len(body) > 0 {
		hresp.Body = io.NopCloser(bytes.NewReader(body))
	}
	hasContent := resp.Content != nil && resp.Content.Len() > 0
	switch {
	case method == http.MethodHead && len(body) > 0:
		res.Problems = append(res.Problems, "a HEAD response has a body")
		return res
	case !hasContent && len(body) > 0:
		res.Problems = append(res.Problems, fmt.Sprintf("status %d documents no body, but the response has %d bytes: %.200s",
			ex.Status, len(body), body))
		return res
	case hasContent && len(body) == 0 && method != http.MethodHead:
		if !c.emptyBodyAllowed(t.path, strings.ToLower(method), status) {
			res.Problems = append(res.Problems, fmt.Sprintf("status %d documents a body, but the response has none", ex.Status))
			return res
		}
		// A documented exception (x-latchkey-empty-body): the headers
		// are still checked.
		if resp.Headers != nil {
			if _, errs := responses.ValidateResponseHeaders(req, hresp, resp.Headers, t.path, status); len(errs) > 0 {
				res.Problems = append(res.Problems, describe(errs)...)
			}
		}
		return res
	}
	if _, errs := c.responses.ValidateResponseBodyWithPathItem(req, hresp, item, t.path); len(errs) > 0 {
		for _, p := range describe(errs) {
			// The validator names the request's own path; the template
			// lets reports group the same mismatch on different ids.
			res.Problems = append(res.Problems, strings.ReplaceAll(p, "'"+u.Path+"'", "'"+t.path+"'"))
		}
	}
	return res
}

// undocumented answers an exchange no operation covers: skipped if the
// server answered as it does for a path or method it does not serve (404,
// or 405 with Allow), a problem otherwise, since then the server served
// something the document does not describe.
func (c *Checker) undocumented(ex Exchange, why string) Result {
	if ex.Status == http.StatusNotFound || ex.Status == http.StatusMethodNotAllowed {
		return Result{Skipped: fmt.Sprintf("%s (%d)", why, ex.Status)}
	}
	return Result{Problems: []string{fmt.Sprintf("%s, yet the server answered %d", why, ex.Status)}}
}

// emptyBodyAllowed reports whether the document says a response may come
// without its body (x-latchkey-empty-body, as the gateway endpoint answers
// nginx).
func (c *Checker) emptyBodyAllowed(path, method, status string) bool {
	r := dig(c.raw, "paths", path, method, "responses", status)
	for i := 0; i < 5; i++ {
		m, ok := r.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := m["x-latchkey-empty-body"]; ok {
			return true
		}
		ref, _ := m["$ref"].(string)
		if !strings.HasPrefix(ref, "#/") {
			return false
		}
		r = dig(c.raw, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
	}
	return false
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// canonical returns h with its names in canonical form, as net/http keeps
// them (a recording may have them as they came on the wire).
func canonical(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		k = textproto.CanonicalMIMEHeaderKey(k)
		out[k] = append(out[k], v...)
	}
	return out
}

func operation(item *v3.PathItem, method string) *v3.Operation {
	switch method {
	case http.MethodGet:
		return item.Get
	case http.MethodHead:
		return item.Head
	case http.MethodPost:
		return item.Post
	case http.MethodPut:
		return item.Put
	case http.MethodPatch:
		return item.Patch
	case http.MethodDelete:
		return item.Delete
	case http.MethodOptions:
		return item.Options
	case http.MethodTrace:
		return item.Trace
	}
	return nil
}

func codes(op *v3.Operation) []string {
	var out []string
	for code := range op.Responses.Codes.KeysFromOldest() {
		out = append(out, code)
	}
	return out
}

// describe turns the validator's errors into one line each.
func describe(errs []*verrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		line := e.Message
		if e.Reason != "" && e.Reason != e.Message {
			line += ": " + e.Reason
		}
		for _, f := range e.SchemaValidationErrors {
			where := f.FieldPath
			if where == "" {
				where = "/" + strings.Join(f.InstancePath, "/")
			}
			line += fmt.Sprintf("\n      at %s: %s", where, f.Reason)
			if f.KeywordLocation != "" {
				line += " (" + f.KeywordLocation + ")"
			}
		}
		out = append(out, line)
	}
	return out
}
