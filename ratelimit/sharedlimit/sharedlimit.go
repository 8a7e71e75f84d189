// Package sharedlimit enforces per-key rate limits across a fleet of nodes
// that share a database but no Redis: each node decides in memory, and a
// background goroutine shares the counts through the database (package
// store/postgres) every sync interval. A verification never waits for the
// database: Allow touches memory only.
//
// # Algorithm
//
// Package ratelimit's sliding window, unchanged in shape: a key's period
// is cut into 63 sub-windows of width w = ceil(period/63), and a ring of 64
// counts them. A node keeps two rings per key: its own units, counted
// exactly as package ratelimit counts them, and the other nodes' units, as
// last read from the database. A call is admitted if its own units, plus
// the others' as known, plus its cost, fit in the limit; its cost is then
// added to its own ring.
//
// Every sync interval s (Options.Interval, DefaultInterval: 100 ms), the
// node writes, in one round trip, the counts of its own sub-windows that
// changed since it last wrote them (each a whole count, written as the
// greater of it and the stored one, so that writing one twice is
// harmless), and reads the sums of every other node's counts for the keys
// it holds. Each node is known by an id drawn at random when it starts, so
// that its own units are never counted twice; the rows of a node that
// stopped simply stop counting when their sub-windows leave the ring. Rows
// whose sub-windows left the ring more than a minute ago (see Grace) are
// deleted by whichever node syncs next. A node syncs only while it holds
// keys: one that verified no rate-limited key makes no query at all.
//
// # Guarantee
//
// Let D = 2(g + r), where g is the longest time between the starts of two
// consecutive syncs of a node and r the longest a sync takes. Syncs start
// on a ticker every s, so g = s while syncs take less than s: the usual
// case, a sync being one round trip of a few milliseconds; a slower sync
// delays the next (g ≤ r + s), and one that takes longer than SyncTimeout
// is abandoned and counts as a failure. A unit a node admits at t is known
// to every other node by t + D: its node writes it in the sync that starts
// within g after t, which commits within r; every other node starts a sync
// within g after that commit, and applies what it read within r. With the
// default interval and syncs of under 10 ms, D < 220 ms.
//
// For one key whose limit L and period P stay the same, on a fleet of N
// nodes whose syncs succeed, the units admitted within any interval of
// length P never exceed
//
//	L + (N−1)·U
//
// where U is the most units one node admits of that key within an interval
// of length D (or P, if shorter).
//
// Proof. A node knows every unit another node admitted before t − D, once
// it has held the key for D/2 (until its first sync with the key): before
// that, after its first call for a key or its first after the key went
// idle on it, it is blind to the others. Take the last unit admitted in
// the interval by a node not blind, at t on node i. Its check counted
// every unit i admitted in the interval before it (package ratelimit's
// proof) and every unit another node admitted in the interval before
// t − D (in sub-windows the ring at t covers, by the same proof). The
// units of another node that it missed lie within one interval of length
// D: those of (t − D, t], or those of a blind spell that began after
// t − D/2, before which that node admitted nothing in the interval (it did
// not hold the key). So at most L + (N−1)·U. If no unit was admitted by a
// node not blind, each node admitted within one blind spell, shorter than
// D: at most N·U ≤ L + (N−1)·U.
//
// U is at most L (a node alone never admits more than L in a period), so
// the fleet never admits more than N·L, what N independent limiters would;
// and it is small wherever a key's traffic is spread over time: a key sent
// at most q units per second through each node has U ≤ q·D + one call's
// cost. Example: L = 1,000 a minute, three nodes each sent 50 calls a
// second (9,000 a minute offered), D = 220 ms: U ≤ 12, and the fleet
// admits at most 1,024 a minute, 2.4% over the limit, where three
// independent limiters would admit 3,000. The bound is not exact as
// package redislimit's is: a burst sent to every node at once, within D,
// may be admitted by each before any hears of the others. With one node
// there are no others, and the limiter is exact, as package ratelimit is.
//
// The other side holds too: the others' counts a node knows are never
// more than they admitted (a count only grows, and a node reads it as
// written), so a call is refused only when the fleet has admitted more
// than limit − cost units in the 64 sub-windows the ring covers, as a
// single limiter would refuse it.
//
// # Clocks, changes, outages
//
// Sub-windows are placed by the times passed to Allow, on each node's
// clock: the nodes' clocks are assumed in step (NTP). A skew of δ between
// two nodes acts as δ more of D. A change of limit takes effect on the
// next call; a change of period rebuilds the node's rings as package
// ratelimit does (its own recent units carried), and the nodes count each
// other's units only under the same period, so the bound holds again for
// intervals that begin D after every node has seen the change.
//
// When the database cannot be reached (or a sync fails or times out),
// Allow keeps deciding on what the node knows: its own units exactly, the
// others' as last read, until their sub-windows leave the ring. A warning
// is logged once per outage, and a line when syncs succeed again, after
// which the node writes all its counts again. While it lasts, the bound
// weakens toward N·L, as it does for package redislimit.
package sharedlimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/ratelimit"
)

