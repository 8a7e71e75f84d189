package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/httpapi/web"
)

// auditRefusal records what a request's answer says the audit log must
// hold once the request is answered: a management attempt refused with 401
// or 403, with the key its credential named; or, for a request refused by
// the failed-authentication throttle, one more failure in its address's
// burst. Changes are recorded by the core with the change itself, and
// failed checks on the verify path by the core too, in bursts.
func auditRefusal(ctx context.Context, rec *audit.Recorder, r *http.Request, req *audit.Request, status int) {
	var outcome latchkey.AuditOutcome
	switch {
	case req.Throttled:
		rec.Failure(req, latchkey.ActionAuthFailures, "", "", "THROTTLED")
		return
	case req.Operation == "":
		return // not a management route (authorize, or no route at all)
	case status == http.StatusUnauthorized:
		outcome = latchkey.OutcomeUnauthorized
	case status == http.StatusForbidden:
		outcome = latchkey.OutcomeForbidden
	default:
		return
	}
	// The write comes after the answer: it must not be canceled when the
	// client goes away, but it is bounded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	named := ""
	if outcome == latchkey.OutcomeUnauthorized {
		if named = req.Named; named == "" {
			named = web.NamedKeyID(r)
		}
	}
	rec.Refused(ctx, req, outcome, named)
}

// surfaceOf names the surface a path belongs to, for the audit log.
func surfaceOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/v2/"):
		return "sunshine"
	case strings.HasPrefix(path, "/api-keys"), strings.HasPrefix(path, "/organizations/"):
		return "rebilly"
	case path == "/v1/verify", path == "/v1/authorize", strings.HasPrefix(path, "/v1/authorize/"):
		return "gateway"
	case path == "/dashboard", strings.HasPrefix(path, "/dashboard/"):
		return "dashboard"
	default:
		return "native"
	}
}
