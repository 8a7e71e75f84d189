// Package fleet keeps a node's verification cache in step with the key
// changes that other nodes sharing its store commit.
//
// A Follower reads the store's change feed (latchkey.KeyChangeFeed) as soon
// as its doorbell rings (PostgreSQL's NOTIFY) and, whatever the doorbell
// does, at least every quarter of the staleness bound. After each read it
// tells the cache to forget the keys that changed, and then vouches for the
// cache until the instant the read began plus the bound (see
// auth.Verifier.TrustUntil). If reads fail, for as long as PostgreSQL is
// unreachable or the doorbell is gone, the cache is vouched for no longer:
// once the bound has passed, every verification reads the store, and is
// refused if the store cannot answer. So no node ever answers from a cache
// older than the bound, and a change made through any node holds on every
// node within it.
//
// Unless the operator chose to serve warm keys through an outage (latchkey
// serve --serve-stale, auth.WithServeStale): then, when a read fails
// because the database is out of reach (latchkey.EUNAVAILABLE), the
// Follower tells the cache so (Cache.Unreachable), and the cache goes on
// answering for the keys it holds, without the changes made meanwhile,
// until a read succeeds again and applies them.
//
// For metrics, a Follower reports how old its view may be (SyncAge) and,
// to an observer set with ObserveChangeLags, how long each change took from
// its commit, on whichever node, to being applied here.
package fleet

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
)

// DefaultMaxStaleness is the bound when the operator sets none.
const DefaultMaxStaleness = time.Second

// Cache is what a Follower keeps in step; auth.Verifier is one.
type Cache interface {
	Forget(keyIDs ...string)
	Purge()
	TrustUntil(t time.Time)
	// Unreachable says a read failed because the store is out of reach;
	// the next successful read is followed by TrustUntil as always. It
	// reports whether the cache serves what it holds meanwhile (stale).
	Unreachable() (servingStale bool)
}

// Follower applies a change feed to a cache. Make one with Follow.
type Follower struct {
	feed         latchkey.KeyChangeFeed
	cache        Cache
	maxStaleness time.Duration
	now          func() time.Time
	log          *slog.Logger

	// syncedAt is when the last successful read of the feed began (Unix
	// nanoseconds; 0 before the first).
	syncedAt atomic.Int64
	stop     context.CancelFunc
	done     sync.WaitGroup

	// observeLag, if set, is given the lag of each change applied (see
	// ObserveChangeLags).
	observeLag atomic.Pointer[func(lag time.Duration)]
}

// Follow starts following feed into cache, with maxStaleness as the bound
// (at least 4 ms; see the package documentation). Until the first read of
// the feed succeeds, the cache is not trusted at all. Close stops it.
func Follow(feed latchkey.KeyChangeFeed, cache Cache, maxStaleness time.Duration, logger *slog.Logger) *Follower {
	f := &Follower{feed: feed, cache: cache, maxStaleness: max(maxStaleness, 4*time.Millisecond), now: time.Now, log: logger}
	cache.TrustUntil(f.now())
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	doorbell := make(chan struct{}, 1)
	f.done.Add(2)
	go func() {
		defer f.done.Done()
		f.listen(ctx, doorbell)
	}()
	go func() {
		defer f.done.Done()
		f.run(ctx, doorbell)
	}()
	return f
}

// pollEvery is how often the feed is read without a doorbell: four reads
// per bound, so that one or two slow or failed reads do not yet let the
// cache lapse.
func (f *Follower) pollEvery() time.Duration { return f.maxStaleness / 4 }

// listen rings doorbell each time the feed's Wait returns. While Wait
// fails, it retries once per poll interval; the polls keep the bound.
func (f *Follower) listen(ctx context.Context, doorbell chan<- struct{}) {
	failing := false
	for ctx.Err() == nil {
		err := f.feed.Wait(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				f.log.Warn("fleet: lost the change notifications; polling every "+f.pollEvery().String()+" meanwhile", "err", err)
			}
			failing = true
			select {
			case <-ctx.Done():
			case <-time.After(f.pollEvery()):
			}
			continue
		case failing:
			f.log.Info("fleet: change notifications are back")
			failing = false
		}
		select {
		case doorbell <- struct{}{}:
		default: // a read is already due
		}
	}
}

