package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/internal/lktest"
	"github.com/latchkey/latchkey/secret"
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

// countingStore is the real SQLite store with its two key lookups counted.
// Every call goes through to SQLite; nothing is answered here.
type countingStore struct {
	latchkey.Store
	keyReads, hashReads atomic.Int64
	// afterRead, if set, runs once, after the next lookup has returned from
	// SQLite and before the verifier sees the result: it holds a load in
	// flight while a test changes the key under it.
	afterRead atomic.Pointer[func()]
}

func (c *countingStore) Key(ctx context.Context, id string) (*latchkey.Key, error) {
	c.keyReads.Add(1)
	k, err := c.Store.Key(ctx, id)
	c.paused()
	return k, err
}

func (c *countingStore) KeyBySecretHash(ctx context.Context, hash []byte) (*latchkey.Key, error) {
	c.hashReads.Add(1)
	k, err := c.Store.KeyBySecretHash(ctx, hash)
	c.paused()
	return k, err
}

func (c *countingStore) paused() {
	if f := c.afterRead.Swap(nil); f != nil {
		(*f)()
	}
}

// reads is how many key lookups reached SQLite so far.
func (c *countingStore) reads() int64 { return c.keyReads.Load() + c.hashReads.Load() }

// pauseNextRead makes the next lookup stop once it has its result: reached
// is closed then, and the lookup returns when release is closed.
func (c *countingStore) pauseNextRead() (reached, release chan struct{}) {
	reached, release = make(chan struct{}), make(chan struct{})
	f := func() {
		close(reached)
		<-release
	}
	c.afterRead.Store(&f)
	return reached, release
}

// countedVerifier returns a verifier of its own over s's store, counted:
// the core's calls to s.Verifier (it purges on every change) do not reach
// it, so each test says itself what the verifier is told.
func countedVerifier(s *lktest.Stack) (*auth.Verifier, *countingStore) {
	cs := &countingStore{Store: s.Store}
	return auth.NewVerifier(cs, s.Keys, nil), cs
}

