package ratelimit_test

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/ratelimit"
)

// t0 is an arbitrary instant, not aligned on any sub-window.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// width is a sub-window's width for period, as the package documents it.
func width(period time.Duration) time.Duration {
	return (period + 62) / 63
}

func TestBurstThenExactRetry(t *testing.T) {
	l := ratelimit.New()
	rl := latchkey.RateLimit{Limit: 5, Period: time.Minute}
	for i := range 5 {
		d := l.Allow("k", rl, 1, t0)
		if !d.Allowed || d.Limit != 5 || d.Remaining != 4-i {
			t.Fatalf("call %d: %+v, want allowed with %d remaining", i, d, 4-i)
		}
	}
	d := l.Allow("k", rl, 1, t0)
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("sixth call: %+v, want refused with 0 remaining", d)
	}
	// The burst stops counting between one period and one period plus a
	// sub-window after it was admitted.
	wait := d.Reset.Sub(t0)
	if wait <= time.Minute || wait > time.Minute+width(time.Minute) {
		t.Fatalf("Reset is %v after the burst, want in (1m, 1m+%v]", wait, width(time.Minute))
	}
	if d.RetryAfter != wait {
		t.Fatalf("RetryAfter = %v, want %v", d.RetryAfter, wait)
	}
	// Refused calls count nothing: just before Reset, still refused...
	if d := l.Allow("k", rl, 1, d.Reset.Add(-time.Nanosecond)); d.Allowed || d.RetryAfter != time.Nanosecond {
		t.Fatalf("1ns before Reset: %+v, want refused, retry after 1ns", d)
	}
	// ...and at Reset, the whole limit is back.
	for i := range 5 {
		if d := l.Allow("k", rl, 1, d.Reset); !d.Allowed || d.Remaining != 4-i {
			t.Fatalf("at Reset, call %d: %+v", i, d)
		}
	}
}

func TestRemainingAndCost(t *testing.T) {
	l := ratelimit.New()
	rl := latchkey.RateLimit{Limit: 10, Period: time.Second}
	now := t0
	for _, want := range []int{7, 4, 1} {
		if d := l.Allow("k", rl, 3, now); !d.Allowed || d.Remaining != want {
			t.Fatalf("cost 3: %+v, want remaining %d", d, want)
		}
	}
	d := l.Allow("k", rl, 3, now)
	if d.Allowed || d.Remaining != 1 || d.RetryAfter <= 0 {
		t.Fatalf("cost 3 with 1 left: %+v, want refused, 1 remaining, a wait", d)
	}
	if d := l.Allow("k", rl, 1, now); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("cost 1 with 1 left: %+v", d)
	}
	// An allowed call's Reset is when everything counted stops counting.
	if d := l.Allow("other", rl, 1, now); d.Reset.Sub(now) <= time.Second || d.Reset.Sub(now) > time.Second+width(time.Second) {
		t.Fatalf("Reset of an allowed call is %v away", d.Reset.Sub(now))
	}
}

func TestCostAboveLimitNeverAllowed(t *testing.T) {
	l := ratelimit.New()
	rl := latchkey.RateLimit{Limit: 3, Period: time.Second}
	d := l.Allow("k", rl, 4, t0)
	if d.Allowed || d.Remaining != 3 || !d.Reset.IsZero() || d.RetryAfter != 0 {
		t.Fatalf("cost above the limit on an empty window: %+v, want refused, no reset", d)
	}
	if d := l.Allow("k", rl, 3, t0); !d.Allowed {
		t.Fatalf("cost equal to the limit: %+v", d)
	}
	// A cost below 1 is counted as 1, never as a refund.
	if d := l.Allow("k2", rl, -5, t0); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("negative cost: %+v, want counted as 1", d)
	}
	for _, bad := range []latchkey.RateLimit{{Limit: 0, Period: time.Second}, {Limit: 5, Period: 0}} {
		if d := l.Allow("k3", bad, 1, t0); d.Allowed || !d.Reset.IsZero() {
			t.Fatalf("limit %+v: %+v, want refused", bad, d)
		}
	}
}

