package latchkey

import "context"

// KeyChanges is what a KeyChangeFeed reports: the keys that changed or went
// away in transactions committed since the previous report.
type KeyChanges struct {
	// KeyIDs are the keys that changed (policy, secrets, owner) or were
	// deleted, cascades included; a key may appear more than once.
	KeyIDs []string
	// All says any key may have changed: a change that names no key (a
	// master-key rotation), or changes the feed can no longer list one by
	// one. A cache must then forget everything.
	All bool
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
