package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/latchkey/latchkey"
)

const appColumns = `id, account_id, display_name, settings, metadata, created_at, updated_at`

// CreateApp stores a new app.
func (s *Store) CreateApp(ctx context.Context, app *latchkey.App) (err error) {
	defer markUnavailable(&err)
	settings, metadata, err := encodeAppJSON(app)
	if err != nil {
		return err
	}
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, app.AccountID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return latchkey.NotFound("account")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO apps (`+appColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			app.ID, app.AccountID, app.DisplayName, settings, metadata, formatTime(app.CreatedAt), formatTime(app.UpdatedAt))
		return mapError(err, "app")
	})
}

// App returns one app.
func (s *Store) App(ctx context.Context, id string) (_ *latchkey.App, err error) {
	defer markUnavailable(&err)
	rows, err := s.read.QueryContext(ctx, `SELECT `+appColumns+` FROM apps WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, latchkey.NotFound("app")
	}
	return scanApp(rows)
}

// ListApps lists an account's apps, one page at a time.
func (s *Store) ListApps(ctx context.Context, accountID string, page latchkey.Page) (_ []*latchkey.App, _ latchkey.PageInfo, err error) {
	defer markUnavailable(&err)
	return listPage(ctx, s.read, "apps", appColumns, "account_id = ?", []any{accountID}, page, scanApp,
		func(a *latchkey.App) string { return a.ID })
}

// UpdateApp replaces an app's display name, settings and metadata.
func (s *Store) UpdateApp(ctx context.Context, app *latchkey.App) (err error) {
	defer markUnavailable(&err)
	settings, metadata, err := encodeAppJSON(app)
	if err != nil {
		return err
	}
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE apps SET display_name = ?, settings = ?, metadata = ?, updated_at = ? WHERE id = ?`,
			app.DisplayName, settings, metadata, formatTime(app.UpdatedAt), app.ID)
		if err != nil {
			return err
		}
		return mustAffect(res, "app")
	})
}

// DeleteApp deletes an app; the schema's cascades take its integrations,
// webhooks, keys and their secrets with it. check sees the keys those
// cascades will take, read in the same write transaction, which begins
// IMMEDIATE: no key can be added to the app between the check and the
// delete.
func (s *Store) DeleteApp(ctx context.Context, id string, check func([]*latchkey.Key) error) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, "app", `SELECT COUNT(*) FROM apps WHERE id = ?`, id); err != nil {
			return err
		}
		// Integration keys carry their app's id too; the second arm keeps
		// this exact even for a key that did not.
		if err := checkCascade(ctx, tx, check,
			`app_id = ? OR integration_id IN (SELECT id FROM integrations WHERE app_id = ?)`, id, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM apps WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return mustAffect(res, "app")
	})
}

// mustExist returns ENOTFOUND (subject) unless the counting query finds a row.
func mustExist(ctx context.Context, tx *sql.Tx, subject, query string, args ...any) error {
	var n int
	if err := tx.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return latchkey.NotFound(subject)
	}
	return nil
}

// checkCascade hands check the keys (without their secrets, which deciding
// whether they may go does not need) that a cascading delete will take:
// those cond selects, read in the delete's own transaction.
func checkCascade(ctx context.Context, tx *sql.Tx, check func([]*latchkey.Key) error, cond string, args ...any) error {
	if check == nil {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE `+cond+` ORDER BY id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	keys := []*latchkey.Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	return check(keys)
}

func encodeAppJSON(app *latchkey.App) (settings string, metadata any, err error) {
	b, err := json.Marshal(app.Settings)
	if err != nil {
		return "", nil, err
	}
	metadata, err = nullableJSON(app.Metadata, app.Metadata == nil)
	return string(b), metadata, err
}

func scanApp(rows *sql.Rows) (*latchkey.App, error) {
	var (
		app                  latchkey.App
		settings             string
		metadata             sql.NullString
		createdAt, updatedAt string
	)
	if err := rows.Scan(&app.ID, &app.AccountID, &app.DisplayName, &settings, &metadata, &createdAt, &updatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &app.Settings); err != nil {
		return nil, err
	}
	if err := scanNullableJSON(metadata, &app.Metadata); err != nil {
		return nil, err
	}
	var err error
	if app.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	}
	if app.UpdatedAt, err = parseTime(updatedAt); err != nil {
		return nil, err
	}
	return &app, nil
}

// nullableJSON encodes v as JSON text, or SQL NULL when isNil.
func nullableJSON(v any, isNil bool) (any, error) {
	if isNil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// scanNullableJSON decodes JSON text into dst, leaving it zero for NULL.
func scanNullableJSON(s sql.NullString, dst any) error {
	if !s.Valid {
		return nil
	}
	return json.Unmarshal([]byte(s.String), dst)
}
