// Package auth turns a presented credential into a principal: it parses the
// credential forms the dialects use (HTTP Basic id:secret, a bare secret, an
// HS256 JWT whose kid is a key id), checks them, and keeps a cache so that a
// warm key is verified without touching the database or writing anything.
package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/secret"
)

// JWTLeeway is the clock skew allowed when checking a JWT's exp (and nbf).
const JWTLeeway = 30 * time.Second

// JWTPolicy is what the server demands of a JWT's lifetime, beyond checking
// exp and nbf when they are present. The zero value demands nothing, as
// Sunshine does: its samples sign tokens without exp.
type JWTPolicy struct {
	// RequireExp refuses a token without exp, so that no token is valid
	// forever.
	RequireExp bool
	// MaxAge, if positive, caps a token's lifetime: the token must carry
	// iat, an iat more than JWTLeeway in the future is refused, and the
	// token stops being valid at iat + MaxAge + JWTLeeway even if its exp is
	// later. This bounds how long a token that leaked stays useful, whatever
	// exp its signer chose.
	MaxAge time.Duration
}

// Validate reports a policy that cannot be applied. Check operator input
// with it before passing the policy to WithJWTPolicy.
func (p JWTPolicy) Validate() error {
	if p.MaxAge < 0 {
		return fmt.Errorf("JWT max age %v is negative; use 0 for no limit", p.MaxAge)
	}
	return nil
}

// Option configures a Verifier when it is made.
type Option func(*Verifier)

// WithJWTPolicy makes the verifier enforce p on every JWT. It panics if p is
// not valid (see JWTPolicy.Validate): a negative max age read as "no limit"
// would quietly weaken what the operator asked for.
func WithJWTPolicy(p JWTPolicy) Option {
	if err := p.Validate(); err != nil {
		panic("auth: " + err.Error())
	}
	return func(v *Verifier) { v.policy = p }
}

// Verifier checks credentials. It is safe for concurrent use.
type Verifier struct {
	store latchkey.Store
	keys  *secret.Keyring
	now   func() time.Time
	jwt   *jwt.Parser
	// policy is set when the verifier is made and never changes, so that
	// it is read without a lock and a token cached under it stays right.
	policy JWTPolicy

	mu     sync.RWMutex
	gen    uint64 // bumped by Purge; a load begun under an older gen is not cached
	byID   map[string]*entry
	byHash map[[32]byte]*entry
	// tokens remembers JWTs already verified, by their exact bytes: most
	// clients sign a token once and send it many times, and a hit skips the
	// JSON decoding that is most of a JWT check's cost.
	tokens map[string]*verifiedToken
}

// verifiedToken is a JWT whose signature, kid and scope were checked.
type verifiedToken struct {
	entry *entry
	// until ends the token's validity: its exp plus the leeway, its iat plus
	// the policy's MaxAge plus the leeway, or the end of a signing secret's
	// grace period, whichever comes first (zero: never).
	until time.Time
	// ended is the error returned once until has passed: it names the bound
	// that ended the token, as a fresh check would.
	ended error
}

// Cache bounds: a token longer than maxCachedToken is verified every time,
// and the token cache is emptied when it reaches maxCachedTokens entries.
const (
	maxCachedToken  = 4096
	maxCachedTokens = 10000
)

// entry is a verified-ready key: its principal and its secrets' hashes and
// plaintexts (the plaintext is the HS256 signing key).
type entry struct {
	principal *latchkey.Principal
	expiresAt *time.Time
	secrets   []cachedSecret
}

type cachedSecret struct {
	hash      [32]byte
	plain     []byte
	expiresAt *time.Time
}

// NewVerifier returns a verifier over store, with keys for hashing and
// unsealing secrets and now as its clock (time.Now if nil). Without options
// it applies the zero JWTPolicy.
func NewVerifier(store latchkey.Store, keys *secret.Keyring, now func() time.Time, opts ...Option) *Verifier {
	if now == nil {
		now = time.Now
	}
	v := &Verifier{
		store: store,
		keys:  keys,
		now:   now,
		jwt: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithLeeway(JWTLeeway),
			jwt.WithTimeFunc(now),
		),
		byID:   map[string]*entry{},
		byHash: map[[32]byte]*entry{},
		tokens: map[string]*verifiedToken{},
	}
	for _, opt := range opts {
		opt(v)
	}
	return v
}

// Purge forgets every cached key. The core calls it after any change to keys
// or their owners, so that a deleted key stops authenticating at once.
func (v *Verifier) Purge() {
	v.mu.Lock()
	v.gen++
	clear(v.byID)
	clear(v.byHash)
	clear(v.tokens)
	v.mu.Unlock()
}

