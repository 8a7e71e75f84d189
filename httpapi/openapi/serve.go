package openapi

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"
)

// The paths this package serves.
const (
	DocumentPath = "/openapi.json"
	DocsPath     = "/docs"
	stylePath    = DocsPath + "/docs.css"
)

//go:embed docs.css
var stylesheet []byte

// contentSecurityPolicy is the dashboard's, less what the page does not
// use: a stylesheet from this server, nothing else (no script, no form).
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// cacheControl lets clients and caches keep the document and the page for
// five minutes, then check again with the ETag: they change only when the
// server is upgraded.
const cacheControl = "public, max-age=300"

// resource is one thing served, with its entity tag.
type resource struct {
	body        []byte
	contentType string
	etag        string
}

func newResource(body []byte, contentType string) resource {
	sum := sha256.Sum256(body)
	return resource{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// serve answers with r, or 304 when the request's If-None-Match names its
// entity tag.
func (res resource) serve(w http.ResponseWriter, r *http.Request, extra func(http.Header)) {
	h := w.Header()
	h.Set("ETag", res.etag)
	h.Set("Cache-Control", cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	if extra != nil {
		extra(h)
	}
	if matches(r.Header.Values("If-None-Match"), res.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", res.contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.body)
}

// matches reports whether an If-None-Match header (a list of entity tags,
// weak or strong, or "*") names etag, compared weakly as RFC 9110 says.
func matches(values []string, etag string) bool {
	for _, v := range values {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// AddRoutes mounts GET /openapi.json (the document, with publicURL as its
// server if not "") and GET /docs (the reference page, with its
// stylesheet) on mux. None of them needs credentials: the document says
// nothing that is not in the source code.
func AddRoutes(mux *http.ServeMux, publicURL string) {
	doc := newResource(JSON(publicURL), "application/json; charset=utf-8")
	css := newResource(stylesheet, "text/css; charset=utf-8")
	page := newResource(renderPage(tree(), stylePath+"?v="+strings.Trim(css.etag, `"`)), "text/html; charset=utf-8")

	mux.HandleFunc("GET "+DocumentPath, func(w http.ResponseWriter, r *http.Request) {
		doc.serve(w, r, func(h http.Header) {
			// Any site may read it, as any client may: tools such as
			// Swagger UI load documents from other origins. It carries
			// no credential and reads none.
			h.Set("Access-Control-Allow-Origin", "*")
		})
	})
	mux.HandleFunc("GET "+DocsPath, func(w http.ResponseWriter, r *http.Request) {
		page.serve(w, r, func(h http.Header) {
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
		})
	})
	mux.HandleFunc("GET "+stylePath, func(w http.ResponseWriter, r *http.Request) {
		css.serve(w, r, nil)
	})
}
