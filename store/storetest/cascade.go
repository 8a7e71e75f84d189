package storetest

// Cascading deletes and their check: DeleteApp and DeleteIntegration hand a
// check every key the cascade would take, inside the delete's transaction,
// and delete nothing when it vetoes. The layer above relies on this to keep
// a key from deleting, through its owner, a key it could not delete itself.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey"
)

// errVeto is what the vetoing checks return; the store must hand it back
// unchanged.
var errVeto = &latchkey.Error{Code: latchkey.EFORBIDDEN, Message: "vetoed by the test"}

// recorder is a check that records what it was shown and returns err.
type recorder struct {
	mu    sync.Mutex
	calls int
	keys  []*latchkey.Key
	err   error
}

func (r *recorder) check(keys []*latchkey.Key) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.keys = append(r.keys, keys...)
	return r.err
}

// wantShown checks that the check ran once and was shown exactly want (in
// any order), each key as stored apart from its secrets.
func (r *recorder) wantShown(t *testing.T, call string, want ...*latchkey.Key) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls != 1 {
		t.Errorf("%s called check %d times, want once", call, r.calls)
		return
	}
	got := slices.Clone(r.keys)
	byID := func(x, y *latchkey.Key) int { return strings.Compare(x.ID, y.ID) }
	slices.SortFunc(got, byID)
	want = slices.Clone(want)
	slices.SortFunc(want, byID)
	if g, w := keyIDs(got), keyIDs(want); !slices.Equal(g, w) {
		t.Errorf("%s showed check %v, want %v", call, g, w)
		return
	}
	for i := range got {
		w := *want[i]
		w.Secrets = got[i].Secrets // the check may be shown keys without their secrets
		report(t, fmt.Sprintf("%s check's key %d", call, i), diffKey(got[i], &w))
	}
}

// restrict gives a key a restricted policy, so that the check is seen to
// receive policies as stored, not a default.
func restrict(k *latchkey.Key, org string) *latchkey.Key {
	k.Policy.ACL = []latchkey.ACLEntry{{Scope: latchkey.ACLScope{OrganizationID: []string{org}, ProductID: []string{"p1"}},
		Permissions: []string{"GetApiKey", "*"}}}
	return k
}

// wantTreeKept checks that an app tree is whole: the app, both integrations
// and every key with its secrets.
func wantTreeKept(t *testing.T, s latchkey.Store, tr appTree) {
	t.Helper()
	wantApp(t, s, tr.app)
	wantIntegration(t, s, tr.in1)
	wantIntegration(t, s, tr.in2)
	for _, k := range tr.keys() {
		wantKey(t, s, k)
		wantKeyByHash(t, s, k.Secrets[0].Hash, k)
	}
	wantKeys(t, s, appOwner(tr.app), tr.appKey)
	wantKeys(t, s, integrationOwner(tr.app, tr.in1), tr.in1a, tr.in1b)
	wantKeys(t, s, integrationOwner(tr.app, tr.in2), tr.in2Key)
}

func testCascadeAppCheckSeesEveryKey(t *testing.T, s latchkey.Store) {
	a, accKey := createAccount(t, s)
	gone := buildAppTree(t, s, a.ID)
	extra := storeKey(t, s, restrict(newKey(integrationOwner(gone.app, gone.in2)), gone.app.ID), 0)
	kept := buildAppTree(t, s, a.ID)
	b, _ := createAccount(t, s)
	elsewhere := buildAppTree(t, s, b.ID)

	var r recorder
	if err := s.DeleteApp(t.Context(), gone.app.ID, r.check); err != nil {
		t.Fatalf("DeleteApp() with an accepting check error = %v, want nil", err)
	}
	// The app's keys and its integrations' keys; not the account's, not
	// another app's.
	r.wantShown(t, "DeleteApp()", append(gone.keys(), extra)...)
	for _, k := range append(gone.keys(), extra) {
		wantNoKey(t, s, k)
	}
	_, err := s.App(t.Context(), gone.app.ID)
	wantErr(t, "App() of the deleted app", err, latchkey.ENOTFOUND, "app")
	wantTreeKept(t, s, kept)
	wantTreeKept(t, s, elsewhere)
	wantKey(t, s, accKey)
}

