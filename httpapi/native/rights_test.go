package native_test

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestFailClosedDefault: a native key made without permissions can
// authenticate but is granted nothing; one made with ["*"] can do all.
func TestFailClosedDefault(t *testing.T) {
	s := newStack(t)
	none := s.createKey(t, s.admin, `{"name":"no permissions"}`)
	if len(none.Permissions) != 0 || string(none.ACL) != "[]" {
		t.Fatalf("a key made without permissions shows permissions %q, acl %s; want [] and []", none.Permissions, none.ACL)
	}
	all := s.createKey(t, s.admin, `{"name":"management","permissions":["*"]}`)

	resp, body := s.call(t, "POST", "/v1/apps", none.Secret, `{"name":"x"}`)
	wantError(t, resp, body, http.StatusForbidden, "forbidden")
	for _, path := range []string{"/v1/apps", "/v1/keys", "/v1/keys/" + none.ID} {
		resp, body = s.call(t, "GET", path, none.Secret, "")
		wantError(t, resp, body, http.StatusForbidden, "forbidden")
	}
	// It authenticates: whoami needs no permission.
	resp, body = s.call(t, "GET", "/v1/whoami", none.Secret, "")
	wantStatus(t, resp, body, http.StatusOK)
	// The same on the other surfaces.
	resp, body = s.Do(t, "GET", "/api-keys", "", "", "REB-APIKEY", none.Secret)
	wantStatus(t, resp, body, http.StatusForbidden)

	resp, body = s.call(t, "POST", "/v1/apps", all.Secret, `{"name":"x"}`)
	wantStatus(t, resp, body, http.StatusCreated)

	// A management key has the rights of the keys the other surfaces make
	// without an ACL, so it manages them: here, one the Rebilly surface made.
	resp, body = s.Do(t, "POST", "/api-keys", "", `{"description":"made elsewhere"}`, "REB-APIKEY", s.admin)
	wantStatus(t, resp, body, http.StatusCreated)
	elsewhere := decode[struct{ ID string }](t, body)
	resp, body = s.call(t, "DELETE", "/v1/keys/"+elsewhere.ID, all.Secret, "")
	wantStatus(t, resp, body, http.StatusNoContent)
}

// TestWildcards: "orders.*" covers the user's own permissions under orders,
// not Latchkey's operations.
func TestWildcards(t *testing.T) {
	s := newStack(t)
	orders := s.createKey(t, s.admin, `{"name":"orders","permissions":["orders.*"]}`)
	resp, body := s.call(t, "POST", "/v1/keys", orders.Secret, `{"name":"child","permissions":["orders.read"]}`)
	wantError(t, resp, body, http.StatusForbidden, "forbidden")
}

// TestNoWidening: a key makes keys only within its own permissions.
func TestNoWidening(t *testing.T) {
	s := newStack(t)
	maker := s.createKey(t, s.admin, `{"name":"maker","permissions":["CreateKey","orders.*"]}`)
	for _, perms := range []string{`["*"]`, `["billing.read"]`, `["orders.read","billing.read"]`, `["CreateKey","GetKey"]`} {
		before := s.Snapshot(t)
		resp, body := s.call(t, "POST", "/v1/keys", maker.Secret, `{"name":"child","permissions":`+perms+`}`)
		wantError(t, resp, body, http.StatusForbidden, "forbidden")
		wantUnchanged(t, s, before)
	}
	resp, body := s.call(t, "POST", "/v1/keys", maker.Secret,
		`{"name":"child","acl":[{"scope":{"productId":["p1"]},"permissions":["billing.read"]}]}`)
	wantError(t, resp, body, http.StatusForbidden, "forbidden")

	for _, perms := range []string{`["orders.read"]`, `["orders.items.*"]`, `["CreateKey","orders.*"]`} {
		child := s.createKey(t, maker.Secret, `{"name":"child","permissions":`+perms+`}`)
		if child.Owner.ID != s.Account.AccountID {
			t.Errorf("child owner = %+v", child.Owner)
		}
	}
	// Scoped narrower than the maker's unscoped orders.*: fine.
	s.createKey(t, maker.Secret, `{"name":"scoped","acl":[{"scope":{"productId":["p1"]},"permissions":["orders.read"]}]}`)
	// Without permissions, the child gets none (not the maker's).
	child := s.createKey(t, maker.Secret, `{"name":"bare"}`)
	if len(child.Permissions) != 0 {
		t.Errorf("a bare child's permissions = %q, want none", child.Permissions)
	}
}

