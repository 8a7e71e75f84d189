package dashboard_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
)

// browser is a client with a cookie jar that does not follow redirects,
// so that each answer can be checked as the browser gets it.
type browser struct {
	t      *testing.T
	stack  *lktest.Stack
	client *http.Client
}

func newBrowser(t *testing.T, s *lktest.Stack) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, stack: s, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, headers ...string) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.stack.Server.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func (b *browser) get(path string) answer { b.t.Helper(); return b.do(http.MethodGet, path, nil) }

// post sends a form as the dashboard's own pages do: with the CSRF token
// read from a page.
func (b *browser) post(path string, form url.Values) answer {
	b.t.Helper()
	form.Set("csrf", b.csrf())
	return b.do(http.MethodPost, path, form)
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) csrf() string {
	b.t.Helper()
	page := b.get("/dashboard/")
	m := csrfPattern.FindStringSubmatch(page.body)
	if m == nil {
		b.t.Fatalf("no CSRF token on the overview (status %d)", page.status)
	}
	return m[1]
}

func (b *browser) signIn(c lktest.Credentials) answer {
	b.t.Helper()
	return b.do(http.MethodPost, "/dashboard/sign-in", url.Values{"keyId": {c.ID}, "secret": {c.Secret}, "next": {"/dashboard/keys"}})
}

func (b *browser) sessionCookie() *http.Cookie {
	u, _ := url.Parse(b.stack.Server.URL + "/dashboard/")
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "latchkey_session" {
			return c
		}
	}
	return nil
}

func auditActions(t *testing.T, s *lktest.Stack) []string {
	t.Helper()
	events, err := s.Store.AuditEvents(context.Background(), latchkey.AuditQuery{All: true, Oldest: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range events {
		out = append(out, ev.Action+":"+string(ev.Outcome))
	}
	return out
}

func TestSignInSessionAndSignOut(t *testing.T) {
	s := lktest.NewAudited(t, web.Config{})
	b := newBrowser(t, s)

	if a := b.get("/dashboard/keys?q=x"); a.status != http.StatusSeeOther || a.header.Get("Location") != "/dashboard/sign-in?next=%2Fdashboard%2Fkeys%3Fq%3Dx" {
		t.Fatalf("signed out: %d to %q, want 303 to the sign-in page with next", a.status, a.header.Get("Location"))
	}
	wrong := s.Account
	wrong.Secret = "sk_live_" + strings.Repeat("A", 43)
	if a := b.signIn(wrong); a.status != http.StatusUnauthorized || !strings.Contains(a.body, "do not match an active key") {
		t.Fatalf("wrong secret: %d %s", a.status, a.body)
	}
	if b.sessionCookie() != nil {
		t.Fatal("a refused sign-in set a session cookie")
	}

	a := b.signIn(s.Account)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/dashboard/keys" {
		t.Fatalf("sign-in: %d to %q, want 303 to next", a.status, a.header.Get("Location"))
	}
	set := a.header.Get("Set-Cookie")
	for _, attr := range []string{"latchkey_session=", "Path=/dashboard", "HttpOnly", "SameSite=Strict", "Max-Age="} {
		if !strings.Contains(set, attr) {
			t.Errorf("session cookie %q lacks %s", set, attr)
		}
	}
	if strings.Contains(set, "Secure") {
		t.Errorf("session cookie over plain HTTP is Secure (the browser would drop it): %q", set)
	}
	if strings.Contains(set, s.Account.Secret) {
		t.Fatal("the cookie carries the key's secret")
	}

	page := b.get("/dashboard/")
	if page.status != http.StatusOK || !strings.Contains(page.body, "Overview") {
		t.Fatalf("overview: %d", page.status)
	}
	csp := page.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || page.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers: CSP %q, Cache-Control %q", csp, page.header.Get("Cache-Control"))
	}
	if strings.Contains(page.body, "<script>") || strings.Contains(page.body, " style=") {
		t.Fatal("a page carries an inline script or style, which the CSP refuses")
	}

	old := b.sessionCookie()
	if a := b.post("/dashboard/sign-out", url.Values{}); a.status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", a.status)
	}
	if b.sessionCookie() != nil {
		t.Fatal("sign-out left the cookie")
	}
	// The cookie's value no longer opens anything, even sent again.
	b.client.Jar.SetCookies(&url.URL{Scheme: "http", Host: strings.TrimPrefix(s.Server.URL, "http://"), Path: "/dashboard/"}, []*http.Cookie{old})
	if a := b.get("/dashboard/"); a.status != http.StatusSeeOther {
		t.Fatalf("a signed-out session's cookie: %d, want 303 to sign in", a.status)
	}
	if a := b.do(http.MethodPost, "/dashboard/apps", url.Values{"name": {"x"}}); a.status != http.StatusUnauthorized {
		t.Fatalf("a change with a signed-out session: %d, want 401", a.status)
	}

	got := strings.Join(auditActions(t, s), " ")
	for _, want := range []string{"session.create:unauthorized", "session.create:success", "session.delete:success"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit log %q lacks %s", got, want)
		}
	}
}