func testCascadeAppVetoDeletesNothing(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, accKey := createAccount(t, s)
	tr := buildAppTree(t, s, a.ID)
	r := recorder{err: errVeto}
	err := s.DeleteApp(ctx, tr.app.ID, r.check)
	if !errors.Is(err, errVeto) {
		t.Fatalf("DeleteApp() with a vetoing check error = %v, want the check's error", err)
	}
	r.wantShown(t, "DeleteApp()", tr.keys()...)
	wantTreeKept(t, s, tr)
	wantKey(t, s, accKey)

	// The refused delete left the store usable, and the app deletable.
	storeKey(t, s, newKey(appOwner(tr.app)), 0)
	if err := s.DeleteApp(ctx, tr.app.ID, func([]*latchkey.Key) error { return nil }); err != nil {
		t.Fatalf("DeleteApp() after a veto error = %v, want nil", err)
	}
	for _, k := range tr.keys() {
		wantNoKey(t, s, k)
	}
}

func testCascadeAppWithoutKeys(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	createIntegration(t, s, app.ID)
	var r recorder
	if err := s.DeleteApp(t.Context(), app.ID, r.check); err != nil {
		t.Fatalf("DeleteApp() error = %v, want nil", err)
	}
	r.wantShown(t, "DeleteApp() of an app without keys")
	_, err := s.App(t.Context(), app.ID)
	wantErr(t, "App() of the deleted app", err, latchkey.ENOTFOUND, "app")
}

func testCascadeMissingSkipsCheck(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	tr := buildAppTree(t, s, a.ID)
	sibling := createApp(t, s, a.ID)
	r := recorder{err: errVeto}
	err := s.DeleteApp(t.Context(), newID(), r.check)
	wantErr(t, "DeleteApp(missing)", err, latchkey.ENOTFOUND, "app")
	for _, c := range []struct{ appID, id string }{{tr.app.ID, newID()}, {sibling.ID, tr.in1.ID}, {newID(), tr.in1.ID}} {
		err := s.DeleteIntegration(t.Context(), c.appID, c.id, r.check)
		wantErr(t, fmt.Sprintf("DeleteIntegration(%q, %q)", c.appID, c.id), err, latchkey.ENOTFOUND, "integration")
	}
	if r.calls != 0 {
		t.Errorf("check was called %d times for deletes of nothing, want never", r.calls)
	}
	wantTreeKept(t, s, tr)
}

func testCascadeIntegrationCheckSeesItsKeys(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, _ := createAccount(t, s)
	tr := buildAppTree(t, s, a.ID)
	restricted := storeKey(t, s, restrict(newKey(integrationOwner(tr.app, tr.in1)), tr.app.ID), 0)

	veto := recorder{err: errVeto}
	if err := s.DeleteIntegration(ctx, tr.app.ID, tr.in1.ID, veto.check); !errors.Is(err, errVeto) {
		t.Fatalf("DeleteIntegration() with a vetoing check error = %v, want the check's error", err)
	}
	veto.wantShown(t, "DeleteIntegration()", tr.in1a, tr.in1b, restricted)
	wantIntegration(t, s, tr.in1)
	for _, k := range []*latchkey.Key{tr.in1a, tr.in1b, restricted} {
		wantKey(t, s, k)
		wantKeyByHash(t, s, k.Secrets[0].Hash, k)
	}
	wantKeys(t, s, integrationOwner(tr.app, tr.in1), tr.in1a, tr.in1b, restricted)

	var r recorder
	if err := s.DeleteIntegration(ctx, tr.app.ID, tr.in1.ID, r.check); err != nil {
		t.Fatalf("DeleteIntegration() with an accepting check error = %v, want nil", err)
	}
	// Its own keys only: not the app's, not the other integration's.
	r.wantShown(t, "DeleteIntegration()", tr.in1a, tr.in1b, restricted)
	wantNoIntegration(t, s, tr.app.ID, tr.in1.ID)
	for _, k := range []*latchkey.Key{tr.in1a, tr.in1b, restricted} {
		wantNoKey(t, s, k)
	}
	wantKey(t, s, tr.appKey)
	wantKey(t, s, tr.in2Key)
	wantIntegration(t, s, tr.in2)
}

