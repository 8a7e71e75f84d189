package httpapi_test

// The attack suite: requests an attacker would make, on every surface, each
// of which must be refused in that surface's own error format and leave the
// store as it was. The cases are generated from lists (credential forms ×
// surfaces × routes) so that a route or a form added later is attacked too.
//
// "As it was" is a dump of every table of the SQLite file, enumerated from
// sqlite_master, taken before and after each request (lktest.StateDumper),
// leaving out only what changes by design on a refused request: usage
// counts, lastUsedAt and the audit log of refused attempts.
//
// Every request is written byte for byte on its own connection (lktest.SendRaw),
// so that header lines reach the server in exactly the order and number a
// case gives: net/http's client sorts header names and would hide the
// duplicate-credential cases.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/httpapi/web"
	"github.com/latchkey/latchkey/internal/lktest"
	"github.com/latchkey/latchkey/sdk"
)

// attackConfig is the deployment the in-process attacks run against:
// private addresses may be named in allowedIps, so that restricted keys can
// be used from the loopback client; no proxy is trusted; and FailedAuth is
// left nil, so that failed authentications are not throttled and every
// case sees the 401 or 403 it is about, not a 429.
func attackConfig() web.Config {
	return web.Config{AllowPrivateIPs: true}
}

// atkKey is a key of the attack world, with the scope its JWTs must claim.
type atkKey struct {
	name, id, secret, scope string
}

// header is one header line, sent as given.
type header = lktest.Header

// credForm is a way a client presents a key.
type credForm struct {
	name  string
	lines func(k atkKey) []header
}

// atkForms are every credential form Latchkey accepts.
var atkForms = func() []credForm {
	var out []credForm
	for _, f := range lktest.CredentialForms {
		out = append(out, credForm{f.Name, func(k atkKey) []header { return f.Headers(k.id, k.secret, k.scope) }})
	}
	return out
}()

// atkRequest is one request of a case, sent byte for byte.
type atkRequest = lktest.RawRequest

type atkResponse = lktest.RawResponse

// world is the attack world: two accounts, with apps, integrations and keys
// of every kind, on a real SQLite store.
type world struct {
	*lktest.Stack
	dump *lktest.StateDumper
	addr string

	// Account A: the victim, unless a case says otherwise.
	admin      atkKey // the bootstrap account key
	strong     atkKey // a native key with every permission
	restricted atkKey // a native account key: some permissions, allowedIps 127.0.0.0/8, an expiry, a rate limit
	child      atkKey // made by restricted, narrower still
	restrApp   atkKey // a native key of app X, restricted like restricted
	appX       atkKey // a Sunshine app key of app X
	appY       atkKey // a Sunshine app key of app Y
	intX1      atkKey // a Sunshine integration key of integration I1 of app X
	intX2      atkKey // ... of integration I2 of app X
	intY1      atkKey // ... of integration IY of app Y
	pk         atkKey // a Rebilly publishable key of the account
	pkApp      atkKey // a native publishable key of app X, every permission
	fenced     atkKey // a native key with every permission, usable only from 203.0.113.7

	appIDX, appIDY, intI1, intI2, intIY string

	// Account B: the attacker's own account.
	bAdmin, bApp, bInt atkKey
	appIDZ, intIZ      string

	mu     sync.Mutex
	counts map[string]int
}

// Ids that are well formed and name nothing, for the probing checks.
const (
	absentApp    = "0123456789abcdef01234567"
	absentIntegr = "89abcdef0123456789abcdef"
	absentKey    = "key_00000000000000000000000000"
	absentAppKey = "app_0123456789abcdef01234567"
	absentIntKey = "int_0123456789abcdef01234567"
)

// Permissions of the restricted keys: every management operation of every
// surface but creating or changing apps, and one permission of the
// customer's API, so that each escalation below is refused by the
// no-widening and no-reaching-up rules, not by a missing permission.
var restrictedPermissions = []string{
	"ListApps", "GetApp", "DeleteApp",
	"CreateKey", "ListKeys", "GetKey", "UpdateKey", "DeleteKey", "RollKey", "GetKeyUsage",
	"GetApiKeyCollection", "PostApiKey", "GetApiKey", "PutApiKey", "DeleteApiKey",
	"CreateAppKey", "ListAppKeys", "GetAppKey", "DeleteAppKey",
	"ListIntegrations", "GetIntegration", "DeleteIntegration",
	"CreateCustomIntegrationKey", "ListCustomIntegrationKeys", "GetCustomIntegrationKey", "DeleteCustomIntegrationKey",
	"orders.read",
}

var restrictedExpiry = time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)

func newWorld(t *testing.T) *world {
	t.Helper()
	s := lktest.NewWithConfig(t, attackConfig())
	w := &world{Stack: s, dump: lktest.NewStateDumper(t, s.DBPath), addr: s.Server.Listener.Addr().String(), counts: map[string]int{}}
	w.admin = atkKey{"admin A", s.Account.ID, s.Account.Secret, "account"}

	w.appIDX = w.nativeApp(t, w.admin, "X")
	w.appIDY = w.nativeApp(t, w.admin, "Y")
	w.intI1 = w.sunshineIntegration(t, w.admin, w.appIDX)
	w.intI2 = w.sunshineIntegration(t, w.admin, w.appIDX)
	w.intIY = w.sunshineIntegration(t, w.admin, w.appIDY)
	w.appX = w.sunshineKey(t, w.admin, "/v2/apps/"+w.appIDX+"/keys", "app")
	w.appY = w.sunshineKey(t, w.admin, "/v2/apps/"+w.appIDY+"/keys", "app")
	w.intX1 = w.sunshineKey(t, w.admin, "/v2/apps/"+w.appIDX+"/integrations/"+w.intI1+"/keys", "integration")
	w.intX2 = w.sunshineKey(t, w.admin, "/v2/apps/"+w.appIDX+"/integrations/"+w.intI2+"/keys", "integration")
	w.intY1 = w.sunshineKey(t, w.admin, "/v2/apps/"+w.appIDY+"/integrations/"+w.intIY+"/keys", "integration")

	perms, _ := json.Marshal(restrictedPermissions)
	policy := `"permissions":` + string(perms) + `,"allowedIps":["127.0.0.0/8"],"expiresAt":"` +
		restrictedExpiry.Format(time.RFC3339) + `","rateLimit":{"limit":1000000,"period":"1s"}`
	w.strong = w.nativeKey(t, w.admin, `{"name":"strong","permissions":["*"]}`, "account")
	w.restricted = w.nativeKey(t, w.admin, `{"name":"restricted",`+policy+`}`, "account")
	w.child = w.nativeKey(t, w.restricted, `{"name":"child","permissions":["GetKey","orders.read"]}`, "account")
	w.restrApp = w.nativeKey(t, w.admin, `{"name":"restricted app key","owner":{"type":"app","id":"`+w.appIDX+`"},`+policy+`}`, "app")
	w.pkApp = w.nativeKey(t, w.admin, `{"name":"pk app","type":"publishable","owner":{"type":"app","id":"`+w.appIDX+`"},"permissions":["*"]}`, "app")
	w.fenced = w.nativeKey(t, w.admin, `{"name":"fenced","permissions":["*"],"allowedIps":["203.0.113.7"]}`, "account")
	w.pk = w.rebillyKey(t, w.admin, `{"description":"pk","type":"publishable"}`)

	// Account B.
	_, bKey, err := s.Svc.Bootstrap(t.Context(), "Attacker")
	if err != nil {
		t.Fatal(err)
	}
	w.bAdmin = atkKey{"admin B", bKey.ID, bKey.Secrets[0].Plain, "account"}
	w.appIDZ = w.nativeApp(t, w.bAdmin, "Z")
	w.intIZ = w.sunshineIntegration(t, w.bAdmin, w.appIDZ)
	w.bApp = w.sunshineKey(t, w.bAdmin, "/v2/apps/"+w.appIDZ+"/keys", "app")
	w.bInt = w.sunshineKey(t, w.bAdmin, "/v2/apps/"+w.appIDZ+"/integrations/"+w.intIZ+"/keys", "integration")
	return w
}

