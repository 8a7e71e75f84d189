// Package dashboard serves Latchkey's web dashboard under /dashboard: an
// account key signs in (Key ID and Secret) and gets a session cookie, then
// manages apps, integrations and keys, watches usage and reads the audit
// log, in server-rendered pages with a little JavaScript.
//
// Like the API surfaces it is a thin adapter over the core. Each page and
// each action names the operation it performs (the native and Sunshine
// operation ids, which are also the ACL permissions) and is admitted by
// the same policy check as the APIs (web.Admit, core.Authorize), so a
// restricted key sees and does in the dashboard exactly what it could
// through the API. Key forms are turned into native key bodies and read by
// the native surface's own reader, so they get the API's rules and field
// messages. Every change goes through the core, which audits it.
//
// Pages are rendered on the server (html/template) and work without
// JavaScript; static/app.js only adds conveniences (copying a secret,
// opening dialogs, showing the custom grace field). Charts are SVG drawn
// on the server. A Content-Security-Policy admits scripts and styles from
// this server only, with no inline script or style.
package dashboard

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// DefaultSessionLifetime is how long a session lasts unless configured.
const DefaultSessionLifetime = 12 * time.Hour

// Base is the path the dashboard is served under.
const Base = "/dashboard"

// dashboard holds what every handler needs.
type dashboard struct {
	logger   *slog.Logger
	cfg      web.Config
	svc      *core.Service
	verifier *auth.Verifier
	lifetime time.Duration
	views    *views
	origins  *http.CrossOriginProtection
	now      func() time.Time
}

// pageFunc serves a page or an action for a signed-in principal. It
// returns an error to be shown as an error page (see fail).
type pageFunc func(w http.ResponseWriter, r *http.Request, s *session) error

// route is one line of the table in routes.
type route struct {
	pattern string
	// op is the operation the route performs: its ACL permission, checked
	// before the handler runs (web.Admit), and its name in the audit log.
	// "" admits any signed-in key (its policy but its ACL): the route shows
	// only what the key may see, panel by panel.
	op string
	// org is the path value naming the app the route addresses (the ACL
	// organization), or "".
	org string
	// ungated routes need only a session and its CSRF token, whatever the
	// key's policy: signing out must always work.
	ungated bool
	handle  pageFunc
}

// routes is the one list of the dashboard's signed-in routes. GET routes
// show pages; POST routes change something and need the session's CSRF
// token.
func (d *dashboard) routes() []route {
	return []route{
		{pattern: "GET /dashboard/{$}", handle: d.overview},

		{pattern: "GET /dashboard/apps", op: "ListApps", handle: d.listApps},
		{pattern: "POST /dashboard/apps", op: "CreateApp", handle: d.createApp},
		{pattern: "GET /dashboard/apps/{appId}", op: "GetApp", org: "appId", handle: d.showApp},
		{pattern: "POST /dashboard/apps/{appId}", op: "UpdateApp", org: "appId", handle: d.renameApp},
		{pattern: "GET /dashboard/apps/{appId}/delete", op: "DeleteApp", org: "appId", handle: d.confirmDeleteApp},
		{pattern: "POST /dashboard/apps/{appId}/delete", op: "DeleteApp", org: "appId", handle: d.deleteApp},

		{pattern: "POST /dashboard/apps/{appId}/integrations", op: "CreateIntegration", org: "appId", handle: d.createIntegration},
		{pattern: "GET /dashboard/apps/{appId}/integrations/{integrationId}", op: "GetIntegration", org: "appId", handle: d.showIntegration},
		{pattern: "POST /dashboard/apps/{appId}/integrations/{integrationId}", op: "UpdateIntegration", org: "appId", handle: d.renameIntegration},
		{pattern: "GET /dashboard/apps/{appId}/integrations/{integrationId}/delete", op: "DeleteIntegration", org: "appId", handle: d.confirmDeleteIntegration},
		{pattern: "POST /dashboard/apps/{appId}/integrations/{integrationId}/delete", op: "DeleteIntegration", org: "appId", handle: d.deleteIntegration},

		{pattern: "GET /dashboard/keys", op: "ListKeys", handle: d.listKeys},
		{pattern: "GET /dashboard/keys/new", op: "CreateKey", handle: d.newKey},
		{pattern: "POST /dashboard/keys", op: "CreateKey", handle: d.createKey},
		{pattern: "GET /dashboard/keys/{id}", op: "GetKey", handle: d.showKey},
		{pattern: "GET /dashboard/keys/{id}/edit", op: "UpdateKey", handle: d.editKey},
		{pattern: "POST /dashboard/keys/{id}", op: "UpdateKey", handle: d.updateKey},
		{pattern: "POST /dashboard/keys/{id}/enabled", op: "UpdateKey", handle: d.switchKey},
		{pattern: "POST /dashboard/keys/{id}/reveal", op: "GetKey", handle: d.revealKey},
		{pattern: "GET /dashboard/keys/{id}/roll", op: "RollKey", handle: d.confirmRollKey},
		{pattern: "POST /dashboard/keys/{id}/roll", op: "RollKey", handle: d.rollKey},
		{pattern: "GET /dashboard/keys/{id}/revoke", op: "DeleteKey", handle: d.confirmRevokeKey},
		{pattern: "POST /dashboard/keys/{id}/revoke", op: "DeleteKey", handle: d.revokeKey},

		{pattern: "GET /dashboard/audit", op: "ListAuditEvents", handle: d.auditLog},

		{pattern: "POST /dashboard/sign-out", op: "SignOut", ungated: true, handle: d.signOut},
	}
}

