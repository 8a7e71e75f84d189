package sdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// maxCredentialLen bounds the credential the middleware relays. Secrets are
// under 100 characters and JWTs a few hundred; anything longer names no key
// and is refused without asking Latchkey.
const maxCredentialLen = 8 << 10

// MiddlewareOptions configures Middleware.
type MiddlewareOptions struct {
	// Apps, if not empty, admits only keys held by these apps (or their
	// integrations): keys made for another of your APIs are refused.
	Apps []string
	// Permissions must all be granted to the key, on every request.
	Permissions []string
	// PermissionsFunc, if set, is used instead of Permissions: it returns
	// the permissions one request needs, for per-route checks. It runs
	// before anything is verified, so it must not trust the request beyond
	// its method and path.
	PermissionsFunc func(r *http.Request) []string
	// ClientIP returns the address the request came from, which Latchkey
	// checks against the key's allowed addresses. The default is the host
	// of r.RemoteAddr: the connection's peer. Behind a reverse proxy or a
	// load balancer that is the proxy, not your client, so you must supply
	// a function that reads the address your proxy passes on, and only
	// from your proxy (a client can send any X-Forwarded-For it likes).
	// An empty or unparsable answer means unknown: a key with allowed
	// addresses is then refused.
	ClientIP func(r *http.Request) string
	// Cache, if not nil and its TTL is positive, keeps VALID verdicts in
	// this process for a while. Read CacheOptions before turning it on.
	Cache *CacheOptions
	// Realm is the realm in WWW-Authenticate; the default is "api".
	Realm string
	// OnError is called when Latchkey could not give a verdict (it is
	// unreachable, or refused the middleware's own key), just before the
	// request is answered 503. The error carries no secret. The default
	// logs it with slog.Default at level ERROR.
	OnError func(r *http.Request, err error)
}

// CacheOptions configures the middleware's local cache of VALID verdicts.
//
// The trade-off: a cached verdict is not asked again until it expires, so
// for up to TTL after a key is revoked, disabled, expired, restricted or
// rolled, it keeps working on this process; and a request answered from the
// cache does not count against the key's rate limit or in its usage. In
// exchange, a busy key costs one call to Latchkey per TTL (per distinct
// credential, permissions, apps and client address) instead of one per
// request. Only VALID verdicts are cached, never a refusal, and an entry
// never outlives the key's own expiry.
//
// Entries are keyed by an HMAC-SHA256, under a random key made when the
// middleware is, of the credential, the permissions, the apps and the client
// address: the cache never holds a credential.
type CacheOptions struct {
	// TTL is how long a verdict is kept: 0 (the default) turns the cache
	// off; more than MaxCacheTTL is taken as MaxCacheTTL.
	TTL time.Duration
	// MaxEntries bounds the cache; 0 means 10,000. When it is full,
	// expired entries go first, then arbitrary ones.
	MaxEntries int

	// now is the cache's clock: time.Now unless a test sets another.
	now func() time.Time
}

// MaxCacheTTL is the longest a verdict may be cached.
const MaxCacheTTL = 60 * time.Second

// defaultCacheEntries is the cache's bound when MaxEntries is 0.
const defaultCacheEntries = 10_000

type contextKey struct{}

// FromContext returns the verdict Middleware put in a request's context:
// who the key is (KeyID, Owner, Name), what it may do (Permissions) and its
// Metadata. ok is false outside the middleware. Treat it as read-only.
func FromContext(ctx context.Context) (res *VerifyResult, ok bool) {
	res, ok = ctx.Value(contextKey{}).(*VerifyResult)
	return res, ok && res != nil
}

// NewContext returns ctx carrying res, as Middleware passes it to the next
// handler: for testing your handlers without Latchkey.
func NewContext(ctx context.Context, res *VerifyResult) context.Context {
	return context.WithValue(ctx, contextKey{}, res)
}

