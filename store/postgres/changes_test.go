package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/pgtest"
)

// follow returns node's change feed, past its first (empty) read.
func follow(t *testing.T, node *Store) latchkey.KeyChangeFeed {
	t.Helper()
	feed, err := node.FollowKeyChanges(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { feed.Close() })
	if c, err := feed.Next(t.Context()); err != nil || len(c.KeyIDs) != 0 || c.All {
		t.Fatalf("first Next() = %+v, %v; want nothing", c, err)
	}
	return feed
}

// wantNext checks that the feed's next read reports exactly these key ids
// and, for them, commit lags that can be right (see checkLags), and
// returns what it read.
func wantNext(t *testing.T, feed latchkey.KeyChangeFeed, what string, ids ...string) latchkey.KeyChanges {
	t.Helper()
	before := time.Now()
	c, err := feed.Next(t.Context())
	if err != nil {
		t.Fatalf("%s: Next() error = %v", what, err)
	}
	got := slices.Clone(c.KeyIDs)
	slices.Sort(got)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(got, want) || c.All {
		t.Fatalf("%s: Next() = %v (all %v), want %v", what, got, c.All, want)
	}
	checkLags(t, what, c, before)
	return c
}

// checkLags checks what any report of changes logged since this schema
// must hold: one lag per transaction, so at least one if any key changed
// and at most one per key; none negative, in commit order (the longest
// first), and none longer than the test has run (plus a second, for a
// clock that is slewed or stepped meanwhile: the lags are read on the
// database's clock); and ReadAt during the read that began at before.
func checkLags(t *testing.T, what string, c latchkey.KeyChanges, before time.Time) {
	t.Helper()
	if len(c.KeyIDs) == 0 && !c.All {
		if len(c.Lags) != 0 {
			t.Fatalf("%s: no change, yet lags %v", what, c.Lags)
		}
		return
	}
	if len(c.Lags) == 0 || (!c.All && len(c.Lags) > len(c.KeyIDs)) {
		t.Fatalf("%s: %d lags for the changes to %v (all %v)", what, len(c.Lags), c.KeyIDs, c.All)
	}
	if c.ReadAt.Before(before) || c.ReadAt.After(time.Now()) {
		t.Fatalf("%s: ReadAt %v is not within the read, which began at %v", what, c.ReadAt, before)
	}
	ran := time.Since(testStart) + time.Second
	for i, lag := range c.Lags {
		if lag < 0 || lag > ran {
			t.Fatalf("%s: lag %v: want between 0 and %v", what, lag, ran)
		}
		if i > 0 && lag > c.Lags[i-1] {
			t.Fatalf("%s: lags %v are not in commit order (the longest first)", what, c.Lags)
		}
	}
}

// testStart is when this test binary started: no change it makes is older.
var testStart = time.Now()

// TestKeyChangeFeed: every write that creates, changes or deletes keys
// through one node is reported, by key, to the feed of another, once.
func TestKeyChangeFeed(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	nodeA, nodeB := openAt(t, dsn), openAt(t, dsn)
	feed := follow(t, nodeB)
	wantNext(t, feed, "nothing written")

	acc := &latchkey.Account{ID: fmt.Sprintf("%024x", 1), Name: "A", CreatedAt: time.Now()}
	first := newTestKey(latchkey.KeyOwner{AccountID: acc.ID}, 1)
	if err := nodeA.CreateAccountWithKey(ctx, acc, first); err != nil {
		t.Fatal(err)
	}
	wantNext(t, feed, "account with its first key", first.ID)
	app := &latchkey.App{ID: fmt.Sprintf("a%023x", 1), AccountID: acc.ID, DisplayName: "App"}
	if err := nodeA.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	in := &latchkey.Integration{ID: fmt.Sprintf("b%023x", 1), AppID: app.ID, Type: latchkey.IntegrationTypeCustom, Status: "active"}
	if err := nodeA.CreateIntegration(ctx, in); err != nil {
		t.Fatal(err)
	}
	wantNext(t, feed, "an app and an integration: no key")
	appKey := newTestKey(latchkey.KeyOwner{AccountID: acc.ID, AppID: app.ID}, 2)
	inKey := newTestKey(latchkey.KeyOwner{AccountID: acc.ID, AppID: app.ID, IntegrationID: in.ID}, 3)
	for _, k := range []*latchkey.Key{appKey, inKey} {
		if err := nodeA.CreateKey(ctx, k, 0); err != nil {
			t.Fatal(err)
		}
	}
	wantNext(t, feed, "two keys created", appKey.ID, inKey.ID)

	appKey.Policy.Disabled = true
	if err := nodeA.UpdateKey(ctx, appKey); err != nil {
		t.Fatal(err)
	}
	wantNext(t, feed, "update", appKey.ID)
	now := time.Now().UTC().Truncate(time.Microsecond)
	next := latchkey.Secret{Hash: []byte("hash-rolled"), Sealed: []byte("sealed"), CreatedAt: now}
	if err := nodeA.RollKey(ctx, appKey.ID, next, nil); err != nil {
		t.Fatal(err)
	}
	wantNext(t, feed, "roll", appKey.ID)
	if err := nodeA.DeleteKey(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	wantNext(t, feed, "delete", first.ID)
	if err := nodeA.DeleteKey(ctx, first.ID); latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
		t.Fatalf("deleting a deleted key: %v", err)
	}
	wantNext(t, feed, "a delete that found nothing")

	if err := nodeA.DeleteIntegration(ctx, app.ID, in.ID, nil); err != nil {
		t.Fatal(err)
	}
	wantNext(t, feed, "integration deleted with its key", inKey.ID)
	refused := fmt.Errorf("refused")
	if err := nodeA.DeleteApp(ctx, app.ID, func([]*latchkey.Key) error { return refused }); err != refused {
		t.Fatalf("DeleteApp with a refusing check = %v", err)
	}
	wantNext(t, feed, "a delete its check refused")
	if err := nodeA.DeleteApp(ctx, app.ID, nil); err != nil {
		t.Fatal(err)
	}
	wantNext(t, feed, "app deleted with its key", appKey.ID)
}

