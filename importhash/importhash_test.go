package importhash

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argon2PHC encodes an Argon2id hash of plain as the reference
// implementation does.
func argon2PHC(plain string, salt []byte, m, t uint32, p uint8) string {
	key := argon2.IDKey([]byte(plain), salt, t, m, p, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Each form an import takes is read, and then matches its own plaintext and
// nothing else.
func TestParseAndMatch(t *testing.T) {
	const plain = "unkey_3ZbDn8Jm7p2QyXr5"
	sum := sha256.Sum256([]byte(plain))
	bc, err := bcrypt.GenerateFromPassword([]byte(plain), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		algorithm, hash string
		want            latchkey.HashAlgorithm
	}{
		{SHA256Hex, hex.EncodeToString(sum[:]), latchkey.HashSHA256},
		{SHA256Hex, strings.ToUpper(hex.EncodeToString(sum[:])), latchkey.HashSHA256},
		{SHA256Base64, base64.StdEncoding.EncodeToString(sum[:]), latchkey.HashSHA256},
		{SHA256Base64, base64.RawURLEncoding.EncodeToString(sum[:]), latchkey.HashSHA256},
		{Bcrypt, string(bc), latchkey.HashBcrypt},
		{Argon2id, argon2PHC(plain, []byte("saltsaltsalt"), 1024, 1, 1), latchkey.HashArgon2id},
	}
	for _, c := range cases {
		alg, digest, err := Parse(c.algorithm, c.hash)
		if err != nil || alg != c.want {
			t.Errorf("Parse(%s, %s) = %s, %v; want %s", c.algorithm, c.hash, alg, err, c.want)
			continue
		}
		if !Match(alg, digest, plain) {
			t.Errorf("%s: the hash does not match its plaintext", c.algorithm)
		}
		for _, other := range []string{"", plain + "x", plain[:len(plain)-1], strings.ToUpper(plain)} {
			if Match(alg, digest, other) {
				t.Errorf("%s: the hash matches %q", c.algorithm, other)
			}
		}
	}
}

// A bcrypt hash made elsewhere (a published test vector of the OpenBSD
// implementation) is read and checked.
func TestBcryptVector(t *testing.T) {
	alg, digest, err := Parse(Bcrypt, "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
	if err != nil {
		t.Fatal(err)
	}
	if !Match(alg, digest, "U*U") || Match(alg, digest, "U*U*") {
		t.Error("the published vector does not check as published")
	}
}

// What is not a hash of the named form, or costs more than a request may
// spend, is refused with a message that says so.
func TestParseRefuses(t *testing.T) {
	costly, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the cost field: bcrypt.Cost reads it without hashing.
	costly = []byte(strings.Replace(string(costly), "$04$", "$15$", 1))
	cases := []struct{ algorithm, hash, want string }{
		{"md5", "00", "unknown hash algorithm"},
		{"", "00", "unknown hash algorithm"},
		{SHA256Hex, "abc", "64 hexadecimal"},
		{SHA256Hex, strings.Repeat("g", 64), "64 hexadecimal"},
		{SHA256Base64, base64.StdEncoding.EncodeToString(make([]byte, 31)), "32 bytes"},
		{SHA256Base64, "!!!", "32 bytes"},
		{Bcrypt, "$2b$10$short", "not a bcrypt hash"},
		{Bcrypt, string(costly), "above the 14"},
		{Argon2id, "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43), "not an Argon2id"},
		{Argon2id, argon2PHC("x", []byte("saltsalt"), 1024, 1, 1)[:40], "not an Argon2id"},
		{Argon2id, "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43), "cost above"},
		{Argon2id, "$argon2id$v=19$m=1024,t=0,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43), "not an Argon2id"},
		{Argon2id, "$argon2id$v=19$m=1024,t=1,p=1,x=2$c2FsdHNhbHQ$" + strings.Repeat("A", 43), "not an Argon2id"},
	}
	for _, c := range cases {
		if _, _, err := Parse(c.algorithm, c.hash); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q, %q) = %v; want an error saying %q", c.algorithm, c.hash, err, c.want)
		}
	}
}
