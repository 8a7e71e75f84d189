package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

// What the dashboard asks of the store beyond the management APIs: key
// lists narrowed by a search, a state and a hygiene finding (all judged in
// SQL, so that a page of an account with many keys costs a page), usage
// summed into buckets for its charts, and the counts on its overview.

// dashboardCondition returns the conditions q's Search, States and Hygiene
// add to a QueryKeys WHERE clause ("" for none), adding their arguments to
// p, or EINVALID before any SQL runs. Every value goes as an argument; the
// SQL text depends only on which states and finding were asked for.
func dashboardCondition(q latchkey.KeyQuery, p *params) (string, error) {
	if err := q.ValidSelection(); err != nil {
		return "", err
	}
	var conds []string
	if q.Search != "" {
		// ILIKE under COLLATE "C" folds ASCII letters only, as Search asks
		// and as SQLite's LIKE does; the database's own collation would
		// fold others too. A search PostgreSQL cannot hold as text (see
		// textArg) is NULL, which matches nothing, as no stored id or name
		// contains it.
		pattern := p.add(textArg("%" + escapeLike(q.Search) + "%"))
		conds = append(conds, `(id ILIKE `+pattern+` ESCAPE '\' OR name COLLATE "C" ILIKE `+pattern+` ESCAPE '\')`)
	}
	if len(q.States) > 0 {
		conds = append(conds, statesCondition(q.States, q.At, p))
	}
	if q.Hygiene != "" {
		conds = append(conds, hygieneCondition(q.Hygiene, q.At, p))
	}
	return strings.Join(conds, " AND "), nil
}

// escapeLike escapes s for LIKE … ESCAPE '\': a search for "50%" or "a_b"
// matches those characters, not any.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// statesCondition keeps the keys in one of states at at, exactly as
// Key.StateAt decides: disabled wins over expired (expires_at at or before
// at), expired over grace (a secret whose expires_at is after at), grace
// over active. Each state appears once in the SQL however often it is
// listed, and at is one argument however often it is used, added only if
// it is (PostgreSQL refuses an argument no placeholder takes). at is cut
// to the microsecond, which for times stored to the microsecond keeps
// "<=" and ">" exact.
func statesCondition(states []latchkey.KeyState, at time.Time, p *params) string {
	var placeholder string
	atArg := func() string {
		if placeholder == "" {
			placeholder = p.add(at.Truncate(time.Microsecond))
		}
		return placeholder
	}
	notExpired := func() string { return `(expires_at IS NULL OR expires_at > ` + atArg() + `)` }
	inGrace := func() string {
		return `EXISTS (SELECT 1 FROM key_secrets AS s WHERE s.key_id = keys.id AND s.expires_at > ` + atArg() + `)`
	}
	var conds []string
	seen := map[latchkey.KeyState]bool{}
	for _, st := range states {
		if seen[st] {
			continue
		}
		seen[st] = true
		switch st {
		case latchkey.KeyDisabled:
			conds = append(conds, `disabled`)
		case latchkey.KeyExpired:
			conds = append(conds, `(NOT disabled AND expires_at <= `+atArg()+`)`)
		case latchkey.KeyInGrace:
			conds = append(conds, `(NOT disabled AND `+notExpired()+` AND `+inGrace()+`)`)
		case latchkey.KeyActive:
			conds = append(conds, `(NOT disabled AND `+notExpired()+` AND NOT `+inGrace()+`)`)
		}
	}
	return `(` + strings.Join(conds, " OR ") + `)`
}

// hygieneCondition keeps the keys with finding h at at, exactly as
// KeyHygiene.Has decides. A nil ACL (unrestricted) is stored as NULL and
// an empty one (no permission at all) as "[]", so only NULL counts.
func hygieneCondition(h latchkey.KeyHygiene, at time.Time, p *params) string {
	switch h {
	case latchkey.HygieneNeverUsed:
		return `last_used_at IS NULL`
	case latchkey.HygieneStale:
		// Before the cutoff, strictly: the cutoff is rounded up to the
		// microsecond, so that a last use within a microsecond below a
		// cutoff with nanoseconds still counts, as it does in Go.
		return `last_used_at < ` + p.add(ceilMicrosecond(at.Add(-latchkey.StaleAfter)))
	case latchkey.HygieneNoExpiry:
		return `expires_at IS NULL`
	case latchkey.HygieneNoRateLimit:
		return `rate_limit IS NULL`
	case latchkey.HygieneUnrestricted:
		return `acl IS NULL`
	}
	return `FALSE` // validDashboardQuery refused it already
}

