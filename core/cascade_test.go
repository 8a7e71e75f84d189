package core_test

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/internal/lktest"
	"github.com/latchkey/latchkey/secret"
)

// lateKeyStore adds an unrestricted key to the app (or integration) being
// deleted just before the store's delete runs: after everything the service
// checks on its own, as a concurrent request could. Only a check made inside
// the store's delete sees that key.
type lateKeyStore struct {
	latchkey.Store
	late *latchkey.Key
}

func (s *lateKeyStore) DeleteApp(ctx context.Context, id string, check func([]*latchkey.Key) error) error {
	if err := s.Store.CreateKey(ctx, s.late, 0); err != nil {
		return err
	}
	return s.Store.DeleteApp(ctx, id, check)
}

func (s *lateKeyStore) DeleteIntegration(ctx context.Context, appID, id string, check func([]*latchkey.Key) error) error {
	if err := s.Store.CreateKey(ctx, s.late, 0); err != nil {
		return err
	}
	return s.Store.DeleteIntegration(ctx, appID, id, check)
}

// TestCascadeChecksWhatIsDeleted: a key restricted to an app may delete the
// app, or an integration of it, holding keys within its rights, but not once
// a stronger key has appeared there, however late; and then nothing goes.
func TestCascadeChecksWhatIsDeleted(t *testing.T) {
	s := lktest.New(t)
	ctx := t.Context()
	admin := s.Principal(t)
	newApp := func() (*latchkey.App, *latchkey.Integration) {
		app, err := s.Svc.CreateApp(ctx, admin, &latchkey.App{DisplayName: "a"})
		if err != nil {
			t.Fatal(err)
		}
		in, err := s.Svc.CreateIntegration(ctx, admin, app.ID, &latchkey.Integration{Type: latchkey.IntegrationTypeCustom})
		if err != nil {
			t.Fatal(err)
		}
		return app, in
	}
	// The restricted principal is an account key whose ACL names the apps.
	appA, inA := newApp()
	appB, inB := newApp()
	acl := []latchkey.ACLEntry{{Scope: latchkey.ACLScope{OrganizationID: []string{appA.ID, appB.ID}}, Permissions: []string{"*"}}}
	k, err := s.Svc.CreateKey(ctx, admin, core.KeySpec{Name: "A and B only", Policy: latchkey.Policy{ACL: acl}})
	if err != nil {
		t.Fatal(err)
	}
	p := latchkey.PrincipalOf(k)
	// Keys it made itself inherit its ACL: within its rights.
	for _, owner := range []latchkey.KeyOwner{{AppID: appA.ID}, {AppID: appA.ID, IntegrationID: inA.ID}, {AppID: appB.ID, IntegrationID: inB.ID}} {
		if _, err := s.Svc.CreateKey(ctx, p, core.KeySpec{Owner: owner, Name: "own"}); err != nil {
			t.Fatal(err)
		}
	}

	late := func(owner latchkey.KeyOwner) (*core.Service, *latchkey.Key) {
		spec := latchkey.KeyOwner{AccountID: admin.AccountID, AppID: owner.AppID, IntegrationID: owner.IntegrationID}
		k := &latchkey.Key{ID: "late_" + core.NewObjectID(), AccountID: spec.AccountID, AppID: spec.AppID, IntegrationID: spec.IntegrationID,
			Name: "late and unrestricted", Policy: latchkey.Policy{Type: latchkey.KeyTypeSecret},
			Secrets: []latchkey.Secret{{Hash: s.Keys.Hash(owner.AppID + owner.IntegrationID), Sealed: []byte("x")}}}
		return core.New(&lateKeyStore{Store: s.Store, late: k}, s.Keys, secret.Live, s.Verifier), k
	}

	svc, lateB := late(latchkey.KeyOwner{AppID: appB.ID, IntegrationID: inB.ID})
	if err := svc.DeleteIntegration(ctx, p, appB.ID, inB.ID); latchkey.ErrorCode(err) != latchkey.EFORBIDDEN {
		t.Fatalf("DeleteIntegration() with a stronger key arriving late: err = %v, want EFORBIDDEN", err)
	}
	if _, err := s.Store.Integration(ctx, appB.ID, inB.ID); err != nil {
		t.Fatalf("the refused integration delete deleted the integration: %v", err)
	}
	wantKeyCount(t, s, latchkey.KeyOwner{AccountID: admin.AccountID, AppID: appB.ID, IntegrationID: inB.ID}, 2)

	svc, lateA := late(latchkey.KeyOwner{AppID: appA.ID})
	if err := svc.DeleteApp(ctx, p, appA.ID); latchkey.ErrorCode(err) != latchkey.EFORBIDDEN {
		t.Fatalf("DeleteApp() with a stronger key arriving late: err = %v, want EFORBIDDEN", err)
	}
	if _, err := s.Store.App(ctx, appA.ID); err != nil {
		t.Fatalf("the refused app delete deleted the app: %v", err)
	}
	wantKeyCount(t, s, latchkey.KeyOwner{AccountID: admin.AccountID, AppID: appA.ID}, 2)
	wantKeyCount(t, s, latchkey.KeyOwner{AccountID: admin.AccountID, AppID: appA.ID, IntegrationID: inA.ID}, 1)

	// Once the stronger keys are gone, the same principal deletes both.
	if err := s.Svc.DeleteKey(ctx, admin, latchkey.KeyOwner{AppID: appB.ID, IntegrationID: inB.ID}, lateB.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Svc.DeleteIntegration(ctx, p, appB.ID, inB.ID); err != nil {
		t.Fatalf("DeleteIntegration() of an integration holding only keys within its rights: %v", err)
	}
	if err := s.Svc.DeleteKey(ctx, admin, latchkey.KeyOwner{AppID: appA.ID}, lateA.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Svc.DeleteApp(ctx, p, appA.ID); err != nil {
		t.Fatalf("DeleteApp() of an app holding only keys within its rights: %v", err)
	}
	if _, err := s.Store.App(ctx, appA.ID); latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
		t.Fatalf("App() after the delete: %v, want ENOTFOUND", err)
	}
}

func wantKeyCount(t *testing.T, s *lktest.Stack, owner latchkey.KeyOwner, want int) {
	t.Helper()
	keys, err := s.Store.ListKeys(t.Context(), owner)
	if err != nil || len(keys) != want {
		t.Fatalf("%+v holds %d keys (err %v), want %d", owner, len(keys), err, want)
	}
}