// run reads the feed on every doorbell and every poll interval.
func (f *Follower) run(ctx context.Context, doorbell <-chan struct{}) {
	t := time.NewTicker(f.pollEvery())
	defer t.Stop()
	failing, stale := false, false
	for {
		err := f.sync(ctx)
		switch {
		case err == nil || ctx.Err() != nil:
			stale = false // the successful read's TrustUntil ended it (or the Follower is closing)
		case latchkey.ErrorCode(err) == latchkey.EUNAVAILABLE:
			stale = f.cache.Unreachable()
		case stale:
			// The database answers again, yet the read failed for another
			// reason: stop serving stale answers (fail closed). Vouching
			// again for the last successful read's instant does that and
			// extends nothing.
			f.cache.TrustUntil(time.Unix(0, f.syncedAt.Load()).Add(f.maxStaleness))
			stale = false
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing && stale:
			f.log.Warn("fleet: cannot read the key changes; serving the keys in the cache as they were (--serve-stale): "+
				"changes made meanwhile, revocations too, are not seen until the database is back", "err", err)
		case err != nil && !failing:
			f.log.Warn("fleet: cannot read the key changes; verifications read the store once the cache is "+f.maxStaleness.String()+" old", "err", err)
		case err == nil && failing:
			f.log.Info("fleet: in step with the key changes again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-doorbell:
		case <-t.C:
		}
	}
}

// sync reads the changes committed since the last read, applies them, and
// vouches for the cache up to the instant the read began plus the bound.
func (f *Follower) sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, f.maxStaleness)
	defer cancel()
	start := f.now()
	changes, err := f.feed.Next(ctx)
	if err != nil {
		return err
	}
	switch {
	case changes.All:
		f.cache.Purge()
	case len(changes.KeyIDs) > 0:
		f.cache.Forget(changes.KeyIDs...)
	}
	applied := f.now()
	f.cache.TrustUntil(start.Add(f.maxStaleness))
	f.syncedAt.Store(start.UnixNano())
	if observe := f.observeLag.Load(); observe != nil && len(changes.Lags) > 0 {
		// Each lag runs up to ReadAt; this node then took until applied.
		var local time.Duration
		if !changes.ReadAt.IsZero() {
			local = max(applied.Sub(changes.ReadAt), 0)
		}
		for _, lag := range changes.Lags {
			(*observe)(lag + local)
		}
	}
	return nil
}

// ObserveChangeLags has observe called, from then on, once for each
// committed transaction whose key changes the Follower applies, with its
// lag: the time from its commit, on whichever node (this one included), to
// this node's cache having forgotten its keys (Forget or Purge returned).
// It is the store's measure of how long the transaction had been committed
// when the feed read it (latchkey.KeyChanges.Lags, on the store's clock,
// so free of skew between the nodes' clocks) plus this node's time from
// that read to the cache's forgetting. Transactions whose commit time the
// feed does not know are not observed. observe is called from the
// Follower's goroutine, one call at a time, and must be quick; a later call
// of ObserveChangeLags replaces it, and nil stops the calls. For metrics
// (metrics.WatchFleet).
func (f *Follower) ObserveChangeLags(observe func(lag time.Duration)) {
	if observe == nil {
		f.observeLag.Store(nil)
		return
	}
	f.observeLag.Store(&observe)
}

// InStep reports whether the cache is trusted now: the last successful read
// of the feed began less than the bound ago. A node that is not in step
// still verifies, by reading the store.
func (f *Follower) InStep() bool {
	at := f.syncedAt.Load()
	return at != 0 && f.now().Sub(time.Unix(0, at)) < f.maxStaleness
}

// SyncAge reports the time since the last successful read of the feed
// began: every change committed before then is applied here, so a change
// committed on another node and not yet applied is at most this old. It is
// negative before the first successful read. For metrics.
func (f *Follower) SyncAge() time.Duration {
	at := f.syncedAt.Load()
	if at == 0 {
		return -1
	}
	return f.now().Sub(time.Unix(0, at))
}

// Close stops following and closes the feed.
func (f *Follower) Close() error {
	f.stop()
	f.done.Wait()
	return f.feed.Close()
}