// testCascadeConcurrentKeysAreChecked races key creation in an app against
// its deletion. Whichever wins, no key may be deleted unseen: every key whose
// creation succeeded was shown to the check, and every other creation found
// its owner gone.
func testCascadeConcurrentKeysAreChecked(t *testing.T, s latchkey.Store) {
	const workers = 20
	a, _ := createAccount(t, s)
	tr := buildAppTree(t, s, a.ID)
	keys := make([]*latchkey.Key, workers)
	for n := range keys {
		o := appOwner(tr.app)
		if n%2 == 1 {
			o = integrationOwner(tr.app, tr.in1)
		}
		keys[n] = newKey(o)
	}
	var r recorder
	errs, deleteErr := raceCreateWithDelete(t, s, keys, tr.app.ID, r.check)

	if deleteErr != nil {
		t.Fatalf("DeleteApp() error = %v, want nil", deleteErr)
	}
	shown := append([]*latchkey.Key{}, tr.keys()...)
	for n, err := range errs {
		switch latchkey.ErrorCode(err) {
		case "":
			shown = append(shown, keys[n])
		case latchkey.ENOTFOUND:
		default:
			t.Errorf("CreateKey() beside DeleteApp() error = %v, want nil or ENOTFOUND", err)
		}
		wantNoKey(t, s, keys[n])
	}
	r.wantShown(t, "DeleteApp() beside CreateKey()", shown...)
}

// testCascadeConcurrentVetoHolds: a key the check would veto, created while
// the app is being deleted, either stops the delete or is refused; it is
// never deleted unchecked.
func testCascadeConcurrentVetoHolds(t *testing.T, s latchkey.Store) {
	const workers = 20
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	// What is there at first passes the check: restricted keys only.
	first := []*latchkey.Key{
		storeKey(t, s, restrict(newKey(appOwner(app)), app.ID), 0),
		storeKey(t, s, restrict(newKey(integrationOwner(app, in)), app.ID), 0),
	}
	// The racing keys are unrestricted, which the check vetoes.
	keys := make([]*latchkey.Key, workers)
	for n := range keys {
		keys[n] = newKey(integrationOwner(app, in))
	}
	vetoUnrestricted := func(keys []*latchkey.Key) error {
		for _, k := range keys {
			if k.Policy.ACL == nil {
				return errVeto
			}
		}
		return nil
	}
	errs, deleteErr := raceCreateWithDelete(t, s, keys, app.ID, vetoUnrestricted)

	created := 0
	for n, err := range errs {
		switch latchkey.ErrorCode(err) {
		case "":
			created++
			wantKey(t, s, keys[n]) // it was vetoed, or the delete came first and failed
		case latchkey.ENOTFOUND:
			wantNoKey(t, s, keys[n])
		default:
			t.Errorf("CreateKey() beside DeleteApp() error = %v, want nil or ENOTFOUND", err)
		}
	}
	switch {
	case deleteErr == nil && created > 0:
		t.Fatalf("DeleteApp() succeeded though %d unrestricted keys were created in the app before it", created)
	case deleteErr == nil:
		for _, k := range first {
			wantNoKey(t, s, k)
		}
	case errors.Is(deleteErr, errVeto):
		if created == 0 {
			t.Fatalf("DeleteApp() was vetoed though no unrestricted key was created")
		}
		wantApp(t, s, app)
		for _, k := range first {
			wantKey(t, s, k)
		}
	default:
		t.Fatalf("DeleteApp() error = %v, want nil or the check's error", deleteErr)
	}
}

// raceCreateWithDelete creates keys, each from its own goroutine, while
// another deletes the app with check, all let go at once. It returns each
// creation's error and the delete's.
func raceCreateWithDelete(t *testing.T, s latchkey.Store, keys []*latchkey.Key, appID string, check func([]*latchkey.Key) error) ([]error, error) {
	errs := make([]error, len(keys))
	var deleteErr error
	start := make(chan struct{})
	var wg sync.WaitGroup
	for n := range keys {
		wg.Go(func() {
			<-start
			errs[n] = s.CreateKey(t.Context(), keys[n], 0)
		})
		if n == len(keys)/2 {
			wg.Go(func() {
				<-start
				deleteErr = s.DeleteApp(t.Context(), appID, check)
			})
		}
	}
	close(start)
	wg.Wait()
	return errs, deleteErr
}
