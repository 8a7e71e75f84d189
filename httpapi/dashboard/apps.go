package dashboard

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
)

// appsPageSize is how many apps (or integrations) a page lists.
const appsPageSize = 50

// appsView is the apps page.
type appsView struct {
	Apps      []*latchkey.App
	Next      string
	First     string
	MayCreate bool
	Form      nameForm
}

// nameForm is a form with one field, a name, and what is wrong with it.
type nameForm struct {
	Name, Problem string
}

// State is the field's problem for the "invalid" and "problem" parts, the
// message's element named after the input's id.
func (f nameForm) State(inputID string) fieldState {
	return fieldState{ID: inputID + "-problem", Message: f.Problem}
}

// readName reads the form's name as the APIs bound names: 1 to 255
// characters, no control characters.
func readName(r *http.Request) (string, string) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	switch {
	case name == "":
		return name, "Enter a name."
	case utf8.RuneCountInString(name) > core.MaxNameLen:
		return name, "Use at most 255 characters."
	case core.HasControl(name):
		return name, "Use no control characters."
	}
	return name, ""
}

// listApps lists the account's apps, a page at a time, with a form to
// create one.
func (d *dashboard) listApps(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.renderApps(w, r, s, http.StatusOK, nameForm{})
}

func (d *dashboard) renderApps(w http.ResponseWriter, r *http.Request, s *session, status int, form nameForm) error {
	after := r.URL.Query().Get("after")
	if after != "" && !core.IsObjectID(after) {
		after = ""
	}
	apps, info, err := d.svc.ListApps(r.Context(), s.principal, latchkey.Page{After: after, Size: appsPageSize})
	if err != nil {
		return err
	}
	v := appsView{Apps: apps, MayCreate: d.may(r, s, "CreateApp", ""), Form: form}
	if info.HasMore && len(apps) > 0 {
		v.Next = Base + "/apps?" + url.Values{"after": {apps[len(apps)-1].ID}}.Encode()
	}
	if after != "" {
		v.First = Base + "/apps"
	}
	d.render(w, r, status, "apps", &page{Title: "Apps", Section: "apps", session: s, Data: v})
	return nil
}

// createApp makes an app and opens it.
func (d *dashboard) createApp(w http.ResponseWriter, r *http.Request, s *session) error {
	name, problem := readName(r)
	if problem != "" {
		return d.renderApps(w, r, s, http.StatusBadRequest, nameForm{Name: name, Problem: problem})
	}
	app, err := d.svc.CreateApp(r.Context(), s.principal, &latchkey.App{DisplayName: name})
	if err != nil {
		return err
	}
	done(w, r, Base+"/apps/"+app.ID, "app-created")
	return nil
}

// appView is an app's page: the app, its integrations and its own keys.
type appView struct {
	App          *latchkey.App
	Integrations []*latchkey.Integration
	MoreIntegr   bool
	Keys         keyTable
	Rename       nameForm
	NewIntegr    nameForm
	MayRename    bool
	MayDelete    bool
	MayIntegr    bool
}

func (d *dashboard) showApp(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.renderApp(w, r, s, http.StatusOK, appView{})
}

func (d *dashboard) renderApp(w http.ResponseWriter, r *http.Request, s *session, status int, v appView) error {
	ctx, p, appID := r.Context(), s.principal, r.PathValue("appId")
	app, err := d.svc.App(ctx, p, appID)
	if err != nil {
		return err
	}
	v.App = app
	if v.Rename.Name == "" {
		v.Rename.Name = app.DisplayName
	}
	v.MayRename = d.may(r, s, "UpdateApp", app.ID)
	v.MayDelete = d.may(r, s, "DeleteApp", app.ID)
	v.MayIntegr = d.may(r, s, "CreateIntegration", app.ID)
	if d.may(r, s, "ListIntegrations", app.ID) {
		ins, info, err := d.svc.ListIntegrations(ctx, p, app.ID, nil, latchkey.Page{Size: appsPageSize})
		if err != nil {
			return err
		}
		v.Integrations, v.MoreIntegr = ins, info.HasMore
	}
	if d.may(r, s, "ListKeys", "") {
		owner := latchkey.KeyOwner{AppID: app.ID}
		if v.Keys, err = d.keyTable(r, s, latchkey.KeyQuery{Owner: owner}, ownerParam(owner)); err != nil {
			return err
		}
	}
	d.render(w, r, status, "app", &page{Title: app.DisplayName, Section: "apps", session: s, Data: v})
	return nil
}

