package web

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/audit"
)

// ForwardedHeader names the one header from which a trusted proxy's client
// address is read. It is chosen by configuration, never by what a request
// carries: most proxies append to X-Forwarded-For and pass a client's own
// Forwarded header through untouched, so a server that read whichever
// header was present would believe the client about its own address.
type ForwardedHeader string

// The forwarding headers Latchkey can believe.
const (
	// XForwardedFor is the default: a list that each proxy appends its
	// peer to (nginx $proxy_add_x_forwarded_for, HAProxy option forwardfor,
	// AWS ALB, Go's httputil.ReverseProxy). It is read right to left
	// through trusted hops.
	XForwardedFor ForwardedHeader = "x-forwarded-for"
	// Forwarded is RFC 7239's header, for proxies that append to it; read
	// right to left like X-Forwarded-For.
	Forwarded ForwardedHeader = "forwarded"
	// XRealIP is one address that the proxy sets, replacing any the client
	// sent (nginx: proxy_set_header X-Real-IP $remote_addr).
	XRealIP ForwardedHeader = "x-real-ip"
)

// ParseForwardedHeader reads a --forwarded-header value.
func ParseForwardedHeader(s string) (ForwardedHeader, error) {
	switch h := ForwardedHeader(strings.ToLower(strings.TrimSpace(s))); h {
	case XForwardedFor, Forwarded, XRealIP:
		return h, nil
	}
	return "", fmt.Errorf("%q: want x-forwarded-for, forwarded or x-real-ip", s)
}

// ParsePublicURL reads a --public-url value: an absolute http or https URL,
// optionally with a path prefix, without query or fragment. It returns the
// URL without a trailing slash, ready to have request paths appended.
func ParsePublicURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") {
		return "", errors.New("want an absolute http(s) URL such as https://keys.example.com, without query or fragment")
	}
	return strings.TrimSuffix(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// ParsePrefixes reads a comma-separated list of CIDR ranges and addresses,
// as --trusted-proxies takes them. IPv4-mapped IPv6 forms
// (::ffff:10.0.0.1, ::ffff:10.0.0.0/104) are turned into the IPv4 ranges
// they name, because peer addresses are compared unmapped.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(list, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		prefix, err := ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR range or an address", part)
		}
		out = append(out, prefix)
	}
	return out, nil
}

// ParsePrefix parses an address (as a single-address prefix) or a CIDR
// range, normalised to its network address, with IPv4-mapped IPv6 forms
// turned into the IPv4 ranges they name. Zones are refused.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if p.Addr().Is4In6() {
			// ::ffff:a.b.c.d/n is the IPv4 range a.b.c.d/(n-96); shorter
			// prefixes reach beyond the mapped space and name no IPv4 range.
			if p.Bits() < 96 {
				return netip.Prefix{}, errors.New("an IPv4-mapped range needs at least 96 bits")
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("an address with a zone names no client")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ClientIP returns the address of the client that made r: the connection's
// peer, unless the peer is a trusted proxy. Then it is read from the one
// header c.ForwardedHeader names (X-Forwarded-For by default): for a list,
// the nearest entry, from the right, that is not itself a trusted proxy. An
// entry that does not parse ends the walk at the hop that sent it, so a
// malformed header can never make a request look as if it came from
// further away.
//
// The server's middleware works the address out once per request, for the
// audit log (audit.Request); ClientIP reads it back from there rather than
// walking the headers again on every verification.
func (c Config) ClientIP(r *http.Request) netip.Addr {
	if req := audit.RequestFrom(r.Context()); req != nil && req.ClientIP.IsValid() {
		return req.ClientIP
	}
	addr, _ := c.client(r)
	return addr
}

// client returns the client address and, in Forwarded mode, the Forwarded
// element that the proxy which received the client's connection wrote (its
// proto= and host= describe that connection).
func (c Config) client(r *http.Request) (netip.Addr, string) {
	peer := addrOf(r.RemoteAddr)
	if !contains(c.TrustedProxies, peer) {
		return peer, ""
	}
	var hops, elements []string
	switch c.ForwardedHeader {
	case Forwarded:
		elements = splitList(r.Header.Values("Forwarded"))
		hops = make([]string, len(elements))
		for i, e := range elements {
			hops[i] = forwardedParam(e, "for")
		}
	case XRealIP:
		// One value, set by the proxy; a list or a second header means it
		// was not set the way we were told, so it is not believed.
		if v := r.Header.Values("X-Real-IP"); len(v) == 1 && !strings.Contains(v[0], ",") {
			hops = v
		}
	default:
		hops = splitList(r.Header.Values("X-Forwarded-For"))
	}
	client, element := peer, ""
	for i := len(hops) - 1; i >= 0; i-- {
		addr := addrOf(hops[i])
		if !addr.IsValid() {
			break
		}
		client = addr
		if elements != nil {
			element = elements[i]
		}
		if !contains(c.TrustedProxies, addr) {
			break
		}
	}
	return client, element
}

// BaseURL is the scheme and host (and any path prefix) the client used to
// reach r; links and Location headers are built on it. The configured
// public URL wins. Otherwise, from a trusted proxy, the proto and host that
// the configured forwarding header family carries (X-Forwarded-Proto and
// X-Forwarded-Host, or Forwarded's proto= and host=), else the request's
// Host. From anyone else, Host is used only when it names the address the
// connection came in on; a forged Host gets links to that address instead.
func (c Config) BaseURL(r *http.Request) string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if !contains(c.TrustedProxies, addrOf(r.RemoteAddr)) {
		return scheme + "://" + listenerHost(r)
	}
	host := r.Host
	var proto, fwdHost string
	if c.ForwardedHeader == Forwarded {
		_, element := c.client(r)
		proto, fwdHost = forwardedParam(element, "proto"), forwardedParam(element, "host")
	} else {
		proto, fwdHost = lastOf(r.Header.Values("X-Forwarded-Proto")), lastOf(r.Header.Values("X-Forwarded-Host"))
	}
	if proto = strings.ToLower(proto); proto == "http" || proto == "https" {
		scheme = proto
	}
	if validHost(fwdHost) {
		host = fwdHost
	}
	return scheme + "://" + host
}

// listenerHost is r.Host if it names the local address the connection was
// accepted on (or "localhost" for a loopback one), else that address.
func listenerHost(r *http.Request) string {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return r.Host // not served by net/http's server (a handler test)
	}
	ap, err := netip.ParseAddrPort(local.String())
	if err != nil {
		return r.Host
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "80"
		if r.TLS != nil {
			port = "443"
		}
	}
	if port == fmt.Sprint(ap.Port()) {
		if strings.EqualFold(host, "localhost") && ap.Addr().IsLoopback() {
			return r.Host
		}
		if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && a.Unmap() == ap.Addr() && a.Zone() == "" {
			return r.Host
		}
	}
	return ap.String()
}

// validHost accepts host or host:port with nothing that could change a URL's
// meaning.
func validHost(h string) bool {
	return h != "" && !strings.ContainsAny(h, "/?#@\\ \t\"'<>")
}

// lastOf returns the last entry of a header that proxies may append to: the
// one the nearest (trusted) proxy wrote.
func lastOf(values []string) string {
	list := splitList(values)
	if len(list) == 0 {
		return ""
	}
	return list[len(list)-1]
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

// forwardedParam returns one parameter (for, proto, host) of a Forwarded
// element, unquoted; "" if absent.
func forwardedParam(element, name string) string {
	var value string
	for _, pair := range strings.Split(element, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(k, name) {
			value = strings.Trim(v, `"`)
		}
	}
	return value
}
