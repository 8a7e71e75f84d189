package postgres

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/ratelimit/sharedlimit"
)

// TestSyncRateCounts: each node's counts are its own rows, written as the
// greater of old and new; a node reads the others' sums, never its own;
// expired rows are deleted.
func TestSyncRateCounts(t *testing.T) {
	ctx := t.Context()
	s := openAt(t, pgtest.DSN(t))
	w := time.Second
	now := time.Unix(1_000_000, 0)
	slot := now.UnixNano() / int64(w)
	c := func(key string, sl, units int64) sharedlimit.Count {
		return sharedlimit.Count{KeyID: key, Width: w, Slot: sl, Units: units}
	}
	sync := func(node string, mine []sharedlimit.Count, keys ...string) []sharedlimit.Count {
		t.Helper()
		got, err := s.SyncRateCounts(ctx, node, mine, keys, now)
		if err != nil {
			t.Fatalf("SyncRateCounts(%s): %v", node, err)
		}
		slices.SortFunc(got, func(a, b sharedlimit.Count) int {
			if c := strings.Compare(a.KeyID, b.KeyID); c != 0 {
				return c
			}
			return cmp.Compare(a.Slot, b.Slot)
		})
		return got
	}
	if got := sync("a", []sharedlimit.Count{c("k", slot, 3), c("k", slot-1, 2), c("j", slot, 1), c("k", slot, 1)}, "k"); len(got) != 0 {
		t.Fatalf("a reads %v, want nothing: its own rows are not others'", got)
	}
	// b's counts add to a's by sub-window; a lower count never lowers one.
	sync("b", []sharedlimit.Count{c("k", slot, 4)})
	sync("a", []sharedlimit.Count{c("k", slot, 1)})
	want := []sharedlimit.Count{c("j", slot, 1), c("k", slot-1, 2), c("k", slot, 7)}
	if got := sync("c", nil, "k", "j", "none"); !slices.Equal(got, want) {
		t.Fatalf("c reads %v, want %v", got, want)
	}
	if got, want := sync("b", nil, "k"), []sharedlimit.Count{c("k", slot-1, 2), c("k", slot, 3)}; !slices.Equal(got, want) {
		t.Fatalf("b reads %v, want %v (a's only)", got, want)
	}
	// A row expires 64 widths after its sub-window began: a sync at a time
	// past that for slot-1 deletes it, and keeps slot.
	later := time.Unix(0, (slot-1+64)*int64(w)+1)
	if _, err := s.SyncRateCounts(ctx, "z", nil, nil, later); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM rate_counts WHERE slot = $1`, slot-1).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows of an expired sub-window left, %v", n, err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM rate_counts`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d rows left, want 3 (a's k and j, b's k), %v", n, err)
	}
}
