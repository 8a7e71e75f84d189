package web

import "net/netip"

// nonPublicRanges are the ranges no key may be restricted to on a public
// deployment: they name no client on the internet, or every client at once.
var nonPublicRanges = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",         // "this network"
		"10.0.0.0/8",        // private
		"100.64.0.0/10",     // carrier-grade NAT
		"127.0.0.0/8",       // loopback
		"169.254.0.0/16",    // link-local
		"172.16.0.0/12",     // private
		"192.0.0.0/24",      // IETF protocol assignments
		"192.168.0.0/16",    // private
		"198.18.0.0/15",     // benchmarking
		"224.0.0.0/4",       // multicast
		"240.0.0.0/4",       // reserved, broadcast
		"::/128", "::1/128", // unspecified, loopback
		"64:ff9b:1::/48", // local-use translation
		"100::/64",       // discard
		"fc00::/7",       // unique local
		"fe80::/10",      // link-local
		"ff00::/8",       // multicast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// NonPublic reports whether a prefix overlaps a non-public range (so
// 0.0.0.0/0, which holds 10.0.0.0/8, counts too). Every surface refuses
// such ranges in a key's allowedIps unless Config.AllowPrivateIPs is set,
// so that one rule decides it wherever keys are made.
func NonPublic(p netip.Prefix) bool {
	for _, r := range nonPublicRanges {
		if p.Overlaps(r) {
			return true
		}
	}
	return false
}
