package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// MasterKeySize is the master key's length: 32 bytes, for AES-256.
const MasterKeySize = 32

// ErrSealBroken means a sealed value could not be opened: it was sealed under
// another master key, or it was changed.
var ErrSealBroken = errors.New("secret: sealed value does not open under this master key")

// Keyring holds the two keys derived from the master key: one indexes
// secrets by HMAC-SHA256, the other seals them with AES-256-GCM. Deriving them
// (HKDF-SHA256, one label each) keeps one secret to manage outside the
// database while never using one key for two purposes.
type Keyring struct {
	aead  cipher.AEAD
	hmacs sync.Pool // of hash.Hash keyed with the index key; Reset restores the key
}

// NewKeyring derives a keyring from a 32-byte master key.
func NewKeyring(master []byte) (*Keyring, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("secret: master key must be %d bytes, got %d", MasterKeySize, len(master))
	}
	indexKey, err := hkdf.Key(sha256.New, master, nil, "latchkey secret index v1", 32)
	if err != nil {
		return nil, err
	}
	sealKey, err := hkdf.Key(sha256.New, master, nil, "latchkey secret seal v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &Keyring{aead: aead}
	k.hmacs.New = func() any { return hmac.New(sha256.New, indexKey) }
	return k, nil
}

// Hash returns HMAC-SHA256 of the secret under the index key: the value the
// store keeps to find and check a secret.
func (k *Keyring) Hash(secret string) []byte {
	h := k.hmacs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(secret))
	sum := h.Sum(make([]byte, 0, sha256.Size))
	k.hmacs.Put(h)
	return sum
}

// Record names the row a sealed value belongs to: its kind ("key",
// "webhook", "meta") and its id. Its text, "kind:id", is the value's GCM
// additional data, so a sealed value copied to another row does not open
// there, not even to a row of another kind that happens to share its id
// (a Rebilly key id is chosen by the client and could equal a webhook's).
type Record struct{ Kind, ID string }

// The kinds of record that hold sealed values.
const (
	KindKey     = "key"
	KindWebhook = "webhook"
	KindMeta    = "meta"
)

// KeyRecord names a key's row: every secret of the key is sealed under it.
func KeyRecord(id string) Record { return Record{KindKey, id} }

// WebhookRecord names a webhook's row, whose signing secret is sealed.
func WebhookRecord(id string) Record { return Record{KindWebhook, id} }

// MetaRecord names a server-level value.
func MetaRecord(name string) Record { return Record{KindMeta, name} }

func (r Record) additionalData() []byte { return []byte(r.Kind + ":" + r.ID) }

// Seal encrypts plain with AES-256-GCM under the seal key, bound to rec.
func (k *Keyring) Seal(plain []byte, rec Record) []byte {
	return k.seal(plain, rec.additionalData())
}

// Open decrypts a value made by Seal for the same record. Returns
// ErrSealBroken if it does not open.
func (k *Keyring) Open(sealed []byte, rec Record) ([]byte, error) {
	return k.open(sealed, rec.additionalData())
}

// OpenLegacy opens a value sealed before records named their kind, when the
// additional data was the bare id. Only the migration that reseals such
// values calls it.
func (k *Keyring) OpenLegacy(sealed []byte, id string) ([]byte, error) {
	return k.open(sealed, []byte(id))
}

func (k *Keyring) seal(plain, additional []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return k.aead.Seal(nonce, nonce, plain, additional)
}

func (k *Keyring) open(sealed, additional []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, ErrSealBroken
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], additional)
	if err != nil {
		return nil, ErrSealBroken
	}
	return plain, nil
}

// Equal compares two secret-derived values in constant time.
func Equal(a, b []byte) bool {
	return hmac.Equal(a, b)
}

// NewMasterKey returns a fresh master key in its text form: 32 bytes from
// crypto/rand in standard base64.
func NewMasterKey() string {
	var b [MasterKeySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// ParseMasterKey decodes a master key's text form (standard base64 of 32
// bytes; surrounding white space is ignored).
func ParseMasterKey(text string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, errors.New("master key is not valid standard base64")
	}
	if len(b) != MasterKeySize {
		return nil, fmt.Errorf("master key must decode to %d bytes, got %d", MasterKeySize, len(b))
	}
	return b, nil
}
