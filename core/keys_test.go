package core_test

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/internal/lktest"
)

// TestPolicyChangeTakesEffectAtOnce narrows a key that the verifier has
// cached: the next check already sees the new policy.
func TestPolicyChangeTakesEffectAtOnce(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	admin := s.Principal(t)
	k, err := s.Svc.CreateKey(ctx, admin, core.KeySpec{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Verifier.Secret(ctx, k.Secrets[0].Plain) // now cached
	if err != nil || !p.Policy.Permits("PostApiKey", latchkey.ACLTarget{}) {
		t.Fatalf("before: %v, %+v", err, p)
	}
	narrow := latchkey.Policy{ACL: []latchkey.ACLEntry{{Permissions: []string{"GetApiKey"}}}}
	if _, err := s.Svc.UpdateKey(ctx, admin, latchkey.KeyOwner{}, k.ID, "k", narrow); err != nil {
		t.Fatal(err)
	}
	p, err = s.Verifier.Secret(ctx, k.Secrets[0].Plain)
	if err != nil {
		t.Fatal(err)
	}
	if p.Policy.Permits("PostApiKey", latchkey.ACLTarget{}) || !p.Policy.Permits("GetApiKey", latchkey.ACLTarget{}) {
		t.Fatalf("after narrowing, the verifier still has the old policy: %+v", p.Policy)
	}
}

// TestNoWidening checks that a restricted key's new keys inherit its
// restrictions and cannot exceed them, and that it cannot widen itself.
func TestNoWidening(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	admin := s.Principal(t)
	app, err := s.Svc.CreateApp(ctx, admin, &latchkey.App{DisplayName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	limited := latchkey.Policy{
		ACL:        []latchkey.ACLEntry{{Scope: latchkey.ACLScope{OrganizationID: []string{app.ID}}, Permissions: []string{"*"}}},
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
	}
	k, err := s.Svc.CreateKey(ctx, admin, core.KeySpec{Name: "limited", Policy: limited})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Verifier.Secret(ctx, k.Secrets[0].Plain)
	if err != nil {
		t.Fatal(err)
	}

	// Unset restrictions are inherited (here, on an app key made the Sunshine way).
	child, err := s.Svc.CreateKey(ctx, p, core.KeySpec{Owner: latchkey.KeyOwner{AppID: app.ID}, Name: "child", MaxPerOwner: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(child.Policy.ACL, limited.ACL) || !reflect.DeepEqual(child.Policy.AllowedIPs, limited.AllowedIPs) {
		t.Fatalf("child policy = %+v, want the creator's restrictions", child.Policy)
	}

	wider := []latchkey.Policy{
		{ACL: []latchkey.ACLEntry{{Permissions: []string{"*"}}}},                                                              // unscoped
		{ACL: limited.ACL, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.0.0/16")}},                                 // wider range
		{ACL: []latchkey.ACLEntry{{Scope: latchkey.ACLScope{OrganizationID: []string{"other"}}, Permissions: []string{"*"}}}}, // other org
	}
	for i, w := range wider {
		if _, err := s.Svc.CreateKey(ctx, p, core.KeySpec{Name: "wide", Policy: w}); latchkey.ErrorCode(err) != latchkey.EFORBIDDEN {
			t.Errorf("wider policy %d: err = %v, want EFORBIDDEN", i, err)
		}
		if _, err := s.Svc.UpdateKey(ctx, p, latchkey.KeyOwner{}, k.ID, "self", w); latchkey.ErrorCode(err) != latchkey.EFORBIDDEN {
			t.Errorf("widening itself with policy %d: err = %v, want EFORBIDDEN", i, err)
		}
	}
	// Clearing restrictions on update means "inherit", which cannot widen either.
	got, err := s.Svc.UpdateKey(ctx, p, latchkey.KeyOwner{}, k.ID, "self", latchkey.Policy{})
	if err != nil || !reflect.DeepEqual(got.Policy.ACL, limited.ACL) {
		t.Fatalf("update with an empty policy: %v, %+v", err, got)
	}
}
