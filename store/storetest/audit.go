package storetest

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// auditSuite holds the audit log to its contract: an event attached to a
// change is written with it or not at all; events are listed by account,
// filtered, ordered and paged; retention deletes by age.
var auditSuite = []contractTest{
	{"Audit/EveryChangeWritesItsEvent", testAuditEveryChangeWritesItsEvent},
	{"Audit/FailedChangeWritesNoEvent", testAuditFailedChangeWritesNoEvent},
	{"Audit/FailedEventUndoesTheChange", testAuditFailedEventUndoesTheChange},
	{"Audit/VetoedCascadeWritesNoEvent", testAuditVetoedCascadeWritesNoEvent},
	{"Audit/ReadsWriteNoEvent", testAuditReadsWriteNoEvent},
	{"Audit/RoundTrip", testAuditRoundTrip},
	{"Audit/Filters", testAuditFilters},
	{"Audit/OrderAndCursor", testAuditOrderAndCursor},
	{"Audit/InvalidQuery", testAuditInvalidQuery},
	{"Audit/Prune", testAuditPrune},
}

// auditSeq numbers events; atomic, as the subtests of a store may run in
// parallel (PostgreSQL's do).
var auditSeq atomic.Int64

// newEvent returns an event of account accountID whose id sorts after every
// event newEvent made before.
func newEvent(accountID, action string) *latchkey.AuditEvent {
	return &latchkey.AuditEvent{
		ID:   fmt.Sprintf("01J%023d", auditSeq.Add(1)),
		Time: now(), AccountID: accountID, Actor: "actor-key", Action: action,
		TargetType: "key", TargetID: "target", ClientIP: "203.0.113.7", RequestID: "req-1",
		Surface: "native", Outcome: latchkey.OutcomeSuccess,
	}
}

// auditLog returns every event of account accountID ("" for every event),
// oldest first.
func auditLog(t *testing.T, s latchkey.Store, accountID string) []*latchkey.AuditEvent {
	t.Helper()
	q := latchkey.AuditQuery{AccountID: accountID, All: accountID == "", Oldest: true, Limit: latchkey.MaxAuditPage}
	evs, err := s.AuditEvents(t.Context(), q)
	if err != nil {
		t.Fatalf("AuditEvents(%+v) error = %v", q, err)
	}
	return evs
}

func eventIDs(evs []*latchkey.AuditEvent) []string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}

func testAuditEveryChangeWritesItsEvent(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	k := createKey(t, s, appOwner(app))
	app2 := createApp(t, s, a.ID)
	in2 := createIntegration(t, s, app2.ID)

	var want []string
	changes := []struct {
		name string
		do   func(ev *latchkey.AuditEvent) error
	}{
		{"CreateAccountWithKey", func(ev *latchkey.AuditEvent) error {
			a2 := newAccount()
			return s.CreateAccountWithKey(latchkey.WithAuditEvent(ctx, ev), a2, newKey(accountOwner(a2.ID)))
		}},
		{"CreateApp", func(ev *latchkey.AuditEvent) error {
			return s.CreateApp(latchkey.WithAuditEvent(ctx, ev), newApp(a.ID))
		}},
		{"UpdateApp", func(ev *latchkey.AuditEvent) error {
			app.DisplayName = "Renamed"
			return s.UpdateApp(latchkey.WithAuditEvent(ctx, ev), app)
		}},
		{"CreateIntegration", func(ev *latchkey.AuditEvent) error {
			return s.CreateIntegration(latchkey.WithAuditEvent(ctx, ev), newIntegration(app.ID, latchkey.IntegrationTypeCustom))
		}},
		{"UpdateIntegration", func(ev *latchkey.AuditEvent) error {
			in.DisplayName = ptr("Renamed")
			return s.UpdateIntegration(latchkey.WithAuditEvent(ctx, ev), in)
		}},
		{"CreateKey", func(ev *latchkey.AuditEvent) error {
			return s.CreateKey(latchkey.WithAuditEvent(ctx, ev), newKey(appOwner(app)), 0)
		}},
		{"UpdateKey", func(ev *latchkey.AuditEvent) error {
			k.Name = "renamed"
			return s.UpdateKey(latchkey.WithAuditEvent(ctx, ev), k)
		}},
		{"RollKey", func(ev *latchkey.AuditEvent) error {
			return s.RollKey(latchkey.WithAuditEvent(ctx, ev), k.ID, newSecret(k.ID+"-rolled", now()), nil)
		}},
		{"DeleteKey", func(ev *latchkey.AuditEvent) error {
			return s.DeleteKey(latchkey.WithAuditEvent(ctx, ev), k.ID)
		}},
		{"DeleteIntegration", func(ev *latchkey.AuditEvent) error {
			return s.DeleteIntegration(latchkey.WithAuditEvent(ctx, ev), app2.ID, in2.ID, nil)
		}},
		{"DeleteApp", func(ev *latchkey.AuditEvent) error {
			return s.DeleteApp(latchkey.WithAuditEvent(ctx, ev), app2.ID, nil)
		}},
		{"Reseal", func(ev *latchkey.AuditEvent) error {
			return s.Reseal(latchkey.WithAuditEvent(ctx, ev), nil, func(kind, id string, sealed []byte) ([]byte, error) { return sealed, nil })
		}},
	}
	for _, c := range changes {
		ev := newEvent(a.ID, c.name)
		want = append(want, ev.ID)
		if err := c.do(ev); err != nil {
			t.Fatalf("%s with an audit event: error = %v", c.name, err)
		}
	}
	got := eventIDs(auditLog(t, s, a.ID))
	if !slices.Equal(got, want) {
		t.Errorf("events after one change of each kind = %v, want one per change %v", got, want)
	}
}

