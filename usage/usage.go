// Package usage counts verifications per key and outcome, in per-minute
// buckets, in memory, and writes them to a sink in batches, off the hot
// path.
//
// Record is what a verification pays: a hash of the key id, one shard lock
// and an increment. Counters are spread over 64 shards by key. So that one
// busy key does not serialize every core on one lock, a key also has up to
// one stripe per core (at most 16), each in its own shard: a call uses the
// stripe of the processor it runs on, found through a sync.Pool (whose
// objects are kept per processor), and a flush adds the stripes up. Once a
// key's counters exist (one per stripe it has used), Record allocates
// nothing; they are dropped after two flushes in a row with nothing
// recorded for them.
//
// A goroutine flushes the counts of every key once an interval, a slice
// of the shards at a time spread over the interval, so that each flush is
// small (see flushParts). A flush takes the counts recorded since the last
// one, adds them to any left from flushes that failed, and hands the lot
// to the sink, one row per key, minute and outcome, with each key's latest
// VALID verification, unless a flush has already sent one of the same
// minute for that key: the latest use is precise to the minute, and costs
// the sink one write per key and minute however busy the key. If the sink
// fails, everything is kept and sent again, merged with newer counts, at
// the next flush. If it keeps failing, the rows kept are capped (100,000
// by default, see WithMaxPending): beyond the cap, the oldest minutes are
// dropped whole, logged at warning level and counted in Dropped. The
// latest-use times are one per key and never dropped.
//
// Close stops the goroutine and flushes what is left, retrying a failing
// sink until its context ends, so a graceful shutdown loses nothing while
// the sink works. A crash loses what was recorded since the last successful
// flush: at most one interval's worth, while the sink works.
package usage

import (
	"cmp"
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
)

// Sink writes one batch: counts to add to what is stored (at most one row
// per key, minute and code), and per key the time of its latest VALID
// verification in the batch. It must apply a batch whole or not at all and
// report an error only in the second case, since a failed batch is sent
// again; it must not keep the slice or the map after it returns.
// latchkey.Store's AddUsage is one.
type Sink func(ctx context.Context, counts []latchkey.UsageCount, lastUsed map[string]time.Time) error

// DefaultMaxPending is how many rows are kept, by default, while the sink
// fails.
const DefaultMaxPending = 100000

// Option configures a Recorder when it is made.
type Option func(*Recorder)

// WithLogger sets where failed flushes and dropped counts are reported
// (slog.Default() otherwise).
func WithLogger(l *slog.Logger) Option { return func(r *Recorder) { r.log = l } }

// WithMaxPending caps the rows kept while the sink fails (at least 1).
func WithMaxPending(n int) Option { return func(r *Recorder) { r.maxPending = max(n, 1) } }

const (
	numShards = 64
	// maxStripes caps how many counters one key may have; see the package
	// documentation.
	maxStripes = 16
	// idleFlushes is how many flushes in a row a key's counter may see
	// nothing before it is dropped.
	idleFlushes = 2
	// retryDelay is the pause between Close's attempts at a failing sink.
	retryDelay = 100 * time.Millisecond
)

// Recorder counts verifications. It is safe for concurrent use.
type Recorder struct {
	sink       Sink
	interval   time.Duration
	now        func() time.Time
	log        *slog.Logger
	maxPending int

	seed       maphash.Seed
	stripeMask uint64
	// hints hands each processor its stripe number; see the package
	// documentation.
	hints    sync.Pool
	nextHint atomic.Uint64
	shards   [numShards]shard

	// flushMu serializes flushes and guards what they keep between them.
	flushMu     sync.Mutex
	pending     map[row]int64
	pendingUsed map[string]time.Time
	// usedMinute is, per key, the minute (Unix minutes) of the latest use
	// a flush has taken; see takeLastUsed.
	usedMinute map[string]int64

	dropped atomic.Int64
	// flushedAt is when the last successful flush ended (Unix nanoseconds
	// by the recorder's clock; when the recorder was made, before the
	// first); failures counts the flushes the sink failed. For metrics.
	flushedAt atomic.Int64
	failures  atomic.Int64
	stop      chan struct{}
	done      chan struct{}
	stopped   sync.Once
}

