package sqlite

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

// What the dashboard asks of the store beyond the management APIs: key
// lists narrowed by a search, a state and a hygiene finding (all judged in
// SQL, so that a page of an account with many keys costs a page), usage
// summed into buckets for its charts, and the counts on its overview.

// dashboardCondition returns the conditions q's Search, States and Hygiene
// add to a QueryKeys WHERE clause ("" for none), with their arguments, or
// EINVALID before any SQL runs. Every value goes as an argument; the SQL
// text depends only on which states and finding were asked for.
func dashboardCondition(q latchkey.KeyQuery) (string, []any, error) {
	if err := q.ValidSelection(); err != nil {
		return "", nil, err
	}
	var conds []string
	var args []any
	if q.Search != "" {
		// LIKE ignores ASCII case, and only ASCII case, in SQLite (no
		// ICU), as Search asks.
		pattern := "%" + escapeLike(q.Search) + "%"
		conds = append(conds, `(id LIKE ? ESCAPE '\' OR name LIKE ? ESCAPE '\')`)
		args = append(args, pattern, pattern)
	}
	if len(q.States) > 0 {
		cond, stateArgs := statesCondition(q.States, q.At)
		conds = append(conds, cond)
		args = append(args, stateArgs...)
	}
	if q.Hygiene != "" {
		cond, hygieneArgs := hygieneCondition(q.Hygiene, q.At)
		conds = append(conds, cond)
		args = append(args, hygieneArgs...)
	}
	return strings.Join(conds, " AND "), args, nil
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
// listed. Times are fixed-width text, so text order is time order; at is
// cut to the microsecond, which for times stored to the microsecond keeps
// "<=" and ">" exact.
func statesCondition(states []latchkey.KeyState, at time.Time) (string, []any) {
	t := formatTime(at)
	const (
		enabled    = `disabled = 0`
		notExpired = `(expires_at IS NULL OR expires_at > ?)`
		inGrace    = `EXISTS (SELECT 1 FROM key_secrets AS s WHERE s.key_id = keys.id AND s.expires_at > ?)`
	)
	var conds []string
	var args []any
	seen := map[latchkey.KeyState]bool{}
	for _, st := range states {
		if seen[st] {
			continue
		}
		seen[st] = true
		switch st {
		case latchkey.KeyDisabled:
			conds = append(conds, `disabled <> 0`)
		case latchkey.KeyExpired:
			conds = append(conds, `(`+enabled+` AND expires_at <= ?)`)
			args = append(args, t)
		case latchkey.KeyInGrace:
			conds = append(conds, `(`+enabled+` AND `+notExpired+` AND `+inGrace+`)`)
			args = append(args, t, t)
		case latchkey.KeyActive:
			conds = append(conds, `(`+enabled+` AND `+notExpired+` AND NOT `+inGrace+`)`)
			args = append(args, t, t)
		}
	}
	return `(` + strings.Join(conds, " OR ") + `)`, args
}

// hygieneCondition keeps the keys with finding h at at, exactly as
// KeyHygiene.Has decides. A nil ACL (unrestricted) is stored as NULL and
// an empty one (no permission at all) as "[]", so only NULL counts.
func hygieneCondition(h latchkey.KeyHygiene, at time.Time) (string, []any) {
	switch h {
	case latchkey.HygieneNeverUsed:
		return `last_used_at IS NULL`, nil
	case latchkey.HygieneStale:
		// Before the cutoff, strictly: the cutoff is rounded up to the
		// microsecond, so that a last use within a microsecond below a
		// cutoff with nanoseconds still counts, as it does in Go.
		return `last_used_at < ?`, []any{formatTime(ceilMicrosecond(at.Add(-latchkey.StaleAfter)))}
	case latchkey.HygieneNoExpiry:
		return `expires_at IS NULL`, nil
	case latchkey.HygieneNoRateLimit:
		return `rate_limit IS NULL`, nil
	case latchkey.HygieneUnrestricted:
		return `acl IS NULL`, nil
	}
	return `0`, nil // validDashboardQuery refused it already
}

// ceilMicrosecond rounds t up to the microsecond. The store keeps times to
// the microsecond, and formatTime cuts the rest off: for a bound that
// stored times must be strictly before, cutting would drop a time within a
// microsecond below it, and rounding up keeps it.
func ceilMicrosecond(t time.Time) time.Time {
	c := t.Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}

// bucketPrefix is, for each usage bucket, how many leading characters of a
// stored minute name its bucket, and what completes them into the bucket's
// start: times are fixed-width text (timeLayout), so cutting the text is
// truncating the time, in UTC, across month and year ends alike. Nothing
// from a request reaches the SQL text except through this map.
var bucketPrefix = map[latchkey.UsageBucket]struct {
	n    int
	tail string
}{
	latchkey.BucketMinute: {len("2006-01-02T15:04:"), "00.000000Z"},
	latchkey.BucketHour:   {len("2006-01-02T15:"), "00:00.000000Z"},
	latchkey.BucketDay:    {len("2006-01-02T"), "00:00:00.000000Z"},
}

// UsageSummary implements latchkey.Store: one grouped query over the
// account's keys' counts, summed into buckets by SQL.
func (s *Store) UsageSummary(ctx context.Context, q latchkey.UsageQuery) (_ []latchkey.UsageCount, err error) {
	defer markUnavailable(&err)
	if err := q.Valid(); err != nil {
		return nil, err
	}
	b := bucketPrefix[q.Bucket]
	bucket := `substr(u.minute, 1, ` + strconv.Itoa(b.n) + `) || '` + b.tail + `'`
	from := q.From.UTC().Truncate(q.Bucket.Width()) // buckets start at UTC midnight's multiples
	keyCol := `''`
	if q.ByKey {
		keyCol = `u.key_id`
	}
	query := `SELECT ` + keyCol + `, ` + bucket + `, u.code, SUM(u.count)
		FROM keys AS k JOIN key_usage AS u ON u.key_id = k.id
		WHERE k.account_id = ? AND u.minute >= ? AND u.minute < ?`
	args := []any{q.AccountID, formatTime(from), formatTime(ceilMicrosecond(q.To))}
	if len(q.KeyIDs) > 0 {
		query += ` AND k.id IN (` + placeholders(len(q.KeyIDs)) + `)`
		for _, id := range q.KeyIDs {
			args = append(args, id)
		}
	}
	query += ` GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []latchkey.UsageCount{}
	for rows.Next() {
		var c latchkey.UsageCount
		var start, code string
		if err := rows.Scan(&c.KeyID, &start, &code, &c.Count); err != nil {
			return nil, err
		}
		if c.Minute, err = parseTime(start); err != nil {
			return nil, err
		}
		c.Code = latchkey.Code(code)
		out = append(out, c)
	}
	return out, rows.Err()
}

// CountRecords implements latchkey.Store, in one statement, so that the
// three counts are of one moment.
func (s *Store) CountRecords(ctx context.Context, accountID string) (_ latchkey.RecordCounts, err error) {
	defer markUnavailable(&err)
	var c latchkey.RecordCounts
	err = s.read.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM apps WHERE account_id = ?1),
		(SELECT COUNT(*) FROM integrations AS i JOIN apps AS a ON a.id = i.app_id WHERE a.account_id = ?1),
		(SELECT COUNT(*) FROM keys WHERE account_id = ?1)`, accountID).Scan(&c.Apps, &c.Integrations, &c.Keys)
	return c, err
}

