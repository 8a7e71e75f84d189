package native

import (
	"net/http"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// maxKeyIDLen bounds the key ids this surface looks up: every surface's ids
// are far shorter, so a longer one names no key.
const maxKeyIDLen = 100

func validKeyID(id string) bool { return id != "" && len(id) <= maxKeyIDLen }

// newKeyID is a native key's id: "key_" and a ULID, so that ids, and so
// cursor pages, follow creation order.
func newKeyID() string { return "key_" + core.NewULID() }

// pathKey returns the key named by the {id} path value, as the principal
// may see it; ENOTFOUND if it cannot.
func (s *surface) pathKey(r *http.Request, p *latchkey.Principal) (*latchkey.Key, error) {
	id := r.PathValue("id")
	if !validKeyID(id) {
		return nil, latchkey.NotFound("key")
	}
	return s.svc.KeyByID(r.Context(), p, id)
}

// createKey handles "POST /v1/keys": 201 with the key and, this once, its
// secret.
func (s *surface) createKey(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	spec, err := ReadNewKey(b, s.cfg, p)
	if err != nil {
		return err
	}
	k, err := s.svc.CreateKey(r.Context(), p, spec)
	if err != nil {
		return err
	}
	w.Header().Set("Location", s.cfg.BaseURL(r)+"/v1/keys/"+k.ID)
	web.WriteJSON(w, http.StatusCreated, renderKeyWithSecret(k))
	return nil
}

// listKeys handles "GET /v1/keys": with ownerType and ownerId (and
// ownerAppId for an integration), the keys of exactly that owner; without,
// every key within the caller's own owner. In id order, a page at a time.
func (s *surface) listKeys(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	q := r.URL.Query()
	var errs fieldErrors
	pq := readPage(q, &errs, validKeyID)
	query := latchkey.KeyQuery{Owner: principalOwner(p), Within: true, After: pq.cursor, Limit: pq.limit + 1}
	var ref *ownerJSON
	switch {
	case q.Has("ownerType") && q.Has("ownerId"):
		o := ownerJSON{Type: q.Get("ownerType"), ID: q.Get("ownerId"), AppID: q.Get("ownerAppId")}
		switch {
		case o.Type != ownerAccount && o.Type != ownerApp && o.Type != ownerIntegration:
			errs.add("ownerType", "Must be account, app or integration.")
		case o.Type == ownerIntegration && o.AppID == "":
			errs.add("ownerAppId", "Required with ownerType integration: the integration's app.")
		case o.Type != ownerIntegration && q.Has("ownerAppId"):
			errs.add("ownerAppId", "Only an integration owner names its app.")
		}
		if o.ID == "" {
			errs.add("ownerId", "Must not be empty.")
		}
		ref = &o
	case q.Has("ownerType"):
		errs.add("ownerId", "Required with ownerType.")
	case q.Has("ownerId"):
		errs.add("ownerType", "Required with ownerId.")
	}
	if err := errs.err(); err != nil {
		return err
	}
	if ref != nil {
		owner, err := ref.keyOwner(p)
		if err != nil {
			return err
		}
		query.Owner, query.Within = owner, false
	}
	keys, _, err := s.svc.QueryKeys(r.Context(), p, query)
	if err != nil {
		return err
	}
	more := len(keys) > pq.limit
	if more {
		keys = keys[:pq.limit]
	}
	web.WriteJSON(w, http.StatusOK, newPage(keys, more, func(k *latchkey.Key) string { return k.ID }, renderKey))
	return nil
}

// getKey handles "GET /v1/keys/{id}". The secret is never shown again.
func (s *surface) getKey(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	k, err := s.pathKey(r, p)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, renderKey(k))
	return nil
}

// updateKey handles "PATCH /v1/keys/{id}": members sent replace the key's
// (null clears allowedIps, expiresAt, rateLimit and metadata), members
// omitted stay; type, prefix and owner may be sent only unchanged.
func (s *surface) updateKey(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	id := r.PathValue("id")
	if !validKeyID(id) {
		return latchkey.NotFound("key")
	}
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	k, err := s.svc.KeyByID(r.Context(), p, id)
	if err != nil {
		return err
	}
	name, policy, err := ReadKeyChange(b, s.cfg, p, k)
	if err != nil {
		return err
	}
	if k, err = s.svc.UpdateKey(r.Context(), p, core.OwnerOf(k), k.ID, name, policy); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, renderKey(k))
	return nil
}

// deleteKey handles "DELETE /v1/keys/{id}": 204; the key stops
// authenticating at once.
func (s *surface) deleteKey(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	k, err := s.pathKey(r, p)
	if err != nil {
		return err
	}
	if err := s.svc.DeleteKey(r.Context(), p, core.OwnerOf(k), k.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rollKey handles "POST /v1/keys/{id}/roll" with an optional body
// {"gracePeriod": "24h"}: the key gets a new secret, shown this once; the
// old ones keep working for the grace period (0, the default: they stop at
// once). The core bounds the grace period.
func (s *surface) rollKey(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	var grace time.Duration
	if r.ContentLength != 0 {
		b, err := readBody(w, r)
		if err != nil {
			return err
		}
		var errs fieldErrors
		b.onlyMembers(&errs, members(rollBody()), nil)
		if raw, ok := b["gracePeriod"]; ok {
			if g, ok := str(raw, "gracePeriod", &errs); ok {
				if grace, err = time.ParseDuration(g); err != nil {
					errs.add("gracePeriod", `Must be a duration such as "0", "1h" or "24h".`)
				}
			}
		}
		if err := errs.err(); err != nil {
			return err
		}
	}
	k, err := s.pathKey(r, p)
	if err != nil {
		return err
	}
	if k, err = s.svc.RollKey(r.Context(), p, core.OwnerOf(k), k.ID, grace); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, renderKeyWithSecret(k))
	return nil
}

// whoami handles "GET /v1/whoami": the calling key, without its secret. Any
// valid secret key may call it, whatever its permissions.
func (s *surface) whoami(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	k, err := s.svc.KeyByID(r.Context(), p, p.KeyID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, renderKey(k))
	return nil
}
