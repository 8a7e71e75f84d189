// Package auth turns a presented credential into a principal: it parses the
// credential forms the dialects use (HTTP Basic id:secret, a bare secret, an
// HS256 JWT whose kid is a key id), checks them, and keeps a cache so that a
// warm key is verified without touching the database or writing anything.
// It also remembers, in a bounded cache of its own, the well-formed secrets
// and key ids that matched no key, so that sending one again does not reach
// the database either.
//
// The cache is kept right by the core, which tells the verifier what
// changed once the change is committed: Forget for keys that changed or
// went away (and for the id of a key just created), Added for the secrets of
// a key just created or rolled, Purge when everything may have changed.
//
// When several nodes share a store, the core of each node hears only of its
// own changes. Then something that follows every node's changes (package
// fleet) calls Forget for the others' and vouches for the cache with
// TrustUntil; past that time, the caches answer nothing and every check
// reads the store, so that no node answers from a cache older than the
// bound the operator set, and a node that cannot read the store refuses
// (unless the operator chose WithServeStale).
package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
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
	// seed keys the in-memory hash (maphash) under which bare secrets and
	// unknown ids are cached. It is random per verifier, so whoever presents
	// a secret cannot tell or steer where in the maps it lands.
	seed maphash.Seed

	mu sync.RWMutex
	// gen is bumped by Forget, Added and Purge. A load from the store notes
	// it before reading, and its result (a key, or the absence of one) is
	// cached only if gen has not moved by the time it is stored: a result
	// read before a change may be stale, and caching it after the change
	// was announced would keep it until the next change. gen is one counter
	// for all keys rather than one per key: a load by bare secret does not
	// know its key's id until it has read it, so a per-key counter could not
	// be noted before the read. The cost is that a change to one key also
	// keeps the loads of other keys in flight at that instant out of the
	// cache; each costs one more read on its next use.
	gen  uint64
	byID map[string]*entry
	// byHash finds a key by a bare secret: the maphash (under seed) of the
	// plaintext of each of its secrets. It is not the store's HMAC index
	// because computing that costs a third of a microsecond and, through
	// secret.Keyring, two allocations, on every request; maphash costs
	// nanoseconds. A hit is only a candidate: the plaintexts are then
	// compared in constant time, so a 64-bit collision can never admit a
	// wrong secret (it is sent to the store instead).
	byHash map[uint64]*entry
	// tokens remembers JWTs already verified, by their exact bytes: most
	// clients sign a token once and send it many times, and a hit skips the
	// JSON decoding that is most of a JWT check's cost.
	tokens map[string]*verifiedToken
	// unknownSecrets and unknownIDs remember well-formed secrets and key ids
	// that matched no key. They are apart from the caches of known keys, and
	// bounded, so that a flood of forged credentials evicts only other
	// forged credentials and never a valid key.
	unknownSecrets missCache
	unknownIDs     missCache
	// unknownForeign remembers bare credentials not in Latchkey's format
	// (the format of imported keys' secrets) that matched no key. Such a
	// secret may be imported as a hash, which names no store hash that
	// Added could be told of, and may well have been tried before its key
	// was imported; so this memory is small and emptied by every Forget and
	// Added, on this node and, through the fleet's change feed, on others.
	unknownForeign missCache

	// trustUntil, once set by TrustUntil (Unix nanoseconds), is when the
	// caches stop answering; see fresh. Zero: they always answer, as on a
	// node that is the store's only writer.
	trustUntil atomic.Int64
	// serveStale is WithServeStale; stale is set by Unreachable, on such a
	// verifier only, and cleared by TrustUntil.
	serveStale bool
	stale      atomic.Bool

	// hits and misses count checks answered from the caches and checks
	// that read the store; see CacheStats. The padding keeps their cache
	// line, written by every check, apart from the fields every check reads.
	_            [64]byte
	hits, misses atomic.Uint64
}

