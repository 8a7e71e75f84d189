package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/secret"
)

// masterKeyCheck names the meta value that proves which master key sealed a
// store: a constant sealed under it when the store was first opened.
const masterKeyCheck = "master_key_check"

// ErrMasterKeyMismatch is returned by CheckMasterKey when a store was sealed
// under another master key.
var ErrMasterKeyMismatch = errors.New("the master key does not match the one this database was sealed with; " +
	"start with the original key (LATCHKEY_MASTER_KEY or --master-key-file), or point --db at a new database")

// ErrMasterKeyRotated is returned by CheckMasterKey for a master key that a
// rotation retired.
var ErrMasterKeyRotated = errors.New("this master key was retired: the database was rotated to a new master key " +
	"(latchkey rotate-master-key); start with the new key. With the default master.key: if master.key.next is still " +
	"beside it, the rotation stopped before it installed the new key; run latchkey rotate-master-key again to finish")

// ErrRotationInProgress is returned by CheckMasterKey for the new key of a
// rotation that has not finished.
var ErrRotationInProgress = errors.New("this is the new master key of a rotation that has not finished: " +
	"start with the current master key until latchkey rotate-master-key has finished; the server learns the new key from the database")

// IsSealed reports whether the store was already sealed under a master key.
func IsSealed(ctx context.Context, store latchkey.Store) (bool, error) {
	_, err := store.Meta(ctx, masterKeyCheck)
	switch latchkey.ErrorCode(err) {
	case "":
		return true, nil
	case latchkey.ENOTFOUND:
		return false, nil
	default:
		return false, err
	}
}

// CheckMasterKey seals a new store under keys, or checks that an existing
// store was sealed under the same master key, so that a server started with
// the wrong key refuses to start rather than failing on every key later; a
// key a rotation retired, or the new key of an unfinished rotation, is
// refused with a message that says so. Then it upgrades any value still
// sealed in an older format (see upgradeSealing), and if a rotation is in
// progress, adds its next key to keys, so that a server (re)started during
// a rotation with the current key works at once.
func CheckMasterKey(ctx context.Context, store latchkey.Store, keys *secret.Keyring) error {
	rec := secret.MetaRecord(masterKeyCheck)
	sealed, err := store.InitMeta(ctx, masterKeyCheck, keys.Seal([]byte(masterKeyCheck), rec))
	if err != nil {
		return err
	}
	if _, err := keys.TryOpen(sealed, rec); err != nil {
		// A store sealed before records named their kind, not yet upgraded.
		if _, err := keys.OpenLegacy(sealed, masterKeyCheck); err != nil {
			return refuseMasterKey(ctx, store, keys)
		}
	}
	if err := upgradeSealing(ctx, store, keys); err != nil {
		return err
	}
	_, err = learnRotation(ctx, store, keys)
	return err
}

// refuseMasterKey says why a key that does not open the store's check is
// refused.
func refuseMasterKey(ctx context.Context, store latchkey.Store, keys *secret.Keyring) error {
	switch _, err := store.Meta(ctx, latchkey.RetiredSealMeta(keys.CurrentSealHeader())); latchkey.ErrorCode(err) {
	case "":
		return ErrMasterKeyRotated
	case latchkey.ENOTFOUND:
	default:
		return err
	}
	switch id, err := store.Meta(ctx, masterKeyNextID); latchkey.ErrorCode(err) {
	case "":
		if string(id) == keys.ID() {
			return ErrRotationInProgress
		}
	case latchkey.ENOTFOUND:
	default:
		return err
	}
	return ErrMasterKeyMismatch
}

// sealFormat names the meta value recording that every sealed value is
// bound to a record naming its kind as well as its id ("key:…",
// "webhook:…"); stores made before that bound values to the bare id.
const sealFormat = "seal_format"

