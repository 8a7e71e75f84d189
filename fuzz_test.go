package latchkey_test

import (
	"math"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// FuzzPermissionMatches checks the permission matcher's laws on any three
// permissions: "*" grants everything and only "*" covers "*"; a permission
// covers itself; a grant other than "*" or the permission itself works only
// as a trailing ".*" pattern over its prefix; matching is transitive; and
// Permits and Covers, for one unscoped entry, say what PermissionMatches
// says.
func FuzzPermissionMatches(f *testing.F) {
	for _, s := range [][3]string{
		{"*", "orders.read", "orders.items.*"},
		{"orders.*", "orders.items.*", "orders.items.write"},
		{"orders.*", "orders", "orders."},
		{"orders*", "ordersx", "orders.x"},
		{".*", ".x", "x.*"},
		{"a.*", "a.*", "*"},
		{"PostApiKey", "postapikey", "PostApiKey"},
		{"", "*", ".*"},
		{"a..*", "a..b", "a.*"},
		{"a.*.*", "a.*.b", "a.b.c"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		match := latchkey.PermissionMatches
		for _, x := range []string{a, b, c} {
			if !match(x, x) || !match("*", x) || match(x, "*") != (x == "*") {
				t.Fatalf("%q: matches itself %v, under * %v, covers * %v", x, match(x, x), match("*", x), match(x, "*"))
			}
		}
		for _, p := range [][2]string{{a, b}, {b, a}, {a, c}, {c, a}, {b, c}, {c, b}} {
			granted, wanted := p[0], p[1]
			got := match(granted, wanted)
			prefix, isPattern := strings.CutSuffix(granted, ".*")
			want := granted == "*" || granted == wanted ||
				wanted != "*" && isPattern && strings.HasPrefix(wanted, prefix+".")
			if got != want {
				t.Fatalf("PermissionMatches(%q, %q) = %v, want %v", granted, wanted, got, want)
			}
			policy := func(perm string) latchkey.Policy {
				return latchkey.Policy{ACL: []latchkey.ACLEntry{{Permissions: []string{perm}}}}
			}
			if permits := policy(granted).Permits(wanted, latchkey.ACLTarget{}); permits != got {
				t.Fatalf("an entry granting %q permits %q: %v, but PermissionMatches says %v", granted, wanted, permits, got)
			}
			if covers := policy(granted).Covers(policy(wanted)); covers != got {
				t.Fatalf("an entry granting %q covers one granting %q: %v, but PermissionMatches says %v", granted, wanted, covers, got)
			}
		}
		for _, p := range [][3]string{{a, b, c}, {a, c, b}, {b, a, c}, {b, c, a}, {c, a, b}, {c, b, a}} {
			if match(p[0], p[1]) && match(p[1], p[2]) && !match(p[0], p[2]) {
				t.Fatalf("%q covers %q, which covers %q, but %q does not cover %q", p[0], p[1], p[2], p[0], p[2])
			}
		}
	})
}

// FuzzPolicyCovers decodes three policies from the fuzzer's bytes, over
// small sets of permissions, scope values, ranges, expiries and rates that
// the bytes choose from (plus one permission and scope value of the
// fuzzer's own), and checks that Covers is a preorder that never claims
// more than the policies grant:
//   - every valid policy covers itself, and covering is transitive;
//   - if p covers q, every operation on every target that q permits, p
//     permits; every address q allows, p allows; q expires no later and is
//     limited to no higher a rate (compared exactly, as rationals).
func FuzzPolicyCovers(f *testing.F) {
	f.Add([]byte{}, "orders.x")
	f.Add([]byte{1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0}, "x")
	f.Add([]byte{15, 2, 2, 3, 4, 1, 1, 0, 0, 0, 2, 0, 1, 9, 200, 3, 3, 15, 1, 1, 3, 1, 1, 2, 0, 0, 0, 1, 1, 8, 100, 2, 2}, "")
	f.Add([]byte{3, 1, 1, 6, 1, 2, 0, 0, 0, 1, 5, 3, 1, 1, 7, 1, 1, 0, 0, 0, 1, 3}, "orders.*")
	f.Add([]byte{8, 6, 5, 8, 5, 6, 8, 6, 4}, "*")
	f.Fuzz(func(t *testing.T, data []byte, extra string) {
		d := &decoder{data: data, extra: extra}
		policies := [3]latchkey.Policy{d.policy(), d.policy(), d.policy()}
		for i, p := range policies {
			if !p.Covers(p) {
				t.Fatalf("policy %d does not cover itself: %s", i, show(p))
			}
		}
		for i, p := range policies {
			for j, q := range policies {
				if p.Covers(q) {
					checkCovered(t, d, p, q)
					for k, r := range policies {
						if q.Covers(r) && !p.Covers(r) {
							t.Fatalf("policy %d covers %d, which covers %d, but %d does not cover %d:\n%s\n%s\n%s",
								i, j, k, i, k, show(p), show(q), show(r))
						}
					}
				}
			}
		}
	})
}

// checkCovered checks that p, which covers q, grants everything q grants.
func checkCovered(t *testing.T, d *decoder, p, q latchkey.Policy) {
	t.Helper()
	values := append([]string{""}, d.scopeValues()...)
	for _, op := range d.permissions() {
		for _, org := range values {
			for _, product := range values {
				for _, plan := range values[:2] {
					for _, field := range values[:2] {
						target := latchkey.ACLTarget{OrganizationID: org, ProductID: product, PlanID: plan, CustomFieldName: field}
						if q.Permits(op, target) && !p.Permits(op, target) {
							t.Fatalf("%s\ncovers\n%s\nwhich permits %q on %+v; it does not", show(p), show(q), op, target)
						}
					}
				}
			}
		}
	}
	for _, s := range sampleAddrs {
		a := netip.MustParseAddr(s)
		if q.AllowsIP(a) && !p.AllowsIP(a) {
			t.Fatalf("%s\ncovers\n%s\nwhich allows %s; it does not", show(p), show(q), a)
		}
	}
	if p.ExpiresAt != nil && (q.ExpiresAt == nil || q.ExpiresAt.After(*p.ExpiresAt)) {
		t.Fatalf("%s\ncovers\n%s\nwhich outlives it", show(p), show(q))
	}
	if p.RateLimit != nil {
		rate := func(r *latchkey.RateLimit) *big.Rat {
			return new(big.Rat).SetFrac(big.NewInt(int64(r.Limit)), big.NewInt(int64(r.Period)))
		}
		if q.RateLimit == nil || rate(q.RateLimit).Cmp(rate(p.RateLimit)) > 0 {
			t.Fatalf("%s\ncovers\n%s\nwhich may be verified faster", show(p), show(q))
		}
	}
}

// The sets the decoder picks from. Rates are valid (the surfaces refuse
// others) but reach the extremes, where a naive comparison would overflow.
var (
	basePermissions = []string{"*", "GetApiKey", "PostApiKey", "orders.*", "orders.read", "orders.items.*",
		"orders.items.write", "orders", "orders.", ".*", "orders*"}
	baseScopeValues = []string{"a", "b", ""}
	samplePrefixes  = []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "0.0.0.0/0", "::/0", "2001:db8::/32",
		"2001:db8::1/128", "192.0.2.0/24", "10.1.2.3/8"}
	sampleAddrs = []string{"10.0.0.1", "10.1.0.1", "10.1.2.3", "10.1.2.4", "10.255.255.255", "11.0.0.0",
		"192.0.2.9", "8.8.8.8", "::1", "2001:db8::1", "2001:db8::2", "2001:db9::1", "::ffff:10.1.2.3"}
	limits  = []int{0, 1, 2, 3, 1000, math.MaxInt64 / 2, math.MaxInt64}
	periods = []time.Duration{1, time.Second, 2 * time.Second, time.Minute, time.Hour, math.MaxInt64}
	epoch   = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
)

