package auth

import (
	"context"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/importhash"
	"github.com/latchkey/latchkey/secret"
)

// Keys imported from other systems (POST /v1/keys/import) keep the secrets
// their holders already have, in whatever format that system made: not
// Latchkey's, so without its checksum. Such a secret is either known in
// plaintext (imported as such, or adopted since) and found by Latchkey's
// own index like any other, or known only as the other system's hash:
// SHA-256, found by the digest of the presented secret, or a salted hash
// (bcrypt, Argon2id), found by key id, so only as keyId:secret. The first
// time the plaintext proves such a key, the key adopts it (adopt): sealed
// and indexed as Latchkey's own secrets are, after which the imported hash
// is gone and the key is checked as fast as any other.

// Bounds of a secret not in Latchkey's format, as the import takes them.
const (
	MinForeignSecretLen = 8
	MaxForeignSecretLen = 128
)

// maxSecretLen bounds anything that may be a bare secret, in either format:
// longer input is never one.
const maxSecretLen = max(secret.MaxLen, MaxForeignSecretLen)

// ForeignSecretShape reports whether s can be an imported secret: 8 to 128
// printable ASCII characters with no space, no colon (keyId:secret must
// stay unambiguous), not two dots (the shape of a JWT), and not a mistyped
// Latchkey secret (secret.Shaped, without its checksum). Well-formed
// Latchkey secrets pass too. The import refuses a secret without this
// shape: it could never be presented.
func ForeignSecretShape(s string) bool {
	if len(s) < MinForeignSecretLen || len(s) > MaxForeignSecretLen || strings.Count(s, ".") == 2 ||
		secret.Shaped(s) && !secret.WellFormed(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

// couldBeSecret reports whether a bare credential is worth looking up: a
// well-formed Latchkey secret, or one of the shape an imported key's may
// have.
func couldBeSecret(s string) bool { return secret.WellFormed(s) || ForeignSecretShape(s) }

func digestOf(sec string) []byte {
	d := importhash.Digest(sec)
	return d[:]
}

// adoptByID checks sec against the imported secret of the key with this
// id, as read from the store now, and adopts it if it matches. It is the
// path of keyId:secret credentials for keys whose imported hash is salted.
func (v *Verifier) adoptByID(ctx context.Context, keyID, sec string) (*latchkey.Principal, error) {
	v.misses.Add(1)
	k, err := v.store.Key(ctx, keyID)
	if latchkey.ErrorCode(err) == latchkey.ENOTFOUND {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	return v.adopt(ctx, k, sec)
}

// adopt proves key k with sec against its imported secret and, if it
// matches, makes sec the key's own secret (sealed, and indexed by
// Latchkey's hash) in place of the imported hash, then answers as for any
// key. A key another request adopted meanwhile is read again and checked
// as it now is.
func (v *Verifier) adopt(ctx context.Context, k *latchkey.Key, sec string) (*latchkey.Principal, error) {
	now := v.now()
	imp := k.Imported
	switch {
	case imp == nil: // adopted since the caller looked
		return v.checkFresh(ctx, k.ID, sec)
	case imp.ExpiresAt != nil && !now.Before(*imp.ExpiresAt), !importhash.Match(imp.Algorithm, imp.Digest, sec):
		return nil, ErrInvalid
	}
	_, hash := v.keys.LookupHashes(sec)
	err := v.store.AdoptSecret(ctx, k.ID, latchkey.Secret{
		Hash:      hash,
		Sealed:    v.keys.Seal([]byte(sec), secret.KeyRecord(k.ID)),
		CreatedAt: now.UTC().Truncate(time.Microsecond), // as the stores keep it
	})
	switch latchkey.ErrorCode(err) {
	case "", latchkey.ENOTFOUND: // adopted, by this request or another
	case latchkey.ECONFLICT: // another key has this very secret: it proves neither
		return nil, ErrInvalid
	default:
		return nil, err
	}
	return v.checkFresh(ctx, k.ID, sec)
}

// checkFresh forgets what is cached of a key, reads it again and checks sec
// against its secrets as they are now.
func (v *Verifier) checkFresh(ctx context.Context, keyID, sec string) (*latchkey.Principal, error) {
	v.Forget(keyID)
	v.mu.RLock()
	gen := v.gen
	v.mu.RUnlock()
	k, err := v.store.Key(ctx, keyID)
	if latchkey.ErrorCode(err) == latchkey.ENOTFOUND {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	return v.checkLoaded(k, gen, sec)
}
