package latchkey

import (
	"context"
	"time"
)

// AuditEvent is one entry of the audit log: who did what to what, from
// where, and how it ended. Events are appended, never changed; the only way
// one leaves the store is retention (PruneAuditEvents). No event holds a
// secret or a credential: the actor and target are ids.
type AuditEvent struct {
	// ID orders events: a ULID, so that ids sort by time (see audit.NewID).
	ID   string
	Time time.Time
	// AccountID is the account whose log the event is in: the actor's, or
	// the target's when the actor is unknown. "" for server-wide events,
	// such as a master-key rotation or a credential that named no key,
	// which only the operator sees (latchkey audit export).
	AccountID string
	// Actor is the id of the key that acted, or that a refused credential
	// named (the Basic user name or the JWT kid; a bare secret that matches
	// no key names none). "" for none, and for the command line.
	Actor string
	// Action names what was done or attempted, as "resource.verb"; see the
	// Action constants.
	Action string
	// TargetType and TargetID name what the action was done to: "key",
	// "app", "integration", "account", "master_key", or for a burst of
	// failures from one client, "address" with the address.
	TargetType string
	TargetID   string
	// ClientIP is the client's address as the surfaces see it (behind a
	// trusted proxy, the address the proxy vouches for).
	ClientIP string
	// RequestID is the request's X-Request-Id, as sent back to the client.
	RequestID string
	// Surface is where it came in: "native", "sunshine", "rebilly",
	// "gateway" (verify and authorize), "dashboard", or "cli".
	Surface string
	Outcome AuditOutcome
	// Detail adds what the action needs to be understood: an operation
	// id, a count of failures, the codes a burst saw. Never a secret.
	Detail map[string]string
}

// AuditOutcome says how an audited action ended.
type AuditOutcome string

// The outcomes. Only changes that were made are recorded as successes;
// refused attempts are recorded as what refused them.
const (
	OutcomeSuccess      AuditOutcome = "success"
	OutcomeUnauthorized AuditOutcome = "unauthorized" // no valid credential (401)
	OutcomeForbidden    AuditOutcome = "forbidden"    // a valid credential, outside its rights (403)
	OutcomeThrottled    AuditOutcome = "throttled"    // too many failed authentications from one address (429)
	OutcomeFailure      AuditOutcome = "failure"      // a check that failed: verify and authorize bursts
)

// Actions: what is done to which resource. Reads are not audited, but a
// refused read is, under the read's action.
const (
	ActionAccountCreate     = "account.create"
	ActionAppCreate         = "app.create"
	ActionAppUpdate         = "app.update"
	ActionAppDelete         = "app.delete"
	ActionIntegrationCreate = "integration.create"
	ActionIntegrationUpdate = "integration.update"
	ActionIntegrationDelete = "integration.delete"
	ActionKeyCreate         = "key.create"
	ActionKeyUpdate         = "key.update"
	ActionKeyRoll           = "key.roll"
	ActionKeyDelete         = "key.delete"
	// ActionKeyImport: a key brought in from another system (POST
	// /v1/keys/import), with its own id and secret or its hash.
	ActionKeyImport = "key.import"
	// ActionKeyReveal: a key's secret was shown in the dashboard.
	ActionKeyReveal       = "key.reveal"
	ActionMasterKeyRotate = "master_key.rotate"
	// ActionAuthFailures is a burst of failed authentications (of the
	// request's own credential) from one address, past the throttling
	// threshold.
	ActionAuthFailures = "auth.failures"
	// ActionVerifyFailures is a burst of failed checks of one key, or of
	// unknown credentials from one address, on the verify and authorize
	// path.
	ActionVerifyFailures = "verify.failures"
)

// AuditQuery selects audit events: newest first, unless Oldest. Every
// filter that is set must match.
type AuditQuery struct {
	// AccountID limits the events to one account's log. All must be set
	// instead to read every account's and the server-wide events: the
	// operator's export.
	AccountID string
	All       bool

	Actor   string
	Target  string // a TargetID
	Action  string
	Outcome AuditOutcome
	// From and To bound Time: From <= Time < To. Zero means unbounded.
	From, To time.Time

	// Oldest lists oldest first.
	Oldest bool
	// After, if set, starts after this event id in the listing's order.
	After string
	// Limit is the most events returned; at least 1.
	Limit int
}

type auditEventKey struct{}

// WithAuditEvent returns a context that carries ev to the store. Every Store
// method that changes the store writes the event its context carries, in the
// same transaction as the change: if the change fails, the event is not
// written, and if the event cannot be written, the change fails. The core
// attaches an event to each change it asks of the store.
func WithAuditEvent(ctx context.Context, ev *AuditEvent) context.Context {
	return context.WithValue(ctx, auditEventKey{}, ev)
}

// AuditEventFrom returns the event ctx carries, or nil. Stores call it.
func AuditEventFrom(ctx context.Context) *AuditEvent {
	ev, _ := ctx.Value(auditEventKey{}).(*AuditEvent)
	return ev
}

// MaxAuditPage bounds AuditQuery.Limit.
const MaxAuditPage = 1000

// ValidAuditQuery reports a query no store runs: one that names no account
// without asking for All, or whose Limit is outside 1 to MaxAuditPage.
func ValidAuditQuery(q AuditQuery) error {
	switch {
	case q.AccountID == "" && !q.All:
		return Errorf(EINVALID, "an audit query names an account, or all of them")
	case q.Limit < 1 || q.Limit > MaxAuditPage:
		return Errorf(EINVALID, "an audit query's limit is 1 to %d", MaxAuditPage)
	}
	return nil
}
