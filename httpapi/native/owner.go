package native

import (
	"encoding/json"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
)

// The owner types, as the key JSON names them.
const (
	ownerAccount     = "account"
	ownerApp         = "app"
	ownerIntegration = "integration"
)

// ownerJSON names a key's owner: the account, app or integration id, and,
// for an integration, its app (core addresses integrations within apps).
type ownerJSON struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	AppID string `json:"appId,omitempty"`
}

func renderOwner(o latchkey.KeyOwner) ownerJSON {
	switch {
	case o.IntegrationID != "":
		return ownerJSON{Type: ownerIntegration, ID: o.IntegrationID, AppID: o.AppID}
	case o.AppID != "":
		return ownerJSON{Type: ownerApp, ID: o.AppID}
	default:
		return ownerJSON{Type: ownerAccount, ID: o.AccountID}
	}
}

// readOwner reads {"type","id"} (and "appId" for an integration).
func readOwner(raw json.RawMessage, errs *fieldErrors) (ownerJSON, bool) {
	var obj body
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		errs.add("owner", `Must be an object such as {"type":"app","id":"…"}.`)
		return ownerJSON{}, false
	}
	before := len(errs.list)
	obj.onlyMembers(&prefixed{errs, "owner."}, ownerMembers, nil)
	var o ownerJSON
	id := func(member string) string {
		raw, ok := obj[member]
		if !ok {
			errs.add("owner."+member, "Required.")
			return ""
		}
		s, ok := str(raw, "owner."+member, errs)
		if ok && (s == "" || len(s) > maxOwnerIDLen) {
			errs.add("owner."+member, "Must be an id of 1 to %d characters.", maxOwnerIDLen)
		}
		return s
	}
	if raw, ok := obj["type"]; !ok {
		errs.add("owner.type", "Required.")
	} else if t, ok := str(raw, "owner.type", errs); ok {
		if t != ownerAccount && t != ownerApp && t != ownerIntegration {
			errs.add("owner.type", "Must be account, app or integration.")
		}
		o.Type = t
	}
	o.ID = id("id")
	switch {
	case o.Type == ownerIntegration:
		o.AppID = id("appId")
	case obj.has("appId"):
		errs.add("owner.appId", "Only an integration owner names its app.")
	}
	return o, len(errs.list) == before
}

// keyOwner resolves an owner reference to the domain's owner, for the
// principal: its own account by id, an app, or an integration in an app.
// Ids that no record can have are ENOTFOUND, as ids of other accounts are.
func (o ownerJSON) keyOwner(p *latchkey.Principal) (latchkey.KeyOwner, error) {
	switch o.Type {
	case ownerAccount:
		if o.ID != p.AccountID {
			return latchkey.KeyOwner{}, latchkey.NotFound("account")
		}
		return latchkey.KeyOwner{AccountID: p.AccountID}, nil
	case ownerApp:
		if !core.IsObjectID(o.ID) {
			return latchkey.KeyOwner{}, latchkey.NotFound("app")
		}
		return latchkey.KeyOwner{AppID: o.ID}, nil
	default:
		if !core.IsObjectID(o.AppID) {
			return latchkey.KeyOwner{}, latchkey.NotFound("app")
		}
		if !core.IsObjectID(o.ID) {
			return latchkey.KeyOwner{}, latchkey.NotFound("integration")
		}
		return latchkey.KeyOwner{AppID: o.AppID, IntegrationID: o.ID}, nil
	}
}

// principalOwner is the owner of the principal's own key: the default owner
// of the keys it makes and lists.
func principalOwner(p *latchkey.Principal) latchkey.KeyOwner {
	return latchkey.KeyOwner{AccountID: p.AccountID, AppID: p.AppID, IntegrationID: p.IntegrationID}
}
