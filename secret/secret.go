// Package secret makes and keeps API key secrets: it generates them with a
// recognisable prefix and a checksum, refuses malformed ones before any
// lookup, indexes them by HMAC-SHA256 and seals them with AES-256-GCM under
// keys derived from the master key.
package secret

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
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
	// MaxLen bounds any well-formed secret; longer input is refused unread.
	MaxLen = len("sk_sandbox_") + payloadLen + checksumLen
)

var enc = base64.RawURLEncoding

// Generate returns a new secret: kind_environment_ then 43 characters carrying
// 256 bits from crypto/rand, then a 6-character CRC-32 of everything before
// it. All characters are URL-safe ([A-Za-z0-9_-]).
func Generate(kind Kind, env Environment) (string, error) {
	var b [randomBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	body := string(kind) + "_" + string(env) + "_" + enc.EncodeToString(b[:])
	return body + checksum(body), nil
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
	return Kind(s[:2]), true
}

// WellFormed reports whether s has the shape of a Latchkey secret with a
// correct checksum. It reads no database: a mistyped, truncated or made-up
// secret is refused here, before any lookup.
func WellFormed(s string) bool {
	if len(s) > MaxLen {
		return false
	}
	rest, ok := trimPrefix(s)
	if !ok || len(rest) != payloadLen+checksumLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !urlSafe(rest[i]) {
			return false
		}
	}
	body := s[:len(s)-checksumLen]
	// The checksum is public data, so a plain comparison leaks nothing.
	return checksum(body) == s[len(s)-checksumLen:]
}

func trimPrefix(s string) (string, bool) {
	for _, p := range [...]string{"sk_live_", "pk_live_", "sk_sandbox_", "pk_sandbox_"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest, true
		}
	}
	return "", false
}

func checksum(body string) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.ChecksumIEEE([]byte(body)))
	return enc.EncodeToString(b[:])
}

func urlSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
