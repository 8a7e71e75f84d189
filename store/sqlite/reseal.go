package sqlite

import (
	"context"
	"database/sql"

	"github.com/latchkey/latchkey/secret"
)

// sealedRow is one sealed value and the statement that writes it back.
type sealedRow struct {
	kind, id string
	sealed   []byte
	update   string
	key      any // the row's primary key, for update
}

// Reseal implements latchkey.Store. Every sealed value is read first, then
// rewritten, all inside one IMMEDIATE transaction.
func (s *Store) Reseal(ctx context.Context, metaNames []string, fn func(kind, id string, sealed []byte) ([]byte, error)) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		var rows []sealedRow
		collect := func(query, kind, update string, args ...any) error {
			rs, err := tx.QueryContext(ctx, query, args...)
			if err != nil {
				return err
			}
			defer rs.Close()
			for rs.Next() {
				r := sealedRow{kind: kind, update: update}
				if err := rs.Scan(&r.key, &r.id, &r.sealed); err != nil {
					return err
				}
				rows = append(rows, r)
			}
			return rs.Err()
		}
		if err := collect(`SELECT hash, key_id, sealed FROM key_secrets ORDER BY key_id, created_at`,
			secret.KindKey, `UPDATE key_secrets SET sealed = ? WHERE hash = ?`); err != nil {
			return err
		}
		if err := collect(`SELECT id, id, secret_sealed FROM webhooks ORDER BY id`,
			secret.KindWebhook, `UPDATE webhooks SET secret_sealed = ? WHERE id = ?`); err != nil {
			return err
		}
		for _, name := range metaNames {
			if err := collect(`SELECT name, name, value FROM meta WHERE name = ?`,
				secret.KindMeta, `UPDATE meta SET value = ? WHERE name = ?`, name); err != nil {
				return err
			}
		}
		for _, r := range rows {
			sealed, err := fn(r.kind, r.id, r.sealed)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, r.update, sealed, r.key); err != nil {
				return err
			}
		}
		return nil
	})
}