// CacheStats reports how many credential checks the caches answered (hits:
// a known key, a verified JWT, or a credential remembered as unknown) and
// how many read the store (misses), since the verifier was made. A check
// counts once, as one or the other; one refused before any lookup (a
// malformed credential) counts as neither. For metrics: the counts are
// atomic adds on the hot path and are read here only.
func (v *Verifier) CacheStats() (hits, misses uint64) {
	return v.hits.Load(), v.misses.Load()
}

// TrustUntil lets the caches answer until t, and no longer: from t on, every
// check reads the store (and caches what it reads) until TrustUntil is
// called again with a later time. A node sharing its store with others
// calls it each time it has applied every change committed before some
// instant s, with t = s plus the staleness the operator allows. Before the
// first call the caches always answer.
//
// It also ends serving stale answers (see Unreachable): the changes made
// while the store was out of reach have been applied by then.
func (v *Verifier) TrustUntil(t time.Time) {
	v.trustUntil.Store(max(t.UnixNano(), 1))
	v.stale.Store(false)
}

// WithServeStale makes the verifier keep answering from its caches, past
// TrustUntil, while the store is out of reach (see Unreachable): keys
// verified before an outage go on verifying through it, instead of every
// verification failing with EUNAVAILABLE once the staleness bound has
// passed. Keys it does not hold still read the store, and fail.
//
// This trades safety for availability, and the operator must choose it:
// the changes other nodes make meanwhile (a revocation, above all, if some
// nodes can still reach the database while this one cannot) are not seen
// until the store can be read again, however long that takes. Expiry and
// grace periods still end on time: they are in the cache. Without this
// option, a node that cannot read the store refuses once the bound has
// passed (fails closed).
func WithServeStale() Option {
	return func(v *Verifier) { v.serveStale = true }
}

// Unreachable tells the verifier that the store cannot be reached, so that
// it no longer hears of other nodes' changes. Past TrustUntil, a verifier
// made WithServeStale then answers from its caches (and caches nothing
// new) until TrustUntil is called again; any other ignores it and keeps
// reading the store, and refusing when it cannot. It reports whether the
// verifier serves stale answers.
func (v *Verifier) Unreachable() (servingStale bool) {
	if v.serveStale {
		v.stale.Store(true)
	}
	return v.serveStale
}

// fresh reports whether the caches are vouched for at now (see
// TrustUntil): whether what is read from the store may be cached.
func (v *Verifier) fresh(now time.Time) bool {
	until := v.trustUntil.Load()
	return until == 0 || now.UnixNano() < until
}

// answers reports whether the caches may answer at now: when they are
// fresh, and also, with WithServeStale, while the store is unreachable.
func (v *Verifier) answers(now time.Time) bool {
	return v.fresh(now) || v.stale.Load()
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
// Each of the two caches of unknown credentials holds at most maxUnknown
// values and evicts the oldest first; an id longer than maxUnknownID (key
// ids are far shorter) is not remembered, so that those caches' memory
// stays small whatever is sent.
const (
	maxCachedToken  = 4096
	maxCachedTokens = 10000
	maxUnknown      = 10000
	maxUnknownID    = 256
	// maxUnknownForeign bounds unknownForeign, which every key change
	// empties.
	maxUnknownForeign = 1024
)

// maxBasicDecoded is the size of the stack buffer Basic credentials are
// decoded into. id:secret is under a hundred bytes for every key Latchkey
// makes; longer credentials are decoded on the heap, not refused.
const maxBasicDecoded = 256

// entry is a verified-ready key: its principal and its secrets' plaintexts
// (the plaintext is what a presented secret is compared with, and the HS256
// signing key).
type entry struct {
	principal *latchkey.Principal
	expiresAt *time.Time
	secrets   []cachedSecret
	// imported says the key still has a secret imported as another
	// system's hash, not yet adopted: a presented secret that matches none
	// of secrets is then checked against it (see adoptByID).
	imported bool
	// forgotten is set when Forget drops the entry. The verified tokens
	// that point to it are then no longer answered from the cache: each is
	// dropped and checked afresh, against the key as the store now has it,
	// the next time it is sent.
	forgotten atomic.Bool
}

type cachedSecret struct {
	plain     []byte
	mh        uint64 // maphash of plain under the verifier's seed: its key in byHash
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
		seed:           maphash.MakeSeed(),
		byID:           map[string]*entry{},
		byHash:         map[uint64]*entry{},
		tokens:         map[string]*verifiedToken{},
		unknownSecrets: newMissCache(maxUnknown),
		unknownForeign: newMissCache(maxUnknownForeign),
		unknownIDs:     newMissCache(maxUnknown),
	}
	for _, opt := range opts {
		opt(v)
	}
	return v
}

