package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/secret"
)

// WebhookVersion is the payload version of the webhooks Latchkey records.
const WebhookVersion = "v2"

// integrationFor returns an integration the principal may act on, its webhook
// secrets still sealed (callers that show them call openWebhooks). An
// integration key may act only on its own integration.
func (s *Service) integrationFor(ctx context.Context, p *latchkey.Principal, appID, integrationID string) (*latchkey.Integration, error) {
	if _, err := s.appFor(ctx, p, appID); err != nil {
		return nil, err
	}
	if p.Scope == latchkey.ScopeIntegration && p.IntegrationID != integrationID {
		return nil, forbidden()
	}
	return s.store.Integration(ctx, appID, integrationID)
}

// CreateIntegration creates a custom integration in an app the principal may
// act on, giving each webhook an id and a fresh signing secret. Account and
// app keys only.
func (s *Service) CreateIntegration(ctx context.Context, p *latchkey.Principal, appID string, in *latchkey.Integration) (*latchkey.Integration, error) {
	if p.Scope == latchkey.ScopeIntegration {
		return nil, forbidden()
	}
	if _, err := s.appFor(ctx, p, appID); err != nil {
		return nil, err
	}
	if in.Type != latchkey.IntegrationTypeCustom {
		return nil, latchkey.Errorf(latchkey.EINVALID, "Invalid integration type")
	}
	now := s.timestamp()
	in.ID, in.AppID, in.Status, in.CreatedAt, in.UpdatedAt = NewObjectID(), appID, "active", now, now
	for i := range in.Webhooks {
		w := &in.Webhooks[i]
		w.ID, w.Version = NewObjectID(), WebhookVersion
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		w.Secret = hex.EncodeToString(b[:])
		w.SealedSecret = s.keys.Seal([]byte(w.Secret), secret.WebhookRecord(w.ID))
	}
	if err := s.store.CreateIntegration(s.audited(ctx, p, latchkey.ActionIntegrationCreate, "integration", in.ID, "app", in.AppID), in); err != nil {
		return nil, err
	}
	return in, nil
}

// Integration returns an integration the principal may act on.
func (s *Service) Integration(ctx context.Context, p *latchkey.Principal, appID, integrationID string) (*latchkey.Integration, error) {
	in, err := s.integrationFor(ctx, p, appID, integrationID)
	if err != nil {
		return nil, err
	}
	return in, s.openWebhooks(in)
}

// ListIntegrations lists an app's integrations, optionally of some types
// only. An integration key sees only its own integration.
func (s *Service) ListIntegrations(ctx context.Context, p *latchkey.Principal, appID string, types []string, page latchkey.Page) ([]*latchkey.Integration, latchkey.PageInfo, error) {
	if p.Scope == latchkey.ScopeIntegration {
		return nil, latchkey.PageInfo{}, forbidden()
	}
	if _, err := s.appFor(ctx, p, appID); err != nil {
		return nil, latchkey.PageInfo{}, err
	}
	list, info, err := s.store.ListIntegrations(ctx, appID, types, page)
	if err != nil {
		return nil, info, err
	}
	for _, in := range list {
		if err := s.openWebhooks(in); err != nil {
			return nil, info, err
		}
	}
	return list, info, nil
}

// UpdateIntegration sets an integration's display name (nil unsets it).
func (s *Service) UpdateIntegration(ctx context.Context, p *latchkey.Principal, appID, integrationID string, displayName *string) (*latchkey.Integration, error) {
	in, err := s.integrationFor(ctx, p, appID, integrationID)
	if err != nil {
		return nil, err
	}
	in.DisplayName, in.UpdatedAt = displayName, s.timestamp()
	if err := s.store.UpdateIntegration(s.audited(ctx, p, latchkey.ActionIntegrationUpdate, "integration", in.ID, "app", in.AppID), in); err != nil {
		return nil, err
	}
	return in, s.openWebhooks(in)
}

// DeleteIntegration deletes an integration and its keys, which stop
// authenticating at once. Account and app keys only, and only with rights
// over each of those keys (see DeleteApp).
func (s *Service) DeleteIntegration(ctx context.Context, p *latchkey.Principal, appID, integrationID string) error {
	if p.Scope == latchkey.ScopeIntegration {
		return forbidden()
	}
	if _, err := s.integrationFor(ctx, p, appID, integrationID); err != nil {
		return err
	}
	check, deleted := cascadeCheck(p)
	err := s.store.DeleteIntegration(s.audited(ctx, p, latchkey.ActionIntegrationDelete, "integration", integrationID, "app", appID), appID, integrationID, check)
	s.forget(deleted()...)
	return err
}

// openWebhooks fills each webhook's plaintext secret from its sealed copy.
func (s *Service) openWebhooks(in *latchkey.Integration) error {
	for i := range in.Webhooks {
		w := &in.Webhooks[i]
		plain, err := s.keys.Open(w.SealedSecret, secret.WebhookRecord(w.ID))
		if err != nil {
			return err
		}
		w.Secret = string(plain)
	}
	return nil
}
