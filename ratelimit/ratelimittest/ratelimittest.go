// Package ratelimittest holds the properties every rate limiter of
// Latchkey must have, as one suite: the node-local limiter (package
// ratelimit) and the fleet-wide one (package redislimit) both run it, so
// that the guarantee documented in package ratelimit is checked, not
// assumed, for each.
//
// Times are injected: every call passes its own now, and the limiter under
// test must count in those times (the Redis limiter's CallerClock), so that
// windows and boundaries can be hit exactly.
package ratelimittest

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/ratelimit"
)

// Limiter is what the suite calls: core.RateLimiter's method.
type Limiter interface {
	Allow(ctx context.Context, keyID string, limit latchkey.RateLimit, cost int, now time.Time) ratelimit.Decision
}

// Impl describes the limiter under test.
type Impl struct {
	// New returns an empty limiter: no key it is asked about has been seen.
	New func(t *testing.T) Limiter
	// Resolution is the unit times are counted in: a nanosecond in memory,
	// a microsecond in Redis. A sub-window's width is period/63 rounded up
	// to it.
	Resolution time.Duration
	// Trials and Calls size the randomized test (default 200 trials of
	// 2000 calls), and Goroutines × Calls the concurrent one (default
	// 32 × 1000): a limiter with a round trip per call runs fewer.
	Trials, Calls, Goroutines int
}

// T0 is an arbitrary instant, aligned on no sub-window.
var T0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// Width is a sub-window's width for period at resolution res, as package
// ratelimit documents it.
func Width(period, res time.Duration) time.Duration {
	n := (period + 63*res - 1) / (63 * res)
	return n * res
}

// Run runs every property against impl, each as a subtest.
func Run(t *testing.T, impl Impl) {
	if impl.Resolution <= 0 {
		impl.Resolution = time.Nanosecond
	}
	if impl.Trials <= 0 {
		impl.Trials = 200
	}
	if impl.Calls <= 0 {
		impl.Calls = 2000
	}
	if impl.Goroutines <= 0 {
		impl.Goroutines = 32
	}
	for _, tc := range []struct {
		name string
		run  func(*testing.T, Impl)
	}{
		{"BurstThenExactRetry", burstThenExactRetry},
		{"RemainingAndCost", remainingAndCost},
		{"CostAboveLimitNeverAllowed", costAboveLimitNeverAllowed},
		{"LimitChangeTakesEffectNextCall", limitChangeTakesEffectNextCall},
		{"PeriodChangeCarriesRecentUnits", periodChangeCarriesRecentUnits},
		{"NeverMoreThanLimitInAnyWindow", neverMoreThanLimitInAnyWindow},
		{"ClockSteppedBackIsCountedAsLatest", clockSteppedBackIsCountedAsLatest},
		{"ConcurrentCallsAdmitExactlyTheLimit", concurrentCallsAdmitExactlyTheLimit},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, impl) })
	}
}

func burstThenExactRetry(t *testing.T, impl Impl) {
	l, ctx := impl.New(t), t.Context()
	rl := latchkey.RateLimit{Limit: 5, Period: time.Minute}
	for i := range 5 {
		d := l.Allow(ctx, "k", rl, 1, T0)
		if !d.Allowed || d.Limit != 5 || d.Remaining != 4-i {
			t.Fatalf("call %d: %+v, want allowed with %d remaining", i, d, 4-i)
		}
	}
	d := l.Allow(ctx, "k", rl, 1, T0)
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("sixth call: %+v, want refused with 0 remaining", d)
	}
	// The burst stops counting when its sub-window leaves the ring of 64:
	// after one period, and within 64 widths.
	w := Width(time.Minute, impl.Resolution)
	wait := d.Reset.Sub(T0)
	if wait <= time.Minute || wait > 64*w {
		t.Fatalf("Reset is %v after the burst, want in (1m, %v]", wait, 64*w)
	}
	if d.RetryAfter != wait {
		t.Fatalf("RetryAfter = %v, want %v", d.RetryAfter, wait)
	}
	// Refused calls count nothing: just before Reset, still refused...
	before := d.Reset.Add(-impl.Resolution)
	if d := l.Allow(ctx, "k", rl, 1, before); d.Allowed || d.RetryAfter != impl.Resolution {
		t.Fatalf("%v before Reset: %+v, want refused, retry after %[1]v", impl.Resolution, d)
	}
	// ...and at Reset, the whole limit is back.
	for i := range 5 {
		if d := l.Allow(ctx, "k", rl, 1, d.Reset); !d.Allowed || d.Remaining != 4-i {
			t.Fatalf("at Reset, call %d: %+v", i, d)
		}
	}
}

