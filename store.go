package latchkey

import (
	"context"
	"io"
	"time"
)

// Store persists the domain. SQLite (embedded, the default) and PostgreSQL
// implement it, and one contract suite (store/storetest) holds both to it.
//
// Store methods do no authorization; they enforce integrity only (existence,
// uniqueness, cascades, quotas). Every method that changes the store writes
// the audit event its context carries (WithAuditEvent) in the same
// transaction. Ids and timestamps are set by the caller;
// times come back in UTC, to the microsecond. Errors name their subject
// ("account", "app", "integration", "key") in latchkey.Error.Subject.
type Store interface {
	io.Closer

	// Meta returns a server-level value. Returns ENOTFOUND if it was never set.
	Meta(ctx context.Context, name string) ([]byte, error)
	// InitMeta sets a server-level value unless it is already set, and returns
	// the value in force afterwards.
	InitMeta(ctx context.Context, name string, value []byte) ([]byte, error)

	// Reseal passes every sealed value the store holds through fn and
	// stores what it returns, in one transaction: if fn fails for any value,
	// nothing changes. fn is called with the record each value belongs to,
	// as secret.Record names it: kind "key" with the key's id (once per
	// secret), "webhook" with the webhook's id, and "meta" with each of
	// metaNames that is set. fn runs inside the transaction and must not
	// call the store. Master-key rotation and format upgrades use it.
	Reseal(ctx context.Context, metaNames []string, fn func(kind, id string, sealed []byte) ([]byte, error)) error

	// CountAccounts reports how many accounts exist.
	CountAccounts(ctx context.Context) (int, error)
	// CreateAccountWithKey creates an account and its first key in one
	// transaction. Returns ECONFLICT if either id is taken.
	CreateAccountWithKey(ctx context.Context, a *Account, k *Key) error

	// CreateApp returns ECONFLICT if the id is taken and ENOTFOUND if the
	// account does not exist.
	CreateApp(ctx context.Context, app *App) error
	// App returns ENOTFOUND (subject "app") if there is no such app.
	App(ctx context.Context, id string) (*App, error)
	// ListApps lists an account's apps in id order, one page at a time.
	ListApps(ctx context.Context, accountID string, page Page) ([]*App, PageInfo, error)
	// UpdateApp replaces an app's mutable fields. Returns ENOTFOUND.
	UpdateApp(ctx context.Context, app *App) error
	// DeleteApp deletes an app with its integrations and every key they hold.
	// Returns ENOTFOUND, without calling check, if there is no such app.
	//
	// Before deleting, it calls check once with every key the cascade would
	// delete: the app's keys and its integrations' keys, in any order, their
	// Secrets not necessarily filled; an empty list if there are none. If
	// check returns an error, DeleteApp deletes nothing and returns that
	// error unchanged. check runs inside the delete's transaction, so no key
	// can be added to or changed in the app between the check and the
	// delete; for the same reason it must not call the store, and should be
	// quick. A nil check deletes unconditionally.
	DeleteApp(ctx context.Context, id string, check func(keys []*Key) error) error

	// CreateIntegration returns ENOTFOUND (subject "app") if the app is gone
	// and ECONFLICT if the id is taken.
	CreateIntegration(ctx context.Context, in *Integration) error
	// Integration returns ENOTFOUND (subject "integration") unless the app
	// holds that integration.
	Integration(ctx context.Context, appID, id string) (*Integration, error)
	// ListIntegrations lists an app's integrations in id order, one page at a
	// time, optionally only those of the given types. Returns EINVALID for
	// more than MaxFilterValues types.
	ListIntegrations(ctx context.Context, appID string, types []string, page Page) ([]*Integration, PageInfo, error)
	// UpdateIntegration replaces an integration's display name (and
	// UpdatedAt); nothing else. Returns ENOTFOUND.
	UpdateIntegration(ctx context.Context, in *Integration) error
	// DeleteIntegration deletes an integration and its keys. Returns
	// ENOTFOUND, without calling check, unless the app holds that
	// integration. check is called with the integration's keys and may veto
	// the delete, inside its transaction, exactly as for DeleteApp.
	DeleteIntegration(ctx context.Context, appID, id string, check func(keys []*Key) error) error

	// CreateKey stores a key with its secrets (and its imported secret, if
	// it has one). If maxPerOwner > 0 and the
	// owner (the integration, else the app, else the account) already holds
	// that many keys, it returns ELIMIT and stores nothing. Returns ENOTFOUND if
	// the owner is gone and ECONFLICT if the id or a secret is taken.
	CreateKey(ctx context.Context, k *Key, maxPerOwner int) error
	// CreateKeys stores keys, each with its audit event (events[i] for
	// keys[i]), in one transaction: all or none, for an import's batch. It
	// returns ENOTFOUND if an owner is gone and ECONFLICT if an id or a
	// secret is taken, by another key or within keys; no cap applies.
	CreateKeys(ctx context.Context, keys []*Key, events []*AuditEvent) error
	// Key returns ENOTFOUND (subject "key") if there is no such key. A key's
	// Secrets come oldest first.
	Key(ctx context.Context, id string) (*Key, error)
	// KeyBySecretHash finds the key one of whose secrets has this hash.
	// Returns ENOTFOUND.
	KeyBySecretHash(ctx context.Context, hash []byte) (*Key, error)
	// KeyByImportedDigest finds the key whose imported SHA-256 secret has
	// this digest (ImportedSecret.Digest). Returns ENOTFOUND.
	KeyByImportedDigest(ctx context.Context, digest []byte) (*Key, error)
	// AdoptSecret replaces a key's imported secret with sec, its plaintext
	// now sealed and indexed as every other secret is; sec keeps the
	// imported secret's expiry. The key's cache entries elsewhere must be
	// dropped: the change is logged as any key change is. Returns ENOTFOUND
	// if the key has no imported secret (any more: another node or request
	// may have adopted it first), and ECONFLICT if sec's hash is taken.
	AdoptSecret(ctx context.Context, keyID string, sec Secret) error
	// ListKeys lists the keys owned exactly by the filter's owner, in id order.
	ListKeys(ctx context.Context, owner KeyOwner) ([]*Key, error)
	// QueryKeys lists one page of the keys owned exactly by q.Owner that
	// match every filter, in q's order (then by id), with the total number of
	// matches. Returns EINVALID for a negative limit or offset, for filters
	// carrying more than MaxFilterValues values in all, and for a field
	// sorted on twice.
	QueryKeys(ctx context.Context, q KeyQuery) ([]*Key, int, error)
	// UpdateKey replaces a key's name, policy and UpdatedAt; its owner, id,
	// prefix, secrets, CreatedAt and LastUsedAt stay. Returns ENOTFOUND.
	UpdateKey(ctx context.Context, k *Key) error
	// RollKey gives a key a new secret. The secrets it had expire at
	// oldUntil (or earlier, if they already expire earlier); nil oldUntil
	// deletes them at once. An imported secret ends likewise. Secrets
	// already expired at next.CreatedAt are deleted. UpdatedAt becomes next.CreatedAt. Returns ENOTFOUND, and
	// ECONFLICT if the new secret's hash is taken.
	RollKey(ctx context.Context, keyID string, next Secret, oldUntil *time.Time) error
	// DeleteKey returns ENOTFOUND.
	DeleteKey(ctx context.Context, id string) error

	// AddUsage adds counts to the stored ones, summing by key, minute and
	// code, and moves each key's LastUsedAt forward to its time in lastUsed
	// (never back). Counts of keys deleted meanwhile are dropped. One
	// transaction: all or nothing.
	AddUsage(ctx context.Context, counts []UsageCount, lastUsed map[string]time.Time) error
	// Usage returns a key's counts for the minutes in [from, to), ordered by
	// minute, then code.
	Usage(ctx context.Context, keyID string, from, to time.Time) ([]UsageCount, error)

	// AppendAuditEvents appends events that record no change of their own:
	// refused attempts and bursts of failures. (An event recording a change
	// goes with the change, through WithAuditEvent.) One transaction.
	// Returns ECONFLICT if an id is taken.
	AppendAuditEvents(ctx context.Context, events ...*AuditEvent) error
	// AuditEvents lists the events q selects, in its order. Returns
	// EINVALID for a Limit below 1, or for a query that names no account
	// and is not All.
	AuditEvents(ctx context.Context, q AuditQuery) ([]*AuditEvent, error)
	// PruneAuditEvents deletes the events older than before, and reports
	// how many: retention, the one way an event leaves the store.
	PruneAuditEvents(ctx context.Context, before time.Time) (int64, error)

	// UsageSummary sums the usage counts q selects into buckets; see
	// UsageQuery. Returns EINVALID for a query UsageQuery.Valid refuses.
	UsageSummary(ctx context.Context, q UsageQuery) ([]UsageCount, error)
	// CountRecords reports how many apps, integrations and keys an account
	// holds (keys of every owner in it).
	CountRecords(ctx context.Context, accountID string) (RecordCounts, error)
	// KeyStats counts an account's keys by state and by hygiene finding at
	// at, in one pass; every state and finding has an entry. Returns
	// EINVALID for a zero at.
	KeyStats(ctx context.Context, accountID string, at time.Time) (KeyStats, error)

	// CreateSession stores a dashboard session. Returns ECONFLICT if its
	// hash is taken and ENOTFOUND (subject "key") if its key is gone.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session with this token hash, expired or not;
	// ENOTFOUND (subject "session") if there is none. Deleting a key
	// deletes its sessions.
	Session(ctx context.Context, hash []byte) (*Session, error)
	// DeleteSession deletes a session (signing out). Returns ENOTFOUND.
	DeleteSession(ctx context.Context, hash []byte) error
	// PruneSessions deletes the sessions that expired before before, and
	// reports how many.
	PruneSessions(ctx context.Context, before time.Time) (int64, error)

	// Rekey passes one batch of the sealed values the store holds through
	// b.Fn and stores what it returns, in one transaction, and returns where
	// the next batch begins ("" once the last value was passed). See
	// RekeyBatch. Master-key rotation (core.Rotation) uses it: a batch at a
	// time while servers run, then one last call with Limit 0.
	Rekey(ctx context.Context, b RekeyBatch) (next string, err error)
}