func testAuditFailedChangeWritesNoEvent(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	fails := map[string]func(ev *latchkey.AuditEvent) error{
		"CreateApp of a taken id": func(ev *latchkey.AuditEvent) error {
			dup := newApp(a.ID)
			dup.ID = app.ID
			return s.CreateApp(latchkey.WithAuditEvent(ctx, ev), dup)
		},
		"UpdateApp of a missing app": func(ev *latchkey.AuditEvent) error {
			return s.UpdateApp(latchkey.WithAuditEvent(ctx, ev), newApp(a.ID))
		},
		"CreateKey over the cap": func(ev *latchkey.AuditEvent) error {
			createKey(t, s, appOwner(app))
			return s.CreateKey(latchkey.WithAuditEvent(ctx, ev), newKey(appOwner(app)), 1)
		},
		"DeleteKey of a missing key": func(ev *latchkey.AuditEvent) error {
			return s.DeleteKey(latchkey.WithAuditEvent(ctx, ev), newID())
		},
		"UpdateIntegration of a missing integration": func(ev *latchkey.AuditEvent) error {
			return s.UpdateIntegration(latchkey.WithAuditEvent(ctx, ev), newIntegration(app.ID, latchkey.IntegrationTypeCustom))
		},
	}
	for name, do := range fails {
		if err := do(newEvent(a.ID, name)); err == nil {
			t.Fatalf("%s: error = nil, want one", name)
		}
	}
	if got := auditLog(t, s, ""); len(got) != 0 {
		t.Errorf("failed changes wrote events %v, want none", eventIDs(got))
	}
}

func testAuditFailedEventUndoesTheChange(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, _ := createAccount(t, s)
	first := newEvent(a.ID, latchkey.ActionAppCreate)
	if err := s.AppendAuditEvents(ctx, first); err != nil {
		t.Fatal(err)
	}
	// An event that cannot be written (its id is taken) fails the change
	// it was attached to: no change without its event.
	dup := *first
	app := newApp(a.ID)
	err := s.CreateApp(latchkey.WithAuditEvent(ctx, &dup), app)
	wantErr(t, "CreateApp with an event whose id is taken", err, latchkey.ECONFLICT, "audit event")
	if _, err := s.App(ctx, app.ID); latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
		t.Errorf("App(%q) after its event failed: error = %v, want not found", app.ID, err)
	}
	k := newKey(accountOwner(a.ID))
	err = s.CreateKey(latchkey.WithAuditEvent(ctx, &dup), k, 0)
	wantErr(t, "CreateKey with an event whose id is taken", err, latchkey.ECONFLICT, "audit event")
	wantNoKey(t, s, k)
}

