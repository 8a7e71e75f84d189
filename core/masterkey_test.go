package core_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/store/sqlite"
)

// rotServer is one server's keyring, verifier and service over a store.
type rotServer struct {
	keys     *secret.Keyring
	verifier *auth.Verifier
	svc      *core.Service
}

func newRotServer(t *testing.T, store latchkey.Store, master []byte) *rotServer {
	t.Helper()
	keys, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	if err := core.CheckMasterKey(t.Context(), store, keys); err != nil {
		t.Fatal(err)
	}
	v := auth.NewVerifier(store, keys, nil)
	return &rotServer{keys: keys, verifier: v, svc: core.New(core.SealingStore(store, keys), keys, secret.Live, v)}
}

// pause registers the keyring's watcher and stops it at once, as if the
// server were frozen from now on: only a stale keyring's own refresh
// (secret.Keyring.Sync) reads the store again.
func (s *rotServer) pause(store latchkey.Store) {
	core.WatchMasterKey(store, s.keys, s.verifier, slog.New(slog.DiscardHandler)).Close()
}

func rotMaster(t *testing.T) []byte {
	t.Helper()
	m, err := secret.ParseMasterKey(secret.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func rotKeyring(t *testing.T, master []byte) *secret.Keyring {
	t.Helper()
	k, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestPausedServerFollowsARotation: a server whose keyring has not been
// refreshed for longer than KeyringStaleAfter (its process was paused
// through the start of a rotation) finds every secret the rotation moved,
// by id and by hash, warm or cold: it refreshes before calling one unknown.
// A server frozen through a whole rotation answers "unavailable", never
// "invalid", and cannot store a secret under the retired key.
func TestPausedServerFollowsARotation(t *testing.T) {
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	oldMaster, nextMaster := rotMaster(t), rotMaster(t)
	a := newRotServer(t, store, oldMaster)
	_, bootstrap, err := a.svc.Bootstrap(ctx, "rotation")
	if err != nil {
		t.Fatal(err)
	}
	admin := latchkey.PrincipalOf(bootstrap)
	var keys []*latchkey.Key
	for range 40 {
		k, err := a.svc.CreateKey(ctx, admin, core.KeySpec{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, k := range keys[:10] { // warm
		if _, err := a.verifier.Secret(ctx, k.Secrets[0].Plain); err != nil {
			t.Fatal(err)
		}
	}
	a.pause(store)
	// c checks keys by id, a by their secret alone: each must find out
	// about the rotation on its own.
	c := newRotServer(t, store, oldMaster)
	c.pause(store)
	frozen := newRotServer(t, store, oldMaster)
	frozen.pause(store)

	// Half-way: two batches moved.
	errStop := errors.New("stop")
	rot := &core.Rotation{Store: store, Current: rotKeyring(t, oldMaster), NewMaster: nextMaster, Batch: 5, Grace: core.KeyringStaleAfter,
		AfterBatch: func(n int) error {
			if n == 2 {
				return errStop
			}
			return nil
		}}
	if _, err := rot.Run(ctx); !errors.Is(err, errStop) {
		t.Fatalf("Run = %v, want it stopped", err)
	}
	if next, _ := a.keys.Rotating(); next {
		t.Fatal("the paused server learned the new key without a refresh")
	}
	if !a.keys.Stale() {
		t.Fatal("the paused server's keyring is not stale after the grace period")
	}
	for i, k := range keys {
		if _, err := a.verifier.Secret(ctx, k.Secrets[0].Plain); err != nil {
			t.Errorf("key %d, mid-rotation, on a paused server: %v", i, err)
		}
		if _, err := c.verifier.Basic(ctx, k.ID, k.Secrets[0].Plain); err != nil {
			t.Errorf("key %d by id, mid-rotation, on a paused server: %v", i, err)
		}
	}
	for _, s := range []*rotServer{a, c} {
		if next, write := s.keys.Rotating(); !next || !write {
			t.Fatalf("a paused server did not learn the rotation's state on a miss: next %v, write %v", next, write)
		}
	}
	// It writes under the new key now.
	made, err := a.svc.CreateKey(ctx, admin, core.KeySpec{Name: "made mid-rotation"})
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, made)

	rot.AfterBatch = nil
	rep, err := rot.Run(ctx)
	if err != nil || !rep.Resumed {
		t.Fatalf("resumed Run = %+v, %v", rep, err)
	}
	// The new key alone opens everything.
	b := newRotServer(t, store, nextMaster)
	for i, k := range keys {
		if _, err := b.verifier.Secret(ctx, k.Secrets[0].Plain); err != nil {
			t.Errorf("key %d, under the new key alone: %v", i, err)
		}
		if _, err := b.verifier.Basic(ctx, k.ID, k.Secrets[0].Plain); err != nil {
			t.Errorf("key %d by id, under the new key alone: %v", i, err)
		}
	}
	if err := core.CheckMasterKey(ctx, store, rotKeyring(t, oldMaster)); !errors.Is(err, core.ErrMasterKeyRotated) {
		t.Errorf("CheckMasterKey(old key) = %v, want ErrMasterKeyRotated", err)
	}

	// Frozen through it all: refuses to guess, and to store.
	_, err = frozen.verifier.Secret(ctx, keys[20].Secrets[0].Plain)
	if latchkey.ErrorCode(err) != latchkey.EUNAVAILABLE {
		t.Errorf("a frozen server verifying a moved key: %v, want EUNAVAILABLE", err)
	}
	if !frozen.keys.Retired() {
		t.Error("the frozen server's keyring is not marked retired")
	}
	if _, err := frozen.svc.CreateKey(ctx, admin, core.KeySpec{Name: "from a frozen server"}); err == nil {
		t.Error("a frozen server stored a key under the retired master key")
	}
}

// movingStore moves every secret to the new key just after the first lookup
// by hash has read: the worst moment for a lookup, between its reads.
type movingStore struct {
	latchkey.Store
	once sync.Once
	move func()
}

func (s *movingStore) KeyBySecretHash(ctx context.Context, hash []byte) (*latchkey.Key, error) {
	k, err := s.Store.KeyBySecretHash(ctx, hash)
	s.once.Do(s.move)
	return k, err
}

// TestLookupCatchesASecretMovedBetweenItsReads: a secret moved from the
// current key to the next between the verifier's two lookups is found by
// the second: the lookups follow the direction secrets move in.
func TestLookupCatchesASecretMovedBetweenItsReads(t *testing.T) {
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	oldMaster, nextMaster := rotMaster(t), rotMaster(t)
	a := newRotServer(t, store, oldMaster)
	_, k, err := a.svc.Bootstrap(ctx, "rotation")
	if err != nil {
		t.Fatal(err)
	}
	old, next := rotKeyring(t, oldMaster), rotKeyring(t, nextMaster)
	moving := &movingStore{Store: store, move: func() {
		_, err := store.Rekey(ctx, latchkey.RekeyBatch{Fn: func(v *latchkey.SealedValue) error {
			rec := secret.Record{Kind: v.Kind, ID: v.ID}
			plain, err := old.TryOpen(v.Sealed, rec)
			if err != nil {
				return err
			}
			v.Sealed = next.Seal(plain, rec)
			if v.Kind == secret.KindKey {
				v.Hash = next.Hash(string(plain))
			}
			return nil
		}})
		if err != nil {
			t.Error(err)
		}
	}}
	keys := rotKeyring(t, oldMaster)
	if _, err := keys.Rotate(nextMaster, true); err != nil {
		t.Fatal(err)
	}
	v := auth.NewVerifier(moving, keys, nil)
	if _, err := v.Secret(ctx, k.Secrets[0].Plain); err != nil {
		t.Fatalf("a secret moved between the lookups: %v", err)
	}
}

// TestSealingStoreWritesUnderOneKey: whatever the keyring did between the
// core's Hash and Seal, the secret stored has both under the key the
// keyring writes with at the store call.
func TestSealingStoreWritesUnderOneKey(t *testing.T) {
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	oldMaster, nextMaster := rotMaster(t), rotMaster(t)
	a := newRotServer(t, store, oldMaster)
	_, bootstrap, err := a.svc.Bootstrap(ctx, "rotation")
	if err != nil {
		t.Fatal(err)
	}
	// A secret hashed under the old key and sealed under the next, as the
	// core would make it if the keyring moved between its two calls.
	plain := secret.MustGenerate(secret.SecretKind, secret.Live)
	old, next := rotKeyring(t, oldMaster), rotKeyring(t, nextMaster)
	k := &latchkey.Key{ID: "act_straddle", AccountID: bootstrap.AccountID, Name: "straddle",
		Policy: latchkey.Policy{Type: latchkey.KeyTypeSecret}, CreatedAt: bootstrap.CreatedAt, UpdatedAt: bootstrap.CreatedAt,
		Secrets: []latchkey.Secret{{Hash: old.Hash(plain), Sealed: next.Seal([]byte(plain), secret.KeyRecord("act_straddle")),
			Plain: plain, CreatedAt: bootstrap.CreatedAt}}}
	if _, err := a.keys.Rotate(nextMaster, true); err != nil {
		t.Fatal(err)
	}
	if err := core.SealingStore(store, a.keys).CreateKey(ctx, k, 0); err != nil {
		t.Fatal(err)
	}
	got, err := store.KeyBySecretHash(ctx, next.Hash(plain))
	if err != nil || got.ID != k.ID {
		t.Fatalf("the key is not found by its hash under the next key: %v", err)
	}
	if p, err := next.TryOpen(got.Secrets[0].Sealed, secret.KeyRecord(k.ID)); err != nil || string(p) != plain {
		t.Fatalf("the stored secret does not open under the next key: %v", err)
	}
}

// TestStartDuringRotation: CheckMasterKey with the current key learns a
// rotation in progress; with the new key it refuses, saying so.
func TestStartDuringRotation(t *testing.T) {
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	oldMaster, nextMaster := rotMaster(t), rotMaster(t)
	newRotServer(t, store, oldMaster)
	rot := &core.Rotation{Store: store, Current: rotKeyring(t, oldMaster), NewMaster: nextMaster, Grace: core.KeyringStaleAfter,
		AfterBatch: func(int) error { return io.EOF }}
	if _, err := rot.Run(ctx); err != io.EOF {
		t.Fatal(err)
	}
	s := newRotServer(t, store, oldMaster)
	if next, write := s.keys.Rotating(); !next || !write || s.keys.NextID() != rotKeyring(t, nextMaster).ID() {
		t.Errorf("a server started during the rotation: next %v, write %v", next, write)
	}
	err = core.CheckMasterKey(ctx, store, rotKeyring(t, nextMaster))
	if !errors.Is(err, core.ErrRotationInProgress) || !strings.Contains(err.Error(), "has not finished") {
		t.Errorf("CheckMasterKey(new key, mid-rotation) = %v, want ErrRotationInProgress", err)
	}
	// Another new key is refused by a rerun.
	other := &core.Rotation{Store: store, Current: rotKeyring(t, oldMaster), NewMaster: rotMaster(t), Grace: core.KeyringStaleAfter}
	if _, err := other.Run(ctx); !errors.Is(err, core.ErrOtherRotation) {
		t.Errorf("a rotation to another key, mid-rotation: %v, want ErrOtherRotation", err)
	}
}