// TestKeyChangeFeedCommitOrder: a change logged first but committed last is
// still reported. Sequence numbers follow the inserts, not the commits, so
// a feed that kept only the highest it saw would miss it.
func TestKeyChangeFeedCommitOrder(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	node := openAt(t, dsn)
	feed := follow(t, node)
	slow, err := rawConn(t, dsn).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(context.Background())
	if err := logKeyChanges(ctx, slow, "key_slow"); err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, rawConn(t, dsn), func(tx pgx.Tx) error { return logKeyChanges(ctx, tx, "key_fast") }); err != nil {
		t.Fatal(err)
	}
	wantNext(t, feed, "the later change, committed first", "key_fast")
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantNext(t, feed, "the earlier change, committed last", "key_slow")
	wantNext(t, feed, "nothing new")
	// Rolled back, a change is never reported.
	tx, err := rawConn(t, dsn).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := logKeyChanges(ctx, tx, "key_undone"); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)
	wantNext(t, feed, "a rolled back change")
}

// TestKeyChangeFeedLags: a read reports, for each transaction, how long
// it had been committed, measured on the database's clock from its commit
// (not its start, nor the statement that logged it) to the read: one lag
// per transaction, a cascade included, in commit order.
func TestKeyChangeFeedLags(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	nodeA, nodeB := openAt(t, dsn), openAt(t, dsn)
	feed := follow(t, nodeB)
	const pause = 50 * time.Millisecond

	acc := &latchkey.Account{ID: fmt.Sprintf("%024x", 1), Name: "A", CreatedAt: time.Now()}
	first := newTestKey(latchkey.KeyOwner{AccountID: acc.ID}, 1)
	if err := nodeA.CreateAccountWithKey(ctx, acc, first); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pause)
	first.Policy.Disabled = true
	if err := nodeA.UpdateKey(ctx, first); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pause)
	c := wantNext(t, feed, "two transactions", first.ID, first.ID)
	if len(c.Lags) != 2 {
		t.Fatalf("two transactions: lags %v, want two", c.Lags)
	}
	// The update committed at least a pause before the read, and the
	// creation a pause before the update: sleeps last at least as long.
	if c.Lags[1] < pause || c.Lags[0]-c.Lags[1] < pause {
		t.Fatalf("lags %v: want the last at least %v, and the first at least %v longer", c.Lags, pause, pause)
	}

	app := &latchkey.App{ID: fmt.Sprintf("a%023x", 1), AccountID: acc.ID, DisplayName: "App"}
	if err := nodeA.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	appKeys := []*latchkey.Key{newTestKey(latchkey.KeyOwner{AccountID: acc.ID, AppID: app.ID}, 2),
		newTestKey(latchkey.KeyOwner{AccountID: acc.ID, AppID: app.ID}, 3)}
	for _, k := range appKeys {
		if err := nodeA.CreateKey(ctx, k, 0); err != nil {
			t.Fatal(err)
		}
	}
	wantNext(t, feed, "two keys created", appKeys[0].ID, appKeys[1].ID)
	if err := nodeA.DeleteApp(ctx, app.ID, nil); err != nil {
		t.Fatal(err)
	}
	if c := wantNext(t, feed, "a cascade", appKeys[0].ID, appKeys[1].ID); len(c.Lags) != 1 {
		t.Fatalf("a cascade deleting two keys in one transaction: lags %v, want one", c.Lags)
	}
	wantNext(t, feed, "nothing new")
}