func testAuditVetoedCascadeWritesNoEvent(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	createKey(t, s, appOwner(app))
	veto := func([]*latchkey.Key) error { return latchkey.Errorf(latchkey.EFORBIDDEN, "no") }
	err := s.DeleteApp(latchkey.WithAuditEvent(ctx, newEvent(a.ID, latchkey.ActionAppDelete)), app.ID, veto)
	wantErr(t, "DeleteApp vetoed", err, latchkey.EFORBIDDEN, "")
	if got := auditLog(t, s, ""); len(got) != 0 {
		t.Errorf("a vetoed delete wrote events %v, want none", eventIDs(got))
	}
}

func testAuditReadsWriteNoEvent(t *testing.T, s latchkey.Store) {
	a, k := createAccount(t, s)
	ctx := latchkey.WithAuditEvent(t.Context(), newEvent(a.ID, "read"))
	if _, err := s.Key(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListKeys(ctx, accountOwner(a.ID)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ListApps(ctx, a.ID, latchkey.Page{Size: 10}); err != nil {
		t.Fatal(err)
	}
	if got := auditLog(t, s, ""); len(got) != 0 {
		t.Errorf("reads wrote events %v, want none", eventIDs(got))
	}
}

func testAuditRoundTrip(t *testing.T, s latchkey.Store) {
	full := newEvent("acct-1", latchkey.ActionVerifyFailures)
	full.Outcome = latchkey.OutcomeFailure
	full.TargetType, full.TargetID = "address", "2001:db8::1"
	full.Detail = map[string]string{"count": "37", "codes": "NOT_FOUND"}
	bare := &latchkey.AuditEvent{ID: newEvent("", "").ID, Time: now(), Action: latchkey.ActionMasterKeyRotate, Outcome: latchkey.OutcomeSuccess}
	if err := s.AppendAuditEvents(t.Context(), full, bare); err != nil {
		t.Fatal(err)
	}
	got := auditLog(t, s, "")
	if len(got) != 2 {
		t.Fatalf("events = %d, want 2", len(got))
	}
	for i, want := range []*latchkey.AuditEvent{full, bare} {
		var d differ
		d.str("ID", got[i].ID, want.ID)
		d.time("Time", got[i].Time, want.Time)
		d.str("AccountID", got[i].AccountID, want.AccountID)
		d.str("Actor", got[i].Actor, want.Actor)
		d.str("Action", got[i].Action, want.Action)
		d.str("TargetType", got[i].TargetType, want.TargetType)
		d.str("TargetID", got[i].TargetID, want.TargetID)
		d.str("ClientIP", got[i].ClientIP, want.ClientIP)
		d.str("RequestID", got[i].RequestID, want.RequestID)
		d.str("Surface", got[i].Surface, want.Surface)
		d.str("Outcome", string(got[i].Outcome), string(want.Outcome))
		d.deep("Detail", got[i].Detail, want.Detail)
		report(t, "AuditEvents", d)
		wantUTC(t, "Time", got[i].Time)
	}
}

func testAuditFilters(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	t0 := now().Add(-time.Hour)
	mk := func(account, actor, action, target string, outcome latchkey.AuditOutcome, at time.Duration) *latchkey.AuditEvent {
		ev := newEvent(account, action)
		ev.Actor, ev.TargetID, ev.Outcome, ev.Time = actor, target, outcome, t0.Add(at)
		return ev
	}
	e1 := mk("A", "k1", latchkey.ActionKeyCreate, "t1", latchkey.OutcomeSuccess, 0)
	e2 := mk("A", "k2", latchkey.ActionKeyDelete, "t1", latchkey.OutcomeSuccess, time.Minute)
	e3 := mk("A", "k1", latchkey.ActionKeyDelete, "t2", latchkey.OutcomeForbidden, 2*time.Minute)
	e4 := mk("B", "k1", latchkey.ActionKeyCreate, "t1", latchkey.OutcomeSuccess, 3*time.Minute)
	e5 := mk("", "", latchkey.ActionAuthFailures, "198.51.100.1", latchkey.OutcomeThrottled, 4*time.Minute)
	if err := s.AppendAuditEvents(ctx, e1, e2, e3, e4, e5); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		q    latchkey.AuditQuery
		want []*latchkey.AuditEvent
	}{
		{"account A", latchkey.AuditQuery{AccountID: "A"}, []*latchkey.AuditEvent{e1, e2, e3}},
		{"account B", latchkey.AuditQuery{AccountID: "B"}, []*latchkey.AuditEvent{e4}},
		{"all", latchkey.AuditQuery{All: true}, []*latchkey.AuditEvent{e1, e2, e3, e4, e5}},
		{"actor", latchkey.AuditQuery{AccountID: "A", Actor: "k1"}, []*latchkey.AuditEvent{e1, e3}},
		{"target", latchkey.AuditQuery{AccountID: "A", Target: "t1"}, []*latchkey.AuditEvent{e1, e2}},
		{"action", latchkey.AuditQuery{AccountID: "A", Action: latchkey.ActionKeyDelete}, []*latchkey.AuditEvent{e2, e3}},
		{"outcome", latchkey.AuditQuery{AccountID: "A", Outcome: latchkey.OutcomeForbidden}, []*latchkey.AuditEvent{e3}},
		{"from", latchkey.AuditQuery{AccountID: "A", From: e2.Time}, []*latchkey.AuditEvent{e2, e3}},
		{"to", latchkey.AuditQuery{AccountID: "A", To: e2.Time}, []*latchkey.AuditEvent{e1}},
		{"from and to", latchkey.AuditQuery{All: true, From: e2.Time, To: e4.Time}, []*latchkey.AuditEvent{e2, e3}},
		{"all filters", latchkey.AuditQuery{AccountID: "A", Actor: "k1", Target: "t2", Action: latchkey.ActionKeyDelete, Outcome: latchkey.OutcomeForbidden}, []*latchkey.AuditEvent{e3}},
		{"nothing matches", latchkey.AuditQuery{AccountID: "A", Actor: "k9"}, nil},
		{"a value no store holds", latchkey.AuditQuery{AccountID: "A", Actor: "bad\x00\xff"}, nil},
	}
	for _, c := range cases {
		c.q.Oldest, c.q.Limit = true, 100
		got, err := s.AuditEvents(ctx, c.q)
		if err != nil {
			t.Errorf("%s: AuditEvents error = %v", c.name, err)
			continue
		}
		if g, w := eventIDs(got), eventIDs(c.want); !slices.Equal(g, w) {
			t.Errorf("%s: AuditEvents = %v, want %v", c.name, g, w)
		}
	}
}

func testAuditOrderAndCursor(t *testing.T, s latchkey.Store) {
	var all []*latchkey.AuditEvent
	for range 7 {
		all = append(all, newEvent("A", latchkey.ActionKeyCreate))
	}
	if err := s.AppendAuditEvents(t.Context(), all...); err != nil {
		t.Fatal(err)
	}
	walk := func(oldest bool) []string {
		var ids []string
		q := latchkey.AuditQuery{AccountID: "A", Oldest: oldest, Limit: 3}
		for range 10 {
			page, err := s.AuditEvents(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			ids = append(ids, eventIDs(page)...)
			q.After = page[len(page)-1].ID
		}
		return ids
	}
	want := eventIDs(all)
	if got := walk(true); !slices.Equal(got, want) {
		t.Errorf("oldest first, pages of 3 = %v, want %v", got, want)
	}
	slices.Reverse(want)
	if got := walk(false); !slices.Equal(got, want) {
		t.Errorf("newest first, pages of 3 = %v, want %v", got, want)
	}
}

func testAuditInvalidQuery(t *testing.T, s latchkey.Store) {
	for _, q := range []latchkey.AuditQuery{
		{Limit: 10},                 // no account, not All
		{AccountID: "A"},            // no limit
		{AccountID: "A", Limit: -1}, // negative
		{All: true, Limit: latchkey.MaxAuditPage + 1},
	} {
		_, err := s.AuditEvents(t.Context(), q)
		wantErr(t, fmt.Sprintf("AuditEvents(%+v)", q), err, latchkey.EINVALID, "")
	}
}

func testAuditPrune(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	cut := now().Add(-24 * time.Hour)
	old1, old2, kept := newEvent("A", "x"), newEvent("", "x"), newEvent("A", "x")
	old1.Time, old2.Time, kept.Time = cut.Add(-time.Hour), cut.Add(-time.Microsecond), cut
	if err := s.AppendAuditEvents(ctx, old1, old2, kept); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneAuditEvents(ctx, cut)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("PruneAuditEvents deleted %d, want 2", n)
	}
	if got := eventIDs(auditLog(t, s, "")); !slices.Equal(got, []string{kept.ID}) {
		t.Errorf("events after pruning = %v, want only %v", got, kept.ID)
	}
}
