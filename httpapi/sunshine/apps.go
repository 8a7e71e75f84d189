package sunshine

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// maxMetadataBytes is the specification's cap on app metadata: 4096 bytes
// of its compact JSON encoding (see metadataSize).
const maxMetadataBytes = 4096

type appJSON struct {
	ID          string         `json:"id"`
	DisplayName string         `json:"displayName"`
	Settings    settingsJSON   `json:"settings"`
	Metadata    map[string]any `json:"metadata"`
}

// settingsJSON shows every setting, defaults included.
type settingsJSON struct {
	ConversationRetentionSeconds *int `json:"conversationRetentionSeconds,omitempty"`
	MaskCreditCardNumbers        bool `json:"maskCreditCardNumbers"`
	UseAnimalNames               bool `json:"useAnimalNames"`
	EchoPostback                 bool `json:"echoPostback"`
	IgnoreAutoConversationStart  bool `json:"ignoreAutoConversationStart"`
	MultiConvoEnabled            bool `json:"multiConvoEnabled"`
	AppLocalizationEnabled       bool `json:"appLocalizationEnabled"`
	EndSessionEnabled            bool `json:"endSessionEnabled"`
	DisableConversationReopen    bool `json:"disableConversationReopen"`
}

func or(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func renderApp(a *latchkey.App) appJSON {
	st := a.Settings
	return appJSON{
		ID:          a.ID,
		DisplayName: a.DisplayName,
		Metadata:    a.Metadata,
		Settings: settingsJSON{
			ConversationRetentionSeconds: st.ConversationRetentionSeconds,
			MaskCreditCardNumbers:        or(st.MaskCreditCardNumbers, true),
			UseAnimalNames:               or(st.UseAnimalNames, false),
			EchoPostback:                 or(st.EchoPostback, false),
			IgnoreAutoConversationStart:  or(st.IgnoreAutoConversationStart, false),
			MultiConvoEnabled:            or(st.MultiConvoEnabled, false),
			AppLocalizationEnabled:       or(st.AppLocalizationEnabled, false),
			EndSessionEnabled:            or(st.EndSessionEnabled, false),
			DisableConversationReopen:    or(st.DisableConversationReopen, false),
		},
	}
}

// appID returns the {appId} path value, or ENOTFOUND if no app can have it.
func appID(r *http.Request) (string, error) {
	id := r.PathValue("appId")
	if !core.IsObjectID(id) {
		return "", latchkey.NotFound("app")
	}
	return id, nil
}

// createApp handles "POST /v2/apps".
func (s *surface) createApp(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	f, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	if err := f.require("", "displayName"); err != nil {
		return err
	}
	app := &latchkey.App{}
	if err := readApp(f, app); err != nil {
		return err
	}
	if app, err = s.svc.CreateApp(r.Context(), p, app); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, map[string]any{"app": renderApp(app)})
	return nil
}

// readApp applies the members of an app create or update body to app.
func readApp(f fields, app *latchkey.App) error {
	if f.has("displayName") {
		name, err := f.displayName("", "displayName")
		if err != nil {
			return err
		}
		app.DisplayName = name
	}
	if f.has("settings") {
		st, err := f.object("", "settings")
		if err != nil {
			return err
		}
		if err := readSettings(st, &app.Settings); err != nil {
			return err
		}
	}
	if f.has("metadata") {
		md, err := readMetadata(f)
		if err != nil {
			return err
		}
		app.Metadata = md
	}
	return nil
}

// readSettings applies the settings given to dst; unknown ones are ignored,
// as the specification's schema allows.
func readSettings(f fields, dst *latchkey.AppSettings) error {
	for _, setting := range boolSettings(dst) {
		if !f.has(setting.name) {
			continue
		}
		b, err := f.boolean("settings.", setting.name)
		if err != nil {
			return err
		}
		*setting.ptr = &b
	}
	if f.has("conversationRetentionSeconds") {
		var n int
		if err := json.Unmarshal(f["conversationRetentionSeconds"], &n); err != nil || f.isNull("conversationRetentionSeconds") {
			return invalid("settings.conversationRetentionSeconds should be integer")
		}
		if n < 0 {
			return invalid("settings.conversationRetentionSeconds should be >= 0")
		}
		dst.ConversationRetentionSeconds = &n
	}
	return nil
}