// TestTimeAndRateInherited: a child of an expiring or rate-limited key
// expires no later and runs no faster.
func TestTimeAndRateInherited(t *testing.T) {
	s := newStack(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	parent := s.createKey(t, s.admin, `{"name":"parent","permissions":["CreateKey","UpdateKey","GetKey"],
		"expiresAt":"`+exp.Format(time.RFC3339)+`","rateLimit":{"limit":10,"period":"1m"}}`)

	child := s.createKey(t, parent.Secret, `{"name":"child","permissions":["GetKey"]}`)
	wantJSON(t, "inherited expiresAt", child.ExpiresAt, `"`+exp.Format(time.RFC3339)+`"`)
	wantJSON(t, "inherited rateLimit", child.RateLimit, `{"limit":10,"period":"1m"}`)

	// Narrower is fine: earlier, and slower (5 per minute is 10 per 2 minutes).
	s.createKey(t, parent.Secret, `{"name":"narrower","expiresAt":"`+exp.Add(-time.Minute).Format(time.RFC3339)+`",
		"rateLimit":{"limit":10,"period":"2m"}}`)
	for _, body := range []string{
		`{"name":"later","expiresAt":"` + exp.Add(time.Minute).Format(time.RFC3339) + `"}`,
		`{"name":"faster","rateLimit":{"limit":11,"period":"1m"}}`,
		`{"name":"faster per second","rateLimit":{"limit":1,"period":"1s"}}`,
	} {
		before := s.Snapshot(t)
		resp, got := s.call(t, "POST", "/v1/keys", parent.Secret, body)
		wantError(t, resp, got, http.StatusForbidden, "forbidden")
		wantUnchanged(t, s, before)
	}
	// Nor can it be lifted by PATCH: null means "inherit" for a limited key.
	resp, body := s.call(t, "PATCH", "/v1/keys/"+child.ID, parent.Secret, `{"expiresAt":null,"rateLimit":null}`)
	wantStatus(t, resp, body, http.StatusOK)
	got := decode[key](t, body)
	wantJSON(t, "expiresAt after null", got.ExpiresAt, `"`+exp.Format(time.RFC3339)+`"`)
	wantJSON(t, "rateLimit after null", got.RateLimit, `{"limit":10,"period":"1m"}`)
}

// TestIsolation: another account's keys and apps do not exist for a key.
func TestIsolation(t *testing.T) {
	s := newStack(t)
	_, otherKey, err := s.Svc.Bootstrap(t.Context(), "Other")
	if err != nil {
		t.Fatal(err)
	}
	other := otherKey.Secrets[0].Plain
	mine := s.createKey(t, s.admin, `{"name":"mine"}`)
	myApp := s.createApp(t, "mine")

	before := s.Snapshot(t)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/keys/" + mine.ID, ""},
		{"PATCH", "/v1/keys/" + mine.ID, `{"name":"stolen"}`},
		{"DELETE", "/v1/keys/" + mine.ID, ""},
		{"POST", "/v1/keys/" + mine.ID + "/roll", ""},
		{"GET", "/v1/keys/" + mine.ID + "/usage", ""},
		{"GET", "/v1/apps/" + myApp, ""},
		{"PATCH", "/v1/apps/" + myApp, `{"name":"stolen"}`},
		{"DELETE", "/v1/apps/" + myApp, ""},
		{"POST", "/v1/keys", `{"name":"x","owner":{"type":"app","id":"` + myApp + `"}}`},
		{"POST", "/v1/keys", `{"name":"x","owner":{"type":"account","id":"` + s.Account.AccountID + `"}}`},
		{"GET", "/v1/keys?ownerType=app&ownerId=" + myApp, ""},
		{"GET", "/v1/keys?ownerType=account&ownerId=" + s.Account.AccountID, ""},
	} {
		resp, body := s.call(t, c.method, c.path, other, c.body)
		wantError(t, resp, body, http.StatusNotFound, "not_found")
	}
	wantUnchanged(t, s, before)
	resp, body := s.call(t, "GET", "/v1/keys", other, "")
	wantStatus(t, resp, body, http.StatusOK)
	if list := decode[page[key]](t, body); len(list.Data) != 1 || list.Data[0].ID != otherKey.ID {
		t.Errorf("the other account lists %s, want only its own key", body)
	}
}

