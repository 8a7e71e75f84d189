package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/latchkey/latchkey"
)

// The statements of AddUsage, each carrying up to usageBatch rows as one
// JSON array. They are prepared once (see stmts): that made a flush of 20
// keys, a typical one, about 14% faster (BenchmarkAddUsageSmall).
//
// In addUsageCountsSQL, the CROSS JOIN makes SQLite walk the batch and
// look each key up by id, not the other way round. Joining keys drops the
// counts of a key deleted meanwhile instead of failing the batch on its
// foreign key. (WHERE is required between a SELECT and ON CONFLICT.)
const (
	addUsageCountsSQL = `INSERT INTO key_usage (key_id, minute, code, count)
		SELECT k.id, j.value ->> 1, j.value ->> 2, j.value ->> 3
		FROM json_each(?) AS j CROSS JOIN keys AS k
		WHERE k.id = j.value ->> 0
		ON CONFLICT (key_id, minute, code) DO UPDATE SET count = count + excluded.count`
	addUsageLastUsedSQL = `UPDATE keys SET last_used_at = u.at
		FROM (SELECT value ->> 0 AS id, value ->> 1 AS at FROM json_each(?)) AS u
		WHERE keys.id = u.id AND (keys.last_used_at IS NULL OR keys.last_used_at < u.at)`
)

// usageBatch is how many rows one statement of AddUsage carries: a
// statement per row would cost two to three times as much CPU.
const usageBatch = 1000

// usageSyncEvery is how long AddUsage may go on committing at
// synchronous=NORMAL before it commits at FULL again.
//
// Why NORMAL at all: the usage recorder commits a slice of its counts
// every ~156 ms, and at FULL each commit syncs the WAL (3 to 9 ms
// measured). On a server given one core, the goroutine in that fsync holds
// Go's only P until sysmon takes it back, and every request waits: it was
// the worst stall of GET /v1/authorize under load.
//
// Why one second: a FULL commit syncs the whole WAL, every frame the
// NORMAL commits before it wrote included. So an OS crash or a power cut
// loses at most the usage committed since the last FULL commit that
// wrote: about one second of it (a flush interval more at worst, as the
// next FULL commit waits for the recorder's next flush), on top of what the
// recorder had not flushed yet. A process crash loses nothing committed.
// Counts are statistics, and a lost second of them was judged worth a
// server that does not stall; once a second, the fsync costs little.
const usageSyncEvery = time.Second

// AddUsage implements latchkey.Store. The rows go to SQLite as JSON arrays,
// read back with json_each: one statement per usageBatch rows, all in one
// transaction, committed at synchronous=NORMAL unless a commit at FULL is
// due (see usageSyncEvery).
func (s *Store) AddUsage(ctx context.Context, counts []latchkey.UsageCount, lastUsed map[string]time.Time) (err error) {
	defer markUnavailable(&err)
	countRows := make([][4]any, 0, min(len(counts), usageBatch))
	usedRows := make([][2]string, 0, min(len(lastUsed), usageBatch))
	// changed counts the rows written: a commit that changed none writes
	// no WAL frame, and so syncs nothing even at FULL.
	var changed int64
	fn := func(tx *sql.Tx) error {
		for start := 0; start < len(counts); start += usageBatch {
			countRows = countRows[:0]
			for _, c := range counts[start:min(start+usageBatch, len(counts))] {
				countRows = append(countRows, [4]any{c.KeyID, formatTime(c.Minute.UTC().Truncate(time.Minute)), string(c.Code), c.Count})
			}
			n, err := execJSON(ctx, tx, s.stmts.addUsageCounts, countRows)
			if err != nil {
				return err
			}
			changed += n
		}
		flushUsed := func() error {
			if len(usedRows) == 0 {
				return nil
			}
			n, err := execJSON(ctx, tx, s.stmts.addUsageLastUsed, usedRows)
			usedRows = usedRows[:0]
			changed += n
			return err
		}
		for id, at := range lastUsed {
			usedRows = append(usedRows, [2]string{id, formatTime(at)})
			if len(usedRows) == usageBatch {
				if err := flushUsed(); err != nil {
					return err
				}
			}
		}
		if err := flushUsed(); err != nil {
			return err
		}
		if s.usageTxHook != nil {
			return s.usageTxHook(tx)
		}
		return nil
	}
	if s.level != syncFull {
		// A store that never syncs at commit (the benchmark's) has
		// nothing to relax.
		return s.inWriteTx(ctx, fn)
	}
	now := s.Now()
	if !s.usageSyncDue(now) {
		return s.inWriteTxNormal(ctx, fn)
	}
	if err := s.inWriteTx(ctx, fn); err != nil {
		return err
	}
	if changed > 0 {
		s.usageSynced(now)
	}
	return nil
}

// usageSyncDue reports whether AddUsage's commit, begun at now, must be at
// FULL: none that wrote has been since usageSyncEvery before now, or the
// clock went back past the last one, which a bound on durability does not
// give the benefit of the doubt.
func (s *Store) usageSyncDue(now time.Time) bool {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	since := now.Sub(s.usageSyncedAt)
	return s.usageSyncedAt.IsZero() || since < 0 || since >= usageSyncEvery
}

// usageSynced records that a usage commit at FULL, begun at at, wrote: it
// synced the WAL, everything committed before it began included.
func (s *Store) usageSynced(at time.Time) {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	s.usageSyncedAt = at
}

// execJSON runs query with rows, encoded as one JSON array, as its one
// argument, and returns how many rows it changed.
func execJSON(ctx context.Context, tx *sql.Tx, st *sql.Stmt, rows any) (int64, error) {
	b, err := json.Marshal(rows)
	if err != nil {
		return 0, err
	}
	st = stmtIn(ctx, tx, st)
	defer st.Close()
	res, err := st.ExecContext(ctx, string(b))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Usage implements latchkey.Store.
func (s *Store) Usage(ctx context.Context, keyID string, from, to time.Time) (_ []latchkey.UsageCount, err error) {
	defer markUnavailable(&err)
	rows, err := s.read.QueryContext(ctx, `SELECT minute, code, count FROM key_usage
		WHERE key_id = ? AND minute >= ? AND minute < ? ORDER BY minute, code`, keyID, formatTime(from), formatTime(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []latchkey.UsageCount{}
	for rows.Next() {
		c := latchkey.UsageCount{KeyID: keyID}
		var minute, code string
		if err := rows.Scan(&minute, &code, &c.Count); err != nil {
			return nil, err
		}
		if c.Minute, err = parseTime(minute); err != nil {
			return nil, err
		}
		c.Code = latchkey.Code(code)
		out = append(out, c)
	}
	return out, rows.Err()
}