// newAccountKey makes an account-scoped key through the core.
func newAccountKey(t *testing.T, s *lktest.Stack, name string, policy latchkey.Policy) lktest.Credentials {
	t.Helper()
	k, err := s.Svc.CreateKey(context.Background(), s.Principal(t), core.KeySpec{Name: name, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	return lktest.Credentials{ID: k.ID, Secret: k.Secrets[0].Plain, AccountID: k.AccountID}
}

// storeKeyWithSecret writes an account key holding sec straight to the
// store, as the core does once it has made a secret: it lets a test choose
// a secret that was tried before the key existed.
func storeKeyWithSecret(t *testing.T, s *lktest.Stack, id, sec string) []byte {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	hash := s.Keys.Hash(sec)
	k := &latchkey.Key{
		ID: id, AccountID: s.Account.AccountID, Name: id,
		Policy:    latchkey.Policy{Type: latchkey.KeyTypeSecret},
		Secrets:   []latchkey.Secret{{Hash: hash, Sealed: s.Keys.Seal([]byte(sec), secret.KeyRecord(id)), CreatedAt: now}},
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.Store.CreateKey(context.Background(), k, 0); err != nil {
		t.Fatal(err)
	}
	return hash
}

// setDisabled changes a key's Disabled flag in the store, as the core
// commits an update, without telling any verifier.
func setDisabled(t *testing.T, s *lktest.Stack, id string, disabled bool) {
	t.Helper()
	ctx := context.Background()
	k, err := s.Store.Key(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	k.Policy.Disabled = disabled
	k.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	if err := s.Store.UpdateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
}

func forgedSecret(t testing.TB) string {
	t.Helper()
	sec, err := secret.Generate(secret.SecretKind, secret.Live)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

// credentialForms are the three ways a key's secret is sent.
func credentialForms(t testing.TB, c lktest.Credentials, scope string) map[string]string {
	return map[string]string{
		"basic":         basicHeader(c),
		"jwt":           jwtHeader(t, c, scope),
		"bearer secret": "Bearer " + c.Secret,
	}
}

// TestForgetLeavesOtherKeysWarm forgets one of two warm keys after a change
// to it: the other is still answered with the store closed and its files
// untouched, while the forgotten one is read again and its change is seen,
// its cached JWT included.
func TestForgetLeavesOtherKeysWarm(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	v, cs := countedVerifier(s)
	aCreds := newAccountKey(t, s, "a", latchkey.Policy{})
	a := credentialForms(t, aCreds, "account")
	bCreds := newAccountKey(t, s, "b", latchkey.Policy{})
	b := credentialForms(t, bCreds, "account")
	for _, forms := range []map[string]string{a, b} {
		for name, h := range forms {
			if _, err := v.Authorization(ctx, h); err != nil {
				t.Fatalf("warming %s: %v", name, err)
			}
		}
	}

	setDisabled(t, s, bCreds.ID, true)
	for name, h := range b {
		if _, err := v.Authorization(ctx, h); err != nil {
			t.Fatalf("%s before Forget: %v (the cache should still answer, unaware)", name, err)
		}
	}
	v.Forget(bCreds.ID)

	before := cs.reads()
	for name, h := range a {
		if _, err := v.Authorization(ctx, h); err != nil {
			t.Fatalf("other key, %s, after Forget: %v", name, err)
		}
	}
	if n := cs.reads() - before; n != 0 {
		t.Fatalf("the key not forgotten was read from the store %d times", n)
	}
	for _, name := range []string{"basic", "bearer secret", "jwt"} {
		if _, err := v.Authorization(ctx, b[name]); err != auth.ErrKeyDisabled {
			t.Fatalf("forgotten key, %s: err = %v, want ErrKeyDisabled", name, err)
		}
	}
	// One read reloads it; the bare secret and the cached JWT then use it.
	if n := cs.reads() - before; n != 1 {
		t.Fatalf("the forgotten key was read %d times, want 1", n)
	}

	if err := s.Store.Close(); err != nil {
		t.Fatal(err)
	}
	files := s.RawFiles(t)
	for name, h := range a {
		for range 100 {
			if p, err := v.Authorization(ctx, h); err != nil || p.KeyID != aCreds.ID {
				t.Fatalf("other key, %s, with the store closed: %v, %v", name, p, err)
			}
		}
	}
	if !bytes.Equal(files, s.RawFiles(t)) {
		t.Fatal("verifying the warm key wrote to the database files")
	}
}

// TestStaleLoadIsNotCached holds a load of a key in flight, with the key as
// it was, while the key is disabled and forgotten: that load may answer its
// own request, but must not be cached, or the key would stay enabled.
func TestStaleLoadIsNotCached(t *testing.T) {
	for _, form := range []string{"basic", "bearer secret", "jwt"} {
		t.Run(form, func(t *testing.T) {
			s := lktest.New(t)
			ctx := context.Background()
			v, cs := countedVerifier(s)
			c := newAccountKey(t, s, "k", latchkey.Policy{})
			h := credentialForms(t, c, "account")[form]

			reached, release := cs.pauseNextRead()
			done := make(chan error)
			go func() {
				_, err := v.Authorization(ctx, h)
				done <- err
			}()
			<-reached // the load has read the key, enabled
			setDisabled(t, s, c.ID, true)
			v.Forget(c.ID)
			close(release)
			if err := <-done; err != nil {
				t.Fatalf("the request that began before the change: %v", err)
			}

			before := cs.reads()
			if _, err := v.Authorization(ctx, h); err != auth.ErrKeyDisabled {
				t.Fatalf("after Forget: err = %v, want ErrKeyDisabled (a stale load was cached)", err)
			}
			if cs.reads() != before+1 {
				t.Fatalf("after Forget: %d reads, want 1", cs.reads()-before)
			}
		})
	}
}

// TestUnknownCredentialsReadTheStoreOnce sends credentials that match no
// key twice: the second time is answered without the store.
func TestUnknownCredentialsReadTheStoreOnce(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	v, cs := countedVerifier(s)
	unknownID := lktest.Credentials{ID: "act_000000000000000000000000", Secret: forgedSecret(t)}
	unknownKid := lktest.Credentials{ID: "act_111111111111111111111111", Secret: forgedSecret(t)}
	forged := forgedSecret(t)
	for _, tc := range []struct {
		name string
		try  func() error
	}{
		{"bearer secret", func() error { _, err := v.Authorization(ctx, "Bearer "+forged); return err }},
		{"bare secret header", func() error { _, err := v.Headers(ctx, "", forged); return err }},
		{"api key header", func() error { _, err := v.Headers(ctx, forged, ""); return err }},
		{"basic, unknown id", func() error { _, err := v.Authorization(ctx, basicHeader(unknownID)); return err }},
		{"jwt, unknown kid", func() error { _, err := v.Authorization(ctx, jwtHeader(t, unknownKid, "account")); return err }},
	} {
		before := cs.reads()
		for range 3 {
			if err := tc.try(); err != auth.ErrInvalid {
				t.Fatalf("%s: err = %v, want ErrInvalid", tc.name, err)
			}
		}
		// The first case reads once; the next two send the same secret
		// in other headers, already remembered.
		want := int64(1)
		if tc.name == "bare secret header" || tc.name == "api key header" {
			want = 0
		}
		if n := cs.reads() - before; n != want {
			t.Errorf("%s sent 3 times: %d reads, want %d", tc.name, n, want)
		}
	}

	// A malformed secret never reaches the store.
	before := cs.reads()
	bad := []byte(forged)
	bad[len(bad)-7] ^= 1 // a payload character changed, so the checksum no longer matches
	if _, err := v.Authorization(ctx, basicHeader(lktest.Credentials{ID: "act_222222222222222222222222", Secret: string(bad)})); err != auth.ErrInvalid {
		t.Fatalf("malformed secret: err = %v", err)
	}
	if n := cs.reads() - before; n != 0 {
		t.Errorf("a malformed secret was looked up %d times", n)
	}

	// Purge forgets what was unknown too.
	v.Purge()
	if _, err := v.Authorization(ctx, "Bearer "+forged); err != auth.ErrInvalid {
		t.Fatal(err)
	}
	if n := cs.reads() - before; n != 1 {
		t.Errorf("after Purge: %d reads, want 1", n)
	}
}

// TestAddedMakesSecretFindable tries a secret before any key holds it, then
// stores a key with it: the verifier keeps answering from memory that it is
// unknown until Added names its hash.
func TestAddedMakesSecretFindable(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	v, cs := countedVerifier(s)
	sec := forgedSecret(t)
	if _, err := v.Secret(ctx, sec); err != auth.ErrInvalid {
		t.Fatalf("before the key exists: err = %v", err)
	}
	const id = "act_333333333333333333333333"
	hash := storeKeyWithSecret(t, s, id, sec)
	before := cs.reads()
	if _, err := v.Secret(ctx, sec); err != auth.ErrInvalid {
		t.Fatalf("stored, Added not called: err = %v, want ErrInvalid from memory", err)
	}
	if cs.reads() != before {
		t.Fatal("the remembered unknown secret was looked up again")
	}
	v.Added(hash)
	p, err := v.Secret(ctx, sec)
	if err != nil || p.KeyID != id {
		t.Fatalf("after Added: %v, %v", p, err)
	}
}

// TestForgetNamesANewKeyID tries an id before a key has it: Forget with the
// new key's id, as the core calls it on creation, makes the id known.
func TestForgetNamesANewKeyID(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	v, _ := countedVerifier(s)
	const id = "act_444444444444444444444444"
	c := lktest.Credentials{ID: id, Secret: forgedSecret(t)}
	for _, h := range []string{basicHeader(c), jwtHeader(t, c, "account")} {
		if _, err := v.Authorization(ctx, h); err != auth.ErrInvalid {
			t.Fatalf("before the key exists: err = %v", err)
		}
	}
	hash := storeKeyWithSecret(t, s, id, c.Secret)
	if _, err := v.Authorization(ctx, basicHeader(c)); err != auth.ErrInvalid {
		t.Fatalf("stored, not yet announced: err = %v, want ErrInvalid from memory", err)
	}
	v.Forget(id)
	v.Added(hash)
	for name, h := range credentialForms(t, c, "account") {
		if p, err := v.Authorization(ctx, h); err != nil || p.KeyID != id {
			t.Fatalf("%s after Forget: %v, %v", name, p, err)
		}
	}
}

// TestUnknownLookupRacingAdded holds a lookup of a secret that matches no
// key in flight while a key with it is created and announced: the miss
// answers its own request but is not remembered.
func TestUnknownLookupRacingAdded(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	v, cs := countedVerifier(s)
	sec := forgedSecret(t)
	reached, release := cs.pauseNextRead()
	done := make(chan error)
	go func() {
		_, err := v.Secret(ctx, sec)
		done <- err
	}()
	<-reached
	const id = "act_555555555555555555555555"
	v.Added(storeKeyWithSecret(t, s, id, sec))
	close(release)
	if err := <-done; err != auth.ErrInvalid {
		t.Fatalf("the lookup that began before the key: err = %v", err)
	}
	if p, err := v.Secret(ctx, sec); err != nil || p.KeyID != id {
		t.Fatalf("after Added: %v, %v (a stale miss was remembered)", p, err)
	}
}

// TestForgedSecretsDoNotEvictValidKeys sends twice as many forged secrets
// as the memory of unknown secrets holds: a warm key stays warm, and that
// memory keeps the newest forged secrets, not the oldest.
func TestForgedSecretsDoNotEvictValidKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 store lookups")
	}
	s := lktest.New(t)
	ctx := context.Background()
	v, cs := countedVerifier(s)
	valid := credentialForms(t, s.Account, "account")
	for _, h := range valid {
		if _, err := v.Authorization(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	forged := make([]string, 20000)
	for i := range forged {
		forged[i] = forgedSecret(t)
		if _, err := v.Authorization(ctx, "Bearer "+forged[i]); err != auth.ErrInvalid {
			t.Fatalf("forged secret %d: err = %v", i, err)
		}
	}
	before := cs.reads()
	for name, h := range valid {
		if _, err := v.Authorization(ctx, h); err != nil {
			t.Fatalf("%s after the flood: %v", name, err)
		}
	}
	if n := cs.reads() - before; n != 0 {
		t.Fatalf("the valid key was read %d times after the flood: it was evicted", n)
	}
	// The newest forged secret is remembered; the oldest was evicted.
	if _, err := v.Authorization(ctx, "Bearer "+forged[len(forged)-1]); err != auth.ErrInvalid || cs.reads() != before {
		t.Fatalf("newest forged secret: err = %v, %d reads", err, cs.reads()-before)
	}
	if _, err := v.Authorization(ctx, "Bearer "+forged[0]); err != auth.ErrInvalid || cs.reads() != before+1 {
		t.Fatalf("oldest forged secret: err = %v, %d reads, want 1", err, cs.reads()-before)
	}
}

// TestDisabledKey checks that a disabled key is refused on every form with
// ErrKeyDisabled, but only once its secret is proven, and that enabling it
// again (and telling the verifier) restores it.
func TestDisabledKey(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	v, _ := countedVerifier(s)
	c := newAccountKey(t, s, "off", latchkey.Policy{Disabled: true})
	for name, h := range credentialForms(t, c, "account") {
		for range 2 { // cold, then warm
			if _, err := v.Authorization(ctx, h); err != auth.ErrKeyDisabled {
				t.Fatalf("%s: err = %v, want ErrKeyDisabled", name, err)
			}
		}
	}
	wrong := lktest.Credentials{ID: c.ID, Secret: forgedSecret(t)}
	for name, h := range credentialForms(t, wrong, "account") {
		want := error(auth.ErrInvalid)
		if name == "jwt" {
			want = auth.ErrJWTInvalid
		}
		if _, err := v.Authorization(ctx, h); err != want {
			t.Fatalf("%s with a wrong secret: err = %v, want %v", name, err, want)
		}
	}
	if _, err := v.Basic(ctx, c.ID, c.Secret); err != auth.ErrKeyDisabled {
		t.Fatalf("Basic: err = %v", err)
	}
	if _, err := v.Secret(ctx, c.Secret); err != auth.ErrKeyDisabled {
		t.Fatalf("Secret: err = %v", err)
	}

	setDisabled(t, s, c.ID, false)
	v.Forget(c.ID)
	for name, h := range credentialForms(t, c, "account") {
		if p, err := v.Authorization(ctx, h); err != nil || p.KeyID != c.ID {
			t.Fatalf("%s once enabled: %v, %v", name, p, err)
		}
	}
}

// BenchmarkVerifyUnknownSecret is a forged, well-formed bare secret sent
// again: answered from the memory of unknown secrets.
func BenchmarkVerifyUnknownSecret(b *testing.B) {
	s := lktest.New(b)
	ctx := context.Background()
	h := "Bearer " + forgedSecret(b)
	if _, err := s.Verifier.Authorization(ctx, h); err != auth.ErrInvalid {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Verifier.Authorization(ctx, h); err != auth.ErrInvalid {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyUnknownKeyID is Basic with an id no key has, sent again.
func BenchmarkVerifyUnknownKeyID(b *testing.B) {
	s := lktest.New(b)
	ctx := context.Background()
	h := basicHeader(lktest.Credentials{ID: "act_000000000000000000000000", Secret: forgedSecret(b)})
	if _, err := s.Verifier.Authorization(ctx, h); err != auth.ErrInvalid {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Verifier.Authorization(ctx, h); err != auth.ErrInvalid {
			b.Fatal(err)
		}
	}
}

// TestRolledSecretGraceEnds checks a key with two secrets, the old one in
// its grace period: both verify until the grace period ends, then only the
// new one, on every form and from a warm cache.
func TestRolledSecretGraceEnds(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	clock := now
	v := auth.NewVerifier(s.Store, s.Keys, func() time.Time { return clock })
	const id = "act_666666666666666666666666"
	oldSec, newSec := forgedSecret(t), forgedSecret(t)
	graceEnd := now.Add(time.Hour)
	secretOf := func(sec string, expires *time.Time) latchkey.Secret {
		return latchkey.Secret{Hash: s.Keys.Hash(sec), Sealed: s.Keys.Seal([]byte(sec), secret.KeyRecord(id)), CreatedAt: now, ExpiresAt: expires}
	}
	k := &latchkey.Key{ID: id, AccountID: s.Account.AccountID, Name: id, Policy: latchkey.Policy{Type: latchkey.KeyTypeSecret},
		Secrets: []latchkey.Secret{secretOf(oldSec, &graceEnd), secretOf(newSec, nil)}, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateKey(ctx, k, 0); err != nil {
		t.Fatal(err)
	}
	oldC, newC := lktest.Credentials{ID: id, Secret: oldSec}, lktest.Credentials{ID: id, Secret: newSec}
	forms := func(c lktest.Credentials) []string { return []string{basicHeader(c), "Bearer " + c.Secret} }
	for _, h := range append(forms(oldC), forms(newC)...) {
		if _, err := v.Authorization(ctx, h); err != nil {
			t.Fatalf("within the grace period: %v", err)
		}
	}
	clock = graceEnd
	for _, h := range forms(oldC) {
		if _, err := v.Authorization(ctx, h); err != auth.ErrInvalid {
			t.Fatalf("old secret after its grace period: err = %v, want ErrInvalid", err)
		}
	}
	for _, h := range forms(newC) {
		if _, err := v.Authorization(ctx, h); err != nil {
			t.Fatalf("new secret after the old one's grace period: %v", err)
		}
	}
}

// TestTrustUntil: a change another node made (here: the store changed and
// this verifier not told) is answered from the cache only until the time
// TrustUntil set; from then on every credential form reads the store, sees
// the change, and caches nothing, until the cache is vouched for again. A
// credential remembered as unknown is read again too.
func TestTrustUntil(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	now := time.Now()
	clock := &now
	cs := &countingStore{Store: s.Store}
	v := auth.NewVerifier(cs, s.Keys, func() time.Time { return *clock })
	k := newAccountKey(t, s, "shared", latchkey.Policy{Type: latchkey.KeyTypeSecret})
	forms := credentialForms(t, k, "account")
	unknown := "Bearer " + forgedSecret(t)
	v.TrustUntil(now.Add(time.Second))
	for name, h := range forms {
		if _, err := v.Authorization(ctx, h); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := v.Authorization(ctx, unknown); latchkey.ErrorCode(err) != latchkey.EUNAUTHORIZED {
		t.Fatalf("forged secret: %v", err)
	}
	setDisabled(t, s, k.ID, true) // another node disables the key
	warm := cs.reads()
	for name, h := range forms {
		if _, err := v.Authorization(ctx, h); err != nil {
			t.Fatalf("%s within the trusted time: %v, want the cached answer", name, err)
		}
	}
	v.Authorization(ctx, unknown)
	if cs.reads() != warm {
		t.Fatalf("within the trusted time the store was read %d times", cs.reads()-warm)
	}

	later := now.Add(time.Second) // the bound itself is past it
	clock = &later
	for round := range 2 { // twice: nothing read past the bound is cached
		before := cs.reads()
		for name, h := range forms {
			if _, err := v.Authorization(ctx, h); !errors.Is(err, auth.ErrKeyDisabled) {
				t.Fatalf("round %d, %s past the trusted time: %v, want the key disabled", round, name, err)
			}
		}
		if _, err := v.Authorization(ctx, unknown); latchkey.ErrorCode(err) != latchkey.EUNAUTHORIZED {
			t.Fatalf("forged secret past the trusted time: %v", err)
		}
		if got := cs.reads() - before; got != int64(len(forms)+1) {
			t.Fatalf("round %d: %d store reads past the trusted time, want one per credential (%d)", round, got, len(forms)+1)
		}
	}

	// Past the bound with the store unreachable, nothing is admitted.
	if err := s.Store.Close(); err != nil {
		t.Fatal(err)
	}
	for name, h := range forms {
		if p, err := v.Authorization(ctx, h); err == nil || latchkey.ErrorCode(err) == latchkey.EUNAUTHORIZED {
			t.Fatalf("%s with the store closed past the trusted time: %v, %v; want a store error", name, p, err)
		}
	}
}

// TestServeStale: a verifier made WithServeStale, told the store is
// unreachable, answers from its caches past TrustUntil, as they were: a
// change made meanwhile elsewhere (here: the key disabled) is not seen,
// which is the trade-off the operator chose. TrustUntil ends it. Keys it
// does not hold still read the store, and fail when it cannot answer. A
// verifier made without the option ignores Unreachable.
func TestServeStale(t *testing.T) {
	s := lktest.New(t)
	ctx := context.Background()
	now := time.Now()
	clock := &now
	cs := &countingStore{Store: s.Store}
	v := auth.NewVerifier(cs, s.Keys, func() time.Time { return *clock }, auth.WithServeStale())
	plain := auth.NewVerifier(cs, s.Keys, func() time.Time { return *clock })
	k := newAccountKey(t, s, "warm", latchkey.Policy{Type: latchkey.KeyTypeSecret})
	cold := newAccountKey(t, s, "cold", latchkey.Policy{Type: latchkey.KeyTypeSecret})
	forms := credentialForms(t, k, "account")
	for _, verifier := range []*auth.Verifier{v, plain} {
		verifier.TrustUntil(now.Add(time.Second))
		for name, h := range forms {
			if _, err := verifier.Authorization(ctx, h); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	setDisabled(t, s, k.ID, true) // another node disables the key
	later := now.Add(time.Second)
	clock = &later

	if !v.Unreachable() || plain.Unreachable() {
		t.Fatal("Unreachable: want true for the verifier WithServeStale only")
	}
	before := cs.reads()
	for name, h := range forms {
		if _, err := v.Authorization(ctx, h); err != nil {
			t.Fatalf("%s, store unreachable, serving stale: %v, want the cached answer", name, err)
		}
		if _, err := plain.Authorization(ctx, h); !errors.Is(err, auth.ErrKeyDisabled) {
			t.Fatalf("%s without WithServeStale past the bound: %v, want the store's answer (disabled)", name, err)
		}
	}
	if got := cs.reads() - before; got != int64(len(forms)) {
		t.Fatalf("%d store reads; want one per credential form, all by the verifier without WithServeStale", got)
	}

	// The store answers again: the follower vouches for a time already
	// past, and the verifier reads the store again.
	v.TrustUntil(now)
	for name, h := range forms {
		if _, err := v.Authorization(ctx, h); !errors.Is(err, auth.ErrKeyDisabled) {
			t.Fatalf("%s once TrustUntil ended serving stale: %v, want the key disabled", name, err)
		}
	}

	// A key the cache does not hold is never served stale.
	v.Unreachable()
	if err := s.Store.Close(); err != nil {
		t.Fatal(err)
	}
	for name, h := range credentialForms(t, cold, "account") {
		if p, err := v.Authorization(ctx, h); err == nil || latchkey.ErrorCode(err) == latchkey.EUNAUTHORIZED {
			t.Fatalf("cold key, %s, store closed, serving stale: %v, %v; want a store error", name, p, err)
		}
	}
}
