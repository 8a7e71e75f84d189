package secret

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MasterKeySize is the master key's length: 32 bytes, for AES-256.
const MasterKeySize = 32

// ErrSealBroken means a sealed value could not be opened: it was sealed under
// another master key, or it was changed.
var ErrSealBroken = errors.New("secret: sealed value does not open under this master key")

// Sealed values are written in format 2: a header of SealHeaderLen bytes
// (the byte sealFormat2, then the KeyID of the master key that sealed it),
// the GCM nonce, then the ciphertext and tag. The header is not secret: it
// says which master key sealed a value, so that a value opens under the
// right key of a ring at once, and so that a store can tell, without any
// key, which values are still sealed under a key being rotated away (and
// refuse new ones sealed under a retired key). Format 1, written before,
// is the nonce, ciphertext and tag alone; Open still reads it. A format 1
// value whose first bytes happen to look like a header is told apart by
// trying to open it both ways: GCM authenticates, so no value is ever read
// wrong.
const (
	sealFormat2 = 0x02
	// KeyIDLen is the length of a master key's KeyID.
	KeyIDLen = 8
	// SealHeaderLen is the length of a format 2 value's header.
	SealHeaderLen = 1 + KeyIDLen
)

// key is what one master key derives: the index key (in a pool of HMACs)
// and the seal key, with the key's id and header.
type key struct {
	id     [KeyIDLen]byte
	header [SealHeaderLen]byte
	aead   cipher.AEAD
	hmacs  sync.Pool // of hash.Hash keyed with the index key; Reset restores the key
}

func deriveKey(master []byte) (*key, error) {
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
	id, err := hkdf.Key(sha256.New, master, nil, "latchkey key id v1", KeyIDLen)
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
	k := &key{aead: aead}
	copy(k.id[:], id)
	k.header[0] = sealFormat2
	copy(k.header[1:], id)
	k.hmacs.New = func() any { return hmac.New(sha256.New, indexKey) }
	return k, nil
}

func (k *key) hash(secret string) []byte {
	h := k.hmacs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(secret))
	sum := h.Sum(make([]byte, 0, sha256.Size))
	k.hmacs.Put(h)
	return sum
}

func (k *key) seal(plain, additional []byte) []byte {
	n := k.aead.NonceSize()
	out := make([]byte, SealHeaderLen+n, SealHeaderLen+n+len(plain)+k.aead.Overhead())
	copy(out, k.header[:])
	nonce := out[SealHeaderLen:]
	if _, err := rand.Read(nonce); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return k.aead.Seal(out, nonce, plain, additional)
}

