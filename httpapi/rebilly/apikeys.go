package rebilly

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// Listing bounds, from the specification (limit and offset 0..1000), and the
// default limit, which the specification leaves open.
const (
	maxLimit     = 1000
	maxOffset    = 1000
	defaultLimit = 100
)

// resourceID is the specification's pattern for ids in paths; at most 50
// characters.
var resourceID = regexp.MustCompile(`^[@~\-\.\w]+$`)

// validResourceID reports whether id may name a key. "." and "..", which
// the pattern allows, are refused: they are dot segments, which clients and
// proxies remove from a URL (RFC 3986, 5.2.4), so a key with such an id
// could not be reached at its own Location.
func validResourceID(id string) bool {
	return len(id) <= 50 && resourceID.MatchString(id) && id != "." && id != ".."
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

type surface struct {
	logger   *slog.Logger
	cfg      web.Config
	svc      *core.Service
	verifier *auth.Verifier
}

// handlerFunc is a route's handler once the request is authenticated and
// admitted; owner is the account (root routes) or the organization's app.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, owner latchkey.KeyOwner) error

// operation authenticates a request (REB-APIKEY, a Bearer JWT or secret, or a
// publishable key in Authorization), applies the key's policy to the
// operation and organization, reads the query strictly against the
// parameters the route declares (web.ParseQuery), then runs h with the query
// as read.
func (s *surface) operation(rt route) http.Handler {
	operationID, h := rt.OperationID, rt.handle
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org := r.PathValue("organizationId")
		p, err := web.Gate(r, s.cfg, s.verifier, operationID, org)
		if err == nil && org != "" && !core.IsObjectID(org) {
			err = latchkey.NotFound("app")
		}
		if err == nil {
			query, qerr := web.ParseQuery(r.URL.RawQuery, rt.Query)
			if qerr != nil {
				err = qerr
			} else {
				err = h(w, web.WithQuery(r, query), p, latchkey.KeyOwner{AppID: org})
			}
		}
		if err != nil {
			writeError(s.logger, w, r, err)
		}
	})
}

// apiKeyJSON is the specification's ApiKey.
type apiKeyJSON struct {
	ID          string              `json:"id"`
	Description string              `json:"description"`
	Type        latchkey.KeyType    `json:"type"`
	ACL         []latchkey.ACLEntry `json:"acl"`
	AllowedIPs  []string            `json:"allowedIps"`
	APIUser     string              `json:"apiUser"`
	// SecretKey is omitted for a key whose rights exceed the caller's.
	SecretKey   string `json:"secretKey,omitempty"`
	CreatedTime string `json:"createdTime"`
	UpdatedTime string `json:"updatedTime"`
	Links       []link `json:"_links"`
}

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// unrestricted is how a key without an ACL is shown: every permission with
// an empty scope, which is what the specification says grants everything.
var unrestricted = []latchkey.ACLEntry{{Scope: latchkey.ACLScope{}, Permissions: []string{latchkey.PermissionAll}}}

func (s *surface) render(r *http.Request, k *latchkey.Key) apiKeyJSON {
	out := apiKeyJSON{
		ID: k.ID, Description: k.Name, Type: k.Policy.Type, ACL: k.Policy.ACL, APIUser: k.AccountID,
		CreatedTime: k.CreatedAt.UTC().Format(time.RFC3339),
		UpdatedTime: k.UpdatedAt.UTC().Format(time.RFC3339),
		Links:       []link{{Href: s.selfURL(r, k.ID), Rel: "self"}},
	}
	if out.ACL == nil {
		out.ACL = unrestricted
	}
	if k.Policy.AllowedIPs != nil {
		out.AllowedIPs = make([]string, len(k.Policy.AllowedIPs))
		for i, p := range k.Policy.AllowedIPs {
			out.AllowedIPs[i] = formatPrefix(p)
		}
	}
	if n := len(k.Secrets); n > 0 {
		out.SecretKey = k.Secrets[n-1].Plain
	}
	return out
}

