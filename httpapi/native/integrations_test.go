package native_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

type integration struct {
	ID        string  `json:"id"`
	AppID     string  `json:"appId"`
	Type      string  `json:"type"`
	Name      *string `json:"name"`
	CreatedAt string  `json:"createdAt"`
	UpdatedAt string  `json:"updatedAt"`
}

// TestIntegrations: the round trip of an integration through the native
// routes, the shape of its JSON, and that the Sunshine surface shows the
// same integration.
func TestIntegrations(t *testing.T) {
	s := newStack(t)
	appID := s.createApp(t, "A")
	base := "/v1/apps/" + appID + "/integrations"
	start := time.Now().Add(-time.Second).Truncate(time.Second)

	resp, body := s.call(t, "POST", base, s.admin, `{"name":"Bot"}`)
	wantStatus(t, resp, body, http.StatusCreated)
	in := decode[integration](t, body)
	if !appIDPattern.MatchString(in.ID) || in.AppID != appID || in.Type != "custom" || in.Name == nil || *in.Name != "Bot" {
		t.Fatalf("created integration = %s", body)
	}
	for _, ts := range []string{in.CreatedAt, in.UpdatedAt} {
		if tm, err := time.Parse(time.RFC3339, ts); err != nil || !strings.HasSuffix(ts, "Z") || tm.Before(start) {
			t.Errorf("timestamp %q, want the current time in RFC 3339 UTC", ts)
		}
	}
	var members map[string]any
	_ = json.Unmarshal(body, &members)
	if len(members) != 6 {
		t.Errorf("integration members = %v, want id, appId, type, name, createdAt, updatedAt", members)
	}
	// type may be given, as the one type there is.
	resp, body = s.call(t, "POST", base, s.admin, `{"name":"Second","type":"custom"}`)
	wantStatus(t, resp, body, http.StatusCreated)
	second := decode[integration](t, body)

	resp, body = s.call(t, "GET", base+"/"+in.ID, s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	if canon(t, string(body)) != canon(t, mustJSON(t, in)) {
		t.Errorf("GET = %s, want what POST returned", body)
	}

	// The Sunshine surface shows the same integration, and one it made
	// (with a webhook, without a name) shows here with a null name and no
	// webhook secret.
	resp, body = s.Do(t, "GET", "/v2/apps/"+appID+"/integrations/"+in.ID, s.Account.Basic(), "")
	wantStatus(t, resp, body, http.StatusOK)
	if !strings.Contains(string(body), `"displayName":"Bot"`) {
		t.Errorf("Sunshine GET = %s", body)
	}
	resp, body = s.Do(t, "POST", "/v2/apps/"+appID+"/integrations", s.Account.Basic(),
		`{"type":"custom","webhooks":[{"target":"https://example.com/cb","triggers":["*"]}]}`)
	wantStatus(t, resp, body, http.StatusCreated)
	sun := decode[struct {
		Integration struct {
			ID       string
			Webhooks []struct{ Secret string }
		}
	}](t, body)
	resp, body = s.call(t, "GET", base+"/"+sun.Integration.ID, s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	if got := decode[integration](t, body); got.Name != nil || strings.Contains(string(body), sun.Integration.Webhooks[0].Secret) {
		t.Errorf("an integration made on the Sunshine surface shows as %s", body)
	}

	// The list: every one, in id order, a page at a time.
	resp, body = s.call(t, "GET", base+"?limit=2", s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	first := decode[page[integration]](t, body)
	if len(first.Data) != 2 || first.NextCursor == nil || first.Data[0].ID > first.Data[1].ID {
		t.Fatalf("first page = %s", body)
	}
	resp, body = s.call(t, "GET", base+"?limit=2&cursor="+*first.NextCursor, s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	rest := decode[page[integration]](t, body)
	if len(rest.Data) != 1 || rest.NextCursor != nil {
		t.Fatalf("second page = %s", body)
	}
	seen := map[string]bool{}
	for _, it := range append(first.Data, rest.Data...) {
		seen[it.ID] = true
	}
	if !seen[in.ID] || !seen[second.ID] || !seen[sun.Integration.ID] {
		t.Errorf("the pages hold %v, want the three integrations", seen)
	}

	// PATCH: the name changes; read-only members sent back are ignored; {}
	// changes nothing.
	resp, body = s.call(t, "PATCH", base+"/"+in.ID, s.admin, `{"name":"Renamed"}`)
	wantStatus(t, resp, body, http.StatusOK)
	if got := decode[integration](t, body); got.Name == nil || *got.Name != "Renamed" || got.CreatedAt != in.CreatedAt {
		t.Errorf("PATCH = %s", body)
	}
	resp, body = s.call(t, "GET", base+"/"+in.ID, s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = s.call(t, "PATCH", base+"/"+in.ID, s.admin, string(body))
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = s.call(t, "PATCH", base+"/"+in.ID, s.admin, `{}`)
	wantStatus(t, resp, body, http.StatusOK)
	if got := decode[integration](t, body); got.Name == nil || *got.Name != "Renamed" {
		t.Errorf("PATCH {} = %s", body)
	}

	// A key made for the integration goes with it.
	k := s.createKey(t, s.admin, `{"name":"int","owner":{"type":"integration","id":"`+in.ID+`","appId":"`+appID+`"}}`)
	resp, body = s.call(t, "DELETE", base+"/"+in.ID, s.admin, "")
	wantStatus(t, resp, body, http.StatusNoContent)
	for _, path := range []string{base + "/" + in.ID, "/v1/keys/" + k.ID} {
		resp, body = s.call(t, "GET", path, s.admin, "")
		wantError(t, resp, body, http.StatusNotFound, "not_found")
	}
	resp, body = s.call(t, "DELETE", base+"/"+in.ID, s.admin, "")
	wantError(t, resp, body, http.StatusNotFound, "not_found")
	wantNoErrorLogged(t, s)
}

// TestIntegrationBadInput: every refusal is 400 with the fields at fault,
// or 404, and changes nothing.
func TestIntegrationBadInput(t *testing.T) {
	s := newStack(t)
	appID := s.createApp(t, "A")
	in := s.createIntegration(t, appID)
	base := "/v1/apps/" + appID + "/integrations"

	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
		fields             []string
	}{
		{"POST", base, `{}`, 400, "invalid_request", []string{"name"}},
		{"POST", base, `{"name":""}`, 400, "invalid_request", []string{"name"}},
		{"POST", base, `{"name":null}`, 400, "invalid_request", []string{"name"}},
		{"POST", base, `{"name":"` + strings.Repeat("é", 101) + `"}`, 400, "invalid_request", []string{"name"}},
		{"POST", base, `{"name":"a\nb"}`, 400, "invalid_request", []string{"name"}},
		{"POST", base, `{"name":"Bot","type":"whatsapp"}`, 400, "invalid_request", []string{"type"}},
		{"POST", base, `{"name":"Bot","type":null}`, 400, "invalid_request", []string{"type"}},
		{"POST", base, `{"name":"Bot","webhooks":[]}`, 400, "invalid_request", []string{"webhooks"}},
		{"POST", base, `{"name":1,"colour":"blue"}`, 400, "invalid_request", []string{"colour", "name"}},
		{"POST", base, `[]`, 400, "invalid_request", nil},
		{"PATCH", base + "/" + in, `{"name":null}`, 400, "invalid_request", []string{"name"}},
		{"PATCH", base + "/" + in, `{"name":" "}`, 400, "invalid_request", []string{"name"}},
		{"PATCH", base + "/" + in, `{"displayName":"x"}`, 400, "invalid_request", []string{"displayName"}},
		{"GET", base + "?limit=0", "", 400, "invalid_request", []string{"limit"}},
		{"GET", base + "?cursor=nope", "", 400, "invalid_request", []string{"cursor"}},
		{"GET", base + "/nope", "", 404, "not_found", nil},
		{"GET", base + "/" + missingApp, "", 404, "not_found", nil},
		{"GET", "/v1/apps/nope/integrations", "", 404, "not_found", nil},
		{"POST", "/v1/apps/" + missingApp + "/integrations", `{"name":"Bot"}`, 404, "not_found", nil},
		{"PATCH", base + "/" + missingApp, `{"name":"Bot"}`, 404, "not_found", nil},
		{"DELETE", base + "/" + missingApp, "", 404, "not_found", nil},
		{"PUT", base + "/" + in, `{"name":"Bot"}`, 405, "method_not_allowed", nil},
	} {
		before := s.Snapshot(t)
		resp, body := s.call(t, c.method, c.path, s.admin, c.body)
		if c.code == "invalid_request" && c.fields == nil {
			wantStatus(t, resp, body, c.status)
		} else {
			wantError(t, resp, body, c.status, c.code, c.fields...)
		}
		wantUnchanged(t, s, before)
	}
	wantNoErrorLogged(t, s)
}

// TestIntegrationReach: an app key sees and manages its own app's
// integrations only; an integration key sees itself and reaches nothing
// above it; a key is granted the routes by their operation ids, scoped by
// app; another account's integrations do not exist.
func TestIntegrationReach(t *testing.T) {
	s := newStack(t)
	a, b := s.createApp(t, "A"), s.createApp(t, "B")
	inA, inB := s.createIntegration(t, a), s.createIntegration(t, b)
	appKey := s.createKey(t, s.admin, `{"name":"A admin","owner":{"type":"app","id":"`+a+`"},"permissions":["*"]}`)
	intKey := s.createKey(t, s.admin, `{"name":"int","owner":{"type":"integration","id":"`+inA+`","appId":"`+a+`"},"permissions":["*"]}`)
	intsOf := func(app string) string { return "/v1/apps/" + app + "/integrations" }

	// The app key: its own app's list, and nothing of B.
	resp, body := s.call(t, "GET", intsOf(a), appKey.Secret, "")
	wantStatus(t, resp, body, http.StatusOK)
	if list := decode[page[integration]](t, body); len(list.Data) != 1 || list.Data[0].ID != inA {
		t.Errorf("the app key lists %s, want its app's one integration", body)
	}
	resp, body = s.call(t, "POST", intsOf(a), appKey.Secret, `{"name":"made by the app key"}`)
	wantStatus(t, resp, body, http.StatusCreated)
	made := decode[integration](t, body)
	resp, body = s.call(t, "PATCH", intsOf(a)+"/"+made.ID, appKey.Secret, `{"name":"renamed by the app key"}`)
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = s.call(t, "DELETE", intsOf(a)+"/"+made.ID, appKey.Secret, "")
	wantStatus(t, resp, body, http.StatusNoContent)

	before := s.Snapshot(t)
	for _, c := range []struct{ method, path, body string }{
		{"GET", intsOf(b), ""},
		{"POST", intsOf(b), `{"name":"x"}`},
		{"GET", intsOf(b) + "/" + inB, ""},
		{"PATCH", intsOf(b) + "/" + inB, `{"name":"x"}`},
		{"DELETE", intsOf(b) + "/" + inB, ""},
	} {
		resp, body := s.call(t, c.method, c.path, appKey.Secret, c.body)
		wantError(t, resp, body, http.StatusForbidden, "forbidden")
	}
	// B's integration named under A is no integration of A's.
	resp, body = s.call(t, "GET", intsOf(a)+"/"+inB, appKey.Secret, "")
	wantError(t, resp, body, http.StatusNotFound, "not_found")

	// The integration key: itself, and nothing else.
	resp, body = s.call(t, "GET", intsOf(a)+"/"+inA, intKey.Secret, "")
	wantStatus(t, resp, body, http.StatusOK)
	for _, c := range []struct{ method, path, body string }{
		{"GET", intsOf(a), ""},
		{"POST", intsOf(a), `{"name":"x"}`},
		{"DELETE", intsOf(a) + "/" + inA, ""},
		{"GET", intsOf(b) + "/" + inB, ""},
		{"GET", "/v1/apps/" + a, ""}, // not its app's record either: GetApp is app-scope
	} {
		resp, body := s.call(t, c.method, c.path, intKey.Secret, c.body)
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
			t.Errorf("the integration key: %s %s = %d %s, want 403 or 404", c.method, c.path, resp.StatusCode, body)
		}
	}
	wantUnchanged(t, s, before)

	// Permissions are the operation ids, and an ACL entry scoped to app A
	// grants them on A's routes only.
	scoped := s.createKey(t, s.admin, `{"name":"scoped","acl":[{"scope":{"organizationId":["`+a+`"]},"permissions":["ListIntegrations","GetIntegration"]}]}`)
	resp, body = s.call(t, "GET", intsOf(a), scoped.Secret, "")
	wantStatus(t, resp, body, http.StatusOK)
	for _, c := range []struct{ method, path, body string }{
		{"GET", intsOf(b), ""},
		{"POST", intsOf(a), `{"name":"x"}`},
		{"PATCH", intsOf(a) + "/" + inA, `{"name":"x"}`},
	} {
		resp, body := s.call(t, c.method, c.path, scoped.Secret, c.body)
		wantError(t, resp, body, http.StatusForbidden, "forbidden")
	}

	// Another account's view: A's integrations do not exist.
	_, otherKey, err := s.Svc.Bootstrap(t.Context(), "Other")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", intsOf(a), ""},
		{"POST", intsOf(a), `{"name":"x"}`},
		{"GET", intsOf(a) + "/" + inA, ""},
		{"PATCH", intsOf(a) + "/" + inA, `{"name":"stolen"}`},
		{"DELETE", intsOf(a) + "/" + inA, ""},
	} {
		resp, body := s.call(t, c.method, c.path, otherKey.Secrets[0].Plain, c.body)
		wantError(t, resp, body, http.StatusNotFound, "not_found")
	}
	// No credential: 401.
	resp, body = s.call(t, "GET", intsOf(a), "", "")
	wantError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	wantNoErrorLogged(t, s)
}

// TestIntegrationAudit: changes made through these routes are in the
// audit log as integration.create, .update and .delete.
func TestIntegrationAudit(t *testing.T) {
	s := newStack(t)
	appID := s.createApp(t, "A")
	base := "/v1/apps/" + appID + "/integrations"
	resp, body := s.call(t, "POST", base, s.admin, `{"name":"Bot"}`)
	wantStatus(t, resp, body, http.StatusCreated)
	id := decode[integration](t, body).ID
	resp, body = s.call(t, "PATCH", base+"/"+id, s.admin, `{"name":"Bot 2"}`)
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = s.call(t, "DELETE", base+"/"+id, s.admin, "")
	wantStatus(t, resp, body, http.StatusNoContent)

	resp, body = s.call(t, "GET", "/v1/audit-events?target="+id, s.admin, "")
	wantStatus(t, resp, body, http.StatusOK)
	var got []string
	for _, ev := range decode[page[struct{ Action, Surface string }]](t, body).Data {
		got = append(got, ev.Action+"@"+ev.Surface)
	}
	if want := regexp.MustCompile(`^integration\.delete@native integration\.update@native integration\.create@native$`); !want.MatchString(strings.Join(got, " ")) {
		t.Errorf("audit events of the integration = %q, want delete, update, create on the native surface", got)
	}
}
