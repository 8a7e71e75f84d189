package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

const integrationColumns = `id, app_id, type, status, display_name, created_at, updated_at`

// CreateIntegration stores an integration with its webhooks. It locks the
// app FOR KEY SHARE: enough to keep it from being deleted meanwhile (see
// DeleteApp), without holding off other writers to it.
func (s *Store) CreateIntegration(ctx context.Context, in *latchkey.Integration) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockRow(ctx, tx, "app", `SELECT 1 FROM apps WHERE id = $1 FOR KEY SHARE`, textArg(in.AppID)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO integrations (`+integrationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			in.ID, in.AppID, in.Type, in.Status, in.DisplayName, in.CreatedAt, in.UpdatedAt); err != nil {
			return mapError(err, "integration")
		}
		for i, w := range in.Webhooks {
			triggers, err := json.Marshal(w.Triggers)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO webhooks (id, integration_id, position, version, target, triggers,
				include_full_user, include_full_source, secret_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				w.ID, in.ID, i, w.Version, w.Target, string(triggers), w.IncludeFullUser, w.IncludeFullSource, w.SealedSecret); err != nil {
				return mapError(err, "webhook")
			}
		}
		return nil
	})
}

// Integration returns one of an app's integrations with its webhooks.
func (s *Store) Integration(ctx context.Context, appID, id string) (_ *latchkey.Integration, err error) {
	defer markUnavailable(&err)
	in, err := scanIntegration(s.pool.QueryRow(ctx, `SELECT `+integrationColumns+` FROM integrations WHERE id = $1 AND app_id = $2`,
		textArg(id), textArg(appID)))
	if err != nil {
		return nil, mapError(err, "integration")
	}
	if err := s.loadWebhooks(ctx, []*latchkey.Integration{in}); err != nil {
		return nil, err
	}
	return in, nil
}

// ListIntegrations lists an app's integrations, one page at a time.
func (s *Store) ListIntegrations(ctx context.Context, appID string, types []string, page latchkey.Page) (_ []*latchkey.Integration, _ latchkey.PageInfo, err error) {
	defer markUnavailable(&err)
	if len(types) > latchkey.MaxFilterValues {
		return nil, latchkey.PageInfo{}, latchkey.Errorf(latchkey.EINVALID,
			"%d integration types given; at most %d are allowed", len(types), latchkey.MaxFilterValues)
	}
	cond, args := "app_id = $1", params{textArg(appID)}
	if len(types) > 0 {
		cond += " AND type = ANY(" + args.add(textArray(types)) + ")"
	}
	list, info, err := listPage(ctx, s.pool, "integrations", integrationColumns, cond, args, page, scanIntegration,
		func(in *latchkey.Integration) string { return in.ID })
	if err != nil {
		return nil, info, err
	}
	return list, info, s.loadWebhooks(ctx, list)
}

// UpdateIntegration replaces an integration's display name.
func (s *Store) UpdateIntegration(ctx context.Context, in *latchkey.Integration) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE integrations SET display_name = $1, updated_at = $2 WHERE id = $3 AND app_id = $4`,
			in.DisplayName, in.UpdatedAt, textArg(in.ID), textArg(in.AppID))
		if err != nil {
			return mapError(err, "integration")
		}
		return mustAffect(tag, "integration")
	})
}

// DeleteIntegration deletes an integration; cascades take its webhooks, keys
// and their secrets. Locks go top-down, as everywhere: the app FOR KEY SHARE
// (so that a DeleteApp of the same app goes wholly before or after), then
// the integration FOR UPDATE, which holds off CreateKey for it until the
// delete is done; then check sees its keys (see DeleteApp).
func (s *Store) DeleteIntegration(ctx context.Context, appID, id string, check func([]*latchkey.Key) error) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockRow(ctx, tx, "integration", `SELECT 1 FROM apps WHERE id = $1 FOR KEY SHARE`, textArg(appID)); err != nil {
			return err
		}
		if err := lockRow(ctx, tx, "integration", `SELECT 1 FROM integrations WHERE id = $1 AND app_id = $2 FOR UPDATE`,
			textArg(id), appID); err != nil {
			return err
		}
		deleted, err := checkCascade(ctx, tx, check, `integration_id = $1`, id)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM integrations WHERE id = $1 AND app_id = $2`, id, appID)
		if err != nil {
			return err
		}
		if err := mustAffect(tag, "integration"); err != nil {
			return err
		}
		return logDeleted(ctx, tx, deleted)
	})
}

func scanIntegration(row scanner) (*latchkey.Integration, error) {
	var in latchkey.Integration
	if err := row.Scan(&in.ID, &in.AppID, &in.Type, &in.Status, &in.DisplayName, &in.CreatedAt, &in.UpdatedAt); err != nil {
		return nil, err
	}
	in.CreatedAt, in.UpdatedAt = utc(in.CreatedAt), utc(in.UpdatedAt)
	return &in, nil
}

// loadWebhooks fills the webhooks of the given integrations. The ids go as
// one array argument, so however long the page, it is one query (SQLite,
// which binds each value of an IN list, needs several).
func (s *Store) loadWebhooks(ctx context.Context, list []*latchkey.Integration) error {
	if len(list) == 0 {
		return nil
	}
	byID := make(map[string]*latchkey.Integration, len(list))
	ids := make([]string, len(list))
	for i, in := range list {
		byID[in.ID] = in
		ids[i] = in.ID
	}
	rows, err := s.pool.Query(ctx, `SELECT integration_id, id, version, target, triggers, include_full_user,
		include_full_source, secret_sealed FROM webhooks WHERE integration_id = ANY($1)
		ORDER BY integration_id, position`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			integrationID, triggers string
			w                       latchkey.Webhook
		)
		if err := rows.Scan(&integrationID, &w.ID, &w.Version, &w.Target, &triggers, &w.IncludeFullUser,
			&w.IncludeFullSource, &w.SealedSecret); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(triggers), &w.Triggers); err != nil {
			return err
		}
		in := byID[integrationID]
		in.Webhooks = append(in.Webhooks, w)
	}
	return rows.Err()
}
