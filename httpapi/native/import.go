package native

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/importhash"
	"github.com/latchkey/latchkey/secret"
)

// POST /v1/keys/import brings keys from another system: each item is a
// POST /v1/keys body plus, optionally, the key's original id, and either
// its secret in plaintext or that system's hash of it. The answer lists
// what became of each item, in order; the status is 200 whatever the
// items' fate, and 4xx only when the request as a whole is unusable.

// maxImportBodyBytes caps an import request: a thousand keys with
// metadata.
const maxImportBodyBytes = 4_000_000

// maxImportIDLen bounds an imported key's own id.
const maxImportIDLen = 64

// importMembers are the members an import item takes beyond a key body's.
var importMembers = []string{"id", "secret", "hash", "hashAlgorithm"}

type importResultJSON struct {
	Index  int        `json:"index"`
	Status string     `json:"status"`
	ID     string     `json:"id,omitempty"`
	Reason string     `json:"reason,omitempty"`
	Error  *errorJSON `json:"error,omitempty"`
}

type importJSON struct {
	Created int                `json:"created"`
	Skipped int                `json:"skipped"`
	Failed  int                `json:"failed"`
	Results []importResultJSON `json:"results"`
}

func (s *surface) importKeys(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	obj, err := web.DecodeObjectUpTo(w, r, maxImportBodyBytes)
	if err != nil {
		return err
	}
	var errs fieldErrors
	body(obj).onlyMembers(&errs, []string{"keys"}, nil)
	var items []json.RawMessage
	if raw, ok := obj["keys"]; !ok {
		errs.add("keys", "Required: an array of 1 to %d keys.", core.MaxImportBatch)
	} else if json.Unmarshal(raw, &items) != nil || len(items) == 0 || len(items) > core.MaxImportBatch {
		errs.add("keys", "Must be an array of 1 to %d keys.", core.MaxImportBatch)
	}
	if err := errs.err(); err != nil {
		return err
	}

	out := importJSON{Results: make([]importResultJSON, len(items))}
	var (
		specs []core.ImportSpec
		at    []int  // the item index of each spec
		given []bool // whether the item named its id, which a failure then reports
	)
	for i, raw := range items {
		spec, named, err := readImportItem(raw, s.cfg, p)
		if err != nil {
			_, e := errorOf(err)
			out.Results[i] = importResultJSON{Index: i, Status: string(core.ImportFailed), ID: spec.ID, Error: &e}
			continue
		}
		specs, at, given = append(specs, spec), append(at, i), append(given, named)
	}
	if len(specs) > 0 {
		results, err := s.svc.ImportKeys(r.Context(), p, specs)
		if err != nil {
			return err
		}
		for j, res := range results {
			i := at[j]
			out.Results[i] = importResultJSON{Index: i, Status: string(res.Status), ID: res.ID, Reason: res.Reason}
			if res.Err != nil {
				_, e := errorOf(res.Err)
				out.Results[i].Error = &e
				if !given[j] {
					out.Results[i].ID = "" // no key has the id made for it
				}
			}
		}
	}
	for _, res := range out.Results {
		switch core.ImportStatus(res.Status) {
		case core.ImportCreated:
			out.Created++
		case core.ImportSkipped:
			out.Skipped++
		default:
			out.Failed++
		}
	}
	web.WriteJSON(w, http.StatusOK, out)
	return nil
}

// readImportItem reads one item of an import: a key body with the import's
// own members. Problems are field errors relative to the item. named says
// whether the item gave the key's id; if not, the key gets a new native id.
func readImportItem(raw json.RawMessage, cfg web.Config, p *latchkey.Principal) (spec core.ImportSpec, named bool, _ error) {
	var errs fieldErrors
	var obj body
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		errs.add("", "Must be a key object.")
		return spec, false, &errs
	}
	imported := map[string]string{}
	for _, name := range importMembers {
		raw, ok := obj[name]
		if !ok {
			continue
		}
		delete(obj, name) // the rest is a key body
		if v, ok := str(raw, name, &errs); ok {
			imported[name] = v
		}
	}
	if id, ok := imported["id"]; ok {
		if validImportID(id) {
			spec.ID = id
		} else {
			errs.add("id", "Must be 1 to %d letters, digits, '_', '-' and '.', not dots alone.", maxImportIDLen)
		}
	}
	named = spec.ID != ""
	sec, hasSecret := imported["secret"]
	hash, hasHash := imported["hash"]
	alg, hasAlg := imported["hashAlgorithm"]
	switch {
	case hasSecret && (hasHash || hasAlg):
		errs.add("secret", "Give the secret or its hash (with hashAlgorithm), not both.")
	case hasSecret:
		if !auth.ForeignSecretShape(sec) {
			errs.add("secret", "Must be %d to %d printable ASCII characters without spaces or ':', and not a JWT.",
				auth.MinForeignSecretLen, auth.MaxForeignSecretLen)
		}
		spec.Secret = sec
	case hasHash && hasAlg:
		a, digest, err := importhash.Parse(alg, hash)
		switch {
		case err != nil && !slices.Contains(importhash.Algorithms, alg):
			errs.add("hashAlgorithm", "Must be one of %s.", strings.Join(importhash.Algorithms, ", "))
		case err != nil:
			errs.add("hash", "%s.", upperFirst(err.Error()))
		case a.Salted() && !named:
			errs.add("id", "Required with a %s hash: the key is found by its id (clients present id:secret).", alg)
		default:
			spec.Hash = &latchkey.ImportedSecret{Algorithm: a, Digest: digest}
		}
	case hasHash:
		errs.add("hashAlgorithm", "Required with hash: one of %s.", strings.Join(importhash.Algorithms, ", "))
	case hasAlg:
		errs.add("hash", "Required with hashAlgorithm.")
	default:
		errs.add("secret", "Required: the key's secret, or its hash with hashAlgorithm.")
	}

	in := readKey(obj, cfg, true, &errs)
	if kind, ok := secret.KindOf(spec.Secret); ok {
		// A Latchkey secret says its type; the key must agree.
		want := latchkey.KeyTypeSecret
		if kind == secret.PublishableKind {
			want = latchkey.KeyTypePublishable
		}
		if in.keyType.set && in.keyType.v != want {
			errs.add("type", "Must be %s: the secret is a %s key's.", want, want)
		}
		in.keyType.put(want)
	}
	if err := errs.err(); err != nil {
		return spec, named, err
	}
	spec.Owner = principalOwner(p)
	if in.owner.set {
		var err error
		if spec.Owner, err = in.owner.v.keyOwner(p); err != nil {
			return spec, named, err
		}
	}
	spec.Name, spec.Prefix, spec.Policy = in.name.v, in.prefix.v, in.newPolicy(p)
	if !named {
		spec.ID = newKeyID() // as POST /v1/keys would
	}
	return spec, named, nil
}

// validImportID reports whether an imported key may keep id: ids appear in
// paths and logs, so only characters that need no escaping there.
func validImportID(id string) bool {
	if id == "" || len(id) > maxImportIDLen || strings.Trim(id, ".") == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
