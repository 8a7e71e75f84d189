package postgres

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey/ratelimit/sharedlimit"
)

var _ sharedlimit.Store = (*Store)(nil)

// SyncRateCounts implements sharedlimit.Store: the counts the nodes of a
// fleet without Redis share (table rate_counts, migration 0004). It is one
// round trip: a batch of three statements, which pgx sends together and
// PostgreSQL runs as one implicit transaction.
//
// Only node writes its own rows, so nodes' writes never wait for each
// other. Pruning takes the expired rows no one holds (SKIP LOCKED): it
// never waits, so two nodes pruning at once cannot deadlock, nor can a
// prune and a write.
func (s *Store) SyncRateCounts(ctx context.Context, node string, mine []sharedlimit.Count, keys []string, expired time.Time) (_ []sharedlimit.Count, err error) {
	defer markUnavailable(&err)
	// In primary key order, and one row per key: ON CONFLICT DO UPDATE
	// may not touch a row twice in one statement.
	mine = slices.Clone(mine)
	slices.SortFunc(mine, func(a, b sharedlimit.Count) int {
		if c := strings.Compare(a.KeyID, b.KeyID); c != 0 {
			return c
		}
		if a.Width != b.Width {
			return cmp.Compare(a.Width, b.Width)
		}
		return cmp.Compare(a.Slot, b.Slot)
	})
	var (
		ids                          []string
		widths, slots, units, expire []int64
	)
	for i, c := range mine {
		if !representable(c.KeyID) || c.Width <= 0 {
			continue // no such key
		}
		if i > 0 && c.KeyID == mine[i-1].KeyID && c.Width == mine[i-1].Width && c.Slot == mine[i-1].Slot {
			units[len(units)-1] = max(units[len(units)-1], c.Units)
			continue
		}
		ids = append(ids, c.KeyID)
		widths = append(widths, int64(c.Width))
		slots = append(slots, c.Slot)
		units = append(units, c.Units)
		expire = append(expire, c.Expires().UnixNano())
	}
	cutoff := expired.UnixNano()

	var b pgx.Batch
	if len(ids) > 0 {
		b.Queue(`INSERT INTO rate_counts (key_id, width, slot, node, units, expires_at)
			SELECT u.key_id, u.width, u.slot, $5, u.units, u.expires_at
			FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $6::bigint[])
				AS u (key_id, width, slot, units, expires_at)
			ON CONFLICT (key_id, width, slot, node) DO UPDATE SET units = GREATEST(rate_counts.units, excluded.units)`,
			ids, widths, slots, units, node, expire)
	}
	b.Queue(`DELETE FROM rate_counts WHERE ctid = ANY(ARRAY(
			SELECT ctid FROM rate_counts WHERE expires_at < $1 FOR UPDATE SKIP LOCKED))`, cutoff)
	var others []sharedlimit.Count
	b.Queue(`SELECT key_id, width, slot, SUM(units)::bigint FROM rate_counts
			WHERE key_id = ANY($1) AND node <> $2 AND expires_at >= $3
			GROUP BY key_id, width, slot`, textArray(keys), node, cutoff).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var c sharedlimit.Count
				var width int64
				if err := rows.Scan(&c.KeyID, &width, &c.Slot, &c.Units); err != nil {
					return err
				}
				c.Width = time.Duration(width)
				others = append(others, c)
			}
			return rows.Err()
		})
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	return others, nil
}