// AddRoutes mounts the dashboard on mux. lifetime is how long a session
// lasts (0: DefaultSessionLifetime).
func AddRoutes(mux *http.ServeMux, logger *slog.Logger, cfg web.Config, svc *core.Service, verifier *auth.Verifier, lifetime time.Duration) {
	if lifetime <= 0 {
		lifetime = DefaultSessionLifetime
	}
	d := &dashboard{logger: logger, cfg: cfg, svc: svc, verifier: verifier, lifetime: lifetime,
		views: loadViews(), origins: http.NewCrossOriginProtection(), now: time.Now}
	for _, rt := range d.routes() {
		mux.Handle(rt.pattern, d.signedIn(rt))
	}
	mux.HandleFunc("GET /dashboard", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Base+"/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /dashboard/sign-in", d.signInPage)
	mux.HandleFunc("POST /dashboard/sign-in", d.signIn)
	mux.HandleFunc("GET /dashboard/assets/{file}", d.views.serveAsset)
	mux.HandleFunc("/dashboard/", func(w http.ResponseWriter, r *http.Request) {
		d.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found", Data: errorView{
			Heading: "Page not found", Message: "There is no dashboard page at this address.",
		}})
	})
}

// signedIn serves rt for a signed-in session: it finds the session (or
// sends the browser to sign in), checks the CSRF token of a change, and
// admits the operation under the key's policy before the handler runs.
func (d *dashboard) signedIn(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := d.session(r)
		if err != nil {
			d.sessionFailed(w, r, err)
			return
		}
		if r.Method == http.MethodPost {
			if err := d.checkChange(r, s); err != nil {
				d.fail(w, r, s, err)
				return
			}
		}
		var org string
		if rt.org != "" {
			org = r.PathValue(rt.org)
		}
		if !rt.ungated {
			if err := web.Admit(r, d.cfg, s.principal, rt.op, org); err != nil {
				d.fail(w, r, s, err)
				return
			}
		}
		if err := rt.handle(w, r, s); err != nil {
			d.fail(w, r, s, err)
		}
	})
}

// may reports whether the session's key may perform op (on the app org):
// what decides which links and buttons a page shows. The routes check it
// again, so a hidden button is a courtesy, not the protection.
func (d *dashboard) may(r *http.Request, s *session, op, org string) bool {
	return core.Authorize(s.principal, op, org, d.cfg.ClientIP(r)) == nil
}

// fail shows err as an error page with the status the APIs would give it.
func (d *dashboard) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	status, view := http.StatusInternalServerError, errorView{Heading: "Something went wrong", Message: "The server could not do that. It was logged; try again."}
	var csrf *csrfError
	switch code := latchkey.ErrorCode(err); {
	case errors.As(err, &csrf):
		status, view = http.StatusForbidden, errorView{Heading: "Request refused", Message: csrf.message}
	case code == latchkey.EFORBIDDEN:
		status, view = http.StatusForbidden, errorView{Heading: "Not allowed", Message: "The key you signed in with may not do that. " + latchkey.ErrorMessage(err) + "."}
	case code == latchkey.ENOTFOUND:
		status, view = http.StatusNotFound, errorView{Heading: "Not found", Message: "That " + notFoundSubject(err) + " does not exist, or is not one your key can see."}
	case code == latchkey.EINVALID:
		status, view = http.StatusBadRequest, errorView{Heading: "Invalid request", Message: latchkey.ErrorMessage(err)}
	case code == latchkey.ECONFLICT, code == latchkey.ELIMIT:
		status, view = http.StatusConflict, errorView{Heading: "Could not be done", Message: latchkey.ErrorMessage(err)}
	case code == latchkey.EUNAVAILABLE:
		web.LogUnavailable(d.logger, r, err)
		web.SetRetryAfter(w)
		status, view = http.StatusServiceUnavailable, errorView{Heading: "Unavailable", Message: "The store cannot be reached just now; try again in a moment."}
	default:
		d.logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	d.render(w, r, status, "error", &page{Title: view.Heading, session: s, Data: view})
}

func notFoundSubject(err error) string {
	var e *latchkey.Error
	if errors.As(err, &e) && e.Subject != "" {
		return e.Subject
	}
	return "page"
}

// errorView is what the error page shows.
type errorView struct {
	Heading, Message string
}
