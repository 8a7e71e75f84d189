package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// PRAGMA synchronous reports NORMAL as 1 and FULL as 2.
const (
	levelNormal = 1
	levelFull   = 2
)

// usageStore opens a store with one key, benchKey(acc, 0), whose clock is
// *now, and whose AddUsage transactions append the level their commit is
// about to use (read from the connection, inside the transaction) to
// *levels.
func usageStore(t *testing.T) (s *Store, keyID string, now *time.Time, levels *[]int) {
	t.Helper()
	ctx := t.Context()
	s = openAt(t, filepath.Join(t.TempDir(), "latchkey.db"))
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now, levels = &t0, new([]int)
	s.Now = func() time.Time { return *now }
	acc := &latchkey.Account{ID: "act_usage", Name: "usage", CreatedAt: t0}
	k := benchKey(acc.ID, 0, t0)
	if err := s.CreateAccountWithKey(ctx, acc, k); err != nil {
		t.Fatal(err)
	}
	s.usageTxHook = func(tx *sql.Tx) error {
		var level int
		if err := tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level); err != nil {
			return err
		}
		*levels = append(*levels, level)
		return nil
	}
	return s, k.ID, now, levels
}

// writeLevel returns the level a write transaction other than AddUsage's
// commits at, asked inside one, on the write pool's connection.
func writeLevel(t *testing.T, s *Store) int {
	t.Helper()
	ctx := t.Context()
	var level int
	if err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level)
	}); err != nil {
		t.Fatalf("PRAGMA synchronous in a write transaction: %v", err)
	}
	return level
}

// usageTotal returns the count of keyID's VALID verifications in the minute
// of at.
func usageTotal(t *testing.T, s *Store, keyID string, at time.Time) int64 {
	t.Helper()
	m := at.Truncate(time.Minute)
	got, err := s.Usage(t.Context(), keyID, m, m.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range got {
		n += c.Count
	}
	return n
}

// TestUsageCommitsFullOncePerSecond checks AddUsage's cadence through the
// store's clock: a commit at FULL first, then NORMAL until usageSyncEvery
// has passed since the last FULL commit that wrote something, and FULL
// again if the clock went back. After each call, the write connection
// commits everything else at FULL.
func TestUsageCommitsFullOncePerSecond(t *testing.T) {
	ctx := t.Context()
	s, keyID, now, levels := usageStore(t)
	t0 := *now
	steps := []struct {
		at    time.Duration // after t0
		key   string        // whose usage is added; a key that does not exist writes nothing
		level int
	}{
		{0, keyID, levelFull}, // the first commit syncs
		{100 * time.Millisecond, keyID, levelNormal},
		{999 * time.Millisecond, keyID, levelNormal},
		{time.Second, keyID, levelFull}, // a second after the last FULL commit
		{1500 * time.Millisecond, keyID, levelNormal},
		{500 * time.Millisecond, keyID, levelFull}, // the clock went back
		{600 * time.Millisecond, keyID, levelNormal},
		{1600 * time.Millisecond, "key_missing", levelFull}, // due, but writes nothing, so syncs nothing
		{1700 * time.Millisecond, keyID, levelFull},         // so still due
		{1800 * time.Millisecond, keyID, levelNormal},
		{2699 * time.Millisecond, keyID, levelNormal},
		{2700 * time.Millisecond, keyID, levelFull},
	}
	var want int64
	for i, st := range steps {
		*now = t0.Add(st.at)
		counts := []latchkey.UsageCount{{KeyID: st.key, Minute: t0, Code: latchkey.CodeValid, Count: 1}}
		if err := s.AddUsage(ctx, counts, map[string]time.Time{st.key: *now}); err != nil {
			t.Fatalf("step %d: AddUsage() error = %v", i, err)
		}
		if st.key == keyID {
			want++
		}
		if len(*levels) != i+1 {
			t.Fatalf("step %d: %d usage transactions seen, want %d", i, len(*levels), i+1)
		}
		if got := (*levels)[i]; got != st.level {
			t.Errorf("step %d (t0+%v): usage commit at synchronous %d, want %d", i, st.at, got, st.level)
		}
		if got := writeLevel(t, s); got != levelFull {
			t.Fatalf("step %d: after AddUsage, write transactions commit at synchronous %d, want %d (FULL)", i, got, levelFull)
		}
	}
	if got := usageTotal(t, s, keyID, t0); got != want {
		t.Errorf("usage stored = %d, want %d", got, want)
	}
	k, err := s.Key(ctx, keyID)
	if err != nil {
		t.Fatal(err)
	}
	if last := t0.Add(steps[len(steps)-1].at); k.LastUsedAt == nil || !k.LastUsedAt.Equal(last) {
		t.Errorf("LastUsedAt = %v, want %v", k.LastUsedAt, last)
	}
}

// TestFailedUsageCommitLeavesWritesFull checks that an AddUsage at NORMAL
// that fails, whether its transaction returned an error or its context was
// cancelled or ran out in the middle, applies nothing and leaves the write
// connection committing at FULL.
func TestFailedUsageCommitLeavesWritesFull(t *testing.T) {
	errHook := errors.New("hook failed")
	cases := []struct {
		name string
		// fail is run inside the transaction, after its writes; cancel
		// ends the call's context.
		fail func(cancel context.CancelFunc) error
	}{
		{"error", func(context.CancelFunc) error { return errHook }},
		{"cancelled", func(cancel context.CancelFunc) error { cancel(); return nil }},
		{"cancelled and error", func(cancel context.CancelFunc) error { cancel(); return errHook }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for trial := range 20 { // the cancellation races with database/sql's own rollback
				s, keyID, now, levels := usageStore(t)
				t0 := *now
				counts := []latchkey.UsageCount{{KeyID: keyID, Minute: t0, Code: latchkey.CodeValid, Count: 1}}
				// The first commit is at FULL; the next, a moment later, at NORMAL.
				if err := s.AddUsage(t.Context(), counts, nil); err != nil {
					t.Fatal(err)
				}
				*now = t0.Add(10 * time.Millisecond)
				hook := s.usageTxHook
				ctx, cancel := context.WithCancel(t.Context())
				s.usageTxHook = func(tx *sql.Tx) error {
					if err := hook(tx); err != nil {
						return err
					}
					return tc.fail(cancel)
				}
				err := s.AddUsage(ctx, counts, nil)
				cancel()
				if err == nil {
					t.Fatalf("trial %d: AddUsage() = nil, want an error", trial)
				}
				if len(*levels) != 2 || (*levels)[1] != levelNormal {
					t.Fatalf("trial %d: usage commits at %v, want the second at %d (NORMAL)", trial, *levels, levelNormal)
				}
				if got := writeLevel(t, s); got != levelFull {
					t.Fatalf("trial %d: after a failed AddUsage, write transactions commit at synchronous %d, want %d (FULL)", trial, got, levelFull)
				}
				if got := usageTotal(t, s, keyID, t0); got != 1 {
					t.Fatalf("trial %d: usage stored = %d, want 1 (the failed batch not applied)", trial, got)
				}
			}
		})
	}

	t.Run("cancelled before", func(t *testing.T) {
		s, keyID, now, _ := usageStore(t)
		counts := []latchkey.UsageCount{{KeyID: keyID, Minute: *now, Code: latchkey.CodeValid, Count: 1}}
		if err := s.AddUsage(t.Context(), counts, nil); err != nil {
			t.Fatal(err)
		}
		*now = now.Add(10 * time.Millisecond)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.AddUsage(ctx, counts, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("AddUsage() with a cancelled context = %v, want context.Canceled", err)
		}
		if got := writeLevel(t, s); got != levelFull {
			t.Fatalf("write transactions commit at synchronous %d, want %d (FULL)", got, levelFull)
		}
	})
}

