package storetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// importSuite holds the stores to what imported secrets need: kept and
// read back with their key, found by an unsalted digest, adopted once, and
// ended by a roll as any secret is.
var importSuite = []contractTest{
	{"Imported/KeptWithKey", testImportedKept},
	{"Imported/FoundByDigest", testImportedByDigest},
	{"Imported/DigestTaken", testImportedDigestTaken},
	{"Imported/AdoptOnce", testImportedAdoptOnce},
	{"Imported/AdoptKeepsExpiry", testImportedAdoptKeepsExpiry},
	{"Imported/RollEndsIt", testImportedRollEndsIt},
	{"Imported/CreateKeysAllOrNone", testCreateKeysAllOrNone},
}

// newImportedKey is a key with no secret of its own, only an imported one.
func newImportedKey(o latchkey.KeyOwner, alg latchkey.HashAlgorithm, digest []byte) *latchkey.Key {
	k := newKey(o)
	k.Secrets = nil
	k.Imported = &latchkey.ImportedSecret{Algorithm: alg, Digest: digest, CreatedAt: k.CreatedAt}
	return k
}

func digestOf(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

func testImportedKept(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	sha := newImportedKey(accountOwner(a.ID), latchkey.HashSHA256, digestOf("one"))
	storeKey(t, s, sha, 0)
	wantKey(t, s, sha)
	bc := newImportedKey(accountOwner(a.ID), latchkey.HashBcrypt, []byte("$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"))
	storeKey(t, s, bc, 0)
	wantKey(t, s, bc)
	// A list loads them too, and leaves other keys without one.
	plain := createKey(t, s, accountOwner(a.ID))
	keys, err := s.ListKeys(t.Context(), accountOwner(a.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		switch k.ID {
		case sha.ID, bc.ID:
			if k.Imported == nil {
				t.Errorf("ListKeys: key %s lost its imported secret", k.ID)
			}
		case plain.ID:
			if k.Imported != nil {
				t.Errorf("ListKeys: key %s has an imported secret it was not given", k.ID)
			}
		}
	}
	// Deleting the key takes its imported secret with it.
	if err := s.DeleteKey(t.Context(), sha.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.KeyByImportedDigest(t.Context(), digestOf("one"))
	wantErr(t, "KeyByImportedDigest(deleted key)", err, latchkey.ENOTFOUND, "key")
}

func testImportedByDigest(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := newImportedKey(accountOwner(a.ID), latchkey.HashSHA256, digestOf("found"))
	storeKey(t, s, k, 0)
	got, err := s.KeyByImportedDigest(t.Context(), digestOf("found"))
	if err != nil {
		t.Fatalf("KeyByImportedDigest() error = %v", err)
	}
	report(t, "KeyByImportedDigest", diffKey(got, k))
	_, err = s.KeyByImportedDigest(t.Context(), digestOf("other"))
	wantErr(t, "KeyByImportedDigest(unknown)", err, latchkey.ENOTFOUND, "key")

	// A salted hash is never found by its bytes: it is not a digest of
	// the secret.
	salted := newImportedKey(accountOwner(a.ID), latchkey.HashArgon2id, digestOf("salted"))
	storeKey(t, s, salted, 0)
	_, err = s.KeyByImportedDigest(t.Context(), digestOf("salted"))
	wantErr(t, "KeyByImportedDigest(argon2id bytes)", err, latchkey.ENOTFOUND, "key")
}

func testImportedDigestTaken(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	storeKey(t, s, newImportedKey(accountOwner(a.ID), latchkey.HashSHA256, digestOf("same")), 0)
	dup := newImportedKey(accountOwner(a.ID), latchkey.HashSHA256, digestOf("same"))
	err := s.CreateKey(t.Context(), dup, 0)
	wantErr(t, "CreateKey(digest taken)", err, latchkey.ECONFLICT, "")
	wantNoKey(t, s, dup)
}

func testImportedAdoptOnce(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := newImportedKey(accountOwner(a.ID), latchkey.HashSHA256, digestOf("adopt"))
	storeKey(t, s, k, 0)
	sec := newSecret(k.ID+"-adopted", now())
	if err := s.AdoptSecret(t.Context(), k.ID, sec); err != nil {
		t.Fatalf("AdoptSecret() error = %v", err)
	}
	k.Imported, k.Secrets = nil, []latchkey.Secret{sec}
	wantKey(t, s, k)
	wantKeyByHash(t, s, sec.Hash, k)
	_, err := s.KeyByImportedDigest(t.Context(), digestOf("adopt"))
	wantErr(t, "KeyByImportedDigest(adopted)", err, latchkey.ENOTFOUND, "key")

	// The second adopter finds nothing to adopt, and stores nothing.
	late := newSecret(k.ID+"-late", now())
	err = s.AdoptSecret(t.Context(), k.ID, late)
	wantErr(t, "AdoptSecret(again)", err, latchkey.ENOTFOUND, "")
	wantKey(t, s, k)
	err = s.AdoptSecret(t.Context(), newID(), late)
	wantErr(t, "AdoptSecret(missing key)", err, latchkey.ENOTFOUND, "")
}

func testImportedAdoptKeepsExpiry(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := newImportedKey(accountOwner(a.ID), latchkey.HashBcrypt, []byte("$2b$04$whatever"))
	until := now().Add(time.Hour)
	k.Imported.ExpiresAt = &until
	storeKey(t, s, k, 0)
	sec := newSecret(k.ID+"-adopted", now())
	if err := s.AdoptSecret(t.Context(), k.ID, sec); err != nil {
		t.Fatal(err)
	}
	sec.ExpiresAt = &until
	k.Imported, k.Secrets = nil, []latchkey.Secret{sec}
	wantKey(t, s, k)
}

func testImportedRollEndsIt(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	k := newImportedKey(accountOwner(a.ID), latchkey.HashSHA256, digestOf("rolled"))
	storeKey(t, s, k, 0)
	t1 := now().Add(time.Second)
	next := newSecret(k.ID+"-next", t1)
	until := t1.Add(time.Hour)
	if err := s.RollKey(t.Context(), k.ID, next, &until); err != nil {
		t.Fatal(err)
	}
	k.Imported.ExpiresAt = &until
	k.Secrets, k.UpdatedAt = []latchkey.Secret{next}, t1
	wantKey(t, s, k)

	// Without grace, it goes at once.
	t2 := t1.Add(time.Second)
	third := newSecret(k.ID+"-third", t2)
	if err := s.RollKey(t.Context(), k.ID, third, nil); err != nil {
		t.Fatal(err)
	}
	k.Imported, k.Secrets, k.UpdatedAt = nil, []latchkey.Secret{third}, t2
	wantKey(t, s, k)
	_, err := s.KeyByImportedDigest(t.Context(), digestOf("rolled"))
	wantErr(t, "KeyByImportedDigest(rolled away)", err, latchkey.ENOTFOUND, "key")
}

// CreateKeys writes a batch with an audit event for each key, or nothing at
// all when one key of it conflicts.
func testCreateKeysAllOrNone(t *testing.T, s latchkey.Store) {
	a, _ := createAccount(t, s)
	batch := []*latchkey.Key{
		newImportedKey(accountOwner(a.ID), latchkey.HashSHA256, digestOf("batch-1")),
		newKey(accountOwner(a.ID)),
	}
	events := []*latchkey.AuditEvent{newEvent(a.ID, latchkey.ActionKeyImport), newEvent(a.ID, latchkey.ActionKeyImport)}
	if err := s.CreateKeys(t.Context(), batch, events); err != nil {
		t.Fatalf("CreateKeys() error = %v", err)
	}
	for _, k := range batch {
		wantKey(t, s, k)
	}
	if got := auditLog(t, s, a.ID); len(got) != 2 {
		t.Errorf("audit log = %d events; want the batch's 2", len(got))
	}

	// A conflict anywhere in a batch (here: its last key has the first's
	// id) stores none of it.
	fresh := newKey(accountOwner(a.ID))
	dup := newKey(accountOwner(a.ID))
	dup.ID = batch[0].ID
	err := s.CreateKeys(t.Context(), []*latchkey.Key{fresh, dup},
		[]*latchkey.AuditEvent{newEvent(a.ID, latchkey.ActionKeyImport), newEvent(a.ID, latchkey.ActionKeyImport)})
	wantErr(t, "CreateKeys(conflicting batch)", err, latchkey.ECONFLICT, "")
	wantNoKey(t, s, fresh)
	if got := auditLog(t, s, a.ID); len(got) != 2 {
		t.Errorf("after a refused batch, %d audit events; want 2", len(got))
	}
}
