package latchkey

import (
	"context"
	"io"
)

// Store persists the domain. SQLite (embedded, the default) and PostgreSQL
// implement it, and one contract suite (store/storetest) holds both to it.
//
// Store methods do no authorization; they enforce integrity only (existence,
// uniqueness, cascades, quotas). Ids and timestamps are set by the caller;
// times come back in UTC, to the microsecond. Errors name their subject
// ("account", "app", "integration", "key") in latchkey.Error.Subject.
type Store interface {
	io.Closer

	// Meta returns a server-level value. Returns ENOTFOUND if it was never set.
	Meta(ctx context.Context, name string) ([]byte, error)
	// InitMeta sets a server-level value unless it is already set, and returns
	// the value in force afterwards.
	InitMeta(ctx context.Context, name string, value []byte) ([]byte, error)

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
	// Returns ENOTFOUND.
	DeleteApp(ctx context.Context, id string) error

	// CreateIntegration returns ENOTFOUND (subject "app") if the app is gone
	// and ECONFLICT if the id is taken.
	CreateIntegration(ctx context.Context, in *Integration) error
	// Integration returns ENOTFOUND (subject "integration") unless the app
	// holds that integration.
	Integration(ctx context.Context, appID, id string) (*Integration, error)
	// ListIntegrations lists an app's integrations in id order, one page at a
	// time, optionally only those of the given types.
	ListIntegrations(ctx context.Context, appID string, types []string, page Page) ([]*Integration, PageInfo, error)
	// UpdateIntegration replaces an integration's display name (and
	// UpdatedAt); nothing else. Returns ENOTFOUND.
	UpdateIntegration(ctx context.Context, in *Integration) error
	// DeleteIntegration deletes an integration and its keys. Returns ENOTFOUND.
	DeleteIntegration(ctx context.Context, appID, id string) error

	// CreateKey stores a key with its secrets. If maxPerOwner > 0 and the
	// owner (the integration, else the app, else the account) already holds
	// that many keys, it returns ELIMIT and stores nothing. Returns ENOTFOUND if
	// the owner is gone and ECONFLICT if the id or a secret is taken.
	CreateKey(ctx context.Context, k *Key, maxPerOwner int) error
	// Key returns ENOTFOUND (subject "key") if there is no such key. A key's
	// Secrets come oldest first.
	Key(ctx context.Context, id string) (*Key, error)
	// KeyBySecretHash finds the key one of whose secrets has this hash.
	// Returns ENOTFOUND.
	KeyBySecretHash(ctx context.Context, hash []byte) (*Key, error)
	// ListKeys lists the keys owned exactly by the filter's owner, in id order.
	ListKeys(ctx context.Context, owner KeyOwner) ([]*Key, error)
	// QueryKeys lists one page of the keys owned exactly by q.Owner that
	// match every filter, in q's order (then by id), with the total number of
	// matches. Returns EINVALID for a negative limit or offset.
	QueryKeys(ctx context.Context, q KeyQuery) ([]*Key, int, error)
	// UpdateKey replaces a key's name, policy and UpdatedAt; its owner, id,
	// secrets and CreatedAt stay. Returns ENOTFOUND.
	UpdateKey(ctx context.Context, k *Key) error
	// DeleteKey returns ENOTFOUND.
	DeleteKey(ctx context.Context, id string) error
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
	Owner   KeyOwner
	Filters []KeyFilter
	Sort    []KeySort
	Limit   int
	Offset  int
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

// KeySort orders by Field, descending if Desc.
type KeySort struct {
	Field KeyField
	Desc  bool
}
