package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// contentSecurityPolicy admits scripts, styles and images from this
// server only: no inline script, no inline style, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// views holds the parsed pages and the static assets with their content
// hashes (for cache-busting URLs).
type views struct {
	pages  map[string]*template.Template
	assets map[string]asset
}

type asset struct {
	body        []byte
	contentType string
	hash        string
}

// loadViews parses every page with the layout. The templates are embedded,
// so a failure is a bug in this package, caught by its tests.
func loadViews() *views {
	v := &views{pages: map[string]*template.Template{}, assets: map[string]asset{}}
	entries, err := fs.ReadDir(staticFiles, "static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		body, err := staticFiles.ReadFile("static/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		ctype := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}[path.Ext(e.Name())]
		v.assets[e.Name()] = asset{body: body, contentType: ctype, hash: hex.EncodeToString(sum[:8])}
	}
	funcs := template.FuncMap{
		"asset": func(name string) string { return Base + "/assets/" + name + "?v=" + v.assets[name].hash },
	}
	for name, fn := range viewFuncs {
		funcs[name] = fn
	}
	pages, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, file := range pages {
		name := strings.TrimSuffix(path.Base(file), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		t := template.New("layout").Funcs(funcs)
		t = template.Must(t.ParseFS(templateFiles, "templates/layout.html", "templates/_*.html", file))
		v.pages[name] = t
	}
	return v
}

// serveAsset serves a static file. A URL carrying the file's current hash
// may be cached for good; the file name alone, briefly.
func (v *views) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := v.assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == a.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Write(a.body)
}

// page is what every template gets: the layout's parts and the page's own
// Data.
type page struct {
	Title string
	// Section is the navigation entry the page belongs to.
	Section string
	// Notice is a one-line confirmation of what was just done.
	Notice string
	Data   any

	session *session
	// nav is what the navigation shows, worked out by render.
	nav []navItem
}

type navItem struct {
	Label, Href string
	Current     bool
}

// SignedIn, KeyName, KeyID and CSRF are what the layout and the forms read.
func (p *page) SignedIn() bool { return p.session != nil }
func (p *page) KeyName() string {
	if p.session == nil {
		return ""
	}
	return p.session.principal.Name
}
func (p *page) KeyID() string {
	if p.session == nil {
		return ""
	}
	return p.session.principal.KeyID
}
func (p *page) CSRF() string {
	if p.session == nil {
		return ""
	}
	return p.session.csrf()
}
func (p *page) Nav() []navItem { return p.nav }

// render writes a page with the dashboard's security headers. A template
// that fails is rendered into a buffer first, so the browser never gets
// half a page.
func (d *dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, ok := d.views.pages[name]
	if !ok {
		panic("dashboard: no template " + name)
	}
	if p.Notice == "" {
		p.Notice = notices[r.URL.Query().Get("done")]
	}
	if p.session != nil {
		for _, item := range []struct{ label, href, op, section string }{
			{"Overview", Base + "/", "", "overview"},
			{"Apps", Base + "/apps", "ListApps", "apps"},
			{"Keys", Base + "/keys", "ListKeys", "keys"},
			{"Audit log", Base + "/audit", "ListAuditEvents", "audit"},
		} {
			if item.op == "" || d.may(r, p.session, item.op, "") {
				p.nav = append(p.nav, navItem{Label: item.label, Href: item.href, Current: p.Section == item.section})
			}
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		d.logger.ErrorContext(r.Context(), "dashboard: rendering a page", "page", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	// Pages may show a secret or an account's data: never kept by a cache.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// viewFuncs are the helpers templates use to show values.
var viewFuncs = template.FuncMap{
	"time": func(t any) string {
		switch t := t.(type) {
		case time.Time:
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if t == nil {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
	"isotime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"count":   formatCount,
	"join":    strings.Join,
	"state":   func(s latchkey.KeyState) string { return stateLabels[s] },
	"add":     func(a, b int) int { return a + b },
	// dict passes several values to a part: dict "Name" value "Other" value.
	"dict": func(pairs ...any) map[string]any {
		m := make(map[string]any, len(pairs)/2)
		for i := 0; i+1 < len(pairs); i += 2 {
			m[fmt.Sprint(pairs[i])] = pairs[i+1]
		}
		return m
	},
	// periods are the rate-limit periods offered, with the key's own if it
	// is another (set through the API).
	"periods": func(current string) []string {
		if current == "" || slices.Contains(ratePeriods, current) {
			return ratePeriods
		}
		return append(slices.Clone(ratePeriods), current)
	},
}

// formatCount writes n with thousands separators: 12,345.
func formatCount(n any) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// stateLabels are how the states read in lists.
var stateLabels = map[latchkey.KeyState]string{
	latchkey.KeyActive: "Active", latchkey.KeyInGrace: "In grace", latchkey.KeyExpired: "Expired", latchkey.KeyDisabled: "Disabled",
}

// notices confirm what a change did, on the page it sends the browser to
// (see done). Only these fixed texts are shown: a link cannot make the
// dashboard say something else.
var notices = map[string]string{
	"app-created":         "App created.",
	"app-renamed":         "App renamed.",
	"app-deleted":         "App deleted, with its integrations and keys.",
	"integration-created": "Integration created.",
	"integration-renamed": "Integration renamed.",
	"integration-deleted": "Integration deleted, with its keys.",
	"key-updated":         "Key saved.",
	"key-unchanged":       "Nothing to save: the key is as it was.",
	"key-exists":          "That key was made already (the form was sent twice); its secret was shown the first time only.",
	"key-enabled":         "Key enabled: it authenticates again.",
	"key-disabled":        "Key disabled: it no longer authenticates.",
	"key-revoked":         "Key revoked: it no longer authenticates.",
}

// done answers a change that succeeded by sending the browser to the page
// that shows its result (POST, redirect, GET: reloading that page repeats
// nothing), with the notice that confirms it.
func done(w http.ResponseWriter, r *http.Request, to, notice string) {
	http.Redirect(w, r, to+"?done="+notice, http.StatusSeeOther)
}
