package sunshine

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// Bounds on the lists an integration request carries. Above one, the
// request gets 400 and changes nothing.
const (
	// maxWebhooks is the specification's: a custom integration made here
	// has exactly one webhook.
	maxWebhooks = 1
	// maxTriggers caps a webhook's triggers. The specification names about
	// twenty, and "*" stands for all of them, so a longer list is never
	// needed.
	maxTriggers = 50
	// maxTriggerLen caps one trigger's length, in bytes.
	maxTriggerLen = 100
	// maxTargetLen caps a webhook target URL, in characters.
	maxTargetLen = 2048
	// maxFilterTypes caps filter[types] on the integrations list: each type
	// is a value the database binds. It is well above the number of
	// integration types the specification names (about twenty).
	maxFilterTypes = 50
)

// A filter within maxFilterTypes always fits under the store's own cap, so a
// client meets this surface's 400 first. (A negative constant does not
// convert to uint: this line stops the build if the caps ever disagree.)
const _ = uint(latchkey.MaxFilterValues - maxFilterTypes)

type integrationJSON struct {
	ID          string        `json:"id"`
	Type        string        `json:"type"`
	Status      string        `json:"status"`
	DisplayName *string       `json:"displayName,omitempty"`
	Webhooks    []webhookJSON `json:"webhooks"`
}

type webhookJSON struct {
	ID                string   `json:"id"`
	Version           string   `json:"version"`
	Target            string   `json:"target"`
	Triggers          []string `json:"triggers"`
	Secret            string   `json:"secret"`
	IncludeFullUser   bool     `json:"includeFullUser"`
	IncludeFullSource bool     `json:"includeFullSource"`
}

func renderIntegration(in *latchkey.Integration) integrationJSON {
	out := integrationJSON{ID: in.ID, Type: in.Type, Status: in.Status, DisplayName: in.DisplayName,
		Webhooks: make([]webhookJSON, len(in.Webhooks))}
	for i, w := range in.Webhooks {
		out.Webhooks[i] = webhookJSON{ID: w.ID, Version: w.Version, Target: w.Target, Triggers: w.Triggers,
			Secret: w.Secret, IncludeFullUser: w.IncludeFullUser, IncludeFullSource: w.IncludeFullSource}
	}
	return out
}

// integrationID returns the {integrationId} path value, or ENOTFOUND if no
// integration can have it.
func integrationID(r *http.Request) (string, error) {
	id := r.PathValue("integrationId")
	if !core.IsObjectID(id) {
		return "", latchkey.NotFound("integration")
	}
	return id, nil
}

// createIntegration handles "POST /v2/apps/{appId}/integrations". Only
// custom integrations, with exactly one webhook, can be made here.
func (s *surface) createIntegration(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	app, err := appID(r)
	if err != nil {
		return err
	}
	f, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	in, err := readIntegration(f)
	if err != nil {
		return err
	}
	if in, err = s.svc.CreateIntegration(r.Context(), p, app, in); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, map[string]any{"integration": renderIntegration(in)})
	return nil
}

func readIntegration(f fields) (*latchkey.Integration, error) {
	if err := f.require("", "type"); err != nil {
		return nil, err
	}
	typ, err := f.str("", "type")
	if err != nil {
		return nil, err
	}
	if typ != latchkey.IntegrationTypeCustom {
		return nil, invalid("Invalid integration type")
	}
	in := &latchkey.Integration{Type: typ}
	if f.has("displayName") && !f.isNull("displayName") {
		name, err := f.displayName("", "displayName")
		if err != nil {
			return nil, err
		}
		in.DisplayName = &name
	}
	if err := f.require("", "webhooks"); err != nil {
		return nil, err
	}
	hooks, err := f.array("", "webhooks")
	if err != nil {
		return nil, err
	}
	switch {
	case len(hooks) < 1:
		return nil, invalid("webhooks should NOT have fewer than 1 items")
	case len(hooks) > maxWebhooks:
		return nil, invalid("webhooks should NOT have more than %d items", maxWebhooks)
	}
	hook, err := readWebhook(fields{"webhooks.0": hooks[0]})
	if err != nil {
		return nil, err
	}
	in.Webhooks = []latchkey.Webhook{hook}
	return in, nil
}