// stripeHint is a stripe number, kept in hints.
type stripeHint struct{ n uint64 }

// row names one count the sink receives.
type row struct {
	keyID  string
	minute int64 // Unix minutes
	code   int
}

type shard struct {
	mu   sync.Mutex
	keys map[string]*counter
	// spilled holds the counts of a minute a counter moved on from before
	// they were flushed. Its capacity is kept across flushes, so that in a
	// steady state moving on allocates nothing.
	spilled []spill
	// Padding keeps each shard's lock on a cache line of its own.
	_ [24]byte
}

type spill struct {
	row   row
	count int64
}

// counter is one stripe of one key's counts for one minute.
type counter struct {
	keyID     string
	minute    int64
	counts    [numCodes]int64
	lastValid int64 // Unix nanoseconds of the latest VALID; 0: none since the last flush
	idle      int   // flushes in a row that found nothing here
}

// numCodes is len(latchkey.Codes); codeIndex maps each to its place there.
const numCodes = 7

func codeIndex(c latchkey.Code) int {
	switch c {
	case latchkey.CodeValid:
		return 0
	case latchkey.CodeNotFound:
		return 1
	case latchkey.CodeExpired:
		return 2
	case latchkey.CodeDisabled:
		return 3
	case latchkey.CodeInsufficientPermissions:
		return 4
	case latchkey.CodeIPNotAllowed:
		return 5
	case latchkey.CodeRateLimited:
		return 6
	}
	return -1
}

// New returns a recorder that writes to sink every interval, with now as
// its clock (time.Now if nil), and starts its goroutine. Call Close to stop
// it.
func New(sink Sink, interval time.Duration, now func() time.Time, opts ...Option) *Recorder {
	if interval <= 0 {
		panic("usage: flush interval must be positive")
	}
	if now == nil {
		now = time.Now
	}
	stripes := 1
	for stripes < min(runtime.GOMAXPROCS(0), maxStripes) {
		stripes *= 2
	}
	r := &Recorder{
		sink: sink, interval: interval, now: now,
		log: slog.Default(), maxPending: DefaultMaxPending,
		seed: maphash.MakeSeed(), stripeMask: uint64(stripes - 1),
		pending: map[row]int64{}, pendingUsed: map[string]time.Time{}, usedMinute: map[string]int64{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	for i := range r.shards {
		r.shards[i].keys = map[string]*counter{}
	}
	r.hints.New = func() any { return &stripeHint{n: r.nextHint.Add(1)} }
	for _, opt := range opts {
		opt(r)
	}
	r.flushedAt.Store(now().UnixNano())
	go r.run()
	return r
}

// Record counts one verification of keyID with outcome code, now (by the
// recorder's clock). A code that is not one of latchkey.Codes is not
// counted; it is added to Dropped.
func (r *Recorder) Record(keyID string, code latchkey.Code) {
	r.RecordAt(keyID, code, r.now())
}

// RecordAt is Record at a time the caller already has (reading the clock
// costs about as much as the rest of Record).
func (r *Recorder) RecordAt(keyID string, code latchkey.Code, now time.Time) {
	ci := codeIndex(code)
	if ci < 0 {
		r.dropped.Add(1)
		return
	}
	minute := floorDiv(now.Unix(), 60)
	h := maphash.String(r.seed, keyID)
	if r.stripeMask != 0 {
		hint := r.hints.Get().(*stripeHint)
		h += hint.n & r.stripeMask
		r.hints.Put(hint)
	}
	sh := &r.shards[h%numShards]
	sh.mu.Lock()
	c := sh.keys[keyID]
	if c == nil {
		// A copy, so that the counter does not pin a larger string (such as
		// a request header) that the id was cut from.
		id := strings.Clone(keyID)
		c = &counter{keyID: id, minute: minute}
		sh.keys[id] = c
	}
	if c.minute != minute {
		c.spill(sh)
		c.minute = minute
	}
	c.counts[ci]++
	if ci == 0 {
		c.lastValid = max(c.lastValid, now.UnixNano())
	}
	c.idle = 0
	sh.mu.Unlock()
}

// spill moves the counter's counts to its shard's spilled list, so that it
// can count another minute. Called with the shard locked.
func (c *counter) spill(sh *shard) {
	for ci, n := range c.counts {
		if n != 0 {
			sh.spilled = append(sh.spilled, spill{row{c.keyID, c.minute, ci}, n})
			c.counts[ci] = 0
		}
	}
}

// Dropped reports how many verifications were recorded but will never
// reach the sink: dropped beyond the cap while it failed, or recorded with
// an unknown code.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// FlushLag reports the time since the last successful flush (one with
// nothing to send counts) ended, by the recorder's clock; since the
// recorder was made if none has succeeded yet. While the sink works it
// stays below the flush interval divided by the slices the shards are
// flushed in; while the sink fails it grows, and so does the age of the
// oldest count not yet sent.
func (r *Recorder) FlushLag() time.Duration {
	return r.now().Sub(time.Unix(0, r.flushedAt.Load()))
}

// FlushFailures reports how many flushes the sink failed: each is retried
// at the next flush, with everything it held.
func (r *Recorder) FlushFailures() int64 { return r.failures.Load() }

// Flush sends everything recorded so far, with whatever earlier flushes
// failed to send. On failure it keeps it all for the next flush (up to the
// cap) and returns the sink's error.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.collect(0, numShards)
	r.forgetUsedMinutes(r.now())
	return r.send(ctx)
}

// flushPart is Flush for the part-th of flushParts slices of the shards
// (and whatever earlier flushes failed to send). See run.
func (r *Recorder) flushPart(ctx context.Context, part int) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	const per = numShards / flushParts
	r.collect(part*per, (part+1)*per)
	if part == 0 {
		r.forgetUsedMinutes(r.now())
	}
	return r.send(ctx)
}