// renameApp renames an app.
func (d *dashboard) renameApp(w http.ResponseWriter, r *http.Request, s *session) error {
	name, problem := readName(r)
	if problem != "" {
		return d.renderApp(w, r, s, http.StatusBadRequest, appView{Rename: nameForm{Name: name, Problem: problem}})
	}
	app, err := d.svc.UpdateApp(r.Context(), s.principal, r.PathValue("appId"), func(a *latchkey.App) { a.DisplayName = name })
	if err != nil {
		return err
	}
	done(w, r, Base+"/apps/"+app.ID, "app-renamed")
	return nil
}

// cascadeView is the confirmation of a delete that takes other records
// with it: what it deletes, named, as far as the key may list them
// (ShowIntegrations, ShowKeys); otherwise the page says only that they go.
type cascadeView struct {
	Kind, Name, ID, Action, Cancel string
	ShowIntegrations, ShowKeys     bool
	Integrations                   []*latchkey.Integration
	MoreIntegrations               bool
	Keys                           []*latchkey.Key
	KeyTotal                       int
}

// cascadeKeysShown is how many of the keys a delete takes are named; the
// rest are counted.
const cascadeKeysShown = 20

// cascadeKeys fills in the keys a delete of owner takes (within it), if
// the key may list keys.
func (d *dashboard) cascadeKeys(r *http.Request, s *session, owner latchkey.KeyOwner, v *cascadeView) error {
	if v.ShowKeys = d.may(r, s, "ListKeys", ""); !v.ShowKeys {
		return nil
	}
	var err error
	v.Keys, v.KeyTotal, err = d.svc.QueryKeys(r.Context(), s.principal, latchkey.KeyQuery{Owner: owner, Within: true, Limit: cascadeKeysShown})
	return err
}

func (d *dashboard) confirmDeleteApp(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, p, appID := r.Context(), s.principal, r.PathValue("appId")
	app, err := d.svc.App(ctx, p, appID)
	if err != nil {
		return err
	}
	v := cascadeView{Kind: "app", Name: app.DisplayName, ID: app.ID, Action: Base + "/apps/" + app.ID + "/delete", Cancel: Base + "/apps/" + app.ID}
	if !d.may(r, s, "GetApp", app.ID) {
		v.Name = app.ID
	}
	if v.ShowIntegrations = d.may(r, s, "ListIntegrations", app.ID); v.ShowIntegrations {
		var info latchkey.PageInfo
		if v.Integrations, info, err = d.svc.ListIntegrations(ctx, p, app.ID, nil, latchkey.Page{Size: appsPageSize}); err != nil {
			return err
		}
		v.MoreIntegrations = info.HasMore
	}
	if err := d.cascadeKeys(r, s, latchkey.KeyOwner{AppID: app.ID}, &v); err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "confirm-delete", &page{Title: "Delete " + v.Name, Section: "apps", session: s, Data: v})
	return nil
}

func (d *dashboard) deleteApp(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.svc.DeleteApp(r.Context(), s.principal, r.PathValue("appId")); err != nil {
		return err
	}
	done(w, r, Base+"/apps", "app-deleted")
	return nil
}

// createIntegration makes a custom integration in an app (the kind that
// holds keys) and opens it.
func (d *dashboard) createIntegration(w http.ResponseWriter, r *http.Request, s *session) error {
	name, problem := readName(r)
	if problem != "" {
		return d.renderApp(w, r, s, http.StatusBadRequest, appView{NewIntegr: nameForm{Name: name, Problem: problem}})
	}
	in, err := d.svc.CreateIntegration(r.Context(), s.principal, r.PathValue("appId"),
		&latchkey.Integration{Type: latchkey.IntegrationTypeCustom, DisplayName: &name})
	if err != nil {
		return err
	}
	done(w, r, Base+"/apps/"+in.AppID+"/integrations/"+in.ID, "integration-created")
	return nil
}

