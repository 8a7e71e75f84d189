package secret

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func masterKey(t *testing.T) []byte {
	t.Helper()
	m, err := ParseMasterKey(NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustKeyring(t *testing.T, master []byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSealedValuesNameTheirKey: values carry a header naming the master
// key that sealed them, which is not secret and is the same for every value
// of one key, and Open reads the format before headers too.
func TestSealedValuesNameTheirKey(t *testing.T) {
	master := masterKey(t)
	k := mustKeyring(t, master)
	a, b := k.Seal([]byte("a"), KeyRecord("1")), k.Seal([]byte("b"), KeyRecord("2"))
	if len(k.SealHeader()) != SealHeaderLen || !bytes.HasPrefix(a, k.SealHeader()) || !bytes.HasPrefix(b, k.SealHeader()) {
		t.Fatalf("sealed values %x, %x do not begin with the header %x", a, b, k.SealHeader())
	}
	if other := mustKeyring(t, masterKey(t)); bytes.Equal(other.SealHeader(), k.SealHeader()) || other.ID() == k.ID() {
		t.Fatal("two master keys have one header")
	}
	if again := mustKeyring(t, master); again.ID() != k.ID() || len(k.ID()) != 2*KeyIDLen {
		t.Fatalf("ID = %q, then %q for the same key", k.ID(), again.ID())
	}
	// Format 1: the nonce, ciphertext and tag alone.
	legacy := k.state.Load().cur.aead
	nonce := make([]byte, legacy.NonceSize())
	old := legacy.Seal(append([]byte{}, nonce...), nonce, []byte("old"), KeyRecord("3").additionalData())
	if p, err := k.Open(old, KeyRecord("3")); err != nil || string(p) != "old" {
		t.Fatalf("Open(format 1) = %q, %v", p, err)
	}
	// A format 1 value that happens to begin like a header still opens.
	n2 := append([]byte{}, k.SealHeader()...)
	n2 = append(n2, make([]byte, legacy.NonceSize()-SealHeaderLen)...)
	odd := legacy.Seal(append([]byte{}, n2...), n2, []byte("odd"), KeyRecord("4").additionalData())
	if p, err := k.Open(odd, KeyRecord("4")); err != nil || string(p) != "odd" {
		t.Fatalf("Open(format 1 value beginning with the header) = %q, %v", p, err)
	}
}

// TestKeyringRotation walks a keyring through a rotation: learning the
// next key, writing under it, finishing.
func TestKeyringRotation(t *testing.T) {
	oldM, nextM := masterKey(t), masterKey(t)
	k := mustKeyring(t, oldM)
	old, next := mustKeyring(t, oldM), mustKeyring(t, nextM)
	s := MustGenerate(SecretKind, Live)
	underOld := k.Seal([]byte(s), KeyRecord("k"))
	underNext := next.Seal([]byte(s), KeyRecord("k"))
	if _, err := k.Open(underNext, KeyRecord("k")); err != ErrSealBroken {
		t.Fatal("a value under the next key opened before the keyring knew it")
	}
	if _, err := k.Rotate(oldM, false); err == nil {
		t.Fatal("Rotate accepted the current key as the next")
	}

	v0 := k.Version()
	if changed, err := k.Rotate(nextM, false); err != nil || !changed || k.Version() == v0 {
		t.Fatalf("Rotate(read) = %v, %v", changed, err)
	}
	if changed, _ := k.Rotate(nextM, false); changed {
		t.Fatal("Rotate with the same state reported a change")
	}
	// Reading: both open, both found (current first), writes stay under old.
	for _, v := range [][]byte{underOld, underNext} {
		if p, err := k.Open(v, KeyRecord("k")); err != nil || string(p) != s {
			t.Fatalf("Open during the rotation = %q, %v", p, err)
		}
	}
	hashes, write := k.LookupHashes(s)
	if len(hashes) != 2 || !Equal(hashes[0], old.Hash(s)) || !Equal(hashes[1], next.Hash(s)) || !Equal(write, old.Hash(s)) {
		t.Fatal("LookupHashes while reading: want [old, next], writing old")
	}
	if !Equal(k.Hash(s), old.Hash(s)) || !bytes.HasPrefix(k.Seal([]byte(s), KeyRecord("k")), old.SealHeader()) {
		t.Fatal("while reading, new secrets are not written under the current key")
	}
	if k.OpensUnder(underNext, KeyRecord("k")) != OpensUnderNext || k.OpensUnder(underOld, KeyRecord("k")) != OpensUnderCurrent {
		t.Fatal("OpensUnder does not tell the keys apart")
	}

	// Writing: new secrets under next; a pinned keyring stays as it was.
	pinned := k.Pin()
	if changed, _ := k.Rotate(nextM, true); !changed {
		t.Fatal("Rotate(write) reported no change")
	}
	if !Equal(k.Hash(s), next.Hash(s)) || !bytes.HasPrefix(k.Seal([]byte(s), KeyRecord("k")), next.SealHeader()) {
		t.Fatal("while writing, new secrets are not written under the next key")
	}
	if !Equal(pinned.Hash(s), old.Hash(s)) || !bytes.Equal(pinned.SealHeader(), old.SealHeader()) {
		t.Fatal("the pinned keyring moved")
	}
	if hashes, write = k.LookupHashes(s); !Equal(hashes[0], old.Hash(s)) || !Equal(write, next.Hash(s)) {
		t.Fatal("LookupHashes while writing: want [old, next], writing next")
	}

	// Finished: the old key is gone.
	if !k.FinishRotation() || k.FinishRotation() {
		t.Fatal("FinishRotation reported wrongly")
	}
	if _, err := k.Open(underOld, KeyRecord("k")); err != ErrSealBroken {
		t.Fatal("a value under the old key opened after the rotation finished")
	}
	if hashes, _ = k.LookupHashes(s); len(hashes) != 1 || !Equal(hashes[0], next.Hash(s)) || k.ID() != next.ID() || k.NextID() != "" {
		t.Fatal("after the rotation, the keyring is not the next key's alone")
	}
}

// TestStaleKeyringRefreshes: a keyring whose refresher has not confirmed it
// within its bound refreshes when a value does not open, once for any
// number of callers at once; a fresh one does not.
func TestStaleKeyringRefreshes(t *testing.T) {
	oldM, nextM := masterKey(t), masterKey(t)
	k := mustKeyring(t, oldM)
	underNext := mustKeyring(t, nextM).Seal([]byte("x"), KeyRecord("k"))
	var calls atomic.Int32
	var fail atomic.Bool
	k.SetRefresher(func(ctx context.Context) error {
		calls.Add(1)
		time.Sleep(10 * time.Millisecond)
		if fail.Load() {
			return errors.New("store unreachable")
		}
		_, err := k.Rotate(nextM, true)
		k.Confirm(time.Now())
		return err
	}, time.Hour)
	k.Confirm(time.Now())
	if _, err := k.Open(underNext, KeyRecord("k")); err != ErrSealBroken || calls.Load() != 0 {
		t.Fatalf("a fresh keyring refreshed (%d calls), or opened: %v", calls.Load(), err)
	}

	k2 := mustKeyring(t, oldM)
	k2.SetRefresher(func(ctx context.Context) error {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		if fail.Load() {
			return errors.New("store unreachable")
		}
		_, err := k2.Rotate(nextM, true)
		k2.Confirm(time.Now())
		return err
	}, time.Millisecond)
	time.Sleep(2 * time.Millisecond)
	fail.Store(true)
	if changed, err := k2.Sync(t.Context(), k2.Version()); err == nil || changed {
		t.Fatalf("Sync with a failing refresher = %v, %v; want its error", changed, err)
	}
	fail.Store(false)
	calls.Store(0)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := k2.Open(underNext, KeyRecord("k"))
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("Open on a stale keyring after a rotation began: %v", err)
		}
	}
	if calls.Load() > 2 {
		t.Errorf("8 callers at once ran %d refreshes", calls.Load())
	}
}
