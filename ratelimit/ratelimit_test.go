package ratelimit_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/ratelimit/ratelimittest"
)

var t0 = ratelimittest.T0

// width is a sub-window's width for period, as the package documents it.
func width(period time.Duration) time.Duration {
	return ratelimittest.Width(period, time.Nanosecond)
}

// TestProperties holds the limiter to the suite every limiter passes (the
// Redis one too): the exact bound, the retry times, costs, changes of limit
// and period, a clock stepped back, concurrent callers.
func TestProperties(t *testing.T) {
	ratelimittest.Run(t, ratelimittest.Impl{
		New:        func(*testing.T) ratelimittest.Limiter { return ratelimit.New() },
		Resolution: time.Nanosecond,
	})
}

func TestSweepRemovesOnlyIdleEntries(t *testing.T) {
	l, ctx := ratelimit.New(), t.Context()
	rl := latchkey.RateLimit{Limit: 10, Period: time.Minute}
	for i := range 1000 {
		l.Allow(ctx, "old"+strconv.Itoa(i), rl, 1, t0)
	}
	later := t0.Add(time.Minute + width(time.Minute) + time.Nanosecond)
	for i := range 10 {
		l.Allow(ctx, "new"+strconv.Itoa(i), rl, 1, later)
	}
	if n := l.Sweep(later); n != 1000 {
		t.Fatalf("Sweep removed %d entries, want the 1000 idle ones", n)
	}
	if n := l.Len(); n != 10 {
		t.Fatalf("%d entries left, want 10", n)
	}
	// Entries still counting keep their counts.
	for range 9 {
		l.Allow(ctx, "new0", rl, 1, later)
	}
	if d := l.Allow(ctx, "new0", rl, 1, later); d.Allowed {
		t.Fatalf("new0 after its limit: %+v", d)
	}
}

// TestMemoryStaysBounded makes new keys for many periods without calling
// Sweep: shards sweep themselves as they grow, so entries stay within a
// small multiple of the keys still counting.
func TestMemoryStaysBounded(t *testing.T) {
	l, ctx := ratelimit.New(), t.Context()
	rl := latchkey.RateLimit{Limit: 10, Period: time.Second}
	const perPeriod = 2000
	now := t0
	peak := 0
	for p := range 50 {
		for i := range perPeriod {
			l.Allow(ctx, strconv.Itoa(p)+"/"+strconv.Itoa(i), rl, 1, now)
		}
		peak = max(peak, l.Len())
		now = now.Add(2 * time.Second)
	}
	// Counting keys are at most one period's worth; allow for each shard's
	// doubling and its floor of 64.
	if bound := 2*2*perPeriod + 64*64; peak > bound {
		t.Fatalf("peak of %d entries for %d keys counting at a time, want at most %d", peak, perPeriod, bound)
	}
}

func BenchmarkAllow(b *testing.B) {
	l, ctx := ratelimit.New(), context.Background()
	rl := latchkey.RateLimit{Limit: 1 << 30, Period: time.Minute}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		if !l.Allow(ctx, "key_0123456789abcdef01234567", rl, 1, now).Allowed {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAllowParallel is every core checking a key of its own.
func BenchmarkAllowParallel(b *testing.B) {
	l, ctx := ratelimit.New(), context.Background()
	rl := latchkey.RateLimit{Limit: 1 << 30, Period: time.Minute}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := "key_" + strconv.FormatInt(next.Add(1), 10)
		now := t0
		for pb.Next() {
			now = now.Add(time.Microsecond)
			l.Allow(ctx, key, rl, 1, now)
		}
	})
}

// BenchmarkAllowParallelOneKey is every core checking the same key: its
// shard's lock under contention.
func BenchmarkAllowParallelOneKey(b *testing.B) {
	l, ctx := ratelimit.New(), context.Background()
	rl := latchkey.RateLimit{Limit: 1 << 30, Period: time.Minute}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := t0
		for pb.Next() {
			now = now.Add(time.Microsecond)
			l.Allow(ctx, "hot", rl, 1, now)
		}
	})
}
