package secret_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/secret"
)

// FuzzSecretFormat checks the secret format from outside the package, with
// the checksum recomputed by the standard library rather than the package's
// own code:
//   - whatever WellFormed accepts has the documented layout (brand, prefix,
//     43 payload characters) and a checksum that recomputes, and KindOf and
//     BrandOf agree with WellFormed and with that layout;
//   - any one-byte change to an accepted secret is refused (CRC-32 catches
//     every error within 32 bits, so a typo never reaches the store);
//   - GenerateBranded with any brand either refuses it (exactly when
//     ValidBrand does) or makes a well-formed secret of that brand and kind.
func FuzzSecretFormat(f *testing.F) {
	f.Add(secret.MustGenerate(secret.SecretKind, secret.Live), "", uint8(0), uint(3), byte('A'))
	f.Add(secret.MustGenerate(secret.PublishableKind, secret.Sandbox), "acme", uint8(3), uint(60), byte('-'))
	branded, err := secret.GenerateBranded("my_co_", secret.SecretKind, secret.Sandbox)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(branded, "my_co_", uint8(1), uint(0), byte('_'))
	f.Add(branded, strings.Repeat("z", secret.MaxBrandLen+1), uint8(2), uint(999), byte('z'))
	f.Add("sk_live_", "Acme", uint8(0), uint(0), byte(0))
	f.Add("_sk_live_"+strings.Repeat("A", 49), "_", uint8(0), uint(1), byte(0xff))
	f.Add("sk_sandbox_sk_live_"+strings.Repeat("A", 49), "sk", uint8(2), uint(5), byte('.'))
	f.Add(strings.Repeat("a", secret.MaxLen+1), "ünï", uint8(1), uint(7), byte('\n'))
	f.Fuzz(func(t *testing.T, s, brand string, sel uint8, pos uint, c byte) {
		checkFormat(t, s)
		if secret.WellFormed(s) {
			// One byte changed anywhere is refused.
			i := int(pos % uint(len(s)))
			if s[i] != c {
				typo := s[:i] + string([]byte{c}) + s[i+1:]
				if secret.WellFormed(typo) {
					t.Fatalf("%q with byte %d changed to %q is still well formed", s, i, c)
				}
			}
		}

		kind := [...]secret.Kind{secret.SecretKind, secret.PublishableKind}[sel&1]
		env := [...]secret.Environment{secret.Live, secret.Sandbox}[sel>>1&1]
		got, err := secret.GenerateBranded(brand, kind, env)
		if valid := brand == "" || secret.ValidBrand(brand); !valid {
			if err == nil {
				t.Fatalf("GenerateBranded(%q) accepted a brand ValidBrand refuses: %q", brand, got)
			}
			return
		} else if err != nil {
			t.Fatalf("GenerateBranded(%q, %s, %s): %v", brand, kind, env, err)
		}
		checkFormat(t, got)
		if !secret.WellFormed(got) {
			t.Fatalf("GenerateBranded(%q, %s, %s) = %q, not well formed", brand, kind, env, got)
		}
		if b, ok := secret.BrandOf(got); !ok || b != brand {
			t.Fatalf("BrandOf(%q) = %q, %v; want %q", got, b, ok, brand)
		}
		if k, ok := secret.KindOf(got); !ok || k != kind {
			t.Fatalf("KindOf(%q) = %q, %v; want %q", got, k, ok, kind)
		}
		if want := string(kind) + "_" + string(env) + "_"; !strings.Contains(got, want) {
			t.Fatalf("GenerateBranded(%q, %s, %s) = %q, without %q", brand, kind, env, got, want)
		}
	})
}

// layout is a well-formed secret as the package documents it.
var layout = regexp.MustCompile(`^(?:([a-z0-9_]{1,16})_)?(sk|pk)_(live|sandbox)_[A-Za-z0-9_-]{43}([A-Za-z0-9_-]{6})$`)

// checkFormat checks what WellFormed, KindOf and BrandOf say of s against
// the documented layout and a checksum recomputed independently.
func checkFormat(t *testing.T, s string) {
	t.Helper()
	kind, kindOK := secret.KindOf(s)
	brand, brandOK := secret.BrandOf(s)
	if !secret.WellFormed(s) {
		if kindOK || brandOK || kind != "" || brand != "" {
			t.Fatalf("%q is not well formed, yet KindOf = %q, %v and BrandOf = %q, %v", s, kind, kindOK, brand, brandOK)
		}
		return
	}
	if len(s) > secret.MaxLen {
		t.Fatalf("WellFormed accepted %d bytes, more than MaxLen %d", len(s), secret.MaxLen)
	}
	m := layout.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("WellFormed accepted %q, which is not of the documented layout", s)
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE([]byte(s[:len(s)-6])))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); m[4] != want {
		t.Fatalf("WellFormed accepted %q, whose checksum should be %q", s, want)
	}
	if !kindOK || string(kind) != m[2] {
		t.Fatalf("KindOf(%q) = %q, %v; want %q", s, kind, kindOK, m[2])
	}
	// The regexp's brand group is greedy, and a brand may end in an
	// underscore, so the brand is checked by what precedes the kind.
	prefix := string(kind) + "_" + m[3] + "_"
	if brand != "" {
		prefix = brand + "_" + prefix
	}
	if !brandOK || (brand != "" && !secret.ValidBrand(brand)) || len(s) != len(prefix)+49 || !strings.HasPrefix(s, prefix) {
		t.Fatalf("BrandOf(%q) = %q, %v: not the part before %s", s, brand, brandOK, prefix)
	}
}

// masterKeyError is every message ParseMasterKey may return. None quotes
// the input: it is the one secret that protects every other.
var masterKeyError = regexp.MustCompile(`^master key (is not valid standard base64|must decode to 32 bytes, got \d+)$`)

// FuzzParseMasterKey checks that a master key parses only to 32 bytes that
// read back the same from their canonical text, and that a refusal never
// echoes what was given.
func FuzzParseMasterKey(f *testing.F) {
	f.Add(secret.NewMasterKey())
	f.Add(" " + secret.NewMasterKey() + "\n")
	f.Add(strings.TrimRight(secret.NewMasterKey(), "="))
	f.Add(base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)))
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 31)))
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 33)))
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=") // non-zero padding bits
	f.Add("AAAAAAAAAAAAAAAAAAAAAA\r\nAAAAAAAAAAAAAAAAAAAAA=")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		b, err := secret.ParseMasterKey(text)
		if err != nil {
			if b != nil || !masterKeyError.MatchString(err.Error()) {
				t.Fatalf("ParseMasterKey refused with %d bytes and an unexpected message: %q", len(b), err)
			}
			return
		}
		if len(b) != secret.MasterKeySize {
			t.Fatalf("ParseMasterKey returned %d bytes", len(b))
		}
		again, err := secret.ParseMasterKey(base64.StdEncoding.EncodeToString(b))
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("the canonical text of a parsed master key does not parse back: %v", err)
		}
		if _, err := secret.NewKeyring(b); err != nil {
			t.Fatalf("NewKeyring refused a parsed master key: %v", err)
		}
	})
}
