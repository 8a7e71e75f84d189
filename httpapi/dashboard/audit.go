package dashboard

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/latchkey/latchkey"
)

// auditPageSize is how many events the audit log shows at a time.
const auditPageSize = 50

// auditRow is one event as the tables show it.
type auditRow struct {
	Time                                time.Time
	Actor, Action, Target, Outcome, Via string
	ClientIP                            string
	Detail                              string
}

func auditRows(events []*latchkey.AuditEvent) []auditRow {
	rows := make([]auditRow, len(events))
	for i, ev := range events {
		row := auditRow{Time: ev.Time, Actor: ev.Actor, Action: ev.Action, Outcome: string(ev.Outcome),
			Via: ev.Surface, ClientIP: ev.ClientIP}
		if ev.TargetID != "" {
			row.Target = ev.TargetType + " " + ev.TargetID
		}
		names := make([]string, 0, len(ev.Detail))
		for k := range ev.Detail {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			if row.Detail != "" {
				row.Detail += ", "
			}
			row.Detail += k + "=" + ev.Detail[k]
		}
		rows[i] = row
	}
	return rows
}

// auditView is the audit log page: its filters as given, the events, and
// the link to older ones.
type auditView struct {
	Actor, Target, Action, Outcome, From, To string
	Actions                                  []string
	Outcomes                                 []string
	Rows                                     []auditRow
	Older, Newest                            string
	Problem                                  string
}

// auditActions are the actions the filter offers.
var auditActions = []string{
	latchkey.ActionAppCreate, latchkey.ActionAppUpdate, latchkey.ActionAppDelete,
	latchkey.ActionIntegrationCreate, latchkey.ActionIntegrationUpdate, latchkey.ActionIntegrationDelete,
	latchkey.ActionKeyCreate, latchkey.ActionKeyUpdate, latchkey.ActionKeyRoll, latchkey.ActionKeyDelete, latchkey.ActionKeyReveal,
	latchkey.ActionSessionCreate, latchkey.ActionSessionDelete,
	latchkey.ActionAuthFailures, latchkey.ActionVerifyFailures, latchkey.ActionAccountCreate,
}

var auditOutcomes = []latchkey.AuditOutcome{latchkey.OutcomeSuccess, latchkey.OutcomeUnauthorized,
	latchkey.OutcomeForbidden, latchkey.OutcomeThrottled, latchkey.OutcomeFailure}

// auditLog shows the account's audit log, newest first, filtered by actor,
// target, action, outcome and a time range (UTC), a page at a time.
func (d *dashboard) auditLog(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	v := auditView{Actor: q.Get("actor"), Target: q.Get("target"), Action: q.Get("action"), Outcome: q.Get("outcome"),
		From: q.Get("from"), To: q.Get("to"), Actions: auditActions}
	for _, o := range auditOutcomes {
		v.Outcomes = append(v.Outcomes, string(o))
	}
	query := latchkey.AuditQuery{Actor: v.Actor, Target: v.Target, Action: v.Action, Limit: auditPageSize + 1, After: q.Get("after")}
	if v.Outcome != "" {
		if !slices.Contains(v.Outcomes, v.Outcome) {
			v.Problem = "Choose an outcome from the list."
		}
		query.Outcome = latchkey.AuditOutcome(v.Outcome)
	}
	var err error
	if query.From, err = parseFormTime(v.From); err != nil {
		v.Problem = "From: " + err.Error()
	}
	if query.To, err = parseFormTime(v.To); err != nil {
		v.Problem = "To: " + err.Error()
	}
	status := http.StatusOK
	if v.Problem != "" {
		status = http.StatusBadRequest
	} else {
		events, err := d.svc.AuditEvents(r.Context(), s.principal, query)
		if err != nil {
			return err
		}
		filters := url.Values{}
		for _, name := range []string{"actor", "target", "action", "outcome", "from", "to"} {
			if val := q.Get(name); val != "" {
				filters.Set(name, val)
			}
		}
		if query.After != "" {
			v.Newest = Base + "/audit?" + filters.Encode()
		}
		if len(events) > auditPageSize {
			events = events[:auditPageSize]
			filters.Set("after", events[len(events)-1].ID)
			v.Older = Base + "/audit?" + filters.Encode()
		}
		v.Rows = auditRows(events)
	}
	d.render(w, r, status, "audit", &page{Title: "Audit log", Section: "audit", session: s, Data: v})
	return nil
}

// formTimeLayout is what a datetime-local input sends (formSecondsLayout
// with step="1"); the dashboard reads and shows every time in UTC.
const (
	formTimeLayout    = "2006-01-02T15:04"
	formSecondsLayout = "2006-01-02T15:04:05"
)

// parseFormTime reads a datetime-local value (or RFC 3339) as UTC; "" is
// the zero time.
func parseFormTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{formTimeLayout, formSecondsLayout, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errBadTime
}

var errBadTime = latchkey.Errorf(latchkey.EINVALID, "enter a date and time such as 2026-12-31T23:59 (UTC)")
