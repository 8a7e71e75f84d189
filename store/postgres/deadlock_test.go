package postgres

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/pgtest"
)

// TestWritersAcrossNodesDoNotDeadlock races every kind of write on one app
// from two stores (two nodes): creating keys in it and its integrations,
// deleting them, the app and an integration, rolling and updating keys,
// flushing usage and resealing. The locks are taken in one order
// everywhere, so each call either succeeds or finds its object gone; none
// fails, as a deadlock victim would.
func TestWritersAcrossNodesDoNotDeadlock(t *testing.T) {
	const rounds = 8
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	nodes := []*Store{openAt(t, dsn), openAt(t, dsn)}
	at := time.Now().UTC().Truncate(time.Microsecond)
	acc := &latchkey.Account{ID: "account", Name: "A", CreatedAt: at}
	seq := 0
	newKey := func(o latchkey.KeyOwner) *latchkey.Key {
		seq++
		id := fmt.Sprintf("k%05d", seq)
		return &latchkey.Key{ID: id, AccountID: o.AccountID, AppID: o.AppID, IntegrationID: o.IntegrationID, Name: id,
			Policy: latchkey.Policy{Type: latchkey.KeyTypeSecret}, CreatedAt: at, UpdatedAt: at,
			Secrets: []latchkey.Secret{{Hash: []byte("hash " + id), Sealed: []byte("sealed"), CreatedAt: at}}}
	}
	if err := nodes[0].CreateAccountWithKey(ctx, acc, newKey(latchkey.KeyOwner{AccountID: acc.ID})); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].InitMeta(ctx, "check", []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	for round := range rounds {
		app := &latchkey.App{ID: fmt.Sprintf("app%d", round), AccountID: acc.ID, DisplayName: "App", CreatedAt: at, UpdatedAt: at}
		if err := nodes[0].CreateApp(ctx, app); err != nil {
			t.Fatal(err)
		}
		var ins []*latchkey.Integration
		var keys []*latchkey.Key
		for i := range 2 {
			in := &latchkey.Integration{ID: fmt.Sprintf("app%d-in%d", round, i), AppID: app.ID, Type: latchkey.IntegrationTypeCustom,
				Status: "active", CreatedAt: at, UpdatedAt: at,
				Webhooks: []latchkey.Webhook{{ID: fmt.Sprintf("app%d-wh%d", round, i), Version: "v2", Target: "https://example.com",
					Triggers: []string{"*"}, SealedSecret: []byte("sealed")}}}
			if err := nodes[1].CreateIntegration(ctx, in); err != nil {
				t.Fatal(err)
			}
			ins = append(ins, in)
		}
		owners := []latchkey.KeyOwner{
			{AccountID: acc.ID, AppID: app.ID},
			{AccountID: acc.ID, AppID: app.ID, IntegrationID: ins[0].ID},
			{AccountID: acc.ID, AppID: app.ID, IntegrationID: ins[1].ID},
		}
		for n := range 6 {
			k := newKey(owners[n%3])
			if err := nodes[n%2].CreateKey(ctx, k, 0); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
		var racing []*latchkey.Key
		for n := range 8 {
			racing = append(racing, newKey(owners[n%3]))
		}

		var mu sync.Mutex
		var failures []string
		do := func(what string, err error) {
			switch latchkey.ErrorCode(err) {
			case "", latchkey.ENOTFOUND, latchkey.ELIMIT:
			default:
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s: %v", what, err))
				mu.Unlock()
			}
		}
		usage := func() ([]latchkey.UsageCount, map[string]time.Time) {
			var counts []latchkey.UsageCount
			used := map[string]time.Time{}
			for _, k := range append(keys, racing...) {
				counts = append(counts, latchkey.UsageCount{KeyID: k.ID, Minute: at, Code: latchkey.CodeValid, Count: 1})
				used[k.ID] = at.Add(time.Second)
			}
			return counts, used
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		goNode := func(n int, fn func(s *Store)) {
			wg.Go(func() {
				<-start
				fn(nodes[n%2])
			})
		}
		for n, k := range racing {
			goNode(n, func(s *Store) { do("CreateKey", s.CreateKey(ctx, k, 5)) })
		}
		goNode(0, func(s *Store) {
			do("DeleteApp", s.DeleteApp(ctx, app.ID, func([]*latchkey.Key) error { return nil }))
		})
		goNode(1, func(s *Store) {
			do("DeleteIntegration", s.DeleteIntegration(ctx, app.ID, ins[0].ID, func([]*latchkey.Key) error { return nil }))
		})
		for n := range 2 {
			goNode(n, func(s *Store) {
				counts, used := usage()
				do("AddUsage", s.AddUsage(ctx, counts, used))
			})
		}
		for n, k := range keys {
			goNode(n, func(s *Store) {
				until := at.Add(time.Hour)
				do("RollKey", s.RollKey(ctx, k.ID, latchkey.Secret{Hash: []byte("rolled " + k.ID), Sealed: []byte("s"), CreatedAt: at}, &until))
			})
			goNode(n+1, func(s *Store) {
				upd := *k
				upd.Name = "renamed"
				do("UpdateKey", s.UpdateKey(ctx, &upd))
			})
		}
		goNode(0, func(s *Store) { do("UpdateApp", s.UpdateApp(ctx, app)) })
		goNode(1, func(s *Store) { do("UpdateIntegration", s.UpdateIntegration(ctx, ins[1])) })
		goNode(round, func(s *Store) {
			do("Reseal", s.Reseal(ctx, []string{"check"}, func(_, _ string, sealed []byte) ([]byte, error) { return sealed, nil }))
		})
		close(start)
		wg.Wait()
		for _, f := range failures {
			t.Errorf("round %d: %s", round, f)
		}
	}
}