// ceilMicrosecond rounds t up to the microsecond. The store keeps times to
// the microsecond, and the driver cuts the rest off: for a bound that
// stored times must be strictly before, cutting would drop a time within a
// microsecond below it, and rounding up keeps it.
func ceilMicrosecond(t time.Time) time.Time {
	c := t.Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}

// bucketUnit is date_trunc's unit for each usage bucket. Nothing from a
// request reaches the SQL text except through this map.
var bucketUnit = map[latchkey.UsageBucket]string{
	latchkey.BucketMinute: "minute",
	latchkey.BucketHour:   "hour",
	latchkey.BucketDay:    "day",
}

// UsageSummary implements latchkey.Store: one grouped query over the
// account's keys' counts, summed into buckets by SQL. date_trunc is given
// the zone: without it, it truncates in the session's TimeZone, and a day
// would start at the server's midnight.
func (s *Store) UsageSummary(ctx context.Context, q latchkey.UsageQuery) (_ []latchkey.UsageCount, err error) {
	defer markUnavailable(&err)
	if err := q.Valid(); err != nil {
		return nil, err
	}
	from := q.From.UTC().Truncate(q.Bucket.Width()) // buckets start at UTC midnight's multiples
	var p params
	keyCol := `''`
	if q.ByKey {
		keyCol = `u.key_id`
	}
	query := fmt.Sprintf(`SELECT %s, date_trunc('%s', u.minute, 'UTC'), u.code, SUM(u.count)::bigint
		FROM keys AS k JOIN key_usage AS u ON u.key_id = k.id
		WHERE k.account_id = %s AND u.minute >= %s AND u.minute < %s`,
		keyCol, bucketUnit[q.Bucket], p.add(textArg(q.AccountID)), p.add(from), p.add(ceilMicrosecond(q.To)))
	if len(q.KeyIDs) > 0 {
		query += ` AND k.id = ANY(` + p.add(textArray(q.KeyIDs)) + `)`
	}
	query += ` GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`
	rows, err := s.pool.Query(ctx, query, p...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []latchkey.UsageCount{}
	for rows.Next() {
		var c latchkey.UsageCount
		var code string
		if err := rows.Scan(&c.KeyID, &c.Minute, &code, &c.Count); err != nil {
			return nil, err
		}
		c.Minute = c.Minute.UTC()
		c.Code = latchkey.Code(code)
		out = append(out, c)
	}
	return out, rows.Err()
}

// CountRecords implements latchkey.Store, in one statement, so that the
// three counts are of one snapshot.
func (s *Store) CountRecords(ctx context.Context, accountID string) (_ latchkey.RecordCounts, err error) {
	defer markUnavailable(&err)
	var c latchkey.RecordCounts
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM apps WHERE account_id = $1),
		(SELECT COUNT(*) FROM integrations AS i JOIN apps AS a ON a.id = i.app_id WHERE a.account_id = $1),
		(SELECT COUNT(*) FROM keys WHERE account_id = $1)`, textArg(accountID)).Scan(&c.Apps, &c.Integrations, &c.Keys)
	return c, err
}

// KeyStats implements latchkey.Store: one pass over the account's keys,
// each state and finding a count over the same conditions QueryKeys uses.
func (s *Store) KeyStats(ctx context.Context, accountID string, at time.Time) (_ latchkey.KeyStats, err error) {
	defer markUnavailable(&err)
	if at.IsZero() {
		return latchkey.KeyStats{}, latchkey.Errorf(latchkey.EINVALID, "key stats are judged at a moment; none was given")
	}
	var p params
	var counts []string
	for _, st := range latchkey.KeyStates {
		counts = append(counts, `COUNT(*) FILTER (WHERE `+statesCondition([]latchkey.KeyState{st}, at, &p)+`)`)
	}
	for _, h := range latchkey.KeyHygienes {
		counts = append(counts, `COUNT(*) FILTER (WHERE `+hygieneCondition(h, at, &p)+`)`)
	}
	account := p.add(textArg(accountID))
	n := make([]int, 1+len(counts))
	dest := make([]any, len(n))
	for i := range n {
		dest[i] = &n[i]
	}
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*), `+strings.Join(counts, ", ")+` FROM keys WHERE account_id = `+account,
		p...).Scan(dest...); err != nil {
		return latchkey.KeyStats{}, err
	}
	return latchkey.NewKeyStats(n), nil
}
