package web

import (
	"encoding/base64"
	"net/http"
	"net/netip"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
)

// Config is what the surfaces need to know of the deployment.
type Config struct {
	// TrustedProxies are the peers whose forwarding headers are believed;
	// from anyone else they are ignored.
	TrustedProxies []netip.Prefix
	// ForwardedHeader is the one header a trusted proxy's client address is
	// read from; "" means X-Forwarded-For.
	ForwardedHeader ForwardedHeader
	// PublicURL, when set, is the base of every link and Location header
	// (scheme, host and any path prefix, no trailing slash), whatever the
	// request says.
	PublicURL string
	// AllowPrivateIPs lets keys be restricted to private, loopback and other
	// non-public addresses, for internal deployments.
	AllowPrivateIPs bool
	// FailedAuth throttles failed authentications per client address; nil
	// throttles nothing.
	FailedAuth *Throttle
	// Operations are the operation ids every surface serves: the
	// permissions of Latchkey's own API. A key's permission that differs
	// from one only in case or punctuation is refused with a hint (see
	// Lookalike) rather than kept as a permission that grants nothing. Nil
	// checks nothing.
	Operations *OperationNames
}

// OperationNames are the operation ids of Latchkey's API, indexed by their
// folded form (lower case, without "_", "-", "." and ":").
type OperationNames struct{ byFold map[string]string }

// NewOperationNames indexes ids once, so that a key's permissions are
// checked with one map lookup each.
func NewOperationNames(ids []string) *OperationNames {
	o := &OperationNames{byFold: make(map[string]string, len(ids))}
	for _, id := range ids {
		o.byFold[foldName(id)] = id
	}
	return o
}

var nameFolder = strings.NewReplacer("_", "", "-", "", ".", "", ":", "")

func foldName(s string) string { return strings.ToLower(nameFolder.Replace(s)) }

// Lookalike returns the operation perm was most likely meant to name
// ("listkeys", "list_keys" and "LIST-KEYS" all mean ListKeys), if it is not
// that operation's exact name.
func (c Config) Lookalike(perm string) (string, bool) {
	if c.Operations == nil {
		return "", false
	}
	op, ok := c.Operations.byFold[foldName(perm)]
	return op, ok && op != perm
}

// Gate authenticates a request and applies the key's policy to operationID
// on organizationID ("" for none). Every credential form reaches the same
// check: a secret in REB-APIKEY or X-API-Key (which win over Authorization,
// as the official Rebilly SDK sends both after setSessionToken), a bare
// secret in Authorization (a publishable key, as Rebilly sends it), or
// Authorization: Basic or Bearer.
//
// A refused credential counts against the client's address (see Throttle);
// past the threshold, Gate returns ETHROTTLED instead of EUNAUTHORIZED.
// What was attempted, and by which key, is noted for the audit log.
func Gate(r *http.Request, cfg Config, v *auth.Verifier, operationID, organizationID string) (*latchkey.Principal, error) {
	noteAttempt(r, operationID)
	p, err := credential(r, v)
	if err != nil {
		return nil, cfg.refuse(r, err)
	}
	noteActor(r, p)
	return p, core.Authorize(p, operationID, organizationID, cfg.ClientIP(r))
}

// Authenticate is Gate for a route that any key may call whatever its
// permissions, such as one that describes the calling key: the same
// credentials, and the same refusal of publishable keys and of addresses
// outside allowedIps, but no ACL check, because the route grants nothing.
// operationID names the route, for the audit log.
func Authenticate(r *http.Request, cfg Config, v *auth.Verifier, operationID string) (*latchkey.Principal, error) {
	noteAttempt(r, operationID)
	p, err := credential(r, v)
	if err != nil {
		return nil, cfg.refuse(r, err)
	}
	noteActor(r, p)
	return p, core.AuthorizeAny(p, cfg.ClientIP(r))
}

// credential verifies whichever credential r carries (see Gate) and records
// the key id for the request log.
func credential(r *http.Request, v *auth.Verifier) (*latchkey.Principal, error) {
	apiKey, authorization, ok := credentialHeaders(r.Header)
	if !ok {
		return nil, ErrAmbiguousCredentials
	}
	p, err := v.Headers(r.Context(), apiKey, authorization)
	if err != nil {
		return nil, err
	}
	SetKeyID(r.Context(), p.KeyID)
	return p, nil
}

