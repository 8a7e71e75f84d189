package web

import (
	"encoding/base64"
	"net/http"
	"net/netip"
	"strings"

	"github.com/latchkey/latchkey"
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
}

// Gate authenticates a request and applies the key's policy to operationID
// on organizationID ("" for none). Every credential form reaches the same
// check: a secret in REB-APIKEY or X-API-Key (which win over Authorization,
// as the official Rebilly SDK sends both after setSessionToken), a bare
// secret in Authorization (a publishable key, as Rebilly sends it), or
// Authorization: Basic or Bearer.
func Gate(r *http.Request, cfg Config, v *auth.Verifier, operationID, organizationID string) (*latchkey.Principal, error) {
	p, err := credential(r, v)
	if err != nil {
		return nil, err
	}
	return p, core.Authorize(p, operationID, organizationID, cfg.ClientIP(r))
}

// Authenticate is Gate for a route that any key may call whatever its
// permissions, such as one that describes the calling key: the same
// credentials, and the same refusal of publishable keys and of addresses
// outside allowedIps, but no ACL check, because the route grants nothing.
func Authenticate(r *http.Request, cfg Config, v *auth.Verifier) (*latchkey.Principal, error) {
	p, err := credential(r, v)
	if err != nil {
		return nil, err
	}
	// core.Authorize stays the one place the policy is applied; a copy
	// without an ACL makes it skip the permission check and nothing else.
	unchecked := *p
	unchecked.Policy.ACL = nil
	return p, core.Authorize(&unchecked, "", "", cfg.ClientIP(r))
}

// credential verifies whichever credential r carries (see Gate) and records
// the key id for the request log.
func credential(r *http.Request, v *auth.Verifier) (*latchkey.Principal, error) {
	apiKey := FirstHeader(r.Header, "Reb-Apikey")
	if apiKey == "" {
		apiKey = FirstHeader(r.Header, "X-Api-Key")
	}
	p, err := v.Headers(r.Context(), apiKey, FirstHeader(r.Header, "Authorization"))
	if err != nil {
		return nil, err
	}
	SetKeyID(r.Context(), p.KeyID)
	return p, nil
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
// "keyId:secret" (Basic). "" if it carries none that could be one.
func CredentialOf(r *http.Request) string {
	for _, name := range [...]string{"Reb-Apikey", "X-Api-Key"} {
		if v := strings.TrimSpace(FirstHeader(r.Header, name)); v != "" {
			return v
		}
	}
	value := strings.TrimSpace(FirstHeader(r.Header, "Authorization"))
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