// send hands what collect gathered to the sink. Called with flushMu held.
func (r *Recorder) send(ctx context.Context) error {
	if len(r.pending) == 0 && len(r.pendingUsed) == 0 {
		r.flushedAt.Store(r.now().UnixNano())
		return nil
	}
	counts := make([]latchkey.UsageCount, 0, len(r.pending))
	for k, n := range r.pending {
		counts = append(counts, latchkey.UsageCount{
			KeyID: k.keyID, Minute: time.Unix(k.minute*60, 0).UTC(), Code: latchkey.Codes[k.code], Count: n,
		})
	}
	// A stable order makes batches reproducible and lets a database take
	// its row locks in one order.
	slices.SortFunc(counts, func(a, b latchkey.UsageCount) int {
		return cmp.Or(a.Minute.Compare(b.Minute), strings.Compare(a.KeyID, b.KeyID), codeIndex(a.Code)-codeIndex(b.Code))
	})
	if err := r.sink(ctx, counts, r.pendingUsed); err != nil {
		r.failures.Add(1)
		r.trim()
		return err
	}
	r.flushedAt.Store(r.now().UnixNano())
	clear(r.pending)
	clear(r.pendingUsed)
	return nil
}

// collect moves the counts of shards [from, to) into pending, and drops
// the counters that stayed idle. Called with flushMu held.
func (r *Recorder) collect(from, to int) {
	for i := from; i < to; i++ {
		sh := &r.shards[i]
		sh.mu.Lock()
		for _, s := range sh.spilled {
			r.pending[s.row] += s.count
		}
		clear(sh.spilled) // let go of the key ids
		sh.spilled = sh.spilled[:0]
		for id, c := range sh.keys {
			found := false
			for ci, n := range c.counts {
				if n != 0 {
					r.pending[row{id, c.minute, ci}] += n
					c.counts[ci] = 0
					found = true
				}
			}
			if c.lastValid != 0 {
				r.takeLastUsed(id, c.lastValid)
				c.lastValid = 0
			}
			if found {
				c.idle = 0
			} else if c.idle++; c.idle >= idleFlushes {
				delete(sh.keys, id)
			}
		}
		sh.mu.Unlock()
	}
}

