package postgres

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/pgtest"
	"github.com/latchkey/latchkey/store/sqlite"
)

// TestTextAsSQLite runs one script of lookups, lists and pages on both
// stores and wants the same answers from each. Its ids sort differently
// bytewise than in most collations (SQLite compares bytes, and pgtest's
// server has an ICU default collation), and its requests carry text
// PostgreSQL cannot hold (invalid UTF-8, NUL bytes), which a client can put
// in a path or a filter: SQLite finds nothing by it, and so must this store,
// rather than fail.
func TestTextAsSQLite(t *testing.T) {
	lite, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	pg := openAt(t, pgtest.DSN(t))

	lines := func(s latchkey.Store) []string {
		return textScript(t, s)
	}
	want, got := lines(lite), lines(pg)
	if len(got) != len(want) {
		t.Fatalf("the script gave %d answers on PostgreSQL, %d on SQLite", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("PostgreSQL: %s\n    SQLite: %s", got[i], want[i])
		}
	}
}

// textScript runs the script on s and returns one line per answer.
func textScript(t *testing.T, s latchkey.Store) []string {
	ctx := t.Context()
	at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	acc := &latchkey.Account{ID: "account", Name: "A", CreatedAt: at}
	key := func(id string, o latchkey.KeyOwner, name string) *latchkey.Key {
		return &latchkey.Key{ID: id, AccountID: o.AccountID, AppID: o.AppID, IntegrationID: o.IntegrationID, Name: name,
			Policy: latchkey.Policy{Type: latchkey.KeyTypeSecret}, CreatedAt: at, UpdatedAt: at,
			Secrets: []latchkey.Secret{{Hash: []byte("hash " + id), Sealed: []byte("sealed"), CreatedAt: at}}}
	}
	if err := s.CreateAccountWithKey(ctx, acc, key("K", latchkey.KeyOwner{AccountID: acc.ID}, "first")); err != nil {
		t.Fatal(err)
	}
	// Bytewise: "0" < "B" < "Z" < "_" < "a" < "a-b" < "aa" < "é"; most
	// collations put them otherwise ("_" first, "a" beside "B"…).
	ids := []string{"a", "B", "é", "_", "aa", "Z", "0", "a-b"}
	for _, id := range ids {
		if err := s.CreateApp(ctx, &latchkey.App{ID: id, AccountID: acc.ID, DisplayName: id, CreatedAt: at, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
		o := latchkey.KeyOwner{AccountID: acc.ID, AppID: id}
		if err := s.CreateKey(ctx, key("k"+id, o, "name "+id), 0); err != nil {
			t.Fatal(err)
		}
	}
	in := &latchkey.Integration{ID: "i", AppID: "a", Type: "custom", Status: "active", CreatedAt: at, UpdatedAt: at}
	if err := s.CreateIntegration(ctx, in); err != nil {
		t.Fatal(err)
	}

	var out []string
	say := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	errText := func(err error) string {
		if err == nil {
			return "ok"
		}
		return latchkey.ErrorCode(err) + "/" + latchkey.ErrorSubject(err)
	}
	appIDs := func(apps []*latchkey.App) string {
		var s []string
		for _, a := range apps {
			s = append(s, a.ID)
		}
		return strings.Join(s, " ")
	}
	keyIDs := func(keys []*latchkey.Key) string {
		var s []string
		for _, k := range keys {
			s = append(s, k.ID)
		}
		return strings.Join(s, " ")
	}

	odd := []string{"\xff", "a\x00", "\x00", "\xc3", "B\x00", "a\xff", "Z\x80", "é\x00"}
	cursors := append([]string{"", "a", "_", "é", "zz"}, odd...)
	for _, c := range cursors {
		for _, size := range []int{2, 100} {
			apps, info, err := s.ListApps(ctx, acc.ID, latchkey.Page{After: c, Size: size})
			say("ListApps(after %q, %d) = [%s] %+v %s", c, size, appIDs(apps), info, errText(err))
			if c != "" {
				apps, info, err = s.ListApps(ctx, acc.ID, latchkey.Page{Before: c, Size: size})
				say("ListApps(before %q, %d) = [%s] %+v %s", c, size, appIDs(apps), info, errText(err))
			}
		}
		keys, total, err := s.QueryKeys(ctx, latchkey.KeyQuery{Owner: latchkey.KeyOwner{AccountID: acc.ID}, Within: true, After: c, Limit: 3})
		say("QueryKeys(within, after %q) = [%s] %d %s", c, keyIDs(keys), total, errText(err))
	}
	for _, id := range odd {
		_, err := s.App(ctx, id)
		say("App(%q): %s", id, errText(err))
		_, err = s.Key(ctx, id)
		say("Key(%q): %s", id, errText(err))
		_, err = s.Integration(ctx, "a", id)
		say("Integration(a, %q): %s", id, errText(err))
		_, err = s.Integration(ctx, id, "i")
		say("Integration(%q, i): %s", id, errText(err))
		say("DeleteKey(%q): %s", id, errText(s.DeleteKey(ctx, id)))
		say("DeleteApp(%q): %s", id, errText(s.DeleteApp(ctx, id, nil)))
		say("DeleteIntegration(a, %q): %s", id, errText(s.DeleteIntegration(ctx, "a", id, nil)))
		say("UpdateApp(%q): %s", id, errText(s.UpdateApp(ctx, &latchkey.App{ID: id, DisplayName: "x", UpdatedAt: at})))
		say("RollKey(%q): %s", id, errText(s.RollKey(ctx, id, latchkey.Secret{Hash: []byte("new " + id), Sealed: []byte("s"), CreatedAt: at}, nil)))
		for _, o := range []latchkey.KeyOwner{{AccountID: id}, {AccountID: acc.ID, AppID: id}, {AccountID: acc.ID, AppID: "a", IntegrationID: id}} {
			keys, err := s.ListKeys(ctx, o)
			say("ListKeys(%+q) = [%s] %s", o, keyIDs(keys), errText(err))
			say("CreateKey(%+q): %s", o, errText(s.CreateKey(ctx, key("new", o, "n"), 10)))
		}
		_, err = s.Meta(ctx, id)
		say("Meta(%q): %s", id, errText(err))
		usage, err := s.Usage(ctx, id, at, at.Add(time.Hour))
		say("Usage(%q) = %d %s", id, len(usage), errText(err))
		say("AddUsage(%q): %s", id, errText(s.AddUsage(ctx,
			[]latchkey.UsageCount{{KeyID: id, Minute: at, Code: latchkey.CodeValid, Count: 1}}, map[string]time.Time{id: at})))

		list, info, err := s.ListIntegrations(ctx, "a", []string{id}, latchkey.Page{Size: 10})
		say("ListIntegrations(a, [%q]) = %d %+v %s", id, len(list), info, errText(err))
		list, info, err = s.ListIntegrations(ctx, "a", []string{id, "custom"}, latchkey.Page{Size: 10})
		say("ListIntegrations(a, [%q custom]) = %d %+v %s", id, len(list), info, errText(err))
		list, info, err = s.ListIntegrations(ctx, id, nil, latchkey.Page{Size: 10})
		say("ListIntegrations(%q) = %d %+v %s", id, len(list), info, errText(err))
		for _, negate := range []bool{false, true} {
			for _, field := range []latchkey.KeyField{latchkey.KeyFieldID, latchkey.KeyFieldName, latchkey.KeyFieldType} {
				q := latchkey.KeyQuery{Owner: latchkey.KeyOwner{AccountID: acc.ID}, Within: true, Limit: 100,
					Filters: []latchkey.KeyFilter{{Field: field, Values: []string{id}, Negate: negate}}}
				keys, total, err := s.QueryKeys(ctx, q)
				say("QueryKeys(%s %q, negate %t) = [%s] %d %s", field, id, negate, keyIDs(keys), total, errText(err))
				q.Filters[0].Values = []string{id, "kB", "name a", "secret"}
				keys, total, err = s.QueryKeys(ctx, q)
				say("QueryKeys(%s %q and others, negate %t) = [%s] %d %s", field, id, negate, keyIDs(keys), total, errText(err))
			}
		}
	}
	keys, err := s.ListKeys(ctx, latchkey.KeyOwner{AccountID: acc.ID})
	say("ListKeys(account) at the end = [%s] %s", keyIDs(keys), errText(err))

	// Times finer than a microsecond lose the rest, as the stores agree.
	fine := key("fine", latchkey.KeyOwner{AccountID: acc.ID}, "fine")
	ns := at.Add(999 * time.Nanosecond)
	fine.CreatedAt, fine.UpdatedAt, fine.Policy.ExpiresAt, fine.Secrets[0].CreatedAt = ns, ns.Add(time.Second), &ns, ns
	say("CreateKey(fine): %s", errText(s.CreateKey(ctx, fine, 0)))
	say("AddUsage(fine): %s", errText(s.AddUsage(ctx, nil, map[string]time.Time{fine.ID: ns})))
	if k, err := s.Key(ctx, fine.ID); err == nil {
		say("Key(fine) times = %v %v %v %v %v", k.CreatedAt, k.UpdatedAt, *k.Policy.ExpiresAt, k.Secrets[0].CreatedAt, *k.LastUsedAt)
	} else {
		say("Key(fine): %s", errText(err))
	}
	return out
}