// TestKeyChangeFeedLagFromCommit: a transaction's lag runs from its commit,
// not from when it logged its change: a change logged first and committed
// a pause after another is reported as the more recent of the two.
func TestKeyChangeFeedLagFromCommit(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	node := openAt(t, dsn)
	feed := follow(t, node)
	const pause = 50 * time.Millisecond
	slow, err := rawConn(t, dsn).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(context.Background())
	if err := logKeyChanges(ctx, slow, "key_slow"); err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, rawConn(t, dsn), func(tx pgx.Tx) error { return logKeyChanges(ctx, tx, "key_fast") }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pause)
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	c := wantNext(t, feed, "both", "key_slow", "key_fast")
	// The log holds the commit times: key_slow's a pause after key_fast's,
	// though it logged its change first.
	committed := map[string]time.Time{}
	rows, err := rawConn(t, dsn).Query(ctx, `SELECT key_id, committed_at FROM key_changes`)
	if err != nil {
		t.Fatal(err)
	}
	var (
		id string
		at time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error { committed[id] = at; return nil }); err != nil {
		t.Fatal(err)
	}
	if gap := committed["key_slow"].Sub(committed["key_fast"]); gap < pause {
		t.Fatalf("committed_at %v: want key_slow's at least %v after key_fast's", committed, pause)
	}
	// The lags run from those times to one instant, in commit order:
	// key_fast's, then key_slow's.
	if len(c.Lags) != 2 || c.Lags[0]-c.Lags[1] != committed["key_slow"].Sub(committed["key_fast"]) {
		t.Fatalf("lags %v: want key_fast's, then key_slow's, %v apart as their commit times", c.Lags, committed["key_slow"].Sub(committed["key_fast"]))
	}
}

// TestKeyChangeFeedUnknownCommitTime: a change logged before the log held
// commit times is reported, without a lag.
func TestKeyChangeFeedUnknownCommitTime(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	node := openAt(t, dsn)
	feed := follow(t, node)
	raw := rawConn(t, dsn)
	for _, id := range []string{"key_legacy", "key_new"} {
		if err := pgx.BeginFunc(ctx, raw, func(tx pgx.Tx) error { return logKeyChanges(ctx, tx, id) }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(ctx, `UPDATE key_changes SET committed_at = NULL WHERE key_id = 'key_legacy'`); err != nil {
		t.Fatal(err)
	}
	c, err := feed.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.KeyIDs) != 2 || len(c.Lags) != 1 || c.Lags[0] < 0 {
		t.Fatalf("Next() = %+v: want both keys and one lag, key_new's", c)
	}
}

// TestKeyChangeFeedWait: Wait returns when a change is committed through
// any node; when its connection is cut it reports an error, and the next
// Wait connects again.
func TestKeyChangeFeedWait(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	nodeA, nodeB := openAt(t, dsn), openAt(t, dsn)
	feed := follow(t, nodeB)
	acc := &latchkey.Account{ID: fmt.Sprintf("%024x", 1), Name: "A", CreatedAt: time.Now()}
	k := newTestKey(latchkey.KeyOwner{AccountID: acc.ID}, 1)

	waited := make(chan error, 1)
	wait := func() {
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			waited <- feed.Wait(wctx)
		}()
	}
	// The listener connects inside Wait: wait until it is listening before
	// committing, or the notification could come before it.
	listening := func() {
		t.Helper()
		raw := rawConn(t, dsn)
		deadline := time.Now().Add(10 * time.Second)
		for {
			var n int
			if err := raw.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the feed never listened")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait()
	listening()
	if err := nodeA.CreateAccountWithKey(ctx, acc, k); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait() after a change on another node = %v", err)
	}
	wantNext(t, feed, "the change Wait rang for", k.ID)

	wait()
	listening()
	if _, err := rawConn(t, dsn).Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err == nil {
		t.Fatal("Wait() returned nil when its connection was cut")
	}
	wait()
	listening()
	if err := nodeA.DeleteKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait() after reconnecting = %v", err)
	}
	wantNext(t, feed, "the change after reconnecting", k.ID)
}

// TestKeyChangeFeedPrunes: a feed deletes the change log's rows older than
// its retention, and keeps the rest.
func TestKeyChangeFeedPrunes(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	node := openAt(t, dsn) // migrates
	raw := rawConn(t, dsn)
	if _, err := raw.Exec(ctx, `INSERT INTO key_changes (key_id, changed_at)
		VALUES ('key_old', now() - interval '2 hours'), ('key_recent', now() - interval '10 minutes')`); err != nil {
		t.Fatal(err)
	}
	follow(t, node) // its first read prunes
	rows, err := raw.Query(ctx, `SELECT key_id FROM key_changes ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left, []string{"key_recent"}) {
		t.Fatalf("the change log holds %v after pruning, want [key_recent]", left)
	}
}
