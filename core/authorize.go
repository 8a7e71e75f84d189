package core

import (
	"net/netip"

	"github.com/latchkey/latchkey"
)

// Authorize applies a key's policy to one request, the same way on every
// surface: publishable keys may not manage anything (EUNAUTHORIZED); the
// client address must be one the key allows, and the key's ACL must grant
// the operation on the organization (app) the request addresses
// (EFORBIDDEN). organizationID is "" for a request that addresses none.
//
// Latchkey's management operations name an organization and nothing else,
// so an ACL entry scoped by product, plan or custom field grants none of
// them (see latchkey.Policy.Permits).
func Authorize(p *latchkey.Principal, operationID, organizationID string, client netip.Addr) error {
	if p.Policy.Type == latchkey.KeyTypePublishable {
		return &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Publishable keys cannot be used for this operation"}
	}
	if !p.Policy.AllowsIP(client) {
		return &latchkey.Error{Code: latchkey.EFORBIDDEN, Message: "Forbidden: this key may not be used from " + client.String()}
	}
	if !p.Policy.Permits(operationID, latchkey.ACLTarget{OrganizationID: organizationID}) {
		return &latchkey.Error{Code: latchkey.EFORBIDDEN, Message: "Forbidden: this key lacks the permission " + operationID + " here"}
	}
	return nil
}

// AuthorizeAny applies a key's policy to a request that grants nothing by
// itself (it names no operation: a route that describes the calling key,
// signing in to the dashboard, a page of panels each checked on its own):
// everything Authorize checks but the ACL.
func AuthorizeAny(p *latchkey.Principal, client netip.Addr) error {
	unchecked := *p
	unchecked.Policy.ACL = nil
	return Authorize(&unchecked, "", "", client)
}
