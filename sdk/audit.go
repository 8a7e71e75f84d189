package sdk

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// AuditOutcome is how an audited attempt ended.
type AuditOutcome string

// The outcomes of audit events, and the values ListAuditEventsOptions.Outcome
// takes.
const (
	OutcomeSuccess      AuditOutcome = "success"
	OutcomeUnauthorized AuditOutcome = "unauthorized"
	OutcomeForbidden    AuditOutcome = "forbidden"
	OutcomeThrottled    AuditOutcome = "throttled" // a burst of failed authentications from one address
	OutcomeFailure      AuditOutcome = "failure"   // a burst of failed verifications of one key
)

// AuditEvent is one event of the account's audit log: a change, or a
// refused attempt. No event holds a secret.
type AuditEvent struct {
	// ID is a ULID: ids sort by time.
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Actor is the key that acted (for a refused credential, the key id it
	// named); nil when there is none.
	Actor *string `json:"actor"`
	// Action is such as "key.create", "app.delete" or "auth.failures".
	Action string `json:"action"`
	// Target is what was acted on; nil when nothing was.
	Target    *AuditTarget `json:"target"`
	ClientIP  string       `json:"clientIp,omitempty"`
	RequestID string       `json:"requestId,omitempty"`
	// Surface is where it came in: native, sunshine, rebilly, gateway,
	// dashboard or cli.
	Surface string       `json:"surface"`
	Outcome AuditOutcome `json:"outcome"`
	// Detail holds what more there is to say, such as a roll's grace
	// period or a burst's count.
	Detail map[string]string `json:"detail,omitempty"`
}

// AuditTarget is what an audit event acted on: a key, an app, an
// integration, or the address of a burst.
type AuditTarget struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// ListAuditEventsOptions selects a page of the audit log. Zero values
// select everything.
type ListAuditEventsOptions struct {
	// Limit is the page size, 1 to 100; 0 means the server's default, 25.
	Limit int
	// Cursor is the previous page's NextCursor; "" for the first page.
	Cursor string
	// Actor, Target (an id) and Action select events by those members.
	Actor, Target, Action string
	Outcome               AuditOutcome
	// From (inclusive) and To (exclusive) bound the events' times.
	From, To time.Time
}

func (o ListAuditEventsOptions) query() url.Values {
	q := url.Values{}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	for name, v := range map[string]string{"cursor": o.Cursor, "actor": o.Actor, "target": o.Target,
		"action": o.Action, "outcome": string(o.Outcome)} {
		if v != "" {
			q.Set(name, v)
		}
	}
	if !o.From.IsZero() {
		q.Set("from", o.From.UTC().Format(time.RFC3339Nano))
	}
	if !o.To.IsZero() {
		q.Set("to", o.To.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// ListAuditEvents returns one page of the account's audit log, newest first
// (GET /v1/audit-events). AllAuditEvents walks every page. Account keys
// only: the log spans the account.
func (c *Client) ListAuditEvents(ctx context.Context, opts ListAuditEventsOptions) (*Page[AuditEvent], error) {
	var p Page[AuditEvent]
	if err := c.do(ctx, http.MethodGet, "/v1/audit-events", opts.query(), nil, &p, http.StatusOK); err != nil {
		return nil, err
	}
	return &p, nil
}

// AllAuditEvents iterates over every event opts selects, newest first,
// fetching a page at a time from opts.Cursor on; opts.Limit is the page
// size. An error ends the iteration after it is yielded.
func (c *Client) AllAuditEvents(ctx context.Context, opts ListAuditEventsOptions) iter.Seq2[*AuditEvent, error] {
	return all(ctx, opts.Cursor, func(ctx context.Context, cursor string) (*Page[AuditEvent], error) {
		opts.Cursor = cursor
		return c.ListAuditEvents(ctx, opts)
	})
}
