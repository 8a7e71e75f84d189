package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/internal/lktest"
)

// TestRollKeyGrace: the old secret works until the grace period ends, never
// past the key's own expiry; a grace of 0 ends it at once.
func TestRollKeyGrace(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	admin := s.Principal(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	s.Svc.SetClock(func() time.Time { return now })
	expires := now.Add(2 * time.Hour)
	k, err := s.Svc.CreateKey(ctx, admin, core.KeySpec{Name: "k", Prefix: "acme", Policy: latchkey.Policy{ExpiresAt: &expires}})
	if err != nil {
		t.Fatal(err)
	}
	old := k.Secrets[0].Plain

	rolled, err := s.Svc.RollKey(ctx, admin, latchkey.KeyOwner{}, k.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(rolled.Secrets) != 2 || rolled.Secrets[1].Plain == old || rolled.Secrets[1].Plain[:5] != "acme_" {
		t.Fatalf("after a roll the key holds %+v; want the old secret and a new one with the brand", rolled.Secrets)
	}
	if got := rolled.Secrets[0].ExpiresAt; got == nil || !got.Equal(expires) {
		t.Fatalf("old secret ends at %v; want the key's own expiry %v, not 24 h away", got, expires)
	}
	for _, sec := range []string{old, rolled.Secrets[1].Plain} {
		if _, err := s.Verifier.Secret(ctx, sec); err != nil {
			t.Errorf("during the grace period, %s…: %v", sec[:12], err)
		}
	}

	again, err := s.Svc.RollKey(ctx, admin, latchkey.KeyOwner{}, k.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Secrets) != 1 {
		t.Fatalf("a roll with no grace left %d secrets", len(again.Secrets))
	}
	for _, sec := range []string{old, rolled.Secrets[1].Plain} {
		if _, err := s.Verifier.Secret(ctx, sec); err == nil {
			t.Errorf("after a roll with no grace, an earlier secret still works")
		}
	}
	if _, err := s.Svc.RollKey(ctx, admin, latchkey.KeyOwner{}, k.ID, -time.Second); latchkey.ErrorCode(err) != latchkey.EINVALID {
		t.Errorf("negative grace: %v", err)
	}
}

// TestKeyUsageBuckets sums stored minutes into hours and days.
func TestKeyUsageBuckets(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	admin := s.Principal(t)
	k, err := s.Svc.CreateKey(ctx, admin, core.KeySpec{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	h := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	err = s.Store.AddUsage(ctx, []latchkey.UsageCount{
		{KeyID: k.ID, Minute: h.Add(1 * time.Minute), Code: latchkey.CodeValid, Count: 2},
		{KeyID: k.ID, Minute: h.Add(59 * time.Minute), Code: latchkey.CodeValid, Count: 3},
		{KeyID: k.ID, Minute: h.Add(61 * time.Minute), Code: latchkey.CodeValid, Count: 5},
		{KeyID: k.ID, Minute: h.Add(61 * time.Minute), Code: latchkey.CodeExpired, Count: 1},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hours, err := s.Svc.KeyUsage(ctx, admin, k.ID, h, h.Add(3*time.Hour), core.ByHour)
	if err != nil {
		t.Fatal(err)
	}
	// Oldest first, then by code.
	if len(hours) != 3 || hours[0].Count != 5 || !hours[0].Minute.Equal(h) || hours[1].Code != latchkey.CodeExpired || hours[2].Count != 5 {
		t.Errorf("by hour = %+v", hours)
	}
	days, _ := s.Svc.KeyUsage(ctx, admin, k.ID, h, h.Add(3*time.Hour), core.ByDay)
	if len(days) != 2 || days[0].Count != 10 || !days[0].Minute.Equal(h.Truncate(24*time.Hour)) {
		t.Errorf("by day = %+v", days)
	}
	if _, err := s.Svc.KeyUsage(ctx, admin, k.ID, h, h.Add(365*24*time.Hour), core.ByMinute); latchkey.ErrorCode(err) != latchkey.EINVALID {
		t.Errorf("a year by minute: %v, want EINVALID", err)
	}
	_, otherKey, err := s.Svc.Bootstrap(ctx, "another account")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Verifier.Secret(ctx, otherKey.Secrets[0].Plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Svc.KeyUsage(ctx, other, k.ID, h, h.Add(time.Hour), core.ByHour); latchkey.ErrorCode(err) != latchkey.ENOTFOUND {
		t.Errorf("another account's key: %v, want ENOTFOUND", err)
	}
}

// TestTimeAndRateAreInherited: a key that expires or is rate limited makes
// keys that expire no later and run no faster, and cannot lift either.
func TestTimeAndRateAreInherited(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	admin := s.Principal(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	rl := &latchkey.RateLimit{Limit: 10, Period: time.Minute}
	parent, err := s.Svc.CreateKey(ctx, admin, core.KeySpec{Name: "parent", Policy: latchkey.Policy{ExpiresAt: &exp, RateLimit: rl}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Verifier.Secret(ctx, parent.Secrets[0].Plain)
	if err != nil {
		t.Fatal(err)
	}
	child, err := s.Svc.CreateKey(ctx, p, core.KeySpec{Name: "child"})
	if err != nil {
		t.Fatal(err)
	}
	if child.Policy.ExpiresAt == nil || !child.Policy.ExpiresAt.Equal(exp) || child.Policy.RateLimit == nil || *child.Policy.RateLimit != *rl {
		t.Fatalf("child policy = %+v; want the parent's expiry and rate limit", child.Policy)
	}
	later := exp.Add(time.Hour)
	for _, wide := range []latchkey.Policy{
		{ExpiresAt: &later},
		{RateLimit: &latchkey.RateLimit{Limit: 11, Period: time.Minute}},
	} {
		if _, err := s.Svc.CreateKey(ctx, p, core.KeySpec{Name: "wide", Policy: wide}); latchkey.ErrorCode(err) != latchkey.EFORBIDDEN {
			t.Errorf("child with %+v: %v, want EFORBIDDEN", wide, err)
		}
	}
}

// TestChangesAreTargeted: changing one key leaves every other key warm —
// it verifies with the store closed — while the changed key is re-read.
func TestChangesAreTargeted(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	admin := s.Principal(t)
	var keys []*latchkey.Key
	for _, name := range []string{"changed", "deleted", "rolled", "bystander"} {
		k, err := s.Svc.CreateKey(ctx, admin, core.KeySpec{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verifier.Secret(ctx, k.Secrets[0].Plain); err != nil { // warm
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	disabled := latchkey.Policy{Disabled: true}
	if _, err := s.Svc.UpdateKey(ctx, admin, latchkey.KeyOwner{}, keys[0].ID, "changed", disabled); err != nil {
		t.Fatal(err)
	}
	if err := s.Svc.DeleteKey(ctx, admin, latchkey.KeyOwner{}, keys[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Svc.RollKey(ctx, admin, latchkey.KeyOwner{}, keys[2].ID, 0); err != nil {
		t.Fatal(err)
	}
	s.Store.Close() // from here on, only what is cached can answer
	if _, err := s.Verifier.Secret(ctx, keys[3].Secrets[0].Plain); err != nil {
		t.Errorf("the bystander key is no longer warm after changes to other keys: %v", err)
	}
	for _, k := range keys[:3] {
		if _, err := s.Verifier.Secret(ctx, k.Secrets[0].Plain); err == nil {
			t.Errorf("key %q still verifies from the cache after it changed", k.Name)
		}
	}
}
