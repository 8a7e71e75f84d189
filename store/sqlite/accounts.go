package sqlite

import (
	"context"
	"database/sql"

	"github.com/latchkey/latchkey"
)

// Meta returns a server-level value.
func (s *Store) Meta(ctx context.Context, name string) (_ []byte, err error) {
	defer markUnavailable(&err)
	var v []byte
	err = s.read.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&v)
	if err != nil {
		return nil, mapError(err, "meta")
	}
	return v, nil
}

// InitMeta sets a server-level value unless it is set, and returns the value
// in force.
func (s *Store) InitMeta(ctx context.Context, name string, value []byte) (_ []byte, err error) {
	defer markUnavailable(&err)
	var v []byte
	err = s.inWriteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
			name, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&v)
	})
	return v, err
}

// CountAccounts reports how many accounts exist.
func (s *Store) CountAccounts(ctx context.Context) (_ int, err error) {
	defer markUnavailable(&err)
	var n int
	err = s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n)
	return n, err
}

// CreateAccountWithKey creates an account and its first key atomically.
func (s *Store) CreateAccountWithKey(ctx context.Context, a *latchkey.Account, k *latchkey.Key) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)`,
			a.ID, a.Name, formatTime(a.CreatedAt)); err != nil {
			return mapError(err, "account")
		}
		return s.insertKey(ctx, tx, k)
	})
}
