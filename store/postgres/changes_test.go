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

// wantNext checks that the feed's next read reports exactly these key ids.
func wantNext(t *testing.T, feed latchkey.KeyChangeFeed, what string, ids ...string) {
	t.Helper()
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
}

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