// integrationView is an integration's page: it and its keys.
type integrationView struct {
	App         *latchkey.App
	Integration *latchkey.Integration
	Name        string
	Keys        keyTable
	Rename      nameForm
	MayRename   bool
	MayDelete   bool
}

func integrationName(in *latchkey.Integration) string {
	if in.DisplayName != nil && *in.DisplayName != "" {
		return *in.DisplayName
	}
	return in.Type + " integration " + in.ID
}

func (d *dashboard) showIntegration(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.renderIntegration(w, r, s, http.StatusOK, nameForm{})
}

func (d *dashboard) renderIntegration(w http.ResponseWriter, r *http.Request, s *session, status int, rename nameForm) error {
	ctx, p := r.Context(), s.principal
	app, err := d.svc.App(ctx, p, r.PathValue("appId"))
	if err != nil {
		return err
	}
	in, err := d.svc.Integration(ctx, p, app.ID, r.PathValue("integrationId"))
	if err != nil {
		return err
	}
	v := integrationView{App: app, Integration: in, Name: integrationName(in), Rename: rename,
		MayRename: d.may(r, s, "UpdateIntegration", app.ID), MayDelete: d.may(r, s, "DeleteIntegration", app.ID)}
	if v.Rename.Name == "" && in.DisplayName != nil {
		v.Rename.Name = *in.DisplayName
	}
	if d.may(r, s, "ListKeys", "") && in.Type == latchkey.IntegrationTypeCustom {
		owner := latchkey.KeyOwner{AppID: app.ID, IntegrationID: in.ID}
		if v.Keys, err = d.keyTable(r, s, latchkey.KeyQuery{Owner: owner}, ownerParam(owner)); err != nil {
			return err
		}
	}
	d.render(w, r, status, "integration", &page{Title: v.Name, Section: "apps", session: s, Data: v})
	return nil
}

func (d *dashboard) renameIntegration(w http.ResponseWriter, r *http.Request, s *session) error {
	name, problem := readName(r)
	if problem != "" {
		return d.renderIntegration(w, r, s, http.StatusBadRequest, nameForm{Name: name, Problem: problem})
	}
	in, err := d.svc.UpdateIntegration(r.Context(), s.principal, r.PathValue("appId"), r.PathValue("integrationId"), &name)
	if err != nil {
		return err
	}
	done(w, r, Base+"/apps/"+in.AppID+"/integrations/"+in.ID, "integration-renamed")
	return nil
}

func (d *dashboard) confirmDeleteIntegration(w http.ResponseWriter, r *http.Request, s *session) error {
	appID := r.PathValue("appId")
	in, err := d.svc.Integration(r.Context(), s.principal, appID, r.PathValue("integrationId"))
	if err != nil {
		return err
	}
	base := Base + "/apps/" + appID + "/integrations/" + in.ID
	v := cascadeView{Kind: "integration", Name: integrationName(in), ID: in.ID, Action: base + "/delete", Cancel: base}
	if !d.may(r, s, "GetIntegration", appID) {
		v.Name = in.ID
	}
	if err := d.cascadeKeys(r, s, latchkey.KeyOwner{AppID: appID, IntegrationID: in.ID}, &v); err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "confirm-delete", &page{Title: "Delete " + v.Name, Section: "apps", session: s, Data: v})
	return nil
}

func (d *dashboard) deleteIntegration(w http.ResponseWriter, r *http.Request, s *session) error {
	appID := r.PathValue("appId")
	if err := d.svc.DeleteIntegration(r.Context(), s.principal, appID, r.PathValue("integrationId")); err != nil {
		return err
	}
	done(w, r, Base+"/apps/"+appID, "integration-deleted")
	return nil
}
