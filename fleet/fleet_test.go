package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// These tests hold the Follower's logic to a feed in memory; the tests of
// store/postgres and cmd/latchkey run it against a real PostgreSQL.

// memFeed is a change feed whose changes, failures and doorbell a test sets.
type memFeed struct {
	mu       sync.Mutex
	pending  []string
	all      bool
	lags     []time.Duration
	noReadAt bool
	nextErr  error
	reads    int
	doorbell chan struct{}
	waitErr  chan error
}

func newMemFeed() *memFeed {
	return &memFeed{doorbell: make(chan struct{}, 1), waitErr: make(chan error, 1)}
}

func (m *memFeed) Next(ctx context.Context) (latchkey.KeyChanges, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	if m.nextErr != nil {
		return latchkey.KeyChanges{}, m.nextErr
	}
	c := latchkey.KeyChanges{KeyIDs: m.pending, All: m.all, Lags: m.lags}
	if !m.noReadAt {
		c.ReadAt = time.Now()
	}
	m.pending, m.all, m.lags = nil, false, nil
	return c, nil
}

func (m *memFeed) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-m.doorbell:
		return nil
	case err := <-m.waitErr:
		return err
	}
}

func (m *memFeed) Close() error { return nil }

// commit adds a change and, if ring, rings the doorbell.
func (m *memFeed) commit(ring bool, ids ...string) {
	m.mu.Lock()
	m.pending = append(m.pending, ids...)
	m.mu.Unlock()
	if ring {
		m.doorbell <- struct{}{}
	}
}

func (m *memFeed) setNextErr(err error) {
	m.mu.Lock()
	m.nextErr = err
	m.mu.Unlock()
}

// memCache records what it is told.
type memCache struct {
	mu        sync.Mutex
	forgotten []string
	purges    int
	until     time.Time
	// unreachable counts the calls to Unreachable.
	unreachable int
}

func (c *memCache) Forget(ids ...string) {
	c.mu.Lock()
	c.forgotten = append(c.forgotten, ids...)
	c.mu.Unlock()
}

func (c *memCache) Purge() {
	c.mu.Lock()
	c.purges++
	c.mu.Unlock()
}

func (c *memCache) TrustUntil(t time.Time) {
	c.mu.Lock()
	c.until = t
	c.mu.Unlock()
}

func (c *memCache) Unreachable() bool {
	c.mu.Lock()
	c.unreachable++
	c.mu.Unlock()
	return false
}

func (c *memCache) state() (forgotten []string, purges int, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.forgotten), c.purges, c.until
}

// commitLagged adds a change to keys by transactions committed lags before
// the next read, and rings the doorbell.
func (m *memFeed) commitLagged(ids []string, lags ...time.Duration) {
	m.mu.Lock()
	m.pending = append(m.pending, ids...)
	m.lags = append(m.lags, lags...)
	m.mu.Unlock()
	m.doorbell <- struct{}{}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 5*time.Second, what, cond)
}

// eventuallyWithin polls cond for up to d.
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// The doorbell applies a change at once, long before a poll would.
func TestDoorbellAppliesChanges(t *testing.T) {
	feed, cache := newMemFeed(), &memCache{}
	f := Follow(feed, cache, time.Hour, discard) // polls every 15 minutes
	defer f.Close()
	eventually(t, "in step after the first read", f.InStep)
	feed.commit(true, "key_a", "key_b")
	eventually(t, "key_a and key_b forgotten", func() bool {
		got, _, _ := cache.state()
		return slices.Equal(got, []string{"key_a", "key_b"})
	})
	feed.mu.Lock()
	feed.all = true
	feed.mu.Unlock()
	feed.doorbell <- struct{}{}
	eventually(t, "a purge for a change to all keys", func() bool { _, purges, _ := cache.state(); return purges == 1 })
}

