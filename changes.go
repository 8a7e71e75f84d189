package latchkey

import (
	"context"
	"time"
)

// KeyChanges is what a KeyChangeFeed reports: the keys that changed or went
// away in transactions committed since the previous report, and how long
// ago those transactions committed.
type KeyChanges struct {
	// KeyIDs are the keys that changed (policy, secrets, owner) or were
	// deleted, cascades included; a key may appear more than once.
	KeyIDs []string
	// All says any key may have changed: a change that names no key (a
	// master-key rotation), or changes the feed can no longer list one by
	// one. A cache must then forget everything.
	All bool
	// Lags tells, for each transaction whose changes are in KeyIDs or All
	// and whose commit time the feed knows, how long before ReadAt it
	// committed: one entry per transaction (however many keys it changed),
	// in the order they committed, so the longest first. Both ends are
	// read on one clock, the store's (as the transaction commits, just
	// before it becomes visible, and as the feed reads), so a lag is free
	// of any skew between the nodes' clocks; it is never negative. A
	// transaction logged before the store recorded commit times has no
	// entry, nor has an All that says the feed lost track. For metrics:
	// nothing else depends on it.
	Lags []time.Duration
	// ReadAt is the instant, on this node's clock, that Lags run up to:
	// when the feed received the changes, later than the store's reading
	// of its clock by at most the trip back. At ReadAt+d a transaction has
	// been committed for its lag plus d. Every report with Lags sets it.
	ReadAt time.Time
}

// KeyChangeFeed follows the changes to keys committed through every node
// that shares one store, so that each node can keep its caches in step with
// the others'. A node makes one feed; Next and Wait may run at the same
// time, in two goroutines, but neither runs twice at once.
type KeyChangeFeed interface {
	// Next returns the changes committed since the previous call. The first
	// call only marks where the feed begins and reports nothing. Every
	// change committed before a call began is in its answer or an earlier
	// one: that is what lets a node vouch for its cache up to that instant.
	Next(ctx context.Context) (KeyChanges, error)
	// Wait returns when a change may have been committed since it was
	// called, or when ctx ends. It is a doorbell, not a report: call Next
	// to learn what changed. It returns an error when it cannot tell (its
	// connection was lost); the caller polls Next meanwhile and calls Wait
	// again later, which reconnects.
	Wait(ctx context.Context) error
	// Close releases the feed's connections.
	Close() error
}

// SharedStore is a Store that several nodes can use at once, such as
// PostgreSQL. SQLite is not one: one server owns its file.
type SharedStore interface {
	Store
	// FollowKeyChanges returns a feed of the key changes every node commits.
	FollowKeyChanges(ctx context.Context) (KeyChangeFeed, error)
}
