// Package latchkey holds Latchkey's domain: accounts, apps, integrations and
// keys with their policy, the principal an authenticated credential becomes,
// the error codes every layer speaks, and the Store interface that the
// storage backends implement.
//
// The package imports neither net/http nor database/sql: surfaces (the HTTP
// dialects) and backends (SQLite, PostgreSQL) depend on it, never the other
// way round.
package latchkey

import (
	"net/netip"
	"time"
)

// Scope is what a key acts for: its whole account, one app, or one
// integration. It is derived from the key's owner, never from its id.
type Scope string

// The scopes, spelled as the Sunshine Conversations JWT "scope" claim spells them.
const (
	ScopeAccount     Scope = "account"
	ScopeApp         Scope = "app"
	ScopeIntegration Scope = "integration"
)

// Account is a tenant. Account keys may do everything inside their account.
type Account struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// App is a project inside an account. The Rebilly dialect calls it an
// organization.
type App struct {
	ID          string
	AccountID   string
	DisplayName string
	Settings    AppSettings
	// Metadata is a flat object of strings, numbers and booleans; nil means none.
	Metadata  map[string]any
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AppSettings are the app-level switches of the Sunshine dialect. A nil field
// was never set; the surface decides what it shows for it.
type AppSettings struct {
	ConversationRetentionSeconds *int  `json:"conversationRetentionSeconds,omitempty"`
	MaskCreditCardNumbers        *bool `json:"maskCreditCardNumbers,omitempty"`
	UseAnimalNames               *bool `json:"useAnimalNames,omitempty"`
	EchoPostback                 *bool `json:"echoPostback,omitempty"`
	IgnoreAutoConversationStart  *bool `json:"ignoreAutoConversationStart,omitempty"`
	MultiConvoEnabled            *bool `json:"multiConvoEnabled,omitempty"`
	AppLocalizationEnabled       *bool `json:"appLocalizationEnabled,omitempty"`
	EndSessionEnabled            *bool `json:"endSessionEnabled,omitempty"`
	DisableConversationReopen    *bool `json:"disableConversationReopen,omitempty"`
}

// IntegrationTypeCustom is the only integration type Latchkey manages: the one
// that can hold API keys.
const IntegrationTypeCustom = "custom"

// Integration is a custom integration inside an app.
type Integration struct {
	ID          string
	AppID       string
	Type        string
	Status      string
	DisplayName *string
	Webhooks    []Webhook
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Webhook is a custom integration's callback target.
type Webhook struct {
	ID                string
	Version           string
	Target            string
	Triggers          []string
	IncludeFullUser   bool
	IncludeFullSource bool
	// Secret is the plaintext signing secret. It lives in memory only;
	// SealedSecret is what the store keeps.
	Secret       string
	SealedSecret []byte
}

// KeyType says where a key may be used: secret keys on servers, publishable
// keys in browsers.
type KeyType string

// The key types.
const (
	KeyTypeSecret      KeyType = "secret"
	KeyTypePublishable KeyType = "publishable"
)

// Key is an API key, whichever surface made it.
type Key struct {
	ID        string
	AccountID string
	// AppID is set for app and integration keys.
	AppID string
	// IntegrationID is set for integration keys.
	IntegrationID string
	// Name is displayName in one dialect and description in the other.
	Name   string
	Policy Policy
	// Prefix is the brand its secrets start with, chosen by the user when
	// the key is made ("acme" gives acme_sk_live_…); "" for none.
	Prefix string
	// Secrets holds one secret, or two while a roll's grace period runs.
	Secrets []Secret
	// Imported is the secret a key was imported with as another system's
	// hash of it, until the plaintext is first presented and adopted as one
	// of Secrets; nil for every other key.
	Imported  *ImportedSecret
	CreatedAt time.Time
	UpdatedAt time.Time
	// LastUsedAt is when the key last verified successfully, as of the last
	// usage flush; nil if never.
	LastUsedAt *time.Time
}

// NewestSecret is the secret a create or roll just made: the one without
// an end (a roll gives the secrets it replaces one, or deletes them), else
// the last. The zero Secret if the key has none.
func (k *Key) NewestSecret() Secret {
	for i := len(k.Secrets) - 1; i >= 0; i-- {
		if k.Secrets[i].ExpiresAt == nil {
			return k.Secrets[i]
		}
	}
	if n := len(k.Secrets); n > 0 {
		return k.Secrets[n-1]
	}
	return Secret{}
}

// Scope reports what the key acts for, from its owner.
func (k *Key) Scope() Scope {
	switch {
	case k.IntegrationID != "":
		return ScopeIntegration
	case k.AppID != "":
		return ScopeApp
	default:
		return ScopeAccount
	}
}

// Secret is one secret of a key as the store keeps it: never in plaintext.
type Secret struct {
	// Hash is HMAC-SHA256 of the secret under the server's index key: it finds
	// and checks the key.
	Hash []byte
	// Sealed is the secret under AES-256-GCM with the master key: needed to
	// check HS256 JWTs and to show the secret where a dialect returns it.
	Sealed []byte
	// Plain is the secret itself, filled in memory when a caller needs it and
	// never persisted.
	Plain     string
	CreatedAt time.Time
	// ExpiresAt ends a rolled-over secret's grace period; nil means never.
	ExpiresAt *time.Time
}

// HashAlgorithm names how another system hashed the secrets it hands over
// to an import.
type HashAlgorithm string

// The hashes an import takes. SHA-256 is kept as its 32 bytes, whichever
// text form (hex or base64) it came in, and finds its key by the hash of a
// presented secret; bcrypt and Argon2id are salted, so their keys are found
// by key id (credentials of the form keyId:secret).
const (
	HashSHA256   HashAlgorithm = "sha256"
	HashBcrypt   HashAlgorithm = "bcrypt"
	HashArgon2id HashAlgorithm = "argon2id"
)

// Salted reports whether a hash cannot be looked up by the secret it
// hashes: each is computed with a salt of its own.
func (a HashAlgorithm) Salted() bool { return a == HashBcrypt || a == HashArgon2id }

// ImportedSecret is a secret brought in from another system as that
// system's hash of it: Latchkey never sees the plaintext until a client
// presents it. The first time one proves the key, the key adopts the
// plaintext as an ordinary Secret (found by Latchkey's own index) and the
// imported hash goes (Store.AdoptSecret).
type ImportedSecret struct {
	Algorithm HashAlgorithm
	// Digest is the hash: SHA-256's 32 bytes, or bcrypt's or Argon2id's
	// encoded form ("$2b$…", "$argon2id$…"), salt and cost included.
	Digest    []byte
	CreatedAt time.Time
	// ExpiresAt ends it, as for a rolled Secret; nil means never.
	ExpiresAt *time.Time
}

// Policy is what a key may do. The zero Policy (apart from Type) is the
// default: everything within its owner's scope, from anywhere, forever.
type Policy struct {
	Type KeyType
	// ACL restricts the key to the listed permissions; nil means unrestricted.
	ACL []ACLEntry
	// AllowedIPs restricts the client addresses; nil means any.
	AllowedIPs []netip.Prefix
	// ExpiresAt ends the key; nil means never.
	ExpiresAt *time.Time
	// Metadata is free-form data the owner attaches to the key.
	Metadata map[string]any
	// Disabled keys authenticate nowhere until enabled again. The zero
	// value is enabled, so that the zero Policy stays the default.
	Disabled bool
	// RateLimit caps how often the key may be verified; nil means no limit.
	RateLimit *RateLimit
}

// RateLimit allows Limit units of cost per Period.
type RateLimit struct {
	Limit  int
	Period time.Duration
}

// ACLEntry grants permissions (operation ids, or "*") within a scope.
type ACLEntry struct {
	Scope       ACLScope `json:"scope"`
	Permissions []string `json:"permissions"`
}

// ACLScope narrows an ACL entry; an empty list means unscoped.
type ACLScope struct {
	OrganizationID  []string `json:"organizationId,omitempty"`
	ProductID       []string `json:"productId,omitempty"`
	PlanID          []string `json:"planId,omitempty"`
	CustomFieldName []string `json:"customFieldName,omitempty"`
}

// Principal is who an authenticated request acts as: the key that signed it.
type Principal struct {
	KeyID         string
	Name          string
	Scope         Scope
	AccountID     string
	AppID         string
	IntegrationID string
	Policy        Policy
}

// PrincipalOf returns the principal a key authenticates as.
func PrincipalOf(k *Key) *Principal {
	return &Principal{
		KeyID:         k.ID,
		Name:          k.Name,
		Scope:         k.Scope(),
		AccountID:     k.AccountID,
		AppID:         k.AppID,
		IntegrationID: k.IntegrationID,
		Policy:        k.Policy,
	}
}
