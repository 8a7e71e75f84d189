package fleet

import (
	"fmt"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/store/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openNode opens a node's store on dsn, closed when the test ends.
func openNode(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// lagHistogram returns latchkey_fleet_change_lag_seconds from m.
func lagHistogram(t *testing.T, m *metrics.Metrics) *dto.Histogram {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "latchkey_fleet_change_lag_seconds" {
			return f.GetMetric()[0].GetHistogram()
		}
	}
	t.Fatal("no latchkey_fleet_change_lag_seconds")
	return nil
}

// TestChangeLagAcrossNodes: two nodes on one PostgreSQL database; each
// change committed through node A is observed once in node B's
// latchkey_fleet_change_lag_seconds, after B's cache forgot the key, with a
// lag no shorter than B took to forget and no longer than the test waited.
func TestChangeLagAcrossNodes(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	nodeA, nodeB := openNode(t, dsn), openNode(t, dsn)
	feed, err := nodeB.FollowKeyChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cache := &slowCache{delay: 20 * time.Millisecond}
	f := Follow(feed, cache, DefaultMaxStaleness, discard)
	defer f.Close()
	m := metrics.New()
	m.WatchFleet(f)
	// A loaded machine may be slow; nothing here depends on its speed.
	const patience = 30 * time.Second
	eventuallyWithin(t, patience, "node B in step", f.InStep)
	if h := lagHistogram(t, m); h.GetSampleCount() != 0 {
		t.Fatalf("%d lags observed before any change", h.GetSampleCount())
	}

	now := time.Now().UTC().Truncate(time.Microsecond)
	acc := &latchkey.Account{ID: fmt.Sprintf("%024x", 1), Name: "A", CreatedAt: now}
	key := &latchkey.Key{ID: fmt.Sprintf("c%023x", 1), AccountID: acc.ID, Name: "key",
		Policy: latchkey.Policy{Type: latchkey.KeyTypeSecret}, CreatedAt: now, UpdatedAt: now,
		Secrets: []latchkey.Secret{{Hash: []byte("hash-1"), Sealed: []byte("sealed"), CreatedAt: now}}}
	// applied commits a change through node A and waits until node B has
	// observed want lags in all; each must be at least B's forgetting and
	// at most the time since this change began (plus a second: the
	// database's clock measures part of it).
	applied := func(what string, want uint64, change func() error) {
		t.Helper()
		before := lagHistogram(t, m).GetSampleSum()
		start := time.Now()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var h *dto.Histogram
		eventuallyWithin(t, patience, fmt.Sprintf("%s: %d lags observed on node B", what, want), func() bool {
			h = lagHistogram(t, m)
			return h.GetSampleCount() >= want
		})
		// Observed only once B's cache forgot the key.
		if forgotten, _, _ := cache.state(); !slices.Contains(forgotten, key.ID) {
			t.Fatalf("%s: a lag observed before node B forgot the key (forgotten: %v)", what, forgotten)
		}
		if got := h.GetSampleCount(); got != want {
			t.Fatalf("%s: %d lags observed, want %d: one per transaction", what, got, want)
		}
		// The histogram sums the lags: this one is the sum's growth.
		lag := h.GetSampleSum() - before
		if lag < cache.delay.Seconds() || lag > (time.Since(start)+time.Second).Seconds() {
			t.Fatalf("%s: lag %vs: want at least B's %v to forget, at most the %v waited", what, lag, cache.delay, time.Since(start))
		}
		t.Logf("%s: lag %.1f ms", what, lag*1000)
		// Bucket counts never decrease with le, and reach the count at 60 s.
		var last uint64
		for _, b := range h.GetBucket() {
			if b.GetCumulativeCount() < last {
				t.Fatalf("%s: buckets %v", what, h.GetBucket())
			}
			last = b.GetCumulativeCount()
		}
		if last != want {
			t.Fatalf("%s: %d lags within 60 s, want %d", what, last, want)
		}
	}
	applied("an account with its key", 1, func() error { return nodeA.CreateAccountWithKey(ctx, acc, key) })
	cache.mu.Lock()
	cache.forgotten = nil
	cache.mu.Unlock()
	applied("a deletion", 2, func() error { return nodeA.DeleteKey(ctx, key.ID) })

	// No more, after reads with nothing new: each change is observed once.
	for range 2 {
		synced := f.syncedAt.Load()
		eventuallyWithin(t, patience, "another read", func() bool { return f.syncedAt.Load() > synced })
	}
	if got := lagHistogram(t, m).GetSampleCount(); got != 2 {
		t.Fatalf("%d lags observed after two changes", got)
	}
}