// secrets are the secrets of every key of the world.
func (w *world) secrets() []atkKey {
	return []atkKey{w.admin, w.strong, w.restricted, w.child, w.restrApp, w.appX, w.appY, w.intX1, w.intX2, w.intY1,
		w.pk, w.pkApp, w.fenced, w.bAdmin, w.bApp, w.bInt}
}

// setup sends a request with the given key as Bearer secret and decodes the
// answer, failing unless it has status want.
func (w *world) setup(t *testing.T, k atkKey, method, path, body string, want int, out any) {
	t.Helper()
	r := w.send(t, atkRequest{Method: method, Path: path, Body: body, Headers: []header{{"Authorization", "Bearer " + k.secret}}})
	if r.Status != want {
		t.Fatalf("setup %s %s %s: %d, want %d: %s", method, path, body, r.Status, want, r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("setup %s %s: %v: %s", method, path, err, r.Body)
		}
	}
}

func (w *world) nativeApp(t *testing.T, k atkKey, name string) string {
	var a struct{ ID string }
	w.setup(t, k, "POST", "/v1/apps", `{"name":"`+name+`"}`, http.StatusCreated, &a)
	return a.ID
}

func (w *world) sunshineIntegration(t *testing.T, k atkKey, app string) string {
	var out struct{ Integration struct{ ID string } }
	w.setup(t, k, "POST", "/v2/apps/"+app+"/integrations",
		`{"type":"custom","webhooks":[{"target":"https://example.com/cb","triggers":["conversation:message"]}]}`, http.StatusCreated, &out)
	return out.Integration.ID
}

func (w *world) sunshineKey(t *testing.T, k atkKey, path, scope string) atkKey {
	var out struct{ Key struct{ ID, Secret string } }
	w.setup(t, k, "POST", path, `{"displayName":"`+scope+` key"}`, http.StatusCreated, &out)
	return atkKey{scope + " key " + out.Key.ID, out.Key.ID, out.Key.Secret, scope}
}

func (w *world) nativeKey(t *testing.T, k atkKey, body, scope string) atkKey {
	var out struct{ ID, Name, Secret string }
	w.setup(t, k, "POST", "/v1/keys", body, http.StatusCreated, &out)
	return atkKey{out.Name, out.ID, out.Secret, scope}
}

func (w *world) rebillyKey(t *testing.T, k atkKey, body string) atkKey {
	var out struct{ ID, Description, SecretKey string }
	w.setup(t, k, "POST", "/api-keys", body, http.StatusCreated, &out)
	return atkKey{out.Description, out.ID, out.SecretKey, "account"}
}

// send writes req on a connection of its own, header lines exactly as
// given, and reads the answer.
func (w *world) send(t testing.TB, req atkRequest) atkResponse {
	t.Helper()
	return lktest.SendRaw(t, w.addr, "", req)
}

// attack is one case: a request that must be refused with one of want,
// carrying the error code code if set, and change nothing.
type attack struct {
	category, name string
	req            atkRequest
	want           []int
	code           string
	// attacker is the key whose secret the answer may carry (none may
	// carry another's).
	attacker atkKey
}

// run sends the attack and checks its refusal; it returns the answer.
func (w *world) run(t *testing.T, a attack) atkResponse {
	t.Helper()
	before := w.dump.Dump(t)
	r := w.send(t, a.req)
	after := w.dump.Dump(t)
	w.mu.Lock()
	w.counts[a.category]++
	w.mu.Unlock()
	what := fmt.Sprintf("[%s] %s: %s %s", a.category, a.name, a.req.Method, a.req.Path)
	if before != after {
		t.Errorf("VULNERABLE? %s changed the store (answered %d %s):\n%s", what, r.Status, r.Body, lktest.StateDiff(before, after))
	}
	if !slices.Contains(a.want, r.Status) {
		t.Errorf("%s: %d, want %v: %s", what, r.Status, a.want, r.Body)
		return r
	}
	lktest.CheckRefusal(t, what, a.req.Path, r, a.code)
	w.checkNoLeak(t, what, r, a.attacker)
	return r
}

// visibleTo lists the keys whose secrets a key may see: its own, and those
// of keys within its owner whose rights lie within its own (README, "No
// reaching up").
func (w *world) visibleTo(k atkKey) []atkKey {
	switch k.id {
	case w.restricted.id:
		return []atkKey{w.restricted, w.child, w.restrApp} // its child, and a key with its very rights in app X
	case w.appX.id:
		return []atkKey{w.appX, w.restrApp, w.pkApp, w.intX1, w.intX2}
	}
	return []atkKey{k}
}

// checkNoLeak fails if the answer carries the secret of a key the attacker
// may not see.
func (w *world) checkNoLeak(t *testing.T, what string, r atkResponse, attacker atkKey) {
	t.Helper()
	visible := w.visibleTo(attacker)
	for _, k := range w.secrets() {
		if k.secret != "" && !slices.Contains(visible, k) && strings.Contains(string(r.Body), k.secret) {
			t.Errorf("VULNERABLE: %s: the answer carries the secret of %s", what, k.name)
		}
	}
}

// withCred returns the request with k's credential in form f added.
func withCred(req atkRequest, f credForm, k atkKey) atkRequest {
	req.Headers = append(slices.Clone(req.Headers), f.lines(k)...)
	return req
}

// route is one management route, with a body that would be accepted from
// a key allowed to call it. Placeholders: {app} {int} {appKey} {intKey}
// {key} (a native key of the account) {rkey} (a key the Rebilly root
// routes address).
type route struct {
	method, path, body string
}

var managementRoutes = []route{
	{"POST", "/v2/apps", `{"displayName":"evil"}`},
	{"GET", "/v2/apps", ""},
	{"GET", "/v2/apps/{app}", ""},
	{"PATCH", "/v2/apps/{app}", `{"displayName":"evil"}`},
	{"DELETE", "/v2/apps/{app}", ""},
	{"POST", "/v2/apps/{app}/keys", `{"displayName":"evil"}`},
	{"GET", "/v2/apps/{app}/keys", ""},
	{"GET", "/v2/apps/{app}/keys/{appKey}", ""},
	{"DELETE", "/v2/apps/{app}/keys/{appKey}", ""},
	{"POST", "/v2/apps/{app}/integrations", `{"type":"custom","webhooks":[{"target":"https://evil.example/cb","triggers":["conversation:message"]}]}`},
	{"GET", "/v2/apps/{app}/integrations", ""},
	{"GET", "/v2/apps/{app}/integrations/{int}", ""},
	{"PATCH", "/v2/apps/{app}/integrations/{int}", `{"displayName":"evil"}`},
	{"DELETE", "/v2/apps/{app}/integrations/{int}", ""},
	{"POST", "/v2/apps/{app}/integrations/{int}/keys", `{"displayName":"evil"}`},
	{"GET", "/v2/apps/{app}/integrations/{int}/keys", ""},
	{"GET", "/v2/apps/{app}/integrations/{int}/keys/{intKey}", ""},
	{"DELETE", "/v2/apps/{app}/integrations/{int}/keys/{intKey}", ""},

	{"GET", "/api-keys", ""},
	{"POST", "/api-keys", `{"description":"evil"}`},
	{"POST", "/api-keys/", `{"description":"evil"}`},
	{"GET", "/api-keys/{key}", ""},
	{"PUT", "/api-keys/{key}", `{"description":"evil"}`},
	{"PUT", "/api-keys/evil-new-id", `{"description":"evil"}`},
	{"DELETE", "/api-keys/{key}", ""},
	{"GET", "/organizations/{app}/api-keys", ""},
	{"POST", "/organizations/{app}/api-keys", `{"description":"evil"}`},
	{"GET", "/organizations/{app}/api-keys/{appKey}", ""},
	{"PUT", "/organizations/{app}/api-keys/{appKey}", `{"description":"evil"}`},
	{"PUT", "/organizations/{app}/api-keys/evil-org-id", `{"description":"evil"}`},
	{"DELETE", "/organizations/{app}/api-keys/{appKey}", ""},

	{"POST", "/v1/apps", `{"name":"evil"}`},
	{"GET", "/v1/apps", ""},
	{"GET", "/v1/apps/{app}", ""},
	{"PATCH", "/v1/apps/{app}", `{"name":"evil"}`},
	{"DELETE", "/v1/apps/{app}", ""},
	{"POST", "/v1/keys", `{"name":"evil","permissions":["*"]}`},
	{"POST", "/v1/keys", `{"name":"evil","owner":{"type":"app","id":"{app}"},"permissions":["*"]}`},
	{"GET", "/v1/keys", ""},
	{"GET", "/v1/keys?ownerType=app&ownerId={app}", ""},
	{"GET", "/v1/keys/{key}", ""},
	{"PATCH", "/v1/keys/{key}", `{"name":"evil"}`},
	{"DELETE", "/v1/keys/{key}", ""},
	{"POST", "/v1/keys/{key}/roll", `{"gracePeriod":"720h"}`},
	{"GET", "/v1/keys/{key}/usage", ""},
	{"GET", "/v1/keys/{appKey}", ""},
	{"PATCH", "/v1/keys/{appKey}", `{"name":"evil"}`},
	{"DELETE", "/v1/keys/{intKey}", ""},
	{"POST", "/v1/keys/{intKey}/roll", ""},
	{"GET", "/v1/whoami", ""},
	{"POST", "/v1/verify", `{"key":"{victimSecret}"}`},
}

