package native

import (
	"net/http"
	"slices"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/httpapi/web"
)

// auditEventJSON is an audit event as this surface shows it.
type auditEventJSON struct {
	ID        string            `json:"id"`
	Time      string            `json:"time"`
	Actor     *string           `json:"actor"`
	Action    string            `json:"action"`
	Target    *auditTargetJSON  `json:"target"`
	ClientIP  string            `json:"clientIp,omitempty"`
	RequestID string            `json:"requestId,omitempty"`
	Surface   string            `json:"surface"`
	Outcome   string            `json:"outcome"`
	Detail    map[string]string `json:"detail,omitempty"`
}

type auditTargetJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func renderAuditEvent(ev *latchkey.AuditEvent) auditEventJSON {
	out := auditEventJSON{
		ID: ev.ID, Time: ev.Time.UTC().Format(time.RFC3339Nano), Action: ev.Action,
		ClientIP: ev.ClientIP, RequestID: ev.RequestID, Surface: ev.Surface,
		Outcome: string(ev.Outcome), Detail: ev.Detail,
	}
	if ev.Actor != "" {
		out.Actor = &ev.Actor
	}
	if ev.TargetID != "" {
		out.Target = &auditTargetJSON{Type: ev.TargetType, ID: ev.TargetID}
	}
	return out
}

// auditQuery is what GET /v1/audit-events reads.
func auditQuery() []web.Field {
	return append(pageParams(),
		web.Field{Name: "actor", Type: web.String},
		web.Field{Name: "target", Type: web.String},
		web.Field{Name: "action", Type: web.String},
		web.Field{Name: "outcome", Type: web.String, Enum: outcomeNames()},
		web.Field{Name: "from", Type: web.String, Format: "date-time"},
		web.Field{Name: "to", Type: web.String, Format: "date-time"},
	)
}

func outcomeNames() []string {
	names := make([]string, len(outcomes))
	for i, o := range outcomes {
		names[i] = string(o)
	}
	return names
}

// outcomes are the values the outcome filter takes.
var outcomes = []latchkey.AuditOutcome{
	latchkey.OutcomeSuccess, latchkey.OutcomeUnauthorized, latchkey.OutcomeForbidden,
	latchkey.OutcomeThrottled, latchkey.OutcomeFailure,
}

// listAuditEvents handles "GET /v1/audit-events": the caller's account's
// log, newest first, a page at a time (limit and cursor, as GET /v1/keys),
// filtered by actor, target, action, outcome, from and to (RFC 3339;
// from inclusive, to exclusive).
func (s *surface) listAuditEvents(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	q := r.URL.Query()
	var errs fieldErrors
	pq := readPage(q, &errs, validEventID)
	query := latchkey.AuditQuery{
		Actor: q.Get("actor"), Target: q.Get("target"), Action: q.Get("action"),
		After: pq.cursor, Limit: pq.limit + 1,
	}
	for _, name := range []string{"actor", "target", "action"} {
		if len(q[name]) > 1 {
			errs.add(name, "Give at most one.")
		} else if q.Has(name) && (q.Get(name) == "" || len(q.Get(name)) > 200) {
			errs.add(name, "Must be 1 to 200 characters.")
		}
	}
	if q.Has("outcome") {
		o := latchkey.AuditOutcome(q.Get("outcome"))
		if !slices.Contains(outcomes, o) {
			errs.add("outcome", "Must be success, unauthorized, forbidden, throttled or failure.")
		}
		query.Outcome = o
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"from", &query.From}, {"to", &query.To}} {
		if !q.Has(b.name) {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, q.Get(b.name))
		if err != nil {
			errs.add(b.name, "Must be an RFC 3339 time, such as 2026-01-02T15:04:05Z.")
			continue
		}
		*b.dst = t
	}
	if err := errs.err(); err != nil {
		return err
	}
	events, err := s.svc.AuditEvents(r.Context(), p, query)
	if err != nil {
		return err
	}
	more := len(events) > pq.limit
	if more {
		events = events[:pq.limit]
	}
	web.WriteJSON(w, http.StatusOK, newPage(events, more, func(ev *latchkey.AuditEvent) string { return ev.ID }, renderAuditEvent))
	return nil
}

// validEventID reports whether s could be an event id: a ULID.
func validEventID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