// upgradeSealing reseals, once per store, every value sealed under its bare
// id, binding it to its record. It is idempotent, so a crash between the
// reseal and the marker, or two processes upgrading at once, do no harm.
func upgradeSealing(ctx context.Context, store latchkey.Store, keys *secret.Keyring) error {
	switch _, err := store.Meta(ctx, sealFormat); latchkey.ErrorCode(err) {
	case "":
		return nil // already upgraded
	case latchkey.ENOTFOUND:
	default:
		return err
	}
	err := store.Reseal(ctx, []string{masterKeyCheck}, func(kind, id string, sealed []byte) ([]byte, error) {
		rec := secret.Record{Kind: kind, ID: id}
		if _, err := keys.TryOpen(sealed, rec); err == nil {
			return sealed, nil
		}
		plain, err := keys.OpenLegacy(sealed, id)
		if err != nil {
			return nil, fmt.Errorf("upgrade sealed %s %s: %w", kind, id, err)
		}
		return keys.Seal(plain, rec), nil
	})
	if err != nil {
		return err
	}
	_, err = store.InitMeta(ctx, sealFormat, []byte("2"))
	return err
}

// Master-key rotation.
//
// `latchkey rotate-master-key` moves every sealed value and every lookup
// hash from the current master key K to a new one N while servers run: on
// SQLite (one server) and on a PostgreSQL fleet alike, no valid key is ever
// refused, and no secret is left under K when it ends. It runs in steps,
// each recorded in the store, so that a run killed anywhere is resumed by
// running it again (Rotation.Run finds the step from the store):
//
//  1. Start. It stores N sealed under K (meta master_key_next, with the
//     phase "read") and N's id (master_key_next_id, in clear; ids are
//     one-way, see secret.Keyring.ID). Servers hold only K, so they learn N
//     from the store: each polls that one meta value every second
//     (KeyringWatcher) and reads it at start (CheckMasterKey). A server that
//     knows N finds a presented secret by its hash under K, then under N,
//     and opens values under either key; it still writes under K.
//  2. After Grace (5 s, at least KeyringStaleAfter), phase "write": servers
//     now hash and seal new secrets under N. Then the re-keying: every value
//     not yet under N (secret.Keyring.SealHeader tells, without a key) is
//     opened under K and stored under N, with its hash under N, in batches
//     of a few hundred, each its own short transaction (Store.Rekey). A
//     value already under N is left alone: that is what makes a rerun
//     resume, with no column to record progress.
//  3. Finish: one last Rekey call with Limit 0 holds off every writer of
//     secrets (SQLite: the one write transaction; PostgreSQL: EXCLUSIVE
//     locks on the tables of sealed values), re-keys whatever the batches
//     did not reach (secrets written meanwhile by servers that still wrote
//     under K, rows a batch found locked), seals master_key_check under N,
//     marks K retired (latchkey.RetiredSealMeta), and deletes
//     master_key_next, all in that transaction. Servers see the check open
//     under N and drop K. With the default data directory the command then
//     replaces master.key with N (master.key.next until then).
//
// Why no valid key is refused. A stored value changes keys only in step 2,
// from K to N, never back, and never before Grace has passed since N was
// stored. A lookup tries the hash under K first, then under N, so a secret
// moved between the two reads is found by the second. A server that does
// not know N yet can miss a secret only if it was moved, or written under
// N, before the lookup, so at least Grace after N was stored; but every
// server polls each second, and one whose last successful poll began more
// than KeyringStaleAfter ago (paused, or cut off from the store) refreshes
// before it calls a secret unknown or a value unopenable
// (secret.Keyring.Sync, Open). So a server that answers "unknown" with a
// fresh keyring that lacks N polled last before N was stored, and answers
// within KeyringStaleAfter <= Grace of it: before any value moved. Only
// durations are compared here, each measured by one machine's monotonic
// clock; no two machines' clocks need agree. A server (re)started during
// the rotation with K reads N at start.
//
// Why no secret is left under K. A server that has not switched to N may
// keep writing secrets under K until the last call: the batches are not
// what catches them, the last call is, since it reads every value under
// the writers' lock. After it, the store's triggers (migration 0006) refuse
// in the writing transaction any secret sealed under the retired K, so a
// server that has not heard of the finish cannot store one; sealingStore
// then refreshes the keyring and writes again under N. sealingStore also
// hashes and seals each new secret under one keyring state, so that no
// secret's hash is under one key and its sealed value under the other.
//
// A server that was frozen from before step 1 until after step 3 cannot
// learn N (it is no longer in the store, sealed under K, on purpose): it
// answers what its cache holds, refuses to store secrets, and its lookups
// fail with "unavailable" (503), never "invalid", until restarted with N.
// A server later started with K is refused with ErrMasterKeyRotated.
const (
	masterKeyNext   = "master_key_next"
	masterKeyNextID = "master_key_next_id"
)

