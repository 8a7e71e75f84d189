// Package core is Latchkey's domain service: the one place where accounts,
// apps, integrations and keys are created, read, changed and deleted, with the
// rules that hold whichever surface asks. It generates ids and secrets, seals
// secrets before they reach the store, checks that a principal acts only
// within its owner's scope, and tells the verifier to forget keys that changed.
//
// Surfaces (the HTTP dialects) parse and validate their own formats, decide
// which scopes an operation admits, and map errors; everything else is here.
package core

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/internal/ulid"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/usage"
)

// MaxNameLen bounds a key's, app's or integration's name in any dialect.
const MaxNameLen = 255

// Invalidator keeps the verifier's caches in step with the store;
// auth.Verifier implements it. The core calls it after every change it
// commits, naming exactly the keys that changed, so that a change takes
// effect at once and every other key stays warm.
type Invalidator interface {
	// Forget drops what is cached of these keys: they changed or are gone,
	// or (for a new key) their id may have been remembered as unknown.
	Forget(keyIDs ...string)
	// Added tells of new secrets (hashes as the store keeps them), which
	// may have been remembered as unknown.
	Added(secretHashes ...[]byte)
	// Purge drops everything: for changes that touch every key.
	Purge()
}

// Option configures a Service when it is made.
type Option func(*Service)

// RateLimiter enforces keys' rate limits. *ratelimit.Limiter does, on one
// node; *redislimit.Limiter does across a fleet of nodes sharing a Redis,
// exactly; *sharedlimit.Limiter across nodes sharing only PostgreSQL,
// within a documented bound.
//
// Allow always decides: there is no error to return, so that a limiter
// kept elsewhere that cannot be reached answers on its own (redislimit
// falls back to a node-local limiter), and a key whose secret was proven
// is never answered with a server error because of its limit. Allow is
// called only for keys that have a rate limit, after every other check
// passed, so that keys without one cost no round trip.
type RateLimiter interface {
	// Allow decides whether keyID may spend cost units at now under
	// limit, and counts them if so; see ratelimit.Decision.
	Allow(ctx context.Context, keyID string, limit latchkey.RateLimit, cost int, now time.Time) ratelimit.Decision
}

// WithVerification gives the service what the verify API needs: the
// credential checker, the rate limiter (nil: limits are not enforced) and
// the usage recorder (nil: usage is not counted).
func WithVerification(checker CredentialChecker, limiter RateLimiter, recorder *usage.Recorder) Option {
	return func(s *Service) { s.checker, s.limiter, s.usage = checker, limiter, recorder }
}

// WithAuditRecorder gives the service the recorder of failed checks on the
// verify path, which it counts in bursts (see package audit). Without it
// they are not recorded; changes are recorded either way.
func WithAuditRecorder(r *audit.Recorder) Option {
	return func(s *Service) { s.audit = r }
}

// VerificationObserver is told the outcome of every verification the
// service decides (Verify, for the verify and the gateway authorize
// endpoints); *metrics.Metrics is one. It must be quick and safe for
// concurrent use: it is called on the hot path.
type VerificationObserver interface {
	Verified(code latchkey.Code)
}

// WithMetrics makes the service tell o the outcome of each verification.
// Without it (or with a nil o) nothing is told.
func WithMetrics(o VerificationObserver) Option {
	return func(s *Service) { s.observer = o }
}

// Service is the domain service.
type Service struct {
	store latchkey.Store
	keys  *secret.Keyring
	env   secret.Environment
	cache Invalidator
	now   func() time.Time

	checker  CredentialChecker
	limiter  RateLimiter
	usage    *usage.Recorder
	audit    *audit.Recorder
	observer VerificationObserver
}

// New returns the service over store. keys hashes and seals secrets, env is
// the environment new secrets are marked with, and cache (may be nil) is told
// of every key that changes, appears or goes.
func New(store latchkey.Store, keys *secret.Keyring, env secret.Environment, cache Invalidator, opts ...Option) *Service {
	s := &Service{store: store, keys: keys, env: env, cache: cache, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// SetClock replaces the service's clock; for tests.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// timestamp is now, in UTC, to the microsecond the stores keep.
func (s *Service) timestamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// forget tells the cache that these keys changed or went away.
func (s *Service) forget(keyIDs ...string) {
	if s.cache != nil && len(keyIDs) > 0 {
		s.cache.Forget(keyIDs...)
	}
}

// added tells the cache of a new key, or of new secrets of a key: the id
// and the secrets may have been remembered as unknown, and the key, if
// cached, has changed.
func (s *Service) added(keyID string, secrets ...latchkey.Secret) {
	if s.cache == nil {
		return
	}
	s.cache.Forget(keyID)
	for _, sec := range secrets {
		s.cache.Added(sec.Hash)
	}
}

// audited returns ctx carrying the audit event of a change by p (nil for
// the command line) to a target, for the store to write with the change
// (see latchkey.WithAuditEvent). Every change the core asks of the store
// goes through it. detail is pairs of names and values.
func (s *Service) audited(ctx context.Context, p *latchkey.Principal, action, targetType, targetID string, detail ...string) context.Context {
	ev := audit.Event(ctx, s.timestamp(), p, action, targetType, targetID)
	if len(detail) > 0 {
		ev.Detail = map[string]string{}
		for i := 0; i+1 < len(detail); i += 2 {
			ev.Detail[detail[i]] = detail[i+1]
		}
	}
	return latchkey.WithAuditEvent(ctx, ev)
}

// NewObjectID returns a 24-character lowercase hex id in the style of the
// Sunshine dialect's ids: 4 bytes of Unix time, then 8 random bytes. Ids so
// made sort by creation second, which gives lists a stable, natural order.
func NewObjectID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(time.Now().Unix()))
	if _, err := rand.Read(b[4:]); err != nil {
		panic("core: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// NewULID returns a ULID (see package ulid), so that ids sort by creation
// time. The Rebilly dialect's ids are "api_key_" and a ULID.
func NewULID() string { return ulid.New() }

// IsObjectID reports whether s has the form NewObjectID makes.
func IsObjectID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// forbidden is the error for a valid principal acting outside its rights.
func forbidden() error {
	return &latchkey.Error{Code: latchkey.EFORBIDDEN, Message: "Forbidden"}
}

// Bootstrap creates an account and its first account key. It is how an empty
// store gets its first credential; no principal is needed. The returned key
// carries its secret in plaintext, once.
func (s *Service) Bootstrap(ctx context.Context, name string) (*latchkey.Account, *latchkey.Key, error) {
	now := s.timestamp()
	a := &latchkey.Account{ID: NewObjectID(), Name: name, CreatedAt: now}
	k, err := s.newKey(latchkey.KeyOwner{AccountID: a.ID}, "", "Bootstrap key", "", latchkey.Policy{Type: latchkey.KeyTypeSecret}, now)
	if err != nil {
		return nil, nil, err
	}
	ctx = s.audited(ctx, nil, latchkey.ActionAccountCreate, "account", a.ID, "key", k.ID)
	if err := s.store.CreateAccountWithKey(ctx, a, k); err != nil {
		return nil, nil, err
	}
	s.added(k.ID, k.Secrets...)
	return a, k, nil
}

// CountAccounts reports how many accounts the store holds.
func (s *Service) CountAccounts(ctx context.Context) (int, error) {
	return s.store.CountAccounts(ctx)
}