// CredentialFromRequest returns the credential a request carries, the way
// Latchkey itself reads one: the REB-APIKEY header, else X-API-Key, else
// Authorization — "Bearer <secret or JWT>", "Basic base64(keyId:secret)"
// (as "keyId:secret"), or a bare secret. "" if it carries none, or if it
// is ambiguous, as Latchkey refuses it: a credential header sent twice, or
// both REB-APIKEY and X-API-Key (which key counted would depend on header
// order, which proxies and servers do not all read alike).
func CredentialFromRequest(r *http.Request) string {
	reb, xKey, authz := r.Header.Values("REB-APIKEY"), r.Header.Values("X-API-Key"), r.Header.Values("Authorization")
	if len(reb) > 1 || len(xKey) > 1 || len(authz) > 1 || (len(reb) > 0 && len(xKey) > 0) {
		return ""
	}
	for _, v := range append(reb, xKey...) {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	value := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, found := strings.Cut(value, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case !found:
		return value
	case strings.EqualFold(scheme, "Bearer"):
		return rest
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || !strings.Contains(string(raw), ":") {
			return ""
		}
		return string(raw)
	}
	return ""
}

// Middleware returns net/http middleware that lets a request through only
// with a credential Latchkey finds VALID for opts. It reads the credential
// as CredentialFromRequest does, asks client.Verify (client's key needs the
// VerifyKey permission), and then:
//
//   - VALID: the verdict goes into the request's context (FromContext) and
//     next serves the request.
//   - no credential, NOT_FOUND, EXPIRED, DISABLED: 401 with
//     WWW-Authenticate.
//   - INSUFFICIENT_PERMISSIONS, IP_NOT_ALLOWED: 403.
//   - RATE_LIMITED: 429 with Retry-After.
//   - no verdict (Latchkey unreachable, timing out, or refusing client's own
//     key): 503. The middleware fails closed: while Latchkey cannot be
//     asked, no request gets through, except those the cache (if on)
//     already vouches for.
//
// Refusals carry a small JSON body,
// {"error":{"code":"unauthorized","message":"…","reason":"EXPIRED"}}, and
// never reach next. The credential is never logged or echoed.
func Middleware(client *Client, opts MiddlewareOptions) func(http.Handler) http.Handler {
	if client == nil {
		panic("sdk.Middleware: nil client")
	}
	m := &middleware{client: client, opts: opts, realm: opts.Realm}
	if m.realm == "" {
		m.realm = "api"
	}
	if m.opts.ClientIP == nil {
		m.opts.ClientIP = remoteHost
	}
	if m.opts.OnError == nil {
		m.opts.OnError = func(r *http.Request, err error) {
			slog.Default().Error("latchkey: cannot verify an API key; refusing the request",
				"method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	if c := opts.Cache; c != nil && c.TTL > 0 {
		m.cache = newVerdictCache(*c)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.serve(w, r, next)
		})
	}
}

type middleware struct {
	client *Client
	opts   MiddlewareOptions
	realm  string
	cache  *verdictCache // nil when off
}

func (m *middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	cred := CredentialFromRequest(r)
	if cred == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+m.realm+`"`)
		writeRefusal(w, http.StatusUnauthorized, "unauthorized", "An API key is required.", "")
		return
	}
	if len(cred) > maxCredentialLen {
		m.refuse(w, &VerifyResult{Code: CodeNotFound})
		return
	}
	perms := m.opts.Permissions
	if m.opts.PermissionsFunc != nil {
		perms = m.opts.PermissionsFunc(r)
	}
	ip := normalizeIP(m.opts.ClientIP(r))

	var cacheKey [32]byte
	if m.cache != nil {
		cacheKey = m.cache.key(cred, ip, m.opts.Apps, perms)
		if res, ok := m.cache.get(cacheKey); ok {
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), res)))
			return
		}
	}
	res, err := m.client.Verify(r.Context(), VerifyRequest{Key: cred, Apps: m.opts.Apps, Permissions: perms, IP: ip})
	if err != nil {
		if r.Context().Err() == nil { // not merely a client that went away
			m.opts.OnError(r, err)
		}
		writeRefusal(w, http.StatusServiceUnavailable, "unavailable", "The API key cannot be verified right now.", "")
		return
	}
	if res.Code != CodeValid || !res.Valid {
		m.refuse(w, res)
		return
	}
	if m.cache != nil {
		m.cache.put(cacheKey, res)
	}
	next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), res)))
}

// refuse answers a verdict other than VALID.
func (m *middleware) refuse(w http.ResponseWriter, res *VerifyResult) {
	h := w.Header()
	reason := string(res.Code)
	switch res.Code {
	case CodeNotFound, CodeExpired, CodeDisabled:
		h.Set("WWW-Authenticate", `Bearer realm="`+m.realm+`", error="invalid_token"`)
		msg := map[Code]string{
			CodeNotFound: "The API key is not valid.",
			CodeExpired:  "The API key has expired.",
			CodeDisabled: "The API key is disabled.",
		}[res.Code]
		writeRefusal(w, http.StatusUnauthorized, "unauthorized", msg, reason)
	case CodeRateLimited:
		retry := int64(1)
		if rl := res.RateLimit; rl != nil {
			h.Set("RateLimit-Limit", strconv.Itoa(rl.Limit))
			h.Set("RateLimit-Remaining", strconv.Itoa(rl.Remaining))
			if !rl.Reset.IsZero() {
				retry = max(ceilSeconds(time.Until(rl.Reset)), 1)
			}
		}
		h.Set("Retry-After", strconv.FormatInt(retry, 10))
		writeRefusal(w, http.StatusTooManyRequests, "rate_limited", "The API key's rate limit is exceeded; retry later.", reason)
	case CodeIPNotAllowed:
		writeRefusal(w, http.StatusForbidden, "forbidden", "The API key may not be used from this address.", reason)
	case CodeInsufficientPermissions:
		writeRefusal(w, http.StatusForbidden, "forbidden", "The API key lacks a permission this request needs.", reason)
	default: // a verdict this SDK does not know yet: refuse
		writeRefusal(w, http.StatusForbidden, "forbidden", "The API key is refused.", reason)
	}
}

// ceilSeconds rounds a duration up to whole seconds, never below 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

type refusalBody struct {
	Error refusalJSON `json:"error"`
}

type refusalJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

func writeRefusal(w http.ResponseWriter, status int, code, message, reason string) {
	b, _ := json.Marshal(refusalBody{refusalJSON{Code: code, Message: message, Reason: reason}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// remoteHost is the default ClientIP: the connection's peer.
func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// normalizeIP returns ip in the form Latchkey takes (no zone, IPv4-mapped
// IPv6 as IPv4), or "" if it is no address.
func normalizeIP(ip string) string {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return ""
	}
	return addr.WithZone("").Unmap().String()
}
