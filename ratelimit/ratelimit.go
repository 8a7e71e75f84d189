// Package ratelimit enforces per-key rate limits on one node, exactly.
// Package redislimit runs the same algorithm in Redis, for a limit that
// holds across a fleet of nodes; package ratelimittest holds both to the
// guarantee below.
//
// # Algorithm: a sliding window of sub-windows, counted conservatively
//
// Each key's period is cut into 63 sub-windows of equal width
// w = ceil(period/63), aligned on multiples of w since the Unix epoch. A key
// keeps one counter per sub-window for the current sub-window and the 63
// before it: 64 counters, one fixed-size ring. A call is admitted if the
// units counted in those 64 sub-windows, plus its cost, fit in the limit;
// the cost is then added to the current sub-window.
//
// The 64 sub-windows span at least period + w, so every interval of length
// period that ends now lies inside them, even though the oldest sub-window
// lies partly outside the period: its units are counted in full.
//
// # Guarantee
//
// For one key whose limit and period stay the same, the units admitted
// within any interval of length period (any interval, not only aligned
// ones) never exceed limit: the bound is exact, with no tolerance, however
// the calls are spread. Proof: take the last unit admitted in the interval,
// at t in sub-window s. Every other unit in the interval was admitted
// before it, after t - period >= s·w - 63·w, so in sub-windows s-63 to s,
// all of which the check at t counted.
//
// Exactness with fixed memory has its price on the other side: a unit
// admitted at t stops counting when its sub-window leaves the ring, between
// period and period + w after t (w is period/63, rounded up to the
// nanosecond: 1.6% of the period). A client that never sends more than
// limit units within any period + w is never refused; one that sends at
// exactly limit per period may be told to wait up to w longer than a
// perfect sliding window would. Decision.RetryAfter says exactly how long.
//
// Times are the now values passed to Allow, taken per key as never going
// back: a now earlier than the newest sub-window already seen for the key
// (a wall clock stepped back, or concurrent callers that read the clock in
// one order and reach the key in the other) counts as in that sub-window.
// The guarantee holds for times so counted; for a clock that does not step
// back they are the times passed in, give or take the jitter between
// concurrent callers.
//
// # Why not the usual alternatives
//
//   - A fixed window (a counter reset every period) admits up to 2 × limit
//     within one period: limit at the end of one window, limit at the start
//     of the next.
//   - A token bucket or GCRA at limit per period admits a full bucket and
//     then its refill: up to 2 × limit within one period, unless it gives up
//     bursts altogether.
//   - A sliding-window counter that weighs the previous window by how much
//     of it still overlaps assumes the previous window's calls were evenly
//     spread; when they were not, it too admits nearly 2 × limit.
//   - A sliding log (one timestamp per admitted unit) is exact both ways,
//     but its memory grows with the limit.
//
// # Changes, memory and concurrency
//
// The limit and period are passed on every call, so a change takes effect
// on the next call. A new limit is applied to the units already counted. A
// new period rebuilds the ring: the units counted in sub-windows that end
// within the new period before now are carried into the current
// sub-window, which can only make the limiter stricter; the guarantee then
// holds for intervals that begin after the change.
//
// A key's entry holds 64 four-byte counters; limits above 4,294,967,295
// units per period are treated as that. An entry whose units have all
// stopped counting is idle: removing it changes no later decision (for an
// unchanged period). Idle entries are swept from a shard whenever the
// shard has doubled in size since its last sweep (so memory stays within
// about twice the entries still counting, plus a small floor per shard),
// and all at once by Sweep, which a caller may run periodically.
//
// A Limiter is safe for concurrent use. Keys are spread over 64 shards by
// a seeded hash, each with its own lock, so calls for different keys rarely
// wait for one another; a call for a key that already has an entry
// allocates nothing.
//
// Costs below 1 are for the caller to refuse as invalid input before
// calling Allow; Allow counts them as 1, so that a missed check can never
// refund units. A cost above the limit is never admitted.
package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
)

const (
	// SubWindows is how many sub-windows a period is cut into; the ring
	// holds them and the current one (RingSize). The limiters that count
	// across nodes (ratelimit/sharedlimit, ratelimit/redislimit) cut
	// periods the same way, so that every node places a unit in the same
	// sub-window.
	SubWindows = 63
	RingSize   = SubWindows + 1
	ringMask   = RingSize - 1

	numShards = 64
	// minSweep is the size below which a shard is never swept on insert.
	minSweep = 64
)

// Decision is the answer to one call of Allow.
type Decision struct {
	// Allowed reports whether the call's cost was admitted (and counted).
	Allowed bool
	// Limit is the key's limit, as passed in.
	Limit int
	// Remaining is how many more units would be admitted now, after this
	// call's cost if it was admitted. It is never negative.
	Remaining int
	// Reset is, for an admitted call, when every unit counted so far will
	// have stopped counting (Remaining back to Limit). For a refused call,
	// it is the earliest time the same cost would be admitted if nothing
	// else were. It is zero when no wait helps: the cost exceeds the limit,
	// or the limit or period is not positive.
	Reset time.Time
	// RetryAfter is Reset less now, for a refused call that a wait helps;
	// zero otherwise.
	RetryAfter time.Duration
}

// Limiter holds the counters of every key it has seen recently.
type Limiter struct {
	seed   maphash.Seed
	shards [numShards]shard
}

type shard struct {
	mu sync.Mutex
	m  map[string]*window
	// sweepAt is the size at which the shard is next swept on insert.
	sweepAt int
	// Padding keeps each shard's lock on a cache line of its own, so that
	// cores working on different shards do not contend for one.
	_ [40]byte
}

