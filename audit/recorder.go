package audit

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
)

// Burst timing: a burst ends once its subject has had no failure for
// BurstQuiet, and one that goes on is written at least every BurstSpan, so
// that a flood shows in the log within minutes and a sustained one as one
// event per BurstSpan.
const (
	BurstQuiet = time.Minute
	BurstSpan  = 5 * time.Minute
)

// maxBursts bounds the bursts open at once. Past it, failures of new
// subjects are counted together under one subject, "*": memory stays
// bounded however many addresses a flood comes from, and the log still
// says how many failures there were.
const maxBursts = 10_000

// flushInterval is how often Run writes the bursts that ended.
const flushInterval = 10 * time.Second

// pruneInterval is how often Run applies the retention.
const pruneInterval = time.Hour

// Recorder records the events that come with no change of their own:
// refused management attempts, and bursts of failures. Safe for concurrent
// use.
type Recorder struct {
	store  latchkey.Store
	logger *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	bursts map[burstKey]*burst
}

// burstKey is what a burst counts: one action, of one subject, in one
// account's log, so that failures from one address against two tenants
// never show in each other's log.
type burstKey struct{ action, account, subject string }

// burst counts the failures of one subject since its first.
type burst struct {
	ev          *latchkey.AuditEvent // the first failure's event: actor, target, request
	count       int
	codes       map[string]int
	first, last time.Time
}

// NewRecorder returns a recorder that writes to store and logs to logger
// what it cannot write.
func NewRecorder(store latchkey.Store, logger *slog.Logger) *Recorder {
	return &Recorder{store: store, logger: logger, now: time.Now, bursts: map[burstKey]*burst{}}
}

// SetClock replaces the recorder's clock; for tests.
func (r *Recorder) SetClock(now func() time.Time) { r.now = now }

// Refused records a refused management attempt (outcome unauthorized or
// forbidden) of the request req describes, now, before the request ends.
// namedKeyID is the key id the refused credential named, if the credential
// was not proven (a 401); for a 403 the actor is the proven key. The event
// goes to the log of the account of that key, if it exists.
func (r *Recorder) Refused(ctx context.Context, req *Request, outcome latchkey.AuditOutcome, namedKeyID string) {
	now := r.now().UTC().Truncate(time.Microsecond)
	ev := r.requestEvent(req, outcome, now)
	if ev.Actor == "" && namedKeyID != "" {
		ev.Actor = Label(namedKeyID)
		if k, err := r.store.Key(ctx, ev.Actor); err == nil {
			ev.AccountID = k.AccountID
		}
	}
	if err := r.store.AppendAuditEvents(ctx, ev); err != nil {
		r.logger.WarnContext(ctx, "audit: cannot record a refused attempt", "action", ev.Action, "outcome", ev.Outcome, "err", err)
	}
}

