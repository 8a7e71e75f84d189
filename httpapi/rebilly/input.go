package rebilly

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
)

// Input bounds the specification leaves open. Every list a client sends is
// capped, so that no request makes a key, a policy check or a query
// arbitrarily large; above a cap the request gets 422 and changes nothing.
const (
	maxDescription = core.MaxNameLen
	maxACLEntries  = 100
	maxPermissions = 500
	// maxScopeValues caps each scope list of an ACL entry (organizationId,
	// productId, planId, customFieldName), as allowedIps is capped: every
	// value is compared on each request the key makes, and on each key it
	// creates.
	maxScopeValues = 100
	maxAllowedIPs  = 100

	// maxFilterValues caps the alternatives of one filter clause
	// (id:a,b,…): room for the ids of a whole default page.
	maxFilterValues = defaultLimit
	// maxFilterClauses caps the ";"-separated clauses of a filter. Three
	// fields can be filtered on; a field may come back (id:!a;id:!b), but
	// ten clauses of maxFilterValues stay within the store's own cap.
	maxFilterClauses = 10
	// maxSortFields is the number of sortable fields: sorting on one twice
	// changes nothing, so a longer sort can only be a mistake or an attack.
	maxSortFields = 3
)

// A filter within the caps above always fits under the store's cap, so a
// client meets this surface's 422 first. (A negative constant does not
// convert to uint: this line stops the build if the caps ever disagree.)
const _ = uint(latchkey.MaxFilterValues - maxFilterClauses*maxFilterValues)

var (
	operationIDPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)
	customFieldPattern = regexp.MustCompile(`^[\w-]+$`)
)

// apiKeyInput is a validated ApiKey request body. For acl and allowedIps,
// present says whether the member was sent at all (null included).
type apiKeyInput struct {
	description       string
	keyType           latchkey.KeyType
	acl               []latchkey.ACLEntry
	aclPresent        bool
	allowedIPs        []netip.Prefix
	allowedIPsPresent bool
}

// newPolicy is the policy of a key created from this body (an unset type is
// secret, the core's default).
func (in *apiKeyInput) newPolicy() latchkey.Policy {
	return latchkey.Policy{Type: in.keyType, ACL: in.acl, AllowedIPs: in.allowedIPs}
}

// updatedPolicy is the policy of a key updated from this body: members sent
// replace, members omitted keep their current value.
func (in *apiKeyInput) updatedPolicy(current latchkey.Policy) latchkey.Policy {
	p := current
	if in.keyType != "" {
		p.Type = in.keyType
	}
	if in.aclPresent {
		p.ACL = in.acl
	}
	if in.allowedIPsPresent {
		p.AllowedIPs = in.allowedIPs
	}
	return p
}

// readAPIKey reads and validates an ApiKey body, collecting every problem.
// Read-only members (id, apiUser, secretKey, createdTime, updatedTime,
// _links) and unknown ones are ignored, as clients send back what they got
// (see apiKeyBody), with one exception: the retired top-level
// "permissions", which once made a restricted key. Ignored, it would make
// an unrestricted one (or one with the creator's rights), so it is refused.
// Members of acl entries and of their scopes are strict (readACL).
func readAPIKey(w http.ResponseWriter, r *http.Request, cfg web.Config) (*apiKeyInput, error) {
	body, err := web.DecodeObject(w, r)
	if err != nil {
		return nil, err
	}
	var (
		in   apiKeyInput
		errs validationError
	)
	isNull := func(raw json.RawMessage) bool { return bytes.Equal(raw, []byte("null")) }

	switch raw, ok := body["description"]; {
	case !ok:
		errs.add("description", "This value is required.")
	case json.Unmarshal(raw, &in.description) != nil || isNull(raw):
		errs.add("description", "This value should be of type string.")
	case strings.TrimSpace(in.description) == "":
		errs.add("description", "This value should not be blank.")
	case utf8.RuneCountInString(in.description) > maxDescription:
		errs.add("description", "This value is too long. It should have %d characters or less.", maxDescription)
	case core.HasControl(in.description):
		errs.add("description", "This value should not contain control characters.")
	}

	// An omitted type is secret for a new key and unchanged for an existing one.
	if raw, ok := body["type"]; ok && !isNull(raw) {
		var t string
		if json.Unmarshal(raw, &t) != nil || (t != string(latchkey.KeyTypeSecret) && t != string(latchkey.KeyTypePublishable)) {
			errs.add("type", "This value should be one of: secret, publishable.")
		}
		in.keyType = latchkey.KeyType(t)
	}

	if _, ok := body["permissions"]; ok {
		errs.add("permissions", `This field is no longer supported; send "acl": [{"scope": {}, "permissions": […]}].`)
	}

	if raw, ok := body["acl"]; ok {
		in.aclPresent = true
		if !isNull(raw) {
			in.acl = readACL(raw, &errs)
		}
	}

	if raw, ok := body["allowedIps"]; ok {
		in.allowedIPsPresent = true
		if !isNull(raw) {
			in.allowedIPs = readAllowedIPs(raw, cfg.AllowPrivateIPs, &errs)
		}
	}
	return &in, errs.err()
}

