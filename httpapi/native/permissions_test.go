package native_test

import (
	"net/http"
	"strings"
	"testing"
)

// A permission that looks like one of Latchkey's own operations without
// being it ("listkeys" for ListKeys) would grant nothing: it is refused,
// with the operation it was likely meant to be, in the permissions and in
// ACL entries alike. The user's own permission names, and exact operation
// names, are kept.
func TestPermissionLookalikesRefused(t *testing.T) {
	s := newStack(t)
	before := s.Snapshot(t)
	for _, c := range []struct{ body, field, hint string }{
		{`{"name":"k","permissions":["orders.read","listkeys"]}`, "permissions.1", "ListKeys"},
		{`{"name":"k","permissions":["create_key"]}`, "permissions.0", "CreateKey"},
		{`{"name":"k","permissions":["VERIFY-KEY"]}`, "permissions.0", "VerifyKey"},
		{`{"name":"k","acl":[{"scope":{"productId":["p"]},"permissions":["getkey"]}]}`, "acl.0.permissions.0", "GetKey"},
	} {
		resp, body := s.call(t, "POST", "/v1/keys", s.admin, c.body)
		wantError(t, resp, body, http.StatusBadRequest, "invalid_request", c.field)
		if !strings.Contains(string(body), "did you mean") || !strings.Contains(string(body), c.hint) {
			t.Errorf("%s: the message gives no hint: %s", c.body, body)
		}
	}
	wantUnchanged(t, s, before)
	k := s.createKey(t, s.admin, `{"name":"k","permissions":["ListKeys","orders.read","list.keys.report"]}`)
	if len(k.Permissions) != 3 {
		t.Errorf("permissions = %v", k.Permissions)
	}
}
