package storetest

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// dashboardSuite holds the stores to what the dashboard asks of them: key
// lists narrowed by search, state and hygiene finding, exactly as the
// domain's Go decides them; usage summed into UTC buckets; an account's
// record counts; and signed-in sessions, audited as changes.
var dashboardSuite = []contractTest{
	{"Dashboard/StatesAtBoundaries", testDashboardStates},
	{"Dashboard/HygieneAtBoundaries", testDashboardHygiene},
	{"Dashboard/StatesAndHygieneAsInGo", testDashboardAsInGo},
	{"Dashboard/Search", testDashboardSearch},
	{"Dashboard/SearchLength", testDashboardSearchLength},
	{"Dashboard/CombinedWithOwnerFiltersAndPaging", testDashboardCombined},
	{"Dashboard/InvalidQuery", testDashboardInvalidQuery},

	{"UsageSummary/Buckets", testUsageSummaryBuckets},
	{"UsageSummary/AsSummedInGo", testUsageSummaryAsInGo},
	{"UsageSummary/InvalidQuery", testUsageSummaryInvalid},

	{"CountRecords", testCountRecords},
	{"KeyStats", testKeyStats},

	{"Sessions/CreateAndGet", testSessionCreateAndGet},
	{"Sessions/Delete", testSessionDelete},
	{"Sessions/DuplicateHash", testSessionDuplicateHash},
	{"Sessions/KeyGone", testSessionKeyGone},
	{"Sessions/DeletedWithTheirKey", testSessionCascade},
	{"Sessions/Prune", testSessionPrune},
	{"Sessions/AuditEvents", testSessionAuditEvents},
	{"Sessions/FailedEventUndoesTheChange", testSessionFailedEventUndoesTheChange},
}

// ---------------------------------------------------------------------------
// States and hygiene.

// judgedKey is a key built on one side of a boundary, with the state and
// findings it must have at the fixture's moment.
type judgedKey struct {
	key      *latchkey.Key
	state    latchkey.KeyState
	findings []latchkey.KeyHygiene
}

// judgedKeys stores, in account a, keys on either side of every boundary
// of Key.StateAt and KeyHygiene.Has at at, and returns them with what
// each must be judged. Each key's findings are listed in full.
func judgedKeys(t *testing.T, s latchkey.Store, accountID string, at time.Time) []judgedKey {
	t.Helper()
	micro := time.Microsecond
	used := func(d time.Duration) *time.Time { return ptr(at.Add(d)) }
	grace := func(k *latchkey.Key, until time.Time) {
		old := newSecret(k.ID+"-old", k.CreatedAt.Add(-time.Hour))
		old.ExpiresAt = &until
		k.Secrets = append([]latchkey.Secret{old}, k.Secrets...)
	}
	limit := &latchkey.RateLimit{Limit: 10, Period: time.Minute}
	acl := []latchkey.ACLEntry{{Permissions: []string{"GetApiKey"}}}
	const (
		neverUsed    = latchkey.HygieneNeverUsed
		stale        = latchkey.HygieneStale
		noExpiry     = latchkey.HygieneNoExpiry
		noRateLimit  = latchkey.HygieneNoRateLimit
		unrestricted = latchkey.HygieneUnrestricted
	)
	// Each spec sets up a key that starts with a fresh secret, never used,
	// no expiry, no rate limit, no ACL.
	specs := []struct {
		name     string
		setup    func(k *latchkey.Key)
		state    latchkey.KeyState
		findings []latchkey.KeyHygiene
	}{
		{"plain", func(k *latchkey.Key) {}, latchkey.KeyActive, []latchkey.KeyHygiene{neverUsed, noExpiry, noRateLimit, unrestricted}},
		{"expires just after", func(k *latchkey.Key) { k.Policy.ExpiresAt = used(micro) },
			latchkey.KeyActive, []latchkey.KeyHygiene{neverUsed, noRateLimit, unrestricted}},
		{"expires at at", func(k *latchkey.Key) { k.Policy.ExpiresAt = used(0) },
			latchkey.KeyExpired, []latchkey.KeyHygiene{neverUsed, noRateLimit, unrestricted}},
		{"expired just before", func(k *latchkey.Key) { k.Policy.ExpiresAt = used(-micro) },
			latchkey.KeyExpired, []latchkey.KeyHygiene{neverUsed, noRateLimit, unrestricted}},
		{"disabled", func(k *latchkey.Key) { k.Policy.Disabled = true },
			latchkey.KeyDisabled, []latchkey.KeyHygiene{neverUsed, noExpiry, noRateLimit, unrestricted}},
		{"disabled and expired", func(k *latchkey.Key) { k.Policy.Disabled, k.Policy.ExpiresAt = true, used(-time.Hour) },
			latchkey.KeyDisabled, []latchkey.KeyHygiene{neverUsed, noRateLimit, unrestricted}},
		{"disabled in grace", func(k *latchkey.Key) { k.Policy.Disabled = true; grace(k, at.Add(time.Hour)) },
			latchkey.KeyDisabled, []latchkey.KeyHygiene{neverUsed, noExpiry, noRateLimit, unrestricted}},
		{"grace ends just after", func(k *latchkey.Key) { grace(k, at.Add(micro)) },
			latchkey.KeyInGrace, []latchkey.KeyHygiene{neverUsed, noExpiry, noRateLimit, unrestricted}},
		{"grace ends at at", func(k *latchkey.Key) { grace(k, at) },
			latchkey.KeyActive, []latchkey.KeyHygiene{neverUsed, noExpiry, noRateLimit, unrestricted}},
		{"grace ended just before", func(k *latchkey.Key) { grace(k, at.Add(-micro)) },
			latchkey.KeyActive, []latchkey.KeyHygiene{neverUsed, noExpiry, noRateLimit, unrestricted}},
		{"expired in grace", func(k *latchkey.Key) { k.Policy.ExpiresAt = used(0); grace(k, at.Add(time.Hour)) },
			latchkey.KeyExpired, []latchkey.KeyHygiene{neverUsed, noRateLimit, unrestricted}},
		{"in grace, expires later", func(k *latchkey.Key) { k.Policy.ExpiresAt = used(time.Hour); grace(k, at.Add(time.Minute)) },
			latchkey.KeyInGrace, []latchkey.KeyHygiene{neverUsed, noRateLimit, unrestricted}},
		{"used at at", func(k *latchkey.Key) { k.LastUsedAt = used(0) },
			latchkey.KeyActive, []latchkey.KeyHygiene{noExpiry, noRateLimit, unrestricted}},
		{"used at the stale cutoff", func(k *latchkey.Key) { k.LastUsedAt = used(-latchkey.StaleAfter) },
			latchkey.KeyActive, []latchkey.KeyHygiene{noExpiry, noRateLimit, unrestricted}},
		{"used just before the stale cutoff", func(k *latchkey.Key) { k.LastUsedAt = used(-latchkey.StaleAfter - micro) },
			latchkey.KeyActive, []latchkey.KeyHygiene{stale, noExpiry, noRateLimit, unrestricted}},
		{"rate limited", func(k *latchkey.Key) { k.Policy.RateLimit = limit },
			latchkey.KeyActive, []latchkey.KeyHygiene{neverUsed, noExpiry, unrestricted}},
		{"empty ACL: no permission at all", func(k *latchkey.Key) { k.Policy.ACL = []latchkey.ACLEntry{} },
			latchkey.KeyActive, []latchkey.KeyHygiene{neverUsed, noExpiry, noRateLimit}},
		{"ACL", func(k *latchkey.Key) { k.Policy.ACL = acl },
			latchkey.KeyActive, []latchkey.KeyHygiene{neverUsed, noExpiry, noRateLimit}},
		{"nothing to look at", func(k *latchkey.Key) {
			k.LastUsedAt, k.Policy.ExpiresAt, k.Policy.RateLimit, k.Policy.ACL = used(-time.Hour), used(time.Hour), limit, acl
		}, latchkey.KeyActive, nil},
	}
	var out []judgedKey
	for _, sp := range specs {
		k := newKey(accountOwner(accountID))
		k.Name = sp.name
		sp.setup(k)
		storeKey(t, s, k, 0)
		out = append(out, judgedKey{key: k, state: sp.state, findings: sp.findings})
	}
	return out
}

