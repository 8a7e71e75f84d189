package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/internal/lktest"
)

// fuzzKey is one secret of a key the fuzz targets' store holds.
type fuzzKey struct {
	id, secret string
	scope      latchkey.Scope
	// want is the error a proven credential of the key gets: nil, or
	// ErrKeyExpired or ErrKeyDisabled.
	want error
}

// fuzzKeys is a store with keys in every state a credential check tells
// apart, and the verifier the core keeps in step with it.
type fuzzKeys struct {
	s    *lktest.Stack
	keys []fuzzKey // one entry per secret; a rolled key has two
}

// newFuzzKeys makes the keys. Their ids are fixed, so that a JWT in the
// corpus names the same key in every run; their secrets are random, so the
// corpus names them by placeholder (see expand).
func newFuzzKeys(f *testing.F) *fuzzKeys {
	s := lktest.New(f)
	ctx := context.Background()
	p := s.Principal(f)
	app, err := s.Svc.CreateApp(ctx, p, &latchkey.App{DisplayName: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	fk := &fuzzKeys{s: s}
	for _, spec := range []struct {
		core.KeySpec
		want error
	}{
		{KeySpec: core.KeySpec{ID: "act_fuzz_account"}},
		{KeySpec: core.KeySpec{ID: "app_fuzz_app", Owner: latchkey.KeyOwner{AppID: app.ID}}},
		{KeySpec: core.KeySpec{ID: "act_fuzz_expired", Policy: latchkey.Policy{ExpiresAt: &past}}, want: auth.ErrKeyExpired},
		{KeySpec: core.KeySpec{ID: "act_fuzz_disabled", Policy: latchkey.Policy{Disabled: true}}, want: auth.ErrKeyDisabled},
		{KeySpec: core.KeySpec{ID: "act_fuzz_branded", Prefix: "acme"}},
		{KeySpec: core.KeySpec{ID: "act_fuzz_publishable", Policy: latchkey.Policy{Type: latchkey.KeyTypePublishable}}},
		{KeySpec: core.KeySpec{ID: "act_fuzz_rolled"}},
	} {
		spec.Name = spec.ID
		k, err := s.Svc.CreateKey(ctx, p, spec.KeySpec)
		if err != nil {
			f.Fatal(err)
		}
		fk.keys = append(fk.keys, fuzzKey{id: k.ID, secret: k.Secrets[0].Plain, scope: k.Scope(), want: spec.want})
	}
	// The rolled key's old secret stays live for its grace period beside
	// the new one: a key with two secrets.
	last := fk.keys[len(fk.keys)-1]
	k, err := s.Svc.RollKey(ctx, p, latchkey.KeyOwner{}, last.id, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	for _, sec := range k.Secrets {
		if sec.Plain != "" && sec.Plain != last.secret {
			last.secret = sec.Plain
			fk.keys = append(fk.keys, last)
		}
	}
	if len(fk.keys) != 8 {
		f.Fatalf("made %d secrets, want 8", len(fk.keys))
	}
	return fk
}

// expand replaces placeholders with credentials of the keys: {sN} with
// secret N, {pN} with "id:secret", {bN} with that in base64 for Basic, and
// {jN} with an HS256 JWT signed with secret N, with the key's id as kid and
// its scope (N is one digit). The corpus thus stays valid across runs,
// whose secrets differ.
func (fk *fuzzKeys) expand(tb testing.TB, s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	var args []string
	for i, k := range fk.keys {
		n := strconv.Itoa(i)
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"scope": string(k.scope), "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = k.id
		signed, err := tok.SignedString([]byte(k.secret))
		if err != nil {
			tb.Fatal(err)
		}
		args = append(args, "{s"+n+"}", k.secret, "{p"+n+"}", k.id+":"+k.secret, "{b"+n+"}", base64.StdEncoding.EncodeToString([]byte(k.id+":"+k.secret)), "{j"+n+"}", signed)
	}
	return strings.NewReplacer(args...).Replace(s)
}

// documented are the errors a check may return with a working store.
var documented = []error{auth.ErrMissing, auth.ErrInvalid, auth.ErrMalformed, auth.ErrKeyExpired, auth.ErrJWTKeyID,
	auth.ErrJWTInvalid, auth.ErrJWTExpired, auth.ErrJWTScope, auth.ErrNotACredential, auth.ErrKeyDisabled,
	auth.ErrJWTMissingExp, auth.ErrJWTMissingIat, auth.ErrJWTIssuedInFuture, auth.ErrJWTTooOld}

// proof reports whether the credential under test proves key k: carries
// one of its secrets, or a JWT signed with one, in a form the check under
// test documents.
type proof func(k fuzzKey) bool

// verdict is a check's outcome, reduced to what must not depend on the
// state of the caches.
type verdict struct {
	keyID string
	err   error
}

// checkVerdict checks one outcome: a documented error; a principal only for
// a key the credential proves, with that key's scope; and, for a proven
// key, the error its state calls for.
func (fk *fuzzKeys) checkVerdict(t *testing.T, what string, p *latchkey.Principal, err error, proves proof) verdict {
	t.Helper()
	if err != nil && !isDocumented(err) {
		t.Fatalf("%s: undocumented error %v", what, err)
	}
	if p == nil {
		if err == nil {
			t.Fatalf("%s: neither a principal nor an error", what)
		}
		return verdict{err: err}
	}
	var k *fuzzKey
	for i := range fk.keys {
		if fk.keys[i].id == p.KeyID && proves(fk.keys[i]) {
			k = &fk.keys[i]
		}
	}
	switch {
	case k == nil:
		t.Fatalf("%s: principal %s (err %v), but the credential carries none of its secrets", what, p.KeyID, err)
	case p.Scope != k.scope:
		t.Fatalf("%s: principal %s has scope %s, want %s", what, p.KeyID, p.Scope, k.scope)
	case err != k.want && err != auth.ErrJWTExpired:
		// A token past its exp is refused as such whatever the key's state.
		t.Fatalf("%s: key %s proven, err = %v, want %v", what, p.KeyID, err, k.want)
	}
	return verdict{keyID: p.KeyID, err: err}
}

func isDocumented(err error) bool {
	for _, e := range documented {
		if err == e {
			return true
		}
	}
	return false
}

// FuzzHeaders sends any REB-APIKEY (or X-API-Key) value and Authorization
// header through Verifier.Headers, which reads every credential form:
// Basic, Bearer secret, Bearer JWT and a bare secret. It checks that
//   - errors are the package's documented ones;
//   - a principal comes back only for a key whose secret the input really
//     carries, in the form the documentation gives (the API key value, the
//     bare or Bearer value, the Basic pair, or a JWT whose HMAC, recomputed
//     here, is made with the key's secret under its id), with the key's
//     scope, and with the error its state calls for;
//   - the answer does not depend on the caches: a fresh verifier (cold),
//     the long-lived one (warm with every earlier input) and the fresh one
//     again (warm with this input) agree;
//   - the verify API's parser (Check) on the API key value alone holds to
//     the same rules (see checkCheck).
func FuzzHeaders(f *testing.F) {
	fk := newFuzzKeys(f)
	for _, seed := range [][2]string{
		{"", "Basic {b0}"}, {"", "Bearer {s0}"}, {"", "{s5}"}, {"{s1}", ""}, {"{s2}", "Basic {b0}"},
		{"", "Bearer {j0}"}, {"", "Bearer {j1}"}, {"", "Bearer {j6}"}, {"", "bearer   {j7} "}, {"", "Bearer {s3}"},
		{"", "Basic {b2}"}, {"", "Basic {b6}"}, {"", "BASIC {b4}"}, {"{s4}", ""}, {" \t", "Bearer {s7}"},
		{"", ""}, {"", "Bearer "}, {"", "Basic"}, {"", "Basic ==="}, {"", "Digest {s0}"}, {"", " Bearer {s0}"},
		{"", "Basic " + base64.StdEncoding.EncodeToString([]byte(":x"))}, {"", "Basic " + base64.StdEncoding.EncodeToString([]byte("act_fuzz_account"))},
		{"", "Basic " + base64.StdEncoding.EncodeToString([]byte("act_fuzz_account:sk_live_"+strings.Repeat("A", 49)))},
		{"", "Bearer eyJhbGciOiJub25lIiwia2lkIjoiYWN0X2Z1enpfYWNjb3VudCJ9.eyJzY29wZSI6ImFjY291bnQifQ."},
		{"sk_live_{s0}", "Bearer {s0}x"}, {"", "Bearer {s0}{s1}"}, {"", "{j0}"}, {"", "Basic {b0}\n"},
		{"", "Basic " + strings.Repeat("QUFB", 200)}, {"{p0}", ""}, {"{p2}", ""}, {"{p3}", ""}, {"{j1}", ""},
		{"{j2}", ""}, {":{s0}", ""}, {"act_fuzz_account:{s1}", ""}, {"{p6}", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	ctx := context.Background()
	// Not vacuous: each key's Basic pair, by placeholder, proves it.
	for i, k := range fk.keys {
		p, err := fk.s.Verifier.Headers(ctx, "", fk.expand(f, "Basic {b"+strconv.Itoa(i)+"}"))
		if p == nil || p.KeyID != k.id || err != k.want {
			f.Fatalf("key %s: Basic gives %v, %v", k.id, p, err)
		}
	}
	f.Fuzz(func(t *testing.T, apiKey, authorization string) {
		apiKey, authorization = fk.expand(t, apiKey), fk.expand(t, authorization)
		proves := func(k fuzzKey) bool { return headersProve(k, apiKey, authorization) }
		fresh := auth.NewVerifier(fk.s.Store, fk.s.Keys, nil)
		var got [3]verdict
		for i, v := range []*auth.Verifier{fresh, fk.s.Verifier, fresh} {
			p, err := v.Headers(ctx, apiKey, authorization)
			got[i] = fk.checkVerdict(t, "Headers", p, err, proves)
		}
		if got[0] != got[1] || got[0] != got[2] {
			t.Fatalf("the caches change the answer: cold %+v, long-lived %+v, warm %+v", got[0], got[1], got[2])
		}
		checkCheck(t, fk, fresh, strings.TrimSpace(apiKey))
	})
}

// checkCheck checks the verify API's parser, Verifier.Check, on one
// credential (a secret, "keyId:secret" or a JWT): it reports a key only if
// the credential carries one of its secrets in one of those forms, with the
// code the key's state calls for, and NOT_FOUND for anything else; it
// fails (an error) only when the store does, which here it never does.
func checkCheck(t *testing.T, fk *fuzzKeys, v *auth.Verifier, credential string) {
	t.Helper()
	p, code, err := v.Check(context.Background(), credential)
	if err != nil || (p == nil) != (code == latchkey.CodeNotFound) {
		t.Fatalf("Check: principal %v, code %q, err %v", p, code, err)
	}
	if p == nil {
		return
	}
	for _, k := range fk.keys {
		if k.id != p.KeyID || !(credential == k.secret || credential == k.id+":"+k.secret || signedBy(k, credential)) {
			continue
		}
		want := map[error]latchkey.Code{nil: latchkey.CodeValid, auth.ErrKeyExpired: latchkey.CodeExpired, auth.ErrKeyDisabled: latchkey.CodeDisabled}[k.want]
		if code != want && !(code == latchkey.CodeExpired && signedBy(k, credential)) {
			t.Fatalf("Check proves key %s: code %q, want %q", k.id, code, want)
		}
		return
	}
	t.Fatalf("Check reports key %s (%q), which the credential does not prove", p.KeyID, code)
}

// headersProve reports whether the headers carry a credential of k in a form
// Headers documents. It reads them independently of the package.
func headersProve(k fuzzKey, apiKey, authorization string) bool {
	if v := strings.TrimSpace(apiKey); v != "" {
		return v == k.secret // the API key header wins, whatever else is sent
	}
	if strings.TrimSpace(authorization) == k.secret {
		return true
	}
	scheme, rest, _ := strings.Cut(authorization, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return rest == k.secret || signedBy(k, rest)
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		id, sec, found := strings.Cut(string(raw), ":")
		return err == nil && found && id == k.id && sec == k.secret
	}
	return false
}

// signedBy reports whether token is a JWS whose header names k's id as kid
// and asks for HS256, with a signature that is the HMAC-SHA256 of its first
// two parts under k's secret.
func signedBy(k fuzzKey, token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	rawHeader, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	sig, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	var header struct {
		Alg any `json:"alg"`
		Kid any `json:"kid"`
	}
	if err1 != nil || err2 != nil || json.Unmarshal(rawHeader, &header) != nil || header.Kid != k.id || header.Alg != "HS256" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(k.secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	return hmac.Equal(mac.Sum(nil), sig)
}

// FuzzJWT builds a JWT from any header and claims JSON and signs it with
// one of the keys' secrets (or a secret no key has), then checks it with
// Verifier.JWT. So the fuzzer explores what the parser does with tokens
// whose signature is right: odd algorithms, kid types, scopes and time
// claims. It checks that
//   - errors are the documented ones;
//   - a principal comes back only for a token signed with a secret of the
//     key its kid names, asking for HS256; an accepted token (no error)
//     also carries the key's scope and, if its exp is a number, is not past
//     it by more than the leeway;
//   - cold, long-lived and warm verifiers agree.
func FuzzJWT(f *testing.F) {
	fk := newFuzzKeys(f)
	header := func(kid string) string { return `{"alg":"HS256","typ":"JWT","kid":"` + kid + `"}` }
	soon := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	for _, seed := range []struct {
		header, claims string
		signer         uint8
	}{
		{header("act_fuzz_account"), `{"scope":"account"}`, 0},
		{header("app_fuzz_app"), `{"scope":"app","exp":` + soon + `}`, 1},
		{header("app_fuzz_app"), `{"scope":"account"}`, 1},
		{header("act_fuzz_account"), `{"scope":"account"}`, 1},
		{header("act_fuzz_expired"), `{"scope":"account"}`, 2},
		{header("act_fuzz_disabled"), `{"scope":"account"}`, 3},
		{header("act_fuzz_rolled"), `{"scope":"account"}`, 6},
		{header("act_fuzz_rolled"), `{"scope":"account","exp":1}`, 7},
		{header("act_fuzz_account"), `{"scope":"account","exp":"tomorrow"}`, 0},
		{header("act_fuzz_account"), `{"scope":"account","nbf":99999999999}`, 0},
		{header("act_fuzz_account"), `{"scope":"account","iat":1.5e9,"exp":1e300}`, 0},
		{header("act_fuzz_account"), `{"scope":null}`, 0},
		{header("act_fuzz_account"), `["scope","account"]`, 0},
		{header("act_fuzz_account"), `{"scope":"account","scope":"app"}`, 0},
		{header("act_fuzz_nobody"), `{"scope":"account"}`, 0},
		{header(""), `{"scope":"account"}`, 8},
		{`{"alg":"none","kid":"act_fuzz_account"}`, `{"scope":"account"}`, 0},
		{`{"alg":"hs256","kid":"act_fuzz_account"}`, `{"scope":"account"}`, 0},
		{`{"alg":"HS512","kid":"act_fuzz_account"}`, `{"scope":"account"}`, 0},
		{`{"alg":"HS256","kid":7}`, `{"scope":"account"}`, 0},
		{`{"alg":"HS256","kid":"act_fuzz_account","kid":"app_fuzz_app"}`, `{"scope":"app"}`, 1},
		{`{"alg":"HS256","kid":"act_fuzz_account","crit":["b64"],"b64":false}`, `{"scope":"account"}`, 0},
		{`not json`, `{}`, 0},
	} {
		f.Add(seed.header, seed.claims, seed.signer)
	}
	ctx := context.Background()
	wrong := fuzzKey{secret: "sk_live_" + strings.Repeat("A", 49)} // no key's secret
	f.Fuzz(func(t *testing.T, header, claims string, signer uint8) {
		by := wrong
		if i := int(signer) % (len(fk.keys) + 1); i < len(fk.keys) {
			by = fk.keys[i]
		}
		signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
		mac := hmac.New(sha256.New, []byte(by.secret))
		mac.Write([]byte(signing))
		token := signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

		proves := func(k fuzzKey) bool { return signedBy(k, token) }
		fresh := auth.NewVerifier(fk.s.Store, fk.s.Keys, nil)
		var got [3]verdict
		for i, v := range []*auth.Verifier{fresh, fk.s.Verifier, fresh} {
			p, err := v.JWT(ctx, token)
			got[i] = fk.checkVerdict(t, "JWT", p, err, proves)
			if p != nil && err == nil {
				checkAcceptedClaims(t, claims, p)
			}
		}
		if got[0] != got[1] || got[0] != got[2] {
			t.Fatalf("the caches change the answer: cold %+v, long-lived %+v, warm %+v", got[0], got[1], got[2])
		}
	})
}

// checkAcceptedClaims checks an accepted token's claims, read here with
// encoding/json: the key's scope, and a numeric exp not past by more than
// the leeway.
func checkAcceptedClaims(t *testing.T, claims string, p *latchkey.Principal) {
	t.Helper()
	var c struct {
		Scope any `json:"scope"`
		Exp   any `json:"exp"`
	}
	if err := json.Unmarshal([]byte(claims), &c); err != nil {
		t.Fatalf("accepted a token whose claims %q do not decode: %v", claims, err)
	}
	if c.Scope != string(p.Scope) {
		t.Fatalf("accepted a token with scope %v for a key of scope %s", c.Scope, p.Scope)
	}
	if exp, ok := c.Exp.(float64); ok && exp > -1e15 && exp < 1e15 && time.Unix(int64(exp), 0).Add(auth.JWTLeeway).Before(time.Now().Add(-time.Second)) {
		t.Fatalf("accepted a token whose exp %v has passed", c.Exp)
	}
}