// The phases of a rotation, the first byte of master_key_next's plaintext.
const (
	phaseRead  byte = 'r'
	phaseWrite byte = 'w'
)

// Timings of a rotation: servers poll the store every KeyringPollInterval;
// a keyring whose last successful poll began longer than KeyringStaleAfter
// ago refreshes before it trusts a miss; a rotation waits Grace (at least
// KeyringStaleAfter) between storing the new key and moving any value.
const (
	KeyringPollInterval  = time.Second
	KeyringStaleAfter    = 3 * time.Second
	DefaultRotationGrace = 5 * time.Second
)

// learnRotation adds to keys the next master key of a rotation in
// progress, in its phase, and reports whether keys changed.
func learnRotation(ctx context.Context, store latchkey.Store, keys *secret.Keyring) (bool, error) {
	raw, err := store.Meta(ctx, masterKeyNext)
	switch latchkey.ErrorCode(err) {
	case "":
	case latchkey.ENOTFOUND:
		return false, nil
	default:
		return false, err
	}
	phase, next, err := openNext(keys, raw)
	if err != nil {
		return false, err
	}
	return keys.Rotate(next, phase == phaseWrite)
}

// errNextUnreadable: master_key_next is sealed under a key this keyring
// does not hold.
var errNextUnreadable = errors.New("the new master key of the rotation in progress does not open under this master key")

func openNext(keys *secret.Keyring, raw []byte) (phase byte, next []byte, err error) {
	plain, err := keys.TryOpen(raw, secret.MetaRecord(masterKeyNext))
	if err != nil {
		return 0, nil, errNextUnreadable
	}
	if len(plain) != 1+secret.MasterKeySize || plain[0] != phaseRead && plain[0] != phaseWrite {
		return 0, nil, errors.New("the stored rotation state is not in a form this latchkey knows")
	}
	return plain[0], plain[1:], nil
}

func sealNext(keys *secret.Keyring, phase byte, next []byte) []byte {
	return keys.Seal(append([]byte{phase}, next...), secret.MetaRecord(masterKeyNext))
}

// KeyringWatcher keeps a server's keyring in step with the master-key
// rotations of its store (see the comment on rotation above): it polls
// the store every KeyringPollInterval, and the keyring calls it at once
// when it is stale (secret.Keyring.SetRefresher). Make one with
// WatchMasterKey.
type KeyringWatcher struct {
	store latchkey.Store
	keys  *secret.Keyring
	cache Invalidator
	log   *slog.Logger

	mu      sync.Mutex // one refresh at a time
	failing bool
	warned  bool
	stop    context.CancelFunc
	done    chan struct{}
}

// WatchMasterKey starts watching the store's master-key rotation for keys
// (checked by CheckMasterKey first): the keyring learns the next key of a
// rotation, switches to writing under it, and drops the old one when the
// rotation finishes, and cache (may be nil) is purged each time. Close
// stops it.
func WatchMasterKey(store latchkey.Store, keys *secret.Keyring, cache Invalidator, logger *slog.Logger) *KeyringWatcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &KeyringWatcher{store: store, keys: keys, cache: cache, log: logger, stop: cancel, done: make(chan struct{})}
	keys.SetRefresher(func(ctx context.Context) error { return w.refresh(ctx, true) }, KeyringStaleAfter)
	w.poll(ctx)
	go func() {
		defer close(w.done)
		t := time.NewTicker(KeyringPollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.poll(ctx)
			}
		}
	}()
	return w
}

// Close stops the watcher.
func (w *KeyringWatcher) Close() {
	w.stop()
	<-w.done
}

func (w *KeyringWatcher) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, KeyringStaleAfter)
	defer cancel()
	// After a gap (the process was paused, or the store out of reach), a
	// whole rotation may have come and gone: look at the check value too.
	err := w.refresh(ctx, w.keys.Stale())
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err != nil && ctx.Err() == nil && !w.failing:
		w.log.Warn("master key: cannot read the rotation state; secrets not found meanwhile are checked again against the store", "err", err)
		w.failing = true
	case err == nil && w.failing:
		w.log.Info("master key: reading the rotation state again")
		w.failing = false
	}
}

