package core

import (
	"context"
	"errors"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/audit"
	"github.com/latchkey/latchkey/importhash"
	"github.com/latchkey/latchkey/secret"
)

// MaxImportBatch bounds the keys of one ImportKeys call.
const MaxImportBatch = 1000

// ImportSpec is one key brought in from another system: a KeySpec (with
// its original id, if it had one worth keeping) and its secret, either in
// plaintext (Secret) or as that system's hash of it (Hash).
type ImportSpec struct {
	KeySpec
	Secret string
	// Hash is the imported hash's Algorithm and Digest (importhash.Parse);
	// its times are the core's to set.
	Hash *latchkey.ImportedSecret
}

// ImportStatus says what became of one imported key.
type ImportStatus string

// The statuses, and why a key is skipped.
const (
	ImportCreated ImportStatus = "created"
	ImportSkipped ImportStatus = "skipped"
	ImportFailed  ImportStatus = "failed"

	// SkipIDExists: a key with this id exists, which is what an import run
	// a second time finds.
	SkipIDExists = "id_exists"
	// SkipSecretExists: a key already holds this secret (or this hash).
	SkipSecretExists = "secret_exists"
)

// ImportResult is the outcome of one ImportSpec: its key's id (unless it
// failed before one was known), the status, the reason for a skip, and the
// error of a failure (its code and message are the client's to read).
type ImportResult struct {
	ID     string
	Status ImportStatus
	Reason string
	Err    error
}

// ImportKeys imports keys as CreateKey makes them (the same owner, name and
// rights rules; audited as key.import), except that each keeps the secret
// its holders already have. A key whose id, secret or hash is already in
// the store is skipped, so that running an import again, or resuming one,
// creates nothing twice. The keys to create are written in one
// transaction; should that fail on a conflict (an id twice in the batch, a
// concurrent import), they are written one by one, so that each gets its
// own outcome. It returns one result per spec; an error only when the
// store fails, after which a rerun skips what was made.
func (s *Service) ImportKeys(ctx context.Context, p *latchkey.Principal, specs []ImportSpec) ([]ImportResult, error) {
	if len(specs) == 0 || len(specs) > MaxImportBatch {
		return nil, latchkey.Invalid("keys", "an import takes 1 to 1000 keys at a time")
	}
	owners := map[latchkey.KeyOwner]error{} // one lookup per owner, not per key
	results := make([]ImportResult, len(specs))
	var (
		keys   []*latchkey.Key
		events []*latchkey.AuditEvent
		at     []int // the spec index of each key
	)
	for i := range specs {
		k, res, err := s.prepareImport(ctx, p, &specs[i], owners)
		if err != nil {
			return nil, err
		}
		results[i] = res
		if k != nil {
			keys, at = append(keys, k), append(at, i)
			events = append(events, audit.Event(ctx, s.timestamp(), p, latchkey.ActionKeyImport, "key", k.ID))
		}
	}
	if len(keys) == 0 {
		return results, nil
	}
	err := s.store.CreateKeys(ctx, keys, events)
	switch code := latchkey.ErrorCode(err); {
	case err == nil:
		for j, k := range keys {
			results[at[j]] = ImportResult{ID: k.ID, Status: ImportCreated}
		}
	case code == latchkey.ECONFLICT || code == latchkey.ENOTFOUND:
		for j, k := range keys {
			res, err := s.createImported(ctx, p, k, specs[at[j]].MaxPerOwner)
			if err != nil {
				return nil, err
			}
			results[at[j]] = res
		}
	default:
		return nil, err
	}
	for j, k := range keys {
		if results[at[j]].Status == ImportCreated {
			s.added(k.ID, k.Secrets...)
		}
	}
	return results, nil
}

