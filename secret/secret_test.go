package secret

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

var shape = regexp.MustCompile(`^(sk|pk)_(live|sandbox)_[A-Za-z0-9_-]{49}$`)

func TestGenerateShape(t *testing.T) {
	seen := map[string]bool{}
	for _, kind := range []Kind{SecretKind, PublishableKind} {
		for _, env := range []Environment{Live, Sandbox} {
			for range 100 {
				s := MustGenerate(kind, env)
				if !shape.MatchString(s) {
					t.Fatalf("Generate(%s, %s) = %q, not of the documented shape", kind, env, s)
				}
				if !strings.HasPrefix(s, string(kind)+"_"+string(env)+"_") {
					t.Fatalf("Generate(%s, %s) = %q, wrong prefix", kind, env, s)
				}
				if !WellFormed(s) {
					t.Fatalf("WellFormed(%q) = false for a generated secret", s)
				}
				if k, ok := KindOf(s); !ok || k != kind {
					t.Fatalf("KindOf(%q) = %q, %v; want %q", s, k, ok, kind)
				}
				if seen[s] {
					t.Fatalf("Generate repeated %q", s)
				}
				seen[s] = true
			}
		}
	}
}

func TestWellFormedRefusesDamage(t *testing.T) {
	s := MustGenerate(SecretKind, Live)
	flip := func(i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	bad := map[string]string{
		"empty":            "",
		"truncated":        s[:len(s)-1],
		"extended":         s + "A",
		"payload typo":     flip(20),
		"checksum typo":    flip(len(s) - 1),
		"unknown prefix":   "xk_live_" + s[len("sk_live_"):],
		"prefix swapped":   "pk_live_" + s[len("sk_live_"):],
		"not url-safe":     s[:20] + "+" + s[21:],
		"huge":             strings.Repeat("a", 1<<20),
		"only prefix":      "sk_live_",
		"sunshine example": "2vErhBhv81FZ5YXbC5XElVcnoNSqz0XjhqSYII4AOT3GCA5UojDCT07Z9NG_4PVzcxv-Zdd7IpeBL-RcXvfOyw",
	}
	for name, in := range bad {
		if WellFormed(in) {
			t.Errorf("%s: WellFormed(%.40q) = true, want false", name, in)
		}
	}
}

func FuzzWellFormed(f *testing.F) {
	f.Add(MustGenerate(SecretKind, Live))
	f.Add("sk_live_")
	f.Fuzz(func(t *testing.T, s string) {
		if WellFormed(s) && !shape.MatchString(s) {
			t.Fatalf("WellFormed accepted %q, which is not of the documented shape", s)
		}
	})
}

func testKeyring(t *testing.T) *Keyring {
	t.Helper()
	master, err := ParseMasterKey(NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHashIsKeyedAndStable(t *testing.T) {
	a, b := testKeyring(t), testKeyring(t)
	s := MustGenerate(SecretKind, Live)
	if !Equal(a.Hash(s), a.Hash(s)) {
		t.Fatal("Hash is not stable under one keyring")
	}
	if Equal(a.Hash(s), b.Hash(s)) {
		t.Fatal("two master keys gave the same hash: the index is not keyed")
	}
	if bytes.Contains(a.Hash(s), []byte(s)) {
		t.Fatal("hash contains the secret")
	}
}

func TestSealOpen(t *testing.T) {
	k := testKeyring(t)
	plain := []byte(MustGenerate(SecretKind, Live))
	sealed := k.Seal(plain, KeyRecord("key_1"))
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := k.Open(sealed, KeyRecord("key_1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plain)
	}
	if _, err := k.Open(sealed, KeyRecord("key_2")); err != ErrSealBroken {
		t.Fatalf("Open with other additional data: err = %v, want ErrSealBroken", err)
	}
	// The same id under another kind is another record: a key's secret
	// copied to a webhook with that id does not open there.
	if _, err := k.Open(sealed, WebhookRecord("key_1")); err != ErrSealBroken {
		t.Fatalf("Open as another kind of record: err = %v, want ErrSealBroken", err)
	}
	if _, err := k.OpenLegacy(sealed, "key_1"); err != ErrSealBroken {
		t.Fatalf("OpenLegacy of a value sealed to a record: err = %v, want ErrSealBroken", err)
	}
	if _, err := testKeyring(t).Open(sealed, KeyRecord("key_1")); err != ErrSealBroken {
		t.Fatalf("Open under another master key: err = %v, want ErrSealBroken", err)
	}
	for _, damaged := range [][]byte{nil, sealed[:5], append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1)} {
		if _, err := k.Open(damaged, KeyRecord("key_1")); err != ErrSealBroken {
			t.Fatalf("Open(damaged) err = %v, want ErrSealBroken", err)
		}
	}
}

func TestParseMasterKey(t *testing.T) {
	if _, err := ParseMasterKey(NewMasterKey() + "\n"); err != nil {
		t.Fatalf("a generated key with a trailing newline: %v", err)
	}
	for _, bad := range []string{"", "not base64!", "c2hvcnQ=", strings.Repeat("A", 64)} {
		if _, err := ParseMasterKey(bad); err == nil {
			t.Errorf("ParseMasterKey(%q) accepted", bad)
		}
	}
	if _, err := NewKeyring(make([]byte, 16)); err == nil {
		t.Error("NewKeyring accepted a 16-byte key")
	}
}

func TestBrandedSecrets(t *testing.T) {
	for _, brand := range []string{"acme", "a", "my_co", "x2_", strings.Repeat("z", MaxBrandLen), "sk"} {
		for _, kind := range []Kind{SecretKind, PublishableKind} {
			s, err := GenerateBranded(brand, kind, Sandbox)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(s, brand+"_"+string(kind)+"_sandbox_") || !WellFormed(s) {
				t.Fatalf("GenerateBranded(%q) = %q, not well formed", brand, s)
			}
			if got, ok := BrandOf(s); !ok || got != brand {
				t.Errorf("BrandOf(%q) = %q, %v; want %q", s, got, ok, brand)
			}
			if got, ok := KindOf(s); !ok || got != kind {
				t.Errorf("KindOf(%q) = %q, %v; want %q", s, got, ok, kind)
			}
			// The checksum covers the brand: another brand on the same
			// secret is refused.
			if other := "b" + s; WellFormed(other) {
				t.Errorf("%q with its brand changed is still well formed", s)
			}
		}
	}
	for _, bad := range []string{"", "Acme", "ac-me", "acme!", strings.Repeat("z", MaxBrandLen+1), "ac me"} {
		if _, err := GenerateBranded(bad, SecretKind, Live); bad != "" && err == nil {
			t.Errorf("GenerateBranded(%q) accepted the brand", bad)
		}
		if bad != "" && ValidBrand(bad) {
			t.Errorf("ValidBrand(%q) = true", bad)
		}
	}
	plain := MustGenerate(SecretKind, Live)
	if b, ok := BrandOf(plain); !ok || b != "" {
		t.Errorf("BrandOf(unbranded) = %q, %v", b, ok)
	}
	if WellFormed("_" + plain) {
		t.Error("an empty brand before the prefix was accepted")
	}
}

func TestPublicPrefixShowsNothingOfTheRandomPart(t *testing.T) {
	for _, tc := range []struct {
		brand string
		kind  Kind
		env   Environment
		want  string
	}{
		{"", SecretKind, Live, "sk_live_"},
		{"", PublishableKind, Sandbox, "pk_sandbox_"},
		{"acme_co", SecretKind, Live, "acme_co_sk_live_"},
	} {
		// The random part holds "_" about half the time; many secrets make
		// sure a cut at the wrong underscore would show.
		for range 200 {
			s, err := GenerateBranded(tc.brand, tc.kind, tc.env)
			if tc.brand == "" {
				s, err = Generate(tc.kind, tc.env)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := PublicPrefix(s)
			if !ok || got != tc.want {
				t.Fatalf("PublicPrefix(%q) = %q, %v; want %q", s, got, ok, tc.want)
			}
		}
	}
	for _, bad := range []string{"", "sk_live_short", "not a secret"} {
		if p, ok := PublicPrefix(bad); ok {
			t.Errorf("PublicPrefix(%q) = %q, true; want false", bad, p)
		}
	}
}
