// Package audit makes and records the audit log's events (latchkey.AuditEvent).
//
// Three kinds of event, recorded three ways:
//
//   - A change (a key created, an app deleted…) is recorded by the core,
//     which attaches the event to the change (latchkey.WithAuditEvent) so
//     that the store writes both in one transaction.
//   - A refused management attempt (401 or 403) is recorded once the
//     request is answered, by the Recorder, each in a transaction of its
//     own; past the failed-authentication threshold of its client address,
//     refusals are no longer recorded one by one but counted in a burst.
//   - Failed checks on the verify and authorize path are never recorded one
//     by one: the Recorder counts them in bursts, one per key (or, for a
//     credential that names no key, per client address), and writes one
//     event per burst, so that a flood cannot flood the log.
//
// The details of the request an event came from (its id, client address and
// surface) travel in its context, as a *Request the HTTP layer attaches.
package audit

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/ulid"
	"github.com/latchkey/latchkey/secret"
)

// Request is what the audit log needs to know about one HTTP request. The
// HTTP layer makes one per request and attaches it to the request's
// context; the surface fills in what it learns while serving it. One
// goroutine serves a request, so no lock guards it.
type Request struct {
	// ID is the request id sent back in X-Request-Id.
	ID string
	// ClientIP is the client's address as the surfaces see it.
	ClientIP netip.Addr
	// Surface is "native", "sunshine", "rebilly", "gateway" or "dashboard".
	Surface string

	// Operation is the operation attempted (a route's operation id), and
	// TargetID the id its path names, if any; set when the request is
	// authorized, so that a refusal can say what was refused.
	Operation string
	TargetID  string
	// Actor and AccountID are the authenticated key and its account, once
	// the credential has been proven.
	Actor     string
	AccountID string
	// Named is the key id a refused credential named, when the surface
	// read it from somewhere other than the Authorization header (the
	// dashboard's sign-in form).
	Named string
	// Throttled says the request was refused by the failed-authentication
	// throttle: it is counted in a burst, not recorded on its own.
	Throttled bool
}

type requestKey struct{}

// WithRequest returns a context that carries req.
func WithRequest(ctx context.Context, req *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, req)
}

// RequestFrom returns the request ctx carries, or nil: a command run from
// the command line has none.
func RequestFrom(ctx context.Context) *Request {
	req, _ := ctx.Value(requestKey{}).(*Request)
	return req
}

// SurfaceCLI is the surface of events with no request: commands such as
// bootstrap and rotate-master-key.
const SurfaceCLI = "cli"

var ids ulid.Monotonic

// NewID returns an event id: a ULID after every id this process made
// before, so that events sort in the order they were recorded.
func NewID(t time.Time) string { return ids.New(t) }

// Event returns a successful event of action by actor (nil for none, as
// for the command line) on the target, at now, with the details of the
// request ctx carries.
func Event(ctx context.Context, now time.Time, actor *latchkey.Principal, action, targetType, targetID string) *latchkey.AuditEvent {
	ev := &latchkey.AuditEvent{
		ID: NewID(now), Time: now, Action: action,
		TargetType: targetType, TargetID: Label(targetID),
		Outcome: latchkey.OutcomeSuccess, Surface: SurfaceCLI,
	}
	if actor != nil {
		ev.Actor, ev.AccountID = actor.KeyID, actor.AccountID
	}
	if req := RequestFrom(ctx); req != nil {
		ev.RequestID, ev.ClientIP, ev.Surface = req.ID, addrText(req.ClientIP), req.Surface
	}
	return ev
}

// maxLabel bounds an id the log keeps from a request: ids of keys, apps and
// integrations are far shorter.
const maxLabel = 64

// Label returns s fit for the log when s comes from a request (a key id a
// credential names, an id in a path): s itself if it is a plausible id,
// at most 64 characters of letters, digits and "_-.:@~", which every id
// Latchkey makes or accepts is; otherwise a mark that says it was not one.
// Nothing a client sends reaches the log unchecked, so the log holds no
// control characters, no invalid UTF-8, and no secret pasted where an id
// belongs: a well-formed secret is shown as "(a secret)".
func Label(s string) string {
	if len(s) > maxLabel {
		return "(invalid)"
	}
	if secret.WellFormed(s) {
		return "(a secret)"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-.:@~", c) >= 0) {
			return "(invalid)"
		}
	}
	return s
}

// addrText is an address as the log keeps it: "" for none.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