// Keyring returns the keyring the verifier hashes and opens secrets with,
// for the watcher that keeps it in step with master-key rotations
// (core.WatchMasterKey).
func (v *Verifier) Keyring() *secret.Keyring { return v.keys }

// Purge forgets every cached key and every remembered unknown credential.
// Call it when any key may have changed, such as after a master-key
// rotation; for changes to known keys, Forget and Added keep the rest of the
// cache warm.
func (v *Verifier) Purge() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.gen++
	for _, e := range v.byID {
		e.forgotten.Store(true)
	}
	clear(v.byID)
	clear(v.byHash)
	clear(v.tokens)
	v.unknownSecrets.reset()
	v.unknownForeign.reset()
	v.unknownIDs.reset()
}

// Forget drops what the verifier knows about the keys with these ids: their
// cache entries, every cached JWT signed with them (each is checked afresh
// the next time it is sent), and any memory that the id named no key. Other
// keys stay warm. Call it after a change to these keys is committed: an
// update, a roll, a delete (with every key a cascade deleted), and also the
// creation of a key, with its id, since an id may have been tried before it
// existed. A load of one of these keys that began before Forget is not
// cached.
func (v *Verifier) Forget(keyIDs ...string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.gen++
	for _, id := range keyIDs {
		if e := v.byID[id]; e != nil {
			delete(v.byID, id)
			for _, s := range e.secrets {
				if v.byHash[s.mh] == e {
					delete(v.byHash, s.mh)
				}
			}
			e.forgotten.Store(true)
		}
		v.unknownIDs.remove(maphash.String(v.seed, id), id)
	}
	v.unknownForeign.reset()
}

// Added tells the verifier that secrets with these hashes (the store's
// latchkey.Secret.Hash) now exist: if one was sent before and remembered as
// matching no key, it no longer is. Call it after a key is created or
// rolled, once the change is committed. A lookup of one of these secrets
// that began before Added is not remembered as unknown.
func (v *Verifier) Added(secretHashes ...[]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.gen++
	for _, h := range secretHashes {
		if len(h) == sha256.Size {
			v.unknownSecrets.removeStoreHash([sha256.Size]byte(h))
		}
	}
	v.unknownForeign.reset()
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
	// ErrMasterKeyRetired is returned, as unavailable (503), by a server
	// whose master key a rotation retired without it hearing of it (it was
	// frozen through the whole rotation): it cannot tell a valid secret
	// from an unknown one any more, and must not call either invalid.
	ErrMasterKeyRetired = &latchkey.Error{Code: latchkey.EUNAVAILABLE,
		Message: "this server's master key was retired by a rotation; it must be restarted with the new master key"}
	// ErrKeyDisabled is returned, like ErrKeyExpired, only once the
	// credential is proven (the secret matched, or the JWT's signature
	// checked out), so it tells nothing to whoever lacks the secret. A key
	// both expired and disabled is reported expired: enabling it would not
	// help.
	ErrKeyDisabled = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "API key is disabled"}

	// The JWTPolicy errors. They are returned only for a token whose
	// signature checked out, so they tell nothing to whoever lacks the
	// secret, and they tell a client that has it what to change.
	ErrJWTMissingExp     = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT body: exp is required"}
	ErrJWTMissingIat     = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT body: iat is required"}
	ErrJWTIssuedInFuture = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT: iat is in the future"}
	ErrJWTTooOld         = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Invalid JWT: token is older than the maximum age allowed"}
)

