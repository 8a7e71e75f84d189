package postgres

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

// AddUsage implements latchkey.Store, in one transaction of three
// statements whatever the batch's size: the rows go as arrays, read back
// with unnest.
//
// Every node flushes usage, often for the same keys, so the keys' rows are
// locked first, in id order, as DeleteApp and DeleteIntegration lock the
// keys they take: flushes and deletes queue instead of deadlocking. Holding
// the lock also keeps a key from being deleted before its counts are in;
// the counts of a key already deleted are dropped, as the interface says.
func (s *Store) AddUsage(ctx context.Context, counts []latchkey.UsageCount, lastUsed map[string]time.Time) (err error) {
	defer markUnavailable(&err)
	ids := make(map[string]bool, len(lastUsed))
	for id := range lastUsed {
		ids[id] = true
	}
	for _, c := range counts {
		ids[c.KeyID] = true
	}
	if len(ids) == 0 {
		return nil
	}
	keyIDs := textArray(slices.Sorted(maps.Keys(ids)))

	var (
		countKeys, codes []string
		minutes          []time.Time
		amounts          []int64
	)
	for _, c := range counts {
		if !representable(c.KeyID) || !representable(string(c.Code)) {
			continue // no such key
		}
		countKeys = append(countKeys, c.KeyID)
		minutes = append(minutes, c.Minute.UTC().Truncate(time.Minute))
		codes = append(codes, string(c.Code))
		amounts = append(amounts, c.Count)
	}
	var usedKeys []string
	var usedAt []time.Time
	for id, at := range lastUsed {
		if representable(id) {
			usedKeys = append(usedKeys, id)
			usedAt = append(usedAt, at)
		}
	}

	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM keys WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, keyIDs); err != nil {
			return err
		}
		// One row per key, minute and code: ON CONFLICT DO UPDATE may not
		// touch a row twice in one statement, so a batch that names one
		// twice is summed first. Joining keys drops the counts of keys
		// deleted meanwhile; the order is the locks' order.
		if len(countKeys) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO key_usage (key_id, minute, code, count)
				SELECT u.key_id, u.minute, u.code, SUM(u.count)
				FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[]) AS u (key_id, minute, code, count)
				JOIN keys AS k ON k.id = u.key_id
				GROUP BY u.key_id, u.minute, u.code
				ORDER BY u.key_id, u.minute, u.code
				ON CONFLICT (key_id, minute, code) DO UPDATE SET count = key_usage.count + excluded.count`,
				countKeys, minutes, codes, amounts); err != nil {
				return err
			}
		}
		if len(usedKeys) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE keys SET last_used_at = u.at
				FROM unnest($1::text[], $2::timestamptz[]) AS u (id, at)
				WHERE keys.id = u.id AND (keys.last_used_at IS NULL OR keys.last_used_at < u.at)`,
				usedKeys, usedAt); err != nil {
				return err
			}
		}
		return nil
	})
}

// Usage implements latchkey.Store.
func (s *Store) Usage(ctx context.Context, keyID string, from, to time.Time) (_ []latchkey.UsageCount, err error) {
	defer markUnavailable(&err)
	rows, err := s.pool.Query(ctx, `SELECT minute, code, count FROM key_usage
		WHERE key_id = $1 AND minute >= $2 AND minute < $3 ORDER BY minute, code`, textArg(keyID), from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []latchkey.UsageCount{}
	for rows.Next() {
		c := latchkey.UsageCount{KeyID: keyID}
		var code string
		if err := rows.Scan(&c.Minute, &code, &c.Count); err != nil {
			return nil, err
		}
		c.Minute = c.Minute.UTC()
		c.Code = latchkey.Code(code)
		out = append(out, c)
	}
	return out, rows.Err()
}
