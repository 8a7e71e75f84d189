package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

func testKeyNativeFields(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := newKey(accountOwner(a.ID))
	k.Prefix = "acme"
	k.Policy.Disabled = true
	k.Policy.RateLimit = &latchkey.RateLimit{Limit: 100, Period: time.Minute}
	k.Policy.ACL = []latchkey.ACLEntry{} // no permissions at all: not the same as nil
	storeKey(t, s, k, 0)
	wantKey(t, s, k)

	// Update changes the switch and the limit; the prefix stays.
	k.Policy.Disabled = false
	k.Policy.RateLimit = &latchkey.RateLimit{Limit: 5, Period: 1500 * time.Millisecond}
	k.UpdatedAt = now()
	changed := *k
	changed.Prefix = "other"
	if err := s.UpdateKey(t.Context(), &changed); err != nil {
		t.Fatal(err)
	}
	wantKey(t, s, k)
	k.Policy.RateLimit = nil
	if err := s.UpdateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	wantKey(t, s, k)
}

func testRollKeepsOldUntil(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := createKey(t, s, accountOwner(a.ID))
	t1 := now().Add(time.Second)
	next := newSecret(k.ID+"-next", t1)
	until := t1.Add(time.Hour)
	if err := s.RollKey(t.Context(), k.ID, next, &until); err != nil {
		t.Fatalf("RollKey() error = %v, want nil", err)
	}
	k.Secrets[0].ExpiresAt = &until
	k.Secrets = append(k.Secrets, next)
	k.UpdatedAt = t1
	wantKey(t, s, k)
	wantKeyByHash(t, s, k.Secrets[0].Hash, k)
	wantKeyByHash(t, s, next.Hash, k)

	// A second roll with a later grace keeps the earlier end of the first.
	t2 := t1.Add(time.Second)
	third := newSecret(k.ID+"-third", t2)
	later := t2.Add(48 * time.Hour)
	if err := s.RollKey(t.Context(), k.ID, third, &later); err != nil {
		t.Fatal(err)
	}
	k.Secrets[1].ExpiresAt = &later
	k.Secrets = append(k.Secrets, third)
	k.UpdatedAt = t2
	wantKey(t, s, k)
}

func testRollAtOnce(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := createKey(t, s, accountOwner(a.ID))
	old := k.Secrets[0]
	next := newSecret(k.ID+"-next", now().Add(time.Second))
	if err := s.RollKey(t.Context(), k.ID, next, nil); err != nil {
		t.Fatal(err)
	}
	k.Secrets, k.UpdatedAt = []latchkey.Secret{next}, next.CreatedAt
	wantKey(t, s, k)
	_, err := s.KeyBySecretHash(t.Context(), old.Hash)
	wantErr(t, "KeyBySecretHash(old secret)", err, latchkey.ENOTFOUND, "key")
}