// namesAccount reports whether a route addresses resources of the account
// by id: the ones another account's key must not reach. (The others act on
// the caller's own account.)
func (rt route) namesAccount() bool {
	return placeholder.MatchString(rt.path + rt.body)
}

var placeholder = regexp.MustCompile(`\{[a-zA-Z]+\}`)

// fill substitutes the placeholders.
func (rt route) fill(vals map[string]string) atkRequest {
	rep := make([]string, 0, 2*len(vals))
	for k, v := range vals {
		rep = append(rep, "{"+k+"}", v)
	}
	rp := strings.NewReplacer(rep...)
	return atkRequest{Method: rt.method, Path: rp.Replace(rt.path), Body: rp.Replace(rt.body)}
}

// victimIDs are account A's ids for the placeholders; absentIDs are well
// formed ids that name nothing.
func (w *world) victimIDs() map[string]string {
	return map[string]string{"app": w.appIDX, "int": w.intI1, "appKey": w.appX.id, "intKey": w.intX1.id,
		"key": w.strong.id, "victimSecret": w.strong.secret}
}

func absentIDs() map[string]string {
	return map[string]string{"app": absentApp, "int": absentIntegr, "appKey": absentAppKey, "intKey": absentIntKey,
		"key": absentKey, "victimSecret": "sk_live_" + strings.Repeat("A", 49)}
}

// counted logs how many cases of each category ran.
func (w *world) logCounts(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var names []string
	total := 0
	for k, n := range w.counts {
		names = append(names, fmt.Sprintf("%s: %d", k, n))
		total += n
	}
	slices.Sort(names)
	t.Logf("attack cases run: %d (%s)", total, strings.Join(names, "; "))
}

// TestAttacks runs every category against one world.
func TestAttacks(t *testing.T) {
	w := newWorld(t)
	start := time.Now()
	t.Run("forged JWTs", func(t *testing.T) { w.forgedJWTs(t) })
	t.Run("mixed credentials", func(t *testing.T) { w.mixedCredentials(t) })
	t.Run("publishable keys", func(t *testing.T) { w.publishableKeys(t) })
	t.Run("cross-account", func(t *testing.T) { w.crossAccount(t) })
	t.Run("cross-app", func(t *testing.T) { w.crossApp(t) })
	t.Run("scope escalation", func(t *testing.T) { w.escalation(t) })
	t.Run("forwarded headers, direct", func(t *testing.T) { w.spoofDirect(t) })
	t.Run("duplicate credentials", func(t *testing.T) { w.duplicates(t) })
	w.logCounts(t)
	t.Logf("in %v", time.Since(start).Round(time.Millisecond))
}

// ---------------------------------------------------------------------------
// Forged JWTs

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// unsigned is header.payload.
func unsigned(header, payload any) string {
	return lktest.JWTPart(header) + "." + lktest.JWTPart(payload)
}

// signHS256 signs with HMAC-SHA256 under any key, empty included, whatever
// the header's alg says.
var signHS256 = lktest.SignHS256

// caseVariants returns every upper/lower case spelling of s.
func caseVariants(s string) []string {
	out := []string{""}
	for _, c := range s {
		var next []string
		for _, p := range out {
			lo, up := strings.ToLower(string(c)), strings.ToUpper(string(c))
			next = append(next, p+lo)
			if up != lo {
				next = append(next, p+up)
			}
		}
		out = next
	}
	return out
}

type forgedToken struct{ name, token string }

