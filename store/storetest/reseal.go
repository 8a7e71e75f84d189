package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/latchkey/latchkey"
)

// resealFixture is a store holding one sealed value of each kind: two
// secrets of an account key, one of an integration key, a webhook secret,
// and a meta value.
type resealFixture struct {
	accountKey, integrationKey *latchkey.Key
	app                        *latchkey.App
	integration                *latchkey.Integration
}

func newResealFixture(t *testing.T, s latchkey.Store) resealFixture {
	t.Helper()
	a := newAccount()
	k := newKey(accountOwner(a.ID))
	k.Secrets = append(k.Secrets, newSecret(k.ID+"-second", k.CreatedAt))
	if err := s.CreateAccountWithKey(t.Context(), a, k); err != nil {
		t.Fatal(err)
	}
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	ik := createKey(t, s, integrationOwner(app, in))
	if _, err := s.InitMeta(t.Context(), "check", []byte("sealed-check")); err != nil {
		t.Fatal(err)
	}
	return resealFixture{accountKey: k, integrationKey: ik, app: app, integration: in}
}

// sealedValues returns every sealed value of the fixture as the store has
// it now, labelled by record.
func (f resealFixture) sealedValues(t *testing.T, s latchkey.Store) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, k := range []*latchkey.Key{f.accountKey, f.integrationKey} {
		got, err := s.Key(t.Context(), k.ID)
		if err != nil {
			t.Fatal(err)
		}
		for i, sec := range got.Secrets {
			out[fmt.Sprintf("key:%s:%d", k.ID, i)] = sec.Sealed
		}
	}
	in, err := s.Integration(t.Context(), f.app.ID, f.integration.ID)
	if err != nil {
		t.Fatal(err)
	}
	out["webhook:"+in.Webhooks[0].ID] = in.Webhooks[0].SealedSecret
	v, err := s.Meta(t.Context(), "check")
	if err != nil {
		t.Fatal(err)
	}
	out["meta:check"] = v
	return out
}

func testResealRewritesEverySealedValue(t *testing.T, s latchkey.Store) {
	f := newResealFixture(t, s)
	before := f.sealedValues(t, s)
	var seen []string
	err := s.Reseal(t.Context(), []string{"check", "never-set"}, func(kind, id string, sealed []byte) ([]byte, error) {
		seen = append(seen, kind+":"+id)
		return append([]byte("resealed:"), sealed...), nil
	})
	if err != nil {
		t.Fatalf("Reseal error = %v, want nil", err)
	}
	want := []string{"key:" + f.accountKey.ID, "key:" + f.accountKey.ID, "key:" + f.integrationKey.ID,
		"webhook:" + f.integration.Webhooks[0].ID, "meta:check"}
	slices.Sort(seen)
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Errorf("Reseal called fn for %v, want %v", seen, want)
	}
	for name, got := range f.sealedValues(t, s) {
		if want := append([]byte("resealed:"), before[name]...); !bytes.Equal(got, want) {
			t.Errorf("after Reseal, %s = %q, want %q", name, got, want)
		}
	}
	// Only the sealed values changed: the keys are still found by hash.
	if got, err := s.KeyBySecretHash(t.Context(), f.integrationKey.Secrets[0].Hash); err != nil || got.ID != f.integrationKey.ID {
		t.Errorf("KeyBySecretHash after Reseal = %v, %v; want key %s", got, err, f.integrationKey.ID)
	}
}

func testResealFailureChangesNothing(t *testing.T, s latchkey.Store) {
	f := newResealFixture(t, s)
	before := f.sealedValues(t, s)
	boom := errors.New("cannot open")
	calls := 0
	err := s.Reseal(t.Context(), []string{"check"}, func(kind, id string, sealed []byte) ([]byte, error) {
		if calls++; calls == 3 {
			return nil, boom
		}
		return []byte("changed"), nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Reseal error = %v, want fn's error", err)
	}
	for name, got := range f.sealedValues(t, s) {
		if !bytes.Equal(got, before[name]) {
			t.Errorf("after a failed Reseal, %s = %q, want it unchanged", name, got)
		}
	}
}