func TestLimitChangeTakesEffectNextCall(t *testing.T) {
	l := ratelimit.New()
	for range 5 {
		l.Allow("k", latchkey.RateLimit{Limit: 5, Period: time.Minute}, 1, t0)
	}
	if d := l.Allow("k", latchkey.RateLimit{Limit: 8, Period: time.Minute}, 1, t0); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("raised to 8 with 5 used: %+v, want allowed, 2 remaining", d)
	}
	if d := l.Allow("k", latchkey.RateLimit{Limit: 3, Period: time.Minute}, 1, t0); d.Allowed || d.Remaining != 0 {
		t.Fatalf("lowered to 3 with 6 used: %+v, want refused", d)
	}
}

func TestPeriodChangeCarriesRecentUnits(t *testing.T) {
	l := ratelimit.New()
	minute := latchkey.RateLimit{Limit: 5, Period: time.Minute}
	tenSeconds := latchkey.RateLimit{Limit: 5, Period: 10 * time.Second}
	for _, key := range []string{"recent", "old"} {
		for range 5 {
			if !l.Allow(key, minute, 1, t0).Allowed {
				t.Fatal("filling the minute")
			}
		}
	}
	// 5 s later, the units are within the new 10 s period: still counted.
	if d := l.Allow("recent", tenSeconds, 1, t0.Add(5*time.Second)); d.Allowed {
		t.Fatalf("period shortened, units 5s old: %+v, want refused", d)
	}
	// 30 s later, they are older than the new period: not counted.
	if d := l.Allow("old", tenSeconds, 1, t0.Add(30*time.Second)); !d.Allowed || d.Remaining != 4 {
		t.Fatalf("period shortened, units 30s old: %+v, want allowed, 4 remaining", d)
	}
}

// TestNeverMoreThanLimitInAnyWindow drives keys with random and
// adversarial traffic, on an injected clock, and checks every window of
// length period that ends at an admission: none holds more than the limit.
// It also checks the other side: a key is never refused while the units
// admitted within the last period + one sub-window leave room for the cost.
func TestNeverMoreThanLimitInAnyWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		l := ratelimit.New()
		rl := latchkey.RateLimit{Limit: 1 + r.IntN(50), Period: time.Duration(1+r.IntN(5000)) * time.Millisecond}
		if trial%2 == 1 {
			// Periods of a few nanoseconds, where rounding a sub-window's
			// width shows.
			rl.Period = time.Duration(1 + r.IntN(2000))
		}
		type admit struct {
			at   time.Time
			cost int
		}
		var admitted []admit
		oldest, inLong := 0, 0 // see below
		now := t0.Add(time.Duration(r.Int64N(int64(time.Hour))))
		for range 2000 {
			// Mostly small steps, sometimes a jump to just before or after
			// a period boundary of the last admission, sometimes a burst.
			switch r.IntN(10) {
			case 0:
				if len(admitted) > 0 { // the clock never goes back here
					edge := admitted[len(admitted)-1].at.Add(rl.Period - time.Duration(r.IntN(3)))
					if edge.After(now) {
						now = edge
					}
				}
			case 1:
				now = now.Add(rl.Period / 2)
			case 2: // same instant
			default:
				now = now.Add(time.Duration(r.Int64N(max(int64(rl.Period)/int64(rl.Limit)*2, 2))))
			}
			cost := 1 + r.IntN(3)
			d := l.Allow("k", rl, cost, now)
			// Units admitted since now - 64 widths (at most period + width +
			// 63ns): the most the limiter may still count. now never goes
			// back, so the oldest of them only moves forward.
			for oldest < len(admitted) && admitted[oldest].at.Before(now.Add(-64*width(rl.Period))) {
				inLong -= admitted[oldest].cost
				oldest++
			}
			if !d.Allowed && inLong+cost <= rl.Limit && cost <= rl.Limit {
				t.Fatalf("trial %d: refused cost %d with only %d admitted in the last period+width (limit %d)", trial, cost, inLong, rl.Limit)
			}
			if d.Allowed {
				admitted = append(admitted, admit{now, cost})
				inLong += cost
			}
		}
		// Windows of length period: (a.at - period, a.at] for each
		// admission a (in time order, as made), which are the windows
		// where a count can peak.
		lo, sum := 0, 0
		for hi, a := range admitted {
			sum += a.cost
			for !admitted[lo].at.After(a.at.Add(-rl.Period)) {
				sum -= admitted[lo].cost
				lo++
			}
			if sum > rl.Limit {
				t.Fatalf("trial %d: %d units admitted in the period ending at admission %d, limit %d", trial, sum, hi, rl.Limit)
			}
		}
	}
}

