package latchkey

import (
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// PermissionAll grants every operation.
const PermissionAll = "*"

// ACLTarget is what one operation acts on, in the terms of ACL scopes: one
// value per scope dimension, "" where the operation names none. Latchkey's
// own management operations name at most an organization (the app they
// address); an API that verifies keys for the caller's own API can name the
// product, plan or custom field that API is asked about.
type ACLTarget struct {
	OrganizationID  string
	ProductID       string
	PlanID          string
	CustomFieldName string
}

// lists returns a scope's dimensions, and values a target's, in one order.
// They are the one place the dimensions are enumerated, so that Permits and
// Covers cannot come to disagree about which exist.
func (s ACLScope) lists() [4][]string {
	return [4][]string{s.OrganizationID, s.ProductID, s.PlanID, s.CustomFieldName}
}

func (t ACLTarget) values() [4]string {
	return [4]string{t.OrganizationID, t.ProductID, t.PlanID, t.CustomFieldName}
}

// Permits reports whether the policy's ACL allows operationID on target. A
// nil ACL permits everything; otherwise some entry must grant the operation
// (or "*") with a scope that admits the target in every dimension.
//
// A dimension the entry leaves unscoped admits any value; a dimension it
// scopes admits only a target that names one of its values. An operation
// that names no value in a dimension is therefore granted by no entry scoped
// in it: a scope can only narrow an entry, never widen it. This is what
// keeps an entry scoped by productId, planId or customFieldName, which
// Latchkey's management operations never name, from granting them.
func (p Policy) Permits(operationID string, target ACLTarget) bool {
	if p.ACL == nil {
		return true
	}
	for _, e := range p.ACL {
		if !slices.ContainsFunc(e.Permissions, func(granted string) bool { return PermissionMatches(granted, operationID) }) {
			continue
		}
		if e.Scope.admits(target) {
			return true
		}
	}
	return false
}

// PermissionMatches reports whether a granted permission covers the wanted
// one: "*" covers everything, a pattern ending in ".*" covers every
// permission under that prefix ("orders.*" covers "orders.read" and
// "orders.items.write", not "orders"), and any other permission covers
// itself. The wanted permission may itself be a pattern: "orders.*" covers
// "orders.items.*", and only "*" covers "*".
func PermissionMatches(granted, wanted string) bool {
	switch {
	case granted == PermissionAll || granted == wanted:
		return true
	case wanted == PermissionAll:
		return false
	}
	prefix, isPattern := strings.CutSuffix(granted, "*")
	return isPattern && strings.HasSuffix(prefix, ".") && strings.HasPrefix(wanted, prefix)
}

// admits reports whether every dimension of the scope admits the target's
// value in it.
func (s ACLScope) admits(t ACLTarget) bool {
	values := t.values()
	for i, list := range s.lists() {
		if len(list) > 0 && (values[i] == "" || !slices.Contains(list, values[i])) {
			return false
		}
	}
	return true
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
//
// Covers agrees with Permits: if p covers narrower, then every operation on
// every target that narrower permits, p permits too. Each of narrower's
// entries must lie inside one of p's, dimension by dimension, and a
// dimension p scopes is never covered by one narrower leaves unscoped, so an
// entry scoped by productId covers only entries scoped by (some of) the same
// products: it cannot make or keep a key that would act on Latchkey's own
// operations, which name no product.
//
// Time and rate are rights too: a key that expires covers only keys that
// expire no later, and a rate-limited key only keys limited to no higher a
// rate, so that no key can outlive or outpace itself through a child.
func (p Policy) Covers(narrower Policy) bool {
	return p.coversACL(narrower.ACL) && p.coversIPs(narrower.AllowedIPs) &&
		p.coversExpiry(narrower.ExpiresAt) && p.coversRate(narrower.RateLimit)
}

func (p Policy) coversExpiry(exp *time.Time) bool {
	return p.ExpiresAt == nil || exp != nil && !exp.After(*p.ExpiresAt)
}

// coversRate compares rates (limit per period) exactly: a/b <= c/d as
// a*d <= c*b, with 128-bit products so that no limit or period overflows.
func (p Policy) coversRate(rl *RateLimit) bool {
	if p.RateLimit == nil {
		return true
	}
	if rl == nil || rl.Limit < 0 || rl.Period <= 0 {
		return false
	}
	hi1, lo1 := bits.Mul64(uint64(rl.Limit), uint64(p.RateLimit.Period))
	hi2, lo2 := bits.Mul64(uint64(max(p.RateLimit.Limit, 0)), uint64(rl.Period))
	return hi1 < hi2 || hi1 == hi2 && lo1 <= lo2
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
	if !slices.ContainsFunc(e.Permissions, func(granted string) bool { return PermissionMatches(granted, perm) }) {
		return false
	}
	have := e.Scope.lists()
	for i, want := range scope.lists() {
		if !within(want, have[i]) {
			return false
		}
	}
	return true
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