// forgedTokens are tokens an attacker without the victim's secret could
// make, and tokens that the holder of a secret must not get accepted
// (expired, not yet valid, claiming another scope, another algorithm).
func (w *world) forgedTokens(t *testing.T) []forgedToken {
	now := time.Now()
	victim := w.admin
	hdr := func(alg string, kid any) map[string]any {
		h := map[string]any{"alg": alg, "typ": "JWT"}
		if kid != nil {
			h["kid"] = kid
		}
		return h
	}
	claims := func(extra ...any) map[string]any {
		c := map[string]any{"scope": "account", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == nil {
				delete(c, extra[i].(string))
			} else {
				c[extra[i].(string)] = extra[i+1]
			}
		}
		return c
	}
	var out []forgedToken
	add := func(name, tok string) { out = append(out, forgedToken{name, tok}) }

	// alg none, in every case spelling, with and without the final dot, and
	// with a signature made with the real secret (which must not make
	// "none" acceptable either).
	for _, alg := range caseVariants("none") {
		add("alg "+alg+", empty signature", unsigned(hdr(alg, victim.id), claims())+".")
		add("alg "+alg+", no signature part", unsigned(hdr(alg, victim.id), claims()))
	}
	add("alg none with a valid HMAC", signHS256(hdr("none", victim.id), claims(), []byte(victim.secret)))
	add("alg missing", signHS256(map[string]any{"typ": "JWT", "kid": victim.id}, claims(), []byte(victim.secret)))
	add("alg empty", signHS256(hdr("", victim.id), claims(), []byte(victim.secret)))

	// Asymmetric algorithms, and HS256 signed with something public.
	rsaKey, ecKey, edKey := attackerKeys()
	sign := func(m jwt.SigningMethod, key any, h map[string]any) string {
		tok := jwt.NewWithClaims(m, jwt.MapClaims(claims()))
		for k, v := range h {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatalf("sign %s: %v", m.Alg(), err)
		}
		return s
	}
	kid := map[string]any{"kid": victim.id}
	add("RS256", sign(jwt.SigningMethodRS256, rsaKey, kid))
	add("PS256", sign(jwt.SigningMethodPS256, rsaKey, kid))
	add("ES256", sign(jwt.SigningMethodES256, ecKey, kid))
	add("EdDSA", sign(jwt.SigningMethodEdDSA, edKey, kid))
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	n := rsaKey.PublicKey.N.Bytes()
	add("RS256 with the attacker's key embedded (jwk)", sign(jwt.SigningMethodRS256, rsaKey, map[string]any{"kid": victim.id,
		"jwk": map[string]any{"kty": "RSA", "n": b64url(n), "e": "AQAB"}}))
	add("RS256 with a jku", sign(jwt.SigningMethodRS256, rsaKey, map[string]any{"kid": victim.id, "jku": "https://evil.example/jwks.json"}))
	for _, pub := range []struct {
		name string
		key  []byte
	}{
		{"an RSA public key (PEM)", pubPEM},
		{"an RSA public key (DER)", pubDER},
		{"the key id", []byte(victim.id)},
		{"the account id", []byte(w.Account.AccountID)},
		{"an empty key", nil},
		{"the secret prefix", []byte("sk_live_")},
		{"the word secret", []byte("secret")},
	} {
		add("HS256 signed with "+pub.name, signHS256(hdr("HS256", victim.id), claims(), pub.key))
	}
	// Other algorithms, even with the real secret: HS256 only.
	add("HS384 with the real secret", sign(jwt.SigningMethodHS384, []byte(victim.secret), kid))
	add("HS512 with the real secret", sign(jwt.SigningMethodHS512, []byte(victim.secret), kid))
	add("alg hs256 (lower case) with the real secret", signHS256(hdr("hs256", victim.id), claims(), []byte(victim.secret)))

	// kid injection, signed with the attacker's own secret (account B).
	attackerSecret := []byte(w.bAdmin.secret)
	for _, k := range []struct {
		name string
		kid  any
	}{
		{"SQL", "' OR '1'='1"},
		{"SQL with the victim's id", victim.id + "' OR 1=1 --"},
		{"SQL union", "x' UNION SELECT id FROM keys --"},
		{"SQL drop", "x'; DROP TABLE keys; --"},
		{"path traversal", "../../../../../../etc/passwd"},
		{"path to the master key", "../master.key"},
		{"absolute path", "/dev/null"},
		{"NUL byte", victim.id + "\x00"},
		{"percent-encoded NUL", victim.id + "%00"},
		{"wildcard", "%"},
		{"the victim's id in upper case", strings.ToUpper(victim.id)},
		{"the victim's id with a space", victim.id + " "},
		{"a very long id", strings.Repeat("A", 5000)},
		{"another key's id (B's app key)", w.bApp.id},
		{"another key's id (A's app key)", w.appX.id},
		{"an unknown id", "act_ffffffffffffffffffffffff"},
		{"empty", ""},
		{"a number", 123},
		{"null", "null-literal"},
		{"true", true},
		{"an array", []any{victim.id}},
		{"an object", map[string]any{"id": victim.id}},
	} {
		h := hdr("HS256", k.kid)
		if k.kid == "null-literal" {
			h["kid"] = nil
		}
		add("kid "+k.name, signHS256(h, claims(), attackerSecret))
	}
	add("no kid", signHS256(hdr("HS256", nil), claims(), attackerSecret))
	add("kid of the victim, signed by the attacker", signHS256(hdr("HS256", victim.id), claims(), attackerSecret))

	// A valid token, stripped of its signature.
	valid := signHS256(hdr("HS256", victim.id), claims(), []byte(victim.secret))
	stripped := valid[:strings.LastIndexByte(valid, '.')]
	add("stripped signature (header.payload.)", stripped+".")
	add("stripped signature (header.payload)", stripped)
	add("signature of another token", stripped+valid[strings.LastIndexByte(signHS256(hdr("HS256", victim.id), claims("scope", "app"), []byte(victim.secret)), '.'):])
	add("payload swapped under a valid signature", unsigned(hdr("HS256", victim.id), claims("scope", "account", "admin", true))+valid[strings.LastIndexByte(valid, '.'):])

	// Another key's signature: signed with key B's secret, kid of key A.
	add("signed with A's app key secret, kid of A's account key", signHS256(hdr("HS256", victim.id), claims(), []byte(w.appX.secret)))
	add("signed with the restricted key's secret, kid of A's account key", signHS256(hdr("HS256", victim.id), claims(), []byte(w.restricted.secret)))
	add("signed with B's account key secret, kid of A's account key", signHS256(hdr("HS256", victim.id), claims(), []byte(w.bAdmin.secret)))
	add("signed with a publishable key's secret, kid of A's account key", signHS256(hdr("HS256", victim.id), claims(), []byte(w.pk.secret)))

	// Lifetime, with the real secret.
	for _, d := range []time.Duration{-(auth.JWTLeeway + 5*time.Second), -2 * time.Minute, -time.Hour, -365 * 24 * time.Hour} {
		add(fmt.Sprintf("exp %v ago", -d), signHS256(hdr("HS256", victim.id), claims("exp", now.Add(d).Unix()), []byte(victim.secret)))
	}
	for _, d := range []time.Duration{auth.JWTLeeway + 5*time.Second, 2 * time.Minute, time.Hour} {
		add(fmt.Sprintf("nbf in %v", d), signHS256(hdr("HS256", victim.id), claims("nbf", now.Add(d).Unix()), []byte(victim.secret)))
	}
	add("exp not a number", signHS256(hdr("HS256", victim.id), claims("exp", "tomorrow"), []byte(victim.secret)))

	// Wrong scope claim, with the real secret.
	for _, sc := range []any{"app", "integration", "", "Account", "ACCOUNT", "account ", " account", []any{"account"}, 1, true, map[string]any{"scope": "account"}} {
		add(fmt.Sprintf("scope %#v", sc), signHS256(hdr("HS256", victim.id), claims("scope", sc), []byte(victim.secret)))
	}
	add("no scope", signHS256(hdr("HS256", victim.id), claims("scope", nil), []byte(victim.secret)))
	// Scope escalation through the claim: weaker keys claiming a wider scope.
	add("A's app key claiming scope account", signHS256(hdr("HS256", w.appX.id), claims("scope", "account"), []byte(w.appX.secret)))
	add("A's integration key claiming scope app", signHS256(hdr("HS256", w.intX1.id), claims("scope", "app"), []byte(w.intX1.secret)))
	add("A's integration key claiming scope account", signHS256(hdr("HS256", w.intX1.id), claims("scope", "account"), []byte(w.intX1.secret)))

	// Malformed.
	add("four parts", valid+".x")
	add("garbage", "a.b.c")
	add("header not JSON", b64url([]byte("not json"))+"."+lktest.JWTPart(claims())+".x")
	return out
}

// jwtTargets are the routes a forged token is tried on: a mutating and a
// reading route of each surface, authorize and verify.
var jwtTargets = []route{
	{"POST", "/v2/apps", `{"displayName":"evil"}`},
	{"GET", "/v2/apps/{app}/keys", ""},
	{"POST", "/api-keys", `{"description":"evil"}`},
	{"DELETE", "/api-keys/{key}", ""},
	{"POST", "/v1/keys", `{"name":"evil","permissions":["*"]}`},
	{"PATCH", "/v1/keys/{key}", `{"name":"evil"}`},
	{"GET", "/v1/whoami", ""},
	{"POST", "/v1/verify", `{"key":"{victimSecret}"}`},
	{"GET", "/v1/authorize", ""},
	{"GET", "/v1/authorize?gateway=nginx", ""},
}

// attackerKeys are the attacker's own asymmetric keys, made once.
func attackerKeys() (*rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey) {
	k := attackerKeyset()
	return k.rsa, k.ec, k.ed
}

var attackerKeyset = sync.OnceValue(func() (k struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	ed  ed25519.PrivateKey
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	k.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
	return k
})

