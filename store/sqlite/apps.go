package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/latchkey/latchkey"
)

const appColumns = `id, account_id, display_name, settings, metadata, created_at, updated_at`

// CreateApp stores a new app.
func (s *Store) CreateApp(ctx context.Context, app *latchkey.App) error {
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
func (s *Store) App(ctx context.Context, id string) (*latchkey.App, error) {
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
func (s *Store) ListApps(ctx context.Context, accountID string, page latchkey.Page) ([]*latchkey.App, latchkey.PageInfo, error) {
	return listPage(ctx, s.read, "apps", appColumns, "account_id = ?", []any{accountID}, page, scanApp,
		func(a *latchkey.App) string { return a.ID })
}

// UpdateApp replaces an app's display name, settings and metadata.
func (s *Store) UpdateApp(ctx context.Context, app *latchkey.App) error {
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
// webhooks, keys and their secrets with it.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM apps WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return mustAffect(res, "app")
	})
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