// TestAppKeyReach: an app's key sees its app's keys (and its integrations'),
// not the account's, and cannot reach up to make account keys.
func TestAppKeyReach(t *testing.T) {
	s := newStack(t)
	a := s.createApp(t, "A")
	b := s.createApp(t, "B")
	in := s.createIntegration(t, a)
	appKey := s.createKey(t, s.admin, `{"name":"app admin","owner":{"type":"app","id":"`+a+`"},"permissions":["*"]}`)
	intKey := s.createKey(t, appKey.Secret, `{"name":"int","owner":{"type":"integration","id":"`+in+`","appId":"`+a+`"}}`)
	s.createKey(t, s.admin, `{"name":"in B","owner":{"type":"app","id":"`+b+`"}}`)

	resp, body := s.call(t, "GET", "/v1/keys", appKey.Secret, "")
	wantStatus(t, resp, body, http.StatusOK)
	list := decode[page[key]](t, body)
	want := []string{appKey.ID, intKey.ID}
	slices.Sort(want) // in id order; ULIDs made in one millisecond order at random
	if len(list.Data) != 2 || list.Data[0].ID != want[0] || list.Data[1].ID != want[1] {
		t.Errorf("the app key lists %s, want itself and the integration's key", body)
	}
	for _, c := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"name":"up","owner":{"type":"account","id":"` + s.Account.AccountID + `"}}`, 403, "forbidden"},
		{`{"name":"side","owner":{"type":"app","id":"` + b + `"}}`, 403, "forbidden"},
		{`{"name":"none","owner":{"type":"app","id":"` + missingApp + `"}}`, 403, "forbidden"},
	} {
		before := s.Snapshot(t)
		resp, body := s.call(t, "POST", "/v1/keys", appKey.Secret, c.body)
		wantError(t, resp, body, c.status, c.code)
		wantUnchanged(t, s, before)
	}
	// A key made by the app key without an owner is the app's.
	if k := s.createKey(t, appKey.Secret, `{"name":"default owner"}`); k.Owner.Type != "app" || k.Owner.ID != a {
		t.Errorf("default owner = %+v, want the app", k.Owner)
	}
}

// TestOwnerFilters: ownerType and ownerId list exactly that owner's keys.
func TestOwnerFilters(t *testing.T) {
	s := newStack(t)
	a := s.createApp(t, "A")
	in := s.createIntegration(t, a)
	acct := s.createKey(t, s.admin, `{"name":"account"}`)
	appKey := s.createKey(t, s.admin, `{"name":"app","owner":{"type":"app","id":"`+a+`"}}`)
	intKey := s.createKey(t, s.admin, `{"name":"int","owner":{"type":"integration","id":"`+in+`","appId":"`+a+`"}}`)

	ids := func(query string) []string {
		t.Helper()
		resp, body := s.call(t, "GET", "/v1/keys"+query, s.admin, "")
		wantStatus(t, resp, body, http.StatusOK)
		out := []string{}
		for _, k := range decode[page[key]](t, body).Data {
			out = append(out, k.ID)
		}
		return out
	}
	for query, want := range map[string][]string{
		"": {s.Account.ID, acct.ID, appKey.ID, intKey.ID},
		"?ownerType=account&ownerId=" + s.Account.AccountID:         {s.Account.ID, acct.ID},
		"?ownerType=app&ownerId=" + a:                               {appKey.ID},
		"?ownerType=integration&ownerId=" + in + "&ownerAppId=" + a: {intKey.ID},
	} {
		slices.Sort(want) // in id order; ULIDs made in one millisecond order at random
		if got := ids(query); !slices.Equal(got, want) {
			t.Errorf("GET /v1/keys%s = %v, want %v", query, got, want)
		}
	}
	resp, body := s.call(t, "GET", "/v1/keys?ownerType=app&ownerId="+missingApp, s.admin, "")
	wantError(t, resp, body, http.StatusNotFound, "not_found")
}

// TestPaging: 30 keys (and the bootstrap key) by pages of 7, each key once,
// in order, nextCursor null on the last page only.
func TestPaging(t *testing.T) {
	s := newStack(t)
	made := map[string]bool{s.Account.ID: true}
	for range 30 {
		made[s.createKey(t, s.admin, `{"name":"k"}`).ID] = true
	}
	seen := map[string]bool{}
	var last string
	cursor, pages := "", 0
	for {
		path := "/v1/keys?limit=7"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		resp, body := s.call(t, "GET", path, s.admin, "")
		wantStatus(t, resp, body, http.StatusOK)
		p := decode[page[key]](t, body)
		pages++
		for _, k := range p.Data {
			if seen[k.ID] || k.ID <= last {
				t.Fatalf("page %d repeats or reorders %s", pages, k.ID)
			}
			seen[k.ID], last = true, k.ID
		}
		if p.NextCursor == nil {
			if len(p.Data) != 31%7 {
				t.Errorf("last page holds %d keys, want %d", len(p.Data), 31%7)
			}
			break
		}
		if len(p.Data) != 7 || *p.NextCursor != p.Data[6].ID {
			t.Fatalf("page %d = %d keys, nextCursor %q", pages, len(p.Data), *p.NextCursor)
		}
		cursor = *p.NextCursor
	}
	if pages != 5 || len(seen) != len(made) {
		t.Errorf("%d pages, %d keys seen; want 5 pages and %d keys", pages, len(seen), len(made))
	}
	// A page that ends exactly at the end says so.
	resp, body := s.call(t, "GET", "/v1/keys?limit=31", s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	if p := decode[page[key]](t, body); len(p.Data) != 31 || p.NextCursor != nil {
		t.Errorf("a page of exactly all keys: %d keys, nextCursor %v", len(p.Data), p.NextCursor)
	}
	// The default page is 25.
	resp, body = s.call(t, "GET", "/v1/keys", s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	if p := decode[page[key]](t, body); len(p.Data) != 25 || p.NextCursor == nil {
		t.Errorf("default page: %d keys", len(p.Data))
	}
}
