package sdk_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/sdk"
)

func TestIntegrationRoundTrip(t *testing.T) {
	t.Parallel()
	ctx, c := t.Context(), admin()
	app := newApp(t)

	in, err := c.CreateIntegration(ctx, app.ID, sdk.CreateIntegrationRequest{Name: "Bot"})
	if err != nil {
		t.Fatal(err)
	}
	if in.ID == "" || in.AppID != app.ID || in.Type != sdk.IntegrationTypeCustom || in.Name == nil || *in.Name != "Bot" || in.CreatedAt.IsZero() {
		t.Fatalf("created: %+v", in)
	}
	got, err := c.GetIntegration(ctx, app.ID, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("got %+v, want %+v", got, in)
	}
	updated, err := c.UpdateIntegration(ctx, app.ID, in.ID, sdk.UpdateIntegrationRequest{Name: new("Bot 2")})
	if err != nil || updated.Name == nil || *updated.Name != "Bot 2" || !updated.CreatedAt.Equal(in.CreatedAt) {
		t.Fatalf("renamed: %+v, %v", updated, err)
	}
	// Nothing sent, nothing changed.
	if same, err := c.UpdateIntegration(ctx, app.ID, in.ID, sdk.UpdateIntegrationRequest{}); err != nil || *same.Name != "Bot 2" {
		t.Fatalf("an empty update: %+v, %v", same, err)
	}
	if _, err := c.CreateIntegration(ctx, app.ID, sdk.CreateIntegrationRequest{Name: "Bot", Type: "whatsapp"}); !sdk.IsInvalidRequest(err) ||
		!hasFields(apiError(t, err), "type") {
		t.Fatalf("another type: %v, want invalid_request on type", err)
	}

	// Listing walks every page, in id order.
	want := []string{in.ID}
	for _, name := range []string{"Two", "Three"} {
		more, err := c.CreateIntegration(ctx, app.ID, sdk.CreateIntegrationRequest{Name: name, Type: sdk.IntegrationTypeCustom})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, more.ID)
	}
	slices.Sort(want)
	first, err := c.ListIntegrations(ctx, app.ID, sdk.ListIntegrationsOptions{Limit: 2})
	if err != nil || len(first.Data) != 2 || first.NextCursor == "" {
		t.Fatalf("first page: %+v, %v", first, err)
	}
	var seen []string
	for it, err := range c.AllIntegrations(ctx, app.ID, sdk.ListIntegrationsOptions{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, it.ID)
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("AllIntegrations = %v, want %v", seen, want)
	}

	// An integration's key goes with it.
	k := newKey(t, sdk.CreateKeyRequest{Owner: &sdk.Owner{Type: sdk.OwnerIntegration, ID: in.ID, AppID: app.ID}})
	if err := c.DeleteIntegration(ctx, app.ID, in.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetIntegration(ctx, app.ID, in.ID); !sdk.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := c.GetKey(ctx, k.ID); !sdk.IsNotFound(err) {
		t.Fatalf("the integration's key after its delete: %v", err)
	}
	if _, err := c.ListIntegrations(ctx, "000000000000000000000000", sdk.ListIntegrationsOptions{}); !sdk.IsNotFound(err) {
		t.Fatalf("the integrations of no app: %v", err)
	}
}

// TestIntegrationKeyReach: an integration's own key sees it, and cannot
// list its app's integrations.
func TestIntegrationKeyReach(t *testing.T) {
	t.Parallel()
	ctx, c := t.Context(), admin()
	app := newApp(t)
	in, err := c.CreateIntegration(ctx, app.ID, sdk.CreateIntegrationRequest{Name: "Bot"})
	if err != nil {
		t.Fatal(err)
	}
	k := newKey(t, sdk.CreateKeyRequest{Owner: &sdk.Owner{Type: sdk.OwnerIntegration, ID: in.ID, AppID: app.ID}, Permissions: []string{"*"}})
	own := sdk.New(latchkeyURL, k.Secret.Reveal())
	if _, err := own.GetIntegration(ctx, app.ID, in.ID); err != nil {
		t.Fatalf("its own integration: %v", err)
	}
	if _, err := own.ListIntegrations(ctx, app.ID, sdk.ListIntegrationsOptions{}); !sdk.IsForbidden(err) {
		t.Fatalf("its app's list: %v, want forbidden", err)
	}
}

func TestAuditEvents(t *testing.T) {
	t.Parallel()
	ctx, c := t.Context(), admin()
	start := time.Now().Add(-time.Second)
	k := newKey(t, sdk.CreateKeyRequest{})
	if _, err := c.RollKey(ctx, k.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	// A refusal is audited too: the key has no permissions.
	if _, err := sdk.New(latchkeyURL, k.Secret.Reveal()).ListApps(ctx, sdk.ListAppsOptions{}); err == nil {
		t.Fatal("a key without permissions listed apps")
	}

	var actions []string
	for ev, err := range c.AllAuditEvents(ctx, sdk.ListAuditEventsOptions{Target: k.ID, From: start, Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID == "" || ev.Time.Before(start) || ev.Surface != "native" || ev.Target == nil || ev.Target.ID != k.ID {
			t.Errorf("event %+v", ev)
		}
		actions = append(actions, ev.Action+":"+string(ev.Outcome))
	}
	if want := []string{"key.roll:success", "key.create:success"}; !slices.Equal(actions, want) {
		t.Errorf("the key's events, newest first = %q, want %q", actions, want)
	}
	page, err := c.ListAuditEvents(ctx, sdk.ListAuditEventsOptions{Actor: k.ID, Outcome: sdk.OutcomeForbidden, Action: "app.list"})
	if err != nil || len(page.Data) != 1 || page.Data[0].Actor == nil || *page.Data[0].Actor != k.ID {
		t.Fatalf("the refusal: %+v, %v", page, err)
	}
	if _, err := c.ListAuditEvents(ctx, sdk.ListAuditEventsOptions{Outcome: "maybe"}); !sdk.IsInvalidRequest(err) {
		t.Fatalf("an unknown outcome: %v, want invalid_request", err)
	}
	// No event holds a secret.
	b, _ := json.Marshal(page)
	if strings.Contains(string(b), k.Secret.Reveal()) {
		t.Fatal("an audit event holds a secret")
	}
}

// TestRateLimitJSON: a rate limit encodes its period as the API shows it,
// in JSON and in String.
func TestRateLimitJSON(t *testing.T) {
	for _, tc := range []struct {
		period time.Duration
		want   string
	}{{time.Minute, "1m"}, {time.Hour, "1h"}, {90 * time.Second, "1m30s"}, {1500 * time.Millisecond, "1.5s"}, {25 * time.Hour, "25h"}} {
		b, err := json.Marshal(sdk.RateLimit{Limit: 5, Period: tc.period})
		if err != nil || string(b) != `{"limit":5,"period":"`+tc.want+`"}` {
			t.Errorf("%v: %s (%v), want period %q", tc.period, b, err, tc.want)
		}
		if got := (sdk.RateLimit{Limit: 5, Period: tc.period}).String(); got != "5/"+tc.want {
			t.Errorf("%v: String() = %q, want %q", tc.period, got, "5/"+tc.want)
		}
		var back sdk.RateLimit
		if err := json.Unmarshal(b, &back); err != nil || back.Period != tc.period {
			t.Errorf("%s decodes to %v (%v)", b, back.Period, err)
		}
	}
}
