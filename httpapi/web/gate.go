package web

import (
	"net/http"
	"net/netip"

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
	apiKey := r.Header.Get("REB-APIKEY")
	if apiKey == "" {
		apiKey = r.Header.Get("X-API-Key")
	}
	p, err := v.Headers(r.Context(), apiKey, r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	SetKeyID(r.Context(), p.KeyID)
	return p, core.Authorize(p, operationID, organizationID, cfg.ClientIP(r))
}