func readACL(raw json.RawMessage, errs *validationError) []latchkey.ACLEntry {
	var entries []json.RawMessage
	if json.Unmarshal(raw, &entries) != nil {
		errs.add("acl", "This value should be of type array.")
		return nil
	}
	if len(entries) == 0 {
		errs.add("acl", "An empty ACL allows nothing; send at least one entry, or null for an unrestricted key.")
		return nil
	}
	if len(entries) > maxACLEntries {
		errs.add("acl", "This collection should contain %d elements or less.", maxACLEntries)
		return nil
	}
	acl := make([]latchkey.ACLEntry, 0, len(entries))
	for i, rawEntry := range entries {
		path := "acl." + strconv.Itoa(i)
		var entry map[string]json.RawMessage
		if json.Unmarshal(rawEntry, &entry) != nil || entry == nil {
			errs.add(path, "This value should be of type object.")
			continue
		}
		notExpected(entry, path, errs, "scope", "permissions")
		var e latchkey.ACLEntry
		if rawScope, ok := entry["scope"]; !ok {
			errs.add(path+".scope", "This value is required.")
		} else {
			e.Scope = readScope(rawScope, path+".scope", errs)
		}
		rawPerms, ok := entry["permissions"]
		switch {
		case !ok:
			errs.add(path+".permissions", "This value is required.")
		case json.Unmarshal(rawPerms, &e.Permissions) != nil || e.Permissions == nil:
			errs.add(path+".permissions", "This value should be an array of strings.")
		case len(e.Permissions) == 0:
			errs.add(path+".permissions", "This collection should contain 1 element or more.")
		case len(e.Permissions) > maxPermissions:
			errs.add(path+".permissions", "This collection should contain %d elements or less.", maxPermissions)
		default:
			for j, perm := range e.Permissions {
				if perm != latchkey.PermissionAll && !operationIDPattern.MatchString(perm) {
					errs.add(path+".permissions."+strconv.Itoa(j), "This value should be an operation id or \"*\".")
				}
			}
		}
		acl = append(acl, e)
	}
	return acl
}

func readScope(raw json.RawMessage, path string, errs *validationError) latchkey.ACLScope {
	var scope map[string]json.RawMessage
	if json.Unmarshal(raw, &scope) != nil || scope == nil {
		errs.add(path, "This value should be of type object.")
		return latchkey.ACLScope{}
	}
	notExpected(scope, path, errs, "organizationId", "productId", "planId", "customFieldName")
	list := func(name string, maxLen int, pattern *regexp.Regexp) []string {
		rawList, ok := scope[name]
		if !ok || bytes.Equal(rawList, []byte("null")) {
			return nil
		}
		var values []string
		if json.Unmarshal(rawList, &values) != nil {
			errs.add(path+"."+name, "This value should be an array of strings.")
			return nil
		}
		if len(values) > maxScopeValues {
			errs.add(path+"."+name, "This collection should contain %d elements or less.", maxScopeValues)
			return nil
		}
		for i, v := range values {
			if v == "" || len(v) > maxLen || (pattern != nil && !pattern.MatchString(v)) {
				errs.add(path+"."+name+"."+strconv.Itoa(i), "This value is not a valid %s.", name)
			}
		}
		return values
	}
	return latchkey.ACLScope{
		OrganizationID:  list("organizationId", 50, resourceID),
		ProductID:       list("productId", 50, nil),
		PlanID:          list("planId", 50, nil),
		CustomFieldName: list("customFieldName", 60, customFieldPattern),
	}
}

