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
	c := latchkey.KeyChanges{KeyIDs: m.pending, All: m.all}
	m.pending, m.all = nil, false
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

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %s", what)
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