func remainingAndCost(t *testing.T, impl Impl) {
	l, ctx := impl.New(t), t.Context()
	rl := latchkey.RateLimit{Limit: 10, Period: time.Second}
	now := T0
	for _, want := range []int{7, 4, 1} {
		if d := l.Allow(ctx, "k", rl, 3, now); !d.Allowed || d.Remaining != want {
			t.Fatalf("cost 3: %+v, want remaining %d", d, want)
		}
	}
	d := l.Allow(ctx, "k", rl, 3, now)
	if d.Allowed || d.Remaining != 1 || d.RetryAfter <= 0 {
		t.Fatalf("cost 3 with 1 left: %+v, want refused, 1 remaining, a wait", d)
	}
	if d := l.Allow(ctx, "k", rl, 1, now); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("cost 1 with 1 left: %+v", d)
	}
	// An allowed call's Reset is when everything counted stops counting.
	w := Width(time.Second, impl.Resolution)
	if d := l.Allow(ctx, "other", rl, 1, now); d.Reset.Sub(now) <= time.Second || d.Reset.Sub(now) > 64*w || d.RetryAfter != 0 {
		t.Fatalf("an allowed call: %+v, Reset %v away", d, d.Reset.Sub(now))
	}
}

func costAboveLimitNeverAllowed(t *testing.T, impl Impl) {
	l, ctx := impl.New(t), t.Context()
	rl := latchkey.RateLimit{Limit: 3, Period: time.Second}
	d := l.Allow(ctx, "k", rl, 4, T0)
	if d.Allowed || d.Remaining != 3 || !d.Reset.IsZero() || d.RetryAfter != 0 {
		t.Fatalf("cost above the limit on an empty window: %+v, want refused, no reset", d)
	}
	if d := l.Allow(ctx, "k", rl, 3, T0); !d.Allowed {
		t.Fatalf("cost equal to the limit: %+v", d)
	}
	// A cost below 1 is counted as 1, never as a refund.
	if d := l.Allow(ctx, "k2", rl, -5, T0); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("negative cost: %+v, want counted as 1", d)
	}
	for _, bad := range []latchkey.RateLimit{{Limit: 0, Period: time.Second}, {Limit: 5, Period: 0}} {
		if d := l.Allow(ctx, "k3", bad, 1, T0); d.Allowed || !d.Reset.IsZero() {
			t.Fatalf("limit %+v: %+v, want refused", bad, d)
		}
	}
}

func limitChangeTakesEffectNextCall(t *testing.T, impl Impl) {
	l, ctx := impl.New(t), t.Context()
	for range 5 {
		l.Allow(ctx, "k", latchkey.RateLimit{Limit: 5, Period: time.Minute}, 1, T0)
	}
	if d := l.Allow(ctx, "k", latchkey.RateLimit{Limit: 8, Period: time.Minute}, 1, T0); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("raised to 8 with 5 used: %+v, want allowed, 2 remaining", d)
	}
	if d := l.Allow(ctx, "k", latchkey.RateLimit{Limit: 3, Period: time.Minute}, 1, T0); d.Allowed || d.Remaining != 0 {
		t.Fatalf("lowered to 3 with 6 used: %+v, want refused", d)
	}
}

func periodChangeCarriesRecentUnits(t *testing.T, impl Impl) {
	l, ctx := impl.New(t), t.Context()
	minute := latchkey.RateLimit{Limit: 5, Period: time.Minute}
	tenSeconds := latchkey.RateLimit{Limit: 5, Period: 10 * time.Second}
	for _, key := range []string{"recent", "old"} {
		for range 5 {
			if !l.Allow(ctx, key, minute, 1, T0).Allowed {
				t.Fatal("filling the minute")
			}
		}
	}
	// 5 s later, the units are within the new 10 s period: still counted.
	if d := l.Allow(ctx, "recent", tenSeconds, 1, T0.Add(5*time.Second)); d.Allowed {
		t.Fatalf("period shortened, units 5s old: %+v, want refused", d)
	}
	// 30 s later, they are older than the new period: not counted.
	if d := l.Allow(ctx, "old", tenSeconds, 1, T0.Add(30*time.Second)); !d.Allowed || d.Remaining != 4 {
		t.Fatalf("period shortened, units 30s old: %+v, want allowed, 4 remaining", d)
	}
}

