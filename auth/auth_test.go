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