// Errors callers see. Their messages are safe to show; they never say which
// part of a credential was wrong beyond its form.
var (
	ErrMissing        = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Authorization is required"}
	ErrInvalid        = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid credentials"}
	ErrMalformed      = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Malformed Authorization header"}
	ErrKeyExpired     = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "API key has expired"}
	ErrJWTKeyID       = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT header. Missing key id (kid)"}
	ErrJWTInvalid     = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT: bad signature, algorithm or claims"}
	ErrJWTExpired     = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT: token has expired"}
	ErrJWTScope       = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT body: scope does not match the key"}
	ErrNotACredential = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Unsupported Authorization scheme"}

	// The JWTPolicy errors. They are returned only for a token whose
	// signature checked out, so they tell nothing to whoever lacks the
	// secret, and they tell a client that has it what to change.
	ErrJWTMissingExp     = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT body: exp is required"}
	ErrJWTMissingIat     = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT body: iat is required"}
	ErrJWTIssuedInFuture = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT: iat is in the future"}
	ErrJWTTooOld         = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT: token is older than the maximum age allowed"}
)

// Headers verifies whichever credential a request carries: apiKey (the
// value of a REB-APIKEY or X-API-Key header) if set, else the Authorization
// header, which may also hold a bare secret with no scheme, as Rebilly's
// publishable keys are sent.
func (v *Verifier) Headers(ctx context.Context, apiKey, authorization string) (*latchkey.Principal, error) {
	if apiKey = strings.TrimSpace(apiKey); apiKey != "" {
		return v.Secret(ctx, apiKey)
	}
	if raw := strings.TrimSpace(authorization); secret.WellFormed(raw) {
		return v.Secret(ctx, raw)
	}
	return v.Authorization(ctx, authorization)
}

// Authorization verifies an HTTP Authorization header value: "Basic
// base64(id:secret)", or "Bearer " followed by a JWT or a bare secret.
func (v *Verifier) Authorization(ctx context.Context, header string) (*latchkey.Principal, error) {
	if header == "" {
		return nil, ErrMissing
	}
	scheme, rest, _ := strings.Cut(header, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, ErrMalformed
		}
		id, sec, ok := strings.Cut(string(raw), ":")
		if !ok || id == "" {
			return nil, ErrMalformed
		}
		return v.Basic(ctx, id, sec)
	case strings.EqualFold(scheme, "Bearer"):
		if rest == "" {
			return nil, ErrMalformed
		}
		if secret.WellFormed(rest) {
			return v.Secret(ctx, rest)
		}
		return v.JWT(ctx, rest)
	default:
		return nil, ErrNotACredential
	}
}

// Basic verifies a key id and secret.
func (v *Verifier) Basic(ctx context.Context, id, sec string) (*latchkey.Principal, error) {
	if !secret.WellFormed(sec) {
		return nil, ErrInvalid
	}
	e, err := v.byKeyID(ctx, id)
	if err != nil {
		return nil, err
	}
	now := v.now()
	sum := v.keys.Hash(sec)
	matched := false
	for i := range e.secrets {
		s := &e.secrets[i]
		// Compare against every secret, in constant time each, so that
		// timing does not tell which one matched.
		if secret.Equal(s.hash[:], sum) && s.live(now) {
			matched = true
		}
	}
	if !matched {
		return nil, ErrInvalid
	}
	// Only now, with the secret proven, may the caller learn the key expired.
	if e.expired(now) {
		return nil, ErrKeyExpired
	}
	return e.principal, nil
}

// Secret verifies a bare secret, found by its hash.
func (v *Verifier) Secret(ctx context.Context, sec string) (*latchkey.Principal, error) {
	if !secret.WellFormed(sec) {
		return nil, ErrInvalid
	}
	var sum [32]byte
	copy(sum[:], v.keys.Hash(sec))
	v.mu.RLock()
	e := v.byHash[sum]
	gen := v.gen
	v.mu.RUnlock()
	if e == nil {
		k, err := v.store.KeyBySecretHash(ctx, sum[:])
		if latchkey.ErrorCode(err) == latchkey.ENOTFOUND {
			return nil, ErrInvalid
		}
		if err != nil {
			return nil, err
		}
		if e, err = v.remember(k, gen); err != nil {
			return nil, err
		}
	}
	now := v.now()
	if e.expired(now) {
		return nil, ErrKeyExpired
	}
	for i := range e.secrets {
		// The map lookup already matched the hash; this confirms it is still
		// within its grace period.
		if e.secrets[i].hash == sum && e.secrets[i].live(now) {
			return e.principal, nil
		}
	}
	return nil, ErrInvalid
}

type claims struct {
	Scope string `json:"scope"`
	jwt.RegisteredClaims
}