func (w *world) forgedJWTs(t *testing.T) {
	// The tokens carry times just beyond the leeway, so they are made
	// afresh every second: a slow run must not age a token made "not
	// before now+35s" into one that is valid.
	tokens, made := w.forgedTokens(t), time.Now()
	for i := range tokens {
		if time.Since(made) > time.Second {
			tokens, made = w.forgedTokens(t), time.Now()
		}
		tok := tokens[i]
		for _, rt := range jwtTargets {
			req := rt.fill(w.victimIDs())
			req.Headers = []header{{"Authorization", "Bearer " + tok.token}}
			w.run(t, attack{category: "forged JWT", name: tok.name, req: req, want: []int{401}, code: "unauthorized"})
		}
		// Presented to the verify API by a legitimate caller: not VALID.
		r := w.send(t, atkRequest{Method: "POST", Path: "/v1/verify", Body: `{"key":` + quote(tok.token) + `}`,
			Headers: []header{{"Authorization", "Bearer " + w.admin.secret}}})
		w.mu.Lock()
		w.counts["forged JWT"]++
		w.mu.Unlock()
		var v struct {
			Valid bool
			Code  string
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &v) != nil || v.Valid || v.Code == "VALID" {
			t.Errorf("VULNERABLE? verify of forged JWT %q: %d %s", tok.name, r.Status, r.Body)
		}
	}
}