func TestChangesNeedTheCSRFTokenAndTheSameOrigin(t *testing.T) {
	s := lktest.New(t)
	b := newBrowser(t, s)
	b.signIn(s.Account)
	token := b.csrf()
	countApps := func() int {
		n, err := s.Svc.RecordCounts(context.Background(), s.Principal(t))
		if err != nil {
			t.Fatal(err)
		}
		return n.Apps
	}
	for name, tc := range map[string]struct {
		form    url.Values
		headers []string
	}{
		"no token":    {form: url.Values{"name": {"A"}}},
		"wrong token": {form: url.Values{"name": {"A"}, "csrf": {token[:len(token)-2] + "xx"}}},
		"cross-site":  {form: url.Values{"name": {"A"}, "csrf": {token}}, headers: []string{"Sec-Fetch-Site", "cross-site"}},
		"other origin": {form: url.Values{"name": {"A"}, "csrf": {token}},
			headers: []string{"Origin", "https://evil.example"}},
	} {
		if a := b.do(http.MethodPost, "/dashboard/apps", tc.form, tc.headers...); a.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, a.status)
		}
	}
	if n := countApps(); n != 0 {
		t.Fatalf("refused forms made %d apps", n)
	}
	a := b.do(http.MethodPost, "/dashboard/apps", url.Values{"name": {"Shop"}, "csrf": {token}}, "Sec-Fetch-Site", "same-origin")
	if a.status != http.StatusSeeOther || countApps() != 1 {
		t.Fatalf("the dashboard's own form: %d, %d apps", a.status, countApps())
	}
	// Another session's token is not this one's.
	other := newBrowser(t, s)
	other.signIn(s.Account)
	if a := other.do(http.MethodPost, "/dashboard/apps", url.Values{"name": {"B"}, "csrf": {token}}); a.status != http.StatusForbidden {
		t.Fatalf("another session's token: %d, want 403", a.status)
	}
}

