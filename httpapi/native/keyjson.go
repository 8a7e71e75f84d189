package native

import (
	"net/netip"
	"slices"

	"github.com/latchkey/latchkey"
)

type rateLimitJSON struct {
	Limit  int    `json:"limit"`
	Period string `json:"period"`
}

// keyJSON is a key as this surface shows it. Members that may be unset are
// null then, never absent, except Secret: it is shown once, in the answer
// to the request that made it (create, roll), and never again.
type keyJSON struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Owner       ownerJSON           `json:"owner"`
	Type        latchkey.KeyType    `json:"type"`
	Prefix      string              `json:"prefix"`
	Permissions []string            `json:"permissions"`
	ACL         []latchkey.ACLEntry `json:"acl"`
	AllowedIPs  []string            `json:"allowedIps"`
	ExpiresAt   *string             `json:"expiresAt"`
	RateLimit   *rateLimitJSON      `json:"rateLimit"`
	Metadata    map[string]any      `json:"metadata"`
	Enabled     bool                `json:"enabled"`
	CreatedAt   string              `json:"createdAt"`
	UpdatedAt   string              `json:"updatedAt"`
	LastUsedAt  *string             `json:"lastUsedAt"`
	Secret      string              `json:"secret,omitempty"`
}

// renderKey shows a key without its secret.
func renderKey(k *latchkey.Key) keyJSON {
	pol := k.Policy
	perms, scoped := splitACL(pol.ACL)
	out := keyJSON{
		ID: k.ID, Name: k.Name, Owner: renderOwner(latchkey.KeyOwner{AccountID: k.AccountID, AppID: k.AppID, IntegrationID: k.IntegrationID}),
		Type: pol.Type, Prefix: k.Prefix, Permissions: perms, ACL: scoped,
		ExpiresAt: formatTimePtr(pol.ExpiresAt), Metadata: pol.Metadata, Enabled: !pol.Disabled,
		CreatedAt: formatTime(k.CreatedAt), UpdatedAt: formatTime(k.UpdatedAt), LastUsedAt: formatTimePtr(k.LastUsedAt),
	}
	if pol.AllowedIPs != nil {
		out.AllowedIPs = make([]string, len(pol.AllowedIPs))
		for i, p := range pol.AllowedIPs {
			out.AllowedIPs[i] = formatPrefix(p)
		}
	}
	if rl := pol.RateLimit; rl != nil {
		out.RateLimit = &rateLimitJSON{Limit: rl.Limit, Period: formatDuration(rl.Period)}
	}
	return out
}

// renderKeyWithSecret shows a key with its newest secret: for the answers
// to create and roll only.
func renderKeyWithSecret(k *latchkey.Key) keyJSON {
	out := renderKey(k)
	out.Secret = k.NewestSecret().Plain
	return out
}

// splitACL turns the domain's ACL into this surface's two members:
// permissions, what the unscoped entries grant, and acl, the scoped entries.
// A nil ACL (unrestricted) shows as ["*"] and no scoped entry. Keys made by
// another surface may hold several unscoped entries; their permissions are
// shown together.
func splitACL(acl []latchkey.ACLEntry) (perms []string, scoped []latchkey.ACLEntry) {
	if acl == nil {
		return []string{latchkey.PermissionAll}, []latchkey.ACLEntry{}
	}
	perms, scoped = []string{}, []latchkey.ACLEntry{}
	for _, e := range acl {
		if unscoped(e.Scope) {
			for _, perm := range e.Permissions {
				if !slices.Contains(perms, perm) {
					perms = append(perms, perm)
				}
			}
			continue
		}
		if e.Permissions == nil {
			e.Permissions = []string{}
		}
		scoped = append(scoped, e)
	}
	return perms, scoped
}

// formatPrefix shows a single address without its /32 or /128.
func formatPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// unscoped reports whether a scope narrows nothing: every list empty.
func unscoped(s latchkey.ACLScope) bool {
	return len(s.OrganizationID) == 0 && len(s.ProductID) == 0 && len(s.PlanID) == 0 && len(s.CustomFieldName) == 0
}
