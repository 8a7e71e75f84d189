package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

const appColumns = `id, account_id, display_name, settings, metadata, created_at, updated_at`

// CreateApp stores a new app. Accounts are never deleted, so the check that
// the account exists needs no lock.
func (s *Store) CreateApp(ctx context.Context, app *latchkey.App) (err error) {
	defer markUnavailable(&err)
	settings, metadata, err := encodeAppJSON(app)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, textArg(app.AccountID)).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return latchkey.NotFound("account")
		}
		_, err := tx.Exec(ctx, `INSERT INTO apps (`+appColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			app.ID, app.AccountID, app.DisplayName, settings, metadata, app.CreatedAt, app.UpdatedAt)
		return mapError(err, "app")
	})
}

// App returns one app.
func (s *Store) App(ctx context.Context, id string) (_ *latchkey.App, err error) {
	defer markUnavailable(&err)
	app, err := scanApp(s.pool.QueryRow(ctx, `SELECT `+appColumns+` FROM apps WHERE id = $1`, textArg(id)))
	if err != nil {
		return nil, mapError(err, "app")
	}
	return app, nil
}

// ListApps lists an account's apps, one page at a time.
func (s *Store) ListApps(ctx context.Context, accountID string, page latchkey.Page) (_ []*latchkey.App, _ latchkey.PageInfo, err error) {
	defer markUnavailable(&err)
	return listPage(ctx, s.pool, "apps", appColumns, "account_id = $1", params{textArg(accountID)}, page, scanApp,
		func(a *latchkey.App) string { return a.ID })
}

// UpdateApp replaces an app's display name, settings and metadata.
func (s *Store) UpdateApp(ctx context.Context, app *latchkey.App) (err error) {
	defer markUnavailable(&err)
	settings, metadata, err := encodeAppJSON(app)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE apps SET display_name = $1, settings = $2, metadata = $3, updated_at = $4 WHERE id = $5`,
			app.DisplayName, settings, metadata, app.UpdatedAt, textArg(app.ID))
		if err != nil {
			return mapError(err, "app")
		}
		return mustAffect(tag, "app")
	})
}

// DeleteApp deletes an app; the schema's cascades take its integrations,
// webhooks, keys and their secrets with it. It locks the app first (FOR
// UPDATE), which waits for, and then holds off, every transaction that adds
// to the app: CreateIntegration and CreateKey lock the app too, in a mode
// that conflicts. So check sees every key the cascades will take, and no key
// can be added between the check and the delete.
func (s *Store) DeleteApp(ctx context.Context, id string, check func([]*latchkey.Key) error) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockRow(ctx, tx, "app", `SELECT 1 FROM apps WHERE id = $1 FOR UPDATE`, textArg(id)); err != nil {
			return err
		}
		// Integration keys carry their app's id too; the second arm keeps
		// this exact even for a key that did not.
		deleted, err := checkCascade(ctx, tx, check,
			`app_id = $1 OR integration_id IN (SELECT id FROM integrations WHERE app_id = $1)`, id)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM apps WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if err := mustAffect(tag, "app"); err != nil {
			return err
		}
		return logDeleted(ctx, tx, deleted)
	})
}

// checkCascade hands check the keys (without their secrets, which deciding
// whether they may go does not need) that a cascading delete will take:
// those cond selects. It locks them, in id order, whether or not there is a
// check: a usage flush locks keys in the same order, so the two queue
// rather than deadlock over the cascade. It returns them, for the change
// log.
func checkCascade(ctx context.Context, tx pgx.Tx, check func([]*latchkey.Key) error, cond string, args ...any) ([]*latchkey.Key, error) {
	rows, err := tx.Query(ctx, `SELECT `+keyColumns+` FROM keys WHERE `+cond+` ORDER BY id FOR UPDATE`, args...)
	if err != nil {
		return nil, err
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*latchkey.Key, error) { return scanKey(row) })
	if err != nil {
		return nil, err
	}
	if keys == nil {
		keys = []*latchkey.Key{}
	}
	if check != nil {
		if err := check(keys); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// logDeleted logs the keys a cascade deleted, if any.
func logDeleted(ctx context.Context, tx pgx.Tx, keys []*latchkey.Key) error {
	if len(keys) == 0 {
		return nil
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return logKeyChanges(ctx, tx, ids...)
}

func encodeAppJSON(app *latchkey.App) (settings string, metadata *string, err error) {
	b, err := json.Marshal(app.Settings)
	if err != nil {
		return "", nil, err
	}
	metadata, err = nullableJSON(app.Metadata, app.Metadata == nil)
	return string(b), metadata, err
}

func scanApp(row scanner) (*latchkey.App, error) {
	var (
		app      latchkey.App
		settings string
		metadata *string
	)
	if err := row.Scan(&app.ID, &app.AccountID, &app.DisplayName, &settings, &metadata, &app.CreatedAt, &app.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &app.Settings); err != nil {
		return nil, err
	}
	if err := scanNullableJSON(metadata, &app.Metadata); err != nil {
		return nil, err
	}
	app.CreatedAt, app.UpdatedAt = utc(app.CreatedAt), utc(app.UpdatedAt)
	return &app, nil
}

// nullableJSON encodes v as JSON text, or SQL NULL (nil) when isNil.
func nullableJSON(v any, isNil bool) (*string, error) {
	if isNil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// scanNullableJSON decodes JSON text into dst, leaving it zero for NULL.
func scanNullableJSON(s *string, dst any) error {
	if s == nil {
		return nil
	}
	return json.Unmarshal([]byte(*s), dst)
}
