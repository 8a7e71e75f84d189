package native

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// authorizePath is where gateways ask: /v1/authorize and every path below
// it, with any method, because Envoy's HTTP ext_authz sends the original
// method and path under the prefix it is configured with.
const authorizePath = "/v1/authorize"

// gatewayQuery is the authorize query (authorizeQuery in routes.go lists
// its parameters for the documentation): app and permission, repeatable,
// with empty values dropped; cost and gateway, at most once each.
type gatewayQuery struct {
	apps, permissions []string
	cost, gateway     string
}

// readGatewayQuery reads the authorize query as strictly as web.ParseQuery
// would, without building its map: a gateway sends this query with every
// request it forwards. Other parameters are ignored.
func readGatewayQuery(raw string) (gatewayQuery, *web.QueryError) {
	var q gatewayQuery
	var seenCost, seenGateway bool
	once := func(seen *bool, dst *string, name, value string) *web.QueryError {
		if *seen {
			return web.OnlyOnce(name)
		}
		*seen, *dst = true, value
		return nil
	}
	err := web.ScanQuery(raw, func(name, value string) *web.QueryError {
		switch name {
		case "app", "permission":
			if value == "" {
				// A gateway configuration may pass a parameter whose
				// variable is unset in some locations.
				return nil
			}
			if name == "app" {
				q.apps = append(q.apps, value)
			} else {
				q.permissions = append(q.permissions, value)
			}
		case "cost":
			return once(&seenCost, &q.cost, name, value)
		case "gateway":
			return once(&seenGateway, &q.gateway, name, value)
		}
		return nil
	})
	return q, err
}

// Limits of the authorize query.
const maxAuthorizeParams = 100

// The identity headers a gateway passes on to the protected API.
const (
	headerCode        = "X-Latchkey-Code"
	headerKeyID       = "X-Latchkey-Key-Id"
	headerOwner       = "X-Latchkey-Owner"
	headerPermissions = "X-Latchkey-Permissions"
	headerMetadata    = "X-Latchkey-Metadata"
	// Set by a gateway that appends the client's path (Envoy) to say what to
	// check, as the query does on /v1/authorize itself.
	headerApp        = "X-Latchkey-App"
	headerPermission = "X-Latchkey-Permission"
)