// Without the doorbell, polls still apply changes within the bound.
func TestPollsWithoutDoorbell(t *testing.T) {
	feed, cache := newMemFeed(), &memCache{}
	feed.waitErr <- errors.New("connection lost")
	f := Follow(feed, cache, 40*time.Millisecond, discard)
	defer f.Close()
	feed.commit(false, "key_c")
	eventually(t, "key_c forgotten by a poll", func() bool {
		got, _, _ := cache.state()
		return slices.Contains(got, "key_c")
	})
}

// The cache is trusted only from the first successful read, only up to the
// bound after each, and no longer once reads fail.
func TestTrustEndsWhenReadsFail(t *testing.T) {
	feed, cache := newMemFeed(), &memCache{}
	feed.setNextErr(errors.New("database down"))
	start := time.Now()
	f := Follow(feed, cache, 40*time.Millisecond, discard)
	defer f.Close()
	if _, _, until := cache.state(); until.After(time.Now()) || until.Before(start) {
		t.Fatalf("before any read the cache is trusted until %v", until)
	}
	if f.InStep() {
		t.Fatal("in step before any read succeeded")
	}
	flip := time.Now()
	feed.setNextErr(nil)
	eventually(t, "in step", f.InStep)
	// The read that succeeded began after flip, and before now.
	_, _, until := cache.state()
	if until.Before(flip.Add(40*time.Millisecond)) || until.After(time.Now().Add(40*time.Millisecond)) {
		t.Fatalf("trusted until %v: want the start of a read after %v, plus 40ms", until, flip)
	}
	feed.setNextErr(errors.New("database down"))
	eventually(t, "out of step once reads fail", func() bool { return !f.InStep() })
	_, _, until = cache.state()
	if until.After(time.Now()) {
		t.Fatalf("reads fail, yet the cache is trusted until %v", until)
	}
}

// A read that fails because the store is out of reach tells the cache
// (which may then serve stale answers, see auth.WithServeStale); a read
// that fails for another reason does not.
func TestUnreachableTellsTheCache(t *testing.T) {
	feed, cache := newMemFeed(), &memCache{}
	feed.setNextErr(errors.New("syntax error"))
	f := Follow(feed, cache, 40*time.Millisecond, discard)
	defer f.Close()
	eventually(t, "a few failed reads", func() bool { feed.mu.Lock(); defer feed.mu.Unlock(); return feed.reads >= 3 })
	cache.mu.Lock()
	calls := cache.unreachable
	cache.mu.Unlock()
	if calls != 0 {
		t.Fatalf("Unreachable called %d times for an error that is not an outage", calls)
	}
	feed.setNextErr(latchkey.Unavailable(errors.New("connection refused")))
	eventually(t, "Unreachable called", func() bool { cache.mu.Lock(); defer cache.mu.Unlock(); return cache.unreachable > 0 })
}

// staleCache is a memCache that serves stale answers while unreachable.
type staleCache struct {
	memCache
	stale bool
}

func (c *staleCache) Unreachable() bool {
	c.mu.Lock()
	c.stale = true
	c.mu.Unlock()
	return true
}

func (c *staleCache) TrustUntil(t time.Time) {
	c.mu.Lock()
	c.until, c.stale = t, false
	c.mu.Unlock()
}

func (c *staleCache) isStale() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stale
}

// A cache serving stale answers stops when the store answers again: after
// a successful read (TrustUntil), and also when a read fails for a reason
// other than the store being out of reach, without being vouched for any
// longer than the last successful read allowed.
func TestServingStaleEnds(t *testing.T) {
	for _, next := range []error{nil, errors.New("permission denied for table key_changes")} {
		feed, cache := newMemFeed(), &staleCache{}
		f := Follow(feed, cache, 40*time.Millisecond, discard)
		eventually(t, "in step", f.InStep)
		feed.setNextErr(latchkey.Unavailable(errors.New("connection refused")))
		eventually(t, "serving stale", cache.isStale)
		_, _, vouched := cache.state() // by the last successful read
		feed.setNextErr(next)
		eventually(t, fmt.Sprintf("stale no more after a read that returned %v", next), func() bool { return !cache.isStale() })
		if _, _, until := cache.state(); next != nil && !until.Equal(vouched) {
			t.Errorf("after a failed read the cache is trusted until %v, want %v as the last successful read said", until, vouched)
		}
		f.Close()
	}
}