// refresh reads the rotation state and applies it to the keyring. full
// also reads the check value when no rotation is in progress, to find out
// whether one finished unseen (a keyring refreshed because it was stale).
func (w *KeyringWatcher) refresh(ctx context.Context, full bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	start := time.Now()
	raw, err := w.store.Meta(ctx, masterKeyNext)
	switch latchkey.ErrorCode(err) {
	case "":
		if w.keys.OpensUnder(raw, secret.MetaRecord(masterKeyNext)) == secret.OpensUnderNext {
			// A new rotation, from the key the last one moved to: that one
			// finished while this server was not looking.
			w.keys.FinishRotation()
			w.purge()
		}
		phase, next, err := openNext(w.keys, raw)
		if errors.Is(err, errNextUnreadable) {
			w.retire()
			break
		}
		if err != nil {
			return err
		}
		changed, err := w.keys.Rotate(next, phase == phaseWrite)
		if err != nil {
			return err
		}
		if changed {
			w.purge()
			if phase == phaseWrite {
				w.log.Info("master key rotation: new secrets are now sealed under the new key", "next_key_id", w.keys.NextID())
			} else {
				w.log.Info("master key rotation: learned the new key; secrets are found and opened under both",
					"key_id", w.keys.ID(), "next_key_id", w.keys.NextID())
			}
		}
	case latchkey.ENOTFOUND:
		rotating, _ := w.keys.Rotating()
		if !rotating && !full {
			break
		}
		check, err := w.store.Meta(ctx, masterKeyCheck)
		if err != nil {
			return err
		}
		switch w.keys.OpensUnder(check, secret.MetaRecord(masterKeyCheck)) {
		case secret.OpensUnderNext:
			w.keys.FinishRotation()
			w.purge()
			w.log.Info("master key rotation finished: the old key is forgotten", "key_id", w.keys.ID())
		case secret.OpensUnderCurrent:
			if rotating && !w.warned {
				w.warned = true
				w.log.Warn("master key rotation: the new key is gone from the database but the check is still under the current key; " +
					"keeping both keys")
			}
		default:
			w.retire()
		}
	default:
		return err
	}
	w.keys.Confirm(start)
	return nil
}

func (w *KeyringWatcher) purge() {
	if w.cache != nil {
		w.cache.Purge()
	}
}

// retire records that the store moved to a master key this server does not
// hold.
func (w *KeyringWatcher) retire() {
	if !w.keys.Retired() {
		w.keys.SetRetired()
		w.log.Error("the database was rotated to a master key this server does not hold (it missed the rotation): " +
			"it cannot find new lookups or store secrets; restart it with the new master key")
	}
}

// ErrKeyringRetired is what a server whose master key was retired under it
// answers where it would need the store's current key.
var ErrKeyringRetired = &latchkey.Error{Code: latchkey.EUNAVAILABLE,
	Message: "this server's master key was retired by a rotation it missed; restart it with the new master key"}

// SealingStore returns store with its writes of secrets made consistent with
// keys: every key secret and webhook secret the core writes (whose
// plaintext it carries) is hashed and sealed under one state of the
// keyring, the state at the write, so that a rotation that moves the keyring
// from one key to the next between the core's Hash and Seal calls cannot
// leave a secret whose hash is under one key and its sealed value under the
// other. When the store refuses a secret sealed under a retired key (a
// rotation finished that this server had not heard of yet), it refreshes
// the keyring and writes once more. Everything else goes to store as is.
//
// A rolled secret's hash may change here after the core computed it; the
// core then tells the cache of the hash it made, which only ever matters
// for a secret remembered as unknown before it existed.
func SealingStore(store latchkey.Store, keys *secret.Keyring) latchkey.Store {
	return sealingStore{Store: store, keys: keys}
}

type sealingStore struct {
	latchkey.Store
	keys *secret.Keyring
}

// write runs fn with the secrets made under a pinned keyring, and once more
// if the store refused them as sealed under a retired key and the keyring
// has moved since.
func (s sealingStore) write(ctx context.Context, fn func(pin *secret.Keyring) error) error {
	ver := s.keys.Version()
	err := fn(s.keys.Pin())
	if err == nil || !strings.Contains(err.Error(), latchkey.RetiredSealMessage) {
		return err
	}
	if changed, rerr := s.keys.Refresh(ctx, ver); rerr != nil || !changed {
		if s.keys.Retired() {
			return ErrKeyringRetired
		}
		return err
	}
	return fn(s.keys.Pin())
}

