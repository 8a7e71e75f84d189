package dashboard

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/native"
)

// The key form. Its fields are turned into the JSON body the native API
// takes (POST /v1/keys, PATCH /v1/keys/{id}) and read by the native
// surface's own reader, so the form has exactly the API's rules, and its
// field messages are the API's, shown beside the fields they concern.

// keyForm is the form's values, as typed, and the problems found.
type keyForm struct {
	Edit                                   bool
	Action, Cancel                         string
	KeyID                                  string
	Name, Owner, Type, Prefix, Permissions string
	ACL, AllowedIPs, ExpiresAt             string
	RateLimit, RatePeriod, Metadata        string
	// Was holds, in an edit form, each field as the form was filled
	// (values), sent back in hidden fields: a save sends only the fields
	// that differ, so a field left alone is never rewritten (an expiry
	// finer than the form's seconds, a policy another surface made that
	// the native reader would bound differently). Version is the key's
	// UpdatedAt then: a save over a key changed meanwhile is refused.
	Was     map[string]string
	Version string
	Enabled bool
	Owners  []option
	Errors  map[string][]string
	Problem string
}

// Err is what is wrong with a field, for the template ("" if nothing).
func (f keyForm) Err(field string) string { return strings.Join(f.Errors[field], " ") }

// fieldState is a field's problem and the id of the element showing it.
type fieldState struct{ ID, Message string }

// Field is the state of a field, for the "invalid" and "problem" parts.
func (f keyForm) Field(field string) fieldState {
	return fieldState{ID: "k-" + field + "-problem", Message: f.Err(field)}
}

// ratePeriods are the periods the rate limit field offers.
var ratePeriods = []string{"1s", "1m", "1h", "24h"}

func (d *dashboard) newKey(w http.ResponseWriter, r *http.Request, s *session) error {
	f := keyForm{KeyID: native.NewKeyID(), Type: string(latchkey.KeyTypeSecret), Permissions: "*", RatePeriod: "1m", Owner: r.URL.Query().Get("owner")}
	if f.Owner == "" {
		f.Owner = "account"
	}
	return d.renderKeyForm(w, r, s, http.StatusOK, f)
}

func (d *dashboard) renderKeyForm(w http.ResponseWriter, r *http.Request, s *session, status int, f keyForm) error {
	title := "New key"
	if f.Edit {
		title = "Edit " + f.Name
		f.Action, f.Cancel = Base+"/keys/"+f.KeyID, Base+"/keys/"+f.KeyID
	} else {
		f.Action, f.Cancel = Base+"/keys", Base+"/keys"
		owners, err := d.ownerOptions(r, s, f.Owner)
		if err != nil {
			return err
		}
		f.Owners = owners
	}
	d.render(w, r, status, "key-form", &page{Title: title, Section: "keys", session: s, Data: f})
	return nil
}

// maxOwnerOptions bounds the apps the owner list offers; a key for an app
// beyond them is made from the app's page, which presets its owner.
const maxOwnerOptions = 200

// ownerOptions lists the owners a new key may have: the account, its apps,
// and the owner asked for (an integration, from its page).
func (d *dashboard) ownerOptions(r *http.Request, s *session, chosen string) ([]option, error) {
	opts := []option{{"account", "Account (for your own use)"}}
	if d.may(r, s, "ListApps", "") {
		apps, _, err := d.svc.ListApps(r.Context(), s.principal, latchkey.Page{Size: maxOwnerOptions})
		if err != nil {
			return nil, err
		}
		for _, a := range apps {
			opts = append(opts, option{"app:" + a.ID, "App: " + a.DisplayName})
		}
	}
	for _, o := range opts {
		if o.Value == chosen {
			return opts, nil
		}
	}
	if owner, ok := parseOwnerParam(chosen, s.principal.AccountID); ok {
		label := (&ownerNames{d: d, r: r, s: s}).label(&latchkey.Key{AccountID: owner.AccountID, AppID: owner.AppID, IntegrationID: owner.IntegrationID})
		opts = append(opts, option{chosen, label.Kind + ": " + label.Name})
	}
	return opts, nil
}

// createKey makes a key from the form and shows it with its secret, once.
// The form carries the new key's id from the moment it was shown, so that
// sending it again (a reload, a double click) makes no second key.
func (d *dashboard) createKey(w http.ResponseWriter, r *http.Request, s *session) error {
	f := readKeyForm(r, false)
	f.KeyID = r.PostForm.Get("id")
	spec, err := native.ReadNewKey(f.body(false, s.principal.AccountID), d.cfg, s.principal)
	if native.IsKeyID(f.KeyID) {
		spec.ID = f.KeyID
	}
	var k *latchkey.Key
	if err == nil && f.valid() {
		k, err = d.svc.CreateKey(r.Context(), s.principal, spec)
	}
	if latchkey.ErrorCode(err) == latchkey.ECONFLICT {
		if _, seen := d.svc.KeyByID(r.Context(), s.principal, spec.ID); seen == nil {
			done(w, r, Base+"/keys/"+spec.ID, "key-exists")
			return nil
		}
	}
	if f.problems(err); !f.valid() {
		return d.renderKeyForm(w, r, s, http.StatusBadRequest, f)
	}
	if err != nil {
		return err
	}
	return d.renderKey(w, r, s, k, keyView{NewSecret: k.NewestSecret().Plain}, false)
}

