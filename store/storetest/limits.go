package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// This file holds the suite's checks of the store's own bounds: a query
// carrying more values than latchkey.MaxFilterValues is refused with EINVALID
// before it reaches the database, and lists as long as the data (every key
// of an owner, a large page) come back whole, never as a driver error.

// beyondSQLiteVariables is more values than SQLite binds in one statement
// (32766): the request that once surfaced as "too many SQL variables".
const beyondSQLiteVariables = 33_000

// values returns n distinct filter values, after the given ones.
func values(n int, first ...string) []string {
	out := slices.Clone(first)
	for i := len(out); i < n; i++ {
		out = append(out, fmt.Sprintf("value-%d", i))
	}
	return out
}

// wantInvalid checks that err is EINVALID: an application error, not a
// driver error passed through (which ErrorCode reports as EINTERNAL).
func wantInvalid(t *testing.T, call string, err error) {
	t.Helper()
	wantErr(t, call, err, latchkey.EINVALID, "")
}

func testQueryKeysFilterValuesCap(t *testing.T, s latchkey.Store) {
	a, acctKey := createAccount(t, s)
	k := createKey(t, s, accountOwner(a.ID))
	owner := accountOwner(a.ID)
	max := latchkey.MaxFilterValues

	// At the cap, in one filter or spread over several, the query runs.
	for _, tc := range []struct {
		name      string
		filters   []latchkey.KeyFilter
		want      []string
		wantTotal int
	}{
		{"one filter at the cap", []latchkey.KeyFilter{{Field: latchkey.KeyFieldID, Values: values(max, k.ID)}},
			[]string{k.ID}, 1},
		{"negated filter at the cap", []latchkey.KeyFilter{{Field: latchkey.KeyFieldID, Values: values(max, k.ID), Negate: true}},
			[]string{acctKey.ID}, 1},
		{"two filters summing to the cap", []latchkey.KeyFilter{
			{Field: latchkey.KeyFieldID, Values: values(max-2, k.ID)},
			{Field: latchkey.KeyFieldName, Values: values(2, k.Name)}},
			[]string{k.ID}, 1},
	} {
		got, total := queryIDs(t, s, latchkey.KeyQuery{Owner: owner, Limit: 10, Filters: tc.filters})
		if total != tc.wantTotal || !slices.Equal(got, tc.want) {
			t.Errorf("%s: QueryKeys = %v (total %d), want %v (total %d)", tc.name, got, total, tc.want, tc.wantTotal)
		}
	}

	// One value more, however it is spread, is refused before any SQL runs.
	for _, tc := range []struct {
		name    string
		filters []latchkey.KeyFilter
	}{
		{"one filter over the cap", []latchkey.KeyFilter{{Field: latchkey.KeyFieldID, Values: values(max+1, k.ID)}}},
		{"negated filter over the cap", []latchkey.KeyFilter{{Field: latchkey.KeyFieldID, Values: values(max + 1), Negate: true}}},
		{"two filters, each under the cap, over it together", []latchkey.KeyFilter{
			{Field: latchkey.KeyFieldID, Values: values(max/2+1, k.ID)},
			{Field: latchkey.KeyFieldName, Values: values(max/2, k.Name)}}},
		{"many one-value filters", slices.Repeat([]latchkey.KeyFilter{{Field: latchkey.KeyFieldType, Values: []string{"secret"}}}, max+1)},
		{"more values than SQLite binds", []latchkey.KeyFilter{{Field: latchkey.KeyFieldID, Values: values(beyondSQLiteVariables, k.ID)}}},
	} {
		keys, total, err := s.QueryKeys(t.Context(), latchkey.KeyQuery{Owner: owner, Limit: 10, Filters: tc.filters})
		wantInvalid(t, "QueryKeys() with "+tc.name, err)
		if len(keys) != 0 || total != 0 {
			t.Errorf("QueryKeys() with %s = %d keys (total %d), want none", tc.name, len(keys), total)
		}
	}

	// The store still answers.
	if got, total := queryIDs(t, s, latchkey.KeyQuery{Owner: owner, Limit: 10}); total != 2 {
		t.Fatalf("after refused queries: %v (total %d), want 2 keys", got, total)
	}
}

