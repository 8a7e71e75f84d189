package native

import (
	"slices"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
)

// buildACL is the domain's ACL for this surface's two members: an unscoped
// entry with perms, if any, then the scoped entries. No entry at all is an
// empty, non-nil ACL, which grants nothing: native keys fail closed.
//
// "*" with no scoped entry is exactly what an unrestricted key (nil ACL)
// grants, and is shown as such; it is stored as nil when the principal is
// unrestricted itself, so that such a key and the keys made by the other
// surfaces without an ACL have equal rights over each other. A restricted
// principal keeps the explicit entry, which the core then checks against
// its own ACL (nil would mean "inherit mine" to the core).
func buildACL(p *latchkey.Principal, perms []string, scoped []latchkey.ACLEntry) []latchkey.ACLEntry {
	if len(scoped) == 0 && slices.Contains(perms, latchkey.PermissionAll) && p.Policy.ACL == nil {
		return nil
	}
	acl := make([]latchkey.ACLEntry, 0, 1+len(scoped))
	if len(perms) > 0 {
		acl = append(acl, latchkey.ACLEntry{Permissions: perms})
	}
	return append(acl, scoped...)
}

// newPolicy is the policy of a key made from in. Members left out are
// unset, and the core lets an unset address list, expiry or rate limit
// inherit the principal's.
func (in *keyInput) newPolicy(p *latchkey.Principal) latchkey.Policy {
	return latchkey.Policy{
		Type:       in.keyType.v,
		ACL:        buildACL(p, in.permissions.v, in.acl.v),
		AllowedIPs: in.allowedIPs.v,
		ExpiresAt:  in.expiresAt.v,
		RateLimit:  in.rateLimit.v,
		Metadata:   in.metadata.v,
		Disabled:   in.enabled.set && !in.enabled.v,
	}
}

// patchedPolicy is current with the members of in that were sent.
// permissions and acl each replace their own part of the ACL; when neither
// is sent the ACL is kept exactly as it is.
func (in *keyInput) patchedPolicy(p *latchkey.Principal, current latchkey.Policy, errs *fieldErrors) latchkey.Policy {
	next := current
	if in.permissions.set || in.acl.set {
		perms, scoped := splitACL(current.ACL)
		if in.permissions.set {
			perms = in.permissions.v
		}
		if in.acl.set {
			scoped = in.acl.v
		}
		countPermissions(perms, scoped, errs) // the part kept counts too
		next.ACL = buildACL(p, perms, scoped)
	}
	if in.allowedIPs.set {
		next.AllowedIPs = in.allowedIPs.v
	}
	if in.expiresAt.set {
		next.ExpiresAt = in.expiresAt.v
	}
	if in.rateLimit.set {
		next.RateLimit = in.rateLimit.v
	}
	if in.metadata.set {
		next.Metadata = in.metadata.v
	}
	if in.enabled.set {
		next.Disabled = !in.enabled.v
	}
	return next
}

// checkImmutable reports members a PATCH may send only unchanged: type and
// prefix are in the key's secrets, and the owner is where the key lives.
func (in *keyInput) checkImmutable(k *latchkey.Key, errs *fieldErrors) {
	if in.keyType.set && in.keyType.v != k.Policy.Type {
		errs.add("type", "Cannot be changed after the key is made.")
	}
	if in.prefix.set && in.prefix.v != k.Prefix {
		errs.add("prefix", "Cannot be changed after the key is made.")
	}
	if in.owner.set && in.owner.v != renderOwner(core.OwnerOf(k)) {
		errs.add("owner", "Cannot be changed after the key is made.")
	}
}