func TestClockSteppedBackIsCountedAsLatest(t *testing.T) {
	l := ratelimit.New()
	rl := latchkey.RateLimit{Limit: 3, Period: time.Minute}
	for range 3 {
		l.Allow("k", rl, 1, t0)
	}
	if d := l.Allow("k", rl, 1, t0.Add(-time.Hour)); d.Allowed {
		t.Fatalf("an hour in the past: %+v, want refused: the units still count", d)
	}
}

// TestConcurrentCallsAdmitExactlyTheLimit has many goroutines spend one
// key's limit at once: exactly limit calls are admitted.
func TestConcurrentCallsAdmitExactlyTheLimit(t *testing.T) {
	l := ratelimit.New()
	rl := latchkey.RateLimit{Limit: 5000, Period: time.Hour}
	var allowed, byOthers atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := "own" + strconv.Itoa(g)
			for i := range 1000 {
				if l.Allow("shared", rl, 1, t0.Add(time.Duration(i))).Allowed {
					allowed.Add(1)
				}
				if l.Allow(own, latchkey.RateLimit{Limit: 500, Period: time.Hour}, 1, t0).Allowed {
					byOthers.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 5000 {
		t.Fatalf("32 × 1000 calls on one key with limit 5000: %d allowed", allowed.Load())
	}
	if byOthers.Load() != 32*500 {
		t.Fatalf("32 keys with limit 500, 1000 calls each: %d allowed, want %d", byOthers.Load(), 32*500)
	}
}

func TestSweepRemovesOnlyIdleEntries(t *testing.T) {
	l := ratelimit.New()
	rl := latchkey.RateLimit{Limit: 10, Period: time.Minute}
	for i := range 1000 {
		l.Allow("old"+strconv.Itoa(i), rl, 1, t0)
	}
	later := t0.Add(time.Minute + width(time.Minute) + time.Nanosecond)
	for i := range 10 {
		l.Allow("new"+strconv.Itoa(i), rl, 1, later)
	}
	if n := l.Sweep(later); n != 1000 {
		t.Fatalf("Sweep removed %d entries, want the 1000 idle ones", n)
	}
	if n := l.Len(); n != 10 {
		t.Fatalf("%d entries left, want 10", n)
	}
	// Entries still counting keep their counts.
	for range 9 {
		l.Allow("new0", rl, 1, later)
	}
	if d := l.Allow("new0", rl, 1, later); d.Allowed {
		t.Fatalf("new0 after its limit: %+v", d)
	}
}

// TestMemoryStaysBounded makes new keys for many periods without calling
// Sweep: shards sweep themselves as they grow, so entries stay within a
// small multiple of the keys still counting.
func TestMemoryStaysBounded(t *testing.T) {
	l := ratelimit.New()
	rl := latchkey.RateLimit{Limit: 10, Period: time.Second}
	const perPeriod = 2000
	now := t0
	peak := 0
	for p := range 50 {
		for i := range perPeriod {
			l.Allow(strconv.Itoa(p)+"/"+strconv.Itoa(i), rl, 1, now)
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
	l := ratelimit.New()
	rl := latchkey.RateLimit{Limit: 1 << 30, Period: time.Minute}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		if !l.Allow("key_0123456789abcdef01234567", rl, 1, now).Allowed {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAllowParallel is every core checking a key of its own.
func BenchmarkAllowParallel(b *testing.B) {
	l := ratelimit.New()
	rl := latchkey.RateLimit{Limit: 1 << 30, Period: time.Minute}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := "key_" + strconv.FormatInt(next.Add(1), 10)
		now := t0
		for pb.Next() {
			now = now.Add(time.Microsecond)
			l.Allow(key, rl, 1, now)
		}
	})
}

// BenchmarkAllowParallelOneKey is every core checking the same key: its
// shard's lock under contention.
func BenchmarkAllowParallelOneKey(b *testing.B) {
	l := ratelimit.New()
	rl := latchkey.RateLimit{Limit: 1 << 30, Period: time.Minute}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := t0
		for pb.Next() {
			now = now.Add(time.Microsecond)
			l.Allow("hot", rl, 1, now)
		}
	})
}