// JWT verifies an HS256 JWT signed with a key's secret, whose header kid is
// the key id and whose scope claim is the key's scope.
func (v *Verifier) JWT(ctx context.Context, token string) (*latchkey.Principal, error) {
	v.mu.RLock()
	vt := v.tokens[token]
	gen := v.gen
	v.mu.RUnlock()
	if vt != nil {
		now := v.now()
		switch {
		case vt.entry.expired(now):
			return nil, ErrKeyExpired
		case !vt.until.IsZero() && !now.Before(vt.until):
			return nil, vt.ended
		}
		return vt.entry.principal, nil
	}
	var (
		c        claims
		e        *entry
		errKeyID error
	)
	_, err := v.jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, ok := t.Header["kid"].(string)
		if !ok || kid == "" {
			errKeyID = ErrJWTKeyID
			return nil, errKeyID
		}
		var err error
		if e, err = v.byKeyID(ctx, kid); err != nil {
			errKeyID = err
			return nil, err
		}
		now := v.now()
		if len(e.secrets) == 1 && e.secrets[0].live(now) {
			return e.secrets[0].plain, nil // the common case, without a set to allocate
		}
		set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, 0, len(e.secrets))}
		for i := range e.secrets {
			if e.secrets[i].live(now) {
				set.Keys = append(set.Keys, e.secrets[i].plain)
			}
		}
		return set, nil
	})
	switch {
	case errKeyID != nil:
		// An unknown or missing kid, or a store failure.
		return nil, errKeyID
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrJWTExpired
	case err != nil:
		return nil, ErrJWTInvalid
	}
	now := v.now()
	if err := v.checkPolicy(&c, now); err != nil {
		return nil, err
	}
	if e.expired(now) {
		return nil, ErrKeyExpired
	}
	if c.Scope != string(e.principal.Scope) {
		return nil, ErrJWTScope
	}
	v.rememberToken(token, e, &c, gen)
	return e.principal, nil
}

// checkPolicy applies the verifier's JWTPolicy to a token's claims; the
// library has already checked exp and nbf where present.
func (v *Verifier) checkPolicy(c *claims, now time.Time) error {
	if v.policy.RequireExp && c.ExpiresAt == nil {
		return ErrJWTMissingExp
	}
	if v.policy.MaxAge > 0 {
		switch {
		case c.IssuedAt == nil:
			return ErrJWTMissingIat
		case now.Before(c.IssuedAt.Add(-JWTLeeway)):
			// An iat in the future would stretch the lifetime past MaxAge.
			return ErrJWTIssuedInFuture
		case !now.Before(v.maxAgeEnd(c.IssuedAt)):
			return ErrJWTTooOld
		}
	}
	return nil
}

// maxAgeEnd is when a token issued at iat stops being valid under the
// policy's MaxAge, with the same leeway as exp and the same boundary: valid
// strictly before it.
func (v *Verifier) maxAgeEnd(iat *jwt.NumericDate) time.Time {
	return iat.Add(v.policy.MaxAge).Add(JWTLeeway)
}

// rememberToken caches a verified token unless the cache was purged since
// its check began. The entry ends at the first bound on the token's
// validity, so a cached token stops working when a fresh check would refuse
// it.
func (v *Verifier) rememberToken(token string, e *entry, c *claims, gen uint64) {
	if len(token) > maxCachedToken {
		return
	}
	vt := &verifiedToken{entry: e, ended: ErrJWTExpired}
	if c.ExpiresAt != nil {
		vt.until = c.ExpiresAt.Add(JWTLeeway)
	}
	if v.policy.MaxAge > 0 { // checkPolicy made sure iat is there
		if end := v.maxAgeEnd(c.IssuedAt); vt.until.IsZero() || end.Before(vt.until) {
			vt.until, vt.ended = end, ErrJWTTooOld
		}
	}
	for _, s := range e.secrets {
		// Which secret signed is not known here; the earliest end of a grace
		// period bounds them all.
		if s.expiresAt != nil && (vt.until.IsZero() || s.expiresAt.Before(vt.until)) {
			vt.until, vt.ended = *s.expiresAt, ErrJWTExpired
		}
	}
	v.mu.Lock()
	if v.gen == gen {
		if len(v.tokens) >= maxCachedTokens {
			clear(v.tokens)
		}
		v.tokens[token] = vt
	}
	v.mu.Unlock()
}

// byKeyID returns the cache entry for a key id, loading it on a miss.
func (v *Verifier) byKeyID(ctx context.Context, id string) (*entry, error) {
	v.mu.RLock()
	e := v.byID[id]
	gen := v.gen
	v.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	k, err := v.store.Key(ctx, id)
	if latchkey.ErrorCode(err) == latchkey.ENOTFOUND {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	return v.remember(k, gen)
}

// remember builds the cache entry for a freshly loaded key and caches it,
// unless the cache was purged since the load began (the key may be gone).
func (v *Verifier) remember(k *latchkey.Key, gen uint64) (*entry, error) {
	e := &entry{principal: latchkey.PrincipalOf(k), expiresAt: k.Policy.ExpiresAt}
	for _, s := range k.Secrets {
		plain, err := v.keys.Open(s.Sealed, secret.KeyRecord(k.ID))
		if err != nil {
			return nil, err
		}
		cs := cachedSecret{plain: plain, expiresAt: s.ExpiresAt}
		copy(cs.hash[:], s.Hash)
		e.secrets = append(e.secrets, cs)
	}
	v.mu.Lock()
	if v.gen == gen {
		v.byID[k.ID] = e
		for _, s := range e.secrets {
			v.byHash[s.hash] = e
		}
	}
	v.mu.Unlock()
	return e, nil
}

func (e *entry) expired(now time.Time) bool {
	return e.expiresAt != nil && !now.Before(*e.expiresAt)
}

func (s *cachedSecret) live(now time.Time) bool {
	return s.expiresAt == nil || now.Before(*s.expiresAt)
}