// editKey shows the form filled with the key as the API shows it.
func (d *dashboard) editKey(w http.ResponseWriter, r *http.Request, s *session) error {
	k, err := d.svc.KeyByID(r.Context(), s.principal, r.PathValue("id"))
	if err != nil {
		return err
	}
	j := native.RenderKey(k)
	f := keyForm{Edit: true, KeyID: k.ID, Name: k.Name, Type: string(j.Type), Prefix: j.Prefix,
		Permissions: strings.Join(j.Permissions, "\n"), AllowedIPs: strings.Join(j.AllowedIPs, "\n"), Enabled: j.Enabled}
	if len(j.ACL) > 0 {
		f.ACL = prettyJSON(j.ACL)
	}
	if j.Metadata != nil {
		f.Metadata = prettyJSON(j.Metadata)
	}
	if j.ExpiresAt != nil {
		f.ExpiresAt = k.Policy.ExpiresAt.UTC().Format(formSecondsLayout)
	}
	if j.RateLimit != nil {
		f.RateLimit, f.RatePeriod = strconv.Itoa(j.RateLimit.Limit), j.RateLimit.Period
	}
	f.Was, f.Version = f.values(), k.UpdatedAt.Format(time.RFC3339Nano)
	return d.renderKeyForm(w, r, s, http.StatusOK, f)
}

// updateKey saves the fields of the form that changed over the key.
func (d *dashboard) updateKey(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx, p := r.Context(), s.principal
	f := readKeyForm(r, true)
	f.KeyID = r.PathValue("id")
	k, err := d.svc.KeyByID(ctx, p, f.KeyID)
	if err != nil {
		return err
	}
	if f.Version != k.UpdatedAt.Format(time.RFC3339Nano) {
		f.Problem = "This key changed since you opened this form, so nothing was saved. Open the key again to see it as it is now."
		return d.renderKeyForm(w, r, s, http.StatusConflict, f)
	}
	b := f.body(true, p.AccountID)
	if len(b) == 0 && f.valid() {
		done(w, r, Base+"/keys/"+k.ID, "key-unchanged")
		return nil
	}
	name, policy, err := native.ReadKeyChange(b, d.cfg, p, k)
	if err == nil && f.valid() {
		k, err = d.svc.UpdateKey(ctx, p, core.OwnerOf(k), k.ID, name, policy)
	}
	if f.problems(err); !f.valid() {
		return d.renderKeyForm(w, r, s, http.StatusBadRequest, f)
	}
	if err != nil {
		return err
	}
	done(w, r, Base+"/keys/"+k.ID, "key-updated")
	return nil
}

// changeKey applies a change given as native PATCH members.
func (d *dashboard) changeKey(r *http.Request, s *session, members map[string]any) (*latchkey.Key, error) {
	b := map[string]json.RawMessage{}
	for name, v := range members {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b[name] = raw
	}
	return d.patchKey(r, s, b)
}

