package core

import (
	"context"

	"github.com/latchkey/latchkey"
)

// appFor returns the app a principal may act on, or:
// EFORBIDDEN if the principal is bound to another app (its id is known to it,
// so saying so leaks nothing); ENOTFOUND if the app does not exist or belongs
// to another account (which must not learn that it exists).
func (s *Service) appFor(ctx context.Context, p *latchkey.Principal, appID string) (*latchkey.App, error) {
	if p.Scope != latchkey.ScopeAccount && p.AppID != appID {
		return nil, forbidden()
	}
	app, err := s.store.App(ctx, appID)
	if err != nil {
		return nil, err
	}
	if app.AccountID != p.AccountID {
		return nil, latchkey.NotFound("app")
	}
	return app, nil
}

func requireAccountScope(p *latchkey.Principal) error {
	if p.Scope != latchkey.ScopeAccount {
		return forbidden()
	}
	return nil
}

// CreateApp creates an app in the principal's account. Account keys only.
func (s *Service) CreateApp(ctx context.Context, p *latchkey.Principal, app *latchkey.App) (*latchkey.App, error) {
	if err := requireAccountScope(p); err != nil {
		return nil, err
	}
	now := s.timestamp()
	app.ID, app.AccountID, app.CreatedAt, app.UpdatedAt = NewObjectID(), p.AccountID, now, now
	if err := s.store.CreateApp(s.audited(ctx, p, latchkey.ActionAppCreate, "app", app.ID), app); err != nil {
		return nil, err
	}
	return app, nil
}

// ListApps lists the apps of the principal's account. Account keys only.
func (s *Service) ListApps(ctx context.Context, p *latchkey.Principal, page latchkey.Page) ([]*latchkey.App, latchkey.PageInfo, error) {
	if err := requireAccountScope(p); err != nil {
		return nil, latchkey.PageInfo{}, err
	}
	return s.store.ListApps(ctx, p.AccountID, page)
}

// App returns an app the principal may act on. Account and app keys only:
// an integration key acts on its own integration only, not on the app
// above it (the Sunshine routes' scopes say so too; without this check the
// native routes let an integration key read and change its app).
func (s *Service) App(ctx context.Context, p *latchkey.Principal, appID string) (*latchkey.App, error) {
	if p.Scope == latchkey.ScopeIntegration {
		return nil, forbidden()
	}
	return s.appFor(ctx, p, appID)
}

// UpdateApp applies change to an app the principal may act on. Account and
// app keys only, as App.
func (s *Service) UpdateApp(ctx context.Context, p *latchkey.Principal, appID string, change func(*latchkey.App)) (*latchkey.App, error) {
	if p.Scope == latchkey.ScopeIntegration {
		return nil, forbidden()
	}
	app, err := s.appFor(ctx, p, appID)
	if err != nil {
		return nil, err
	}
	change(app)
	app.UpdatedAt = s.timestamp()
	if err := s.store.UpdateApp(s.audited(ctx, p, latchkey.ActionAppUpdate, "app", app.ID), app); err != nil {
		return nil, err
	}
	return app, nil
}

// DeleteApp deletes an app with its integrations and all their keys, which
// stop authenticating at once. Account keys only. Deleting them is deleting
// each of those keys, so the principal needs rights over every one
// (withinRights): otherwise EFORBIDDEN, and nothing is deleted. The store
// runs the check in the delete's own transaction, so a stronger key added to
// the app meanwhile cannot slip through.
func (s *Service) DeleteApp(ctx context.Context, p *latchkey.Principal, appID string) error {
	if err := requireAccountScope(p); err != nil {
		return err
	}
	if _, err := s.appFor(ctx, p, appID); err != nil {
		return err
	}
	check, deleted := cascadeCheck(p)
	err := s.store.DeleteApp(s.audited(ctx, p, latchkey.ActionAppDelete, "app", appID), appID, check)
	s.forget(deleted()...)
	return err
}

// cascadeCheck vetoes a cascading delete that would take a key beyond the
// principal's rights: a key it could not delete directly must not go with
// its owner either.
//
// deleted returns the ids of the keys the check saw, which the cascade took
// if the delete succeeded, so that exactly they are forgotten.
func cascadeCheck(p *latchkey.Principal) (check func([]*latchkey.Key) error, deleted func() []string) {
	var ids []string
	check = func(keys []*latchkey.Key) error {
		for _, k := range keys {
			if withinRights(p, k) != nil {
				return &latchkey.Error{Code: latchkey.EFORBIDDEN,
					Message: "Forbidden: that would delete keys with rights beyond this key's; delete or narrow them first"}
			}
		}
		ids = ids[:0]
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		return nil
	}
	return check, func() []string { return ids }
}