// TestRestoreLevelDiscardsConnection checks the fail-closed path: when the
// level cannot be set back (here because the connection was left inside a
// transaction, where SQLite refuses to change it), the connection is not
// returned to the pool, and the next write commits at FULL on a new one.
func TestRestoreLevelDiscardsConnection(t *testing.T) {
	ctx := t.Context()
	s := openAt(t, filepath.Join(t.TempDir(), "latchkey.db"))
	conn, err := s.write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`PRAGMA synchronous = NORMAL`, `BEGIN`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.restoreLevel(ctx, conn); err == nil {
		t.Fatal("restoreLevel() inside a transaction = nil, want an error")
	}
	conn.Close()
	if n := s.write.Stats().OpenConnections; n != 0 {
		t.Errorf("write pool has %d open connections after a failed restore, want 0 (discarded)", n)
	}
	if got := writeLevel(t, s); got != levelFull {
		t.Errorf("write transactions commit at synchronous %d, want %d (FULL)", got, levelFull)
	}

	// And the ordinary path: set back, checked, and the connection kept.
	conn, err = s.write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		t.Fatal(err)
	}
	if err := s.restoreLevel(ctx, conn); err != nil {
		t.Fatalf("restoreLevel() = %v", err)
	}
	conn.Close()
	if n := s.write.Stats().OpenConnections; n != 1 {
		t.Errorf("write pool has %d open connections after a restore, want 1 (kept)", n)
	}
	if got := writeLevel(t, s); got != levelFull {
		t.Errorf("write transactions commit at synchronous %d, want %d (FULL)", got, levelFull)
	}
}

// TestWriteConnectionKeepsTemporaryFilesInMemory: the write connection
// keeps statement journals in memory (temp_store=MEMORY), so that a large
// usage flush or import batch creates and deletes no temporary file while
// requests wait.
func TestWriteConnectionKeepsTemporaryFilesInMemory(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var store int
	if err := s.write.QueryRowContext(context.Background(), `PRAGMA temp_store`).Scan(&store); err != nil {
		t.Fatal(err)
	}
	if store != 2 {
		t.Fatalf("PRAGMA temp_store on the write pool = %d, want 2 (MEMORY)", store)
	}
}
