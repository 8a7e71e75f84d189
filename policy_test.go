package latchkey_test

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

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

func org(id string) latchkey.ACLTarget { return latchkey.ACLTarget{OrganizationID: id} }

func TestPermits(t *testing.T) {
	tests := []struct {
		name   string
		acl    []latchkey.ACLEntry
		op     string
		target latchkey.ACLTarget
		want   bool
	}{
		{"no ACL permits all", nil, "PostApiKey", org(""), true},
		{"empty ACL permits nothing", []latchkey.ACLEntry{}, "GetApiKey", org(""), false},
		{"listed operation", []latchkey.ACLEntry{entry([]string{"GetApiKeyCollection"})}, "GetApiKeyCollection", org(""), true},
		{"unlisted operation", []latchkey.ACLEntry{entry([]string{"GetApiKeyCollection"})}, "PostApiKey", org(""), false},
		{"wildcard", []latchkey.ACLEntry{entry([]string{"*"})}, "DeleteApiKey", org("a"), true},
		{"scoped, right org", []latchkey.ACLEntry{entry([]string{"*"}, "a")}, "GetApiKey", org("a"), true},
		{"scoped, other org", []latchkey.ACLEntry{entry([]string{"*"}, "a")}, "GetApiKey", org("b"), false},
		{"scoped, no org (root)", []latchkey.ACLEntry{entry([]string{"*"}, "a")}, "GetApiKey", org(""), false},
		{"second entry grants", []latchkey.ACLEntry{entry([]string{"GetApiKey"}, "a"), entry([]string{"GetApiKey"}, "b")}, "GetApiKey", org("b"), true},
		{"case matters", []latchkey.ACLEntry{entry([]string{"getapikey"})}, "GetApiKey", org(""), false},
		{"an empty value in the scope names nothing", []latchkey.ACLEntry{entry([]string{"*"}, "")}, "GetApiKey", org(""), false},
	}
	for _, tt := range tests {
		if got := (latchkey.Policy{ACL: tt.acl}).Permits(tt.op, tt.target); got != tt.want {
			t.Errorf("%s: Permits(%q, %+v) = %v, want %v", tt.name, tt.op, tt.target, got, tt.want)
		}
	}
}

// TestPermitsOtherDimensions: an entry scoped by product, plan or custom
// field grants only on a target that names one of its values there. Latchkey's
// own operations name none, so such an entry grants none of them, whatever
// its permissions: this is the key that was stored as restricted and acted
// as an account key.
func TestPermitsOtherDimensions(t *testing.T) {
	all := []string{"*"}
	byProduct := latchkey.ACLEntry{Scope: latchkey.ACLScope{ProductID: []string{"p1"}}, Permissions: all}
	byPlan := latchkey.ACLEntry{Scope: latchkey.ACLScope{PlanID: []string{"gold"}}, Permissions: all}
	byField := latchkey.ACLEntry{Scope: latchkey.ACLScope{CustomFieldName: []string{"region"}}, Permissions: all}
	orgAndProduct := latchkey.ACLEntry{Scope: latchkey.ACLScope{OrganizationID: []string{"a"}, ProductID: []string{"p1", "p2"}}, Permissions: all}
	tests := []struct {
		name   string
		acl    []latchkey.ACLEntry
		target latchkey.ACLTarget
		want   bool
	}{
		{"product scope at the root", []latchkey.ACLEntry{byProduct}, org(""), false},
		{"product scope on an organization", []latchkey.ACLEntry{byProduct}, org("a"), false},
		{"product scope, its product", []latchkey.ACLEntry{byProduct}, latchkey.ACLTarget{ProductID: "p1"}, true},
		{"product scope, its product in an organization", []latchkey.ACLEntry{byProduct}, latchkey.ACLTarget{OrganizationID: "a", ProductID: "p1"}, true},
		{"product scope, another product", []latchkey.ACLEntry{byProduct}, latchkey.ACLTarget{ProductID: "p2"}, false},
		{"plan scope without a plan", []latchkey.ACLEntry{byPlan}, org("a"), false},
		{"plan scope, its plan", []latchkey.ACLEntry{byPlan}, latchkey.ACLTarget{PlanID: "gold"}, true},
		{"plan scope, a product but no plan", []latchkey.ACLEntry{byPlan}, latchkey.ACLTarget{ProductID: "p1"}, false},
		{"custom field scope without a field", []latchkey.ACLEntry{byField}, org(""), false},
		{"custom field scope, its field", []latchkey.ACLEntry{byField}, latchkey.ACLTarget{CustomFieldName: "region"}, true},
		{"organization and product, both named", []latchkey.ACLEntry{orgAndProduct}, latchkey.ACLTarget{OrganizationID: "a", ProductID: "p2"}, true},
		{"organization and product, organization only", []latchkey.ACLEntry{orgAndProduct}, org("a"), false},
		{"organization and product, product only", []latchkey.ACLEntry{orgAndProduct}, latchkey.ACLTarget{ProductID: "p1"}, false},
		{"organization and product, another organization", []latchkey.ACLEntry{orgAndProduct}, latchkey.ACLTarget{OrganizationID: "b", ProductID: "p1"}, false},
		{"an unscoped entry admits any product", []latchkey.ACLEntry{entry(all)}, latchkey.ACLTarget{ProductID: "p9", PlanID: "x"}, true},
		{"an organization entry admits any product there", []latchkey.ACLEntry{entry(all, "a")}, latchkey.ACLTarget{OrganizationID: "a", ProductID: "p9"}, true},
		{"a product entry beside an organization entry", []latchkey.ACLEntry{byProduct, entry([]string{"GetApiKey"}, "a")}, org("a"), false},
	}
	for _, tt := range tests {
		for _, op := range []string{"PostApiKey", "CreateApp", "DeleteApp"} {
			if got := (latchkey.Policy{ACL: tt.acl}).Permits(op, tt.target); got != tt.want {
				t.Errorf("%s: Permits(%q, %+v) = %v, want %v", tt.name, op, tt.target, got, tt.want)
			}
		}
	}
}