// errCold is how the cache-only checks say that the cache cannot answer
// and the store must be asked. It never reaches a caller.
var errCold = errors.New("auth: not cached")

// Headers verifies whichever credential a request carries: apiKey (the
// value of a REB-APIKEY or X-API-Key header) if set, else the Authorization
// header, which may also hold a bare secret with no scheme, as Rebilly's
// publishable keys are sent.
func (v *Verifier) Headers(ctx context.Context, apiKey, authorization string) (*latchkey.Principal, error) {
	if apiKey = strings.TrimSpace(apiKey); apiKey != "" {
		return v.Secret(ctx, apiKey)
	}
	if raw := strings.TrimSpace(authorization); raw != "" {
		if p, err := v.warmSecret(raw); err != errCold {
			return p, err
		}
		if couldBeSecret(raw) {
			return v.coldSecret(ctx, raw)
		}
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
		// Decoded on the stack, and looked up without converting to
		// strings, so that a warm Basic check allocates nothing.
		var buf [maxBasicDecoded]byte
		dst := buf[:]
		if n := base64.StdEncoding.DecodedLen(len(rest)); n > len(dst) {
			dst = make([]byte, n)
		}
		n, err := base64.StdEncoding.Decode(dst, []byte(rest))
		if err != nil {
			return nil, ErrMalformed
		}
		raw := dst[:n]
		i := bytes.IndexByte(raw, ':')
		if i <= 0 { // no colon, or an empty id
			return nil, ErrMalformed
		}
		return v.basic(ctx, raw[:i], raw[i+1:])
	case strings.EqualFold(scheme, "Bearer"):
		if rest == "" {
			return nil, ErrMalformed
		}
		if p, err := v.warmSecret(rest); err != errCold {
			return p, err
		}
		if couldBeSecret(rest) {
			return v.coldSecret(ctx, rest)
		}
		return v.JWT(ctx, rest)
	default:
		return nil, ErrNotACredential
	}
}

// basic is Basic for credentials still in the decoding buffer: a warm key
// is checked without copying them.
func (v *Verifier) basic(ctx context.Context, id, sec []byte) (*latchkey.Principal, error) {
	now := v.now()
	if !v.answers(now) {
		return v.Basic(ctx, string(id), string(sec))
	}
	h := maphash.Bytes(v.seed, id)
	v.mu.RLock()
	e := v.byID[string(id)]
	unknown := e == nil && v.unknownIDs.has(h, string(id))
	v.mu.RUnlock()
	switch {
	case unknown:
		v.hits.Add(1)
		return nil, ErrInvalid
	case e == nil:
		return v.Basic(ctx, string(id), string(sec))
	}
	v.hits.Add(1)
	p, err := v.checkBasic(e, sec, now)
	if err == ErrInvalid && e.imported {
		return v.adoptByID(ctx, string(id), string(sec))
	}
	return p, err
}

// Basic verifies a key id and secret.
func (v *Verifier) Basic(ctx context.Context, id, sec string) (*latchkey.Principal, error) {
	now := v.now()
	var e *entry
	if v.answers(now) {
		v.mu.RLock()
		e = v.byID[id]
		v.mu.RUnlock()
	}
	if e == nil {
		// Only a secret that could be real is worth a lookup. A warm key
		// needs no such check: a malformed secret cannot equal its secrets.
		if !couldBeSecret(sec) {
			return nil, ErrInvalid
		}
		var err error
		if e, err = v.byKeyID(ctx, id); err != nil {
			return nil, err
		}
		now = v.now()
	} else {
		v.hits.Add(1)
	}
	p, err := v.checkBasic(e, []byte(sec), now)
	if err == ErrInvalid && e.imported {
		return v.adoptByID(ctx, id, sec)
	}
	return p, err
}