// takeLastUsed adds a key's latest VALID verification (Unix nanoseconds)
// to what the next flush sends, unless a flush has already taken one of
// the same minute: a later use in that minute is not sent, so that a busy
// key's latest use costs the sink one write a minute, not one every flush.
// Called with flushMu held.
func (r *Recorder) takeLastUsed(id string, nanos int64) {
	minute := floorDiv(nanos, int64(time.Minute))
	t := time.Unix(0, nanos)
	if prev, ok := r.pendingUsed[id]; ok {
		// Not sent yet (another stripe of the key, or a failed flush):
		// the latest wins.
		if t.After(prev) {
			r.pendingUsed[id] = t
			r.usedMinute[id] = max(r.usedMinute[id], minute)
		}
		return
	}
	if r.usedMinute[id] >= minute {
		return
	}
	r.usedMinute[id] = minute
	r.pendingUsed[id] = t
}

// forgetUsedMinutes drops the minutes takeLastUsed keeps once they are
// past: a use now is of a later minute, and is sent anyway. Called with
// flushMu held.
func (r *Recorder) forgetUsedMinutes(now time.Time) {
	current := floorDiv(now.Unix(), 60)
	maps.DeleteFunc(r.usedMinute, func(_ string, m int64) bool { return m < current })
}

// trim enforces the cap on pending rows after a failed flush, dropping the
// oldest minutes whole. Called with flushMu held.
func (r *Recorder) trim() {
	if len(r.pending) <= r.maxPending {
		return
	}
	perMinute := map[int64]int{}
	for k := range r.pending {
		perMinute[k.minute]++
	}
	minutes := slices.Sorted(maps.Keys(perMinute))
	keep := len(r.pending)
	var cut int64 // minutes before cut are dropped
	for _, m := range minutes {
		if keep <= r.maxPending {
			break
		}
		keep -= perMinute[m]
		cut = m + 1
	}
	var lost int64
	for k, n := range r.pending {
		if k.minute < cut {
			lost += n
			delete(r.pending, k)
		}
	}
	r.dropped.Add(lost)
	r.log.Warn("usage: the sink keeps failing; dropped the oldest counts",
		"verifications", lost, "before", time.Unix(cut*60, 0).UTC(), "rowsKept", len(r.pending))
}

// flushParts is how many slices of the shards run flushes, one slice at a
// time, interval/flushParts apart, so that every count is still sent
// within one interval. A flush of everything at once, after an interval in
// which tens of thousands of keys were used, is tens of milliseconds of
// CPU in one go; on a server with one CPU, requests would queue behind it.
// A slice at a time, it is a small batch every few hundredths of a second.
const flushParts = 32

// run flushes, a slice of the shards at a time, until Close.
func (r *Recorder) run() {
	defer close(r.done)
	t := time.NewTicker(r.interval / flushParts)
	defer t.Stop()
	failing := false
	for part := 0; ; part = (part + 1) % flushParts {
		select {
		case <-r.stop:
			return
		case <-t.C:
			// A flush that takes longer than this is given up and retried:
			// the sink applies a batch whole or not at all.
			ctx, cancel := context.WithTimeout(context.Background(), max(r.interval, 10*time.Second))
			err := r.flushPart(ctx, part)
			cancel()
			switch {
			case err != nil && (!failing || part == 0): // once an interval
				r.log.Warn("usage: flush failed; will retry", "err", err)
			case err == nil && failing:
				r.log.Info("usage: flushes work again")
			}
			failing = err != nil
		}
	}
}

// Close stops the flushing goroutine and flushes what is left, retrying a
// failing sink until ctx ends (give it a deadline: with none, a sink that
// never recovers keeps Close waiting); then it returns the last error, and
// what was not sent is lost. Record must not be called once Close has begun: what
// it counts then is never flushed.
func (r *Recorder) Close(ctx context.Context) error {
	r.stopped.Do(func() { close(r.stop) })
	select {
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		err := r.Flush(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			r.log.Error("usage: could not flush the last counts before shutdown", "err", err)
			return errors.Join(err, ctx.Err())
		case <-time.After(retryDelay):
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