func TestARestrictedKeySeesAndDoesOnlyWhatItMay(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	k, err := s.Svc.CreateKey(ctx, s.Principal(t), core.KeySpec{Name: "reader", Policy: latchkey.Policy{
		ACL: []latchkey.ACLEntry{{Permissions: []string{"ListKeys", "GetKey"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s)
	if a := b.signIn(lktest.Credentials{ID: k.ID, Secret: k.Secrets[0].Plain}); a.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", a.status)
	}
	overview := b.get("/dashboard/")
	if overview.status != http.StatusOK || strings.Contains(overview.body, `href="/dashboard/apps"`) || strings.Contains(overview.body, `href="/dashboard/audit"`) {
		t.Fatalf("the overview offers what the key may not see (status %d)", overview.status)
	}
	keys := b.get("/dashboard/keys")
	if keys.status != http.StatusOK || strings.Contains(keys.body, "New key") {
		t.Fatalf("keys: %d, or offers a new key", keys.status)
	}
	for _, path := range []string{"/dashboard/apps", "/dashboard/audit", "/dashboard/keys/new", "/dashboard/keys/" + s.Account.ID + "/roll"} {
		if a := b.get(path); a.status != http.StatusForbidden {
			t.Errorf("GET %s: %d, want 403", path, a.status)
		}
	}
	before := s.Snapshot(t)
	for path, form := range map[string]url.Values{
		"/dashboard/apps": {"name": {"x"}},
		"/dashboard/keys": {"name": {"x"}, "owner": {"account"}, "type": {"secret"}, "permissions": {"*"}},
		"/dashboard/keys/" + s.Account.ID + "/revoke": {},
		"/dashboard/keys/" + s.Account.ID + "/roll":   {"grace": {"0"}},
		"/dashboard/keys/" + s.Account.ID + "/reveal": {},
	} {
		if a := b.post(path, form); a.status != http.StatusForbidden {
			t.Errorf("POST %s: %d, want 403", path, a.status)
		}
	}
	if s.Snapshot(t) != before {
		t.Fatal("refused changes wrote to the store")
	}
}

func TestOnlyAnAccountsSecretKeySignsIn(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	app, err := s.Svc.CreateApp(ctx, s.Principal(t), &latchkey.App{DisplayName: "Shop"})
	if err != nil {
		t.Fatal(err)
	}
	for name, spec := range map[string]core.KeySpec{
		"app key":         {Owner: latchkey.KeyOwner{AppID: app.ID}, Name: "app"},
		"publishable key": {Name: "pub", Policy: latchkey.Policy{Type: latchkey.KeyTypePublishable}},
	} {
		k, err := s.Svc.CreateKey(ctx, s.Principal(t), spec)
		if err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t, s)
		a := b.signIn(lktest.Credentials{ID: k.ID, Secret: k.Secrets[0].Plain})
		if a.status == http.StatusSeeOther || b.sessionCookie() != nil {
			t.Errorf("%s signed in", name)
		}
	}
}

func TestASessionEndsWithItsKeyOrSecret(t *testing.T) {
	ctx := context.Background()
	for name, end := range map[string]func(s *lktest.Stack, k *latchkey.Key) error{
		"revoked": func(s *lktest.Stack, k *latchkey.Key) error {
			return s.Svc.DeleteKey(ctx, s.Principal(t), core.OwnerOf(k), k.ID)
		},
		"disabled": func(s *lktest.Stack, k *latchkey.Key) error {
			pol := k.Policy
			pol.Disabled = true
			_, err := s.Svc.UpdateKey(ctx, s.Principal(t), core.OwnerOf(k), k.ID, k.Name, pol)
			return err
		},
		"rolled at once": func(s *lktest.Stack, k *latchkey.Key) error {
			_, err := s.Svc.RollKey(ctx, s.Principal(t), core.OwnerOf(k), k.ID, 0)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := lktest.New(t)
			k, err := s.Svc.CreateKey(ctx, s.Principal(t), core.KeySpec{Name: "admin 2"})
			if err != nil {
				t.Fatal(err)
			}
			b := newBrowser(t, s)
			b.signIn(lktest.Credentials{ID: k.ID, Secret: k.Secrets[0].Plain})
			if a := b.get("/dashboard/"); a.status != http.StatusOK {
				t.Fatalf("before: %d", a.status)
			}
			if err := end(s, k); err != nil {
				t.Fatal(err)
			}
			if a := b.get("/dashboard/"); a.status != http.StatusSeeOther {
				t.Fatalf("after the key was %s: %d, want 303 to sign in", name, a.status)
			}
		})
	}
	t.Run("rolled with grace", func(t *testing.T) {
		s := lktest.New(t)
		b := newBrowser(t, s)
		b.signIn(s.Account)
		k, err := s.Svc.KeyByID(ctx, s.Principal(t), s.Account.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Svc.RollKey(ctx, s.Principal(t), core.OwnerOf(k), k.ID, time.Hour); err != nil {
			t.Fatal(err)
		}
		if a := b.get("/dashboard/"); a.status != http.StatusOK {
			t.Fatalf("the old secret's session within its grace period: %d, want 200", a.status)
		}
	})
}

func TestKeyFormShowsTheAPIsFieldMessages(t *testing.T) {
	s := lktest.New(t)
	b := newBrowser(t, s)
	b.signIn(s.Account)
	before := s.Snapshot(t)
	a := b.post("/dashboard/keys", url.Values{"name": {"Bad"}, "owner": {"account"}, "type": {"secret"}, "permissions": {"orders read"},
		"prefix": {"ACME!"}, "rateLimit": {"many"}, "ratePeriod": {"1m"}, "metadata": {"{not json"}})
	if a.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", a.status)
	}
	for _, want := range []string{
		`id="k-prefix-problem">Must be 1 to 16 lowercase letters, digits and underscores.`,
		`id="k-rateLimit-problem"`,
		`id="k-metadata-problem">Must be JSON.`,
		`aria-invalid="true"`,
		`value="ACME!"`, // what was typed stays
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the form lacks %s", want)
		}
	}
	if s.Snapshot(t) != before {
		t.Fatal("a refused form wrote to the store")
	}
	a = b.post("/dashboard/keys", url.Values{"name": {"Bad"}, "owner": {"account"}, "type": {"secret"}, "permissions": {"orders read"}, "prefix": {"acme"}})
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, `id="k-permissions-problem">0: Must be`) {
		t.Fatalf("a bad permission: %d", a.status)
	}
	a = b.post("/dashboard/keys", url.Values{"name": {"Good"}, "owner": {"account"}, "type": {"secret"}, "permissions": {"orders.read\norders.write"},
		"prefix": {"acme"}, "rateLimit": {"100"}, "ratePeriod": {"1m"}, "metadata": {`{"plan":"pro"}`}, "allowedIps": {"203.0.113.0/24"}})
	if a.status != http.StatusCreated || !strings.Contains(a.body, `id="new-secret" class="secret" value="acme_sk_live_`) {
		t.Fatalf("a good key: %d", a.status)
	}
}