// mixedCredentials: Basic with one key's id and another's secret, for
// every pair of a victim and the keys an attacker could hold (its own, a
// weaker key of the victim's account, a publishable key).
func (w *world) mixedCredentials(t *testing.T) {
	for _, victim := range []atkKey{w.admin, w.strong, w.appX} {
		for _, held := range []atkKey{w.bAdmin, w.bApp, w.restricted, w.child, w.intX1, w.pk, w.appY} {
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(victim.id+":"+held.secret))
			for _, rt := range jwtTargets {
				req := rt.fill(w.victimIDs())
				req.Headers = []header{{"Authorization", basic}}
				w.run(t, attack{category: "mixed credentials", name: "Basic " + victim.name + " id with the secret of " + held.name,
					req: req, want: []int{401}, code: "unauthorized", attacker: held})
			}
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ---------------------------------------------------------------------------
// Publishable keys: 401 on every management route, in every form.

func (w *world) publishableKeys(t *testing.T) {
	for _, pk := range []atkKey{w.pk, w.pkApp} {
		for _, f := range atkForms {
			for _, rt := range managementRoutes {
				req := withCred(rt.fill(w.victimIDs()), f, pk)
				w.run(t, attack{category: "publishable key", name: pk.name + " as " + f.name, req: req,
					want: []int{401}, code: "unauthorized", attacker: pk})
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Cross-account and cross-app access.

// crossAccountWant is what another account's key gets on a route naming
// account A's resources, as the README documents it. An account key gets
// 404: Sunshine's app_not_found ("so ids of other tenants cannot be
// probed"), the native not_found ("another account's id"), Rebilly's Not
// Found ("an unknown key or organization"), except that Rebilly's PUT of a
// key id that a key of another account holds is 409 ("an id taken by a key
// the caller cannot see"). App and integration keys get 403 on every
// surface: they are refused on any app or key beyond their own before
// anything is looked up, so that answer too is the same for every id;
// but the native routes of one key answer 404 to any key beyond its owner.
// (crossAccount checks both: the answer for A's ids is the answer for ids
// that name nothing.)
func crossAccountWant(rt route, attacker atkKey) ([]int, string) {
	surface := lktest.SurfaceOf(rt.path)
	switch {
	case strings.HasPrefix(rt.path, "/v1/keys/"):
		return []int{404}, "not_found" // for any key: a key beyond its owner is not found
	case attacker.scope != "account":
		return []int{403}, map[string]string{"sunshine": "forbidden", "native": "forbidden"}[surface]
	case surface == "sunshine":
		return []int{404}, "app_not_found"
	case surface == "rebilly" && rt.method == "PUT" && strings.HasPrefix(rt.path, "/api-keys/"):
		return []int{409}, ""
	case surface == "rebilly":
		return []int{404}, ""
	}
	return []int{404}, "not_found"
}

func (w *world) crossAccount(t *testing.T) {
	for _, attacker := range []atkKey{w.bAdmin, w.bApp, w.bInt} {
		for _, f := range atkForms {
			for _, rt := range managementRoutes {
				if !rt.namesAccount() {
					continue
				}
				want, code := crossAccountWant(rt, attacker)
				name := attacker.name + " as " + f.name
				if rt.path == "/v1/verify" {
					// B's key verifying A's secret: the caller is allowed
					// to verify (or not), but never learns of A's key.
					w.crossVerify(t, name, withCred(rt.fill(w.victimIDs()), f, attacker), attacker)
					continue
				}
				r := w.run(t, attack{category: "cross-account", name: name, req: withCred(rt.fill(w.victimIDs()), f, attacker),
					want: want, code: code, attacker: attacker})
				// No probing: the answer for A's ids is the answer for ids
				// that name nothing. (Not for PUT: Rebilly's PUT of a free
				// id creates the key, and of an id taken anywhere answers
				// 409, as documented: key ids are unique server-wide, and
				// ULIDs cannot be guessed.)
				if rt.method == "PUT" {
					continue
				}
				before := w.dump.Dump(t)
				absent := w.send(t, withCred(rt.fill(absentIDs()), f, attacker))
				if after := w.dump.Dump(t); after != before {
					t.Errorf("%s %s %s as %s with ids that name nothing changed the store:\n%s", rt.method, rt.path, rt.body, name, lktest.StateDiff(before, after))
				}
				if absent.Status != r.Status || errorCode(absent.Body) != errorCode(r.Body) {
					t.Errorf("PROBE: %s %s %s as %s: %d %s for account A's ids, %d %s for ids that name nothing",
						rt.method, rt.path, rt.body, name, r.Status, r.Body, absent.Status, absent.Body)
				}
			}
		}
	}
}

// crossVerify checks that verifying another account's secret says nothing
// about it.
func (w *world) crossVerify(t *testing.T, name string, req atkRequest, attacker atkKey) {
	t.Helper()
	before := w.dump.Dump(t)
	r := w.send(t, req)
	if after := w.dump.Dump(t); before != after {
		t.Errorf("VULNERABLE? verify by %s changed the store:\n%s", name, lktest.StateDiff(before, after))
	}
	w.mu.Lock()
	w.counts["cross-account"]++
	w.mu.Unlock()
	if r.Status == http.StatusOK {
		var v map[string]any
		if json.Unmarshal(r.Body, &v) != nil || v["valid"] != false || v["code"] != "NOT_FOUND" || len(v) != 2 {
			t.Errorf("VULNERABLE: %s verifies account A's key: %s", name, r.Body)
		}
		return
	}
	if r.Status != http.StatusForbidden {
		t.Errorf("verify by %s: %d %s", name, r.Status, r.Body)
	}
	lktest.CheckRefusal(t, "verify by "+name, req.Path, r, "")
	w.checkNoLeak(t, "verify by "+name, r, attacker)
}

// errorCode is the error code of a body in any surface's format (the
// Rebilly problem's status), for comparing two refusals.
func errorCode(body []byte) string {
	var b struct {
		Errors []struct{ Code string }
		Error  struct{ Code string }
		Status int
		Title  string
	}
	json.Unmarshal(body, &b)
	switch {
	case len(b.Errors) > 0:
		return b.Errors[0].Code
	case b.Error.Code != "":
		return b.Error.Code
	}
	return fmt.Sprint(b.Status, b.Title)
}

// crossApp: app X's keys on app Y, integration I1's key on I2 and on its
// app, and app and integration keys on account-level resources. All are
// refused; Sunshine says 403.
func (w *world) crossApp(t *testing.T) {
	yIDs := map[string]string{"app": w.appIDY, "int": w.intIY, "appKey": w.appY.id, "intKey": w.intY1.id,
		"key": w.strong.id, "victimSecret": w.appY.secret}
	x2IDs := map[string]string{"app": w.appIDX, "int": w.intI2, "appKey": w.appX.id, "intKey": w.intX2.id,
		"key": w.strong.id, "victimSecret": w.intX2.secret}
	for _, c := range []struct {
		attacker atkKey
		ids      map[string]string
	}{
		{w.appX, yIDs},           // app X's key on app Y (and on account keys)
		{w.restrApp, yIDs},       // a restricted app key of X on Y
		{w.intX1, x2IDs},         // integration I1's key on I2, on its own app X, on account keys
		{w.intX1, w.victimIDs()}, // on its own integration: integration keys are admitted nowhere in Sunshine
	} {
		for _, f := range atkForms {
			for _, rt := range managementRoutes {
				if !rt.namesAccount() {
					continue
				}
				req := withCred(rt.fill(c.ids), f, c.attacker)
				name := c.attacker.name + " as " + f.name
				if rt.path == "/v1/verify" {
					// A key without VerifyKey cannot verify; one with it
					// sees only keys within its own owner.
					w.crossVerify(t, name, req, c.attacker)
					continue
				}
				if c.attacker == w.intX1 && c.ids["int"] == w.intI1 && lktest.SurfaceOf(rt.path) != "sunshine" {
					continue // its own integration on the other surfaces: some are allowed
				}
				want, code := []int{403, 404}, ""
				if lktest.SurfaceOf(rt.path) == "sunshine" {
					want, code = []int{403}, "forbidden"
				}
				w.run(t, attack{category: "cross-app", name: name, req: req, want: want, code: code, attacker: c.attacker})
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Scope escalation: a restricted key trying to get beyond its rights.

func (w *world) escalation(t *testing.T) {
	later := restrictedExpiry.Add(time.Hour).Format(time.RFC3339)
	wide := `[{"scope":{},"permissions":["*"]}]`
	r, s := w.restricted, w.strong
	x := w.appIDX
	type esc struct {
		method, path, body string
	}
	cases := []esc{
		// Native: create beyond its own rights.
		{"POST", "/v1/keys", `{"name":"e","permissions":["*"]}`},
		{"POST", "/v1/keys", `{"name":"e","permissions":["orders.write"]}`},
		{"POST", "/v1/keys", `{"name":"e","permissions":["orders.*"]}`},
		{"POST", "/v1/keys", `{"name":"e","permissions":["CreateApp"]}`},
		{"POST", "/v1/keys", `{"name":"e","acl":[{"scope":{"organizationId":["` + x + `"]},"permissions":["UpdateApp"]}]}`},
		{"POST", "/v1/keys", `{"name":"e","permissions":["GetKey"],"allowedIps":["0.0.0.0/0"]}`},
		{"POST", "/v1/keys", `{"name":"e","permissions":["GetKey"],"allowedIps":["10.0.0.0/8"]}`},
		{"POST", "/v1/keys", `{"name":"e","permissions":["GetKey"],"allowedIps":["127.0.0.0/8","::1"]}`},
		{"POST", "/v1/keys", `{"name":"e","permissions":["GetKey"],"expiresAt":"` + later + `"}`},
		{"POST", "/v1/keys", `{"name":"e","permissions":["GetKey"],"rateLimit":{"limit":1000000000,"period":"1s"}}`},
		{"POST", "/v1/keys", `{"name":"e","owner":{"type":"app","id":"` + x + `"},"permissions":["*"]}`},
		// Native: widen itself.
		{"PATCH", "/v1/keys/" + r.id, `{"permissions":["*"]}`},
		{"PATCH", "/v1/keys/" + r.id, `{"permissions":["orders.write"]}`},
		{"PATCH", "/v1/keys/" + r.id, `{"acl":[{"scope":{"organizationId":["` + x + `"]},"permissions":["*"]}]}`},
		{"PATCH", "/v1/keys/" + r.id, `{"allowedIps":["0.0.0.0/0"]}`},
		{"PATCH", "/v1/keys/" + r.id, `{"expiresAt":"` + later + `"}`},
		{"PATCH", "/v1/keys/" + r.id, `{"rateLimit":{"limit":1000000000,"period":"1s"}}`},
		// Native: widen its child, or touch a stronger key.
		{"PATCH", "/v1/keys/" + w.child.id, `{"permissions":["*"]}`},
		{"PATCH", "/v1/keys/" + w.child.id, `{"allowedIps":["0.0.0.0/0"]}`},
		{"PATCH", "/v1/keys/" + s.id, `{"name":"renamed"}`},
		{"PATCH", "/v1/keys/" + s.id, `{"permissions":["GetKey"]}`},
		{"PATCH", "/v1/keys/" + s.id, `{"enabled":false}`},
		{"PATCH", "/v1/keys/" + w.admin.id, `{"enabled":false}`},
		{"PATCH", "/v1/keys/" + w.appX.id, `{"name":"renamed"}`},
		{"POST", "/v1/keys/" + s.id + "/roll", `{"gracePeriod":"720h"}`},
		{"POST", "/v1/keys/" + w.admin.id + "/roll", ""},
		{"POST", "/v1/keys/" + w.appX.id + "/roll", ""},
		{"DELETE", "/v1/keys/" + s.id, ""},
		{"DELETE", "/v1/keys/" + w.admin.id, ""},
		{"DELETE", "/v1/keys/" + w.intX1.id, ""},
		{"DELETE", "/v1/apps/" + x, ""}, // holds stronger keys
		// Rebilly: create, widen, reach up.
		{"POST", "/api-keys", `{"description":"e","acl":` + wide + `}`},
		{"POST", "/api-keys", `{"description":"e","acl":[{"scope":{},"permissions":["PostApiKey","CreateApp"]}]}`},
		{"POST", "/api-keys", `{"description":"e","allowedIps":["0.0.0.0/0"]}`},
		{"POST", "/api-keys", `{"description":"e","allowedIps":["10.1.2.3"]}`},
		{"PUT", "/api-keys/" + r.id, `{"description":"r","acl":` + wide + `}`},
		{"PUT", "/api-keys/" + r.id, `{"description":"r","allowedIps":["0.0.0.0/0"]}`},
		{"PUT", "/api-keys/" + w.child.id, `{"description":"c","acl":` + wide + `}`},
		{"PUT", "/api-keys/" + s.id, `{"description":"renamed"}`},
		{"PUT", "/api-keys/" + w.admin.id, `{"description":"renamed"}`},
		{"PUT", "/api-keys/escalated-new-key", `{"description":"e","acl":` + wide + `}`},
		{"PUT", "/api-keys/escalated-new-key", `{"description":"e","allowedIps":["0.0.0.0/0"]}`},
		{"DELETE", "/api-keys/" + s.id, ""},
		{"DELETE", "/api-keys/" + w.admin.id, ""},
		{"POST", "/organizations/" + x + "/api-keys", `{"description":"e","acl":` + wide + `}`},
		{"PUT", "/organizations/" + x + "/api-keys/" + w.appX.id, `{"description":"renamed"}`},
		{"PUT", "/organizations/" + x + "/api-keys/" + w.appX.id, `{"description":"renamed","acl":null,"allowedIps":null}`},
		{"DELETE", "/organizations/" + x + "/api-keys/" + w.appX.id, ""},
		// Sunshine: delete stronger keys, or what holds them.
		{"DELETE", "/v2/apps/" + x + "/keys/" + w.appX.id, ""},
		{"DELETE", "/v2/apps/" + x + "/integrations/" + w.intI1 + "/keys/" + w.intX1.id, ""},
		{"DELETE", "/v2/apps/" + x + "/integrations/" + w.intI1, ""},
		{"DELETE", "/v2/apps/" + x, ""},
	}
	for _, f := range atkForms {
		for _, c := range cases {
			req := withCred(atkRequest{Method: c.method, Path: c.path, Body: c.body}, f, r)
			w.run(t, attack{category: "scope escalation", name: r.name + " as " + f.name + " " + c.body, req: req,
				want: []int{403}, code: "forbidden", attacker: r})
		}
	}
	// The restricted app key: beyond its app, or beyond its rights in it.
	appCases := []esc{
		{"POST", "/v1/keys", `{"name":"e","owner":{"type":"account","id":"` + w.Account.AccountID + `"}}`},
		{"POST", "/v1/keys", `{"name":"e","owner":{"type":"app","id":"` + x + `"},"permissions":["*"]}`},
		{"PATCH", "/v1/keys/" + w.restrApp.id, `{"allowedIps":null,"permissions":["*"]}`},
		{"PATCH", "/v1/keys/" + w.appX.id, `{"name":"renamed"}`},
		{"DELETE", "/v1/keys/" + w.appX.id, ""},
		{"POST", "/organizations/" + x + "/api-keys", `{"description":"e","acl":` + wide + `}`},
		{"DELETE", "/organizations/" + x + "/api-keys/" + w.appX.id, ""},
		{"DELETE", "/v2/apps/" + x + "/integrations/" + w.intI1 + "/keys/" + w.intX1.id, ""},
		{"DELETE", "/v2/apps/" + x + "/integrations/" + w.intI1, ""},
	}
	for _, f := range atkForms {
		for _, c := range appCases {
			req := withCred(atkRequest{Method: c.method, Path: c.path, Body: c.body}, f, w.restrApp)
			w.run(t, attack{category: "scope escalation", name: w.restrApp.name + " as " + f.name + " " + c.body, req: req,
				want: []int{403, 404}, attacker: w.restrApp})
		}
	}

	// Reading a stronger key's secret: listed and got without it, on every
	// surface (run's leak check fails on any secret but the caller's own).
	reads := []string{
		"/v1/keys", "/v1/keys/" + s.id, "/v1/keys/" + w.appX.id, "/v1/keys?ownerType=app&ownerId=" + x,
		"/api-keys", "/api-keys/" + s.id, "/api-keys/" + w.admin.id, "/organizations/" + x + "/api-keys",
		"/organizations/" + x + "/api-keys/" + w.appX.id,
		"/v2/apps/" + x + "/keys", "/v2/apps/" + x + "/keys/" + w.appX.id,
		"/v2/apps/" + x + "/integrations/" + w.intI1 + "/keys", "/v2/apps/" + x + "/integrations/" + w.intI1 + "/keys/" + w.intX1.id,
	}
	for _, f := range atkForms {
		for _, path := range reads {
			req := withCred(atkRequest{Method: "GET", Path: path}, f, r)
			res := w.run(t, attack{category: "scope escalation (read)", name: r.name + " as " + f.name, req: req,
				want: []int{200}, attacker: r})
			if res.Status == http.StatusOK && strings.HasPrefix(path, "/v2/") && !strings.Contains(string(res.Body), `"secret":""`) {
				t.Errorf("%s %s: a stronger Sunshine key is shown without its empty secret: %s", f.name, path, res.Body)
			}
		}
	}

	// A policy left unset, or null, on a key the restricted keys make or
	// change, gives it their own restrictions (README, "No widening", and
	// PUT's and PATCH's null): such a request may succeed, but the key it
	// leaves must lie within the maker's rights. Made or changed here, then
	// read back with the admin key. Last, as they change the store.
	for _, c := range []struct {
		by                 atkKey
		method, path, body string
		target             string // the key changed; "" for the one made
	}{
		{r, "PUT", "/api-keys/" + r.id, `{"description":"r","acl":null}`, r.id},
		{r, "PUT", "/api-keys/" + r.id, `{"description":"r","allowedIps":null}`, r.id},
		{r, "PUT", "/api-keys/" + w.child.id, `{"description":"c","acl":null,"allowedIps":null}`, w.child.id},
		{r, "PATCH", "/v1/keys/" + w.child.id, `{"allowedIps":null,"expiresAt":null,"rateLimit":null}`, w.child.id},
		{w.restrApp, "PUT", "/organizations/" + x + "/api-keys/" + w.restrApp.id, `{"description":"e","acl":null,"allowedIps":null}`, w.restrApp.id},
		{w.restrApp, "PATCH", "/v1/keys/" + w.restrApp.id, `{"allowedIps":null,"expiresAt":null,"rateLimit":null}`, w.restrApp.id},
		{r, "POST", "/v2/apps/" + x + "/keys", `{"displayName":"inherits"}`, ""},
		{r, "POST", "/v2/apps/" + x + "/integrations/" + w.intI1 + "/keys", `{"displayName":"inherits"}`, ""},
		{r, "POST", "/api-keys", `{"description":"inherits"}`, ""},
		{r, "POST", "/api-keys", `{"description":"inherits","acl":null,"allowedIps":null}`, ""},
		{r, "POST", "/organizations/" + x + "/api-keys", `{"description":"inherits","acl":null,"allowedIps":null}`, ""},
		{r, "POST", "/v1/keys", `{"name":"inherits","permissions":["GetKey"],"allowedIps":null,"expiresAt":null,"rateLimit":null}`, ""},
		{w.restrApp, "POST", "/v1/keys", `{"name":"inherits","owner":{"type":"app","id":"` + x + `"},"allowedIps":null,"expiresAt":null,"rateLimit":null}`, ""},
	} {
		for _, f := range atkForms {
			res := w.send(t, withCred(atkRequest{Method: c.method, Path: c.path, Body: c.body}, f, c.by))
			w.mu.Lock()
			w.counts["scope escalation (inherits)"]++
			w.mu.Unlock()
			what := fmt.Sprintf("%s as %s: %s %s %s", c.by.name, f.name, c.method, c.path, c.body)
			w.checkNoLeak(t, what, res, c.by)
			var made struct {
				ID  string
				Key struct{ ID string }
			}
			json.Unmarshal(res.Body, &made)
			id := cmpOr(c.target, cmpOr(made.ID, made.Key.ID))
			if res.Status == http.StatusForbidden {
				lktest.CheckRefusal(t, what, c.path, res, "")
				continue // refusing is fine too
			}
			if res.Status/100 != 2 || id == "" {
				t.Errorf("%s: %d %s", what, res.Status, res.Body)
				continue
			}
			w.checkWithinRestricted(t, what, id)
		}
	}
}

// checkWithinRestricted fails unless the key lies within the restricted
// keys' rights: their permissions, no scoped entries, allowedIps
// 127.0.0.0/8, their expiry, a rate limit.
func (w *world) checkWithinRestricted(t *testing.T, what, id string) {
	t.Helper()
	var k struct {
		Permissions []string
		ACL         json.RawMessage
		AllowedIPs  []string
		ExpiresAt   *string
		RateLimit   *struct {
			Limit  int
			Period string
		}
	}
	w.setup(t, w.admin, "GET", "/v1/keys/"+id, "", http.StatusOK, &k)
	for _, p := range k.Permissions {
		if !slices.Contains(restrictedPermissions, p) {
			t.Errorf("VULNERABLE: %s left a key with permission %q", what, p)
		}
	}
	if string(k.ACL) != "[]" && string(k.ACL) != "null" {
		t.Errorf("VULNERABLE? %s left a key with ACL entries %s", what, k.ACL)
	}
	if !slices.Equal(k.AllowedIPs, []string{"127.0.0.0/8"}) {
		t.Errorf("VULNERABLE: %s left a key with allowedIps %q", what, k.AllowedIPs)
	}
	if k.ExpiresAt == nil || *k.ExpiresAt > restrictedExpiry.Format(time.RFC3339) {
		t.Errorf("VULNERABLE: %s left a key expiring %v", what, k.ExpiresAt)
	}
	if k.RateLimit == nil || k.RateLimit.Limit > 1000000 {
		t.Errorf("VULNERABLE: %s left a key with rate limit %+v", what, k.RateLimit)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ---------------------------------------------------------------------------
// Forwarding headers sent straight to the server, which trusts no proxy: a
// key usable only from 203.0.113.7 stays refused from 127.0.0.1.

var spoofHeaders = [][]header{
	{{"X-Forwarded-For", "203.0.113.7"}},
	{{"X-Forwarded-For", "127.0.0.1, 203.0.113.7"}},
	{{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-For", "203.0.113.7"}},
	{{"Forwarded", "for=203.0.113.7"}},
	{{"Forwarded", `for="203.0.113.7:443";proto=https`}},
	{{"X-Real-IP", "203.0.113.7"}},
	{{"True-Client-IP", "203.0.113.7"}},
	{{"CF-Connecting-IP", "203.0.113.7"}},
	{{"X-Client-IP", "203.0.113.7"}},
	{{"X-Forwarded-For", "203.0.113.7"}, {"Forwarded", "for=203.0.113.7"}, {"X-Real-IP", "203.0.113.7"}},
}

var spoofTargets = []route{
	{"POST", "/v2/apps", `{"displayName":"evil"}`},
	{"GET", "/v2/apps", ""},
	{"POST", "/api-keys", `{"description":"evil"}`},
	{"GET", "/api-keys", ""},
	{"POST", "/v1/keys", `{"name":"evil","permissions":["*"]}`},
	{"GET", "/v1/keys", ""},
	{"GET", "/v1/whoami", ""},
	{"POST", "/v1/verify", `{"key":"{victimSecret}"}`},
}

func (w *world) spoofDirect(t *testing.T) {
	for _, f := range atkForms {
		for _, hs := range spoofHeaders {
			for _, rt := range spoofTargets {
				req := rt.fill(w.victimIDs())
				req.Headers = append(slices.Clone(hs), f.lines(w.fenced)...)
				w.run(t, attack{category: "forwarded headers (direct)", name: fmt.Sprintf("%s with %q", f.name, hs),
					req: req, want: []int{403}, code: "forbidden", attacker: w.fenced})
			}
			// The gateway's question about a fenced key: refused too.
			for _, path := range []string{"/v1/authorize", "/v1/authorize?gateway=nginx"} {
				req := atkRequest{Method: "GET", Path: path, Headers: append(slices.Clone(hs), f.lines(w.fenced)...)}
				r := w.run(t, attack{category: "forwarded headers (direct)", name: fmt.Sprintf("authorize %s with %q", f.name, hs),
					req: req, want: []int{403}, attacker: w.fenced})
				if got := r.Header.Get("X-Latchkey-Code"); got != "IP_NOT_ALLOWED" {
					t.Errorf("authorize %s with %q: X-Latchkey-Code %q", f.name, hs, got)
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Duplicate credential Headers: ambiguous, 401 whatever the order.

// dupTargets are the routes the duplicates are tried on: every surface,
// reading and writing, and verify and authorize.
var dupTargets = []route{
	{"GET", "/v2/apps", ""},
	{"POST", "/v2/apps", `{"displayName":"dup"}`},
	{"GET", "/api-keys", ""},
	{"POST", "/api-keys", `{"description":"dup"}`},
	{"GET", "/v1/keys", ""},
	{"POST", "/v1/keys", `{"name":"dup","permissions":["*"]}`},
	{"GET", "/v1/whoami", ""},
	{"POST", "/v1/verify", `{"key":"{victimSecret}"}`},
	{"GET", "/v1/authorize", ""},
	{"GET", "/v1/authorize?gateway=nginx", ""},
	{"POST", "/v1/authorize/orders/17", ""},
}

func (w *world) duplicates(t *testing.T) {
	a, b := w.admin, w.strong // two valid keys, both allowed everything
	unknown := atkKey{"unknown", "key_00000000000000000000000000", "sk_live_" + strings.Repeat("B", 49), "account"}
	garbage := atkKey{"garbage", "x", "garbage", "account"}
	type pair struct {
		name         string
		first, other header
	}
	basic := func(k atkKey) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(k.id+":"+k.secret)) }
	jwtOf := func(k atkKey) string { return atkForms[5].lines(k)[0][1] } // "Bearer <JWT>"
	// Each pair is tried in both orders.
	var pairs []pair
	for _, names := range [][2]string{
		{"Authorization", "Authorization"},
		{"authorization", "AUTHORIZATION"},
		{"REB-APIKEY", "REB-APIKEY"},
		{"reb-apikey", "REB-APIKEY"},
		{"X-API-Key", "X-API-Key"},
		{"x-api-key", "X-Api-Key"},
		{"REB-APIKEY", "X-API-Key"},
	} {
		val := func(name string, k atkKey, i int) string {
			if !strings.EqualFold(name, "Authorization") {
				return k.secret
			}
			return []string{"Bearer " + k.secret, basic(k), k.secret, jwtOf(k)}[i%4]
		}
		for i, c := range []struct {
			what string
			x, y atkKey
		}{
			{"two valid keys", a, b},
			{"the same valid key twice", a, a},
			{"valid and unknown", a, unknown},
			{"valid and garbage", b, garbage},
		} {
			pairs = append(pairs,
				pair{fmt.Sprintf("%s: %s then %s", c.what, names[0], names[1]), header{names[0], val(names[0], c.x, i)}, header{names[1], val(names[1], c.y, i+1)}},
				pair{fmt.Sprintf("%s, swapped: %s then %s", c.what, names[0], names[1]), header{names[0], val(names[0], c.y, i+1)}, header{names[1], val(names[1], c.x, i)}})
		}
	}
	// An empty duplicate is a duplicate too.
	pairs = append(pairs,
		pair{"valid Authorization then an empty one", header{"Authorization", "Bearer " + a.secret}, header{"Authorization", ""}},
		pair{"an empty REB-APIKEY then a valid one", header{"REB-APIKEY", ""}, header{"REB-APIKEY", a.secret}})

	for _, p := range pairs {
		for _, rt := range dupTargets {
			req := rt.fill(w.victimIDs())
			// Beside the pair, an allowed extra: none, or a valid
			// Authorization when the pair is of API-key headers (the
			// Rebilly SDK's combination must not make the pair count).
			req.Headers = []header{p.first, p.other}
			w.run(t, attack{category: "duplicate credentials", name: p.name, req: req, want: []int{401}, code: "unauthorized"})
			if !strings.EqualFold(p.first[0], "Authorization") {
				req.Headers = []header{{"Authorization", "Bearer " + a.secret}, p.first, p.other}
				w.run(t, attack{category: "duplicate credentials", name: p.name + ", with a valid Authorization", req: req,
					want: []int{401}, code: "unauthorized"})
			}
		}
		// The Go SDK's middleware reads the credential alike.
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Add(p.first[0], p.first[1])
		r.Header.Add(p.other[0], p.other[1])
		if got := sdk.CredentialFromRequest(r); got != "" {
			t.Errorf("sdk.CredentialFromRequest with %s: %q, want none", p.name, got)
		}
	}

	// Still allowed: one API-key header beside one Authorization, in either
	// order, the API-key header winning (the Rebilly SDK sends both).
	for _, name := range []string{"REB-APIKEY", "X-API-Key"} {
		for _, order := range [][]header{
			{{name, b.secret}, {"Authorization", "Bearer " + a.secret}},
			{{"Authorization", "Bearer " + a.secret}, {name, b.secret}},
			{{"Authorization", "Bearer garbage-session-token"}, {name, b.secret}},
		} {
			r := w.send(t, atkRequest{Method: "GET", Path: "/v1/whoami", Headers: order})
			var who struct{ ID string }
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &who) != nil || who.ID != b.id {
				t.Errorf("%q: %d %s, want 200 as %s (the API-key header wins)", order, r.Status, r.Body, b.id)
			}
		}
	}
}