// readWebhook reads the webhook held under the single member of f, whose name
// is the webhook's path in the body. Read-only members (id, version, secret)
// are ignored.
func readWebhook(holder fields) (latchkey.Webhook, error) {
	var w latchkey.Webhook
	const path = "webhooks.0."
	f, err := holder.object("", "webhooks.0")
	if err != nil {
		return w, err
	}
	if err := f.require(path, "target"); err != nil {
		return w, err
	}
	if w.Target, err = f.str(path, "target"); err != nil {
		return w, err
	}
	if u, err := url.Parse(w.Target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		utf8.RuneCountInString(w.Target) > maxTargetLen {
		return w, invalid("%starget should be an absolute http or https URL", path)
	}
	if err := f.require(path, "triggers"); err != nil {
		return w, err
	}
	triggers, err := f.array(path, "triggers")
	if err != nil {
		return w, err
	}
	switch {
	case len(triggers) == 0:
		return w, invalid("%striggers should NOT have fewer than 1 items", path)
	case len(triggers) > maxTriggers:
		return w, invalid("%striggers should NOT have more than %d items", path, maxTriggers)
	}
	for i, raw := range triggers {
		var t string
		if err := json.Unmarshal(raw, &t); err != nil || t == "" || len(t) > maxTriggerLen {
			return w, invalid("%striggers.%d should be a non-empty string", path, i)
		}
		w.Triggers = append(w.Triggers, t)
	}
	if f.has("includeFullUser") {
		if w.IncludeFullUser, err = f.boolean(path, "includeFullUser"); err != nil {
			return w, err
		}
	}
	if f.has("includeFullSource") {
		if w.IncludeFullSource, err = f.boolean(path, "includeFullSource"); err != nil {
			return w, err
		}
	}
	return w, nil
}

// listIntegrations handles "GET /v2/apps/{appId}/integrations".
func (s *surface) listIntegrations(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	app, err := appID(r)
	if err != nil {
		return err
	}
	lq, err := parsePage(r)
	if err != nil {
		return err
	}
	var types []string
	extra := url.Values{}
	if q := r.URL.Query(); q.Has("filter[types]") {
		raw := q.Get("filter[types]")
		// Counted before splitting, so that no list is built past the cap.
		if strings.Count(raw, ",")+1 > maxFilterTypes {
			return invalid("filter[types] should NOT have more than %d items", maxFilterTypes)
		}
		extra.Set("filter[types]", raw)
		for _, t := range strings.Split(raw, ",") {
			if t = strings.TrimSpace(t); t != "" {
				types = append(types, t)
			}
		}
		if len(types) == 0 {
			return invalid("Invalid query parameters")
		}
	}
	list, info, err := s.svc.ListIntegrations(r.Context(), p, app, types, lq.page)
	if err != nil {
		return err
	}
	writePage(w, r, s.cfg.BaseURL(r), "integrations", list, renderIntegration, func(in *latchkey.Integration) string { return in.ID }, lq, info, extra)
	return nil
}

// getIntegration handles "GET /v2/apps/{appId}/integrations/{integrationId}".
func (s *surface) getIntegration(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	app, id, err := appAndIntegrationID(r)
	if err != nil {
		return err
	}
	in, err := s.svc.Integration(r.Context(), p, app, id)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"integration": renderIntegration(in)})
	return nil
}

// updateIntegration handles "PATCH /v2/apps/{appId}/integrations/{integrationId}":
// a custom integration's only updatable member is displayName (null unsets it).
func (s *surface) updateIntegration(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	app, id, err := appAndIntegrationID(r)
	if err != nil {
		return err
	}
	f, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	in, err := s.svc.Integration(r.Context(), p, app, id)
	if err != nil {
		return err
	}
	name := in.DisplayName
	if f.has("displayName") {
		name = nil
		if !f.isNull("displayName") {
			n, err := f.displayName("", "displayName")
			if err != nil {
				return err
			}
			name = &n
		}
	}
	if in, err = s.svc.UpdateIntegration(r.Context(), p, app, id, name); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"integration": renderIntegration(in)})
	return nil
}

// deleteIntegration handles "DELETE /v2/apps/{appId}/integrations/{integrationId}".
func (s *surface) deleteIntegration(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	app, id, err := appAndIntegrationID(r)
	if err != nil {
		return err
	}
	if err := s.svc.DeleteIntegration(r.Context(), p, app, id); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func appAndIntegrationID(r *http.Request) (string, string, error) {
	app, err := appID(r)
	if err != nil {
		return "", "", err
	}
	id, err := integrationID(r)
	return app, id, err
}