func TestFailedSignInsAreThrottled(t *testing.T) {
	s := lktest.New(t)
	s2 := lktest.NewWithConfig(t, web.Config{FailedAuth: web.NewThrottle(latchkey.RateLimit{Limit: 2, Period: time.Minute})})
	_ = s
	b := newBrowser(t, s2)
	wrong := s2.Account
	wrong.Secret = "sk_live_" + strings.Repeat("B", 43)
	var last answer
	for range 3 {
		last = b.signIn(wrong)
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" || !strings.Contains(last.body, "Too many failed sign-ins") {
		t.Fatalf("third failure: %d, Retry-After %q", last.status, last.header.Get("Retry-After"))
	}
	if a := b.signIn(s2.Account); a.status != http.StatusSeeOther {
		t.Fatalf("a valid sign-in from a throttled address: %d", a.status)
	}
}

func TestSignInGoesOnlyToDashboardPages(t *testing.T) {
	s := lktest.New(t)
	for next, want := range map[string]string{
		"/dashboard/keys?q=a":       "/dashboard/keys?q=a",
		"https://evil.example/":     "/dashboard/",
		"//evil.example/dashboard/": "/dashboard/",
		"/v1/keys":                  "/dashboard/",
		"/dashboard/\\evil":         "/dashboard/",
	} {
		b := newBrowser(t, s)
		a := b.do(http.MethodPost, "/dashboard/sign-in", url.Values{"keyId": {s.Account.ID}, "secret": {s.Account.Secret}, "next": {next}})
		if got := a.header.Get("Location"); got != want {
			t.Errorf("next %q: to %q, want %q", next, got, want)
		}
	}
}

func TestTheCookieIsSecureBehindTLS(t *testing.T) {
	s := lktest.NewWithConfig(t, web.Config{PublicURL: "https://keys.example.com"})
	b := newBrowser(t, s)
	a := b.signIn(s.Account)
	if !strings.Contains(a.header.Get("Set-Cookie"), "Secure") {
		t.Fatalf("cookie %q is not Secure under an https public URL", a.header.Get("Set-Cookie"))
	}
}