// ErrAmbiguousCredentials refuses a request that carries more than one
// credential where only one can count (see credentialHeaders).
var ErrAmbiguousCredentials = &latchkey.Error{Code: latchkey.EUNAUTHORIZED,
	Message: "Ambiguous credentials: send one Authorization header, or one REB-APIKEY or X-API-Key header"}

// credentialHeaders returns the value of the API-key header (REB-APIKEY or
// X-API-Key) and of Authorization, or ok false when the request is
// ambiguous: one of these headers sent more than once, or both REB-APIKEY
// and X-API-Key, whatever their values (equal ones too) and order. Which of
// two credentials counted would otherwise depend on header order, which
// proxies, client libraries and servers do not all read alike: a gateway
// or log could attribute the request to one key while another is checked.
// One API-key header beside one Authorization stays allowed, the API-key
// header winning: the official Rebilly SDK sends both after
// setSessionToken. Names are in canonical form, as net/http stores a
// request's headers, so "x-api-key" and "X-API-Key" lines count as two.
func credentialHeaders(h http.Header) (apiKey, authorization string, ok bool) {
	reb, xKey, authz := h["Reb-Apikey"], h["X-Api-Key"], h["Authorization"]
	if len(reb) > 1 || len(xKey) > 1 || len(authz) > 1 || (len(reb) > 0 && len(xKey) > 0) {
		return "", "", false
	}
	switch {
	case len(reb) == 1:
		apiKey = reb[0]
	case len(xKey) == 1:
		apiKey = xKey[0]
	}
	if len(authz) == 1 {
		authorization = authz[0]
	}
	return apiKey, authorization, true
}

// FirstHeader is h.Get(name) for a name already in canonical form (as
// net/http stores the headers of a request it reads), without the cost of
// canonicalizing it again: credentials are read on every request.
func FirstHeader(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// CredentialOf returns the credential a request carries, in the one form
// the verify API takes: a secret (REB-APIKEY, X-API-Key, a bare secret in
// Authorization, or Bearer <secret>), a JWT (Bearer <JWT>), or
// "keyId:secret" (Basic). "" if it carries none that could be one, or if
// its credential headers are ambiguous (see credentialHeaders), so that a
// gateway's client is refused then as on every other route.
func CredentialOf(r *http.Request) string {
	apiKey, authorization, ok := credentialHeaders(r.Header)
	if !ok {
		return ""
	}
	if v := strings.TrimSpace(apiKey); v != "" {
		return v
	}
	value := strings.TrimSpace(authorization)
	scheme, rest, found := strings.Cut(value, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case !found:
		return value // a bare secret, as Rebilly's publishable keys are sent
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

// SignIn authenticates a key id and secret sent in a form (the dashboard's
// sign-in) as Gate authenticates a credential header: the same verifier,
// the same failed-authentication throttle, and the same audit of a refusal,
// which names the key id the form gave. Like Authenticate it applies the
// key's policy but no ACL (signing in grants nothing; each page and action
// is then admitted on its own, see Admit).
func SignIn(r *http.Request, cfg Config, v *auth.Verifier, keyID, sec string) (*latchkey.Principal, error) {
	noteAttempt(r, "SignIn")
	if req := audit.RequestFrom(r.Context()); req != nil {
		req.Named = keyID
	}
	p, err := v.Basic(r.Context(), keyID, sec)
	if err != nil {
		return nil, cfg.refuse(r, err)
	}
	noteActor(r, p)
	SetKeyID(r.Context(), p.KeyID)
	return p, core.AuthorizeAny(p, cfg.ClientIP(r))
}

// Admit applies the policy of p, a principal already authenticated (by a
// dashboard session), to operationID on organizationID, as Gate does after
// authenticating, and notes both for the audit log and the request log.
// An operationID of "" applies the policy but the ACL (core.AuthorizeAny).
func Admit(r *http.Request, cfg Config, p *latchkey.Principal, operationID, organizationID string) error {
	noteAttempt(r, operationID)
	noteActor(r, p)
	SetKeyID(r.Context(), p.KeyID)
	if operationID == "" {
		return core.AuthorizeAny(p, cfg.ClientIP(r))
	}
	return core.Authorize(p, operationID, organizationID, cfg.ClientIP(r))
}