// formatPrefix shows a single address without its /32 or /128.
func formatPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// selfURL is the key's URL under the prefix the request used.
func (s *surface) selfURL(r *http.Request, id string) string {
	base := s.cfg.BaseURL(r)
	if org := r.PathValue("organizationId"); org != "" {
		base += "/organizations/" + org
	}
	return base + "/api-keys/" + id
}

// list handles "GET /api-keys": a bare JSON array, with the totals in
// Pagination-* headers.
func (s *surface) list(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, owner latchkey.KeyOwner) error {
	q, err := parseListQuery(r)
	if err != nil {
		return err
	}
	q.Owner = owner
	keys, total, err := s.svc.QueryKeys(r.Context(), p, q)
	if err != nil {
		return err
	}
	out := make([]apiKeyJSON, len(keys))
	for i, k := range keys {
		out[i] = s.render(r, k)
	}
	h := w.Header()
	h.Set("Pagination-Total", strconv.Itoa(total))
	h.Set("Pagination-Limit", strconv.Itoa(q.Limit))
	h.Set("Pagination-Offset", strconv.Itoa(q.Offset))
	web.WriteJSON(w, http.StatusOK, out)
	return nil
}

// create handles "POST /api-keys" (and "/api-keys/"): a new key with a
// generated id.
func (s *surface) create(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, owner latchkey.KeyOwner) error {
	in, err := readAPIKey(w, r, s.cfg)
	if err != nil {
		return err
	}
	return s.createWithID(w, r, p, owner, "api_key_"+core.NewULID(), in)
}

func (s *surface) createWithID(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, owner latchkey.KeyOwner, id string, in *apiKeyInput) error {
	k, err := s.svc.CreateKey(r.Context(), p, core.KeySpec{Owner: owner, ID: id, Name: in.description, Policy: in.newPolicy()})
	if err != nil {
		return err
	}
	out := s.render(r, k)
	w.Header().Set("Location", out.Links[0].Href)
	web.WriteJSON(w, http.StatusCreated, out)
	return nil
}

// get handles "GET /api-keys/{id}".
func (s *surface) get(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, owner latchkey.KeyOwner) error {
	k, err := s.svc.Key(r.Context(), p, owner, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, s.render(r, k))
	return nil
}

// put handles "PUT /api-keys/{id}", an upsert: it creates the key with this
// id (201) or updates it (200). On update, description is replaced; acl and
// allowedIps are replaced when present (null clears them) and kept when
// omitted; type cannot change.
func (s *surface) put(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, owner latchkey.KeyOwner) error {
	id := r.PathValue("id")
	if !validResourceID(id) {
		return latchkey.Invalid("id", "id must match ^[@~\\-\\.\\w]+$ and be at most 50 characters")
	}
	in, err := readAPIKey(w, r, s.cfg)
	if err != nil {
		return err
	}
	existing, err := s.svc.Key(r.Context(), p, owner, id)
	if latchkey.ErrorCode(err) == latchkey.ENOTFOUND && latchkey.ErrorSubject(err) == "key" {
		conflict := s.createWithID(w, r, p, owner, id, in)
		if latchkey.ErrorCode(conflict) != latchkey.ECONFLICT {
			return conflict
		}
		// Another PUT of this id (through this node or another) created it
		// between the lookup and the create: this one is then the update.
		// If the key is still not there for this caller, the id is taken
		// by a key it cannot see, and the conflict stands.
		if existing, err = s.svc.Key(r.Context(), p, owner, id); latchkey.ErrorCode(err) == latchkey.ENOTFOUND {
			return conflict
		}
	}
	if err != nil {
		return err
	}
	k, err := s.svc.UpdateKey(r.Context(), p, owner, id, in.description, in.updatedPolicy(existing.Policy))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, s.render(r, k))
	return nil
}

// delete handles "DELETE /api-keys/{id}": 204 with no body.
func (s *surface) delete(w http.ResponseWriter, r *http.Request, p *latchkey.Principal, owner latchkey.KeyOwner) error {
	if err := s.svc.DeleteKey(r.Context(), p, owner, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
