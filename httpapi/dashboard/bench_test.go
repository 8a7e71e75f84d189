package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/internal/lktest"
)

// BenchmarkPages renders each dashboard page through the whole handler
// (session lookup, policy check, store queries, template) for an account
// of 100 keys and one of 10,000, each with a day of usage on a tenth of its
// keys. The target is each page in under 300 ms at 10,000 keys;
// the 100-key account is the baseline measured in the same run, so the
// ratio shows how a page grows with the account. See docs/BENCHMARKS.md.
//
//	go test -run '^$' -bench Pages -benchtime 20x -count 5 ./httpapi/dashboard/
func BenchmarkPages(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		s, cookie, keyID := seedAccount(b, n)
		for _, path := range []string{
			"/dashboard/",
			"/dashboard/keys",
			"/dashboard/keys?page=100",
			"/dashboard/keys?q=" + url.QueryEscape("key 4321"),
			"/dashboard/keys?state=disabled",
			"/dashboard/keys?hygiene=never_used",
			"/dashboard/keys/" + keyID,
			"/dashboard/keys/" + keyID + "?view=day",
			"/dashboard/apps",
			"/dashboard/audit",
		} {
			name := strings.ReplaceAll(path[len("/dashboard"):], keyID, "{id}")
			b.Run(fmt.Sprintf("keys=%d/%s", n, name), func(b *testing.B) {
				for b.Loop() {
					req := httptest.NewRequest(http.MethodGet, path, nil)
					req.AddCookie(cookie)
					rec := httptest.NewRecorder()
					s.Handler.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%s: %d", path, rec.Code)
					}
				}
			})
		}
	}
}

// seedAccount makes an account with n keys (one in ten disabled, one in
// ten used every hour of the last day) and signs in; it returns the stack,
// the session cookie and a used key's id.
func seedAccount(b *testing.B, n int) (*lktest.Stack, *http.Cookie, string) {
	b.Helper()
	ctx := context.Background()
	s := lktest.New(b)
	p := s.Principal(b)
	app, err := s.Svc.CreateApp(ctx, p, &latchkey.App{DisplayName: "Shop"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	var counts []latchkey.UsageCount
	lastUsed := map[string]time.Time{}
	var usedID string
	for i := range n {
		spec := core.KeySpec{Name: fmt.Sprintf("key %d", i), Policy: latchkey.Policy{Disabled: i%10 == 1}}
		if i%2 == 0 {
			spec.Owner = latchkey.KeyOwner{AppID: app.ID}
		}
		k, err := s.Svc.CreateKey(ctx, p, spec)
		if err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			usedID = k.ID
			lastUsed[k.ID] = now
			for h := range 24 {
				counts = append(counts, latchkey.UsageCount{KeyID: k.ID, Minute: now.Add(-time.Duration(h) * time.Hour), Code: latchkey.CodeValid, Count: 50})
			}
		}
	}
	if err := s.Store.AddUsage(ctx, counts, lastUsed); err != nil {
		b.Fatal(err)
	}
	token, _, err := s.Svc.StartSession(ctx, p, s.Account.Secret, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return s, &http.Cookie{Name: "latchkey_session", Value: token}, usedID
}
