package web_test

import (
	"context"
	"net/http"
	"net/netip"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
)

// BenchmarkGate is the whole per-request check of a warm, restricted key: the
// credential in REB-APIKEY, the client address behind a trusted proxy, and an
// ACL with an organization scope. Compare with auth's BenchmarkVerifyBearerSecret
// in the same run: the difference is what policies cost.
func BenchmarkGate(b *testing.B) {
	s := lktest.New(b)
	ctx := context.Background()
	policy := latchkey.Policy{
		ACL: []latchkey.ACLEntry{
			{Scope: latchkey.ACLScope{OrganizationID: []string{"other"}}, Permissions: []string{"*"}},
			{Scope: latchkey.ACLScope{OrganizationID: []string{"6b02a54824ab83b84e83c3cc"}}, Permissions: []string{"GetApiKey", "GetApiKeyCollection"}},
		},
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24")},
	}
	k, err := s.Svc.CreateKey(ctx, s.Principal(b), core.KeySpec{Name: "bench", Policy: policy})
	if err != nil {
		b.Fatal(err)
	}
	cfg := web.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	r, _ := http.NewRequest("GET", "http://latchkey/organizations/6b02a54824ab83b84e83c3cc/api-keys", nil)
	r.RemoteAddr = "10.1.2.3:5555"
	r.Header.Set("REB-APIKEY", k.Secrets[0].Plain)
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	if _, err := web.Gate(r, cfg, s.Verifier, "GetApiKeyCollection", "6b02a54824ab83b84e83c3cc"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := web.Gate(r, cfg, s.Verifier, "GetApiKeyCollection", "6b02a54824ab83b84e83c3cc"); err != nil {
			b.Fatal(err)
		}
	}
}
