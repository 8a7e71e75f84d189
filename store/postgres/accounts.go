package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

// Meta returns a server-level value.
func (s *Store) Meta(ctx context.Context, name string) (_ []byte, err error) {
	defer markUnavailable(&err)
	var v []byte
	err = s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE name = $1`, textArg(name)).Scan(&v)
	if err != nil {
		return nil, mapError(err, "meta")
	}
	return v, nil
}

// InitMeta sets a server-level value unless it is set, and returns the value
// in force. Of two nodes setting one name at once, the second's insert waits
// for the first's to commit, then does nothing, and its select (a statement
// of its own, so a snapshot of its own) reads the first's value.
func (s *Store) InitMeta(ctx context.Context, name string, value []byte) (_ []byte, err error) {
	defer markUnavailable(&err)
	var v []byte
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
			name, value); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT value FROM meta WHERE name = $1`, name).Scan(&v)
	})
	return v, err
}

// CountAccounts reports how many accounts exist.
func (s *Store) CountAccounts(ctx context.Context) (_ int, err error) {
	defer markUnavailable(&err)
	var n int
	err = s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n)
	return n, err
}

// CreateAccountWithKey creates an account and its first key atomically.
func (s *Store) CreateAccountWithKey(ctx context.Context, a *latchkey.Account, k *latchkey.Key) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)`,
			a.ID, a.Name, a.CreatedAt); err != nil {
			return mapError(err, "account")
		}
		return insertKey(ctx, tx, k)
	})
}