func testRollDropsExpiredSecrets(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := createKey(t, s, accountOwner(a.ID))
	t1 := now()
	until := t1.Add(time.Minute)
	if err := s.RollKey(t.Context(), k.ID, newSecret(k.ID+"-2", t1), &until); err != nil {
		t.Fatal(err)
	}
	// The next roll comes after the first grace period ended.
	third := newSecret(k.ID+"-3", until.Add(time.Second))
	if err := s.RollKey(t.Context(), k.ID, third, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Key(t.Context(), k.ID)
	if err != nil || len(got.Secrets) != 1 || string(got.Secrets[0].Hash) != string(third.Hash) {
		t.Fatalf("after two rolls, Key() = %v, %v; want only the newest secret", got, err)
	}
}

func testRollMissing(t *testing.T, s latchkey.Store) {
	err := s.RollKey(t.Context(), newID(), newSecret("x", now()), nil)
	wantErr(t, "RollKey(missing)", err, latchkey.ENOTFOUND, "key")
}

func testRollSecretTaken(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k1 := createKey(t, s, accountOwner(a.ID))
	k2 := createKey(t, s, accountOwner(a.ID))
	dup := newSecret(k1.ID, now()) // k1's own secret hash
	err := s.RollKey(t.Context(), k2.ID, dup, nil)
	wantErr(t, "RollKey(taken hash)", err, latchkey.ECONFLICT, "")
	wantKey(t, s, k2) // nothing changed, not even the old secret
}

func testQueryWithinAfter(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	other, _ := createAccount(t, s)
	createKey(t, s, accountOwner(other.ID))
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	var all []string
	for i := range 7 {
		o := []latchkey.KeyOwner{accountOwner(a.ID), appOwner(app), integrationOwner(app, in)}[i%3]
		all = append(all, createKey(t, s, o).ID)
	}
	account, _ := s.ListKeys(t.Context(), accountOwner(a.ID)) // the bootstrap key
	all = append(all, account[0].ID)
	slices.Sort(all)

	var got []string
	after := ""
	for page := 0; page < 10; page++ {
		keys, total, err := s.QueryKeys(t.Context(), latchkey.KeyQuery{Owner: accountOwner(a.ID), Within: true, After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if total != len(all) {
			t.Errorf("total = %d, want %d", total, len(all))
		}
		if len(keys) == 0 {
			break
		}
		got = append(got, keyIDs(keys)...)
		after = keys[len(keys)-1].ID
	}
	if !slices.Equal(got, all) {
		t.Errorf("paging the account's tree = %v, want %v", got, all)
	}
	appKeys, total, err := s.QueryKeys(t.Context(), latchkey.KeyQuery{Owner: appOwner(app), Within: true, Limit: 100})
	if err != nil || total != 4 || len(appKeys) != 4 { // 2 app keys, 2 of its integration
		t.Errorf("an app's tree: %d keys (total %d), %v; want 4", len(appKeys), total, err)
	}
	_, _, err = s.QueryKeys(t.Context(), latchkey.KeyQuery{Owner: accountOwner(a.ID), After: all[0], Limit: 3,
		Sort: []latchkey.KeySort{{Field: latchkey.KeyFieldCreated}}})
	wantErr(t, "QueryKeys(cursor with a sort)", err, latchkey.EINVALID, "")
}

func testUsageAdds(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := createKey(t, s, accountOwner(a.ID))
	gone := createKey(t, s, accountOwner(a.ID))
	m0 := now().Truncate(time.Minute)
	m1 := m0.Add(time.Minute)
	batch := []latchkey.UsageCount{
		{KeyID: k.ID, Minute: m0, Code: latchkey.CodeValid, Count: 3},
		{KeyID: k.ID, Minute: m0, Code: latchkey.CodeRateLimited, Count: 1},
		{KeyID: k.ID, Minute: m1, Code: latchkey.CodeValid, Count: 2},
		{KeyID: gone.ID, Minute: m0, Code: latchkey.CodeValid, Count: 9},
	}
	if err := s.DeleteKey(t.Context(), gone.ID); err != nil {
		t.Fatal(err)
	}
	used := m1.Add(10 * time.Second)
	for range 2 {
		if err := s.AddUsage(t.Context(), batch, map[string]time.Time{k.ID: used, gone.ID: used}); err != nil {
			t.Fatalf("AddUsage() error = %v, want nil (a deleted key's counts are dropped)", err)
		}
	}
	got, err := s.Usage(t.Context(), k.ID, m0, m1.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []latchkey.UsageCount{
		{KeyID: k.ID, Minute: m0, Code: latchkey.CodeRateLimited, Count: 2},
		{KeyID: k.ID, Minute: m0, Code: latchkey.CodeValid, Count: 6},
		{KeyID: k.ID, Minute: m1, Code: latchkey.CodeValid, Count: 4},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Usage() = %v, want %v", got, want)
	}
	// [from, to) bounds by minute.
	if got, _ := s.Usage(t.Context(), k.ID, m1, m1.Add(time.Minute)); len(got) != 1 || got[0].Count != 4 {
		t.Errorf("Usage of one minute = %v", got)
	}
	// LastUsedAt moves forward, never back.
	k.LastUsedAt = &used
	wantKey(t, s, k)
	if err := s.AddUsage(t.Context(), nil, map[string]time.Time{k.ID: m0}); err != nil {
		t.Fatal(err)
	}
	wantKey(t, s, k)
	if got, err := s.Usage(t.Context(), gone.ID, m0, m1); err != nil || len(got) != 0 {
		t.Errorf("a deleted key's usage = %v, %v; want none", got, err)
	}
}
