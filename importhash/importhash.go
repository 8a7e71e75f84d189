// Package importhash reads and checks the secret hashes that other systems
// hand over when their keys are imported: SHA-256 (as hex or base64, as
// Unkey, Tyk with hashed keys and many home-grown systems keep them),
// bcrypt and Argon2id (as home-grown systems keep them, in their usual
// encoded forms). Latchkey never learns these secrets until a client
// presents one; this package is what tells whether it is the right one.
//
// Salted hashes are bounded in cost when they are read: a hash is checked
// on a request's path (once per key: the first success adopts the
// plaintext), so a cost the operator did not choose must not let one
// request take seconds or gigabytes.
package importhash

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// The forms of hashAlgorithm an import names.
const (
	SHA256Hex    = "sha256-hex"
	SHA256Base64 = "sha256-base64"
	Bcrypt       = "bcrypt"
	Argon2id     = "argon2id"
)

// Algorithms lists the accepted hashAlgorithm values, for error messages.
var Algorithms = []string{SHA256Hex, SHA256Base64, Bcrypt, Argon2id}

// Bounds on salted hashes' cost (see the package comment). bcrypt's cost 14
// takes about a second; Argon2id's memory is in KiB (64 MiB).
const (
	MaxBcryptCost     = 14
	MaxArgon2Memory   = 64 * 1024
	MaxArgon2Time     = 10
	MaxArgon2Threads  = 16
	maxArgon2KeyLen   = 128
	maxArgon2SaltLen  = 64
	minArgon2SaltLen  = 8
	minArgon2KeyLen   = 16
	maxEncodedHashLen = 256
)

// Parse reads hash in the form algorithm names and returns it as the
// store keeps it: the algorithm and its digest. The error says what is
// wrong, for the field "hash" (or "hashAlgorithm" for an unknown one).
func Parse(algorithm, hash string) (latchkey.HashAlgorithm, []byte, error) {
	switch algorithm {
	case SHA256Hex:
		b, err := hex.DecodeString(hash)
		if err != nil || len(b) != sha256.Size {
			return "", nil, fmt.Errorf("a sha256-hex hash is 64 hexadecimal digits")
		}
		return latchkey.HashSHA256, b, nil
	case SHA256Base64:
		b, ok := decodeBase64(hash)
		if !ok || len(b) != sha256.Size {
			return "", nil, fmt.Errorf("a sha256-base64 hash is 32 bytes in base64 (44 characters with padding)")
		}
		return latchkey.HashSHA256, b, nil
	case Bcrypt:
		if len(hash) > maxEncodedHashLen {
			return "", nil, fmt.Errorf("not a bcrypt hash")
		}
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return "", nil, fmt.Errorf("not a bcrypt hash ($2a$, $2b$ or $2y$, cost, then 53 characters)")
		}
		if cost > MaxBcryptCost {
			return "", nil, fmt.Errorf("bcrypt cost %d is above the %d Latchkey checks on a request's path", cost, MaxBcryptCost)
		}
		return latchkey.HashBcrypt, []byte(hash), nil
	case Argon2id:
		if _, err := parseArgon2id(hash); err != nil {
			return "", nil, err
		}
		return latchkey.HashArgon2id, []byte(hash), nil
	default:
		return "", nil, fmt.Errorf("unknown hash algorithm; use one of %s", strings.Join(Algorithms, ", "))
	}
}

// decodeBase64 takes standard or URL-safe base64, padded or not: systems
// differ, and a 32-byte value reads the same in all four.
func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// Digest is the SHA-256 of a presented secret: what an imported SHA-256
// secret is looked up by.
func Digest(plain string) [sha256.Size]byte { return sha256.Sum256([]byte(plain)) }

// Match reports whether plain is the secret an imported hash was made of.
// SHA-256 is compared in constant time; bcrypt and Argon2id by their own
// constant-time checks. A digest that no longer parses matches nothing.
func Match(algorithm latchkey.HashAlgorithm, digest []byte, plain string) bool {
	switch algorithm {
	case latchkey.HashSHA256:
		sum := Digest(plain)
		return subtle.ConstantTimeCompare(sum[:], digest) == 1
	case latchkey.HashBcrypt:
		return bcrypt.CompareHashAndPassword(digest, []byte(plain)) == nil
	case latchkey.HashArgon2id:
		h, err := parseArgon2id(string(digest))
		if err != nil {
			return false
		}
		got := argon2.IDKey([]byte(plain), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
		return subtle.ConstantTimeCompare(got, h.key) == 1
	}
	return false
}

// argon2Hash is an Argon2id hash in the PHC string format that the
// reference implementation and most libraries write:
// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<key>, salt and key in unpadded
// standard base64.
type argon2Hash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parseArgon2id(s string) (argon2Hash, error) {
	bad := fmt.Errorf("not an Argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")
	if len(s) > maxEncodedHashLen {
		return argon2Hash{}, bad
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return argon2Hash{}, bad
	}
	var h argon2Hash
	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		name, value, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(value, 10, 32)
		if !ok || err != nil {
			return argon2Hash{}, bad
		}
		switch name {
		case "m":
			h.memory, seen[0] = uint32(n), true
		case "t":
			h.time, seen[1] = uint32(n), true
		case "p":
			if n > 255 {
				return argon2Hash{}, bad
			}
			h.threads, seen[2] = uint8(n), true
		default:
			return argon2Hash{}, bad
		}
	}
	if seen != [3]bool{true, true, true} || h.time == 0 || h.threads == 0 || h.memory < 8*uint32(h.threads) {
		return argon2Hash{}, bad
	}
	if h.memory > MaxArgon2Memory || h.time > MaxArgon2Time || h.threads > MaxArgon2Threads {
		return argon2Hash{}, fmt.Errorf("Argon2id cost above what Latchkey checks on a request's path (m ≤ %d KiB, t ≤ %d, p ≤ %d)",
			MaxArgon2Memory, MaxArgon2Time, MaxArgon2Threads)
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < minArgon2SaltLen || len(h.salt) > maxArgon2SaltLen {
		return argon2Hash{}, bad
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < minArgon2KeyLen || len(h.key) > maxArgon2KeyLen {
		return argon2Hash{}, bad
	}
	return h, nil
}