const (
	// Package ratelimit's geometry: the rows of every node must place
	// units in the same sub-windows.
	subWindows = ratelimit.SubWindows
	ringSize   = ratelimit.RingSize
	ringMask   = ringSize - 1
	numShards  = 64
)

// DefaultInterval is how often a node syncs when Options.Interval is 0:
// often enough that D (see the package documentation) stays well under a
// second, rarely enough that a fleet's syncs are a light load (ten small
// round trips a second per node, and only while it holds keys).
const DefaultInterval = 100 * time.Millisecond

// SyncTimeout bounds a sync (see the package documentation): long enough
// for a connection to be dialled, so that a slow network still syncs.
const SyncTimeout = time.Second

// Grace is how long after its sub-window left the ring a count is kept in
// the database, so that a node whose clock runs ahead does not delete
// counts that the others still use.
const Grace = time.Minute

// Count is one node's units of one key in one sub-window.
type Count struct {
	KeyID string
	// Width is the sub-window's width: the key's period / 63, rounded up
	// to the nanosecond. Nodes count each other's units only at the same
	// width, that is under the same period.
	Width time.Duration
	// Slot is the sub-window: [Slot·Width, (Slot+1)·Width) in Unix time.
	Slot  int64
	Units int64
}

// Expires is when c's sub-window leaves every ring: 64 widths after its
// start.
func (c Count) Expires() time.Time {
	return time.Unix(0, (c.Slot+ringSize)*int64(c.Width))
}

// Store keeps the counts the nodes share; *postgres.Store is one.
type Store interface {
	// SyncRateCounts records node's counts (each a whole count: the
	// stored count becomes the greater of the two), deletes the counts
	// that expired (see Count.Expires) before expired, and returns every
	// other node's counts for keys that have not, summed by key, width
	// and slot. The write and the read are one round trip.
	SyncRateCounts(ctx context.Context, node string, mine []Count, keys []string, expired time.Time) ([]Count, error)
}

// Options configures a Limiter; the zero value is valid.
type Options struct {
	// Interval is the sync interval s: DefaultInterval if 0. Negative: no
	// background sync; the caller calls Sync (for tests).
	Interval time.Duration
	// Node is this node's id in the shared counts: random if empty. Two
	// nodes must never share one.
	Node string
	// Logger receives the outage warnings: slog.Default() if nil.
	Logger *slog.Logger
}