// queryAll runs q (with a limit that takes every match) and returns the
// ids, sorted, and the total.
func queryAll(t *testing.T, s latchkey.Store, q latchkey.KeyQuery) ([]string, int) {
	t.Helper()
	q.Limit = 1000
	ids, total := queryIDs(t, s, q)
	slices.Sort(ids)
	return ids, total
}

// idsWhere returns the sorted ids of the keys keep keeps.
func idsWhere(keys []*latchkey.Key, keep func(k *latchkey.Key) bool) []string {
	ids := []string{}
	for _, k := range keys {
		if keep(k) {
			ids = append(ids, k.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func testDashboardStates(t *testing.T, s latchkey.Store) {
	a, boot := createAccount(t, s) // the bootstrap key: active
	at := now()
	judged := judgedKeys(t, s, a.ID, at)
	owner := accountOwner(a.ID)
	for _, st := range latchkey.KeyStates {
		want := []string{}
		if st == latchkey.KeyActive {
			want = append(want, boot.ID)
		}
		for _, j := range judged {
			if j.state == st {
				want = append(want, j.key.ID)
			}
		}
		slices.Sort(want)
		got, total := queryAll(t, s, latchkey.KeyQuery{Owner: owner, States: []latchkey.KeyState{st}, At: at})
		if !slices.Equal(got, want) || total != len(want) {
			t.Errorf("keys in state %q = %v (total %d), want %v: %s", st, got, total, want, namesOf(judged, got, want))
		}
	}
}

func testDashboardHygiene(t *testing.T, s latchkey.Store) {
	a, boot := createAccount(t, s)
	at := now()
	judged := judgedKeys(t, s, a.ID, at)
	owner := accountOwner(a.ID)
	for _, h := range latchkey.KeyHygienes {
		want := []string{}
		if h != latchkey.HygieneStale { // the bootstrap key: never used, and has no limits
			want = append(want, boot.ID)
		}
		for _, j := range judged {
			if slices.Contains(j.findings, h) {
				want = append(want, j.key.ID)
			}
		}
		slices.Sort(want)
		got, total := queryAll(t, s, latchkey.KeyQuery{Owner: owner, Hygiene: h, At: at})
		if !slices.Equal(got, want) || total != len(want) {
			t.Errorf("keys with finding %q = %v (total %d), want %v: %s", h, got, total, want, namesOf(judged, got, want))
		}
	}
}

// namesOf names the keys that one of got and want holds and the other
// does not.
func namesOf(judged []judgedKey, got, want []string) string {
	var diffs []string
	for _, j := range judged {
		g, w := slices.Contains(got, j.key.ID), slices.Contains(want, j.key.ID)
		switch {
		case g && !w:
			diffs = append(diffs, fmt.Sprintf("%q listed", j.key.Name))
		case w && !g:
			diffs = append(diffs, fmt.Sprintf("%q missing", j.key.Name))
		}
	}
	return strings.Join(diffs, ", ")
}

// testDashboardAsInGo: at moments on, within a microsecond of, and in
// another zone than the fixture's, every state, set of states and finding
// selects exactly the keys the domain's Go does, judged on the keys as
// the store returns them.
func testDashboardAsInGo(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	at := now()
	judged := judgedKeys(t, s, a.ID, at)
	owner := accountOwner(a.ID)
	keys, err := s.ListKeys(t.Context(), owner)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture means what it says: Go judges the stored keys so.
	for _, j := range judged {
		i := slices.IndexFunc(keys, func(k *latchkey.Key) bool { return k.ID == j.key.ID })
		if i < 0 {
			t.Fatalf("key %q not listed", j.key.Name)
		}
		if got := keys[i].StateAt(at); got != j.state {
			t.Errorf("fixture: key %q is %q at at, want %q", j.key.Name, got, j.state)
		}
		for _, h := range latchkey.KeyHygienes {
			if got := h.Has(keys[i], at); got != slices.Contains(j.findings, h) {
				t.Errorf("fixture: key %q has %q = %v", j.key.Name, h, got)
			}
		}
	}
	stateSets := [][]latchkey.KeyState{
		{latchkey.KeyActive}, {latchkey.KeyInGrace}, {latchkey.KeyExpired}, {latchkey.KeyDisabled},
		{latchkey.KeyActive, latchkey.KeyInGrace},
		{latchkey.KeyExpired, latchkey.KeyDisabled, latchkey.KeyExpired},
		latchkey.KeyStates,
	}
	moments := map[string]time.Time{
		"at":                      at,
		"half a microsecond on":   at.Add(500 * time.Nanosecond),
		"half a microsecond back": at.Add(-500 * time.Nanosecond),
		"a microsecond on":        at.Add(time.Microsecond),
		"in another zone":         at.In(time.FixedZone("UTC+05:30", 5*3600+1800)),
		"a stale period on":       at.Add(latchkey.StaleAfter),
	}
	for name, m := range moments {
		for _, states := range stateSets {
			want := idsWhere(keys, func(k *latchkey.Key) bool { return slices.Contains(states, k.StateAt(m)) })
			got, total := queryAll(t, s, latchkey.KeyQuery{Owner: owner, States: states, At: m})
			if !slices.Equal(got, want) || total != len(want) {
				t.Errorf("%s: keys in states %v = %v (total %d), want %v as StateAt has it", name, states, got, total, want)
			}
		}
		for _, h := range latchkey.KeyHygienes {
			want := idsWhere(keys, func(k *latchkey.Key) bool { return h.Has(k, m) })
			got, total := queryAll(t, s, latchkey.KeyQuery{Owner: owner, Hygiene: h, At: m})
			if !slices.Equal(got, want) || total != len(want) {
				t.Errorf("%s: keys with %q = %v (total %d), want %v as Has has it", name, h, got, total, want)
			}
			for _, st := range latchkey.KeyStates {
				want := idsWhere(keys, func(k *latchkey.Key) bool { return h.Has(k, m) && k.StateAt(m) == st })
				got, _ := queryAll(t, s, latchkey.KeyQuery{Owner: owner, Hygiene: h, States: []latchkey.KeyState{st}, At: m})
				if !slices.Equal(got, want) {
					t.Errorf("%s: keys in state %q with %q = %v, want %v", name, st, h, got, want)
				}
			}
		}
	}
	// No states (nil or empty) and no finding keep every key, At or not.
	for _, q := range []latchkey.KeyQuery{{Owner: owner}, {Owner: owner, States: []latchkey.KeyState{}, At: at}} {
		if got, total := queryAll(t, s, q); total != len(keys) || len(got) != len(keys) {
			t.Errorf("QueryKeys(%+v) = %d keys (total %d), want all %d", q, len(got), total, len(keys))
		}
	}
}

func testDashboardSearch(t *testing.T, s latchkey.Store) {
	a, boot := createAccount(t, s)
	owner := accountOwner(a.ID)
	named := map[string]*latchkey.Key{}
	for _, name := range []string{"Billing Prod", "billing-staging", "50% off", "5000 off", "a_b", "axb", `back\slash`,
		"backxslash", "Émile", "émile", "!x", "plain"} {
		k := newKey(owner)
		k.Name = name
		named[name] = storeKey(t, s, k, 0)
	}
	byID := newKey(owner)
	byID.ID = "aBcDeF" + byID.ID[6:] // ids are the caller's: mixed case is possible
	byID.Name = "plain"
	storeKey(t, s, byID, 0)
	ids := func(names ...string) []string {
		out := []string{}
		for _, n := range names {
			out = append(out, named[n].ID)
		}
		slices.Sort(out)
		return out
	}
	allPlain := append(ids("plain"), byID.ID)
	slices.Sort(allPlain)
	cases := []struct {
		search string
		want   []string
	}{
		{"billing", ids("Billing Prod", "billing-staging")},
		{"BILLING", ids("Billing Prod", "billing-staging")},
		{"g p", ids("Billing Prod")},
		{"50%", ids("50% off")},
		{"%", ids("50% off")},
		{"a_b", ids("a_b")},
		{"_", ids("a_b")},
		{`\`, ids(`back\slash`)},
		{`k\s`, ids(`back\slash`)},
		{"!", ids("!x")},
		// ASCII case only: É and é are different letters to the search.
		{"émile", ids("émile")},
		{"ÉMILE", ids("Émile")},
		{"plain", allPlain},
		// Ids are searched too, ignoring case, in part or whole.
		{"abcdef", []string{byID.ID}},
		{"ABCDEF", []string{byID.ID}},
		{strings.ToUpper(boot.ID), []string{boot.ID}},
		{strings.ToUpper(named["axb"].ID), ids("axb")},
		{"nothing like it", []string{}},
		// Text no store holds matches nothing, and fails nothing.
		{"bad\x00\xff", []string{}},
	}
	for _, c := range cases {
		got, total := queryAll(t, s, latchkey.KeyQuery{Owner: owner, Search: c.search})
		if !slices.Equal(got, c.want) || total != len(c.want) {
			t.Errorf("search %q = %v (total %d), want %v", c.search, got, total, c.want)
		}
	}
}

func testDashboardSearchLength(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	owner := accountOwner(a.ID)
	k := newKey(owner)
	k.Name = strings.Repeat("x", latchkey.MaxSearchLen)
	storeKey(t, s, k, 0)
	if got, _ := queryAll(t, s, latchkey.KeyQuery{Owner: owner, Search: k.Name}); !slices.Equal(got, []string{k.ID}) {
		t.Errorf("a search of MaxSearchLen bytes = %v, want %v", got, []string{k.ID})
	}
	for _, search := range []string{
		strings.Repeat("x", latchkey.MaxSearchLen+1),
		strings.Repeat("é", latchkey.MaxSearchLen/2+1), // bytes, not characters
	} {
		_, _, err := s.QueryKeys(t.Context(), latchkey.KeyQuery{Owner: owner, Search: search, Limit: 10})
		wantInvalid(t, fmt.Sprintf("QueryKeys(a search of %d bytes)", len(search)), err)
	}
}

// testDashboardCombined: search, states and a finding narrow whatever
// else the query selects (owner, Within, filters), in its order, paged by
// offset or cursor, and the total counts every match.
func testDashboardCombined(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	other, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	at := now()
	owners := []latchkey.KeyOwner{accountOwner(a.ID), appOwner(app), integrationOwner(app, in), accountOwner(other.ID)}
	for i := range 36 {
		k := newKey(owners[i%len(owners)])
		k.Name = []string{"prod api", "staging", "Prod worker"}[i%3]
		if (i/len(owners))%2 == 1 { // both types under every owner
			k.Policy.Type = latchkey.KeyTypePublishable
		}
		k.CreatedAt = at.Add(time.Duration(i%5) * time.Second)
		switch i % 7 {
		case 0, 3:
			k.Policy.ExpiresAt = ptr(at.Add(-time.Minute))
		case 1:
			k.Policy.Disabled = true
		case 2, 5, 6:
			k.LastUsedAt = ptr(at.Add(-latchkey.StaleAfter - time.Hour))
		}
		storeKey(t, s, k, 0)
	}
	tree := map[latchkey.KeyOwner][]*latchkey.Key{}
	for _, o := range owners {
		keys, err := s.ListKeys(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		tree[o] = keys
	}
	expired := []latchkey.KeyState{latchkey.KeyExpired, latchkey.KeyDisabled}
	secret := latchkey.KeyFilter{Field: latchkey.KeyFieldType, Values: []string{string(latchkey.KeyTypeSecret)}}
	cases := []struct {
		name  string
		q     latchkey.KeyQuery
		under []latchkey.KeyOwner
		keep  func(k *latchkey.Key) bool
	}{
		{"account tree: search and states", latchkey.KeyQuery{Owner: owners[0], Within: true, Search: "PROD", States: expired, At: at},
			owners[:3], func(k *latchkey.Key) bool {
				return strings.Contains(strings.ToLower(k.Name), "prod") && slices.Contains(expired, k.StateAt(at))
			}},
		{"account's own keys: finding and filter", latchkey.KeyQuery{Owner: owners[0], Hygiene: latchkey.HygieneNeverUsed, At: at,
			Filters: []latchkey.KeyFilter{secret}},
			owners[:1], func(k *latchkey.Key) bool {
				return latchkey.HygieneNeverUsed.Has(k, at) && k.Policy.Type == latchkey.KeyTypeSecret
			}},
		{"app tree: everything at once", latchkey.KeyQuery{Owner: owners[1], Within: true, Search: "o", At: at,
			States: []latchkey.KeyState{latchkey.KeyActive}, Hygiene: latchkey.HygieneNoRateLimit, Filters: []latchkey.KeyFilter{secret}},
			owners[1:3], func(k *latchkey.Key) bool {
				return strings.Contains(strings.ToLower(k.Name), "o") && k.StateAt(at) == latchkey.KeyActive &&
					latchkey.HygieneNoRateLimit.Has(k, at) && k.Policy.Type == latchkey.KeyTypeSecret
			}},
		{"integration: negated filter and stale", latchkey.KeyQuery{Owner: owners[2], Hygiene: latchkey.HygieneStale, At: at,
			Filters: []latchkey.KeyFilter{{Field: latchkey.KeyFieldType, Values: []string{"secret"}, Negate: true}}},
			owners[2:3], func(k *latchkey.Key) bool {
				return latchkey.HygieneStale.Has(k, at) && k.Policy.Type != latchkey.KeyTypeSecret
			}},
	}
	for _, c := range cases {
		var want []string
		for _, o := range c.under {
			want = append(want, idsWhere(tree[o], c.keep)...)
		}
		slices.Sort(want)
		if len(want) < 2 {
			t.Fatalf("%s: the fixture gives %d matches; want a few, to page", c.name, len(want))
		}
		// By cursor, two at a time.
		var got []string
		q := c.q
		q.Limit = 2
		for range len(want) + 2 {
			keys, total, err := s.QueryKeys(t.Context(), q)
			if err != nil {
				t.Fatalf("%s: QueryKeys(%+v) error = %v", c.name, q, err)
			}
			if total != len(want) {
				t.Errorf("%s: total after %q = %d, want %d", c.name, q.After, total, len(want))
			}
			if len(keys) == 0 {
				break
			}
			got = append(got, keyIDs(keys)...)
			q.After = keys[len(keys)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: by cursor = %v, want %v", c.name, got, want)
		}
		// By offset, newest first.
		q = c.q
		q.Sort = []latchkey.KeySort{{Field: latchkey.KeyFieldCreated, Desc: true}}
		q.Limit, q.Offset = 1, 1
		page, total := queryIDs(t, s, q)
		if total != len(want) || len(page) != 1 || !slices.Contains(want, page[0]) {
			t.Errorf("%s: the second newest = %v (total %d), want one of %v (total %d)", c.name, page, total, want, len(want))
		}
	}
}

func testDashboardInvalidQuery(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	owner := accountOwner(a.ID)
	at := now()
	for name, q := range map[string]latchkey.KeyQuery{
		"unknown state":         {States: []latchkey.KeyState{"sleeping"}, At: at},
		"empty state":           {States: []latchkey.KeyState{latchkey.KeyActive, ""}, At: at},
		"SQL for a state":       {States: []latchkey.KeyState{"active') OR 1=1 --"}, At: at},
		"states without At":     {States: []latchkey.KeyState{latchkey.KeyActive}},
		"unknown finding":       {Hygiene: "smelly", At: at},
		"finding without At":    {Hygiene: latchkey.HygieneStale},
		"too long a search":     {Search: strings.Repeat("a", latchkey.MaxSearchLen+1)},
		"states with a cursor":  {States: []latchkey.KeyState{"sleeping"}, At: at, After: lowID},
		"finding with a cursor": {Hygiene: latchkey.HygieneStale, After: lowID},
	} {
		q.Owner, q.Limit = owner, 10
		_, _, err := s.QueryKeys(t.Context(), q)
		wantInvalid(t, "QueryKeys("+name+")", err)
	}
	if _, total := queryAll(t, s, latchkey.KeyQuery{Owner: owner}); total != 1 {
		t.Errorf("after refused queries: total %d, want 1", total)
	}
}

// ---------------------------------------------------------------------------
// Usage summaries.

// usageFixture is an account's keys of every owner, a key of another
// account, and counts of them across a month's end, as added.
type usageFixture struct {
	account            string
	k1, k2, k3, kOther *latchkey.Key
	counts             []latchkey.UsageCount
	inAccount          map[string]bool
}

// jan31 is 2025-01-31 at hh:mm UTC.
func jan31(hh, mm int) time.Time { return time.Date(2025, 1, 31, hh, mm, 0, 0, time.UTC) }

func newUsageFixture(t *testing.T, s latchkey.Store) usageFixture {
	a, _ := createAccount(t, s)
	other, _ := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	f := usageFixture{account: a.ID,
		k1: createKey(t, s, accountOwner(a.ID)), k2: createKey(t, s, appOwner(app)),
		k3: createKey(t, s, integrationOwner(app, in)), kOther: createKey(t, s, accountOwner(other.ID))}
	c := func(k *latchkey.Key, m time.Time, code latchkey.Code, n int64) latchkey.UsageCount {
		return latchkey.UsageCount{KeyID: k.ID, Minute: m, Code: code, Count: n}
	}
	f.counts = []latchkey.UsageCount{
		c(f.k1, jan31(22, 58), latchkey.CodeValid, 1),
		c(f.k1, jan31(22, 59), latchkey.CodeValid, 2),
		c(f.k1, jan31(23, 0), latchkey.CodeValid, 4),
		c(f.k1, jan31(23, 59), latchkey.CodeRateLimited, 8),
		c(f.k1, jan31(24, 0), latchkey.CodeValid, 16), // February 1st
		c(f.k1, jan31(25, 30), latchkey.CodeValid, 32),
		c(f.k2, jan31(22, 58), latchkey.CodeValid, 64),
		c(f.k2, jan31(24, 0), latchkey.CodeNotFound, 128),
		c(f.k3, jan31(24, 0), latchkey.CodeValid, 256),
		c(f.k3, jan31(24+23, 59), latchkey.CodeExpired, 1024), // February 1st's last minute
		c(f.k3, jan31(24+24, 0), latchkey.CodeExpired, 2048),  // February 2nd
		c(f.kOther, jan31(23, 0), latchkey.CodeValid, 512),
	}
	if err := s.AddUsage(t.Context(), f.counts, nil); err != nil {
		t.Fatal(err)
	}
	f.inAccount = map[string]bool{f.k1.ID: true, f.k2.ID: true, f.k3.ID: true}
	return f
}

// sum is the summary q asks for, computed in Go from the counts added.
func (f usageFixture) sum(q latchkey.UsageQuery) []latchkey.UsageCount {
	width := q.Bucket.Width()
	from := q.From.UTC().Truncate(width)
	type group struct {
		key    string
		bucket time.Time
		code   latchkey.Code
	}
	sums := map[group]int64{}
	for _, c := range f.counts {
		if !f.inAccount[c.KeyID] || (len(q.KeyIDs) > 0 && !slices.Contains(q.KeyIDs, c.KeyID)) ||
			c.Minute.Before(from) || !c.Minute.Before(q.To) {
			continue
		}
		g := group{bucket: c.Minute.UTC().Truncate(width), code: c.Code}
		if q.ByKey {
			g.key = c.KeyID
		}
		sums[g] += c.Count
	}
	out := []latchkey.UsageCount{}
	for g, n := range sums {
		out = append(out, latchkey.UsageCount{KeyID: g.key, Minute: g.bucket, Code: g.code, Count: n})
	}
	slices.SortFunc(out, func(a, b latchkey.UsageCount) int {
		if c := strings.Compare(a.KeyID, b.KeyID); c != 0 {
			return c
		}
		if c := a.Minute.Compare(b.Minute); c != 0 {
			return c
		}
		return strings.Compare(string(a.Code), string(b.Code))
	})
	return out
}

// wantSummary checks UsageSummary(q) against want, count for count, each
// bucket's start in UTC.
func wantSummary(t *testing.T, s latchkey.Store, name string, q latchkey.UsageQuery, want []latchkey.UsageCount) {
	t.Helper()
	got, err := s.UsageSummary(t.Context(), q)
	if err != nil {
		t.Errorf("%s: UsageSummary error = %v", name, err)
		return
	}
	if showCounts(got) != showCounts(want) {
		t.Errorf("%s: UsageSummary =\n%s\nwant\n%s", name, showCounts(got), showCounts(want))
	}
	for _, c := range got {
		wantUTC(t, name+": Minute", c.Minute)
	}
}

func showCounts(counts []latchkey.UsageCount) string {
	var b strings.Builder
	for _, c := range counts {
		fmt.Fprintf(&b, "  key %q %s %s %d\n", c.KeyID, c.Minute.Format(time.RFC3339Nano), c.Code, c.Count)
	}
	return b.String()
}

func testUsageSummaryBuckets(t *testing.T, s latchkey.Store) {
	f := newUsageFixture(t, s)
	feb1 := jan31(24, 0)
	u := func(key *latchkey.Key, at time.Time, code latchkey.Code, n int64) latchkey.UsageCount {
		id := ""
		if key != nil {
			id = key.ID
		}
		return latchkey.UsageCount{KeyID: id, Minute: at, Code: code, Count: n}
	}
	// Days, over the account: January's last day and February's first are
	// apart, though the months' text differs after the day did. From is
	// rounded down to its day; To excludes February 2nd.
	wantSummary(t, s, "days", latchkey.UsageQuery{AccountID: f.account, Bucket: latchkey.BucketDay,
		From: jan31(12, 0), To: feb1.Add(24 * time.Hour)},
		[]latchkey.UsageCount{
			u(nil, jan31(0, 0), latchkey.CodeRateLimited, 8),
			u(nil, jan31(0, 0), latchkey.CodeValid, 1+2+4+64),
			u(nil, feb1, latchkey.CodeExpired, 1024),
			u(nil, feb1, latchkey.CodeNotFound, 128),
			u(nil, feb1, latchkey.CodeValid, 16+32+256),
		})
	// Hours, by key, narrowed to k1 and a key of another account, which
	// adds nothing. From 22:30 is rounded down to 22:00; To is exclusive.
	wantSummary(t, s, "hours of k1", latchkey.UsageQuery{AccountID: f.account, Bucket: latchkey.BucketHour, ByKey: true,
		KeyIDs: []string{f.k1.ID, f.kOther.ID}, From: jan31(22, 30), To: jan31(25, 30)},
		[]latchkey.UsageCount{
			u(f.k1, jan31(22, 0), latchkey.CodeValid, 1+2),
			u(f.k1, jan31(23, 0), latchkey.CodeRateLimited, 8),
			u(f.k1, jan31(23, 0), latchkey.CodeValid, 4),
			u(f.k1, feb1, latchkey.CodeValid, 16),
		})
	// Minutes: From 22:59:30 is rounded down to 22:59, To 23:00 excluded.
	wantSummary(t, s, "one minute", latchkey.UsageQuery{AccountID: f.account, Bucket: latchkey.BucketMinute,
		From: jan31(22, 59).Add(30 * time.Second), To: jan31(23, 0)},
		[]latchkey.UsageCount{u(nil, jan31(22, 59), latchkey.CodeValid, 2)})
	// By key, ordered by key (k1 was made first, so its id is lower),
	// then bucket, then code.
	wantSummary(t, s, "days by key", latchkey.UsageQuery{AccountID: f.account, Bucket: latchkey.BucketDay, ByKey: true,
		From: jan31(0, 0), To: feb1},
		[]latchkey.UsageCount{
			u(f.k1, jan31(0, 0), latchkey.CodeRateLimited, 8),
			u(f.k1, jan31(0, 0), latchkey.CodeValid, 1+2+4),
			u(f.k2, jan31(0, 0), latchkey.CodeValid, 64),
		})
	// Another account sees only its own; an account without usage, none.
	wantSummary(t, s, "the other account", latchkey.UsageQuery{AccountID: f.kOther.AccountID, Bucket: latchkey.BucketDay,
		From: jan31(0, 0), To: feb1},
		[]latchkey.UsageCount{u(nil, jan31(0, 0), latchkey.CodeValid, 512)})
	wantSummary(t, s, "an account's keys named under another", latchkey.UsageQuery{AccountID: f.kOther.AccountID,
		Bucket: latchkey.BucketDay, KeyIDs: []string{f.k1.ID}, From: jan31(0, 0), To: feb1}, nil)
	wantSummary(t, s, "no such account", latchkey.UsageQuery{AccountID: newID(), Bucket: latchkey.BucketDay,
		From: jan31(0, 0), To: feb1}, nil)
}

// testUsageSummaryAsInGo: over a grid of windows, buckets and keys, the
// store sums exactly as Go does.
func testUsageSummaryAsInGo(t *testing.T, s latchkey.Store) {
	f := newUsageFixture(t, s)
	ist := time.FixedZone("UTC+05:30", 5*3600+1800)
	windows := [][2]time.Time{
		{jan31(0, 0), jan31(72, 0)},
		{jan31(22, 58), jan31(22, 59)},
		{jan31(22, 58).Add(time.Nanosecond), jan31(23, 59)},
		{jan31(23, 0), jan31(24, 0).Add(500 * time.Nanosecond)}, // To within a microsecond after a counted minute
		{jan31(23, 30).In(ist), jan31(24+23, 59).In(ist)},
		{jan31(24, 0), jan31(24+23, 59).Add(time.Minute)},
	}
	keySets := [][]string{nil, {f.k1.ID}, {f.k2.ID, f.k3.ID}, {f.kOther.ID}, {f.k3.ID, f.kOther.ID, "no such key", "bad\x00\xff"}}
	for _, w := range windows {
		for _, b := range []latchkey.UsageBucket{latchkey.BucketMinute, latchkey.BucketHour, latchkey.BucketDay} {
			for _, ids := range keySets {
				for _, byKey := range []bool{false, true} {
					q := latchkey.UsageQuery{AccountID: f.account, KeyIDs: ids, From: w[0], To: w[1], Bucket: b, ByKey: byKey}
					wantSummary(t, s, fmt.Sprintf("%+v", q), q, f.sum(q))
				}
			}
		}
	}
}

func testUsageSummaryInvalid(t *testing.T, s latchkey.Store) {
	f := newUsageFixture(t, s)
	from, to := jan31(0, 0), jan31(48, 0)
	for name, q := range map[string]latchkey.UsageQuery{
		"no account":      {Bucket: latchkey.BucketDay, From: from, To: to},
		"unknown bucket":  {AccountID: f.account, Bucket: "week", From: from, To: to},
		"no bucket":       {AccountID: f.account, From: from, To: to},
		"SQL as a bucket": {AccountID: f.account, Bucket: "day', minute) --", From: from, To: to},
		"from equals to":  {AccountID: f.account, Bucket: latchkey.BucketDay, From: to, To: to},
		"from after to":   {AccountID: f.account, Bucket: latchkey.BucketDay, From: to, To: from},
		"no window":       {AccountID: f.account, Bucket: latchkey.BucketDay},
		"too many keys":   {AccountID: f.account, Bucket: latchkey.BucketDay, From: from, To: to, KeyIDs: values(latchkey.MaxUsageKeys + 1)},
	} {
		got, err := s.UsageSummary(t.Context(), q)
		wantInvalid(t, "UsageSummary("+name+")", err)
		if got != nil {
			t.Errorf("UsageSummary(%s) = %v along with its error, want nil", name, got)
		}
	}
	q := latchkey.UsageQuery{AccountID: f.account, Bucket: latchkey.BucketDay, From: from, To: to, KeyIDs: values(latchkey.MaxUsageKeys)}
	if _, err := s.UsageSummary(t.Context(), q); err != nil {
		t.Errorf("UsageSummary(MaxUsageKeys keys) error = %v, want nil", err)
	}
}

// ---------------------------------------------------------------------------
// Record counts.

func testCountRecords(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, _ := createAccount(t, s)
	other, _ := createAccount(t, s)
	app1, app2 := createApp(t, s, a.ID), createApp(t, s, a.ID)
	in1, _ := createIntegration(t, s, app1.ID), createIntegration(t, s, app1.ID)
	in3 := createIntegration(t, s, app2.ID)
	createKey(t, s, accountOwner(a.ID))
	createKey(t, s, appOwner(app1))
	createKey(t, s, integrationOwner(app1, in1))
	createKey(t, s, integrationOwner(app2, in3))
	otherApp := createApp(t, s, other.ID)
	createIntegration(t, s, otherApp.ID)
	createKey(t, s, appOwner(otherApp))

	want := func(accountID string, w latchkey.RecordCounts) {
		t.Helper()
		got, err := s.CountRecords(ctx, accountID)
		if err != nil || got != w {
			t.Errorf("CountRecords(%q) = %+v, %v; want %+v, nil", accountID, got, err, w)
		}
	}
	want(a.ID, latchkey.RecordCounts{Apps: 2, Integrations: 3, Keys: 5}) // the bootstrap key too
	want(other.ID, latchkey.RecordCounts{Apps: 1, Integrations: 1, Keys: 2})
	want(newID(), latchkey.RecordCounts{})
	want("bad\x00\xff", latchkey.RecordCounts{})
	if err := s.DeleteApp(ctx, app2.ID, nil); err != nil {
		t.Fatal(err)
	}
	want(a.ID, latchkey.RecordCounts{Apps: 1, Integrations: 2, Keys: 4})
}

// ---------------------------------------------------------------------------
// Sessions.

func newSession(keyID string, secretHash []byte) *latchkey.Session {
	t0 := now()
	h := sha256.Sum256([]byte("session:" + newID()))
	return &latchkey.Session{Hash: h[:], KeyID: keyID, SecretHash: secretHash, CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour)}
}

func createSession(t *testing.T, s latchkey.Store, k *latchkey.Key) *latchkey.Session {
	t.Helper()
	sess := newSession(k.ID, k.Secrets[0].Hash)
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("CreateSession(key %q) error = %v, want nil", k.ID, err)
	}
	return sess
}

func wantSession(t *testing.T, s latchkey.Store, want *latchkey.Session) {
	t.Helper()
	got, err := s.Session(t.Context(), want.Hash)
	if err != nil {
		t.Errorf("Session(%x) error = %v, want nil", want.Hash, err)
		return
	}
	var d differ
	d.bytes("Hash", got.Hash, want.Hash)
	d.str("KeyID", got.KeyID, want.KeyID)
	d.bytes("SecretHash", got.SecretHash, want.SecretHash)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	report(t, fmt.Sprintf("Session(%x)", want.Hash), d)
	wantUTC(t, "Session.CreatedAt", got.CreatedAt)
	wantUTC(t, "Session.ExpiresAt", got.ExpiresAt)
}

func wantNoSession(t *testing.T, s latchkey.Store, hash []byte) {
	t.Helper()
	got, err := s.Session(t.Context(), hash)
	if wantErr(t, fmt.Sprintf("Session(%x)", hash), err, latchkey.ENOTFOUND, "session") && got != nil {
		t.Errorf("Session(%x) = %+v, want nil", hash, got)
	}
}

func testSessionCreateAndGet(t *testing.T, s latchkey.Store) {
	a, k := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	sess := createSession(t, s, k)
	wantSession(t, s, sess)
	// Any key may sign in; a key may hold several sessions; times come
	// back in UTC, to the microsecond, whatever zone they went in with.
	for _, o := range []latchkey.KeyOwner{appOwner(app), integrationOwner(app, in)} {
		wantSession(t, s, createSession(t, s, createKey(t, s, o)))
	}
	second := newSession(k.ID, k.Secrets[0].Hash)
	zone := time.FixedZone("UTC-07:00", -7*3600)
	second.CreatedAt, second.ExpiresAt = second.CreatedAt.In(zone), second.ExpiresAt.In(zone)
	if err := s.CreateSession(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	wantSession(t, s, second)
	wantSession(t, s, sess)
	// An expired session is still returned: ending it is the caller's.
	old := newSession(k.ID, k.Secrets[0].Hash)
	old.CreatedAt, old.ExpiresAt = old.CreatedAt.Add(-48*time.Hour), old.CreatedAt.Add(-24*time.Hour)
	if err := s.CreateSession(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	wantSession(t, s, old)
	wantNoSession(t, s, newSession(k.ID, nil).Hash)
	wantNoSession(t, s, nil)
}

func testSessionDelete(t *testing.T, s latchkey.Store) {
	_, k := createAccount(t, s)
	sess, kept := createSession(t, s, k), createSession(t, s, k)
	if err := s.DeleteSession(t.Context(), sess.Hash); err != nil {
		t.Fatalf("DeleteSession() error = %v", err)
	}
	wantNoSession(t, s, sess.Hash)
	wantSession(t, s, kept)
	err := s.DeleteSession(t.Context(), sess.Hash)
	wantErr(t, "DeleteSession(deleted)", err, latchkey.ENOTFOUND, "session")
	err = s.DeleteSession(t.Context(), newSession(k.ID, nil).Hash)
	wantErr(t, "DeleteSession(never created)", err, latchkey.ENOTFOUND, "session")
	wantKey(t, s, k) // signing out leaves the key
}

func testSessionDuplicateHash(t *testing.T, s latchkey.Store) {
	a, k := createAccount(t, s)
	sess := createSession(t, s, k)
	dup := newSession(createKey(t, s, accountOwner(a.ID)).ID, []byte("other secret"))
	dup.Hash = sess.Hash
	err := s.CreateSession(t.Context(), dup)
	wantErr(t, "CreateSession(taken hash)", err, latchkey.ECONFLICT, "")
	wantSession(t, s, sess) // unchanged
}

func testSessionKeyGone(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := createKey(t, s, accountOwner(a.ID))
	if err := s.DeleteKey(t.Context(), k.ID); err != nil {
		t.Fatal(err)
	}
	for name, keyID := range map[string]string{"deleted": k.ID, "never created": newID(), "unstorable": "bad\x00\xff"} {
		sess := newSession(keyID, k.Secrets[0].Hash)
		err := s.CreateSession(t.Context(), sess)
		wantErr(t, "CreateSession(key "+name+")", err, latchkey.ENOTFOUND, "key")
		wantNoSession(t, s, sess.Hash)
	}
}

// testSessionCascade: deleting a key deletes its sessions, however the key
// goes: by itself, or with its integration or app.
func testSessionCascade(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, boot := createAccount(t, s)
	app := createApp(t, s, a.ID)
	in := createIntegration(t, s, app.ID)
	k := createKey(t, s, accountOwner(a.ID))
	inKey, appKey := createKey(t, s, integrationOwner(app, in)), createKey(t, s, appOwner(app))
	kept := createSession(t, s, boot)
	gone := map[string][]*latchkey.Session{}
	for name, key := range map[string]*latchkey.Key{"key": k, "integration": inKey, "app": appKey} {
		gone[name] = []*latchkey.Session{createSession(t, s, key), createSession(t, s, key)}
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"key", func() error { return s.DeleteKey(ctx, k.ID) }},
		{"integration", func() error { return s.DeleteIntegration(ctx, app.ID, in.ID, nil) }},
		{"app", func() error { return s.DeleteApp(ctx, app.ID, nil) }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("delete %s: %v", st.name, err)
		}
		for _, sess := range gone[st.name] {
			wantNoSession(t, s, sess.Hash)
		}
	}
	wantSession(t, s, kept)
}

func testSessionPrune(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	_, k := createAccount(t, s)
	cut := now()
	mk := func(expires time.Time) *latchkey.Session {
		sess := newSession(k.ID, k.Secrets[0].Hash)
		sess.CreatedAt, sess.ExpiresAt = expires.Add(-time.Hour), expires
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		return sess
	}
	long, just, at, after := mk(cut.Add(-time.Hour)), mk(cut.Add(-time.Microsecond)), mk(cut), mk(cut.Add(time.Hour))
	// Pruning is no change anyone made: no event, even if one is carried.
	pctx := latchkey.WithAuditEvent(ctx, newEvent("", "session.prune"))
	n, err := s.PruneSessions(pctx, cut)
	if err != nil || n != 2 {
		t.Errorf("PruneSessions(cut) = %d, %v; want 2, nil", n, err)
	}
	wantNoSession(t, s, long.Hash)
	wantNoSession(t, s, just.Hash)
	wantSession(t, s, at)
	wantSession(t, s, after)
	// Half a microsecond past the cut, the session ending at it ended
	// before.
	if n, err := s.PruneSessions(pctx, cut.Add(500*time.Nanosecond)); err != nil || n != 1 {
		t.Errorf("PruneSessions(cut+500ns) = %d, %v; want 1, nil", n, err)
	}
	wantNoSession(t, s, at.Hash)
	wantSession(t, s, after)
	if n, err := s.PruneSessions(pctx, cut); err != nil || n != 0 {
		t.Errorf("PruneSessions(cut) again = %d, %v; want 0, nil", n, err)
	}
	if got := auditLog(t, s, ""); len(got) != 0 {
		t.Errorf("PruneSessions wrote events %v, want none", eventIDs(got))
	}
}

// testSessionAuditEvents: signing in and out are changes, each written
// with the event its context carries; a failed one writes none, and
// reading a session writes none.
func testSessionAuditEvents(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, k := createAccount(t, s)
	sess := newSession(k.ID, k.Secrets[0].Hash)
	created := newEvent(a.ID, latchkey.ActionSessionCreate)
	if err := s.CreateSession(latchkey.WithAuditEvent(ctx, created), sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(latchkey.WithAuditEvent(ctx, newEvent(a.ID, "read")), sess.Hash); err != nil {
		t.Fatal(err)
	}
	fails := map[string]func(ev *latchkey.AuditEvent) error{
		"CreateSession of a taken hash": func(ev *latchkey.AuditEvent) error {
			dup := newSession(k.ID, k.Secrets[0].Hash)
			dup.Hash = sess.Hash
			return s.CreateSession(latchkey.WithAuditEvent(ctx, ev), dup)
		},
		"CreateSession for a missing key": func(ev *latchkey.AuditEvent) error {
			return s.CreateSession(latchkey.WithAuditEvent(ctx, ev), newSession(newID(), nil))
		},
		"DeleteSession of a missing session": func(ev *latchkey.AuditEvent) error {
			return s.DeleteSession(latchkey.WithAuditEvent(ctx, ev), newSession(k.ID, nil).Hash)
		},
	}
	for name, do := range fails {
		if err := do(newEvent(a.ID, name)); err == nil {
			t.Fatalf("%s: error = nil, want one", name)
		}
	}
	deleted := newEvent(a.ID, latchkey.ActionSessionDelete)
	if err := s.DeleteSession(latchkey.WithAuditEvent(ctx, deleted), sess.Hash); err != nil {
		t.Fatal(err)
	}
	if got, want := eventIDs(auditLog(t, s, "")), []string{created.ID, deleted.ID}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want one per change %v and none for the failures or the read", got, want)
	}
}

// testSessionFailedEventUndoesTheChange: an event that cannot be written
// fails the change it goes with: no session is created or deleted.
func testSessionFailedEventUndoesTheChange(t *testing.T, s latchkey.Store) {
	ctx := t.Context()
	a, k := createAccount(t, s)
	first := newEvent(a.ID, latchkey.ActionSessionCreate)
	if err := s.AppendAuditEvents(ctx, first); err != nil {
		t.Fatal(err)
	}
	dup := *first // its id is taken
	sess := newSession(k.ID, k.Secrets[0].Hash)
	err := s.CreateSession(latchkey.WithAuditEvent(ctx, &dup), sess)
	wantErr(t, "CreateSession with an event whose id is taken", err, latchkey.ECONFLICT, "audit event")
	wantNoSession(t, s, sess.Hash)

	kept := createSession(t, s, k)
	err = s.DeleteSession(latchkey.WithAuditEvent(ctx, &dup), kept.Hash)
	wantErr(t, "DeleteSession with an event whose id is taken", err, latchkey.ECONFLICT, "audit event")
	wantSession(t, s, kept)
}

// testKeyStats holds KeyStats to what Go judges of the same keys, at the
// boundaries judgedKeys sets up, counting keys of every owner in the
// account and none of another's.
func testKeyStats(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	other, _ := createAccount(t, s)
	at := now()
	judgedKeys(t, s, a.ID, at)
	judgedKeys(t, s, other.ID, at)
	app := createApp(t, s, a.ID)
	appKey := newKey(appOwner(app))
	appKey.Policy.Disabled = true
	storeKey(t, s, appKey, 0)
	var keys []*latchkey.Key
	for _, owner := range []latchkey.KeyOwner{accountOwner(a.ID), appOwner(app)} {
		got, err := s.ListKeys(t.Context(), owner)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, got...)
	}
	for name, m := range map[string]time.Time{
		"at": at, "half a microsecond on": at.Add(500 * time.Nanosecond), "half a microsecond back": at.Add(-500 * time.Nanosecond),
		"a stale period on": at.Add(latchkey.StaleAfter),
	} {
		want := latchkey.KeyStats{Total: len(keys), States: map[latchkey.KeyState]int{}, Hygiene: map[latchkey.KeyHygiene]int{}}
		for _, st := range latchkey.KeyStates {
			want.States[st] = 0
		}
		for _, h := range latchkey.KeyHygienes {
			want.Hygiene[h] = 0
		}
		for _, k := range keys {
			want.States[k.StateAt(m)]++
			for _, h := range latchkey.KeyHygienes {
				if h.Has(k, m) {
					want.Hygiene[h]++
				}
			}
		}
		got, err := s.KeyStats(t.Context(), a.ID, m)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: KeyStats = %+v, want %+v", name, got, want)
		}
	}
	if _, err := s.KeyStats(t.Context(), a.ID, time.Time{}); latchkey.ErrorCode(err) != latchkey.EINVALID {
		t.Errorf("KeyStats at the zero time: %v, want EINVALID", err)
	}
	empty, err := s.KeyStats(t.Context(), "no-such-account", at)
	if err != nil || empty.Total != 0 || empty.States[latchkey.KeyActive] != 0 || len(empty.Hygiene) != len(latchkey.KeyHygienes) {
		t.Errorf("KeyStats of an unknown account = %+v, %v; want zeros for every entry", empty, err)
	}
}
