package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/latchkey/latchkey"
)

// usageBatch is how many rows one statement of AddUsage carries: a
// statement per row would cost two to three times as much CPU.
const usageBatch = 1000

// AddUsage implements latchkey.Store. The rows go to SQLite as JSON arrays,
// read back with json_each: one statement per usageBatch rows, all in one
// transaction.
func (s *Store) AddUsage(ctx context.Context, counts []latchkey.UsageCount, lastUsed map[string]time.Time) (err error) {
	defer markUnavailable(&err)
	countRows := make([][4]any, 0, min(len(counts), usageBatch))
	usedRows := make([][2]string, 0, min(len(lastUsed), usageBatch))
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(counts); start += usageBatch {
			countRows = countRows[:0]
			for _, c := range counts[start:min(start+usageBatch, len(counts))] {
				countRows = append(countRows, [4]any{c.KeyID, formatTime(c.Minute.UTC().Truncate(time.Minute)), string(c.Code), c.Count})
			}
			// The CROSS JOIN makes SQLite walk the batch and look each key
			// up by id, not the other way round. Joining keys drops the
			// counts of a key deleted meanwhile instead of failing the
			// batch on its foreign key. (WHERE is required between a
			// SELECT and ON CONFLICT.)
			if err := execJSON(ctx, tx, `INSERT INTO key_usage (key_id, minute, code, count)
				SELECT k.id, j.value ->> 1, j.value ->> 2, j.value ->> 3
				FROM json_each(?) AS j CROSS JOIN keys AS k
				WHERE k.id = j.value ->> 0
				ON CONFLICT (key_id, minute, code) DO UPDATE SET count = count + excluded.count`, countRows); err != nil {
				return err
			}
		}
		flushUsed := func() error {
			if len(usedRows) == 0 {
				return nil
			}
			err := execJSON(ctx, tx, `UPDATE keys SET last_used_at = u.at
				FROM (SELECT value ->> 0 AS id, value ->> 1 AS at FROM json_each(?)) AS u
				WHERE keys.id = u.id AND (keys.last_used_at IS NULL OR keys.last_used_at < u.at)`, usedRows)
			usedRows = usedRows[:0]
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
		return flushUsed()
	})
}

// execJSON runs query with rows, encoded as one JSON array, as its one
// argument.
func execJSON(ctx context.Context, tx *sql.Tx, query string, rows any) error {
	b, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, query, string(b))
	return err
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
