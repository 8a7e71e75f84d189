package native

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

// The identity headers are set by direct map assignment, which skips
// canonicalization: a name not in canonical form would reach the gateway
// under a key that Header.Get never finds.
func TestHeaderNamesAreCanonical(t *testing.T) {
	for _, name := range []string{headerCode, headerKeyID, headerOwner, headerPermissions, headerMetadata, headerApp, headerPermission} {
		if c := http.CanonicalHeaderKey(name); c != name {
			t.Errorf("%q is not canonical: %q", name, c)
		}
	}
}

// The permissions header takes a shortcut for the usual ACL (one unscoped
// entry without repeats); it must say what splitACL says, the key's
// "permissions" member, for every ACL.
func TestPermissionListMatchesSplitACL(t *testing.T) {
	scoped := latchkey.ACLScope{ProductID: []string{"prod_1"}}
	for name, acl := range map[string][]latchkey.ACLEntry{
		"unrestricted":         nil,
		"one entry":            {{Permissions: []string{"orders.read", "orders.write"}}},
		"one entry, repeats":   {{Permissions: []string{"orders.read", "orders.read"}}},
		"one entry, none":      {{Permissions: []string{}}},
		"two unscoped entries": {{Permissions: []string{"a"}}, {Permissions: []string{"b", "a"}}},
		"a scoped entry alone": {{Scope: scoped, Permissions: []string{"a"}}},
		"scoped and unscoped":  {{Scope: scoped, Permissions: []string{"a"}}, {Permissions: []string{"b"}}},
	} {
		perms, _ := splitACL(acl)
		if got, want := permissionList(acl), strings.Join(perms, ","); got != want {
			t.Errorf("%s: permissionList = %q, splitACL joined = %q", name, got, want)
		}
	}
}