// authorize answers a gateway: is the end client's credential good for this
// request? 200 with identity headers and no body; 401 with WWW-Authenticate
// for no key or one that is unknown, expired or disabled; 403 for a missing
// permission or a disallowed address; 429 with Retry-After over the rate
// limit; 503 if Latchkey cannot decide. Refusals carry the surface's error
// body, except for nginx. The gateway itself presents no key: it relays its
// client's, in any form Latchkey accepts.
//
// What to check comes from the gateway's configuration, never from the
// client: on /v1/authorize itself (nginx, Traefik: the gateway writes that
// URL) from the query — app (repeatable) limits the keys that count to
// those apps', permission (repeatable) must all be granted, cost (default
// 1), and gateway=nginx, which makes a rate-limited answer a 403 with
// X-Latchkey-Code: RATE_LIMITED because nginx's auth_request turns any
// status but 2xx, 401 and 403 into 500 (the shipped nginx configuration
// turns it back into 429), and leaves out every body, which auth_request
// discards unread and which would stop nginx from reusing its connection.
// Below it (Envoy appends the client's own path and query) the query is the
// client's, so it is ignored, and the same settings come from
// X-Latchkey-App and X-Latchkey-Permission headers that the gateway adds
// (comma-separated or repeated).
func (s *surface) authorize(w http.ResponseWriter, r *http.Request) {
	req := core.VerifyRequest{Credential: web.CredentialOf(r), Client: s.cfg.ClientIP(r), Cost: 1}
	web.SetVerification(r.Context())
	method, uri := originOf(r)
	web.SetOrigin(r.Context(), method, uri)
	nginx := false
	if r.URL.Path == authorizePath {
		// Read strictly (web.ScanQuery, web.ParseInt): net/url drops a
		// pair it cannot decode, so "app=%zz" would count every app's keys,
		// and fmt.Sscan read "cost=5abc" as 5.
		q, qerr := readGatewayQuery(r.URL.RawQuery)
		if qerr != nil {
			writeErrorJSON(w, http.StatusBadRequest, "invalid_request", qerr.Message,
				[]fieldError{{Field: qerr.Param, Message: qerr.Message}})
			return
		}
		nginx = q.gateway == "nginx"
		req.Apps, req.Permissions = q.apps, q.permissions
		if q.cost != "" {
			cost, ok := web.ParseInt(q.cost, 1, core.MaxVerifyCost)
			if !ok {
				writeErrorJSON(w, http.StatusBadRequest, "invalid_request", "cost must be an integer from 1 to 1000000.",
					[]fieldError{{Field: "cost", Message: "Must be an integer from 1 to 1000000."}})
				return
			}
			req.Cost = cost
		}
	} else {
		req.Apps = headerList(r.Header.Values(headerApp))
		req.Permissions = headerList(r.Header.Values(headerPermission))
	}
	if len(req.Apps) > maxAuthorizeParams || len(req.Permissions) > maxAuthorizeParams {
		writeErrorJSON(w, http.StatusBadRequest, "invalid_request", "At most 100 apps and 100 permissions.", []fieldError{})
		return
	}
	h := w.Header()
	if req.Credential == "" {
		h.Set("WWW-Authenticate", `Bearer realm="latchkey"`)
		h.Set(headerCode, string(latchkey.CodeNotFound))
		if nginx {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeErrorJSON(w, http.StatusUnauthorized, "unauthorized", "An API key is required.", nil)
		return
	}
	res, err := s.svc.Verify(r.Context(), nil, req)
	if err != nil {
		if latchkey.ErrorCode(err) == latchkey.EINVALID {
			s.writeError(w, r, err)
			return
		}
		// Fail closed, and say it is Latchkey that could not decide, so a
		// gateway can tell an outage from a refusal.
		if latchkey.ErrorCode(err) == latchkey.EUNAVAILABLE {
			web.LogUnavailable(s.logger, r, err)
		} else {
			s.logger.ErrorContext(r.Context(), "authorize: cannot decide", "err", err)
		}
		web.SetRetryAfter(w)
		writeErrorJSON(w, http.StatusServiceUnavailable, "unavailable", "Cannot verify keys right now.", nil)
		return
	}
	if res.Key != nil {
		web.SetKeyID(r.Context(), res.Key.KeyID)
	}
	h[headerCode] = []string{string(res.Code)}
	setRateLimitHeaders(h, res.RateLimit, time.Now())
	if res.Code == latchkey.CodeValid {
		setIdentityHeaders(h, res.Key)
		// No body: gateways read only the headers, and nginx reuses its
		// connection to Latchkey only after an answer without one.
		w.WriteHeader(http.StatusOK)
		return
	}
	refusal := refusals[res.Code]
	if refusal.status == http.StatusUnauthorized {
		if throttled := s.cfg.FailedAuthentication(r, req.Client); throttled != nil {
			// Past the address's threshold: told to back off, as a key over
			// its rate limit is, so that gateways pass it on the same way.
			h[headerCode] = []string{string(latchkey.CodeRateLimited)}
			web.SetThrottled(w, throttled)
			refusal.status, refusal.code, refusal.message = http.StatusTooManyRequests, "throttled", latchkey.ErrorMessage(throttled)
		}
	}
	if refusal.status == http.StatusTooManyRequests && nginx {
		refusal.status = http.StatusForbidden
	}
	if refusal.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="latchkey", error="invalid_token"`)
	}
	if nginx { // auth_request discards the body; see above
		w.WriteHeader(refusal.status)
		return
	}
	// Traefik and Envoy pass a refusal on to their client, body included:
	// it says what went wrong and nothing about the key that the client
	// does not already know.
	writeErrorJSON(w, refusal.status, refusal.code, refusal.message, nil)
}

// refusals is how authorize answers each code but VALID; the code itself is
// in X-Latchkey-Code.
var refusals = map[latchkey.Code]struct {
	status        int
	code, message string
}{
	latchkey.CodeNotFound:                {http.StatusUnauthorized, "unauthorized", "The API key is not valid."},
	latchkey.CodeExpired:                 {http.StatusUnauthorized, "unauthorized", "The API key has expired."},
	latchkey.CodeDisabled:                {http.StatusUnauthorized, "unauthorized", "The API key is disabled."},
	latchkey.CodeInsufficientPermissions: {http.StatusForbidden, "forbidden", "The API key lacks a permission this request needs."},
	latchkey.CodeIPNotAllowed:            {http.StatusForbidden, "forbidden", "The API key may not be used from this address."},
	latchkey.CodeRateLimited:             {http.StatusTooManyRequests, "rate_limited", "Too many requests for this API key; retry after the seconds in Retry-After."},
}

// setIdentityHeaders tells the protected API whose key it was.
func setIdentityHeaders(h http.Header, k *latchkey.Principal) {
	owner := renderOwner(latchkey.KeyOwner{AccountID: k.AccountID, AppID: k.AppID, IntegrationID: k.IntegrationID})
	// One backing array for the values, each header a full slice of one
	// element of it (so an append by a later handler copies): a gateway
	// asks for these with every request it forwards. Direct assignments:
	// the names are constants in canonical form.
	values := make([]string, 4)
	values[0], values[1], values[2] = k.KeyID, owner.Type+":"+owner.ID, permissionList(k.Policy.ACL)
	h[headerKeyID] = values[0:1:1]
	h[headerOwner] = values[1:2:2]
	h[headerPermissions] = values[2:3:3]
	if k.Policy.Metadata != nil {
		values[3] = headerJSON(k.Policy.Metadata)
		h[headerMetadata] = values[3:4:4]
	}
}

// permissionList is the permissions header: the permissions splitACL
// lists, comma-separated. The usual ACL, one unscoped entry without
// repeats, is joined as it is, without splitACL's copies.
func permissionList(acl []latchkey.ACLEntry) string {
	if len(acl) == 1 && unscoped(acl[0].Scope) && !hasRepeats(acl[0].Permissions) {
		return strings.Join(acl[0].Permissions, ",")
	}
	perms, _ := splitACL(acl)
	return strings.Join(perms, ",")
}

// hasRepeats reports whether a value occurs twice in values, which are few.
func hasRepeats(values []string) bool {
	for i, v := range values {
		if slices.Contains(values[:i], v) {
			return true
		}
	}
	return false
}

// headerJSON encodes v as JSON that is safe in a header value: ASCII only
// (other characters as \u escapes), so no byte can end the header or be
// mangled on its way.
func headerJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	b := bytes.TrimSpace(buf.Bytes())
	var out strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r < 0x80:
			out.WriteByte(b[0])
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
		b = b[size:]
	}
	return out.String()
}

// originOf is the request a gateway asks about: X-Original-Method and
// X-Original-URI (nginx), X-Forwarded-Method and X-Forwarded-Uri (Traefik),
// or the request itself below the prefix (Envoy). It is logged, not used
// to decide: what to check is the gateway's configuration.
func originOf(r *http.Request) (method, uri string) {
	for _, pair := range [...][2]string{{"X-Original-Method", "X-Original-Uri"}, {"X-Forwarded-Method", "X-Forwarded-Uri"}} {
		if m, u := web.FirstHeader(r.Header, pair[0]), web.FirstHeader(r.Header, pair[1]); m != "" || u != "" {
			return m, u
		}
	}
	if rest := strings.TrimPrefix(r.URL.Path, authorizePath); rest != r.URL.Path && rest != "" {
		return r.Method, rest
	}
	return "", ""
}

// headerList splits comma-separated header values, dropping empty ones.
func headerList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}
