package audit_test

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/store/sqlite"
)

func newRecorder(t *testing.T) (*audit.Recorder, *sqlite.Store, *time.Time) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	rec := audit.NewRecorder(store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	rec.SetClock(func() time.Time { return now })
	return rec, store, &now
}

// events returns every event of the store, oldest first.
func events(t *testing.T, store latchkey.Store) []*latchkey.AuditEvent {
	t.Helper()
	var all []*latchkey.AuditEvent
	q := latchkey.AuditQuery{All: true, Oldest: true, Limit: latchkey.MaxAuditPage}
	for {
		page, err := store.AuditEvents(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < q.Limit {
			return all
		}
		q.After = page[len(page)-1].ID
	}
}

func flush(t *testing.T, rec *audit.Recorder, all bool) {
	t.Helper()
	if err := rec.Flush(t.Context(), all); err != nil {
		t.Fatal(err)
	}
}

// A burst is written once its subject has been quiet for BurstQuiet, or
// once it has lasted BurstSpan, and not before.
func TestBurstsEndWhenQuietOrLong(t *testing.T) {
	rec, store, now := newRecorder(t)
	req := &audit.Request{ClientIP: netip.MustParseAddr("198.51.100.4"), Surface: "gateway", ID: "r1"}
	for range 3 {
		rec.Failure(req, latchkey.ActionVerifyFailures, "acct", "", "NOT_FOUND")
	}
	rec.Failure(req, latchkey.ActionVerifyFailures, "acct", "key_1", "EXPIRED")
	flush(t, rec, false)
	if n := len(events(t, store)); n != 0 {
		t.Fatalf("%d events while the bursts go on, want 0", n)
	}
	*now = now.Add(audit.BurstQuiet)
	flush(t, rec, false)
	evs := events(t, store)
	if len(evs) != 2 {
		t.Fatalf("%d events after a quiet minute, want 2", len(evs))
	}
	byTarget := map[string]*latchkey.AuditEvent{}
	for _, ev := range evs {
		byTarget[ev.TargetType+":"+ev.TargetID] = ev
	}
	addr, key := byTarget["address:198.51.100.4"], byTarget["key:key_1"]
	if addr == nil || addr.Detail["count"] != "3" || addr.Detail["codes"] != "NOT_FOUND=3" || addr.AccountID != "acct" ||
		addr.Outcome != latchkey.OutcomeFailure || addr.RequestID != "r1" {
		t.Errorf("address burst = %+v", addr)
	}
	if key == nil || key.Detail["count"] != "1" || key.Detail["codes"] != "EXPIRED=1" {
		t.Errorf("key burst = %+v", key)
	}
	if rec.Open() != 0 {
		t.Errorf("%d bursts open after they were written", rec.Open())
	}

	// A flood that never pauses is written every BurstSpan.
	for range 10 {
		rec.Failure(req, latchkey.ActionVerifyFailures, "acct", "", "NOT_FOUND")
		*now = now.Add(audit.BurstSpan / 10)
		flush(t, rec, false)
	}
	if n := len(events(t, store)); n != 3 {
		t.Errorf("%d events after a flood of one BurstSpan, want 3", n)
	}
}

// However many addresses a flood comes from, the open bursts stay bounded:
// past the bound, new subjects are counted together.
func TestBurstsAreBounded(t *testing.T) {
	rec, store, _ := newRecorder(t)
	const subjects = 10_000 + 500
	for i := range subjects {
		req := &audit.Request{ClientIP: netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)})}
		rec.Failure(req, latchkey.ActionAuthFailures, "", "", "THROTTLED")
	}
	if n := rec.Open(); n != 10_001 {
		t.Fatalf("%d bursts open, want 10,000 and one for the rest", n)
	}
	flush(t, rec, true)
	evs := events(t, store)
	var rest *latchkey.AuditEvent
	for _, ev := range evs {
		if ev.TargetID == "*" {
			rest = ev
		}
	}
	if len(evs) != 10_001 || rest == nil || rest.Detail["count"] != "500" || rest.Outcome != latchkey.OutcomeThrottled {
		t.Errorf("%d events, the rest %+v; want 10,001 with the last 500 together", len(evs), rest)
	}
}

// Bursts that cannot be written stay open and are written later, counts
// kept.
func TestBurstsSurviveAFailedWrite(t *testing.T) {
	rec, store, _ := newRecorder(t)
	req := &audit.Request{ClientIP: netip.MustParseAddr("198.51.100.4")}
	rec.Failure(req, latchkey.ActionVerifyFailures, "", "", "NOT_FOUND")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := rec.Flush(ctx, true); err == nil {
		t.Fatal("Flush with a canceled context succeeded")
	}
	rec.Failure(req, latchkey.ActionVerifyFailures, "", "", "NOT_FOUND")
	flush(t, rec, true)
	evs := events(t, store)
	if len(evs) != 1 || evs[0].Detail["count"] != "2" {
		t.Errorf("events = %+v, want one burst of 2", evs)
	}
}

// A refused attempt is recorded at once, in the log of the account whose
// key the credential named.
func TestRefusedNamesTheKey(t *testing.T) {
	rec, store, _ := newRecorder(t)
	req := &audit.Request{ID: "r9", ClientIP: netip.MustParseAddr("203.0.113.1"), Surface: "sunshine", Operation: "DeleteAppKey", TargetID: "key_7"}
	rec.Refused(t.Context(), req, latchkey.OutcomeUnauthorized, "app_unknown")
	evs := events(t, store)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Action != latchkey.ActionKeyDelete || ev.TargetType != "key" || ev.TargetID != "key_7" || ev.Actor != "app_unknown" ||
		ev.AccountID != "" || ev.Outcome != latchkey.OutcomeUnauthorized || ev.Detail["operation"] != "DeleteAppKey" {
		t.Errorf("event = %+v", ev)
	}
}

// Label keeps plausible ids and marks everything else, secrets above all.
func TestLabel(t *testing.T) {
	sec := secret.MustGenerate(secret.SecretKind, secret.Live)
	for in, want := range map[string]string{
		"key_01J0000000000000000000000": "key_01J0000000000000000000000",
		"api_key_my-second@key.~x":      "api_key_my-second@key.~x",
		"bad\x00id":                     "(invalid)",
		"caf\xc3\xa9":                   "(invalid)",
		strings.Repeat("a", 65):         "(invalid)",
		sec:                             "(a secret)",
	} {
		if got := audit.Label(in); got != want {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
}

// Failures from one address against two accounts are two bursts, each in
// its own account's log.
func TestBurstsKeepAccountsApart(t *testing.T) {
	rec, store, _ := newRecorder(t)
	req := &audit.Request{ClientIP: netip.MustParseAddr("198.51.100.4")}
	for range 3 {
		rec.Failure(req, latchkey.ActionVerifyFailures, "acct-a", "", "NOT_FOUND")
	}
	rec.Failure(req, latchkey.ActionVerifyFailures, "acct-b", "", "NOT_FOUND")
	flush(t, rec, true)
	counts := map[string]string{}
	for _, ev := range events(t, store) {
		counts[ev.AccountID] = ev.Detail["count"]
	}
	if len(counts) != 2 || counts["acct-a"] != "3" || counts["acct-b"] != "1" {
		t.Errorf("bursts by account = %v, want acct-a 3 and acct-b 1", counts)
	}
}