// decoder turns fuzz bytes into policies; past the end it reads zeros.
type decoder struct {
	data  []byte
	extra string
}

func (d *decoder) next() int {
	if len(d.data) == 0 {
		return 0
	}
	b := d.data[0]
	d.data = d.data[1:]
	return int(b)
}

func pick[T any](d *decoder, from []T) T { return from[d.next()%len(from)] }

func (d *decoder) permissions() []string {
	return append(basePermissions[:len(basePermissions):len(basePermissions)], d.extra)
}
func (d *decoder) scopeValues() []string {
	return append(baseScopeValues[:len(baseScopeValues):len(baseScopeValues)], d.extra)
}

// policy reads a flags byte, then the ACL (entries of permissions and four
// scope lists), allowed ranges, expiry and rate limit that it selects.
func (d *decoder) policy() latchkey.Policy {
	var p latchkey.Policy
	flags := d.next()
	if flags&1 != 0 {
		p.ACL = []latchkey.ACLEntry{}
		for range d.next() % 4 {
			var e latchkey.ACLEntry
			for range d.next() % 3 {
				e.Permissions = append(e.Permissions, pick(d, d.permissions()))
			}
			lists := [4]*[]string{&e.Scope.OrganizationID, &e.Scope.ProductID, &e.Scope.PlanID, &e.Scope.CustomFieldName}
			for _, l := range lists {
				for range d.next() % 3 {
					*l = append(*l, pick(d, d.scopeValues()))
				}
			}
			p.ACL = append(p.ACL, e)
		}
	}
	if flags&2 != 0 {
		p.AllowedIPs = []netip.Prefix{}
		for range d.next() % 3 {
			p.AllowedIPs = append(p.AllowedIPs, netip.MustParsePrefix(pick(d, samplePrefixes)))
		}
	}
	if flags&4 != 0 {
		exp := epoch.Add(time.Duration(d.next()) * time.Minute)
		p.ExpiresAt = &exp
	}
	if flags&8 != 0 {
		p.RateLimit = &latchkey.RateLimit{Limit: pick(d, limits), Period: pick(d, periods)}
	}
	return p
}

// show prints a policy for a failure message.
func show(p latchkey.Policy) string {
	var b strings.Builder
	b.WriteString("  ACL:")
	if p.ACL == nil {
		b.WriteString(" unrestricted")
	}
	for _, e := range p.ACL {
		b.WriteString(" {" + strings.Join(e.Permissions, ",") + " in " +
			strings.Join([]string{strings.Join(e.Scope.OrganizationID, "|"), strings.Join(e.Scope.ProductID, "|"),
				strings.Join(e.Scope.PlanID, "|"), strings.Join(e.Scope.CustomFieldName, "|")}, "/") + "}")
	}
	b.WriteString("\n  IPs:")
	if p.AllowedIPs == nil {
		b.WriteString(" any")
	}
	for _, r := range p.AllowedIPs {
		b.WriteString(" " + r.String())
	}
	if p.ExpiresAt != nil {
		b.WriteString("\n  expires: " + p.ExpiresAt.Format(time.RFC3339))
	}
	if p.RateLimit != nil {
		b.WriteString("\n  rate: " + big.NewRat(int64(p.RateLimit.Limit), int64(p.RateLimit.Period)).String() + "/ns")
	}
	return b.String()
}