// patchKey applies b, a native PATCH body, to the key the path names.
func (d *dashboard) patchKey(r *http.Request, s *session, b map[string]json.RawMessage) (*latchkey.Key, error) {
	ctx, p := r.Context(), s.principal
	k, err := d.svc.KeyByID(ctx, p, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	name, policy, err := native.ReadKeyChange(b, d.cfg, p, k)
	if err != nil {
		return nil, err
	}
	return d.svc.UpdateKey(ctx, p, core.OwnerOf(k), k.ID, name, policy)
}

// readKeyForm reads the posted form as typed. Line breaks are read as
// "\n" whatever the browser sent ("\r\n"), so that a field compares equal
// to what it was filled with.
func readKeyForm(r *http.Request, edit bool) keyForm {
	get := func(name string) string {
		return strings.TrimSpace(strings.ReplaceAll(r.PostForm.Get(name), "\r\n", "\n"))
	}
	f := keyForm{Edit: edit, Name: get("name"), Owner: get("owner"), Type: get("type"), Prefix: get("prefix"),
		Permissions: get("permissions"), ACL: get("acl"), AllowedIPs: get("allowedIps"), ExpiresAt: get("expiresAt"),
		RateLimit: get("rateLimit"), RatePeriod: get("ratePeriod"), Metadata: get("metadata"), Enabled: r.PostForm.Get("enabled") == "true",
		Version: r.PostForm.Get("version")}
	if edit {
		f.Was = map[string]string{}
		for field := range f.values() {
			f.Was[field] = get("was." + field)
		}
	}
	return f
}

// values are the editable fields as the form holds them, by member name.
func (f keyForm) values() map[string]string {
	return map[string]string{
		"name": f.Name, "permissions": f.Permissions, "acl": f.ACL, "allowedIps": f.AllowedIPs, "expiresAt": f.ExpiresAt,
		"rateLimit": f.RateLimit + "/" + f.RatePeriod, "metadata": f.Metadata, "enabled": strconv.FormatBool(f.Enabled),
	}
}

// changed reports whether an edit form's field differs from what it was
// filled with; every field of a new key's form counts as changed.
func (f keyForm) changed(field string) bool {
	return f.Was == nil || f.values()[field] != f.Was[field]
}

// addError records a problem with a field.
func (f *keyForm) addError(field, message string) {
	if f.Errors == nil {
		f.Errors = map[string][]string{}
	}
	f.Errors[field] = append(f.Errors[field], message)
}

// valid reports whether the form has no problem recorded.
func (f *keyForm) valid() bool { return len(f.Errors) == 0 && f.Problem == "" }

// problems files the field errors of err (from the native reader or the
// core) under the form's fields, and reports whether there were any.
func (f *keyForm) problems(err error) bool {
	if fields := native.FieldErrors(err); fields != nil {
		for _, fe := range fields {
			field, _, _ := strings.Cut(fe.Field, ".")
			message := fe.Message
			if rest, ok := strings.CutPrefix(fe.Field, field+"."); ok {
				message = rest + ": " + message
			}
			f.addError(field, message)
		}
		return true
	}
	if latchkey.ErrorCode(err) == latchkey.EINVALID {
		if field := latchkey.ErrorField(err); field != "" {
			f.addError(field, latchkey.ErrorMessage(err))
		} else {
			f.Problem = latchkey.ErrorMessage(err)
		}
		return true
	}
	return false
}

// body turns the form into a native key body. A create sends the members
// filled in; an edit sends the members whose field changed (see
// keyForm.Was), an emptied one as null (cleared). A field that cannot be
// put into JSON at all (a JSON field that is not JSON, a time that is not
// one) is left out of the body and its problem recorded, so that the
// reader still reports on the others.
func (f *keyForm) body(edit bool, accountID string) map[string]json.RawMessage {
	b := map[string]json.RawMessage{}
	put := func(name string, v any) {
		raw, _ := json.Marshal(v)
		b[name] = raw
	}
	putJSON := func(name, text string) {
		if text == "" {
			if edit {
				b[name] = json.RawMessage("null")
			}
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(text)); err != nil {
			f.addError(name, "Must be JSON.")
			return
		}
		b[name] = compact.Bytes()
	}
	if f.changed("name") {
		put("name", f.Name)
	}
	if !edit {
		owner, ok := parseOwnerParam(f.Owner, accountID)
		if !ok {
			f.addError("owner", "Choose an owner from the list.")
		} else {
			o := map[string]string{"type": "account", "id": accountID}
			switch {
			case owner.IntegrationID != "":
				o = map[string]string{"type": "integration", "id": owner.IntegrationID, "appId": owner.AppID}
			case owner.AppID != "":
				o = map[string]string{"type": "app", "id": owner.AppID}
			}
			put("owner", o)
		}
		put("type", f.Type)
		if f.Prefix != "" {
			put("prefix", f.Prefix)
		}
	}
	if f.changed("permissions") {
		put("permissions", splitList(f.Permissions))
	}
	if f.changed("acl") && (f.ACL != "" || edit) {
		if f.ACL == "" {
			put("acl", []any{})
		} else {
			putJSON("acl", f.ACL)
		}
	}
	if f.changed("allowedIps") {
		if ips := splitList(f.AllowedIPs); len(ips) > 0 {
			put("allowedIps", ips)
		} else if edit {
			b["allowedIps"] = json.RawMessage("null")
		}
	}
	if f.changed("expiresAt") {
		switch t, err := parseFormTime(f.ExpiresAt); {
		case err != nil:
			f.addError("expiresAt", "Enter a date and time such as 2027-12-31T23:59 (UTC).")
		case !t.IsZero():
			put("expiresAt", t.Format(time.RFC3339Nano))
		case edit:
			b["expiresAt"] = json.RawMessage("null")
		}
	}
	if f.changed("rateLimit") {
		switch {
		case f.RateLimit != "":
			limit := any(f.RateLimit) // a string the reader refuses with its own message
			if n, err := strconv.Atoi(f.RateLimit); err == nil {
				limit = n
			}
			put("rateLimit", map[string]any{"limit": limit, "period": f.RatePeriod})
		case edit:
			b["rateLimit"] = json.RawMessage("null")
		}
	}
	if f.changed("metadata") {
		putJSON("metadata", f.Metadata)
	}
	if edit && f.changed("enabled") {
		put("enabled", f.Enabled)
	}
	return b
}

// splitList reads a list typed one item per line (or separated by
// commas), without empty items.
func splitList(text string) []string {
	items := []string{}
	for _, item := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ',' || r == '\r' }) {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// prettyJSON shows a value as indented JSON.
func prettyJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil || string(b) == "null" {
		return ""
	}
	return string(b)
}
