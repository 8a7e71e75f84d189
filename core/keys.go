package core

import (
	"context"
	"time"
	"unicode"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/secret"
)

// keyIDPrefix gives each scope's key ids their Sunshine-dialect prefix.
var keyIDPrefix = map[latchkey.Scope]string{
	latchkey.ScopeAccount:     "act_",
	latchkey.ScopeApp:         "app_",
	latchkey.ScopeIntegration: "int_",
}

// ownerFor checks that a principal may manage the keys of owner (whose
// AccountID it sets): an account key those of anything in its account, an app
// key those of its app and the app's integrations, an integration key those
// of its integration. Keys are held by custom integrations only.
func (s *Service) ownerFor(ctx context.Context, p *latchkey.Principal, owner *latchkey.KeyOwner) error {
	owner.AccountID = p.AccountID
	switch {
	case owner.IntegrationID != "":
		in, err := s.integrationFor(ctx, p, owner.AppID, owner.IntegrationID)
		if err != nil {
			return err
		}
		if in.Type != latchkey.IntegrationTypeCustom {
			return latchkey.Errorf(latchkey.EINVALID, "API keys are available only for custom integrations")
		}
		return nil
	case owner.AppID != "":
		if p.Scope == latchkey.ScopeIntegration {
			return forbidden()
		}
		_, err := s.appFor(ctx, p, owner.AppID)
		return err
	default:
		return requireAccountScope(p)
	}
}

// KeySpec asks for a new key.
type KeySpec struct {
	// Owner is the app or integration that will hold the key (AppID empty:
	// the principal's account); the principal must be able to manage it.
	Owner latchkey.KeyOwner
	// ID is the key's id; empty gets an id in the Sunshine style (act_, app_
	// or int_ and 24 hex digits). A surface that takes client-chosen ids
	// validates them.
	ID     string
	Name   string
	Policy latchkey.Policy
	// Prefix is the brand of the key's secrets ("" for none); it must pass
	// secret.ValidBrand.
	Prefix string
	// MaxPerOwner > 0 caps the keys one owner holds (ELIMIT).
	MaxPerOwner int
}

// CreateKey makes a key and returns it with its secret in plaintext (once;
// later reads unseal it). The key's policy is narrowed to the principal's:
// an ACL or address list left unset inherits the principal's, and one wider
// than the principal's is refused (EFORBIDDEN).
func (s *Service) CreateKey(ctx context.Context, p *latchkey.Principal, spec KeySpec) (*latchkey.Key, error) {
	if err := validName(spec.Name); err != nil {
		return nil, err
	}
	owner := spec.Owner
	if err := s.ownerFor(ctx, p, &owner); err != nil {
		return nil, err
	}
	policy, err := grantable(p, spec.Policy)
	if err != nil {
		return nil, err
	}
	if policy.Type == "" {
		policy.Type = latchkey.KeyTypeSecret
	}
	if spec.Prefix != "" && !secret.ValidBrand(spec.Prefix) {
		return nil, latchkey.Invalid("prefix", "prefix must be 1 to 16 lowercase letters, digits and underscores")
	}
	k, err := s.newKey(owner, spec.ID, spec.Name, spec.Prefix, policy, s.timestamp())
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateKey(s.audited(ctx, p, latchkey.ActionKeyCreate, "key", k.ID), k, spec.MaxPerOwner); err != nil {
		return nil, err
	}
	s.added(k.ID, k.Secrets...)
	return k, nil
}

// grantable returns the policy a principal may give a key: what it asked
// for, with an unset ACL, address list, expiry or rate limit inheriting the principal's, and
// EFORBIDDEN if that is still wider than the principal's own.
func grantable(p *latchkey.Principal, want latchkey.Policy) (latchkey.Policy, error) {
	if want.ACL == nil && p.Policy.ACL != nil {
		want.ACL = p.Policy.ACL
	}
	if want.AllowedIPs == nil && p.Policy.AllowedIPs != nil {
		want.AllowedIPs = p.Policy.AllowedIPs
	}
	if want.ExpiresAt == nil && p.Policy.ExpiresAt != nil {
		want.ExpiresAt = p.Policy.ExpiresAt
	}
	if want.RateLimit == nil && p.Policy.RateLimit != nil {
		want.RateLimit = p.Policy.RateLimit
	}
	if !p.Policy.Covers(want) {
		return want, &latchkey.Error{Code: latchkey.EFORBIDDEN,
			Message: "Forbidden: a key cannot grant permissions, scopes or addresses beyond its own"}
	}
	return want, nil
}