// TestEveryScopeDimensionNarrows sets each dimension of ACLScope in turn, by
// reflection, so that a dimension added to ACLScope and forgotten by Permits
// (which would let it grant everything) fails here. Each needs a field of
// the same name in ACLTarget.
func TestEveryScopeDimensionNarrows(t *testing.T) {
	scopeType := reflect.TypeOf(latchkey.ACLScope{})
	targetType := reflect.TypeOf(latchkey.ACLTarget{})
	if scopeType.NumField() != targetType.NumField() {
		t.Fatalf("ACLScope has %d dimensions, ACLTarget %d", scopeType.NumField(), targetType.NumField())
	}
	for i := range scopeType.NumField() {
		name := scopeType.Field(i).Name
		if _, ok := targetType.FieldByName(name); !ok {
			t.Fatalf("ACLTarget has no %s", name)
		}
		var scope latchkey.ACLScope
		reflect.ValueOf(&scope).Elem().Field(i).Set(reflect.ValueOf([]string{"v"}))
		p := latchkey.Policy{ACL: []latchkey.ACLEntry{{Scope: scope, Permissions: []string{"*"}}}}
		var named, other latchkey.ACLTarget
		reflect.ValueOf(&named).Elem().FieldByName(name).SetString("v")
		reflect.ValueOf(&other).Elem().FieldByName(name).SetString("w")
		if p.Permits("GetApiKey", latchkey.ACLTarget{}) {
			t.Errorf("an entry scoped by %s granted an operation that names none", name)
		}
		if p.Permits("GetApiKey", other) {
			t.Errorf("an entry scoped by %s granted on another value", name)
		}
		if !p.Permits("GetApiKey", named) {
			t.Errorf("an entry scoped by %s refused its own value", name)
		}
		if (latchkey.Policy{ACL: []latchkey.ACLEntry{entry([]string{"*"})}}).Covers(p) != true {
			t.Errorf("an unscoped entry does not cover one scoped by %s", name)
		}
		if p.Covers(latchkey.Policy{ACL: []latchkey.ACLEntry{entry([]string{"*"})}}) {
			t.Errorf("an entry scoped by %s covers an unscoped one", name)
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
	byProduct := latchkey.Policy{ACL: []latchkey.ACLEntry{{Scope: latchkey.ACLScope{ProductID: []string{"p1"}}, Permissions: []string{"*"}}}}
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
		{"product scope narrows", byProduct,
			latchkey.Policy{ACL: []latchkey.ACLEntry{{Scope: latchkey.ACLScope{ProductID: []string{"p2"}}, Permissions: []string{"GetApiKey"}}}}, false},
		// A key scoped by product grants no management operation; it cannot
		// make or keep a key that does.
		{"product scope does not cover unrestricted", byProduct, latchkey.Policy{}, false},
		{"product scope does not cover an unscoped entry", byProduct,
			latchkey.Policy{ACL: []latchkey.ACLEntry{entry([]string{"GetApiKey"})}}, false},
		{"product scope does not cover an organization entry", byProduct,
			latchkey.Policy{ACL: []latchkey.ACLEntry{entry([]string{"GetApiKey"}, "a")}}, false},
		{"product scope does not cover more products", byProduct,
			latchkey.Policy{ACL: []latchkey.ACLEntry{{Scope: latchkey.ACLScope{ProductID: []string{"p1", "p2"}}, Permissions: []string{"*"}}}}, false},
		{"product scope covers itself", byProduct, byProduct, true},
		{"product scope covers the product within an organization", byProduct,
			latchkey.Policy{ACL: []latchkey.ACLEntry{{Scope: latchkey.ACLScope{OrganizationID: []string{"a"}, ProductID: []string{"p1"}}, Permissions: []string{"GetApiKey"}}}}, true},
		{"product scope does not cover a plan scope", byProduct,
			latchkey.Policy{ACL: []latchkey.ACLEntry{{Scope: latchkey.ACLScope{PlanID: []string{"gold"}}, Permissions: []string{"GetApiKey"}}}}, false},
		{"organization scope does not cover a product scope without it", latchkey.Policy{ACL: []latchkey.ACLEntry{entry([]string{"*"}, "a")}},
			latchkey.Policy{ACL: []latchkey.ACLEntry{{Scope: latchkey.ACLScope{ProductID: []string{"p1"}}, Permissions: []string{"*"}}}}, false},
	}
	for _, tt := range tests {
		if got := tt.have.Covers(tt.narrower); got != tt.want {
			t.Errorf("%s: Covers = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCoversNeverExceedsPermits checks, over a small universe taken whole,
// that Covers agrees with Permits: whenever a policy covers another, every
// operation on every target the other permits, it permits too. So no key can
// make, change, see the secret of or delete a key that could do something it
// cannot.
func TestCoversNeverExceedsPermits(t *testing.T) {
	ops := []string{"X", "Y", "Z"}
	perms := [][]string{{"X"}, {"Y"}, {"*"}, {"X", "Y"}}
	dims := [4][][]string{
		{nil, {"a"}, {"b"}, {"a", "b"}}, // organizationId
		{nil, {"p"}, {"q"}, {"p", "q"}}, // productId
		{nil, {"gold"}},                 // planId
		{nil, {"region"}},               // customFieldName
	}
	var targets []latchkey.ACLTarget
	for _, o := range []string{"", "a", "b", "c"} {
		for _, pr := range []string{"", "p", "q"} {
			for _, pl := range []string{"", "gold"} {
				for _, cf := range []string{"", "region"} {
					targets = append(targets, latchkey.ACLTarget{OrganizationID: o, ProductID: pr, PlanID: pl, CustomFieldName: cf})
				}
			}
		}
	}
	var entries []latchkey.ACLEntry
	for _, perm := range perms {
		for _, o := range dims[0] {
			for _, pr := range dims[1] {
				for _, pl := range dims[2] {
					for _, cf := range dims[3] {
						entries = append(entries, latchkey.ACLEntry{
							Scope:       latchkey.ACLScope{OrganizationID: o, ProductID: pr, PlanID: pl, CustomFieldName: cf},
							Permissions: perm,
						})
					}
				}
			}
		}
	}
	// Every single-entry policy, the unrestricted one, and a fixed sample
	// of two-entry ones.
	policies := []latchkey.Policy{{}}
	for _, e := range entries {
		policies = append(policies, latchkey.Policy{ACL: []latchkey.ACLEntry{e}})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 600 {
		policies = append(policies, latchkey.Policy{ACL: []latchkey.ACLEntry{
			entries[rng.IntN(len(entries))], entries[rng.IntN(len(entries))]}})
	}
	permitted := make([][]bool, len(policies))
	for i, p := range policies {
		for _, op := range ops {
			for _, target := range targets {
				permitted[i] = append(permitted[i], p.Permits(op, target))
			}
		}
	}
	covered := 0
	for i, have := range policies {
		for j, narrower := range policies {
			if !have.Covers(narrower) {
				continue
			}
			covered++
			for k := range permitted[j] {
				if permitted[j][k] && !permitted[i][k] {
					op, target := ops[k/len(targets)], targets[k%len(targets)]
					t.Fatalf("%+v covers %+v, which permits %s on %+v; it does not", have.ACL, narrower.ACL, op, target)
				}
			}
		}
	}
	// Not vacuous: Covers said yes to far more than each policy itself.
	if covered < 10*len(policies) {
		t.Fatalf("only %d covered pairs among %d policies", covered, len(policies))
	}
}

func TestPermissionMatches(t *testing.T) {
	for _, tt := range []struct {
		granted, wanted string
		want            bool
	}{
		{"*", "orders.read", true},
		{"*", "*", true},
		{"orders.read", "orders.read", true},
		{"orders.read", "orders.write", false},
		{"orders.*", "orders.read", true},
		{"orders.*", "orders.items.write", true},
		{"orders.*", "orders", false},
		{"orders.*", "ordersx.read", false},
		{"orders.*", "orders.items.*", true},
		{"orders.items.*", "orders.*", false},
		{"orders.*", "*", false},
		{"orders*", "ordersx", false}, // only a ".*" suffix is a pattern
		{"PostApiKey", "PostApiKey", true},
	} {
		if got := latchkey.PermissionMatches(tt.granted, tt.wanted); got != tt.want {
			t.Errorf("latchkey.PermissionMatches(%q, %q) = %v, want %v", tt.granted, tt.wanted, got, tt.want)
		}
	}
	p := latchkey.Policy{ACL: []latchkey.ACLEntry{{Permissions: []string{"orders.*", "VerifyKey"}}}}
	if !p.Permits("orders.read", latchkey.ACLTarget{}) || p.Permits("PostApiKey", latchkey.ACLTarget{}) || !p.Permits("VerifyKey", latchkey.ACLTarget{}) {
		t.Error("Permits does not apply wildcards as latchkey.PermissionMatches does")
	}
	if !p.Covers(latchkey.Policy{ACL: []latchkey.ACLEntry{{Permissions: []string{"orders.read", "orders.items.*"}}}}) ||
		p.Covers(latchkey.Policy{ACL: []latchkey.ACLEntry{{Permissions: []string{"*"}}}}) {
		t.Error("Covers does not apply wildcards as latchkey.PermissionMatches does")
	}
}

func TestCoversTimeAndRate(t *testing.T) {
	day := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	later := day.Add(time.Hour)
	perMinute := func(n int) *latchkey.RateLimit { return &latchkey.RateLimit{Limit: n, Period: time.Minute} }
	for _, tt := range []struct {
		name         string
		wide, narrow latchkey.Policy
		want         bool
	}{
		{"no expiry covers any", latchkey.Policy{}, latchkey.Policy{ExpiresAt: &day}, true},
		{"expiring covers no expiry", latchkey.Policy{ExpiresAt: &day}, latchkey.Policy{}, false},
		{"expiring covers earlier", latchkey.Policy{ExpiresAt: &later}, latchkey.Policy{ExpiresAt: &day}, true},
		{"expiring covers same", latchkey.Policy{ExpiresAt: &day}, latchkey.Policy{ExpiresAt: &day}, true},
		{"expiring covers later", latchkey.Policy{ExpiresAt: &day}, latchkey.Policy{ExpiresAt: &later}, false},
		{"unlimited covers limited", latchkey.Policy{}, latchkey.Policy{RateLimit: perMinute(10)}, true},
		{"limited covers unlimited", latchkey.Policy{RateLimit: perMinute(10)}, latchkey.Policy{}, false},
		{"limited covers lower", latchkey.Policy{RateLimit: perMinute(10)}, latchkey.Policy{RateLimit: perMinute(9)}, true},
		{"limited covers higher", latchkey.Policy{RateLimit: perMinute(10)}, latchkey.Policy{RateLimit: perMinute(11)}, false},
		{"same rate, other period", latchkey.Policy{RateLimit: perMinute(60)}, latchkey.Policy{RateLimit: &latchkey.RateLimit{Limit: 1, Period: time.Second}}, true},
		{"higher rate over a longer period", latchkey.Policy{RateLimit: perMinute(60)}, latchkey.Policy{RateLimit: &latchkey.RateLimit{Limit: 3601, Period: time.Hour}}, false},
		{"huge numbers do not overflow", latchkey.Policy{RateLimit: &latchkey.RateLimit{Limit: 1 << 40, Period: 24 * time.Hour}},
			latchkey.Policy{RateLimit: &latchkey.RateLimit{Limit: 1<<40 + 1, Period: 24 * time.Hour}}, false},
	} {
		if got := tt.wide.Covers(tt.narrow); got != tt.want {
			t.Errorf("%s: Covers = %v, want %v", tt.name, got, tt.want)
		}
	}
}
