package latchkey_test

import (
	"net/netip"
	"testing"

	"github.com/latchkey/latchkey"
)

func entry(perms []string, orgs ...string) latchkey.ACLEntry {
	return latchkey.ACLEntry{Scope: latchkey.ACLScope{OrganizationID: orgs}, Permissions: perms}
}

func prefixes(s ...string) []netip.Prefix {
	out := []netip.Prefix{}
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestPermits(t *testing.T) {
	tests := []struct {
		name    string
		acl     []latchkey.ACLEntry
		op, org string
		want    bool
	}{
		{"no ACL permits all", nil, "PostApiKey", "", true},
		{"empty ACL permits nothing", []latchkey.ACLEntry{}, "GetApiKey", "", false},
		{"listed operation", []latchkey.ACLEntry{entry([]string{"GetApiKeyCollection"})}, "GetApiKeyCollection", "", true},
		{"unlisted operation", []latchkey.ACLEntry{entry([]string{"GetApiKeyCollection"})}, "PostApiKey", "", false},
		{"wildcard", []latchkey.ACLEntry{entry([]string{"*"})}, "DeleteApiKey", "a", true},
		{"scoped, right org", []latchkey.ACLEntry{entry([]string{"*"}, "a")}, "GetApiKey", "a", true},
		{"scoped, other org", []latchkey.ACLEntry{entry([]string{"*"}, "a")}, "GetApiKey", "b", false},
		{"scoped, no org (root)", []latchkey.ACLEntry{entry([]string{"*"}, "a")}, "GetApiKey", "", false},
		{"second entry grants", []latchkey.ACLEntry{entry([]string{"GetApiKey"}, "a"), entry([]string{"GetApiKey"}, "b")}, "GetApiKey", "b", true},
		{"case matters", []latchkey.ACLEntry{entry([]string{"getapikey"})}, "GetApiKey", "", false},
	}
	for _, tt := range tests {
		if got := (latchkey.Policy{ACL: tt.acl}).Permits(tt.op, tt.org); got != tt.want {
			t.Errorf("%s: Permits(%q, %q) = %v, want %v", tt.name, tt.op, tt.org, got, tt.want)
		}
	}
}

func TestAllowsIP(t *testing.T) {
	p := latchkey.Policy{AllowedIPs: prefixes("203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32")}
	for addr, want := range map[string]bool{
		"203.0.113.7": true, "203.0.114.1": false, "198.51.100.7": true, "198.51.100.8": false,
		"2001:db8::1": true, "2001:db9::1": false, "::ffff:203.0.113.9": true, "127.0.0.1": false,
	} {
		if got := p.AllowsIP(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AllowsIP(%s) = %v, want %v", addr, got, want)
		}
	}
	if !(latchkey.Policy{}).AllowsIP(netip.MustParseAddr("10.1.2.3")) {
		t.Error("a policy without a list refused an address")
	}
	if (latchkey.Policy{AllowedIPs: []netip.Prefix{}}).AllowsIP(netip.MustParseAddr("203.0.113.7")) {
		t.Error("an empty (not nil) list admitted an address")
	}
}

func TestCovers(t *testing.T) {
	restricted := latchkey.Policy{
		ACL:        []latchkey.ACLEntry{entry([]string{"GetApiKey", "GetApiKeyCollection"}, "a", "b")},
		AllowedIPs: prefixes("203.0.113.0/24"),
	}
	tests := []struct {
		name     string
		have     latchkey.Policy
		narrower latchkey.Policy
		want     bool
	}{
		{"unrestricted covers anything", latchkey.Policy{}, restricted, true},
		{"unrestricted covers unrestricted", latchkey.Policy{}, latchkey.Policy{}, true},
		{"restricted does not cover unrestricted", restricted, latchkey.Policy{}, false},
		{"covers itself", restricted, restricted, true},
		{"fewer permissions, narrower scope, narrower range", restricted, latchkey.Policy{
			ACL: []latchkey.ACLEntry{entry([]string{"GetApiKey"}, "a")}, AllowedIPs: prefixes("203.0.113.128/25")}, true},
		{"a permission it lacks", restricted, latchkey.Policy{
			ACL: []latchkey.ACLEntry{entry([]string{"PostApiKey"}, "a")}, AllowedIPs: prefixes("203.0.113.0/24")}, false},
		{"the wildcard it lacks", restricted, latchkey.Policy{
			ACL: []latchkey.ACLEntry{entry([]string{"*"}, "a")}, AllowedIPs: prefixes("203.0.113.0/24")}, false},
		{"an organization outside its scope", restricted, latchkey.Policy{
			ACL: []latchkey.ACLEntry{entry([]string{"GetApiKey"}, "c")}, AllowedIPs: prefixes("203.0.113.0/24")}, false},
		{"unscoped where it is scoped", restricted, latchkey.Policy{
			ACL: []latchkey.ACLEntry{entry([]string{"GetApiKey"})}, AllowedIPs: prefixes("203.0.113.0/24")}, false},
		{"a wider range", restricted, latchkey.Policy{
			ACL: restricted.ACL, AllowedIPs: prefixes("203.0.112.0/23")}, false},
		{"no range where it has one", restricted, latchkey.Policy{ACL: restricted.ACL}, false},
		{"another family", restricted, latchkey.Policy{ACL: restricted.ACL, AllowedIPs: prefixes("2001:db8::/32")}, false},
		{"wildcard covers any operation", latchkey.Policy{ACL: []latchkey.ACLEntry{entry([]string{"*"})}},
			latchkey.Policy{ACL: []latchkey.ACLEntry{entry([]string{"PostApiKey", "*"}, "z")}}, true},
		{"product scope narrows", latchkey.Policy{ACL: []latchkey.ACLEntry{{Scope: latchkey.ACLScope{ProductID: []string{"p1"}}, Permissions: []string{"*"}}}},
			latchkey.Policy{ACL: []latchkey.ACLEntry{{Scope: latchkey.ACLScope{ProductID: []string{"p2"}}, Permissions: []string{"GetApiKey"}}}}, false},
	}
	for _, tt := range tests {
		if got := tt.have.Covers(tt.narrower); got != tt.want {
			t.Errorf("%s: Covers = %v, want %v", tt.name, got, tt.want)
		}
	}
}
