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

// CreateKey makes a key for owner, which the principal must be able to
// manage, and returns it with its secret in plaintext (once; later reads
// unseal it). maxPerOwner > 0 caps the keys one owner holds (ELIMIT).
func (s *Service) CreateKey(ctx context.Context, p *latchkey.Principal, owner latchkey.KeyOwner, name string, policy latchkey.Policy, maxPerOwner int) (*latchkey.Key, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	if err := s.ownerFor(ctx, p, &owner); err != nil {
		return nil, err
	}
	if policy.Type == "" {
		policy.Type = latchkey.KeyTypeSecret
	}
	k, err := s.newKey(owner, name, policy, s.timestamp())
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateKey(ctx, k, maxPerOwner); err != nil {
		return nil, err
	}
	return k, nil
}

// newKey builds a key with a fresh id and secret, hashed and sealed.
func (s *Service) newKey(owner latchkey.KeyOwner, name string, policy latchkey.Policy, now time.Time) (*latchkey.Key, error) {
	k := &latchkey.Key{
		AccountID: owner.AccountID, AppID: owner.AppID, IntegrationID: owner.IntegrationID,
		Name: name, Policy: policy, CreatedAt: now, UpdatedAt: now,
	}
	k.ID = keyIDPrefix[k.Scope()] + NewObjectID()
	kind := secret.SecretKind
	if policy.Type == latchkey.KeyTypePublishable {
		kind = secret.PublishableKind
	}
	plain, err := secret.Generate(kind, s.env)
	if err != nil {
		return nil, err
	}
	k.Secrets = []latchkey.Secret{{
		Hash:      s.keys.Hash(plain),
		Sealed:    s.keys.Seal([]byte(plain), k.ID),
		Plain:     plain,
		CreatedAt: now,
	}}
	return k, nil
}

// Keys lists the keys held exactly by owner, with their secrets unsealed.
func (s *Service) Keys(ctx context.Context, p *latchkey.Principal, owner latchkey.KeyOwner) ([]*latchkey.Key, error) {
	if err := s.ownerFor(ctx, p, &owner); err != nil {
		return nil, err
	}
	keys, err := s.store.ListKeys(ctx, owner)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := s.unseal(k); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Key returns one of owner's keys with its secrets unsealed. Returns
// ENOTFOUND if owner holds no such key.
func (s *Service) Key(ctx context.Context, p *latchkey.Principal, owner latchkey.KeyOwner, keyID string) (*latchkey.Key, error) {
	k, err := s.ownedKey(ctx, p, owner, keyID)
	if err != nil {
		return nil, err
	}
	return k, s.unseal(k)
}

// DeleteKey deletes one of owner's keys; it stops authenticating at once.
func (s *Service) DeleteKey(ctx context.Context, p *latchkey.Principal, owner latchkey.KeyOwner, keyID string) error {
	if _, err := s.ownedKey(ctx, p, owner, keyID); err != nil {
		return err
	}
	err := s.store.DeleteKey(ctx, keyID)
	s.purge()
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

func (s *Service) unseal(k *latchkey.Key) error {
	for i := range k.Secrets {
		plain, err := s.keys.Open(k.Secrets[i].Sealed, k.ID)
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
