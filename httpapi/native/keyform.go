package native

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// The dashboard's key forms are this surface's key bodies: the dashboard
// turns a form into the JSON object the API takes and reads it with the
// readers below, which createKey and updateKey use too. So a form gets
// exactly the API's rules and field messages, and there is one reader of a
// key's policy, not two that could drift apart.

// FieldError is one problem with one member of a key body: its dot path
// ("rateLimit.period", "permissions.2") and what is wrong.
type FieldError = fieldError

// FieldErrors returns the problems err lists when it is the error of a
// body with members at fault (from ReadNewKey or ReadKeyChange), or nil.
func FieldErrors(err error) []FieldError {
	var fe *fieldErrors
	if errors.As(err, &fe) {
		return fe.list
	}
	return nil
}

// ReadNewKey reads b, a POST /v1/keys body, for p: the key to make, or an
// error, which FieldErrors lists when members are at fault. The key's id is
// a new native key id.
func ReadNewKey(b map[string]json.RawMessage, cfg web.Config, p *latchkey.Principal) (core.KeySpec, error) {
	var errs fieldErrors
	in := readKey(body(b), cfg, true, &errs)
	if err := errs.err(); err != nil {
		return core.KeySpec{}, err
	}
	owner := principalOwner(p)
	if in.owner.set {
		var err error
		if owner, err = in.owner.v.keyOwner(p); err != nil {
			return core.KeySpec{}, err
		}
	}
	return core.KeySpec{Owner: owner, ID: newKeyID(), Name: in.name.v, Prefix: in.prefix.v, Policy: in.newPolicy(p)}, nil
}

// ReadKeyChange reads b, a PATCH /v1/keys/{id} body, against k as p sees
// it: the key's name and policy with the change applied, or an error, which
// FieldErrors lists when members are at fault.
func ReadKeyChange(b map[string]json.RawMessage, cfg web.Config, p *latchkey.Principal, k *latchkey.Key) (name string, policy latchkey.Policy, err error) {
	var errs fieldErrors
	in := readKey(body(b), cfg, false, &errs)
	in.checkImmutable(k, &errs)
	policy = in.patchedPolicy(p, k.Policy, &errs)
	if err := errs.err(); err != nil {
		return "", latchkey.Policy{}, err
	}
	name = k.Name
	if in.name.set {
		name = in.name.v
	}
	return name, policy, nil
}

// Key is a key as this surface shows it (without its secret); the
// dashboard shows keys, and fills its edit form, from it, so that the
// form sends back what the API would.
type Key = keyJSON

// RenderKey shows k as GET /v1/keys/{id} does.
func RenderKey(k *latchkey.Key) Key { return renderKey(k) }

// NewKeyID returns a new native key id ("key_" and a ULID). The dashboard's
// new-key form carries one from the moment it is shown, so that a form
// sent twice makes one key, not two: the second gets ECONFLICT.
func NewKeyID() string { return newKeyID() }

// IsKeyID reports whether s has the form NewKeyID makes: "key_" and 26
// characters of the ULID alphabet (Crockford's base 32).
func IsKeyID(s string) bool {
	ulid, ok := strings.CutPrefix(s, "key_")
	if !ok || len(ulid) != 26 {
		return false
	}
	for i := 0; i < len(ulid); i++ {
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", rune(ulid[i])) {
			return false
		}
	}
	return true
}
