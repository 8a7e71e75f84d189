package sunshine

import (
	"net/http"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// keyJSON is the specification's apiKey and appKey: list and get return the
// secret too, as the specification does.
type keyJSON struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Secret      string `json:"secret"`
}

func renderKey(k *latchkey.Key) keyJSON {
	out := keyJSON{ID: k.ID, DisplayName: k.Name}
	if len(k.Secrets) > 0 {
		// The newest secret is the one a dialect without rolls shows.
		out.Secret = k.Secrets[len(k.Secrets)-1].Plain
	}
	return out
}

// keyOwner reads the owner a key route addresses: the app, or the app's
// integration when the path names one.
func keyOwner(r *http.Request) (latchkey.KeyOwner, error) {
	app, err := appID(r)
	if err != nil {
		return latchkey.KeyOwner{}, err
	}
	owner := latchkey.KeyOwner{AppID: app}
	if r.PathValue("integrationId") != "" {
		if owner.IntegrationID, err = integrationID(r); err != nil {
			return owner, err
		}
	}
	return owner, nil
}

// createKey handles "POST /v2/apps/{appId}/keys" and
// "POST /v2/apps/{appId}/integrations/{integrationId}/keys".
func (s *surface) createKey(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	owner, err := keyOwner(r)
	if err != nil {
		return err
	}
	f, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	if err := f.require("", "displayName"); err != nil {
		return err
	}
	name, err := f.displayName("", "displayName")
	if err != nil {
		return err
	}
	k, err := s.svc.CreateKey(r.Context(), p, core.KeySpec{Owner: owner, Name: name, MaxPerOwner: MaxKeysPerOwner})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, map[string]keyJSON{"key": renderKey(k)})
	return nil
}

// listKeys handles "GET /v2/apps/{appId}/keys" and
// "GET /v2/apps/{appId}/integrations/{integrationId}/keys" (not paginated).
func (s *surface) listKeys(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	owner, err := keyOwner(r)
	if err != nil {
		return err
	}
	keys, err := s.svc.Keys(r.Context(), p, owner)
	if err != nil {
		return err
	}
	out := make([]keyJSON, len(keys))
	for i, k := range keys {
		out[i] = renderKey(k)
	}
	web.WriteJSON(w, http.StatusOK, map[string][]keyJSON{"keys": out})
	return nil
}

// getKey handles "GET /v2/apps/{appId}/keys/{keyId}" and
// "GET /v2/apps/{appId}/integrations/{integrationId}/keys/{keyId}".
func (s *surface) getKey(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	owner, err := keyOwner(r)
	if err != nil {
		return err
	}
	k, err := s.svc.Key(r.Context(), p, owner, r.PathValue("keyId"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]keyJSON{"key": renderKey(k)})
	return nil
}

// deleteKey handles "DELETE /v2/apps/{appId}/keys/{keyId}" and
// "DELETE /v2/apps/{appId}/integrations/{integrationId}/keys/{keyId}".
func (s *surface) deleteKey(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	owner, err := keyOwner(r)
	if err != nil {
		return err
	}
	if err := s.svc.DeleteKey(r.Context(), p, owner, r.PathValue("keyId")); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