// slowCache is a memCache that takes at least delay to forget.
type slowCache struct {
	memCache
	delay time.Duration
}

func (c *slowCache) Forget(ids ...string) {
	time.Sleep(c.delay)
	c.memCache.Forget(ids...)
}

// lagLog records the lags a Follower observes, and what the cache had
// forgotten at each.
type lagLog struct {
	mu        sync.Mutex
	lags      []time.Duration
	forgotten [][]string
}

func (l *lagLog) observer(c *memCache) func(time.Duration) {
	return func(lag time.Duration) {
		forgotten, _, _ := c.state()
		l.mu.Lock()
		l.lags = append(l.lags, lag)
		l.forgotten = append(l.forgotten, forgotten)
		l.mu.Unlock()
	}
}

func (l *lagLog) get() ([]time.Duration, [][]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lags), slices.Clone(l.forgotten)
}

// Each lag the feed reports is observed once the cache has forgotten the
// keys, in the feed's order, plus the time from the read to forgetting.
func TestChangeLagsObserved(t *testing.T) {
	feed, cache := newMemFeed(), &slowCache{delay: 30 * time.Millisecond}
	f := Follow(feed, cache, time.Hour, discard)
	defer f.Close()
	var log lagLog
	f.ObserveChangeLags(log.observer(&cache.memCache))
	eventually(t, "in step after the first read", f.InStep)
	start := time.Now()
	feed.commitLagged([]string{"key_a", "key_b", "key_c"}, 300*time.Millisecond, 100*time.Millisecond)
	eventually(t, "two lags observed", func() bool { lags, _ := log.get(); return len(lags) >= 2 })
	ran := time.Since(start)
	lags, forgotten := log.get()
	if len(lags) != 2 {
		t.Fatalf("observed %v, want two lags", lags)
	}
	for i, reported := range []time.Duration{300 * time.Millisecond, 100 * time.Millisecond} {
		// Forgetting took at least the cache's delay, and all this no
		// longer than the test waited.
		if lags[i] < reported+cache.delay || lags[i] > reported+ran {
			t.Errorf("lag %d observed as %v: want the reported %v, plus at least %v and at most %v", i, lags[i], reported, cache.delay, ran)
		}
		if !slices.Equal(forgotten[i], []string{"key_a", "key_b", "key_c"}) {
			t.Errorf("lag %d observed when the cache had forgotten only %v", i, forgotten[i])
		}
	}

	// A purge applies changes too.
	feed.mu.Lock()
	feed.all = true
	feed.mu.Unlock()
	feed.commitLagged(nil, time.Millisecond)
	eventually(t, "the purge's lag observed", func() bool { lags, _ := log.get(); return len(lags) == 3 })
	if _, purges, _ := cache.state(); purges != 1 {
		t.Fatalf("%d purges", purges)
	}

	// A feed that tells no ReadAt: the lag as reported, nothing added.
	feed.mu.Lock()
	feed.noReadAt = true
	feed.mu.Unlock()
	feed.commitLagged([]string{"key_d"}, 7*time.Millisecond)
	eventually(t, "the fourth lag observed", func() bool { lags, _ := log.get(); return len(lags) == 4 })
	if lags, _ := log.get(); lags[3] != 7*time.Millisecond {
		t.Fatalf("without ReadAt, observed %v for a reported 7ms", lags[3])
	}

	// Changes without lags, and after ObserveChangeLags(nil), observe nothing.
	feed.commit(true, "key_e")
	f.ObserveChangeLags(nil)
	feed.commitLagged([]string{"key_f"}, time.Millisecond)
	eventually(t, "key_e and key_f forgotten", func() bool { got, _, _ := cache.state(); return slices.Contains(got, "key_f") })
	if lags, _ := log.get(); len(lags) != 4 {
		t.Fatalf("observed %v, want no more than the four", lags)
	}
}
