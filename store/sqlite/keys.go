package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/latchkey/latchkey"
)

const keyColumns = `id, account_id, app_id, integration_id, name, type, acl, allowed_ips, expires_at, metadata, created_at, updated_at`

// CreateKey stores a key and its secrets, after checking its owner exists and
// has room for it. The write transaction begins IMMEDIATE, so no other
// writer can slip a key in between the count and the insert.
func (s *Store) CreateKey(ctx context.Context, k *latchkey.Key, maxPerOwner int) error {
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		owner := latchkey.KeyOwner{AccountID: k.AccountID, AppID: k.AppID, IntegrationID: k.IntegrationID}
		if err := checkOwner(ctx, tx, owner); err != nil {
			return err
		}
		if maxPerOwner > 0 {
			cond, args := ownerCondition(owner)
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM keys WHERE `+cond, args...).Scan(&n); err != nil {
				return err
			}
			if n >= maxPerOwner {
				return &latchkey.Error{Code: latchkey.ELIMIT, Subject: "key",
					Message: fmt.Sprintf("Maximum of %d keys reached for this %s", maxPerOwner, k.Scope())}
			}
		}
		return insertKey(ctx, tx, k)
	})
}

// checkOwner returns ENOTFOUND unless the owner exists, its app belongs to
// its account and its integration to its app.
func checkOwner(ctx context.Context, tx *sql.Tx, o latchkey.KeyOwner) error {
	var query, subject string
	var args []any
	switch {
	case o.IntegrationID != "":
		query, subject = `SELECT COUNT(*) FROM integrations i JOIN apps a ON a.id = i.app_id
			WHERE i.id = ? AND a.id = ? AND a.account_id = ?`, "integration"
		args = []any{o.IntegrationID, o.AppID, o.AccountID}
	case o.AppID != "":
		query, subject = `SELECT COUNT(*) FROM apps WHERE id = ? AND account_id = ?`, "app"
		args = []any{o.AppID, o.AccountID}
	default:
		query, subject = `SELECT COUNT(*) FROM accounts WHERE id = ?`, "account"
		args = []any{o.AccountID}
	}
	var n int
	if err := tx.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return latchkey.NotFound(subject)
	}
	return nil
}

// ownerCondition selects the keys owned exactly by o.
func ownerCondition(o latchkey.KeyOwner) (string, []any) {
	switch {
	case o.IntegrationID != "":
		return `integration_id = ?`, []any{o.IntegrationID}
	case o.AppID != "":
		return `app_id = ? AND integration_id IS NULL`, []any{o.AppID}
	default:
		return `account_id = ? AND app_id IS NULL`, []any{o.AccountID}
	}
}

func insertKey(ctx context.Context, tx *sql.Tx, k *latchkey.Key) error {
	acl, err := nullableJSON(k.Policy.ACL, k.Policy.ACL == nil)
	if err != nil {
		return err
	}
	ips, err := nullableJSON(k.Policy.AllowedIPs, k.Policy.AllowedIPs == nil)
	if err != nil {
		return err
	}
	metadata, err := nullableJSON(k.Policy.Metadata, k.Policy.Metadata == nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.AccountID, nullString(k.AppID), nullString(k.IntegrationID), k.Name, string(k.Policy.Type),
		acl, ips, formatTimePtr(k.Policy.ExpiresAt), metadata, formatTime(k.CreatedAt), formatTime(k.UpdatedAt)); err != nil {
		return mapError(err, "key")
	}
	for _, sec := range k.Secrets {
		if _, err := tx.ExecContext(ctx, `INSERT INTO key_secrets (hash, key_id, sealed, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			sec.Hash, k.ID, sec.Sealed, formatTime(sec.CreatedAt), formatTimePtr(sec.ExpiresAt)); err != nil {
			return mapError(err, "secret")
		}
	}
	return nil
}

// Key returns one key with its secrets.
func (s *Store) Key(ctx context.Context, id string) (*latchkey.Key, error) {
	keys, err := s.queryKeys(ctx, `id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, latchkey.NotFound("key")
	}
	return keys[0], nil
}

// KeyBySecretHash returns the key holding a secret with this hash.
func (s *Store) KeyBySecretHash(ctx context.Context, hash []byte) (*latchkey.Key, error) {
	keys, err := s.queryKeys(ctx, `id = (SELECT key_id FROM key_secrets WHERE hash = ?)`, hash)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, latchkey.NotFound("key")
	}
	return keys[0], nil
}

// ListKeys lists the keys owned exactly by owner.
func (s *Store) ListKeys(ctx context.Context, owner latchkey.KeyOwner) ([]*latchkey.Key, error) {
	cond, args := ownerCondition(owner)
	return s.queryKeys(ctx, cond, args...)
}

// DeleteKey deletes a key; the cascade takes its secrets.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return mustAffect(res, "key")
	})
}

// queryKeys returns the keys matching cond in id order, with their secrets.
func (s *Store) queryKeys(ctx context.Context, cond string, args ...any) ([]*latchkey.Key, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE `+cond+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	var keys []*latchkey.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return keys, s.loadSecrets(ctx, keys)
}

func scanKey(rows *sql.Rows) (*latchkey.Key, error) {
	var (
		k                       latchkey.Key
		appID, integrationID    sql.NullString
		keyType                 string
		acl, ips, exp, metadata sql.NullString
		createdAt, updatedAt    string
	)
	if err := rows.Scan(&k.ID, &k.AccountID, &appID, &integrationID, &k.Name, &keyType, &acl, &ips, &exp, &metadata,
		&createdAt, &updatedAt); err != nil {
		return nil, err
	}
	k.AppID, k.IntegrationID = appID.String, integrationID.String
	k.Policy.Type = latchkey.KeyType(keyType)
	if err := scanNullableJSON(acl, &k.Policy.ACL); err != nil {
		return nil, err
	}
	if ips.Valid {
		k.Policy.AllowedIPs = []netip.Prefix{}
		if err := json.Unmarshal([]byte(ips.String), &k.Policy.AllowedIPs); err != nil {
			return nil, err
		}
	}
	if err := scanNullableJSON(metadata, &k.Policy.Metadata); err != nil {
		return nil, err
	}
	var err error
	if k.Policy.ExpiresAt, err = parseTimePtr(exp); err != nil {
		return nil, err
	}
	if k.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	}
	if k.UpdatedAt, err = parseTime(updatedAt); err != nil {
		return nil, err
	}
	return &k, nil
}

// loadSecrets fills the secrets of the given keys with one query.
func (s *Store) loadSecrets(ctx context.Context, keys []*latchkey.Key) error {
	if len(keys) == 0 {
		return nil
	}
	byID := make(map[string]*latchkey.Key, len(keys))
	args := make([]any, len(keys))
	for i, k := range keys {
		byID[k.ID] = k
		args[i] = k.ID
	}
	rows, err := s.read.QueryContext(ctx, `SELECT key_id, hash, sealed, created_at, expires_at FROM key_secrets
		WHERE key_id IN (`+placeholders(len(keys))+`) ORDER BY key_id, created_at`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			keyID, createdAt string
			expiresAt        sql.NullString
			sec              latchkey.Secret
		)
		if err := rows.Scan(&keyID, &sec.Hash, &sec.Sealed, &createdAt, &expiresAt); err != nil {
			return err
		}
		if sec.CreatedAt, err = parseTime(createdAt); err != nil {
			return err
		}
		if sec.ExpiresAt, err = parseTimePtr(expiresAt); err != nil {
			return err
		}
		k := byID[keyID]
		k.Secrets = append(k.Secrets, sec)
	}
	return rows.Err()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
