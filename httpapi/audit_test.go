package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
)

// auditLog returns every event the store holds, oldest first.
func auditLog(t *testing.T, s *lktest.Stack) []*latchkey.AuditEvent {
	t.Helper()
	evs, err := s.Store.AuditEvents(t.Context(), latchkey.AuditQuery{All: true, Oldest: true, Limit: latchkey.MaxAuditPage})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// call sends a request and decodes a JSON answer into a map.
func call(t *testing.T, s *lktest.Stack, method, path, authorization, body string, headers ...string) (*http.Response, map[string]any) {
	t.Helper()
	resp, b := s.Do(t, method, path, authorization, body, headers...)
	var out map[string]any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp, out
}

func wantStatus(t *testing.T, what string, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d", what, resp.StatusCode, want)
	}
}

// Every change on every surface is recorded once, with the key that made
// it, what it did to what, the client's address, the request id the client
// was sent back and the outcome; reads are not recorded; no secret appears.
func TestAuditRecordsEveryChange(t *testing.T) {
	s := lktest.NewAudited(t, web.Config{})
	bearer := "Bearer " + s.Account.Secret
	basic := s.Account.Basic()
	secrets := []string{s.Account.Secret}
	type want struct{ action, targetType, targetID, surface, requestID string }
	var wants []want
	expect := func(resp *http.Response, action, targetType, targetID, surface string) {
		wants = append(wants, want{action, targetType, targetID, surface, resp.Header.Get("X-Request-Id")})
	}

	// native
	resp, app := call(t, s, "POST", "/v1/apps", bearer, `{"name":"Shop"}`)
	wantStatus(t, "create app", resp, 201)
	appID := app["id"].(string)
	expect(resp, latchkey.ActionAppCreate, "app", appID, "native")
	resp, key := call(t, s, "POST", "/v1/keys", bearer, `{"name":"Customer","owner":{"type":"app","id":"`+appID+`"},"permissions":["orders.read"]}`)
	wantStatus(t, "create key", resp, 201)
	keyID := key["id"].(string)
	secrets = append(secrets, key["secret"].(string))
	expect(resp, latchkey.ActionKeyCreate, "key", keyID, "native")
	resp, _ = call(t, s, "PATCH", "/v1/keys/"+keyID, bearer, `{"name":"Renamed"}`)
	wantStatus(t, "update key", resp, 200)
	expect(resp, latchkey.ActionKeyUpdate, "key", keyID, "native")
	resp, rolled := call(t, s, "POST", "/v1/keys/"+keyID+"/roll", bearer, `{"gracePeriod":"1h"}`)
	wantStatus(t, "roll key", resp, 200)
	secrets = append(secrets, rolled["secret"].(string))
	expect(resp, latchkey.ActionKeyRoll, "key", keyID, "native")
	resp, _ = call(t, s, "PATCH", "/v1/apps/"+appID, bearer, `{"name":"Shop 2"}`)
	wantStatus(t, "update app", resp, 200)
	expect(resp, latchkey.ActionAppUpdate, "app", appID, "native")
	resp, _ = call(t, s, "DELETE", "/v1/keys/"+keyID, bearer, "")
	wantStatus(t, "delete key", resp, 204)
	expect(resp, latchkey.ActionKeyDelete, "key", keyID, "native")

	// Sunshine
	resp, sapp := call(t, s, "POST", "/v2/apps", basic, `{"displayName":"Support"}`)
	wantStatus(t, "sunshine create app", resp, 201)
	sappID := sapp["app"].(map[string]any)["id"].(string)
	expect(resp, latchkey.ActionAppCreate, "app", sappID, "sunshine")
	resp, in := call(t, s, "POST", "/v2/apps/"+sappID+"/integrations", basic, `{"type":"custom","webhooks":[{"target":"https://example.com/hook","triggers":["conversation:message"]}]}`)
	wantStatus(t, "sunshine create integration", resp, 201)
	inID := in["integration"].(map[string]any)["id"].(string)
	expect(resp, latchkey.ActionIntegrationCreate, "integration", inID, "sunshine")
	resp, ik := call(t, s, "POST", "/v2/apps/"+sappID+"/integrations/"+inID+"/keys", basic, `{"displayName":"Bot"}`)
	wantStatus(t, "sunshine create integration key", resp, 201)
	ikey := ik["key"].(map[string]any)
	secrets = append(secrets, ikey["secret"].(string))
	expect(resp, latchkey.ActionKeyCreate, "key", ikey["id"].(string), "sunshine")
	resp, _ = call(t, s, "DELETE", "/v2/apps/"+sappID+"/integrations/"+inID, basic, "")
	wantStatus(t, "sunshine delete integration", resp, 200)
	expect(resp, latchkey.ActionIntegrationDelete, "integration", inID, "sunshine")
	resp, _ = call(t, s, "DELETE", "/v2/apps/"+sappID, basic, "")
	wantStatus(t, "sunshine delete app", resp, 200)
	expect(resp, latchkey.ActionAppDelete, "app", sappID, "sunshine")

	// Rebilly
	resp, rk := call(t, s, "POST", "/api-keys", "", `{"description":"CI"}`, "REB-APIKEY", s.Account.Secret)
	wantStatus(t, "rebilly create", resp, 201)
	rkID := rk["id"].(string)
	secrets = append(secrets, rk["secretKey"].(string))
	expect(resp, latchkey.ActionKeyCreate, "key", rkID, "rebilly")
	resp, _ = call(t, s, "PUT", "/api-keys/"+rkID, "", `{"description":"CI 2"}`, "REB-APIKEY", s.Account.Secret)
	wantStatus(t, "rebilly put", resp, 200)
	expect(resp, latchkey.ActionKeyUpdate, "key", rkID, "rebilly")
	resp, _ = call(t, s, "DELETE", "/api-keys/"+rkID, "", "", "REB-APIKEY", s.Account.Secret)
	wantStatus(t, "rebilly delete", resp, 204)
	expect(resp, latchkey.ActionKeyDelete, "key", rkID, "rebilly")

	before := len(auditLog(t, s))
	for _, path := range []string{"/v1/apps", "/v1/keys", "/v1/whoami", "/v1/audit-events", "/v2/apps", "/api-keys"} {
		if resp, _ := call(t, s, "GET", path, bearer, ""); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
	events := auditLog(t, s)
	if len(events) != before {
		t.Errorf("reads added %d events, want none", len(events)-before)
	}
	// The bootstrap's own event comes first, from the command line.
	if len(events) == 0 || events[0].Action != latchkey.ActionAccountCreate || events[0].Surface != "cli" {
		t.Fatalf("first event = %+v, want the bootstrap's account.create from the cli", events[0])
	}
	events = events[1:]
	if len(events) != len(wants) {
		t.Fatalf("%d events, want %d (one per change)", len(events), len(wants))
	}
	for i, w := range wants {
		ev := events[i]
		got := want{ev.Action, ev.TargetType, ev.TargetID, ev.Surface, ev.RequestID}
		if got != w || ev.Actor != s.Account.ID || ev.AccountID != s.Account.AccountID ||
			ev.Outcome != latchkey.OutcomeSuccess || ev.ClientIP != "127.0.0.1" || w.requestID == "" {
			t.Errorf("event %d = %+v, want %+v by %s from 127.0.0.1, success", i, ev, w, s.Account.ID)
		}
	}
	all, _ := json.Marshal(auditLog(t, s))
	for _, sec := range secrets {
		if strings.Contains(string(all), sec) {
			t.Errorf("the audit log holds a secret")
		}
	}
}

// Refused management attempts are recorded, 401 with the key id the
// credential named, 403 with the key that was refused.
func TestAuditRecordsRefusals(t *testing.T) {
	s := lktest.NewAudited(t, web.Config{})
	bearer := "Bearer " + s.Account.Secret
	resp, k := call(t, s, "POST", "/v1/keys", bearer, `{"name":"Reader","permissions":["ListKeys"]}`)
	wantStatus(t, "create restricted key", resp, 201)
	readerID, readerSecret := k["id"].(string), k["secret"].(string)
	resp, pk := call(t, s, "POST", "/api-keys", "", `{"description":"web","type":"publishable"}`, "REB-APIKEY", s.Account.Secret)
	wantStatus(t, "create publishable key", resp, 201)
	before := len(auditLog(t, s))

	wrongBasic := "Basic " + basicOf(s.Account.ID, "sk_live_wrong")
	resp, _ = call(t, s, "GET", "/v1/keys", wrongBasic, "")
	wantStatus(t, "wrong secret", resp, 401)
	resp, _ = call(t, s, "DELETE", "/v1/apps/0123456789abcdef01234567", "Bearer "+readerSecret, "")
	wantStatus(t, "restricted key deletes an app", resp, 403)
	resp, _ = call(t, s, "POST", "/v2/apps", "Basic "+basicOf("app_nobody", "x"), `{"displayName":"x"}`)
	wantStatus(t, "sunshine unknown key", resp, 401)
	resp, _ = call(t, s, "GET", "/api-keys", "", "", "REB-APIKEY", pk["secretKey"].(string))
	if resp.StatusCode != 401 && resp.StatusCode != 403 {
		t.Fatalf("publishable key on management: %d", resp.StatusCode)
	}

	got := auditLog(t, s)[before:]
	if len(got) != 4 {
		t.Fatalf("%d events for 4 refusals: %+v", len(got), got)
	}
	checks := []struct {
		actor, account, action, target string
		outcome                        latchkey.AuditOutcome
	}{
		{s.Account.ID, s.Account.AccountID, "key.list", "", latchkey.OutcomeUnauthorized},
		{readerID, s.Account.AccountID, latchkey.ActionAppDelete, "0123456789abcdef01234567", latchkey.OutcomeForbidden},
		{"app_nobody", "", latchkey.ActionAppCreate, "", latchkey.OutcomeUnauthorized},
		{pk["id"].(string), s.Account.AccountID, "key.list", "", ""},
	}
	for i, c := range checks {
		ev := got[i]
		if c.outcome == "" { // a publishable key: 401 or 403, as the surface says
			c.outcome = ev.Outcome
		}
		if ev.Actor != c.actor || ev.AccountID != c.account || ev.Action != c.action || ev.TargetID != c.target || ev.Outcome != c.outcome || ev.RequestID == "" {
			t.Errorf("refusal %d recorded as %+v, want %+v", i, ev, c)
		}
	}
	// The account sees its own refusals through the API, not the one
	// that named no key of it.
	resp, page := call(t, s, "GET", "/v1/audit-events?actor="+s.Account.ID+"&outcome=unauthorized", bearer, "")
	wantStatus(t, "list refusals", resp, 200)
	if n := len(page["data"].([]any)); n != 1 {
		t.Errorf("the account sees %d unauthorized events of its key, want 1", n)
	}
	resp, page = call(t, s, "GET", "/v1/audit-events?actor=app_nobody", bearer, "")
	wantStatus(t, "list refusals", resp, 200)
	if n := len(page["data"].([]any)); n != 0 {
		t.Errorf("the account sees %d events of a key not its own, want 0", n)
	}
}

func basicOf(id, secret string) string {
	return strings.TrimPrefix(lktest.Credentials{ID: id, Secret: secret}.Basic(), "Basic ")
}

// Past the threshold, failed authentications from one address are answered
// 429 with Retry-After in each surface's format, without a write per
// failure, while a valid key from the same address still gets in.
func TestThrottleFailedAuthentications(t *testing.T) {
	limit := 5
	s := lktest.NewAudited(t, web.Config{FailedAuth: web.NewThrottle(latchkey.RateLimit{Limit: limit, Period: time.Minute})})
	bad := "Bearer sk_live_" + strings.Repeat("A", 43) + "AAAAAA"
	for i := range limit {
		if resp, _ := call(t, s, "GET", "/v1/keys", bad, ""); resp.StatusCode != 401 {
			t.Fatalf("failure %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	before := len(auditLog(t, s))
	surfaces := []struct {
		method, path string
		headers      []string
		check        func(body map[string]any) bool
	}{
		{"GET", "/v1/keys", nil, func(b map[string]any) bool { return b["error"].(map[string]any)["code"] == "throttled" }},
		{"GET", "/v2/apps", nil, func(b map[string]any) bool {
			return b["errors"].([]any)[0].(map[string]any)["code"] == "too_many_requests"
		}},
		{"GET", "/api-keys", []string{"REB-APIKEY", "sk_live_wrong"}, func(b map[string]any) bool { return b["status"] == float64(429) }},
	}
	for _, sf := range surfaces {
		for range 10 {
			auth := bad
			if sf.headers != nil {
				auth = ""
			}
			resp, body := call(t, s, sf.method, sf.path, auth, "", sf.headers...)
			if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !sf.check(body) {
				t.Fatalf("%s %s past the threshold: %d Retry-After %q %v", sf.method, sf.path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
		}
	}
	// A gateway's client: throttled too, with the code gateways pass on.
	resp, _ := call(t, s, "GET", "/v1/authorize", bad, "")
	if resp.StatusCode != 429 || resp.Header.Get("X-Latchkey-Code") != "RATE_LIMITED" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("authorize past the threshold: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := call(t, s, "GET", "/v1/authorize?gateway=nginx", bad, ""); resp.StatusCode != 403 {
		t.Errorf("authorize for nginx past the threshold: %d, want 403 (nginx turns it into 429)", resp.StatusCode)
	}
	// A valid key from the same address is not slowed.
	if resp, _ := call(t, s, "GET", "/v1/keys", "Bearer "+s.Account.Secret, ""); resp.StatusCode != 200 {
		t.Errorf("valid key from a throttled address: %d, want 200", resp.StatusCode)
	}
	if n := len(auditLog(t, s)); n != before {
		t.Errorf("throttled failures wrote %d events, want none until the burst is flushed", n-before)
	}
	if err := s.Audit.Flush(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	// One burst of throttled authentications from the address (the 30
	// management calls and the 2 gateway ones), and, as for any failed
	// check on the gateway path, one burst of failed checks.
	got := map[string]*latchkey.AuditEvent{}
	for _, ev := range auditLog(t, s)[before:] {
		got[ev.Action] = ev
	}
	throttled, checks := got[latchkey.ActionAuthFailures], got[latchkey.ActionVerifyFailures]
	if len(got) != 2 || throttled == nil || checks == nil {
		t.Fatalf("after the flush: %v, want an auth.failures and a verify.failures burst", got)
	}
	if throttled.Outcome != latchkey.OutcomeThrottled || throttled.TargetID != "127.0.0.1" || throttled.Detail["count"] != "32" {
		t.Errorf("auth.failures burst = %+v, want 32 throttled from 127.0.0.1", throttled)
	}
	if checks.Outcome != latchkey.OutcomeFailure || checks.Detail["codes"] != "NOT_FOUND=2" {
		t.Errorf("verify.failures burst = %+v, want 2 NOT_FOUND", checks)
	}
}

// Failed checks on the verify path are counted in bursts, one per key or
// address, written when flushed.
func TestVerifyFailuresAreRecordedInBursts(t *testing.T) {
	s := lktest.NewAudited(t, web.Config{})
	bearer := "Bearer " + s.Account.Secret
	resp, k := call(t, s, "POST", "/v1/keys", bearer, `{"name":"Off","enabled":false}`)
	wantStatus(t, "create disabled key", resp, 201)
	disabled := k["secret"].(string)
	before := len(auditLog(t, s))
	for i := range 50 {
		unknown := fmt.Sprintf(`{"key":"nope-%d","ip":"203.0.113.9"}`, i)
		if resp, body := call(t, s, "POST", "/v1/verify", bearer, unknown); resp.StatusCode != 200 || body["code"] != "NOT_FOUND" {
			t.Fatalf("verify unknown: %d %v", resp.StatusCode, body)
		}
	}
	for range 30 {
		if resp, body := call(t, s, "POST", "/v1/verify", bearer, `{"key":"`+disabled+`"}`); resp.StatusCode != 200 || body["code"] != "DISABLED" {
			t.Fatalf("verify disabled: %d %v", resp.StatusCode, body)
		}
	}
	if n := len(auditLog(t, s)) - before; n != 0 {
		t.Fatalf("failed checks wrote %d events before the flush, want 0", n)
	}
	if err := s.Audit.Flush(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	got := map[string]*latchkey.AuditEvent{}
	for _, ev := range auditLog(t, s)[before:] {
		got[ev.TargetType+":"+ev.TargetID] = ev
	}
	addr, key := got["address:203.0.113.9"], got["key:"+k["id"].(string)]
	if len(got) != 2 || addr == nil || key == nil {
		t.Fatalf("bursts = %v, want one for the address and one for the key", got)
	}
	if addr.Detail["count"] != "50" || addr.Detail["codes"] != "NOT_FOUND=50" || addr.AccountID != s.Account.AccountID ||
		key.Detail["count"] != "30" || key.Detail["codes"] != "DISABLED=30" || key.Action != latchkey.ActionVerifyFailures {
		t.Errorf("bursts: address %+v, key %+v", addr, key)
	}
}

// GET /v1/audit-events pages like GET /v1/keys and filters; only account
// keys read it; bad parameters get the surface's 400.
func TestAuditEventsAPI(t *testing.T) {
	s := lktest.NewAudited(t, web.Config{})
	bearer := "Bearer " + s.Account.Secret
	var appIDs []string
	for i := range 5 {
		_, app := call(t, s, "POST", "/v1/apps", bearer, fmt.Sprintf(`{"name":"App %d"}`, i))
		appIDs = append(appIDs, app["id"].(string))
	}
	var seen []string
	cursor := ""
	for range 10 {
		path := "/v1/audit-events?action=app.create&limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		resp, page := call(t, s, "GET", path, bearer, "")
		wantStatus(t, path, resp, 200)
		for _, ev := range page["data"].([]any) {
			seen = append(seen, ev.(map[string]any)["target"].(map[string]any)["id"].(string))
		}
		next, _ := page["nextCursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(seen) != fmt.Sprint([]string{appIDs[4], appIDs[3], appIDs[2], appIDs[1], appIDs[0]}) {
		t.Errorf("app.create events newest first = %v, want %v reversed", seen, appIDs)
	}
	resp, page := call(t, s, "GET", "/v1/audit-events?target="+appIDs[2], bearer, "")
	wantStatus(t, "by target", resp, 200)
	if n := len(page["data"].([]any)); n != 1 {
		t.Errorf("events of one app = %d, want 1", n)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if _, page := call(t, s, "GET", "/v1/audit-events?from="+future, bearer, ""); len(page["data"].([]any)) != 0 {
		t.Errorf("events from an hour ahead: %v", page["data"])
	}
	for _, q := range []string{"limit=0", "cursor=nope", "from=yesterday", "outcome=maybe", "actor=", "to=2026-13-01T00:00:00Z"} {
		if resp, body := call(t, s, "GET", "/v1/audit-events?"+q, bearer, ""); resp.StatusCode != 400 || body["error"] == nil {
			t.Errorf("?%s: %d %v, want 400 with the surface's error", q, resp.StatusCode, body)
		}
	}
	_, appKey := call(t, s, "POST", "/v1/keys", bearer, `{"name":"App key","owner":{"type":"app","id":"`+appIDs[0]+`"}}`)
	if resp, _ := call(t, s, "GET", "/v1/audit-events", "Bearer "+appKey["secret"].(string), ""); resp.StatusCode != 403 {
		t.Errorf("an app key reads the account's log: %d, want 403", resp.StatusCode)
	}
}
