// Package secret makes and keeps API key secrets: it generates them with a
// recognisable prefix and a checksum, refuses malformed ones before any
// lookup, indexes them by HMAC-SHA256 and seals them with AES-256-GCM under
// keys derived from the master key.
package secret

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strconv"
	"strings"
)

// Environment is the second part of a secret's prefix: live or sandbox, as in
// the Rebilly key format (sk_live_…, pk_sandbox_…).
type Environment string

// The environments.
const (
	Live    Environment = "live"
	Sandbox Environment = "sandbox"
)

// Kind is the first part of a secret's prefix.
type Kind string

// The kinds: sk for secret keys, pk for publishable keys.
const (
	SecretKind      Kind = "sk"
	PublishableKind Kind = "pk"
)

const (
	// randomBytes is the secret's entropy: 256 bits.
	randomBytes = 32
	// payloadLen is randomBytes in unpadded base64url.
	payloadLen = 43
	// checksumLen is a CRC-32 in unpadded base64url.
	checksumLen = 6
	// MaxBrandLen bounds a brand: the user's own prefix before ours.
	MaxBrandLen = 16
	// MaxLen bounds any well-formed secret; longer input is refused unread.
	MaxLen = MaxBrandLen + len("_sk_sandbox_") + payloadLen + checksumLen
)

var enc = base64.RawURLEncoding

// Generate returns a new secret: kind_environment_ then 43 characters carrying
// 256 bits from crypto/rand, then a 6-character CRC-32 of everything before
// it. All characters are URL-safe ([A-Za-z0-9_-]).
func Generate(kind Kind, env Environment) (string, error) {
	return GenerateBranded("", kind, env)
}

// GenerateBranded is Generate with the user's brand in front, as in
// acme_sk_live_…, so that their customers' keys carry their name and their
// own secret scanners can find them. The checksum covers the brand too. An
// empty brand is no brand; others must pass ValidBrand.
func GenerateBranded(brand string, kind Kind, env Environment) (string, error) {
	if brand != "" && !ValidBrand(brand) {
		return "", errors.New("secret: invalid brand " + strconv.Quote(brand))
	}
	var b [randomBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	body := string(kind) + "_" + string(env) + "_" + enc.EncodeToString(b[:])
	if brand != "" {
		body = brand + "_" + body
	}
	return body + checksum(body), nil
}

// ValidBrand reports whether s may be a brand: 1 to MaxBrandLen lowercase
// letters, digits and underscores.
func ValidBrand(s string) bool {
	if len(s) == 0 || len(s) > MaxBrandLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// MustGenerate is Generate for callers that cannot go on without a secret.
// crypto/rand does not fail on supported platforms.
func MustGenerate(kind Kind, env Environment) string {
	s, err := Generate(kind, env)
	if err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return s
}

// KindOf returns the kind of a well-formed secret, and false for anything else.
func KindOf(s string) (Kind, bool) {
	if !WellFormed(s) {
		return "", false
	}
	_, standard, _ := split(s)
	return Kind(standard[:2]), true
}

// BrandOf returns the brand of a well-formed secret ("" for none), and false
// for anything else.
func BrandOf(s string) (string, bool) {
	if !WellFormed(s) {
		return "", false
	}
	brand, _, _ := split(s)
	return brand, true
}

// PublicPrefix returns the part of a well-formed secret that says what it
// is and nothing of its value, such as "acme_sk_live_" (the brand, the
// kind and the environment), and false for anything else. Screens show it
// with the rest masked.
func PublicPrefix(s string) (string, bool) {
	if !WellFormed(s) {
		return "", false
	}
	_, _, rest := split(s)
	return s[:len(s)-len(rest)], true
}

// WellFormed reports whether s has the shape of a Latchkey secret with a
// correct checksum. It reads no database: a mistyped, truncated or made-up
// secret is refused here, before any lookup.
func WellFormed(s string) bool {
	if !Shaped(s) {
		return false
	}
	var sum [checksumLen]byte
	appendChecksum(sum[:0], s[:len(s)-checksumLen])
	// The checksum is public data, so a plain comparison leaks nothing.
	return string(sum[:]) == s[len(s)-checksumLen:]
}

// Shaped reports whether s has the layout of a Latchkey secret (a prefix
// such as sk_live_, then the payload and checksum in their alphabet and
// length) whether or not its checksum holds. Such a string that is not
// WellFormed is a Latchkey secret mistyped, never another system's: the
// verifier refuses it unread, and the import refuses it as a secret.
func Shaped(s string) bool {
	if len(s) > MaxLen {
		return false
	}
	_, _, rest, ok := splitPrefix(s)
	if !ok {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !urlSafe(rest[i]) {
			return false
		}
	}
	return true
}

// split parses a secret known to be well formed.
func split(s string) (brand, standard, rest string) {
	brand, standard, rest, _ = splitPrefix(s)
	return brand, standard, rest
}

// splitPrefix cuts s into its optional brand, our prefix (sk_live_ and the
// like) and the payload with its checksum. It reads from the right: the
// payload and checksum have a fixed length, and a brand may hold
// underscores.
func splitPrefix(s string) (brand, standard, rest string, ok bool) {
	if len(s) < payloadLen+checksumLen {
		return "", "", "", false
	}
	head, rest := s[:len(s)-payloadLen-checksumLen], s[len(s)-payloadLen-checksumLen:]
	for _, p := range [...]string{"sk_live_", "pk_live_", "sk_sandbox_", "pk_sandbox_"} {
		before, found := strings.CutSuffix(head, p)
		if !found {
			continue
		}
		if before == "" {
			return "", p, rest, true
		}
		if b, found := strings.CutSuffix(before, "_"); found && ValidBrand(b) {
			return b, p, rest, true
		}
	}
	return "", "", "", false
}

func checksum(body string) string {
	return string(appendChecksum(nil, body))
}

// appendChecksum appends body's checksum to dst. WellFormed uses it with a
// buffer on the stack: it runs on every verification.
func appendChecksum(dst []byte, body string) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32IEEE(body))
	return enc.AppendEncode(dst, b[:])
}

// crc32IEEE is crc32.ChecksumIEEE of a string, read in place: converting
// the string to a []byte for the library's function would allocate on
// every verification. The result is the same (see the tests).
func crc32IEEE(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}

func urlSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