func resealSecret(pin *secret.Keyring, keyID string, sec *latchkey.Secret) {
	if sec.Plain == "" {
		return
	}
	h := pin.Hash(sec.Plain)
	if bytes.Equal(h, sec.Hash) && bytes.HasPrefix(sec.Sealed, pin.SealHeader()) {
		return
	}
	sec.Hash, sec.Sealed = h, pin.Seal([]byte(sec.Plain), secret.KeyRecord(keyID))
}

func resealWebhooks(pin *secret.Keyring, in *latchkey.Integration) {
	for i := range in.Webhooks {
		w := &in.Webhooks[i]
		if w.Secret != "" && !bytes.HasPrefix(w.SealedSecret, pin.SealHeader()) {
			w.SealedSecret = pin.Seal([]byte(w.Secret), secret.WebhookRecord(w.ID))
		}
	}
}

func (s sealingStore) CreateAccountWithKey(ctx context.Context, a *latchkey.Account, k *latchkey.Key) error {
	return s.write(ctx, func(pin *secret.Keyring) error {
		for i := range k.Secrets {
			resealSecret(pin, k.ID, &k.Secrets[i])
		}
		return s.Store.CreateAccountWithKey(ctx, a, k)
	})
}

func (s sealingStore) CreateKey(ctx context.Context, k *latchkey.Key, maxPerOwner int) error {
	return s.write(ctx, func(pin *secret.Keyring) error {
		for i := range k.Secrets {
			resealSecret(pin, k.ID, &k.Secrets[i])
		}
		return s.Store.CreateKey(ctx, k, maxPerOwner)
	})
}

func (s sealingStore) RollKey(ctx context.Context, keyID string, next latchkey.Secret, oldUntil *time.Time) error {
	return s.write(ctx, func(pin *secret.Keyring) error {
		resealSecret(pin, keyID, &next)
		return s.Store.RollKey(ctx, keyID, next, oldUntil)
	})
}

func (s sealingStore) CreateIntegration(ctx context.Context, in *latchkey.Integration) error {
	return s.write(ctx, func(pin *secret.Keyring) error {
		resealWebhooks(pin, in)
		return s.Store.CreateIntegration(ctx, in)
	})
}

// Rotation moves a store from its master key to a new one; see the comment
// on rotation above. Run it while servers run; run it again, with the same
// keys, after an interruption.
type Rotation struct {
	Store latchkey.Store
	// Current is the store's master key, NewMaster the one to move to.
	Current   *secret.Keyring
	NewMaster []byte
	// Batch is how many values each transaction re-keys (default 500).
	Batch int
	// Grace is how long servers get to learn the new key before any value
	// moves (default DefaultRotationGrace; at least KeyringStaleAfter).
	Grace  time.Duration
	Logger *slog.Logger
	// AfterBatch, if set, is called after each batch commits with the
	// number of batches so far; an error stops the run (tests stop a
	// rotation half-way with it).
	AfterBatch func(batches int) error
}

// RotationReport says what a Run did.
type RotationReport struct {
	// Resumed: the rotation had been started before (by an earlier run).
	Resumed bool
	// AlreadyDone: the store was already sealed under the new key; Run
	// changed nothing.
	AlreadyDone bool
	// Rekeyed counts the values this run moved to the new key, in Batches
	// batches and the last call.
	Rekeyed, Batches int
	// KeyID and NewKeyID are the keys' one-way ids.
	KeyID, NewKeyID string
}

// ErrOtherRotation is returned by Run when the store holds a rotation in
// progress to another key than the one given.
var ErrOtherRotation = errors.New("another master-key rotation, to another new key, is in progress: " +
	"finish it with that key (run latchkey rotate-master-key with it), then rotate again")

