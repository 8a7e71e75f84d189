package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

// The key change log. Every transaction that creates, changes or deletes
// keys adds one row per key to key_changes (a row without a key id: every
// key) and sends a notification on changesChannel, which PostgreSQL
// delivers when, and only if, the transaction commits. Each node reads the
// rows it has not seen yet (see keyChangeFeed) and forgets those keys.
//
// Creations are logged too: a node may have remembered a key id that
// matched no key (ids can be chosen through the Rebilly surface), and must
// forget that once the key exists.
//
// Each row also holds when its transaction committed (committed_at, set by
// a deferred trigger as the transaction commits: see
// migrations/0009_change_times.sql), and each read takes PostgreSQL's
// clock_timestamp() with the rows, so that the feed can tell how long each
// change had been committed when this node read it (latchkey.KeyChanges
// Lags) on the database's clock alone, whatever the nodes' clocks say.

// changesChannel is the LISTEN/NOTIFY channel of the change log.
const changesChannel = "latchkey_key_changes"

// logKeyChanges records, in tx, that these keys changed; with no ids, that
// any key may have.
func logKeyChanges(ctx context.Context, tx pgx.Tx, keyIDs ...string) error {
	var err error
	if len(keyIDs) == 0 {
		_, err = tx.Exec(ctx, `INSERT INTO key_changes (key_id) VALUES (NULL)`)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO key_changes (key_id) SELECT unnest($1::text[])`, keyIDs)
	}
	if err != nil {
		return err
	}
	// Several notifications with the same payload in one transaction are
	// delivered once.
	_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, changesChannel)
	return err
}

// changesRetention is how long rows stay in the change log, and
// changesReplayable how long a feed may go without a successful read and
// still replay what it missed; after that it reports All. The gap between
// them leaves room for clocks that disagree.
const (
	changesRetention  = time.Hour
	changesReplayable = 30 * time.Minute
)

var _ latchkey.SharedStore = (*Store)(nil)

// FollowKeyChanges implements latchkey.SharedStore.
func (s *Store) FollowKeyChanges(ctx context.Context) (latchkey.KeyChangeFeed, error) {
	return &keyChangeFeed{store: s}, nil
}

// keyChangeFeed reads the change log.
//
// Sequence numbers are handed out when rows are inserted, not when their
// transactions commit, so a reader that remembered only the highest number
// it saw would miss a row with a lower number committed later. Instead each
// read remembers the horizon of its snapshot: the oldest transaction still
// running when it was taken (pg_snapshot_xmin). Every row the read did not
// see belongs to a transaction at or after that horizon, so the next read
// takes every row whose transaction id is at or after it, and skips those
// it has already reported. A transaction that stays open for long (on any
// database of the server) holds the horizon back, and each read then
// re-reads the rows logged since it began; they are not reported twice.
type keyChangeFeed struct {
	store *Store

	// Next's state.
	started bool
	// horizon is the snapshot horizon of the last read.
	horizon uint64
	// seen holds, by sequence number, the transaction ids of the rows
	// already read whose transactions are at or after horizon.
	seen map[int64]uint64
	// lastRead is when the last read succeeded; pruned, when this node
	// last deleted rows past changesRetention.
	lastRead, pruned time.Time

	// Wait's state: the connection that LISTENs, nil until Wait opens it.
	listener *pgx.Conn
}

// Next implements latchkey.KeyChangeFeed.
func (f *keyChangeFeed) Next(ctx context.Context) (_ latchkey.KeyChanges, err error) {
	// Marked, so that a follower can tell the database being out of reach
	// (when an operator may choose to serve warm keys) from other failures.
	defer markUnavailable(&err)
	restart := !f.started || time.Since(f.lastRead) > changesReplayable
	// One statement, one snapshot: the horizon is that of the snapshot the
	// rows are read in. On a (re)start only the horizon is read. now is
	// read once (the CTE is volatile, so not inlined), after the snapshot
	// was taken: every row in it committed before now, on the same clock.
	rows, err := f.store.pool.Query(ctx, `
		WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon, clock_timestamp() AS now)
		SELECT snap.horizon, snap.now, c.seq, c.xid::text, c.key_id, c.committed_at
		FROM snap LEFT JOIN key_changes AS c ON NOT $2 AND c.xid >= $1::text::xid8
		ORDER BY c.seq`, strconv.FormatUint(f.horizon, 10), restart)
	if err != nil {
		return latchkey.KeyChanges{}, err
	}
	var (
		horizon string
		dbNow   time.Time
		out     latchkey.KeyChanges
		// committed is, by transaction reported, the latest commit time
		// of its rows (they differ by the microseconds the trigger takes
		// from one row to the next); unknown, a transaction is absent.
		committed = map[uint64]time.Time{}
	)
	if restart {
		// Nothing committed before now needs replaying, but after a long
		// gap what this node cached may have changed unseen.
		out.All = f.started
		f.seen = map[int64]uint64{}
	}
	read := map[int64]uint64{}
	for rows.Next() {
		var (
			seq         *int64
			xid         *string
			keyID       *string
			committedAt *time.Time
		)
		if err := rows.Scan(&horizon, &dbNow, &seq, &xid, &keyID, &committedAt); err != nil {
			rows.Close()
			return latchkey.KeyChanges{}, err
		}
		if out.ReadAt.IsZero() {
			// The first row is here, so the database has read its clock
			// (now): this is that instant on this node's clock, later only
			// by the row's trip.
			out.ReadAt = time.Now()
		}
		if seq == nil { // the LEFT JOIN's row when there are no changes
			continue
		}
		x, err := strconv.ParseUint(*xid, 10, 64)
		if err != nil {
			rows.Close()
			return latchkey.KeyChanges{}, err
		}
		read[*seq] = x
		if _, done := f.seen[*seq]; done {
			continue
		}
		if keyID == nil {
			out.All = true
		} else {
			out.KeyIDs = append(out.KeyIDs, *keyID)
		}
		if committedAt != nil && committedAt.After(committed[x]) {
			committed[x] = *committedAt
		}
	}
	if err := rows.Err(); err != nil {
		return latchkey.KeyChanges{}, err
	}
	out.Lags = lags(committed, dbNow)
	h, err := strconv.ParseUint(horizon, 10, 64)
	if err != nil {
		return latchkey.KeyChanges{}, fmt.Errorf("postgres: change log: snapshot horizon %q: %w", horizon, err)
	}
	// Only the rows at or after the new horizon can be read again.
	maps.Copy(f.seen, read)
	maps.DeleteFunc(f.seen, func(_ int64, xid uint64) bool { return xid < h })
	f.started, f.horizon, f.lastRead = true, h, time.Now()
	f.prune(ctx)
	return out, nil
}

// lags returns, in commit order, how long before now each transaction
// committed; never negative (were the database's clock stepped back).
func lags(committed map[uint64]time.Time, now time.Time) []time.Duration {
	if len(committed) == 0 {
		return nil
	}
	times := slices.SortedFunc(maps.Values(committed), func(a, b time.Time) int { return a.Compare(b) })
	out := make([]time.Duration, len(times))
	for i, t := range times {
		out[i] = max(now.Sub(t), 0)
	}
	return out
}

// prune deletes rows past changesRetention, at most once a minute per node.
// A failure is left for the next time.
func (f *keyChangeFeed) prune(ctx context.Context) {
	if time.Since(f.pruned) < time.Minute {
		return
	}
	f.pruned = time.Now()
	f.store.pool.Exec(ctx, `DELETE FROM key_changes WHERE changed_at < now() - $1 * interval '1 second'`, int64(changesRetention.Seconds()))
}

// Wait implements latchkey.KeyChangeFeed.
func (f *keyChangeFeed) Wait(ctx context.Context) error {
	if f.listener == nil {
		conn, err := pgx.ConnectConfig(ctx, f.store.pool.Config().ConnConfig.Copy())
		if err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, `LISTEN `+changesChannel); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return err
		}
		f.listener = conn
	}
	_, err := f.listener.WaitForNotification(ctx)
	if err != nil && ctx.Err() == nil {
		f.listener.Close(context.WithoutCancel(ctx))
		f.listener = nil
	}
	return err
}

// Close implements latchkey.KeyChangeFeed.
func (f *keyChangeFeed) Close() error {
	if f.listener != nil {
		return f.listener.Close(context.Background())
	}
	return nil
}