// checkBasic checks a presented secret against a key's.
func (v *Verifier) checkBasic(e *entry, sec []byte, now time.Time) (*latchkey.Principal, error) {
	if found, live := e.match(sec, now); !found || !live {
		return nil, ErrInvalid
	}
	// Only now, with the secret proven, may the caller learn the key's state.
	return e.admit(now)
}

// Secret verifies a bare secret, found by its hash.
func (v *Verifier) Secret(ctx context.Context, sec string) (*latchkey.Principal, error) {
	if p, err := v.warmSecret(sec); err != errCold {
		return p, err
	}
	if !couldBeSecret(sec) {
		return nil, ErrInvalid
	}
	return v.coldSecret(ctx, sec)
}

// warmSecret answers for a bare secret from the caches alone: the key it
// belongs to, or the memory that it matched none. It returns errCold when
// they do not know it. Anything longer than a secret can be is cold at once,
// so that JWTs pay nothing here.
func (v *Verifier) warmSecret(sec string) (*latchkey.Principal, error) {
	if sec == "" || len(sec) > maxSecretLen {
		return nil, errCold
	}
	now := v.now()
	if !v.answers(now) {
		return nil, errCold
	}
	h := maphash.String(v.seed, sec)
	v.mu.RLock()
	e := v.byHash[h]
	unknown := e == nil && (v.unknownSecrets.has(h, sec) || v.unknownForeign.has(h, sec))
	v.mu.RUnlock()
	switch {
	case unknown:
		v.hits.Add(1)
		return nil, ErrInvalid
	case e == nil:
		return nil, errCold
	}
	found, live := e.match([]byte(sec), now)
	switch {
	case !found:
		// Another key's secret with the same 64-bit hash: the store knows.
		return nil, errCold
	case !live:
		v.hits.Add(1)
		return nil, ErrInvalid // a rolled secret whose grace period ended
	}
	v.hits.Add(1)
	return e.admit(now)
}

// coldSecret looks a well-formed bare secret up in the store by its HMAC,
// and caches what it finds, or that it found nothing.
func (v *Verifier) coldSecret(ctx context.Context, sec string) (*latchkey.Principal, error) {
	v.mu.RLock()
	gen := v.gen
	v.mu.RUnlock()
	v.misses.Add(1)
	k, sum, err := v.lookupSecret(ctx, sec)
	if latchkey.ErrorCode(err) == latchkey.ENOTFOUND {
		if v.keys.Retired() {
			return nil, ErrMasterKeyRetired
		}
		// Not Latchkey's own: it may be the plaintext of a key imported
		// as its SHA-256.
		if k, err = v.store.KeyByImportedDigest(ctx, digestOf(sec)); err == nil {
			return v.adopt(ctx, k, sec)
		}
		if latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
			return nil, err
		}
		if secret.WellFormed(sec) {
			storeHash := [sha256.Size]byte(sum)
			v.rememberUnknown(&v.unknownSecrets, maphash.String(v.seed, sec), sec, &storeHash, gen)
		} else {
			v.rememberUnknown(&v.unknownForeign, maphash.String(v.seed, sec), sec, nil, gen)
		}
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	// The store matched the hash; this confirms it against the plaintext.
	return v.checkLoaded(k, gen, sec)
}

// checkLoaded caches a key just read from the store (as of gen) and checks
// sec against its secrets: that one matches and is still within its grace
// period, and then the key's own state.
func (v *Verifier) checkLoaded(k *latchkey.Key, gen uint64, sec string) (*latchkey.Principal, error) {
	e, err := v.remember(k, gen)
	if err != nil {
		return nil, err
	}
	now := v.now()
	if found, live := e.match([]byte(sec), now); !found || !live {
		return nil, ErrInvalid
	}
	return e.admit(now)
}

