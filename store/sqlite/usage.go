package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/latchkey/latchkey"
)

// AddUsage implements latchkey.Store.
func (s *Store) AddUsage(ctx context.Context, counts []latchkey.UsageCount, lastUsed map[string]time.Time) error {
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		for _, c := range counts {
			// INSERT … SELECT drops the counts of a key deleted meanwhile
			// instead of failing the whole batch on its foreign key.
			if _, err := tx.ExecContext(ctx, `INSERT INTO key_usage (key_id, minute, code, count)
				SELECT id, ?, ?, ? FROM keys WHERE id = ?
				ON CONFLICT (key_id, minute, code) DO UPDATE SET count = count + excluded.count`,
				formatTime(c.Minute.UTC().Truncate(time.Minute)), string(c.Code), c.Count, c.KeyID); err != nil {
				return err
			}
		}
		for id, at := range lastUsed {
			t := formatTime(at)
			if _, err := tx.ExecContext(ctx, `UPDATE keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
				t, id, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// Usage implements latchkey.Store.
func (s *Store) Usage(ctx context.Context, keyID string, from, to time.Time) ([]latchkey.UsageCount, error) {
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
