package native

import (
	"net/http"
	"testing"
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