// UpdateKey replaces the name and policy of one of owner's keys. The type is
// fixed at creation (a secret's prefix says it); the policy is narrowed to
// the principal's as for CreateKey.
func (s *Service) UpdateKey(ctx context.Context, p *latchkey.Principal, owner latchkey.KeyOwner, keyID, name string, policy latchkey.Policy) (*latchkey.Key, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	k, err := s.ownedKey(ctx, p, owner, keyID)
	if err != nil {
		return nil, err
	}
	if err := withinRights(p, k); err != nil {
		return nil, err
	}
	if policy.Type != "" && policy.Type != k.Policy.Type {
		return nil, latchkey.Invalid("type", "type cannot be changed after the key is created")
	}
	policy.Type = k.Policy.Type
	if policy, err = grantable(p, policy); err != nil {
		return nil, err
	}
	k.Name, k.Policy, k.UpdatedAt = name, policy, s.timestamp()
	if err := s.store.UpdateKey(s.audited(ctx, p, latchkey.ActionKeyUpdate, "key", k.ID), k); err != nil {
		return nil, err
	}
	s.forget(k.ID)
	return k, s.unseal(k)
}

// QueryKeys lists one page of the keys held exactly by q.Owner, with their
// secrets unsealed where the principal may see them, and the number of all
// matches.
func (s *Service) QueryKeys(ctx context.Context, p *latchkey.Principal, q latchkey.KeyQuery) ([]*latchkey.Key, int, error) {
	if err := s.ownerFor(ctx, p, &q.Owner); err != nil {
		return nil, 0, err
	}
	keys, total, err := s.store.QueryKeys(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	for _, k := range keys {
		if err := s.reveal(p, k); err != nil {
			return nil, 0, err
		}
	}
	return keys, total, nil
}

// newKey builds a key with a fresh secret, hashed and sealed, and the given
// id (a fresh Sunshine-style one if empty).
func (s *Service) newKey(owner latchkey.KeyOwner, id, name, prefix string, policy latchkey.Policy, now time.Time) (*latchkey.Key, error) {
	k := &latchkey.Key{
		ID: id, AccountID: owner.AccountID, AppID: owner.AppID, IntegrationID: owner.IntegrationID,
		Name: name, Policy: policy, Prefix: prefix, CreatedAt: now, UpdatedAt: now,
	}
	if k.ID == "" {
		k.ID = keyIDPrefix[k.Scope()] + NewObjectID()
	}
	sec, err := s.newSecret(k, now)
	if err != nil {
		return nil, err
	}
	k.Secrets = []latchkey.Secret{sec}
	return k, nil
}

// newSecret makes a fresh secret for k, of its type and with its brand,
// hashed and sealed to it, with the plaintext filled in.
func (s *Service) newSecret(k *latchkey.Key, now time.Time) (latchkey.Secret, error) {
	kind := secret.SecretKind
	if k.Policy.Type == latchkey.KeyTypePublishable {
		kind = secret.PublishableKind
	}
	plain, err := secret.GenerateBranded(k.Prefix, kind, s.env)
	if err != nil {
		return latchkey.Secret{}, err
	}
	return latchkey.Secret{
		Hash:      s.keys.Hash(plain),
		Sealed:    s.keys.Seal([]byte(plain), secret.KeyRecord(k.ID)),
		Plain:     plain,
		CreatedAt: now,
	}, nil
}

// Keys lists the keys held exactly by owner, with their secrets unsealed
// where the principal may see them (see reveal).
func (s *Service) Keys(ctx context.Context, p *latchkey.Principal, owner latchkey.KeyOwner) ([]*latchkey.Key, error) {
	if err := s.ownerFor(ctx, p, &owner); err != nil {
		return nil, err
	}
	keys, err := s.store.ListKeys(ctx, owner)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := s.reveal(p, k); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Key returns one of owner's keys with its secrets unsealed where the
// principal may see them. Returns ENOTFOUND if owner holds no such key.
func (s *Service) Key(ctx context.Context, p *latchkey.Principal, owner latchkey.KeyOwner, keyID string) (*latchkey.Key, error) {
	k, err := s.ownedKey(ctx, p, owner, keyID)
	if err != nil {
		return nil, err
	}
	return k, s.reveal(p, k)
}

// DeleteKey deletes one of owner's keys; it stops authenticating at once. A
// key may delete only keys within its rights, and not itself (ECONFLICT):
// that would lock its holder out.
func (s *Service) DeleteKey(ctx context.Context, p *latchkey.Principal, owner latchkey.KeyOwner, keyID string) error {
	k, err := s.ownedKey(ctx, p, owner, keyID)
	if err != nil {
		return err
	}
	if err := withinRights(p, k); err != nil {
		return err
	}
	if k.ID == p.KeyID {
		return &latchkey.Error{Code: latchkey.ECONFLICT, Subject: "key",
			Message: "a key cannot delete itself; delete it with another key"}
	}
	err = s.store.DeleteKey(s.audited(ctx, p, latchkey.ActionKeyDelete, "key", keyID), keyID)
	s.forget(keyID)
	return err
}

func (s *Service) ownedKey(ctx context.Context, p *latchkey.Principal, owner latchkey.KeyOwner, keyID string) (*latchkey.Key, error) {
	if err := s.ownerFor(ctx, p, &owner); err != nil {
		return nil, err
	}
	k, err := s.store.Key(ctx, keyID)
	if err != nil {
		return nil, err
	}
	if k.AccountID != owner.AccountID || k.AppID != owner.AppID || k.IntegrationID != owner.IntegrationID {
		return nil, latchkey.NotFound("key")
	}
	return k, nil
}

// withinRights returns EFORBIDDEN unless the principal's policy covers the
// key's: a restricted key must not change, delete or learn the secret of a
// key that can do more than it can.
func withinRights(p *latchkey.Principal, k *latchkey.Key) error {
	if !p.Policy.Covers(k.Policy) {
		return &latchkey.Error{Code: latchkey.EFORBIDDEN, Message: "Forbidden: that key has rights beyond this key's"}
	}
	return nil
}

// WithinRights reports whether p may change, roll, delete or see the
// secret of k: whether k can do nothing p cannot. The dashboard offers
// those actions only then.
func WithinRights(p *latchkey.Principal, k *latchkey.Key) bool { return withinRights(p, k) == nil }

// reveal unseals a key's secrets for the principal, or leaves them empty
// when the key has rights beyond the principal's (its secret would be a
// way to those rights).
func (s *Service) reveal(p *latchkey.Principal, k *latchkey.Key) error {
	if withinRights(p, k) != nil {
		return nil
	}
	return s.unseal(k)
}

func (s *Service) unseal(k *latchkey.Key) error {
	for i := range k.Secrets {
		plain, err := s.keys.Open(k.Secrets[i].Sealed, secret.KeyRecord(k.ID))
		if err != nil {
			return err
		}
		k.Secrets[i].Plain = string(plain)
	}
	return nil
}

func validName(name string) error {
	if name == "" {
		return latchkey.Errorf(latchkey.EINVALID, "name must not be empty")
	}
	if len([]rune(name)) > MaxNameLen {
		return latchkey.Errorf(latchkey.EINVALID, "name must be at most %d characters", MaxNameLen)
	}
	if HasControl(name) {
		return latchkey.Errorf(latchkey.EINVALID, "name must not contain control characters")
	}
	return nil
}

// HasControl reports whether s holds a control character (C0, DEL or C1):
// names are shown in logs, terminals and dashboards, where those do harm.
func HasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
