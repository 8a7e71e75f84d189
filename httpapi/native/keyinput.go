package native

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/secret"
)

// Input bounds. Every list a client sends is capped, so that no request
// makes a key, a policy check or a query arbitrarily large; above a cap the
// request gets 400 and changes nothing.
const (
	maxKeyName       = core.MaxNameLen
	maxPermissions   = 100 // per key, counting permissions and every acl entry's
	maxPermissionLen = 100
	maxACLEntries    = 100
	maxScopeValues   = 100 // per scope list
	maxScopeValueLen = 100
	maxAllowedIPs    = 100
	maxRateLimit     = 1_000_000_000
	minRatePeriod    = time.Second
	maxRatePeriod    = 24 * time.Hour
	maxOwnerIDLen    = 100
)

// permissionPattern is a permission other than "*": an operation id such as
// "CreateKey", or a permission of the user's own API such as "orders.read",
// optionally a pattern ending in ".*" ("orders.*").
var permissionPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]+(\.\*)?$`)

// The members of a key body and of its objects, from the route table's
// keyBody, so that what Routes shows is what the readers take.
var (
	keyMembers         = members(keyBody())
	keyReadOnlyMembers = []string{"id", "createdAt", "updatedAt", "lastUsedAt"}
	aclEntryMembers    = members(keyBody(), "acl")
	scopeMembers       = members(keyBody(), "acl", "scope")
	rateLimitMembers   = members(keyBody(), "rateLimit")
	ownerMembers       = members(keyBody(), "owner")
)

// member is one member of a request body: whether it was sent, and its
// value (the zero value for JSON null where null is allowed).
type member[T any] struct {
	set bool
	v   T
}

func (m *member[T]) put(v T) { m.set, m.v = true, v }

// keyInput is a validated key body, for a create or a PATCH.
type keyInput struct {
	name        member[string]
	owner       member[ownerJSON]
	keyType     member[latchkey.KeyType]
	prefix      member[string]
	permissions member[[]string]
	acl         member[[]latchkey.ACLEntry]
	allowedIPs  member[[]netip.Prefix]
	expiresAt   member[*time.Time]
	rateLimit   member[*latchkey.RateLimit]
	metadata    member[map[string]any]
	enabled     member[bool]
}

// readKey reads a key body, reporting every problem to errs. For a
// new key (create), name is required and expiresAt must lie ahead.
func readKey(b body, cfg web.Config, create bool, errs *fieldErrors) *keyInput {
	var in keyInput
	b.onlyMembers(errs, keyMembers, keyReadOnlyMembers)

	if raw, ok := b["name"]; ok {
		if n, ok := readName(raw, "name", maxKeyName, errs); ok {
			in.name.put(n)
		}
	} else if create {
		errs.add("name", "Required.")
	}
	if raw, ok := b["owner"]; ok {
		if o, ok := readOwner(raw, errs); ok {
			in.owner.put(o)
		}
	}
	if raw, ok := b["type"]; ok {
		var t string
		if isNull(raw) || json.Unmarshal(raw, &t) != nil || (t != string(latchkey.KeyTypeSecret) && t != string(latchkey.KeyTypePublishable)) {
			errs.add("type", "Must be secret or publishable.")
		} else {
			in.keyType.put(latchkey.KeyType(t))
		}
	}
	if raw, ok := b["prefix"]; ok {
		if p, ok := str(raw, "prefix", errs); ok {
			if p != "" && !secret.ValidBrand(p) {
				errs.add("prefix", "Must be 1 to 16 lowercase letters, digits and underscores.")
			} else {
				in.prefix.put(p)
			}
		}
	}
	if raw, ok := b["permissions"]; ok {
		if perms, ok := readPermissions(raw, "permissions", cfg, errs); ok {
			in.permissions.put(perms)
		}
	}
	if raw, ok := b["acl"]; ok {
		if acl, ok := readACL(raw, cfg, errs); ok {
			in.acl.put(acl)
		}
	}
	if raw, ok := b["allowedIps"]; ok {
		if isNull(raw) {
			in.allowedIPs.put(nil)
		} else if ips, ok := readAllowedIPs(raw, cfg.AllowPrivateIPs, errs); ok {
			in.allowedIPs.put(ips)
		}
	}
	if raw, ok := b["expiresAt"]; ok {
		if isNull(raw) {
			in.expiresAt.put(nil)
		} else if t, ok := readExpiry(raw, create, errs); ok {
			in.expiresAt.put(&t)
		}
	}
	if raw, ok := b["rateLimit"]; ok {
		if isNull(raw) {
			in.rateLimit.put(nil)
		} else if rl, ok := readRateLimit(raw, errs); ok {
			in.rateLimit.put(rl)
		}
	}
	if raw, ok := b["metadata"]; ok {
		if isNull(raw) {
			in.metadata.put(nil)
		} else if md, ok := metadata(raw, "metadata", false, errs); ok {
			in.metadata.put(md)
		}
	}
	if raw, ok := b["enabled"]; ok {
		var on bool
		if isNull(raw) || json.Unmarshal(raw, &on) != nil {
			errs.add("enabled", "Must be true or false.")
		} else {
			in.enabled.put(on)
		}
	}
	if create {
		countPermissions(in.permissions.v, in.acl.v, errs) // a PATCH counts in patchedPolicy
	}
	return &in
}

// readPermissions reads a list of permission strings. A permission that
// looks like one of Latchkey's own operations without being it is refused
// with a hint (web.Config.Lookalike): "listkeys" would grant nothing.
func readPermissions(raw json.RawMessage, field string, cfg web.Config, errs *fieldErrors) ([]string, bool) {
	var perms []string
	if json.Unmarshal(raw, &perms) != nil || perms == nil {
		errs.add(field, "Must be an array of permission strings; [] for none.")
		return nil, false
	}
	if len(perms) > maxPermissions {
		errs.add(field, "Must hold at most %d permissions.", maxPermissions)
		return nil, false
	}
	ok := true
	for i, perm := range perms {
		if perm != latchkey.PermissionAll && (len(perm) > maxPermissionLen || !permissionPattern.MatchString(perm)) {
			errs.add(field+"."+strconv.Itoa(i), `Must be "*", or 1 to %d characters of letters, digits, "_", ".", ":" and "-", optionally ending in ".*".`, maxPermissionLen)
			ok = false
		} else if op, near := cfg.Lookalike(perm); near {
			errs.add(field+"."+strconv.Itoa(i), "%q is not an operation of Latchkey's API; did you mean %q? (Operation names are case-sensitive.)", perm, op)
			ok = false
		}
	}
	return perms, ok
}

// readACL reads the scoped entries: [{"scope":{…},"permissions":[…]}].
func readACL(raw json.RawMessage, cfg web.Config, errs *fieldErrors) ([]latchkey.ACLEntry, bool) {
	var entries []json.RawMessage
	if json.Unmarshal(raw, &entries) != nil || entries == nil {
		errs.add("acl", "Must be an array of {scope, permissions} entries; [] for none.")
		return nil, false
	}
	if len(entries) > maxACLEntries {
		errs.add("acl", "Must hold at most %d entries.", maxACLEntries)
		return nil, false
	}
	before := len(errs.list)
	acl := make([]latchkey.ACLEntry, 0, len(entries))
	for i, rawEntry := range entries {
		path := "acl." + strconv.Itoa(i)
		var entry body
		if json.Unmarshal(rawEntry, &entry) != nil || entry == nil {
			errs.add(path, "Must be an object with scope and permissions.")
			continue
		}
		entry.onlyMembers(&prefixed{errs, path + "."}, aclEntryMembers, nil)
		var e latchkey.ACLEntry
		if rawScope, ok := entry["scope"]; !ok {
			errs.add(path+".scope", "Required.")
		} else {
			e.Scope = readScope(rawScope, path+".scope", errs)
		}
		if rawPerms, ok := entry["permissions"]; !ok {
			errs.add(path+".permissions", "Required.")
		} else if perms, ok := readPermissions(rawPerms, path+".permissions", cfg, errs); ok {
			if len(perms) == 0 {
				errs.add(path+".permissions", "An entry must grant at least one permission.")
			}
			e.Permissions = perms
		}
		acl = append(acl, e)
	}
	return acl, len(errs.list) == before
}

// readScope reads an entry's scope, which must narrow it: unscoped
// permissions belong in "permissions".
func readScope(raw json.RawMessage, path string, errs *fieldErrors) latchkey.ACLScope {
	var obj body
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		errs.add(path, "Must be an object.")
		return latchkey.ACLScope{}
	}
	names := scopeMembers // organizationId, productId, planId, customFieldName
	obj.onlyMembers(&prefixed{errs, path + "."}, names, nil)
	list := func(name string) []string {
		raw, ok := obj[name]
		if !ok || isNull(raw) {
			return nil
		}
		field := path + "." + name
		var values []string
		if json.Unmarshal(raw, &values) != nil {
			errs.add(field, "Must be an array of strings.")
			return nil
		}
		if len(values) > maxScopeValues {
			errs.add(field, "Must hold at most %d values.", maxScopeValues)
			return nil
		}
		for i, v := range values {
			if v == "" || utf8.RuneCountInString(v) > maxScopeValueLen || core.HasControl(v) {
				errs.add(field+"."+strconv.Itoa(i), "Must be 1 to %d characters, without control characters.", maxScopeValueLen)
			}
		}
		if len(values) == 0 {
			return nil
		}
		return values
	}
	scope := latchkey.ACLScope{
		OrganizationID: list(names[0]), ProductID: list(names[1]), PlanID: list(names[2]), CustomFieldName: list(names[3]),
	}
	if unscoped(scope) {
		errs.add(path, `Must name at least one of organizationId, productId, planId, customFieldName; put unscoped permissions in "permissions".`)
	}
	return scope
}

// countPermissions enforces the cap on a key's permissions in all.
func countPermissions(perms []string, acl []latchkey.ACLEntry, errs *fieldErrors) {
	n := len(perms)
	for _, e := range acl {
		n += len(e.Permissions)
	}
	if n > maxPermissions {
		errs.add("acl", "A key holds at most %d permissions, counting permissions and those of every acl entry.", maxPermissions)
	}
}

// readAllowedIPs reads addresses and CIDR ranges. Non-public ranges are
// refused unless the deployment allows them, as on every surface.
func readAllowedIPs(raw json.RawMessage, allowPrivate bool, errs *fieldErrors) ([]netip.Prefix, bool) {
	var values []string
	if json.Unmarshal(raw, &values) != nil {
		errs.add("allowedIps", "Must be an array of IP addresses or CIDR ranges, or null.")
		return nil, false
	}
	if len(values) == 0 {
		errs.add("allowedIps", "An empty list allows no address; send null for no restriction.")
		return nil, false
	}
	if len(values) > maxAllowedIPs {
		errs.add("allowedIps", "Must hold at most %d entries.", maxAllowedIPs)
		return nil, false
	}
	ok := true
	prefixes := make([]netip.Prefix, 0, len(values))
	for i, v := range values {
		field := "allowedIps." + strconv.Itoa(i)
		prefix, err := web.ParsePrefix(v)
		switch {
		case err != nil:
			errs.add(field, "Must be an IP address or a CIDR range.")
			ok = false
		case !allowPrivate && web.NonPublic(prefix):
			errs.add(field, "Private, loopback, link-local and other non-public ranges are not allowed; a server started with --allow-private-ips (LATCHKEY_ALLOW_PRIVATE_IPS=true) takes them, for internal deployments.")
			ok = false
		default:
			prefixes = append(prefixes, prefix)
		}
	}
	return prefixes, ok
}

// readExpiry reads an RFC 3339 time, kept to the second as it is shown
// (rounding down only ever ends a key earlier). A new key's must lie ahead.
func readExpiry(raw json.RawMessage, create bool, errs *fieldErrors) (time.Time, bool) {
	var s string
	_ = json.Unmarshal(raw, &s) // a non-string leaves s empty, which does not parse
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		errs.add("expiresAt", "Must be an RFC 3339 time such as 2030-01-31T12:00:00Z, or null.")
		return time.Time{}, false
	}
	t = t.UTC().Truncate(time.Second)
	if create && !t.After(time.Now()) {
		errs.add("expiresAt", "Must be in the future.")
		return time.Time{}, false
	}
	return t, true
}

// readRateLimit reads {"limit": N, "period": "1m"}.
func readRateLimit(raw json.RawMessage, errs *fieldErrors) (*latchkey.RateLimit, bool) {
	var obj body
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		errs.add("rateLimit", `Must be an object such as {"limit":100,"period":"1m"}, or null.`)
		return nil, false
	}
	before := len(errs.list)
	obj.onlyMembers(&prefixed{errs, "rateLimit."}, rateLimitMembers, nil)
	var rl latchkey.RateLimit
	if rawLimit, ok := obj["limit"]; !ok {
		errs.add("rateLimit.limit", "Required.")
	} else if json.Unmarshal(rawLimit, &rl.Limit) != nil || isNull(rawLimit) || rl.Limit < 1 || rl.Limit > maxRateLimit {
		errs.add("rateLimit.limit", "Must be an integer from 1 to %d.", maxRateLimit)
	}
	if rawPeriod, ok := obj["period"]; !ok {
		errs.add("rateLimit.period", "Required.")
	} else if p, ok := str(rawPeriod, "rateLimit.period", errs); ok {
		d, err := time.ParseDuration(p)
		// Periods are kept to the millisecond; a finer one would be
		// changed, and a changed period is a changed rate.
		if err != nil || d < minRatePeriod || d > maxRatePeriod || d%time.Millisecond != 0 {
			errs.add("rateLimit.period", "Must be a duration from 1s to 24h, in whole milliseconds, such as 1m.")
		}
		rl.Period = d
	}
	return &rl, len(errs.list) == before
}
