package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/latchkey/latchkey"
)

const integrationColumns = `id, app_id, type, status, display_name, created_at, updated_at`

// CreateIntegration stores an integration with its webhooks.
func (s *Store) CreateIntegration(ctx context.Context, in *latchkey.Integration) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM apps WHERE id = ?`, in.AppID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return latchkey.NotFound("app")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO integrations (`+integrationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			in.ID, in.AppID, in.Type, in.Status, in.DisplayName, formatTime(in.CreatedAt), formatTime(in.UpdatedAt)); err != nil {
			return mapError(err, "integration")
		}
		for i, w := range in.Webhooks {
			triggers, err := json.Marshal(w.Triggers)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhooks (id, integration_id, position, version, target, triggers,
				include_full_user, include_full_source, secret_sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
	rows, err := s.read.QueryContext(ctx, `SELECT `+integrationColumns+` FROM integrations WHERE id = ? AND app_id = ?`, id, appID)
	if err != nil {
		return nil, err
	}
	var in *latchkey.Integration
	if rows.Next() {
		in, err = scanIntegration(rows)
	}
	rows.Close()
	if err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if in == nil {
		return nil, latchkey.NotFound("integration")
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
	cond, args := "app_id = ?", []any{appID}
	if len(types) > 0 {
		cond += " AND type IN (" + placeholders(len(types)) + ")"
		for _, t := range types {
			args = append(args, t)
		}
	}
	list, info, err := listPage(ctx, s.read, "integrations", integrationColumns, cond, args, page, scanIntegration,
		func(in *latchkey.Integration) string { return in.ID })
	if err != nil {
		return nil, info, err
	}
	return list, info, s.loadWebhooks(ctx, list)
}

// UpdateIntegration replaces an integration's display name.
func (s *Store) UpdateIntegration(ctx context.Context, in *latchkey.Integration) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE integrations SET display_name = ?, updated_at = ? WHERE id = ? AND app_id = ?`,
			in.DisplayName, formatTime(in.UpdatedAt), in.ID, in.AppID)
		if err != nil {
			return err
		}
		return mustAffect(res, "integration")
	})
}

// DeleteIntegration deletes an integration; cascades take its webhooks, keys
// and their secrets. check sees those keys first, in the same write
// transaction (see DeleteApp).
func (s *Store) DeleteIntegration(ctx context.Context, appID, id string, check func([]*latchkey.Key) error) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, "integration", `SELECT COUNT(*) FROM integrations WHERE id = ? AND app_id = ?`, id, appID); err != nil {
			return err
		}
		if err := checkCascade(ctx, tx, check, `integration_id = ?`, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM integrations WHERE id = ? AND app_id = ?`, id, appID)
		if err != nil {
			return err
		}
		return mustAffect(res, "integration")
	})
}

func scanIntegration(rows *sql.Rows) (*latchkey.Integration, error) {
	var (
		in                   latchkey.Integration
		displayName          sql.NullString
		createdAt, updatedAt string
	)
	if err := rows.Scan(&in.ID, &in.AppID, &in.Type, &in.Status, &displayName, &createdAt, &updatedAt); err != nil {
		return nil, err
	}
	if displayName.Valid {
		in.DisplayName = &displayName.String
	}
	var err error
	if in.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	}
	if in.UpdatedAt, err = parseTime(updatedAt); err != nil {
		return nil, err
	}
	return &in, nil
}

// loadWebhooks fills the webhooks of the given integrations, with one query
// per maxInList integrations: a page's size is the caller's to choose.
func (s *Store) loadWebhooks(ctx context.Context, list []*latchkey.Integration) error {
	byID := make(map[string]*latchkey.Integration, len(list))
	ids := make([]any, len(list))
	for i, in := range list {
		byID[in.ID] = in
		ids[i] = in.ID
	}
	return inChunks(ids, func(chunk []any) error { return s.loadWebhooksOf(ctx, byID, chunk) })
}

// loadWebhooksOf fills the webhooks of the integrations with the given ids,
// all in byID.
func (s *Store) loadWebhooksOf(ctx context.Context, byID map[string]*latchkey.Integration, ids []any) error {
	rows, err := s.read.QueryContext(ctx, `SELECT integration_id, id, version, target, triggers, include_full_user,
		include_full_source, secret_sealed FROM webhooks WHERE integration_id IN (`+placeholders(len(ids))+`)
		ORDER BY integration_id, position`, ids...)
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
