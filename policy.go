package latchkey

import (
	"net/netip"
	"slices"
)

// PermissionAll grants every operation.
const PermissionAll = "*"

// Permits reports whether the policy's ACL allows operationID on the given
// organization (app id; "" for a request that addresses none, such as the
// account-level key list). A nil ACL permits everything; otherwise some
// entry must grant the operation (or "*") with a scope that is unscoped by
// organization or lists this one.
func (p Policy) Permits(operationID, organizationID string) bool {
	if p.ACL == nil {
		return true
	}
	for _, e := range p.ACL {
		if !slices.Contains(e.Permissions, PermissionAll) && !slices.Contains(e.Permissions, operationID) {
			continue
		}
		if len(e.Scope.OrganizationID) == 0 || organizationID != "" && slices.Contains(e.Scope.OrganizationID, organizationID) {
			return true
		}
	}
	return false
}

// AllowsIP reports whether the policy admits a client address. A nil list
// admits every address.
func (p Policy) AllowsIP(addr netip.Addr) bool {
	if p.AllowedIPs == nil {
		return true
	}
	addr = addr.Unmap()
	for _, prefix := range p.AllowedIPs {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// Covers reports whether every right the narrower policy grants is also
// granted by p: its ACL entries, each dimension of their scopes, and its
// allowed addresses. A key may create or change keys only within what its
// own policy covers.
func (p Policy) Covers(narrower Policy) bool {
	return p.coversACL(narrower.ACL) && p.coversIPs(narrower.AllowedIPs)
}

func (p Policy) coversACL(acl []ACLEntry) bool {
	if p.ACL == nil {
		return true
	}
	if acl == nil {
		return false // unrestricted is wider than any ACL
	}
	for _, want := range acl {
		for _, perm := range want.Permissions {
			if !slices.ContainsFunc(p.ACL, func(have ACLEntry) bool { return have.grants(perm, want.Scope) }) {
				return false
			}
		}
	}
	return true
}

// grants reports whether this entry grants perm over all of scope.
func (e ACLEntry) grants(perm string, scope ACLScope) bool {
	if !slices.Contains(e.Permissions, PermissionAll) && (perm == PermissionAll || !slices.Contains(e.Permissions, perm)) {
		return false
	}
	return within(scope.OrganizationID, e.Scope.OrganizationID) && within(scope.ProductID, e.Scope.ProductID) &&
		within(scope.PlanID, e.Scope.PlanID) && within(scope.CustomFieldName, e.Scope.CustomFieldName)
}

// within reports whether the scope list narrower lies inside wider: an empty
// wider list is unscoped and holds anything; an empty narrower list is
// unscoped and fits only an unscoped wider one.
func within(narrower, wider []string) bool {
	if len(wider) == 0 {
		return true
	}
	if len(narrower) == 0 {
		return false
	}
	for _, v := range narrower {
		if !slices.Contains(wider, v) {
			return false
		}
	}
	return true
}

func (p Policy) coversIPs(ips []netip.Prefix) bool {
	if p.AllowedIPs == nil {
		return true
	}
	if ips == nil {
		return false
	}
	for _, want := range ips {
		if !slices.ContainsFunc(p.AllowedIPs, func(have netip.Prefix) bool {
			return have.Bits() <= want.Bits() && have.Contains(want.Addr())
		}) {
			return false
		}
	}
	return true
}
