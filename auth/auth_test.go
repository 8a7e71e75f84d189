package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/internal/lktest"
)

func basicHeader(c lktest.Credentials) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.ID+":"+c.Secret))
}

func jwtHeader(tb testing.TB, c lktest.Credentials, scope string) string {
	tb.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"scope": scope, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = c.ID
	s, err := tok.SignedString([]byte(c.Secret))
	if err != nil {
		tb.Fatal(err)
	}
	return "Bearer " + s
}

// TestWarmKeyNeedsNoDatabase warms the cache, then closes the store: every
// credential form still verifies, so the hot path reads nothing and writes
// nothing.
func TestWarmKeyNeedsNoDatabase(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	headers := map[string]string{
		"basic":         basicHeader(s.Account),
		"jwt":           jwtHeader(t, s.Account, "account"),
		"bearer secret": "Bearer " + s.Account.Secret,
	}
	for _, h := range headers {
		if _, err := s.Verifier.Authorization(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	// Closing the store checkpoints its WAL; from then on, any read fails and
	// any write would change the files.
	if err := s.Store.Close(); err != nil {
		t.Fatal(err)
	}
	before := s.RawFiles(t)
	for name, h := range headers {
		for range 100 {
			p, err := s.Verifier.Authorization(ctx, h)
			if err != nil {
				t.Fatalf("%s with the store closed: %v", name, err)
			}
			if p.KeyID != s.Account.ID || p.Scope != latchkey.ScopeAccount || p.AccountID != s.Account.AccountID {
				t.Fatalf("%s: principal = %+v", name, p)
			}
		}
	}
	if !bytes.Equal(before, s.RawFiles(t)) {
		t.Fatal("verifying warm keys wrote to the database files")
	}
	// A wrong secret is refused from the cache too, without the store.
	bad := lktest.Credentials{ID: s.Account.ID, Secret: s.Account.Secret[:len(s.Account.Secret)-6] + "AAAAAA"}
	if _, err := s.Verifier.Authorization(ctx, basicHeader(bad)); latchkey.ErrorCode(err) != latchkey.EUNAUTHORIZED {
		t.Fatalf("bad checksum: err = %v, want unauthorized", err)
	}
}

// TestPurge checks that a deleted key stops verifying at once, even when the
// cache had it.
func TestPurge(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	p := s.Principal(t)
	app, err := s.Svc.CreateApp(ctx, p, &latchkey.App{DisplayName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.Svc.CreateKey(ctx, p, core.KeySpec{Owner: latchkey.KeyOwner{AppID: app.ID}, Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	c := lktest.Credentials{ID: k.ID, Secret: k.Secrets[0].Plain}
	for _, h := range []string{basicHeader(c), jwtHeader(t, c, "app"), "Bearer " + c.Secret} {
		if _, err := s.Verifier.Authorization(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Svc.DeleteKey(ctx, p, latchkey.KeyOwner{AppID: app.ID}, k.ID); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{basicHeader(c), jwtHeader(t, c, "app"), "Bearer " + c.Secret} {
		if _, err := s.Verifier.Authorization(ctx, h); latchkey.ErrorCode(err) != latchkey.EUNAUTHORIZED {
			t.Fatalf("deleted key: err = %v, want unauthorized", err)
		}
	}
}

// TestExpiredKey checks the key policy's expiry on every form.
func TestExpiredKey(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	past := time.Now().Add(-time.Minute)
	k, err := s.Svc.CreateKey(ctx, s.Principal(t), core.KeySpec{Name: "expired", Policy: latchkey.Policy{ExpiresAt: &past}})
	if err != nil {
		t.Fatal(err)
	}
	c := lktest.Credentials{ID: k.ID, Secret: k.Secrets[0].Plain}
	for _, h := range []string{basicHeader(c), jwtHeader(t, c, "account"), "Bearer " + c.Secret} {
		if _, err := s.Verifier.Authorization(ctx, h); err != auth.ErrKeyExpired {
			t.Fatalf("err = %v, want ErrKeyExpired", err)
		}
	}
}

func benchmarkHeader(b *testing.B, header func(s *lktest.Stack) string) {
	s := lktest.New(b)
	ctx := context.Background()
	h := header(s)
	if _, err := s.Verifier.Authorization(ctx, h); err != nil { // warm the cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Verifier.Authorization(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyBasic is a warm Basic check: decode, checksum, cache hit,
// HMAC-SHA256 and a constant-time compare.
func BenchmarkVerifyBasic(b *testing.B) {
	benchmarkHeader(b, func(s *lktest.Stack) string { return basicHeader(s.Account) })
}

// BenchmarkVerifyJWT is a warm HS256 JWT check with kid, scope and exp, of a
// token sent again (the common case: clients reuse a signed token).
func BenchmarkVerifyJWT(b *testing.B) {
	benchmarkHeader(b, func(s *lktest.Stack) string { return jwtHeader(b, s.Account, "account") })
}

// BenchmarkVerifyJWTFirstSight checks a token never seen before, against a
// warm key: a client that signs a new token for every request.
func BenchmarkVerifyJWTFirstSight(b *testing.B) {
	s := lktest.New(b)
	ctx := context.Background()
	if _, err := s.Verifier.Authorization(ctx, basicHeader(s.Account)); err != nil { // warm the key
		b.Fatal(err)
	}
	tokens := make([]string, b.N)
	for i := range tokens {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"scope": "account", "exp": time.Now().Add(time.Hour).Unix(), "jti": strconv.Itoa(i)})
		tok.Header["kid"] = s.Account.ID
		signed, err := tok.SignedString([]byte(s.Account.Secret))
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = "Bearer " + signed
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Verifier.Authorization(ctx, tokens[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyBearerSecret is a warm bare-secret check, found by its hash.
func BenchmarkVerifyBearerSecret(b *testing.B) {
	benchmarkHeader(b, func(s *lktest.Stack) string { return "Bearer " + s.Account.Secret })
}

// BenchmarkVerifyBasicParallel is BenchmarkVerifyBasic from every core at once:
// the cache's lock under contention.
func BenchmarkVerifyBasicParallel(b *testing.B) {
	s := lktest.New(b)
	ctx := context.Background()
	h := basicHeader(s.Account)
	if _, err := s.Verifier.Authorization(ctx, h); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Verifier.Authorization(ctx, h); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBaselineHMAC is the floor under a Basic check: one HMAC-SHA256 of
// a secret, measured in the same run for comparison.
func BenchmarkBaselineHMAC(b *testing.B) {
	s := lktest.New(b)
	b.ReportAllocs()
	for b.Loop() {
		s.Keys.Hash(s.Account.Secret)
	}
}

// BenchmarkBaselineJWTLibrary is the floor under a JWT check: golang-jwt
// parsing and verifying the same token with a fixed key, no lookup.
func BenchmarkBaselineJWTLibrary(b *testing.B) {
	s := lktest.New(b)
	token := jwtHeader(b, s.Account, "account")[len("Bearer "):]
	key := []byte(s.Account.Secret)
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parser.Parse(token, func(*jwt.Token) (any, error) { return key, nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCachedTokenExpires checks that a remembered token still ends at its
// exp (plus the leeway).
func TestCachedTokenExpires(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	now := time.Now()
	v := auth.NewVerifier(s.Store, s.Keys, func() time.Time { return now })
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"scope": "account", "exp": now.Add(time.Minute).Unix()})
	tok.Header["kid"] = s.Account.ID
	signed, err := tok.SignedString([]byte(s.Account.Secret))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second check is answered from the token cache
		if _, err := v.JWT(ctx, signed); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute + auth.JWTLeeway - time.Second)
	if _, err := v.JWT(ctx, signed); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	now = now.Add(2 * time.Second)
	if _, err := v.JWT(ctx, signed); err != auth.ErrJWTExpired {
		t.Fatalf("after exp + leeway: err = %v, want ErrJWTExpired", err)
	}
}

// signJWT signs claims as an HS256 JWT with c's secret and c's id as kid.
func signJWT(tb testing.TB, c lktest.Credentials, claims jwt.MapClaims) string {
	tb.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = c.ID
	s, err := tok.SignedString([]byte(c.Secret))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// jwtCase is a token's claims and what a verifier whose clock reads now
// should answer (nil: accept).
type jwtCase struct {
	name   string
	claims jwt.MapClaims
	want   error
}

// checkJWTCases verifies each case with a new verifier, so that every answer
// comes from a full check, not from the token cache.
func checkJWTCases(t *testing.T, s *lktest.Stack, now time.Time, policy *auth.JWTPolicy, cases []jwtCase) {
	t.Helper()
	ctx := context.Background()
	for _, tc := range cases {
		var opts []auth.Option
		if policy != nil {
			opts = append(opts, auth.WithJWTPolicy(*policy))
		}
		v := auth.NewVerifier(s.Store, s.Keys, func() time.Time { return now }, opts...)
		p, err := v.JWT(ctx, signJWT(t, s.Account, tc.claims))
		if err != tc.want {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			continue
		}
		if err != nil && latchkey.ErrorCode(err) != latchkey.EUNAUTHORIZED {
			t.Errorf("%s: error code = %q, want %q", tc.name, latchkey.ErrorCode(err), latchkey.EUNAUTHORIZED)
		}
		if err == nil && p.KeyID != s.Account.ID {
			t.Errorf("%s: principal key = %q, want %q", tc.name, p.KeyID, s.Account.ID)
		}
	}
}

// TestJWTDefaultPolicy checks that, by default, lifetimes are as Sunshine
// has them: a token without exp is accepted, and so is any iat.
func TestJWTDefaultPolicy(t *testing.T) {
	s := lktest.New(t)
	now := time.Now().Truncate(time.Second)
	cases := []jwtCase{
		{"no exp, no iat", jwt.MapClaims{"scope": "account"}, nil},
		{"no exp, issued a year ago", jwt.MapClaims{"scope": "account", "iat": now.AddDate(-1, 0, 0).Unix()}, nil},
		{"no exp, issued an hour from now", jwt.MapClaims{"scope": "account", "iat": now.Add(time.Hour).Unix()}, nil},
		{"exp passed", jwt.MapClaims{"scope": "account", "exp": now.Add(-time.Hour).Unix()}, auth.ErrJWTExpired},
	}
	checkJWTCases(t, s, now, nil, cases)
	checkJWTCases(t, s, now, &auth.JWTPolicy{}, cases) // the zero policy is the default
}

// TestJWTRequireExp checks that RequireExp refuses a token without exp, and
// only once its signature is proven.
func TestJWTRequireExp(t *testing.T) {
	s := lktest.New(t)
	now := time.Now().Truncate(time.Second)
	checkJWTCases(t, s, now, &auth.JWTPolicy{RequireExp: true}, []jwtCase{
		{"no exp", jwt.MapClaims{"scope": "account"}, auth.ErrJWTMissingExp},
		{"no exp, with iat", jwt.MapClaims{"scope": "account", "iat": now.Unix()}, auth.ErrJWTMissingExp},
		{"exp ahead", jwt.MapClaims{"scope": "account", "exp": now.Add(time.Hour).Unix()}, nil},
		{"exp passed", jwt.MapClaims{"scope": "account", "exp": now.Add(-time.Hour).Unix()}, auth.ErrJWTExpired},
		// No iat needed, and no cap on lifetime, without MaxAge.
		{"exp a year ahead", jwt.MapClaims{"scope": "account", "exp": now.AddDate(1, 0, 0).Unix()}, nil},
	})

	// A token signed with the wrong secret learns nothing about the policy.
	v := auth.NewVerifier(s.Store, s.Keys, nil, auth.WithJWTPolicy(auth.JWTPolicy{RequireExp: true}))
	forged := signJWT(t, lktest.Credentials{ID: s.Account.ID, Secret: "not the secret"}, jwt.MapClaims{"scope": "account"})
	if _, err := v.JWT(context.Background(), forged); err != auth.ErrJWTInvalid {
		t.Errorf("forged token without exp: err = %v, want ErrJWTInvalid", err)
	}
}

// TestJWTMaxAge checks each rule of MaxAge on a full check: iat is required,
// may not be in the future beyond the leeway, and ends the token at
// iat + MaxAge + leeway, even before its exp.
func TestJWTMaxAge(t *testing.T) {
	s := lktest.New(t)
	now := time.Now().Truncate(time.Second) // iat has whole seconds; so do the boundaries
	const maxAge = 10 * time.Minute
	iat := func(d time.Duration) jwt.MapClaims {
		return jwt.MapClaims{"scope": "account", "iat": now.Add(d).Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	checkJWTCases(t, s, now, &auth.JWTPolicy{MaxAge: maxAge}, []jwtCase{
		{"no iat", jwt.MapClaims{"scope": "account", "exp": now.Add(time.Hour).Unix()}, auth.ErrJWTMissingIat},
		{"no iat, no exp", jwt.MapClaims{"scope": "account"}, auth.ErrJWTMissingIat},
		{"issued now", iat(0), nil},
		{"issued now, no exp", jwt.MapClaims{"scope": "account", "iat": now.Unix()}, nil}, // MaxAge alone does not demand exp
		{"one second short of max age + leeway", iat(-(maxAge + auth.JWTLeeway - time.Second)), nil},
		{"exactly max age + leeway", iat(-(maxAge + auth.JWTLeeway)), auth.ErrJWTTooOld},
		{"a day old", iat(-24 * time.Hour), auth.ErrJWTTooOld},
		{"iat in the future, within the leeway", iat(auth.JWTLeeway), nil},
		{"iat in the future, beyond the leeway", iat(auth.JWTLeeway + time.Second), auth.ErrJWTIssuedInFuture},
		{"exp later than iat + max age, past the cap", jwt.MapClaims{"scope": "account",
			"iat": now.Add(-maxAge - time.Hour).Unix(), "exp": now.Add(time.Hour).Unix()}, auth.ErrJWTTooOld},
		{"exp before the cap still counts", jwt.MapClaims{"scope": "account",
			"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(-time.Minute).Unix()}, auth.ErrJWTExpired},
	})
	checkJWTCases(t, s, now, &auth.JWTPolicy{RequireExp: true, MaxAge: maxAge}, []jwtCase{
		{"both: no exp", jwt.MapClaims{"scope": "account", "iat": now.Unix()}, auth.ErrJWTMissingExp},
		{"both: no iat", jwt.MapClaims{"scope": "account", "exp": now.Add(time.Minute).Unix()}, auth.ErrJWTMissingIat},
		{"both: within", iat(-time.Minute), nil},
	})
}

// TestCachedTokenMaxAge checks that a token answered from the token cache
// still ends at iat + MaxAge (plus the leeway) when its exp is later, and at
// its exp when that comes first.
func TestCachedTokenMaxAge(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	const maxAge = 10 * time.Minute
	for _, tc := range []struct {
		name string
		exp  time.Duration // after iat
		end  time.Duration // after iat, leeway included
		want error
	}{
		{"exp after the cap", time.Hour, maxAge + auth.JWTLeeway, auth.ErrJWTTooOld},
		{"exp before the cap", 5 * time.Minute, 5*time.Minute + auth.JWTLeeway, auth.ErrJWTExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			issued := time.Now().Truncate(time.Second)
			now := issued
			v := auth.NewVerifier(s.Store, s.Keys, func() time.Time { return now },
				auth.WithJWTPolicy(auth.JWTPolicy{MaxAge: maxAge}))
			token := signJWT(t, s.Account, jwt.MapClaims{"scope": "account",
				"iat": issued.Unix(), "exp": issued.Add(tc.exp).Unix()})
			if _, err := v.JWT(ctx, token); err != nil {
				t.Fatal(err)
			}
			// A full check decodes the token and allocates; a cache hit
			// allocates nothing. This proves that what follows is answered
			// from the cache.
			if n := testing.AllocsPerRun(10, func() {
				if _, err := v.JWT(ctx, token); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Fatalf("a repeated token allocated %v times per check: it is not served from the cache", n)
			}
			now = issued.Add(tc.end - time.Second)
			if _, err := v.JWT(ctx, token); err != nil {
				t.Fatalf("one second before the end: %v", err)
			}
			now = issued.Add(tc.end)
			if _, err := v.JWT(ctx, token); err != tc.want {
				t.Fatalf("at the end: err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestJWTPolicyValidate checks that a negative MaxAge is refused, never
// taken for "no limit".
func TestJWTPolicyValidate(t *testing.T) {
	for _, p := range []auth.JWTPolicy{{}, {RequireExp: true}, {MaxAge: time.Hour}} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v.Validate() = %v, want nil", p, err)
		}
	}
	bad := auth.JWTPolicy{MaxAge: -time.Hour}
	if err := bad.Validate(); err == nil {
		t.Errorf("%+v.Validate() = nil, want an error", bad)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("WithJWTPolicy(%+v) did not panic", bad)
		}
	}()
	auth.WithJWTPolicy(bad)
}