func TestARestrictedKeyCanSignOut(t *testing.T) {
	s := lktest.New(t)
	k, err := s.Svc.CreateKey(context.Background(), s.Principal(t), core.KeySpec{Name: "reader", Policy: latchkey.Policy{
		ACL: []latchkey.ACLEntry{{Permissions: []string{"GetKey"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s)
	b.signIn(lktest.Credentials{ID: k.ID, Secret: k.Secrets[0].Plain})
	if a := b.post("/dashboard/sign-out", url.Values{}); a.status != http.StatusSeeOther || b.sessionCookie() != nil {
		t.Fatalf("sign-out of a key without list permissions: %d", a.status)
	}
}

// formValues reads a page's form fields (inputs and textareas) by name.
func formValues(page string) url.Values {
	v := url.Values{}
	for _, m := range regexp.MustCompile(`<input[^>]* name="([^"]+)"[^>]* value="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		v.Add(m[1], html.UnescapeString(m[2]))
	}
	for _, m := range regexp.MustCompile(`(?s)<textarea[^>]* name="([^"]+)"[^>]*>(.*?)</textarea>`).FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	for _, m := range regexp.MustCompile(`<input type="checkbox" name="([^"]+)" value="([^"]+)" checked>`).FindAllStringSubmatch(page, -1) {
		v.Set(m[1], m[2])
	}
	for _, m := range regexp.MustCompile(`(?s)<select[^>]* name="([^"]+)"[^>]*>(.*?)</select>`).FindAllStringSubmatch(page, -1) {
		if sel := regexp.MustCompile(`<option value="([^"]*)" selected>`).FindStringSubmatch(m[2]); sel != nil {
			v.Set(m[1], html.UnescapeString(sel[1]))
		}
	}
	return v
}

func TestTheEditFormSendsOnlyWhatChanged(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	exp := time.Date(2030, 1, 1, 12, 34, 56, 789000000, time.UTC)
	k, err := s.Svc.CreateKey(ctx, s.Principal(t), core.KeySpec{Name: "svc", Policy: latchkey.Policy{
		ExpiresAt: &exp, RateLimit: &latchkey.RateLimit{Limit: 5, Period: 90 * time.Second},
		Metadata: map[string]any{"plan": "pro", "n": 1.5},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s)
	b.signIn(s.Account)
	form := formValues(b.get("/dashboard/keys/" + k.ID + "/edit").body)
	if form.Get("version") == "" || form.Get("was.name") != "svc" {
		t.Fatalf("the edit form lacks its version or original values: %v", form)
	}

	// Saved unchanged: nothing is written, the sub-second expiry stays.
	before := s.Snapshot(t)
	if a := b.do(http.MethodPost, "/dashboard/keys/"+k.ID, form); a.status != http.StatusSeeOther || !strings.Contains(a.header.Get("Location"), "key-unchanged") {
		t.Fatalf("unchanged save: %d %s", a.status, a.header.Get("Location"))
	}
	if s.Snapshot(t) != before {
		t.Fatal("an unchanged save wrote to the store")
	}

	// Renamed: only the name changes.
	renamed := url.Values{}
	for k, v := range form {
		renamed[k] = v
	}
	renamed.Set("name", "svc 2")
	if a := b.do(http.MethodPost, "/dashboard/keys/"+k.ID, renamed); a.status != http.StatusSeeOther {
		t.Fatalf("rename: %d", a.status)
	}
	got, err := s.Svc.KeyByID(ctx, s.Principal(t), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "svc 2" || !got.Policy.ExpiresAt.Equal(exp) || got.Policy.RateLimit.Period != 90*time.Second || got.Policy.Metadata["n"] != 1.5 {
		t.Fatalf("after a rename: %q, expiry %v, rate %v, metadata %v", got.Name, got.Policy.ExpiresAt, got.Policy.RateLimit, got.Policy.Metadata)
	}

	// The same form sent again is for a key that changed since: refused.
	renamed.Set("name", "svc 3")
	if a := b.do(http.MethodPost, "/dashboard/keys/"+k.ID, renamed); a.status != http.StatusConflict {
		t.Fatalf("a form for a key changed since: %d, want 409", a.status)
	}
}

func TestAFormSentTwiceActsOnce(t *testing.T) {
	s := lktest.New(t)
	b := newBrowser(t, s)
	b.signIn(s.Account)
	form := formValues(b.get("/dashboard/keys/new").body)
	form.Set("name", "Once")
	form.Set("owner", "account")
	form.Set("type", "secret")
	if a := b.do(http.MethodPost, "/dashboard/keys", form); a.status != http.StatusCreated {
		t.Fatalf("create: %d", a.status)
	}
	a := b.do(http.MethodPost, "/dashboard/keys", form)
	if a.status != http.StatusSeeOther || !strings.Contains(a.header.Get("Location"), "key-exists") || strings.Contains(a.body, "sk_live_") {
		t.Fatalf("the same form again: %d to %q", a.status, a.header.Get("Location"))
	}
	keys, total, err := s.Svc.QueryKeys(context.Background(), s.Principal(t), latchkey.KeyQuery{Owner: latchkey.KeyOwner{}, Search: "Once", Limit: 10})
	if err != nil || total != 1 {
		t.Fatalf("keys named Once: %d (%v)", total, err)
	}

	roll := formValues(b.get("/dashboard/keys/" + keys[0].ID + "/roll").body)
	roll.Set("grace", "0")
	if a := b.do(http.MethodPost, "/dashboard/keys/"+keys[0].ID+"/roll", roll); a.status != http.StatusCreated {
		t.Fatalf("roll: %d", a.status)
	}
	rolled, err := s.Svc.KeyByID(context.Background(), s.Principal(t), keys[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := b.do(http.MethodPost, "/dashboard/keys/"+keys[0].ID+"/roll", roll); a.status != http.StatusConflict {
		t.Fatalf("the same roll again: %d, want 409", a.status)
	}
	again, err := s.Svc.KeyByID(context.Background(), s.Principal(t), keys[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.NewestSecret().Plain != rolled.NewestSecret().Plain {
		t.Fatal("a repeated roll form rolled the key again")
	}
}

func TestRollGraceBounds(t *testing.T) {
	s := lktest.New(t)
	b := newBrowser(t, s)
	b.signIn(s.Account)
	k, err := s.Svc.CreateKey(context.Background(), s.Principal(t), core.KeySpec{Name: "r"})
	if err != nil {
		t.Fatal(err)
	}
	before := s.Snapshot(t)
	for _, custom := range []string{"281474976710656d", "31d", "+3d", "-1h", "721h", "soon"} {
		roll := formValues(b.get("/dashboard/keys/" + k.ID + "/roll").body)
		roll.Set("grace", "custom")
		roll.Set("custom", custom)
		if a := b.do(http.MethodPost, "/dashboard/keys/"+k.ID+"/roll", roll); a.status != http.StatusBadRequest {
			t.Errorf("grace %q: %d, want 400", custom, a.status)
		}
	}
	if s.Snapshot(t) != before {
		t.Fatal("a refused roll wrote to the store")
	}
}

func TestListPagesAreClamped(t *testing.T) {
	s := lktest.New(t)
	b := newBrowser(t, s)
	b.signIn(s.Account)
	for _, page := range []string{"999999999999999999", "184467440737095517", "-3", "2", "x"} {
		a := b.get("/dashboard/keys?page=" + page)
		if a.status != http.StatusOK || !strings.Contains(a.body, "1–1 of 1") {
			t.Errorf("page %s: %d", page, a.status)
		}
	}
}

func TestDeleteConfirmationShowsOnlyWhatTheKeyMayList(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	app, err := s.Svc.CreateApp(ctx, s.Principal(t), &latchkey.App{DisplayName: "Shop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Svc.CreateKey(ctx, s.Principal(t), core.KeySpec{Owner: latchkey.KeyOwner{AppID: app.ID}, Name: "hidden key name"}); err != nil {
		t.Fatal(err)
	}
	k, err := s.Svc.CreateKey(ctx, s.Principal(t), core.KeySpec{Name: "deleter", Policy: latchkey.Policy{
		ACL: []latchkey.ACLEntry{{Permissions: []string{"DeleteApp"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s)
	b.signIn(lktest.Credentials{ID: k.ID, Secret: k.Secrets[0].Plain})
	a := b.get("/dashboard/apps/" + app.ID + "/delete")
	if a.status != http.StatusOK || strings.Contains(a.body, "hidden key name") || strings.Contains(a.body, "Shop") ||
		!strings.Contains(a.body, "every key the app holds") {
		t.Fatalf("confirmation for a key that may only delete: %d", a.status)
	}
}

// An imported key whose secret Latchkey has not seen yet shows as such,
// with nothing to reveal; once its holder has used it, it shows as any key.
func TestAnImportedKeyShowsItsImportedSecret(t *testing.T) {
	s := lktest.New(t)
	resp, body := s.Do(t, "POST", "/v1/keys/import", "Bearer "+s.Account.Secret,
		`{"keys":[{"id":"legacy-7","name":"Legacy","hash":"`+strings.Repeat("ab", 32)+`","hashAlgorithm":"sha256-hex"}]}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"created":1`) {
		t.Fatalf("import: %d %s", resp.StatusCode, body)
	}
	b := newBrowser(t, s)
	b.signIn(s.Account)
	a := b.get("/dashboard/keys/legacy-7")
	if a.status != http.StatusOK || !strings.Contains(a.body, "Imported as its sha256 hash") || strings.Contains(a.body, "Reveal secret") {
		t.Errorf("the imported key's page: %d\n%.3000s", a.status, a.body)
	}
}