// lookupSecret finds the key a secret belongs to by the secret's hash
// under each master key of the keyring: during a master-key rotation, under
// the current key and then under the next, the order in which a rotation
// moves stored secrets, so that one moved between the two reads is found
// by the second. It returns the hash new secrets are stored under, for the
// memory of unknown secrets, and ENOTFOUND if no key has the secret.
//
// Before it calls a secret unknown, it makes sure the keyring was in step
// with the store when it looked (secret.Keyring.Sync): if the keyring moved
// meanwhile, or was stale and a refresh moved it (a rotation this server
// had not heard of yet, as after a pause), it looks again with the new
// hashes. A keyring that is fresh and still lacks a rotation's next key
// cannot miss a moved secret: secrets move only once every server has
// had time to learn the key (see core's comment on rotation).
func (v *Verifier) lookupSecret(ctx context.Context, sec string) (*latchkey.Key, []byte, error) {
	for attempt := 1; ; attempt++ {
		ver := v.keys.Version()
		hashes, write := v.keys.LookupHashes(sec)
		var err error
		for _, h := range hashes {
			var k *latchkey.Key
			if k, err = v.store.KeyBySecretHash(ctx, h); latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
				return k, write, err
			}
		}
		if attempt == 3 { // the keyring moved twice during two lookups: the rotation is over
			return nil, write, err
		}
		changed, serr := v.keys.Sync(ctx, ver)
		if serr != nil {
			// Whether the secret moved cannot be told: fail closed.
			if latchkey.ErrorCode(serr) != latchkey.EUNAVAILABLE {
				serr = latchkey.Unavailable(serr)
			}
			return nil, write, serr
		}
		if !changed {
			return nil, write, err
		}
	}
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
		if now := v.now(); !vt.entry.forgotten.Load() && v.answers(now) {
			v.hits.Add(1)
			return vt.check(now)
		}
		// Its key changed since: check the token afresh, against the key
		// as it is now.
		v.dropToken(token, vt)
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
		// The library checks exp only once the signature holds, so the
		// token proved its key: say which, as for an expired key.
		return e.principal, ErrJWTExpired
	case err != nil:
		return nil, ErrJWTInvalid
	}
	if c.Scope != string(e.principal.Scope) {
		return nil, ErrJWTScope
	}
	now := v.now()
	if err := v.checkPolicy(&c, now); err != nil {
		return e.principal, err
	}
	// The signature proved the key: its principal comes with the refusal
	// (see entry.admit).
	if e.expired(now) {
		return e.principal, ErrKeyExpired
	}
	if e.principal.Policy.Disabled {
		return e.principal, ErrKeyDisabled
	}
	v.rememberToken(token, e, &c, gen)
	return e.principal, nil
}

// check answers for a token from the cache, as a fresh check would.
func (vt *verifiedToken) check(now time.Time) (*latchkey.Principal, error) {
	p := vt.entry.principal
	switch {
	case vt.entry.expired(now):
		return p, ErrKeyExpired
	case !vt.until.IsZero() && !now.Before(vt.until):
		return p, vt.ended
	case p.Policy.Disabled:
		// Forget drops a key's tokens when it is disabled; this holds even
		// if an entry of a disabled key were ever cached.
		return p, ErrKeyDisabled
	}
	return p, nil
}

// dropToken removes a cached token whose key was forgotten, unless it was
// already replaced.
func (v *Verifier) dropToken(token string, vt *verifiedToken) {
	v.mu.Lock()
	if v.tokens[token] == vt {
		delete(v.tokens, token)
	}
	v.mu.Unlock()
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

// rememberToken caches a verified token unless the cache changed since its
// check began. The entry ends at the first bound on the token's validity,
// so a cached token stops working when a fresh check would refuse it.
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
	if v.gen == gen && !e.forgotten.Load() && v.fresh(v.now()) {
		if len(v.tokens) >= maxCachedTokens {
			clear(v.tokens)
		}
		v.tokens[token] = vt
	}
	v.mu.Unlock()
}