// Run rotates the store to the new key, or resumes a rotation to it.
func (r *Rotation) Run(ctx context.Context) (rep RotationReport, err error) {
	batch, grace, log := r.Batch, r.Grace, r.Logger
	if batch <= 0 {
		batch = 500
	}
	if grace == 0 {
		grace = DefaultRotationGrace
	}
	if grace < KeyringStaleAfter {
		return rep, fmt.Errorf("the grace period must be at least %v: servers must have had time to learn the new key", KeyringStaleAfter)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	next, err := secret.NewKeyring(r.NewMaster)
	if err != nil {
		return rep, err
	}
	old := r.Current
	rep.KeyID, rep.NewKeyID = old.ID(), next.ID()
	if rep.KeyID == rep.NewKeyID {
		return rep, errors.New("the new master key is the current one")
	}
	checkRec := secret.MetaRecord(masterKeyCheck)
	check, err := r.Store.Meta(ctx, masterKeyCheck)
	if err != nil {
		if latchkey.ErrorCode(err) == latchkey.ENOTFOUND {
			return rep, errors.New("the database was never sealed: start the server once before rotating its master key")
		}
		return rep, err
	}
	if _, err := next.TryOpen(check, checkRec); err == nil {
		rep.AlreadyDone = true
		return rep, nil
	}
	if _, err := old.TryOpen(check, checkRec); err != nil {
		if _, err := old.OpenLegacy(check, masterKeyCheck); err != nil {
			return rep, refuseMasterKey(ctx, r.Store, old)
		}
	}
	if err := upgradeSealing(ctx, r.Store, old); err != nil {
		return rep, err
	}

	// Start, or find where an earlier run stopped.
	var raw []byte
	for raw == nil {
		raw, err = r.Store.Meta(ctx, masterKeyNext)
		switch latchkey.ErrorCode(err) {
		case "":
			rep.Resumed = true
		case latchkey.ENOTFOUND:
			raw = sealNext(old, phaseRead, r.NewMaster)
			_, err = r.Store.Rekey(r.audited(ctx, rep, "started", ""), latchkey.RekeyBatch{
				Require: map[string][]byte{masterKeyNext: nil},
				SetMeta: map[string][]byte{masterKeyNext: raw, masterKeyNextID: []byte(rep.NewKeyID)},
			})
			if latchkey.ErrorCode(err) == latchkey.ECONFLICT {
				raw = nil // another run started one at the same moment: read it
				continue
			}
			if err != nil {
				return rep, err
			}
			log.Info("master key rotation started: servers learn the new key from the database", "key_id", rep.KeyID, "new_key_id", rep.NewKeyID)
		default:
			return rep, err
		}
	}
	phase, stored, err := openNext(old, raw)
	if err != nil {
		return rep, err
	}
	storedKeys, err := secret.NewKeyring(stored)
	if err != nil {
		return rep, err
	}
	if storedKeys.ID() != rep.NewKeyID {
		return rep, fmt.Errorf("%w (the rotation in progress goes to key id %s)", ErrOtherRotation, storedKeys.ID())
	}
	for phase == phaseRead {
		log.Info("master key rotation: waiting for every server to learn the new key", "grace", grace)
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(grace):
		}
		writing := sealNext(old, phaseWrite, r.NewMaster)
		_, err := r.Store.Rekey(ctx, latchkey.RekeyBatch{
			Require: map[string][]byte{masterKeyNext: raw},
			SetMeta: map[string][]byte{masterKeyNext: writing},
		})
		switch {
		case latchkey.ErrorCode(err) == latchkey.ECONFLICT:
			// Another run of the same rotation moved it on: read where.
			if raw, err = r.Store.Meta(ctx, masterKeyNext); err != nil {
				return rep, err
			}
			if phase, _, err = openNext(old, raw); err != nil {
				return rep, err
			}
		case err != nil:
			return rep, err
		default:
			raw, phase = writing, phaseWrite
		}
	}

	moved := 0
	rekey := func(v *latchkey.SealedValue) error {
		rec := secret.Record{Kind: v.Kind, ID: v.ID}
		if plain, err := next.TryOpen(v.Sealed, rec); err == nil {
			// Already under the new key (a value of the old format, whose
			// first bytes Except cannot tell).
			if v.Kind == secret.KindKey {
				v.Hash = next.Hash(string(plain))
			}
			return nil
		}
		plain, err := old.TryOpen(v.Sealed, rec)
		if err != nil {
			if plain, err = old.OpenLegacy(v.Sealed, v.ID); err != nil {
				return fmt.Errorf("%s %s: its sealed value opens under neither the current nor the new master key", v.Kind, v.ID)
			}
		}
		moved++
		v.Sealed = next.Seal(plain, rec)
		if v.Kind == secret.KindKey {
			v.Hash = next.Hash(string(plain))
		}
		return nil
	}
	log.Info("master key rotation: re-keying the stored secrets", "batch", batch)
	for after := ""; ; {
		moved = 0
		cursor, err := r.Store.Rekey(ctx, latchkey.RekeyBatch{After: after, Limit: batch, Except: next.SealHeader(), Fn: rekey})
		if err != nil {
			return rep, err
		}
		rep.Rekeyed += moved
		rep.Batches++
		log.Debug("master key rotation: batch done", "batches", rep.Batches, "rekeyed", rep.Rekeyed)
		if r.AfterBatch != nil {
			if err := r.AfterBatch(rep.Batches); err != nil {
				return rep, err
			}
		}
		if cursor == "" {
			break
		}
		after = cursor
	}
	moved = 0
	_, err = r.Store.Rekey(r.audited(ctx, rep, "finished", strconv.Itoa(rep.Rekeyed)), latchkey.RekeyBatch{
		Except:  next.SealHeader(),
		Fn:      rekey,
		Require: map[string][]byte{masterKeyNext: raw},
		SetMeta: map[string][]byte{
			masterKeyCheck: next.Seal([]byte(masterKeyCheck), checkRec),
			latchkey.RetiredSealMeta(old.CurrentSealHeader()): []byte(time.Now().UTC().Format(time.RFC3339)),
		},
		DeleteMeta: []string{masterKeyNext, masterKeyNextID},
	})
	if latchkey.ErrorCode(err) == latchkey.ECONFLICT {
		// Another run of the same rotation finished it first.
		if done, serr := SealedUnder(ctx, r.Store, next); serr == nil && done {
			log.Info("master key rotation finished (by another run)", "new_key_id", rep.NewKeyID)
			return rep, nil
		}
	}
	if err != nil {
		return rep, err
	}
	rep.Rekeyed += moved
	log.Info("master key rotation finished: every secret is sealed and indexed under the new key",
		"new_key_id", rep.NewKeyID, "rekeyed", rep.Rekeyed, "batches", rep.Batches, "last_call", moved)
	return rep, nil
}

