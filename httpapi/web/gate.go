package web

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
)

// Config is what the surfaces need to know of the deployment.
type Config struct {
	// TrustedProxies are the peers whose X-Forwarded-For and Forwarded
	// headers are believed; from anyone else they are ignored.
	TrustedProxies []netip.Prefix
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
	return p, core.Authorize(p, operationID, organizationID, ClientIP(r, cfg.TrustedProxies))
}

// ClientIP returns the address of the client that made r: the connection's
// peer, unless the peer is a trusted proxy, in which case the nearest address
// its forwarding headers name that is not itself a trusted proxy. Forwarded
// (RFC 7239) is read if present, else X-Forwarded-For. An entry that does not
// parse ends the walk at the hop that sent it, so a malformed header can
// never make a request look as if it came from further away.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := addrOf(r.RemoteAddr)
	if !contains(trusted, peer) {
		return peer
	}
	hops := forwardedFor(r.Header.Values("Forwarded"))
	if hops == nil {
		hops = splitList(r.Header.Values("X-Forwarded-For"))
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		addr := addrOf(hops[i])
		if !addr.IsValid() {
			break
		}
		client = addr
		if !contains(trusted, addr) {
			break
		}
	}
	return client
}

// BaseURL is the scheme and host the client used to reach r: from
// X-Forwarded-Proto and X-Forwarded-Host when a trusted proxy sent r, else
// from the request itself. Links in responses are built on it.
func BaseURL(r *http.Request, trusted []netip.Prefix) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if contains(trusted, addrOf(r.RemoteAddr)) {
		if p := firstOf(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstOf(r.Header.Get("X-Forwarded-Host")); h != "" && !strings.ContainsAny(h, "/?#@ ") {
			host = h
		}
	}
	return scheme + "://" + host
}

func firstOf(list string) string {
	first, _, _ := strings.Cut(list, ",")
	return strings.TrimSpace(first)
}

func contains(prefixes []netip.Prefix, addr netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// addrOf parses "1.2.3.4", "1.2.3.4:80", "::1", "[::1]:80" and quoted forms.
func addrOf(s string) netip.Addr {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(part))
		}
	}
	return out
}

// forwardedFor returns the for= parameters of Forwarded headers, in order;
// nil if there is no Forwarded header. An element without for= yields "".
func forwardedFor(values []string) []string {
	if len(values) == 0 {
		return nil
	}
	var out []string
	for _, element := range splitList(values) {
		var addr string
		for _, pair := range strings.Split(element, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(k, "for") {
				addr = v
			}
		}
		out = append(out, addr)
	}
	return out
}
