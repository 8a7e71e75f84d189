package native

import (
	"net/http"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// defaultUsageRange is the range a usage report covers when from is not
// given: the last 24 hours.
const defaultUsageRange = 24 * time.Hour

type usageJSON struct {
	KeyID       string       `json:"keyId"`
	From        string       `json:"from"`
	To          string       `json:"to"`
	Granularity string       `json:"granularity"`
	Buckets     []bucketJSON `json:"buckets"`
}

// bucketJSON is one bucket of a usage report: its start and the number of
// verifications that ended with each outcome in it.
type bucketJSON struct {
	Start  string                  `json:"start"`
	Counts map[latchkey.Code]int64 `json:"counts"`
}

// keyUsage handles "GET /v1/keys/{id}/usage?from&to&granularity": the
// key's verification counts by outcome, in buckets, oldest first; only
// buckets with counts appear. The core bounds the number of buckets.
func (s *surface) keyUsage(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	q := r.URL.Query()
	var errs fieldErrors
	readTime := func(name string) (time.Time, bool) {
		if !q.Has(name) {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339, q.Get(name))
		if err != nil {
			errs.add(name, "Must be an RFC 3339 time such as 2030-01-31T12:00:00Z.")
			return time.Time{}, false
		}
		return t.UTC(), true
	}
	to, hasTo := readTime("to")
	from, hasFrom := readTime("from")
	if !hasTo {
		// The end of the current minute, so that the minute now running,
		// whose bucket starts before now, is in the report.
		to = time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	}
	if !hasFrom {
		from = to.Add(-defaultUsageRange)
	}
	g := core.ByHour
	if q.Has("granularity") {
		switch g = core.Granularity(q.Get("granularity")); g {
		case core.ByMinute, core.ByHour, core.ByDay:
		default:
			errs.add("granularity", "Must be minute, hour or day.")
		}
	}
	if err := errs.err(); err != nil {
		return err
	}
	id := r.PathValue("id")
	if !validKeyID(id) {
		return latchkey.NotFound("key")
	}
	counts, err := s.svc.KeyUsage(r.Context(), p, id, from, to, g)
	if err != nil {
		return err
	}
	out := usageJSON{KeyID: id, From: formatTime(from), To: formatTime(to), Granularity: string(g), Buckets: []bucketJSON{}}
	for _, c := range counts {
		start := formatTime(c.Minute)
		if n := len(out.Buckets); n == 0 || out.Buckets[n-1].Start != start {
			out.Buckets = append(out.Buckets, bucketJSON{Start: start, Counts: map[latchkey.Code]int64{}})
		}
		out.Buckets[len(out.Buckets)-1].Counts[c.Code] += c.Count
	}
	web.WriteJSON(w, http.StatusOK, out)
	return nil
}