// audited returns ctx carrying the audit event of the rotation's phase.
func (r *Rotation) audited(ctx context.Context, rep RotationReport, phase, rekeyed string) context.Context {
	now := time.Now().UTC().Truncate(time.Microsecond)
	ev := audit.Event(ctx, now, nil, latchkey.ActionMasterKeyRotate, "master_key", rep.NewKeyID)
	ev.Detail = map[string]string{"phase": phase, "from_key_id": rep.KeyID, "to_key_id": rep.NewKeyID}
	if rekeyed != "" {
		ev.Detail["rekeyed"] = rekeyed
	}
	return latchkey.WithAuditEvent(ctx, ev)
}

// StoredRotation reports the new master key of the rotation in progress in
// the store, if any (nil if none), after checking that current opens the
// store's check; an error says why it does not (ErrMasterKeyRotated and the
// like).
func StoredRotation(ctx context.Context, store latchkey.Store, current *secret.Keyring) ([]byte, error) {
	check, err := store.Meta(ctx, masterKeyCheck)
	if err != nil {
		return nil, err
	}
	if _, err := current.TryOpen(check, secret.MetaRecord(masterKeyCheck)); err != nil {
		if _, err := current.OpenLegacy(check, masterKeyCheck); err != nil {
			return nil, refuseMasterKey(ctx, store, current)
		}
	}
	raw, err := store.Meta(ctx, masterKeyNext)
	switch latchkey.ErrorCode(err) {
	case "":
		_, next, err := openNext(current, raw)
		return next, err
	case latchkey.ENOTFOUND:
		return nil, nil
	default:
		return nil, err
	}
}

// SealedUnder reports whether the store's check opens under keys: whether
// keys hold the store's current master key.
func SealedUnder(ctx context.Context, store latchkey.Store, keys *secret.Keyring) (bool, error) {
	check, err := store.Meta(ctx, masterKeyCheck)
	if err != nil {
		return false, err
	}
	_, err = keys.TryOpen(check, secret.MetaRecord(masterKeyCheck))
	return err == nil, nil
}