// notExpected reports every member of obj (at path) that is not one of
// known, in Symfony's words as Rebilly words them. An acl entry and its
// scope are strict: each member narrows the key, so a misspelt one (or the
// retired "scopes") ignored would leave the entry wider than the client
// meant.
func notExpected(obj map[string]json.RawMessage, path string, errs *validationError, known ...string) {
	names := make([]string, 0, len(obj))
	for name := range obj {
		if !slices.Contains(known, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names) // a stable order of problems
	for _, name := range names {
		errs.add(path+"."+name, "This field was not expected.")
	}
}

func readAllowedIPs(raw json.RawMessage, allowPrivate bool, errs *validationError) []netip.Prefix {
	var values []string
	if json.Unmarshal(raw, &values) != nil {
		errs.add("allowedIps", "This value should be an array of IP addresses or CIDR ranges, or null.")
		return nil
	}
	if len(values) == 0 {
		errs.add("allowedIps", "An empty list allows no address; send at least one, or null for no restriction.")
		return nil
	}
	if len(values) > maxAllowedIPs {
		errs.add("allowedIps", "This collection should contain %d elements or less.", maxAllowedIPs)
		return nil
	}
	prefixes := make([]netip.Prefix, 0, len(values))
	for i, v := range values {
		field := "allowedIps." + strconv.Itoa(i)
		prefix, err := web.ParsePrefix(v)
		if err != nil {
			errs.add(field, "This value is not a valid IP address or CIDR range.")
			continue
		}
		if !allowPrivate && web.NonPublic(prefix) {
			errs.add(field, "Private, loopback, link-local and other non-public ranges are not allowed; a server started with --allow-private-ips (LATCHKEY_ALLOW_PRIVATE_IPS=true) takes them, for internal deployments.")
			continue
		}
		prefixes = append(prefixes, prefix)
	}
	return prefixes
}

// parseListQuery reads limit, offset, sort and filter from the query as
// operation read it (web.ParseQuery: pairs split on "&" only, so that the
// filter syntax's ";" reaches here).
func parseListQuery(r *http.Request) (latchkey.KeyQuery, error) {
	q := r.URL.Query()
	out := latchkey.KeyQuery{Limit: defaultLimit}
	var errs validationError
	number := func(name string, max int, dst *int) {
		if !q.Has(name) || q.Get(name) == "" {
			return
		}
		n, ok := web.ParseInt(q.Get(name), 0, max)
		if !ok {
			errs.add(name, "This value should be an integer between 0 and %d.", max)
			return
		}
		*dst = n
	}
	number("limit", maxLimit, &out.Limit)
	number("offset", maxOffset, &out.Offset)

	sortFields := map[string]latchkey.KeyField{
		"createdTime": latchkey.KeyFieldCreated, "updatedTime": latchkey.KeyFieldUpdated, "id": latchkey.KeyFieldID,
	}
	switch s := q.Get("sort"); {
	case s == "":
		out.Sort = []latchkey.KeySort{{Field: latchkey.KeyFieldCreated, Desc: true}}
	case strings.Count(s, ",")+1 > maxSortFields:
		// Counted before splitting, and reported once rather than per part.
		errs.add("sort", "Sort by at most %d fields.", maxSortFields)
	default:
		seen := map[latchkey.KeyField]bool{}
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			name, desc := strings.CutPrefix(part, "-")
			field, ok := sortFields[name]
			switch {
			case !ok:
				errs.add("sort", "Cannot sort by %q; sortable fields are createdTime, updatedTime and id.", part)
				continue
			case seen[field]:
				errs.add("sort", "Cannot sort by %s twice.", name)
				continue
			}
			seen[field] = true
			out.Sort = append(out.Sort, latchkey.KeySort{Field: field, Desc: desc})
		}
	}

	filterFields := map[string]latchkey.KeyField{
		"id": latchkey.KeyFieldID, "type": latchkey.KeyFieldType, "description": latchkey.KeyFieldName,
	}
	switch f := q.Get("filter"); {
	case f == "":
	case strings.Count(f, ";")+1 > maxFilterClauses:
		// Counted before splitting, and reported once rather than per clause.
		errs.add("filter", "A filter should have %d clauses or less.", maxFilterClauses)
	default:
		for _, clause := range strings.Split(f, ";") {
			name, values, ok := strings.Cut(clause, ":")
			field, known := filterFields[strings.TrimSpace(name)]
			values, negate := strings.CutPrefix(values, "!")
			switch {
			case !ok || !known:
				errs.add("filter", "Cannot filter by %q; filterable fields are id, type and description.", name)
				continue
			case values == "":
				errs.add("filter", "The filter on %q needs a value.", name)
				continue
			case strings.Count(values, ",")+1 > maxFilterValues:
				errs.add("filter", "The filter on %q should have %d values or less.", name, maxFilterValues)
				continue
			}
			out.Filters = append(out.Filters, latchkey.KeyFilter{Field: field, Values: strings.Split(values, ","), Negate: negate})
		}
	}
	return out, errs.err()
}