// byKeyID returns the cache entry for a key id, loading it on a miss. An id
// the store does not know is remembered as unknown.
func (v *Verifier) byKeyID(ctx context.Context, id string) (*entry, error) {
	h := maphash.String(v.seed, id)
	fresh := v.answers(v.now())
	v.mu.RLock()
	e := v.byID[id]
	unknown := e == nil && v.unknownIDs.has(h, id)
	gen := v.gen
	v.mu.RUnlock()
	switch {
	case fresh && e != nil:
		v.hits.Add(1)
		return e, nil
	case fresh && unknown:
		v.hits.Add(1)
		return nil, ErrInvalid
	}
	v.misses.Add(1)
	k, err := v.store.Key(ctx, id)
	if latchkey.ErrorCode(err) == latchkey.ENOTFOUND {
		if len(id) <= maxUnknownID {
			v.rememberUnknown(&v.unknownIDs, h, id, nil, gen)
		}
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	return v.remember(k, gen)
}

// remember builds the cache entry for a freshly loaded key and caches it,
// unless the cache changed since the load began (the key may have changed or
// gone). The entry is returned either way, to answer the request that
// loaded it.
func (v *Verifier) remember(k *latchkey.Key, gen uint64) (*entry, error) {
	e := &entry{principal: latchkey.PrincipalOf(k), expiresAt: k.Policy.ExpiresAt, imported: k.Imported != nil}
	for _, s := range k.Secrets {
		// Open refreshes a stale keyring before it gives up (see
		// lookupSecret): the secret may have moved to a rotation's next key.
		plain, err := v.keys.Open(s.Sealed, secret.KeyRecord(k.ID))
		if err != nil {
			if v.keys.Retired() {
				return nil, ErrMasterKeyRetired
			}
			return nil, err
		}
		e.secrets = append(e.secrets, cachedSecret{plain: plain, mh: maphash.Bytes(v.seed, plain), expiresAt: s.ExpiresAt})
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gen != gen || !v.fresh(v.now()) {
		// Not cached past TrustUntil either: an older entry of the same key
		// may still be there, and could not be replaced without dropping
		// the tokens cached against it; the change that makes it stale is
		// forgotten once the cache is trusted again.
		return e, nil
	}
	if old := v.byID[k.ID]; old != nil {
		// A concurrent load of the same key won. Both read the key as it is
		// in this generation; keeping the first keeps the tokens cached
		// against it.
		return old, nil
	}
	v.byID[k.ID] = e
	for _, s := range e.secrets {
		// On a collision with another key's secret, the first stays; this
		// one is then found through the store each time (see byHash).
		if _, taken := v.byHash[s.mh]; !taken {
			v.byHash[s.mh] = e
		}
	}
	// The key exists, so neither its id nor its secrets are unknown. The
	// core's Forget and Added calls already say so; this keeps a missed
	// call from refusing a real key until the next Purge.
	v.unknownIDs.remove(maphash.String(v.seed, k.ID), k.ID)
	for _, s := range k.Secrets {
		if len(s.Hash) == sha256.Size {
			v.unknownSecrets.removeStoreHash([sha256.Size]byte(s.Hash))
		}
	}
	return e, nil
}

// rememberUnknown remembers that value (a secret, or a key id) matched no
// key, unless the cache changed since the lookup began: a key created in
// between may have it.
func (v *Verifier) rememberUnknown(c *missCache, h uint64, value string, storeHash *[sha256.Size]byte, gen uint64) {
	// A copy, so that the remembered value does not pin the request's
	// header in memory.
	value = strings.Clone(value)
	v.mu.Lock()
	if v.gen == gen && v.fresh(v.now()) {
		c.add(h, value, storeHash)
	}
	v.mu.Unlock()
}

// match compares sec with each of the key's secrets, each comparison in
// constant time and all of them made, so that timing does not tell whether
// or which one matched. (Lengths are not hidden; a secret's length follows
// from its public prefix.) found reports a match, and live whether the
// matching secret is still within its grace period.
func (e *entry) match(sec []byte, now time.Time) (found, live bool) {
	for i := range e.secrets {
		s := &e.secrets[i]
		if subtle.ConstantTimeCompare(s.plain, sec) == 1 {
			found, live = true, s.live(now)
		}
	}
	return found, live
}

// admit returns the key's principal, and an error if the key may not
// authenticate now. Call it only once the credential is proven: the
// principal comes with ErrKeyExpired and ErrKeyDisabled too, so that the
// verify API can report on a key whose holder proved it.
func (e *entry) admit(now time.Time) (*latchkey.Principal, error) {
	switch {
	case e.expired(now):
		return e.principal, ErrKeyExpired
	case e.principal.Policy.Disabled:
		return e.principal, ErrKeyDisabled
	}
	return e.principal, nil
}

func (e *entry) expired(now time.Time) bool {
	return e.expiresAt != nil && !now.Before(*e.expiresAt)
}

func (s *cachedSecret) live(now time.Time) bool {
	return s.expiresAt == nil || now.Before(*s.expiresAt)
}

// missCache is a bounded set of values that matched no key, with their
// maphash. It is a ring: when full, each new value takes the slot of the
// oldest (first in, first out; a hit does not renew a value). So its memory
// is fixed, and a value sent again is answered from it until maxUnknown
// other values have been added since. Its methods are called with the
// verifier's lock held.
type missCache struct {
	max  int
	ring []miss
	next int // the slot the next value takes, once the ring is full
	// index finds a value's slot by its maphash; a value whose hash
	// collides with another's replaces it.
	index map[uint64]int32
	// byStoreHash finds a secret's slot by the store's hash of it, which
	// is all that Added is given.
	byStoreHash map[[sha256.Size]byte]int32
}

type miss struct {
	value        string // "" marks a free slot
	h            uint64
	storeHash    [sha256.Size]byte
	hasStoreHash bool
}

func newMissCache(max int) missCache {
	return missCache{max: max, index: map[uint64]int32{}, byStoreHash: map[[sha256.Size]byte]int32{}}
}

func (c *missCache) has(h uint64, value string) bool {
	i, ok := c.index[h]
	return ok && c.ring[i].value == value
}

func (c *missCache) add(h uint64, value string, storeHash *[sha256.Size]byte) {
	if i, ok := c.index[h]; ok {
		c.removeAt(int(i))
	}
	var i int
	if len(c.ring) < c.max {
		c.ring = append(c.ring, miss{})
		i = len(c.ring) - 1
	} else {
		i = c.next
		c.next = (c.next + 1) % c.max
		c.removeAt(i) // evict the oldest
	}
	c.ring[i] = miss{value: value, h: h}
	c.index[h] = int32(i)
	if storeHash != nil {
		c.ring[i].storeHash, c.ring[i].hasStoreHash = *storeHash, true
		c.byStoreHash[*storeHash] = int32(i)
	}
}

func (c *missCache) remove(h uint64, value string) {
	if i, ok := c.index[h]; ok && c.ring[i].value == value {
		c.removeAt(int(i))
	}
}

func (c *missCache) removeStoreHash(storeHash [sha256.Size]byte) {
	if i, ok := c.byStoreHash[storeHash]; ok {
		c.removeAt(int(i))
	}
}

func (c *missCache) removeAt(i int) {
	m := &c.ring[i]
	if m.value == "" {
		return
	}
	if j, ok := c.index[m.h]; ok && int(j) == i {
		delete(c.index, m.h)
	}
	if m.hasStoreHash {
		if j, ok := c.byStoreHash[m.storeHash]; ok && int(j) == i {
			delete(c.byStoreHash, m.storeHash)
		}
	}
	*m = miss{}
}

func (c *missCache) reset() {
	clear(c.index)
	clear(c.byStoreHash)
	clear(c.ring)
	c.ring = c.ring[:0]
	c.next = 0
}