// Limiter is a rate limiter whose counts are shared through a Store. It is
// safe for concurrent use.
type Limiter struct {
	store    Store
	node     string
	interval time.Duration
	logger   *slog.Logger
	seed     maphash.Seed
	shards   [numShards]shard

	syncMu sync.Mutex // one sync at a time
	// rewrite makes the next sync write every count, not only those that
	// changed: set after a failed sync, whose writes may be lost.
	rewrite  bool
	outage   atomic.Bool
	syncs    atomic.Int64
	failures atomic.Int64

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type shard struct {
	mu sync.Mutex
	m  map[string]*entry
	// Padding keeps each shard's lock on a cache line of its own.
	_ [48]byte
}

// entry is one key on one node.
type entry struct {
	period time.Duration
	width  int64
	slot   int64 // the newest sub-window the own ring reflects
	total  uint64
	own    [ringSize]uint32
	// changed has bit i set when own[i] changed since it was last written.
	changed uint64
	// others[i] is the other nodes' units in sub-window otherSlot[i].
	others    [ringSize]uint32
	otherSlot [ringSize]int64
}

// New returns a limiter sharing counts through store, and starts its sync
// goroutine unless opts.Interval is negative. Close stops it.
func New(store Store, opts Options) *Limiter {
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Node == "" {
		var b [8]byte
		rand.Read(b[:])
		opts.Node = hex.EncodeToString(b[:])
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Limiter{store: store, node: opts.Node, interval: opts.Interval, logger: opts.Logger,
		seed: maphash.MakeSeed(), stop: make(chan struct{}), done: make(chan struct{})}
	for i := range l.shards {
		l.shards[i].m = map[string]*entry{}
	}
	if l.interval < 0 {
		close(l.done)
		return l
	}
	go l.loop()
	return l
}

// Node returns the node's id in the shared counts.
func (l *Limiter) Node() string { return l.node }

// Close stops the sync goroutine and waits for it. The limiter still
// answers afterwards, on what it knows.
func (l *Limiter) Close() error {
	l.closeOnce.Do(func() { close(l.stop) })
	<-l.done
	return nil
}

func (l *Limiter) loop() {
	defer close(l.done)
	// A ticker, not a sleep after each sync: syncs start every s while
	// they take less, which keeps D small (see the package documentation).
	t := time.NewTicker(l.interval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel() // a sync in flight at shutdown is abandoned
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			sctx, scancel := context.WithTimeout(ctx, SyncTimeout)
			l.Sync(sctx, time.Now())
			scancel()
		}
	}
}

// Stats counts the round trips to the store: Syncs that succeeded and
// Failures.
type Stats struct {
	Syncs, Failures int64
}

// Stats reports the syncs so far.
func (l *Limiter) Stats() Stats {
	return Stats{Syncs: l.syncs.Load(), Failures: l.failures.Load()}
}

// Allow decides whether keyID may spend cost units now under limit, and
// counts them if so; it is core.RateLimiter's method, and never waits for
// the store. See the package documentation for the bound.
func (l *Limiter) Allow(_ context.Context, keyID string, limit latchkey.RateLimit, cost int, now time.Time) ratelimit.Decision {
	d := ratelimit.Decision{Limit: limit.Limit}
	if limit.Limit <= 0 || limit.Period <= 0 {
		return d
	}
	lim := uint64(min(limit.Limit, math.MaxUint32))
	units := uint64(max(cost, 1)) // never a refund
	nowNs := now.UnixNano()

	sh := &l.shards[maphash.String(l.seed, keyID)&(numShards-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[keyID]
	if e == nil {
		// A copy, so that the entry does not pin a larger string.
		e = &entry{}
		sh.m[strings.Clone(keyID)] = e
	}
	e.configure(limit.Period, nowNs)
	e.advance(ratelimit.SubWindow(nowNs, e.width))
	counted := e.total + e.othersIn(e.slot)

	switch {
	case counted+units <= lim:
		i := e.slot & ringMask
		e.own[i] += uint32(units)
		e.total += units
		e.changed |= 1 << i
		counted += units
		d.Allowed = true
		d.Reset = time.Unix(0, (e.slot+ringSize)*e.width)
	case units <= lim:
		d.Reset = time.Unix(0, e.admitAt(counted+units-lim))
		d.RetryAfter = max(d.Reset.Sub(now), 0)
	}
	if counted < lim {
		d.Remaining = int(lim - counted)
	}
	return d
}

// othersIn sums the other nodes' units in the 64 sub-windows ending at s,
// and in any after it (a node whose clock runs a little ahead): counting
// those can only be stricter.
func (e *entry) othersIn(s int64) uint64 {
	var n uint64
	for i, c := range e.others {
		if c != 0 && e.otherSlot[i] > s-ringSize {
			n += uint64(c)
		}
	}
	return n
}

// configure builds the rings for period, on the first call or when the
// period changed: the own units that may fall within the new period are
// carried into the current sub-window, as package ratelimit does; the
// others' are dropped until the next sync reads them at the new width.
func (e *entry) configure(period time.Duration, nowNs int64) {
	if e.period == period {
		return
	}
	width := ratelimit.Width(period)
	var carried uint64
	if e.period != 0 {
		cutoff := nowNs - int64(period)
		for j := int64(0); j < ringSize; j++ {
			s := e.slot - j
			if c := e.own[s&ringMask]; c != 0 && (s+1)*e.width > cutoff {
				carried += uint64(c)
			}
		}
	}
	*e = entry{period: period, width: width, slot: ratelimit.SubWindow(nowNs, width)}
	i := e.slot & ringMask
	e.own[i] = uint32(min(carried, math.MaxUint32))
	e.total = uint64(e.own[i])
	if e.total != 0 {
		e.changed = 1 << i
	}
}

// advance moves the own ring to sub-window s, as package ratelimit's
// does: a clock stepped back counts in the newest sub-window.
func (e *entry) advance(s int64) {
	switch {
	case s <= e.slot:
		return
	case s-e.slot >= ringSize:
		clear(e.own[:])
		e.total = 0
		e.changed = 0
	default:
		for x := e.slot + 1; x <= s; x++ {
			i := x & ringMask
			e.total -= uint64(e.own[i])
			e.own[i] = 0
			e.changed &^= 1 << i // left the ring: no need to write it
		}
	}
	e.slot = s
}

// admitAt returns when (Unix nanoseconds) at least need of the units
// counted will have stopped counting, oldest first.
func (e *entry) admitAt(need uint64) int64 {
	var freed uint64
	for j := int64(0); j < ringSize; j++ {
		s := e.slot - subWindows + j
		i := s & ringMask
		freed += uint64(e.own[i])
		if e.otherSlot[i] == s {
			freed += uint64(e.others[i])
		}
		if freed >= need {
			return (s + ringSize) * e.width
		}
	}
	// The rest are others' units in sub-windows after the newest one.
	return (e.slot + ringSize) * e.width
}

// idle reports whether nothing the entry holds counts at nowNs any more:
// removing it changes no decision.
func (e *entry) idle(nowNs int64) bool {
	s := max(e.slot, ratelimit.SubWindow(nowNs, e.width))
	return (e.total == 0 || s >= e.slot+ringSize) && e.othersIn(s) == 0
}

// Sync writes the node's changed counts and reads the others' for every
// key it holds, in one round trip; entries whose units all stopped
// counting at now are dropped first. The background goroutine calls it
// every interval with the wall clock; tests call it with their own now.
// With no keys held it does nothing.
func (l *Limiter) Sync(ctx context.Context, now time.Time) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	nowNs := now.UnixNano()
	rewrite := l.rewrite
	var (
		mine []Count
		keys []string
	)
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for id, e := range sh.m {
			if e.idle(nowNs) {
				delete(sh.m, id)
				continue
			}
			keys = append(keys, id)
			bits := e.changed
			if rewrite {
				bits = math.MaxUint64
			}
			e.changed = 0
			for j := int64(0); j < ringSize && bits != 0; j++ {
				s := e.slot - j
				idx := s & ringMask
				if bits&(1<<idx) != 0 && e.own[idx] != 0 {
					mine = append(mine, Count{KeyID: id, Width: time.Duration(e.width), Slot: s, Units: int64(e.own[idx])})
				}
			}
		}
		sh.mu.Unlock()
	}
	if len(keys) == 0 {
		return nil
	}
	others, err := l.store.SyncRateCounts(ctx, l.node, mine, keys, now.Add(-Grace))
	if err != nil {
		l.failures.Add(1)
		l.rewrite = true   // what was taken from changed may not be written
		if !l.stopping() { // not a sync abandoned at shutdown
			if l.outage.CompareAndSwap(false, true) {
				l.logger.Warn("rate limits: cannot share counts through the database; each node goes on with what it knows, "+
					"so a fleet may admit up to its number of nodes times a limit until it can", "err", err)
			}
		}
		return err
	}
	l.rewrite = false
	l.syncs.Add(1)
	if l.outage.CompareAndSwap(true, false) {
		l.logger.Info("rate limits: counts are shared through the database again")
	}
	l.apply(keys, others, nowNs)
	return nil
}

func (l *Limiter) stopping() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// apply replaces the others' counts of keys by those read.
func (l *Limiter) apply(keys []string, others []Count, nowNs int64) {
	byKey := make(map[string][]Count, len(keys))
	for _, c := range others {
		byKey[c.KeyID] = append(byKey[c.KeyID], c)
	}
	for _, id := range keys {
		sh := &l.shards[maphash.String(l.seed, id)&(numShards-1)]
		sh.mu.Lock()
		if e := sh.m[id]; e != nil {
			clear(e.others[:])
			clear(e.otherSlot[:])
			ref := max(e.slot, ratelimit.SubWindow(nowNs, e.width))
			for _, c := range byKey[id] {
				if int64(c.Width) != e.width || c.Slot <= ref-ringSize || c.Units <= 0 {
					continue // another period, or out of the ring
				}
				// Two sub-windows 64 apart share an index; the newer is
				// the one a ring can hold.
				i := c.Slot & ringMask
				if e.others[i] == 0 || c.Slot > e.otherSlot[i] {
					e.others[i] = uint32(min(c.Units, math.MaxUint32))
					e.otherSlot[i] = c.Slot
				}
			}
		}
		sh.mu.Unlock()
	}
}

// Len reports how many keys the node holds.
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