// window is one key's ring of sub-window counters.
type window struct {
	period time.Duration // the period the ring was built for
	width  int64         // a sub-window's width in nanoseconds
	slot   int64         // the newest sub-window the ring reflects
	total  uint64        // the sum of counts
	counts [RingSize]uint32
}

// New returns an empty limiter.
func New() *Limiter {
	l := &Limiter{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = map[string]*window{}
		l.shards[i].sweepAt = minSweep
	}
	return l
}

// Allow decides whether keyID may spend cost units now under limit, and
// counts them if so. See the package documentation for the guarantee.
//
// The context is not used: it is there so that a Limiter serves where a
// limiter kept elsewhere (package redislimit, for a fleet) does, behind one
// interface (core.RateLimiter).
func (l *Limiter) Allow(_ context.Context, keyID string, limit latchkey.RateLimit, cost int, now time.Time) Decision {
	d := Decision{Limit: limit.Limit}
	if limit.Limit <= 0 || limit.Period <= 0 {
		return d // nothing can be admitted under such a limit
	}
	lim := uint64(min(limit.Limit, math.MaxUint32))
	units := uint64(max(cost, 1))
	nowNs := now.UnixNano()

	sh := &l.shards[maphash.String(l.seed, keyID)&(numShards-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.m[keyID]
	if w == nil {
		w = sh.insert(keyID, nowNs)
	}
	w.configure(limit.Period, nowNs)
	w.advance(floorDiv(nowNs, w.width))

	switch {
	case w.total+units <= lim:
		w.counts[w.slot&ringMask] += uint32(units)
		w.total += units
		d.Allowed = true
		d.Reset = time.Unix(0, (w.slot+RingSize)*w.width)
	case units <= lim:
		d.Reset = time.Unix(0, w.admitAt(w.total+units-lim))
		d.RetryAfter = max0(d.Reset.Sub(now))
	}
	if w.total < lim {
		d.Remaining = int(lim - w.total)
	}
	return d
}

// insert adds an entry for keyID, sweeping the shard first if it has
// doubled since its last sweep. Called with the shard locked.
func (sh *shard) insert(keyID string, nowNs int64) *window {
	if len(sh.m) >= sh.sweepAt {
		sh.sweep(nowNs)
		sh.sweepAt = max(minSweep, 2*len(sh.m))
	}
	w := &window{}
	// A copy of the id, so that the entry does not pin a larger string
	// (such as a request header) that the id was cut from.
	sh.m[strings.Clone(keyID)] = w
	return w
}

// Sweep removes every idle entry (see the package documentation) and
// reports how many it removed.
func (l *Limiter) Sweep(now time.Time) int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += sh.sweep(now.UnixNano())
		sh.sweepAt = max(minSweep, 2*len(sh.m))
		sh.mu.Unlock()
	}
	return n
}

// Len reports how many keys have an entry, idle or not.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

func (sh *shard) sweep(nowNs int64) int {
	n := 0
	for id, w := range sh.m {
		if w.idle(nowNs) {
			delete(sh.m, id)
			n++
		}
	}
	return n
}

// idle reports whether every unit the entry counted has stopped counting:
// the newest sub-window it reflects has left the ring.
func (w *window) idle(nowNs int64) bool {
	return w.total == 0 || floorDiv(nowNs, w.width) >= w.slot+RingSize
}

// configure builds the ring for period: on the first call, or when the
// period changed (see the package documentation for what is carried over).
func (w *window) configure(period time.Duration, nowNs int64) {
	if w.period == period {
		return
	}
	width := Width(period)
	var carried uint64
	if w.period != 0 {
		cutoff := nowNs - int64(period)
		for j := int64(0); j < RingSize; j++ {
			s := w.slot - j
			// A sub-window that ends after the cutoff may hold units
			// admitted within the new period of now.
			if c := w.counts[s&ringMask]; c != 0 && (s+1)*w.width > cutoff {
				carried += uint64(c)
			}
		}
	}
	*w = window{period: period, width: width, slot: floorDiv(nowNs, width)}
	w.counts[w.slot&ringMask] = uint32(min(carried, math.MaxUint32))
	w.total = uint64(w.counts[w.slot&ringMask])
}

// advance moves the ring to sub-window s, dropping the sub-windows that
// leave it. An s at or before the newest sub-window leaves the ring as it
// is, so that a clock stepped back counts in the newest sub-window.
func (w *window) advance(s int64) {
	switch {
	case s <= w.slot:
		return
	case s-w.slot >= RingSize:
		clear(w.counts[:])
		w.total = 0
	default:
		for x := w.slot + 1; x <= s; x++ {
			w.total -= uint64(w.counts[x&ringMask])
			w.counts[x&ringMask] = 0
		}
	}
	w.slot = s
}

// admitAt returns when (in Unix nanoseconds) at least need of the units now
// counted will have stopped counting, oldest first. need must not exceed
// the total.
func (w *window) admitAt(need uint64) int64 {
	var freed uint64
	for j := int64(0); j < RingSize; j++ {
		s := w.slot - SubWindows + j // oldest first
		freed += uint64(w.counts[s&ringMask])
		if freed >= need {
			return (s + RingSize) * w.width // when s leaves the ring
		}
	}
	return (w.slot + RingSize) * w.width // unreachable while need <= total
}

// Width is the width, in nanoseconds, of a sub-window of period: period
// divided by SubWindows, rounded up.
func Width(period time.Duration) int64 { return ceilDiv(int64(period), SubWindows) }

// SubWindow is the number of the sub-window of the given width (see Width)
// that holds the instant t, in Unix nanoseconds.
func SubWindow(t, width int64) int64 { return floorDiv(t, width) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

func max0(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
