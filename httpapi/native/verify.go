package native

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/ratelimit"
)

// verifyJSON is the answer of POST /v1/verify. For NOT_FOUND only valid and
// code are set: nothing about a key the caller may not see.
type verifyJSON struct {
	Valid       bool            `json:"valid"`
	Code        latchkey.Code   `json:"code"`
	KeyID       string          `json:"keyId,omitempty"`
	Owner       *ownerJSON      `json:"owner,omitempty"`
	Name        string          `json:"name,omitempty"`
	Permissions []string        `json:"permissions,omitempty"`
	Metadata    map[string]any  `json:"metadata,omitempty"`
	ExpiresAt   *string         `json:"expiresAt,omitempty"`
	RateLimit   *rateRemainJSON `json:"rateLimit,omitempty"`
}

// rateRemainJSON is where a key stands against its rate limit.
type rateRemainJSON struct {
	Limit     int    `json:"limit"`
	Remaining int    `json:"remaining"`
	Reset     string `json:"reset"`
}

// verify handles POST /v1/verify: {"key", "apps", "permissions", "scope",
// "ip", "cost"}. It always answers 200 with the verdict for a well-formed
// request from a caller allowed to verify; the verdict is in "code".
func (s *surface) verify(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	web.SetVerification(r.Context())
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	var errs fieldErrors
	b.onlyMembers(&errs, verifyMembers, nil)
	req := core.VerifyRequest{Cost: 1}
	if raw, ok := b["key"]; !ok {
		errs.add("key", "Required: a secret, a JWT, or keyId:secret.")
	} else if v, ok := str(raw, "key", &errs); ok {
		req.Credential = v
	}
	if raw, ok := b["apps"]; ok && !isNull(raw) {
		// Items as pointers: encoding/json decodes a null item into a
		// string as "", which would be taken for an app id.
		var apps []*string
		if json.Unmarshal(raw, &apps) != nil || len(apps) > core.MaxVerifyApps {
			errs.add("apps", "Must be an array of at most %d app ids.", core.MaxVerifyApps)
			apps = nil
		}
		for i, app := range apps {
			if app == nil || *app == "" {
				errs.add("apps."+strconv.Itoa(i), "Must be an app id.")
				continue
			}
			req.Apps = append(req.Apps, *app)
		}
	}
	if raw, ok := b["permissions"]; ok && !isNull(raw) {
		req.Permissions, _ = readPermissions(raw, "permissions", web.Config{}, &errs) // asked, not granted: any name
	}
	if raw, ok := b["scope"]; ok && !isNull(raw) {
		req.Target = readTarget(raw, &errs)
	}
	if raw, ok := b["ip"]; ok && !isNull(raw) {
		if v, ok := str(raw, "ip", &errs); ok {
			addr, err := netip.ParseAddr(v)
			if err != nil || addr.Zone() != "" {
				errs.add("ip", "Must be an IPv4 or IPv6 address.")
			}
			req.Client = addr.Unmap()
		}
	}
	if raw, ok := b["cost"]; ok && !isNull(raw) {
		if json.Unmarshal(raw, &req.Cost) != nil || req.Cost < 1 || req.Cost > core.MaxVerifyCost {
			errs.add("cost", "Must be an integer from 1 to %d.", core.MaxVerifyCost)
		}
	}
	if err := errs.err(); err != nil {
		return err
	}
	res, err := s.svc.Verify(r.Context(), p, req)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, renderVerdict(res))
	return nil
}

// The members of a verify body and of its scope, from the route table.
var (
	verifyMembers      = members(verifyBody())
	verifyScopeMembers = members(verifyBody(), "scope")
)

// readTarget reads {"organizationId","productId","planId","customFieldName"}:
// one value each, naming what the caller's API is asked about.
func readTarget(raw json.RawMessage, errs *fieldErrors) latchkey.ACLTarget {
	var t struct {
		OrganizationID  string `json:"organizationId"`
		ProductID       string `json:"productId"`
		PlanID          string `json:"planId"`
		CustomFieldName string `json:"customFieldName"`
	}
	var obj body
	if json.Unmarshal(raw, &obj) != nil || obj == nil || json.Unmarshal(raw, &t) != nil {
		errs.add("scope", "Must be an object of strings: organizationId, productId, planId, customFieldName.")
		return latchkey.ACLTarget{}
	}
	obj.onlyMembers(&prefixed{errs, "scope."}, verifyScopeMembers, nil)
	return latchkey.ACLTarget{OrganizationID: t.OrganizationID, ProductID: t.ProductID, PlanID: t.PlanID, CustomFieldName: t.CustomFieldName}
}

// renderVerdict shows a verify result.
func renderVerdict(res *core.VerifyResult) verifyJSON {
	out := verifyJSON{Valid: res.Valid(), Code: res.Code}
	if k := res.Key; k != nil {
		owner := renderOwner(latchkey.KeyOwner{AccountID: k.AccountID, AppID: k.AppID, IntegrationID: k.IntegrationID})
		out.KeyID, out.Owner, out.Name, out.Metadata = k.KeyID, &owner, k.Name, k.Policy.Metadata
		out.Permissions, _ = splitACL(k.Policy.ACL)
		out.ExpiresAt = formatTimePtr(k.Policy.ExpiresAt)
	}
	if d := res.RateLimit; d != nil {
		out.RateLimit = &rateRemainJSON{Limit: d.Limit, Remaining: d.Remaining, Reset: formatTime(d.Reset)}
	}
	return out
}

// setRateLimitHeaders writes the RateLimit-* headers (IETF draft, with delta
// seconds) and, when the request was refused, Retry-After.
func setRateLimitHeaders(h http.Header, d *ratelimit.Decision, now time.Time) {
	if d == nil {
		return
	}
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(d.Reset.Sub(now)), 10))
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(web.RetryAfterSeconds(d.RetryAfter)))
	}
}

// ceilSeconds rounds a duration up to whole seconds, never below 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