// settingNames are the names of the boolean settings, for the route table.
var settingNames = func() []string {
	var names []string
	for _, setting := range boolSettings(&latchkey.AppSettings{}) {
		names = append(names, setting.name)
	}
	return names
}()

// boolSettings pairs each boolean setting's name with its place in dst.
func boolSettings(dst *latchkey.AppSettings) []struct {
	name string
	ptr  **bool
} {
	return []struct {
		name string
		ptr  **bool
	}{
		{"maskCreditCardNumbers", &dst.MaskCreditCardNumbers},
		{"useAnimalNames", &dst.UseAnimalNames},
		{"echoPostback", &dst.EchoPostback},
		{"ignoreAutoConversationStart", &dst.IgnoreAutoConversationStart},
		{"multiConvoEnabled", &dst.MultiConvoEnabled},
		{"appLocalizationEnabled", &dst.AppLocalizationEnabled},
		{"endSessionEnabled", &dst.EndSessionEnabled},
		{"disableConversationReopen", &dst.DisableConversationReopen},
	}
}

// readMetadata reads app metadata: null, or a flat object of strings, numbers
// and booleans of at most maxMetadataBytes.
func readMetadata(f fields) (map[string]any, error) {
	if f.isNull("metadata") {
		return nil, nil
	}
	obj, err := f.object("", "metadata")
	if err != nil {
		return nil, err
	}
	md := make(map[string]any, len(obj))
	for k, raw := range obj {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, invalid("metadata.%s is not valid JSON", k)
		}
		switch v.(type) {
		case string, float64, bool:
			md[k] = v
		default:
			return nil, invalid("metadata.%s should be a string, number or boolean", k)
		}
	}
	if metadataSize(md) > maxMetadataBytes {
		return nil, invalid("App metadata is limited to %d bytes in size.", maxMetadataBytes)
	}
	return md, nil
}

// metadataSize is the size of the metadata itself: the UTF-8 bytes of its
// compact JSON encoding. The request's own bytes would be wrong both ways:
// whitespace and escapes such as \u00e9 inflate them, while a number such as
// 1e20 is kept and returned as 21 digits, and a member sent twice is kept
// once.
func metadataSize(md map[string]any) int {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" is one byte of metadata, not the six of \u003c
	if err := enc.Encode(md); err != nil {
		// Unreachable for strings, float64s and bools; refuse rather than guess.
		return maxMetadataBytes + 1
	}
	return buf.Len() - 1 // Encode ends with a newline
}

// listApps handles "GET /v2/apps".
func (s *surface) listApps(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	lq, err := parsePage(r)
	if err != nil {
		return err
	}
	apps, info, err := s.svc.ListApps(r.Context(), p, lq.page)
	if err != nil {
		return err
	}
	writePage(w, r, s.cfg.BaseURL(r), "apps", apps, renderApp, func(a *latchkey.App) string { return a.ID }, lq, info, nil)
	return nil
}

// getApp handles "GET /v2/apps/{appId}".
func (s *surface) getApp(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := appID(r)
	if err != nil {
		return err
	}
	app, err := s.svc.App(r.Context(), p, id)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"app": renderApp(app)})
	return nil
}

// updateApp handles "PATCH /v2/apps/{appId}": the members given replace the
// app's; settings merge one by one; metadata null removes it.
func (s *surface) updateApp(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := appID(r)
	if err != nil {
		return err
	}
	f, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	// Validate against a scratch app first, so that a bad body changes nothing.
	if err := readApp(f, &latchkey.App{}); err != nil {
		return err
	}
	app, err := s.svc.UpdateApp(r.Context(), p, id, func(app *latchkey.App) {
		_ = readApp(f, app) // already validated above
	})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"app": renderApp(app)})
	return nil
}

// deleteApp handles "DELETE /v2/apps/{appId}".
func (s *surface) deleteApp(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id, err := appID(r)
	if err != nil {
		return err
	}
	if err := s.svc.DeleteApp(r.Context(), p, id); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
