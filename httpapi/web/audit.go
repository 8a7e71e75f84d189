package web

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/audit"
)

// noteAttempt records, for the audit log, the operation r asks for and the
// id its path names (the last wildcard of its route's pattern: a key, an
// app or an integration), so that a refusal can say what was refused.
func noteAttempt(r *http.Request, operationID string) {
	req := audit.RequestFrom(r.Context())
	if req == nil {
		return
	}
	req.Operation = operationID
	if name := lastWildcard(r.Pattern); name != "" {
		req.TargetID = r.PathValue(name)
	}
}

// noteActor records, for the audit log, the key r's credential proved.
func noteActor(r *http.Request, p *latchkey.Principal) {
	if req := audit.RequestFrom(r.Context()); req != nil {
		req.Actor, req.AccountID = p.KeyID, p.AccountID
	}
}

// lastWildcard returns the name of the last {wildcard} in a ServeMux
// pattern, or "".
func lastWildcard(pattern string) string {
	open := strings.LastIndexByte(pattern, '{')
	end := strings.LastIndexByte(pattern, '}')
	if open < 0 || end < open {
		return ""
	}
	name, _ := strings.CutSuffix(pattern[open+1:end], "...")
	if name == "$" {
		return ""
	}
	return name
}

// refuse counts a failed authentication of r against its client address
// and returns what to answer: err itself, or an ETHROTTLED error once the
// address is past the threshold. Only a credential that was refused counts,
// not a store that could not be read.
func (c Config) refuse(r *http.Request, err error) error {
	if latchkey.ErrorCode(err) != latchkey.EUNAUTHORIZED {
		return err
	}
	if throttled := c.FailedAuthentication(r, c.ClientIP(r)); throttled != nil {
		return throttled
	}
	return err
}

// FailedAuthentication counts a refused credential of r against client's
// address and returns the ETHROTTLED error to answer with once the address
// is past its threshold, marking r for the audit log (its failure then
// goes into a burst, not an event of its own); nil below the threshold.
// Gate calls it for the request's own credential, authorize for the end
// client's.
func (c Config) FailedAuthentication(r *http.Request, client netip.Addr) error {
	throttled := c.FailedAuth.Fail(client, time.Now())
	if throttled != nil {
		if req := audit.RequestFrom(r.Context()); req != nil {
			req.Throttled = true
		}
	}
	return throttled
}

// NamedKeyID returns the key id r's credential names, without proving it:
// the user name of Basic, or the kid of a JWT. A bare secret names none.
// The audit log records it for a refused credential; it is never trusted
// for anything else.
func NamedKeyID(r *http.Request) string {
	value := strings.TrimSpace(FirstHeader(r.Header, "Authorization"))
	scheme, rest, _ := strings.Cut(value, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return ""
		}
		id, _, _ := strings.Cut(string(raw), ":")
		return id
	case strings.EqualFold(scheme, "Bearer") && strings.Count(rest, ".") == 2:
		header, _, _ := strings.Cut(rest, ".")
		raw, err := base64.RawURLEncoding.DecodeString(header)
		if err != nil {
			return ""
		}
		var h struct {
			Kid string `json:"kid"`
		}
		if json.Unmarshal(raw, &h) != nil {
			return ""
		}
		return h.Kid
	}
	return ""
}

// RequestID returns r's request id: the X-Request-Id a trusted proxy sent,
// if it is a plausible one (1 to 128 characters of letters, digits and
// "._~:+/=-"), else a new one. A client's own X-Request-Id is not
// believed, for the same reason as its X-Forwarded-For: the audit log must
// not say what a client chose.
func (c Config) RequestID(r *http.Request) string {
	if v := FirstHeader(r.Header, "X-Request-Id"); v != "" && validRequestID(v) && contains(c.TrustedProxies, addrOf(r.RemoteAddr)) {
		return v
	}
	return newRequestID()
}

func validRequestID(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._~:+/=-", c) >= 0) {
			return false
		}
	}
	return true
}

// Request ids are this process's random prefix and a counter: unique
// across nodes and restarts, and cheap enough for every verification.
var (
	requestIDPrefix = strings.ToLower(rand.Text()[:10])
	requestSeq      atomic.Uint64
)

func newRequestID() string {
	// One allocation: this runs on every verification.
	var buf [32]byte
	b := append(append(buf[:0], requestIDPrefix...), '-')
	return string(strconv.AppendUint(b, requestSeq.Add(1), 36))
}
