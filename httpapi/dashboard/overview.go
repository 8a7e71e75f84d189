package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
)

// overviewView is what the overview shows; each panel is nil when the key
// may not see it.
type overviewView struct {
	// Counts shows apps and integrations (ListApps), and keys if ShowKeys
	// (ListKeys).
	Counts   *latchkey.RecordCounts
	ShowKeys bool
	States   []stateCount
	Hygiene  []hygieneCount
	Usage    *usageChart
	Activity []auditRow
}

type stateCount struct {
	State latchkey.KeyState
	Count int
	Href  string
}

type hygieneCount struct {
	Label, Help, Href string
	Count             int
}

// hygieneText says what each finding means, as the overview lists them.
var hygieneText = map[latchkey.KeyHygiene]struct{ Label, Help string }{
	latchkey.HygieneNeverUsed:    {"Never used", "No successful verification yet."},
	latchkey.HygieneStale:        {"Unused for 30 days", "Used before, but not in the last 30 days."},
	latchkey.HygieneNoExpiry:     {"Never expiring", "No expiry date."},
	latchkey.HygieneNoRateLimit:  {"Without rate limit", "Can be verified without limit."},
	latchkey.HygieneUnrestricted: {"Unrestricted", "No permission list: everything within their owner."},
}

// overview shows the account at a glance: counts, keys by state, key
// hygiene, the last 24 hours' verifications by outcome, recent activity.
// The panels are independent reads, made at once: on a large account the
// page takes as long as its slowest panel, not their sum.
func (d *dashboard) overview(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, p, now := r.Context(), s.principal, d.now().UTC()
	var v overviewView
	var wg sync.WaitGroup
	errs := make([]error, 4)
	if d.may(r, s, "ListApps", "") {
		wg.Go(func() {
			var counts latchkey.RecordCounts
			counts, errs[0] = d.svc.RecordCounts(ctx, p)
			v.Counts = &counts
		})
	}
	if v.ShowKeys = d.may(r, s, "ListKeys", ""); v.ShowKeys {
		wg.Go(func() {
			var stats latchkey.KeyStats
			if stats, errs[1] = d.svc.KeyStats(ctx, p, now); errs[1] != nil {
				return
			}
			for _, st := range latchkey.KeyStates {
				v.States = append(v.States, stateCount{State: st, Count: stats.States[st], Href: Base + "/keys?" + url.Values{"state": {string(st)}}.Encode()})
			}
			for _, h := range latchkey.KeyHygienes {
				v.Hygiene = append(v.Hygiene, hygieneCount{Label: hygieneText[h].Label, Help: hygieneText[h].Help, Count: stats.Hygiene[h],
					Href: Base + "/keys?" + url.Values{"hygiene": {string(h)}}.Encode()})
			}
		})
	}
	if d.may(r, s, "GetKeyUsage", "") {
		wg.Go(func() {
			to := now.Truncate(time.Hour).Add(time.Hour)
			from := to.Add(-24 * time.Hour)
			var counts []latchkey.UsageCount
			if counts, errs[2] = d.svc.UsageSummary(ctx, p, latchkey.UsageQuery{From: from, To: to, Bucket: latchkey.BucketHour}); errs[2] != nil {
				return
			}
			chart := newUsageChart("Verifications in the last 24 hours, by outcome", counts, from, to, latchkey.BucketHour)
			v.Usage = &chart
		})
	}
	if d.may(r, s, "ListAuditEvents", "") {
		wg.Go(func() {
			var events []*latchkey.AuditEvent
			events, errs[3] = d.svc.AuditEvents(ctx, p, latchkey.AuditQuery{Limit: 8})
			v.Activity = auditRows(events)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "overview", &page{Title: "Overview", Section: "overview", session: s, Data: v})
	return nil
}