func testQueryKeysSortFieldTwice(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	owner := accountOwner(a.ID)
	for _, sort := range [][]latchkey.KeySort{
		{{Field: latchkey.KeyFieldCreated}, {Field: latchkey.KeyFieldCreated}},
		{{Field: latchkey.KeyFieldID}, {Field: latchkey.KeyFieldUpdated}, {Field: latchkey.KeyFieldID, Desc: true}},
		slices.Repeat([]latchkey.KeySort{{Field: latchkey.KeyFieldID}}, beyondSQLiteVariables),
	} {
		_, _, err := s.QueryKeys(t.Context(), latchkey.KeyQuery{Owner: owner, Limit: 10, Sort: sort})
		wantInvalid(t, fmt.Sprintf("QueryKeys() sorting on %d fields, one twice", len(sort)), err)
	}
	// Every sortable field once is fine.
	every := []latchkey.KeySort{{Field: latchkey.KeyFieldUpdated, Desc: true}, {Field: latchkey.KeyFieldCreated}, {Field: latchkey.KeyFieldID}}
	if got, total := queryIDs(t, s, latchkey.KeyQuery{Owner: owner, Limit: 10, Sort: every}); total != 1 || len(got) != 1 {
		t.Fatalf("QueryKeys() sorting on every field once = %v (total %d), want the one key", got, total)
	}
}

func testListIntegrationsTypesCap(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	max := latchkey.MaxFilterValues
	page := latchkey.Page{Size: 10}

	list, _, err := s.ListIntegrations(t.Context(), app.ID, values(max, latchkey.IntegrationTypeCustom), page)
	if got := integrationIDs(list); err != nil || !slices.Equal(got, []string{in.ID}) {
		t.Errorf("ListIntegrations() with %d types = %v, %v, want [%s], nil", max, got, err, in.ID)
	}
	for _, n := range []int{max + 1, beyondSQLiteVariables} {
		list, info, err := s.ListIntegrations(t.Context(), app.ID, values(n, latchkey.IntegrationTypeCustom), page)
		wantInvalid(t, fmt.Sprintf("ListIntegrations() with %d types", n), err)
		if len(list) != 0 || info != (latchkey.PageInfo{}) {
			t.Errorf("ListIntegrations() with %d types = %v, %+v, want nothing", n, integrationIDs(list), info)
		}
	}
}

// testListKeysBeyondOneQuery gives one owner more keys than one query may
// carry values: ListKeys and a large QueryKeys page still return every key
// with every secret (a store that loads secrets with one IN list per result
// must split it).
func testListKeysBeyondOneQuery(t *testing.T, s latchkey.Store) {
	a, acctKey := createAccount(t, s)
	owner := accountOwner(a.ID)
	want := map[string]*latchkey.Key{acctKey.ID: acctKey}
	for i := range latchkey.MaxFilterValues + 1 {
		k := newKey(owner)
		if i%2 == 0 { // a second secret on every other key, so that order within a key matters
			k.Secrets = append(k.Secrets, newSecret(k.ID+"/2", k.CreatedAt.Add(time.Microsecond)))
		}
		want[storeKey(t, s, k, 0).ID] = k
	}

	keys, err := s.ListKeys(t.Context(), owner)
	if err != nil {
		t.Fatalf("ListKeys() of %d keys error = %v", len(want), err)
	}
	checkAllKeys(t, "ListKeys()", keys, want)

	keys, total, err := s.QueryKeys(t.Context(), latchkey.KeyQuery{Owner: owner, Limit: len(want) + 10})
	if err != nil || total != len(want) {
		t.Fatalf("QueryKeys(Limit: %d) = total %d, %v; want %d, nil", len(want)+10, total, err, len(want))
	}
	checkAllKeys(t, "QueryKeys()", keys, want)
}

func checkAllKeys(t *testing.T, call string, got []*latchkey.Key, want map[string]*latchkey.Key) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s returned %d keys, want %d", call, len(got), len(want))
	}
	for _, k := range got {
		w, ok := want[k.ID]
		if !ok {
			t.Fatalf("%s returned unknown key %q", call, k.ID)
		}
		if diffs := diffKey(k, w); len(diffs) > 0 {
			report(t, fmt.Sprintf("%s key %q", call, k.ID), diffs)
			return
		}
	}
}

// testListIntegrationsBeyondOneQuery lists a page of more integrations than
// one query may carry values: each comes back with its webhooks.
func testListIntegrationsBeyondOneQuery(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	n := latchkey.MaxFilterValues + 1
	want := map[string]*latchkey.Integration{}
	for i := range n {
		in := newIntegration(app.ID, latchkey.IntegrationTypeCustom)
		in.Webhooks = []latchkey.Webhook{newWebhook(2 * i), newWebhook(2*i + 1)}
		want[storeIntegration(t, s, in).ID] = in
	}
	list, info, err := s.ListIntegrations(t.Context(), app.ID, nil, latchkey.Page{Size: n})
	if err != nil || len(list) != n || info.HasMore {
		t.Fatalf("ListIntegrations(Size: %d) = %d integrations, %+v, %v; want all %d, no more, nil", n, len(list), info, err, n)
	}
	for _, in := range list {
		if diffs := diffIntegration(in, want[in.ID]); len(diffs) > 0 {
			report(t, fmt.Sprintf("ListIntegrations() integration %q", in.ID), diffs)
			return
		}
	}
}