// Failure counts one failure in the burst of its subject: the key keyID
// if the credential named one, else the client address. action is
// ActionVerifyFailures for a failed check on the verify and authorize
// path, ActionAuthFailures for a throttled authentication; code says what
// failed (a verification code, or "THROTTLED"). accountID is the account
// whose log the burst goes to ("" for the operator's). Nothing is written
// now: Flush writes the burst when it ends.
func (r *Recorder) Failure(req *Request, action, accountID, keyID, code string) {
	now := r.now().UTC().Truncate(time.Microsecond)
	subject := "key:" + keyID
	if keyID == "" {
		subject = "address:" + addrText(req.ClientIP)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := burstKey{action, accountID, subject}
	b := r.bursts[k]
	if b == nil {
		if len(r.bursts) >= maxBursts {
			k = burstKey{action, "", "*"}
			b = r.bursts[k]
		}
		if b == nil {
			ev := r.requestEvent(req, outcomeOf(action), now)
			ev.Action, ev.AccountID = action, accountID
			switch {
			case k.subject == "*":
				ev.Actor, ev.AccountID, ev.TargetType, ev.TargetID = "", "", "address", "*"
			case keyID != "":
				ev.TargetType, ev.TargetID = "key", Label(keyID)
			default:
				ev.TargetType, ev.TargetID = "address", addrText(req.ClientIP)
			}
			b = &burst{ev: ev, codes: map[string]int{}, first: now}
			r.bursts[k] = b
		}
	}
	b.count++
	b.codes[code]++
	b.last = now
}

func outcomeOf(action string) latchkey.AuditOutcome {
	if action == latchkey.ActionAuthFailures {
		return latchkey.OutcomeThrottled
	}
	return latchkey.OutcomeFailure
}

// requestEvent is the event of a request's attempt, as far as req knows it.
func (r *Recorder) requestEvent(req *Request, outcome latchkey.AuditOutcome, now time.Time) *latchkey.AuditEvent {
	if req == nil {
		req = &Request{}
	}
	action := ActionFor(req.Operation)
	targetType, _, _ := strings.Cut(action, ".")
	ev := &latchkey.AuditEvent{
		Time: now, AccountID: req.AccountID, Actor: req.Actor, Action: action,
		TargetType: targetType, TargetID: Label(req.TargetID),
		ClientIP: addrText(req.ClientIP), RequestID: req.ID, Surface: req.Surface, Outcome: outcome,
	}
	if req.Operation != "" {
		ev.Detail = map[string]string{"operation": Label(req.Operation)}
	}
	if req.TargetID == "" {
		ev.TargetType = ""
	}
	ev.ID = NewID(now)
	return ev
}

// Flush writes, in one transaction, the bursts that have ended (no failure
// for BurstQuiet) or lasted BurstSpan, or every open burst if all. A
// subject whose burst was written because it lasted starts a new one with
// its next failure. If the write fails, the bursts are put back, to be
// written next time.
func (r *Recorder) Flush(ctx context.Context, all bool) error {
	now := r.now().UTC()
	r.mu.Lock()
	taken := map[burstKey]*burst{}
	for k, b := range r.bursts {
		if all || now.Sub(b.last) >= BurstQuiet || now.Sub(b.first) >= BurstSpan {
			taken[k] = b
			delete(r.bursts, k)
		}
	}
	r.mu.Unlock()
	if len(taken) == 0 {
		return nil
	}
	events := make([]*latchkey.AuditEvent, 0, len(taken))
	for _, b := range taken {
		events = append(events, b.event())
	}
	slices.SortFunc(events, func(a, b *latchkey.AuditEvent) int { return strings.Compare(a.ID, b.ID) })
	err := r.store.AppendAuditEvents(ctx, events...)
	if err != nil {
		r.mu.Lock()
		for k, b := range taken {
			if newer := r.bursts[k]; newer != nil {
				b.merge(newer)
			}
			r.bursts[k] = b
		}
		r.mu.Unlock()
	}
	return err
}

// merge adds a later burst of the same subject to b.
func (b *burst) merge(later *burst) {
	b.count += later.count
	for c, n := range later.codes {
		b.codes[c] += n
	}
	b.last = later.last
}

// event is the burst's one event: the first failure's, with the count, the
// codes seen and when the burst began and last failed. The event's time is
// the burst's first failure.
func (b *burst) event() *latchkey.AuditEvent {
	ev := *b.ev
	ev.ID = NewID(b.last)
	ev.Time = b.first
	ev.Detail = maps.Clone(b.ev.Detail)
	if ev.Detail == nil {
		ev.Detail = map[string]string{}
	}
	ev.Detail["count"] = strconv.Itoa(b.count)
	ev.Detail["last"] = b.last.Format(time.RFC3339Nano)
	codes := slices.Sorted(maps.Keys(b.codes))
	for i, c := range codes {
		codes[i] = fmt.Sprintf("%s=%d", c, b.codes[c])
	}
	ev.Detail["codes"] = strings.Join(codes, ",")
	return &ev
}

// Open reports how many bursts are open; for tests.
func (r *Recorder) Open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bursts)
}

// Run writes ended bursts every 10 s and, if retention is positive, deletes
// events older than retention every hour, until ctx ends; then it writes
// every open burst, with a few seconds' grace.
func (r *Recorder) Run(ctx context.Context, retention time.Duration) {
	flush := time.NewTicker(flushInterval)
	defer flush.Stop()
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	r.prune(ctx, retention)
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.Flush(final, true); err != nil {
				r.logger.Warn("audit: cannot record the last bursts of failures", "err", err)
			}
			return
		case <-flush.C:
			if err := r.Flush(ctx, false); err != nil {
				r.logger.Warn("audit: cannot record bursts of failures; will retry", "err", err)
			}
		case <-prune.C:
			r.prune(ctx, retention)
		}
	}
}

func (r *Recorder) prune(ctx context.Context, retention time.Duration) {
	if retention <= 0 {
		return
	}
	n, err := r.store.PruneAuditEvents(ctx, r.now().Add(-retention))
	switch {
	case err != nil:
		r.logger.Warn("audit: cannot apply the retention; will retry", "err", err)
	case n > 0:
		r.logger.Info("audit: deleted events past the retention", "events", n, "retention", retention)
	}
}