// KeyStats implements latchkey.Store: one pass over the account's keys,
// each state and finding a sum over the same conditions QueryKeys uses.
func (s *Store) KeyStats(ctx context.Context, accountID string, at time.Time) (_ latchkey.KeyStats, err error) {
	defer markUnavailable(&err)
	if at.IsZero() {
		return latchkey.KeyStats{}, latchkey.Errorf(latchkey.EINVALID, "key stats are judged at a moment; none was given")
	}
	var sums []string
	var args []any
	count := func(cond string, condArgs []any) {
		sums = append(sums, `COALESCE(SUM(CASE WHEN `+cond+` THEN 1 ELSE 0 END), 0)`)
		args = append(args, condArgs...)
	}
	for _, st := range latchkey.KeyStates {
		count(statesCondition([]latchkey.KeyState{st}, at))
	}
	for _, h := range latchkey.KeyHygienes {
		count(hygieneCondition(h, at))
	}
	n := make([]int, 1+len(sums))
	dest := make([]any, len(n))
	for i := range n {
		dest[i] = &n[i]
	}
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*), `+strings.Join(sums, ", ")+` FROM keys WHERE account_id = ?`,
		append(args, accountID)...).Scan(dest...); err != nil {
		return latchkey.KeyStats{}, err
	}
	return latchkey.NewKeyStats(n), nil
}
