package native

import (
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// maxIntegrationName bounds an integration's name: 100 characters, the
// Sunshine surface's bound on displayName, which shows the same
// integration.
const maxIntegrationName = 100

// integrationJSON is an integration as this surface shows it. Name is null
// for an integration made without one (the Sunshine surface's displayName
// is optional). Webhooks are the Sunshine surface's business and are not
// shown here; their secrets never are.
type integrationJSON struct {
	ID        string  `json:"id"`
	AppID     string  `json:"appId"`
	Type      string  `json:"type"`
	Name      *string `json:"name"`
	CreatedAt string  `json:"createdAt"`
	UpdatedAt string  `json:"updatedAt"`
}

func renderIntegration(in *latchkey.Integration) integrationJSON {
	return integrationJSON{ID: in.ID, AppID: in.AppID, Type: in.Type, Name: in.DisplayName,
		CreatedAt: formatTime(in.CreatedAt), UpdatedAt: formatTime(in.UpdatedAt)}
}

// integrationBody is what POST /v1/apps/{appId}/integrations reads: a
// name, and a type that can only be custom (the one type Latchkey manages).
func integrationBody() *web.Field {
	return &web.Field{Type: web.Object, Strict: true, Members: []web.Field{
		{Name: "name", Type: web.String},
		{Name: "type", Type: web.String, Enum: []string{latchkey.IntegrationTypeCustom}},
	}}
}

// integrationUpdateBody is what PATCH reads: the name is all that changes.
func integrationUpdateBody() *web.Field {
	return &web.Field{Type: web.Object, Strict: true, Members: []web.Field{{Name: "name", Type: web.String}}}
}

var (
	integrationMembers       = members(integrationBody())
	integrationUpdateMembers = members(integrationUpdateBody())
	// integrationReadOnlyMembers are ignored, so that an integration read
	// back can be sent back; on PATCH that includes its type, which is
	// fixed.
	integrationReadOnlyMembers = []string{"id", "appId", "createdAt", "updatedAt"}
)

// readIntegrationName reads the body of a create (create set) or of an
// update, collecting every problem: the name, required on create, and on
// create the type. It returns nil for a PATCH that sends no name.
func readIntegrationName(w http.ResponseWriter, r *http.Request, create bool) (*string, error) {
	b, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	var errs fieldErrors
	if create {
		b.onlyMembers(&errs, integrationMembers, integrationReadOnlyMembers)
		if raw, ok := b["type"]; ok {
			if t, ok := str(raw, "type", &errs); ok && t != latchkey.IntegrationTypeCustom {
				errs.add("type", "Must be custom, the one integration type Latchkey manages.")
			}
		}
	} else {
		b.onlyMembers(&errs, integrationUpdateMembers, append([]string{"type"}, integrationReadOnlyMembers...))
	}
	var name *string
	if raw, ok := b["name"]; ok {
		if n, ok := readName(raw, "name", maxIntegrationName, &errs); ok {
			name = &n
		}
	} else if create {
		errs.add("name", "Required.")
	}
	return name, errs.err()
}

// pathIntegration returns the {appId} and {integrationId} path values, or
// ENOTFOUND if no app or integration can have them.
func pathIntegration(r *http.Request) (appID, integrationID string, err error) {
	if appID, err = pathAppID(r); err != nil {
		return "", "", err
	}
	integrationID = r.PathValue("integrationId")
	if !core.IsObjectID(integrationID) {
		return "", "", latchkey.NotFound("integration")
	}
	return appID, integrationID, nil
}

// createIntegration handles "POST /v1/apps/{appId}/integrations": a custom
// integration, without webhooks, that holds keys (account and app keys
// only; the core decides).
func (s *surface) createIntegration(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	appID, err := pathAppID(r)
	if err != nil {
		return err
	}
	name, err := readIntegrationName(w, r, true)
	if err != nil {
		return err
	}
	in, err := s.svc.CreateIntegration(r.Context(), p, appID, &latchkey.Integration{Type: latchkey.IntegrationTypeCustom, DisplayName: name})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, renderIntegration(in))
	return nil
}

// listIntegrations handles "GET /v1/apps/{appId}/integrations": the app's
// integrations in id order, a page at a time. An integration key may not
// list (the core refuses it): it sees only itself.
func (s *surface) listIntegrations(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	appID, err := pathAppID(r)
	if err != nil {
		return err
	}
	var errs fieldErrors
	pq := readPage(r.URL.Query(), &errs, core.IsObjectID)
	if err := errs.err(); err != nil {
		return err
	}
	list, info, err := s.svc.ListIntegrations(r.Context(), p, appID, nil, latchkey.Page{After: pq.cursor, Size: pq.limit})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, newPage(list, info.HasMore, func(in *latchkey.Integration) string { return in.ID }, renderIntegration))
	return nil
}

// getIntegration handles "GET /v1/apps/{appId}/integrations/{integrationId}".
func (s *surface) getIntegration(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	appID, id, err := pathIntegration(r)
	if err != nil {
		return err
	}
	in, err := s.svc.Integration(r.Context(), p, appID, id)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, renderIntegration(in))
	return nil
}

// updateIntegration handles "PATCH /v1/apps/{appId}/integrations/{integrationId}":
// the name, if sent, replaces the integration's; nothing else changes.
func (s *surface) updateIntegration(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	appID, id, err := pathIntegration(r)
	if err != nil {
		return err
	}
	name, err := readIntegrationName(w, r, false)
	if err != nil {
		return err
	}
	if name == nil {
		in, err := s.svc.Integration(r.Context(), p, appID, id)
		if err != nil {
			return err
		}
		name = in.DisplayName
	}
	in, err := s.svc.UpdateIntegration(r.Context(), p, appID, id, name)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, renderIntegration(in))
	return nil
}

// deleteIntegration handles "DELETE /v1/apps/{appId}/integrations/{integrationId}":
// 204; the integration goes with its keys, which stop authenticating at
// once (the core decides whether the caller may).
func (s *surface) deleteIntegration(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	appID, id, err := pathIntegration(r)
	if err != nil {
		return err
	}
	if err := s.svc.DeleteIntegration(r.Context(), p, appID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