// KeyOwner names exactly one owner: an account (AppID empty), an app
// (IntegrationID empty) or an integration.
type KeyOwner struct {
	AccountID     string
	AppID         string
	IntegrationID string
}

// Page asks for one page of a list ordered by id: the Size records after
// After, or the Size records just before Before (at most one of them is set).
// Size must be at least 1; stores return EINVALID otherwise.
type Page struct {
	After  string
	Before string
	Size   int
}

// PageInfo says what lies beyond a page: HasPrev and HasNext report whether
// records exist before its first and after its last record, and HasMore
// whether more follow in the direction of paging (backwards for Before).
type PageInfo struct {
	HasMore bool
	HasPrev bool
	HasNext bool
}

// KeyQuery selects, orders and pages keys.
type KeyQuery struct {
	Owner KeyOwner
	// Within widens Owner to everything under it: an account's keys with
	// those of its apps and integrations, an app's with its integrations'.
	Within  bool
	Filters []KeyFilter
	// Search keeps the keys whose id or name contains it, ignoring ASCII
	// case; "" keeps every key. At most MaxSearchLen bytes.
	Search string
	// States keeps the keys in one of these states at At; none keeps every
	// key.
	States []KeyState
	// Hygiene keeps the keys with this finding at At; "" keeps every key.
	Hygiene KeyHygiene
	// At is the moment States and Hygiene are judged at. Required (not
	// zero) when either is set.
	At   time.Time
	Sort []KeySort
	// After, if set, starts the page after this key id; it needs id order
	// (no Sort). The total still counts every match.
	After  string
	Limit  int
	Offset int
}

// KeyField names a key field that can be filtered or sorted on.
type KeyField string

// The fields: id, name and type can be filtered on; id, created and
// updated sorted on.
const (
	KeyFieldID      KeyField = "id"
	KeyFieldName    KeyField = "name"
	KeyFieldType    KeyField = "type"
	KeyFieldCreated KeyField = "created"
	KeyFieldUpdated KeyField = "updated"
)

// KeyFilter keeps the keys whose Field equals one of Values, or, if Negate,
// none of them.
type KeyFilter struct {
	Field  KeyField
	Values []string
	Negate bool
}

// MaxFilterValues caps the values one query may carry: the sum of
// len(Values) over a KeyQuery's Filters, or the types given to
// ListIntegrations. Each value becomes a bound parameter, so without a cap a
// request could reach the database's own limit (32766 variables in SQLite)
// and fail with a driver error, or make the query arbitrarily slow. Stores
// return EINVALID above it, before any SQL runs. The HTTP surfaces cap their
// filters at or below it, so their clients meet their own 4xx first.
const MaxFilterValues = 1000

// KeySort orders by Field, descending if Desc.
type KeySort struct {
	Field KeyField
	Desc  bool
}