// prepareImport checks one spec and returns the key to create, or nil with
// the spec's result (skipped or failed). It returns an error only for a
// store failure.
func (s *Service) prepareImport(ctx context.Context, p *latchkey.Principal, spec *ImportSpec, owners map[latchkey.KeyOwner]error) (*latchkey.Key, ImportResult, error) {
	failed := func(err error) (*latchkey.Key, ImportResult, error) {
		if code := latchkey.ErrorCode(err); code == latchkey.EUNAVAILABLE || code == "" {
			return nil, ImportResult{}, err
		}
		return nil, ImportResult{ID: spec.ID, Status: ImportFailed, Err: err}, nil
	}
	if err := validName(spec.Name); err != nil {
		return failed(err)
	}
	if (spec.Secret == "") == (spec.Hash == nil) {
		return failed(latchkey.Invalid("secret", "each key needs its secret or its hash, not both"))
	}
	if spec.Prefix != "" && !secret.ValidBrand(spec.Prefix) {
		return failed(latchkey.Invalid("prefix", "prefix must be 1 to 16 lowercase letters, digits and underscores"))
	}
	owner := spec.Owner
	err, seen := owners[owner]
	if !seen {
		key := owner
		err = s.ownerFor(ctx, p, &owner)
		owners[key] = err
	}
	owner.AccountID = p.AccountID
	if err != nil {
		return failed(err)
	}
	policy, err := grantable(p, spec.Policy)
	if err != nil {
		return failed(err)
	}
	if policy.Type == "" {
		policy.Type = latchkey.KeyTypeSecret
	}
	if reason, err := s.importedBefore(ctx, spec); reason != "" || err != nil {
		if err != nil {
			return failed(err)
		}
		return nil, ImportResult{ID: spec.ID, Status: ImportSkipped, Reason: reason}, nil
	}

	now := s.timestamp()
	k := &latchkey.Key{
		ID: spec.ID, AccountID: owner.AccountID, AppID: owner.AppID, IntegrationID: owner.IntegrationID,
		Name: spec.Name, Policy: policy, Prefix: spec.Prefix, CreatedAt: now, UpdatedAt: now,
	}
	if k.ID == "" {
		k.ID = keyIDPrefix[k.Scope()] + NewObjectID()
	}
	if spec.Secret != "" {
		k.Secrets = []latchkey.Secret{{
			Hash:      s.keys.Hash(spec.Secret),
			Sealed:    s.keys.Seal([]byte(spec.Secret), secret.KeyRecord(k.ID)),
			CreatedAt: now,
		}}
	} else {
		k.Imported = &latchkey.ImportedSecret{Algorithm: spec.Hash.Algorithm, Digest: spec.Hash.Digest, CreatedAt: now}
	}
	return k, ImportResult{ID: k.ID}, nil
}

// createImported writes one prepared key on its own, as the fallback of a
// batch that conflicted: a conflict is then this key's, and skips it.
func (s *Service) createImported(ctx context.Context, p *latchkey.Principal, k *latchkey.Key, maxPerOwner int) (ImportResult, error) {
	err := s.store.CreateKey(s.audited(ctx, p, latchkey.ActionKeyImport, "key", k.ID), k, maxPerOwner)
	var e *latchkey.Error
	switch {
	case err == nil:
		return ImportResult{ID: k.ID, Status: ImportCreated}, nil
	case errors.As(err, &e) && e.Code == latchkey.ECONFLICT:
		reason := SkipIDExists
		if e.Subject == "secret" {
			reason = SkipSecretExists
		}
		return ImportResult{ID: k.ID, Status: ImportSkipped, Reason: reason}, nil
	case errors.As(err, &e) && e.Code != latchkey.EUNAVAILABLE:
		return ImportResult{ID: k.ID, Status: ImportFailed, Err: err}, nil
	default:
		return ImportResult{}, err
	}
}

// importedBefore says why spec's key is already in the store, if it is: its
// id is taken, or its secret (by Latchkey's index, or as an imported
// SHA-256 digest) is. A salted hash cannot be recognised but by its key's id.
func (s *Service) importedBefore(ctx context.Context, spec *ImportSpec) (string, error) {
	found := func(_ *latchkey.Key, err error) (bool, error) {
		if latchkey.ErrorCode(err) == latchkey.ENOTFOUND {
			return false, nil
		}
		return err == nil, err
	}
	if spec.ID != "" {
		if ok, err := found(s.store.Key(ctx, spec.ID)); ok || err != nil {
			return SkipIDExists, err
		}
	}
	var digest []byte
	switch {
	case spec.Secret != "":
		for _, h := range lookupHashes(s.keys, spec.Secret) {
			if ok, err := found(s.store.KeyBySecretHash(ctx, h)); ok || err != nil {
				return SkipSecretExists, err
			}
		}
		d := importhash.Digest(spec.Secret)
		digest = d[:]
	case spec.Hash.Algorithm == latchkey.HashSHA256:
		digest = spec.Hash.Digest
	}
	if digest != nil {
		if ok, err := found(s.store.KeyByImportedDigest(ctx, digest)); ok || err != nil {
			return SkipSecretExists, err
		}
	}
	return "", nil
}

// lookupHashes are the hashes a plaintext secret may be stored under, with
// a master-key rotation under way too.
func lookupHashes(keys *secret.Keyring, plain string) [][]byte {
	hashes, _ := keys.LookupHashes(plain)
	return hashes
}