// neverMoreThanLimitInAnyWindow drives keys with random and adversarial
// traffic, on an injected clock, and checks every window of length period
// that ends at an admission: none holds more than the limit. It also checks
// the other side: a key is never refused while the units admitted within
// the last 64 sub-windows leave room for the cost.
func neverMoreThanLimitInAnyWindow(t *testing.T, impl Impl) {
	r := rand.New(rand.NewPCG(1, 2))
	ctx := t.Context()
	for trial := range impl.Trials {
		l := impl.New(t)
		rl := latchkey.RateLimit{Limit: 1 + r.IntN(50), Period: time.Duration(1+r.IntN(5000)) * time.Millisecond}
		if trial%2 == 1 {
			// Periods of a few nanoseconds, where rounding a sub-window's
			// width (to the limiter's resolution) shows.
			rl.Period = time.Duration(1 + r.IntN(2000))
		}
		w := Width(rl.Period, impl.Resolution)
		type admit struct {
			at   time.Time
			cost int
		}
		var admitted []admit
		oldest, inLong := 0, 0 // see below
		now := T0.Add(time.Duration(r.Int64N(int64(time.Hour))))
		for range impl.Calls {
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
			d := l.Allow(ctx, "k", rl, cost, now)
			// Units admitted since now - 64 widths: the most the limiter
			// may still count. now never goes back, so the oldest of them
			// only moves forward.
			for oldest < len(admitted) && admitted[oldest].at.Before(now.Add(-64*w)) {
				inLong -= admitted[oldest].cost
				oldest++
			}
			if !d.Allowed && inLong+cost <= rl.Limit && cost <= rl.Limit {
				t.Fatalf("trial %d: refused cost %d with only %d admitted in the last 64 sub-windows (limit %d)", trial, cost, inLong, rl.Limit)
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

func clockSteppedBackIsCountedAsLatest(t *testing.T, impl Impl) {
	l, ctx := impl.New(t), t.Context()
	rl := latchkey.RateLimit{Limit: 3, Period: time.Minute}
	for range 3 {
		l.Allow(ctx, "k", rl, 1, T0)
	}
	if d := l.Allow(ctx, "k", rl, 1, T0.Add(-time.Hour)); d.Allowed {
		t.Fatalf("an hour in the past: %+v, want refused: the units still count", d)
	}
}

// concurrentCallsAdmitExactlyTheLimit has many goroutines spend one key's
// limit at once: exactly limit calls are admitted; and keys of their own
// beside it, each admitted exactly its own limit.
func concurrentCallsAdmitExactlyTheLimit(t *testing.T, impl Impl) {
	l, ctx := impl.New(t), t.Context()
	calls := impl.Calls / 2
	// Limits of a sixth of the calls made, so that most are refused.
	shared := latchkey.RateLimit{Limit: impl.Goroutines * calls / 6, Period: time.Hour}
	own := latchkey.RateLimit{Limit: calls / 2, Period: time.Hour}
	var allowed, byOthers atomic.Int64
	var wg sync.WaitGroup
	for g := range impl.Goroutines {
		wg.Go(func() {
			key := "own" + strconv.Itoa(g)
			for i := range calls {
				if l.Allow(ctx, "shared", shared, 1, T0.Add(time.Duration(i))).Allowed {
					allowed.Add(1)
				}
				if l.Allow(ctx, key, own, 1, T0).Allowed {
					byOthers.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != int64(shared.Limit) {
		t.Fatalf("%d × %d calls on one key with limit %d: %d allowed", impl.Goroutines, calls, shared.Limit, got)
	}
	if got, want := byOthers.Load(), int64(impl.Goroutines*own.Limit); got != want {
		t.Fatalf("%d keys with limit %d, %d calls each: %d allowed, want %d", impl.Goroutines, own.Limit, calls, got, want)
	}
}
