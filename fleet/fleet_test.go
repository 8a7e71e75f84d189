package fleet

import (
	"context"
	"errors"
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