// openBare opens a value without a header (format 1, or a format 2 value
// with its header cut off).
func (k *key) openBare(sealed, additional []byte) ([]byte, error) {
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

// open opens a value sealed under k, in either format.
func (k *key) open(sealed, additional []byte) ([]byte, error) {
	if len(sealed) > SealHeaderLen && string(sealed[:SealHeaderLen]) == string(k.header[:]) {
		if plain, err := k.openBare(sealed[SealHeaderLen:], additional); err == nil {
			return plain, nil
		}
	}
	return k.openBare(sealed, additional) // format 1
}

// Keyring holds the keys derived from the master key: one indexes secrets
// by HMAC-SHA256, the other seals them with AES-256-GCM. Deriving them
// (HKDF-SHA256, one label each) keeps one secret to manage outside the
// database while never using one key for two purposes.
//
// During a master-key rotation (see core.Rotation) a keyring holds two
// master keys: the current one, which the store's check value is sealed
// under, and the next one. It opens and finds secrets under both, and
// hashes and seals new secrets under the current key until the rotation
// says to write under the next (Rotate), then under the next;
// FinishRotation makes the next key the current one and forgets the old.
// A keyring is safe for concurrent use: every method reads one consistent
// state, and a change replaces the state whole.
type Keyring struct {
	state atomic.Pointer[ringState]
	mu    sync.Mutex // serializes changes of state

	// The watcher that keeps the keyring in step with the store (see
	// SetRefresher), if any.
	refresher atomic.Pointer[refresher]
	refreshMu sync.Mutex
	confirmed atomic.Int64 // when the last successful refresh began (monotonic; see clock)
	retired   atomic.Bool
}

// clockBase anchors the keyring's monotonic clock: times are kept as
// nanoseconds since it, so that a change of the wall clock cannot make a
// keyring look fresher or staler than it is.
var clockBase = time.Now()

func clock(t time.Time) int64 { return int64(t.Sub(clockBase)) }

type ringState struct {
	cur  *key
	next *key // nil outside a rotation
	// writeNext: new secrets are hashed and sealed under next.
	writeNext bool
	version   uint64
}

func (s *ringState) write() *key {
	if s.writeNext {
		return s.next
	}
	return s.cur
}

type refresher struct {
	fn         func(ctx context.Context) error
	staleAfter time.Duration
}

// NewKeyring derives a keyring from a 32-byte master key.
func NewKeyring(master []byte) (*Keyring, error) {
	k, err := deriveKey(master)
	if err != nil {
		return nil, err
	}
	r := &Keyring{}
	r.state.Store(&ringState{cur: k})
	return r, nil
}

// Hash returns HMAC-SHA256 of the secret under the index key new secrets
// are written with: the value the store keeps to find and check a secret.
func (k *Keyring) Hash(secret string) []byte {
	return k.state.Load().write().hash(secret)
}

// LookupHashes returns the hashes a presented secret may be stored under:
// under the current key, then, during a rotation, under the next. That is
// the order in which a rotation moves stored secrets (from the current key
// to the next, never back), so that a lookup by each in turn cannot miss a
// secret that moves between the two lookups. write is the one of them that
// Hash returns.
func (k *Keyring) LookupHashes(secret string) (hashes [][]byte, write []byte) {
	s := k.state.Load()
	cur := s.cur.hash(secret)
	if s.next == nil {
		return [][]byte{cur}, cur
	}
	next := s.next.hash(secret)
	if s.writeNext {
		return [][]byte{cur, next}, next
	}
	return [][]byte{cur, next}, cur
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

// Seal encrypts plain with AES-256-GCM under the seal key new secrets are
// written with, bound to rec.
func (k *Keyring) Seal(plain []byte, rec Record) []byte {
	return k.state.Load().write().seal(plain, rec.additionalData())
}

// Open decrypts a value made by Seal for the same record, under any master
// key of the ring. Returns ErrSealBroken if it does not open.
//
// If it does not open and the keyring has a refresher whose last refresh is
// older than its bound (the process was paused, or the store could not be
// read), Open refreshes the keyring first and tries again: a rotation may
// have begun that this keyring has not heard of yet.
func (k *Keyring) Open(sealed []byte, rec Record) ([]byte, error) {
	ver := k.Version()
	plain, err := k.TryOpen(sealed, rec)
	if err == nil {
		return plain, err
	}
	if changed, rerr := k.Sync(context.Background(), ver); rerr != nil || !changed {
		return nil, err
	}
	return k.TryOpen(sealed, rec)
}

// TryOpen is Open without the refresh.
func (k *Keyring) TryOpen(sealed []byte, rec Record) ([]byte, error) {
	s := k.state.Load()
	ad := rec.additionalData()
	// A format 2 value names its key: try that one first.
	first, second := s.cur, s.next
	if second != nil && len(sealed) > SealHeaderLen && string(sealed[:SealHeaderLen]) == string(second.header[:]) {
		first, second = second, first
	}
	if plain, err := first.open(sealed, ad); err == nil {
		return plain, nil
	}
	if second != nil {
		return second.open(sealed, ad)
	}
	return nil, ErrSealBroken
}

// OpenLegacy opens a value sealed before records named their kind, when the
// additional data was the bare id (always format 1). Only the migration
// that reseals such values, and a rotation, call it.
func (k *Keyring) OpenLegacy(sealed []byte, id string) ([]byte, error) {
	s := k.state.Load()
	if plain, err := s.cur.openBare(sealed, []byte(id)); err == nil {
		return plain, nil
	}
	if s.next != nil {
		return s.next.openBare(sealed, []byte(id))
	}
	return nil, ErrSealBroken
}

// KeyRole says which master key of a keyring opens a value.
type KeyRole int

// The roles.
const (
	OpensUnderNone KeyRole = iota
	OpensUnderCurrent
	OpensUnderNext
)

// OpensUnder reports which of the keyring's master keys opens sealed for
// rec, if any.
func (k *Keyring) OpensUnder(sealed []byte, rec Record) KeyRole {
	s := k.state.Load()
	ad := rec.additionalData()
	if _, err := s.cur.open(sealed, ad); err == nil {
		return OpensUnderCurrent
	}
	if s.next != nil {
		if _, err := s.next.open(sealed, ad); err == nil {
			return OpensUnderNext
		}
	}
	return OpensUnderNone
}

// ID returns the KeyID of the keyring's current master key, in hex: a
// one-way fingerprint (HKDF of the key under its own label), safe to show
// and to store.
func (k *Keyring) ID() string { return hex.EncodeToString(k.state.Load().cur.id[:]) }

// NextID returns the KeyID of the next master key in hex, or "" outside a
// rotation.
func (k *Keyring) NextID() string {
	if s := k.state.Load(); s.next != nil {
		return hex.EncodeToString(s.next.id[:])
	}
	return ""
}

// SealHeader returns the header of the values Seal makes now: they begin
// with it, and no value sealed under another master key does (format 1
// values aside, by chance, one in 2^72).
func (k *Keyring) SealHeader() []byte {
	h := k.state.Load().write().header
	return h[:]
}

// CurrentSealHeader returns the header of values sealed under the current
// master key.
func (k *Keyring) CurrentSealHeader() []byte {
	h := k.state.Load().cur.header
	return h[:]
}

// Version changes whenever the keyring does (Rotate, FinishRotation): a
// caller that noted it before hashing can tell whether the hashes it made
// are still the ones to look up.
func (k *Keyring) Version() uint64 { return k.state.Load().version }

// Rotating reports whether the keyring holds a next master key, and whether
// new secrets are written under it.
func (k *Keyring) Rotating() (next, writeNext bool) {
	s := k.state.Load()
	return s.next != nil, s.writeNext
}

// Pin returns a keyring fixed in the state this one has now: its Hash and
// Seal use the same master key however this one changes, so that a
// secret's hash and sealed copy are made under one key. It has no
// refresher.
func (k *Keyring) Pin() *Keyring {
	p := &Keyring{}
	p.state.Store(k.state.Load())
	return p
}

// Rotate adds next as the keyring's next master key, or updates whether new
// secrets are written under it (writeNext). It reports whether anything
// changed. next must differ from the current key.
func (k *Keyring) Rotate(next []byte, writeNext bool) (changed bool, err error) {
	nk, err := deriveKey(next)
	if err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.state.Load()
	if nk.id == s.cur.id {
		return false, errors.New("secret: the next master key is the current one")
	}
	if s.next != nil && s.next.id == nk.id {
		if s.writeNext == writeNext {
			return false, nil
		}
		nk = s.next // keep its pools
	}
	k.state.Store(&ringState{cur: s.cur, next: nk, writeNext: writeNext, version: s.version + 1})
	return true, nil
}

// FinishRotation makes the next master key the current one and forgets the
// old one. It reports whether there was a next key.
func (k *Keyring) FinishRotation() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.state.Load()
	if s.next == nil {
		return false
	}
	k.state.Store(&ringState{cur: s.next, version: s.version + 1})
	return true
}

// SetRefresher gives the keyring the function that brings it in step with
// the store (core's watcher), and the age past which its last successful
// run no longer vouches for the keyring. Open and Sync run fn when a value
// does not open or a secret is not found while the keyring is that stale;
// never two at once. fn must call Confirm when it succeeds, and must not
// call Open, Sync or Refresh (TryOpen and the rest are fine).
func (k *Keyring) SetRefresher(fn func(ctx context.Context) error, staleAfter time.Duration) {
	k.refresher.Store(&refresher{fn: fn, staleAfter: staleAfter})
}

// Confirm records that the keyring was found in step with the store by a
// refresh that began at t.
func (k *Keyring) Confirm(t time.Time) {
	n := clock(t)
	for {
		old := k.confirmed.Load()
		if n <= old || k.confirmed.CompareAndSwap(old, n) {
			return
		}
	}
}

// Stale reports whether the keyring has a refresher and its last
// successful refresh began longer ago than the refresher's bound.
func (k *Keyring) Stale() bool {
	r := k.refresher.Load()
	return r != nil && clock(time.Now())-k.confirmed.Load() > int64(r.staleAfter)
}

// Sync reports whether the keyring changed since version was read,
// refreshing it first if it is stale (see SetRefresher). Concurrent callers
// share one refresh. A refresh that fails is returned as the error: the
// caller cannot tell whether a rotation has moved what it looked for.
func (k *Keyring) Sync(ctx context.Context, version uint64) (changed bool, err error) {
	if k.Version() != version {
		return true, nil
	}
	if !k.Stale() {
		return false, nil
	}
	asked := clock(time.Now())
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	if k.confirmed.Load() < asked { // no refresh began since we asked
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err = k.refresher.Load().fn(ctx)
	}
	return k.Version() != version, err
}

// Refresh runs the refresher now, whether or not the keyring is stale, and
// reports whether the keyring changed since version was read.
func (k *Keyring) Refresh(ctx context.Context, version uint64) (changed bool, err error) {
	if r := k.refresher.Load(); r != nil {
		k.refreshMu.Lock()
		err = r.fn(ctx)
		k.refreshMu.Unlock()
	}
	return k.Version() != version, err
}

// SetRetired records that the store was rotated to a master key this
// keyring does not hold: no secret it writes will be accepted, and the
// secrets it looks for are no longer under its keys.
func (k *Keyring) SetRetired() { k.retired.Store(true) }

// Retired reports what SetRetired recorded.
func (k *Keyring) Retired() bool { return k.retired.Load() }

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
