package native

import (
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// maxAppName bounds an app's name: 100 characters, the Sunshine surface's
// bound on displayName, because that surface shows the same app.
const maxAppName = 100

// appJSON is an app as this surface shows it.
type appJSON struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt string         `json:"createdAt"`
	UpdatedAt string         `json:"updatedAt"`
}

func renderApp(a *latchkey.App) appJSON {
	return appJSON{ID: a.ID, Name: a.DisplayName, Metadata: a.Metadata,
		CreatedAt: formatTime(a.CreatedAt), UpdatedAt: formatTime(a.UpdatedAt)}
}

var (
	appMembers         = members(appBody())
	appReadOnlyMembers = []string{"id", "createdAt", "updatedAt"}
)

// appInput is a validated app body; a nil field was not sent.
type appInput struct {
	name        *string
	metadata    map[string]any
	hasMetadata bool
}

// readApp reads an app body, collecting every problem. requireName is set
// for a new app.
func readApp(w http.ResponseWriter, r *http.Request, requireName bool) (*appInput, error) {
	b, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	var (
		in   appInput
		errs fieldErrors
	)
	b.onlyMembers(&errs, appMembers, appReadOnlyMembers)
	if raw, ok := b["name"]; ok {
		if n, ok := readName(raw, "name", maxAppName, &errs); ok {
			in.name = &n
		}
	} else if requireName {
		errs.add("name", "Required.")
	}
	// App metadata is flat, as core keeps it and as the Sunshine surface
	// shows it: strings, numbers and booleans.
	if raw, ok := b["metadata"]; ok {
		in.hasMetadata = true
		if !isNull(raw) {
			in.metadata, _ = metadata(raw, "metadata", true, &errs)
		}
	}
	return &in, errs.err()
}

// apply sets the members sent on app.
func (in *appInput) apply(app *latchkey.App) {
	if in.name != nil {
		app.DisplayName = *in.name
	}
	if in.hasMetadata {
		app.Metadata = in.metadata
	}
}

// pathAppID returns the {appId} path value, or ENOTFOUND if no app can have
// it: app ids are the core's object ids.
func pathAppID(r *http.Request) (string, error) {
	id := r.PathValue("appId")
	if !core.IsObjectID(id) {
		return "", latchkey.NotFound("app")
	}
	return id, nil
}

// createApp handles "POST /v1/apps".
func (s *surface) createApp(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	in, err := readApp(w, r, true)
	if err != nil {
		return err
	}
	app := &latchkey.App{}
	in.apply(app)
	if app, err = s.svc.CreateApp(r.Context(), p, app); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, renderApp(app))
	return nil
}

// listApps handles "GET /v1/apps": the account's apps in id order, a page at
// a time.
func (s *surface) listApps(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var errs fieldErrors
	pq := readPage(r.URL.Query(), &errs, core.IsObjectID)
	if err := errs.err(); err != nil {
		return err
	}
	apps, info, err := s.svc.ListApps(r.Context(), p, latchkey.Page{After: pq.cursor, Size: pq.limit})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, newPage(apps, info.HasMore, func(a *latchkey.App) string { return a.ID }, renderApp))
	return nil
}

// getApp handles "GET /v1/apps/{appId}".
func (s *surface) getApp(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathAppID(r)
	if err != nil {
		return err
	}
	app, err := s.svc.App(r.Context(), p, id)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, renderApp(app))
	return nil
}

// updateApp handles "PATCH /v1/apps/{appId}": members sent replace the
// app's, metadata null removes it, members omitted stay.
func (s *surface) updateApp(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathAppID(r)
	if err != nil {
		return err
	}
	in, err := readApp(w, r, false)
	if err != nil {
		return err
	}
	app, err := s.svc.UpdateApp(r.Context(), p, id, in.apply)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, renderApp(app))
	return nil
}

// deleteApp handles "DELETE /v1/apps/{appId}": the app goes with its
// integrations and their keys (core decides whether the caller may).
func (s *surface) deleteApp(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := pathAppID(r)
	if err != nil {
		return err
	}
	if err := s.svc.DeleteApp(r.Context(), p, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
