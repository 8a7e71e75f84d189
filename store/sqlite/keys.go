package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/latchkey/latchkey"
)

const keyColumns = `id, account_id, app_id, integration_id, name, type, acl, allowed_ips, expires_at, metadata, created_at, updated_at,
	prefix, disabled, rate_limit, rate_period_ms, last_used_at`

// CreateKey stores a key and its secrets, after checking its owner exists and
// has room for it. The write transaction begins IMMEDIATE, so no other
// writer can slip a key in between the count and the insert.
func (s *Store) CreateKey(ctx context.Context, k *latchkey.Key, maxPerOwner int) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		owner := latchkey.KeyOwner{AccountID: k.AccountID, AppID: k.AppID, IntegrationID: k.IntegrationID}
		if err := s.checkOwner(ctx, tx, owner); err != nil {
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
		return s.insertKey(ctx, tx, k)
	})
}

// CreateKeys implements latchkey.Store.
func (s *Store) CreateKeys(ctx context.Context, keys []*latchkey.Key, events []*latchkey.AuditEvent) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		checked := map[latchkey.KeyOwner]bool{}
		for i, k := range keys {
			owner := latchkey.KeyOwner{AccountID: k.AccountID, AppID: k.AppID, IntegrationID: k.IntegrationID}
			if !checked[owner] {
				if err := s.checkOwner(ctx, tx, owner); err != nil {
					return err
				}
				checked[owner] = true
			}
			if err := s.insertKey(ctx, tx, k); err != nil {
				return err
			}
			if err := s.insertAuditEvents(ctx, tx, events[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// The statements checkOwner runs, one per kind of owner.
const (
	accountExistsSQL     = `SELECT COUNT(*) FROM accounts WHERE id = ?`
	appExistsSQL         = `SELECT COUNT(*) FROM apps WHERE id = ? AND account_id = ?`
	integrationExistsSQL = `SELECT COUNT(*) FROM integrations i JOIN apps a ON a.id = i.app_id
		WHERE i.id = ? AND a.id = ? AND a.account_id = ?`
)

// checkOwner returns ENOTFOUND unless the owner exists, its app belongs to
// its account and its integration to its app.
func (s *Store) checkOwner(ctx context.Context, tx *sql.Tx, o latchkey.KeyOwner) error {
	var st *sql.Stmt
	var subject string
	var args []any
	switch {
	case o.IntegrationID != "":
		st, subject = s.stmts.integrationExists, "integration"
		args = []any{o.IntegrationID, o.AppID, o.AccountID}
	case o.AppID != "":
		st, subject = s.stmts.appExists, "app"
		args = []any{o.AppID, o.AccountID}
	default:
		st, subject = s.stmts.accountExists, "account"
		args = []any{o.AccountID}
	}
	st = stmtIn(ctx, tx, st)
	defer st.Close()
	var n int
	if err := st.QueryRowContext(ctx, args...).Scan(&n); err != nil {
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

const (
	insertKeySQL      = `INSERT INTO keys (` + keyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertSecretSQL   = `INSERT INTO key_secrets (hash, key_id, sealed, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`
	insertImportedSQL = `INSERT INTO imported_secrets (key_id, algorithm, digest, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`
)

func (s *Store) insertKey(ctx context.Context, tx *sql.Tx, k *latchkey.Key) error {
	acl, ips, metadata, err := encodePolicy(k.Policy)
	if err != nil {
		return err
	}
	limit, period := encodeRateLimit(k.Policy.RateLimit)
	st := stmtIn(ctx, tx, s.stmts.insertKey)
	defer st.Close()
	if _, err := st.ExecContext(ctx,
		k.ID, k.AccountID, nullString(k.AppID), nullString(k.IntegrationID), k.Name, string(k.Policy.Type),
		acl, ips, formatTimePtr(k.Policy.ExpiresAt), metadata, formatTime(k.CreatedAt), formatTime(k.UpdatedAt),
		nullString(k.Prefix), k.Policy.Disabled, limit, period, formatTimePtr(k.LastUsedAt)); err != nil {
		return mapError(err, "key")
	}
	for _, sec := range k.Secrets {
		if err := s.insertSecret(ctx, tx, k.ID, sec); err != nil {
			return err
		}
	}
	if k.Imported != nil {
		if err := s.insertImported(ctx, tx, k.ID, k.Imported); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) insertSecret(ctx context.Context, tx *sql.Tx, keyID string, sec latchkey.Secret) error {
	st := stmtIn(ctx, tx, s.stmts.insertSecret)
	defer st.Close()
	if _, err := st.ExecContext(ctx, sec.Hash, keyID, sec.Sealed, formatTime(sec.CreatedAt), formatTimePtr(sec.ExpiresAt)); err != nil {
		return mapError(err, "secret")
	}
	return nil
}

// insertImported stores a key's imported secret; a SHA-256 digest another
// key has is ECONFLICT (subject "secret").
func (s *Store) insertImported(ctx context.Context, tx *sql.Tx, keyID string, imp *latchkey.ImportedSecret) error {
	st := stmtIn(ctx, tx, s.stmts.insertImported)
	defer st.Close()
	if _, err := st.ExecContext(ctx, keyID, string(imp.Algorithm), imp.Digest, formatTime(imp.CreatedAt), formatTimePtr(imp.ExpiresAt)); err != nil {
		return mapError(err, "secret")
	}
	return nil
}

// encodeRateLimit returns the rate_limit and rate_period_ms columns.
func encodeRateLimit(rl *latchkey.RateLimit) (limit, periodMS any) {
	if rl == nil {
		return nil, nil
	}
	return rl.Limit, rl.Period.Milliseconds()
}

// The conditions of the one-key lookups, prepared (see stmts).
const (
	keyByIDCond             = `id = ?`
	keyBySecretHashCond     = `id = (SELECT key_id FROM key_secrets WHERE hash = ?)`
	keyByImportedDigestCond = `id = (SELECT key_id FROM imported_secrets WHERE algorithm = 'sha256' AND digest = ?)`
)

// keysWhereSQL is the query of the keys cond selects, in id order.
func keysWhereSQL(cond string) string {
	return `SELECT ` + keyColumns + ` FROM keys WHERE ` + cond + ` ORDER BY id`
}

// Key returns one key with its secrets.
func (s *Store) Key(ctx context.Context, id string) (_ *latchkey.Key, err error) {
	defer markUnavailable(&err)
	return s.oneKey(ctx, s.stmts.keyByID, id)
}

// KeyBySecretHash returns the key holding a secret with this hash.
func (s *Store) KeyBySecretHash(ctx context.Context, hash []byte) (_ *latchkey.Key, err error) {
	defer markUnavailable(&err)
	return s.oneKey(ctx, s.stmts.keyBySecretHash, hash)
}

// KeyByImportedDigest implements latchkey.Store.
func (s *Store) KeyByImportedDigest(ctx context.Context, digest []byte) (_ *latchkey.Key, err error) {
	defer markUnavailable(&err)
	return s.oneKey(ctx, s.stmts.keyByImportedDigest, digest)
}

// oneKey returns the key that st, one of the one-key lookups, finds with
// arg, or ENOTFOUND.
func (s *Store) oneKey(ctx context.Context, st *sql.Stmt, arg any) (*latchkey.Key, error) {
	rows, err := st.QueryContext(ctx, arg)
	if err != nil {
		return nil, err
	}
	keys, err := s.scanKeysWithSecrets(ctx, rows)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, latchkey.NotFound("key")
	}
	return keys[0], nil
}

// AdoptSecret implements latchkey.Store. Deleting the imported row first
// decides which of two adopters wins: the loser deletes nothing and gets
// ENOTFOUND, inside a transaction that then stores nothing.
func (s *Store) AdoptSecret(ctx context.Context, keyID string, sec latchkey.Secret) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		var expiresAt sql.NullString
		err := tx.QueryRowContext(ctx, `DELETE FROM imported_secrets WHERE key_id = ? RETURNING expires_at`, keyID).Scan(&expiresAt)
		if err != nil {
			return mapError(err, "secret")
		}
		if sec.ExpiresAt, err = parseTimePtr(expiresAt); err != nil {
			return err
		}
		return s.insertSecret(ctx, tx, keyID, sec)
	})
}

// ListKeys lists the keys owned exactly by owner.
func (s *Store) ListKeys(ctx context.Context, owner latchkey.KeyOwner) (_ []*latchkey.Key, err error) {
	defer markUnavailable(&err)
	cond, args := ownerCondition(owner)
	return s.queryKeys(ctx, cond, args...)
}

// RollKey implements latchkey.Store.
func (s *Store) RollKey(ctx context.Context, keyID string, next latchkey.Secret, oldUntil *time.Time) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE keys SET updated_at = ? WHERE id = ?`, formatTime(next.CreatedAt), keyID)
		if err != nil {
			return err
		}
		if err := mustAffect(res, "key"); err != nil {
			return err
		}
		for _, table := range []string{"key_secrets", "imported_secrets"} {
			if oldUntil == nil {
				_, err = tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE key_id = ?`, keyID)
			} else {
				// Text order is time order (fixed-width UTC), so MIN picks the
				// earlier end.
				until := formatTime(*oldUntil)
				_, err = tx.ExecContext(ctx, `UPDATE `+table+` SET expires_at = MIN(COALESCE(expires_at, ?), ?) WHERE key_id = ?`,
					until, until, keyID)
			}
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE key_id = ? AND expires_at IS NOT NULL AND expires_at <= ?`,
				keyID, formatTime(next.CreatedAt)); err != nil {
				return err
			}
		}
		return s.insertSecret(ctx, tx, keyID, next)
	})
}

// DeleteKey deletes a key; the cascade takes its secrets.
func (s *Store) DeleteKey(ctx context.Context, id string) (err error) {
	defer markUnavailable(&err)
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
	return s.queryKeysOrdered(ctx, cond+` ORDER BY id`, args...)
}

// queryKeysOrdered returns the keys a WHERE tail (condition, order, limit)
// selects, with their secrets.
func (s *Store) queryKeysOrdered(ctx context.Context, tail string, args ...any) ([]*latchkey.Key, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE `+tail, args...)
	if err != nil {
		return nil, err
	}
	return s.scanKeysWithSecrets(ctx, rows)
}

// scanKeysWithSecrets reads the keys rows holds, closes it, and loads their
// secrets.
func (s *Store) scanKeysWithSecrets(ctx context.Context, rows *sql.Rows) ([]*latchkey.Key, error) {
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
		prefix, lastUsed        sql.NullString
		limit, periodMS         sql.NullInt64
	)
	if err := rows.Scan(&k.ID, &k.AccountID, &appID, &integrationID, &k.Name, &keyType, &acl, &ips, &exp, &metadata,
		&createdAt, &updatedAt, &prefix, &k.Policy.Disabled, &limit, &periodMS, &lastUsed); err != nil {
		return nil, err
	}
	k.Prefix = prefix.String
	if limit.Valid {
		k.Policy.RateLimit = &latchkey.RateLimit{Limit: int(limit.Int64), Period: time.Duration(periodMS.Int64) * time.Millisecond}
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
	if k.LastUsedAt, err = parseTimePtr(lastUsed); err != nil {
		return nil, err
	}
	return &k, nil
}

// loadSecrets fills the secrets of the given keys, with one query per
// maxInList keys: ListKeys returns every key of an owner, however many.
func (s *Store) loadSecrets(ctx context.Context, keys []*latchkey.Key) error {
	byID := make(map[string]*latchkey.Key, len(keys))
	ids := make([]any, len(keys))
	for i, k := range keys {
		byID[k.ID] = k
		ids[i] = k.ID
	}
	return inChunks(ids, func(chunk []any) error {
		if err := s.loadSecretsOf(ctx, byID, chunk); err != nil {
			return err
		}
		return s.loadImportedOf(ctx, byID, chunk)
	})
}

// secretsOfSQL is the query of the secrets of n keys, whose ids are its
// arguments.
func secretsOfSQL(n int) string {
	return `SELECT key_id, hash, sealed, created_at, expires_at FROM key_secrets
		WHERE key_id IN (` + placeholders(n) + `) ORDER BY key_id, created_at`
}

// importedOfSQL is the query of the imported secrets of n keys, whose ids
// are its arguments.
func importedOfSQL(n int) string {
	return `SELECT key_id, algorithm, digest, created_at, expires_at FROM imported_secrets
		WHERE key_id IN (` + placeholders(n) + `)`
}

// loadSecretsOf fills the secrets of the keys with the given ids, all in
// byID.
func (s *Store) loadSecretsOf(ctx context.Context, byID map[string]*latchkey.Key, ids []any) error {
	var rows *sql.Rows
	var err error
	if len(ids) == 1 { // a one-key lookup, or a list of one key
		rows, err = s.stmts.secretsOfKey.QueryContext(ctx, ids...)
	} else {
		rows, err = s.read.QueryContext(ctx, secretsOfSQL(len(ids)), ids...)
	}
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

// loadImportedOf fills the imported secrets of the keys with the given
// ids, all in byID.
func (s *Store) loadImportedOf(ctx context.Context, byID map[string]*latchkey.Key, ids []any) error {
	var rows *sql.Rows
	var err error
	if len(ids) == 1 {
		rows, err = s.stmts.importedOfKey.QueryContext(ctx, ids...)
	} else {
		rows, err = s.read.QueryContext(ctx, importedOfSQL(len(ids)), ids...)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			keyID, algorithm, createdAt string
			expiresAt                   sql.NullString
			imp                         latchkey.ImportedSecret
		)
		if err := rows.Scan(&keyID, &algorithm, &imp.Digest, &createdAt, &expiresAt); err != nil {
			return err
		}
		imp.Algorithm = latchkey.HashAlgorithm(algorithm)
		if imp.CreatedAt, err = parseTime(createdAt); err != nil {
			return err
		}
		if imp.ExpiresAt, err = parseTimePtr(expiresAt); err != nil {
			return err
		}
		byID[keyID].Imported = &imp
	}
	return rows.Err()
}

// maxInList is the most ids one internal IN list carries. Lists the store
// builds itself (the secrets of the keys found, the webhooks of the
// integrations found) are as long as the result, which a caller does not
// bound, so they are split well below SQLite's limit of 32766 variables.
const maxInList = latchkey.MaxFilterValues

// inChunks calls fn with successive slices of ids, each at most maxInList
// long; it stops at the first error. It does not call fn for no ids.
func inChunks(ids []any, fn func(chunk []any) error) error {
	for len(ids) > 0 {
		n := min(len(ids), maxInList)
		if err := fn(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// keyColumnOf maps the fields a query may name to their columns; nothing
// from a request reaches the SQL text except through this map.
var keyColumnOf = map[latchkey.KeyField]string{
	latchkey.KeyFieldID:      "id",
	latchkey.KeyFieldName:    "name",
	latchkey.KeyFieldType:    "type",
	latchkey.KeyFieldCreated: "created_at",
	latchkey.KeyFieldUpdated: "updated_at",
}

// QueryKeys lists one filtered, ordered page of an owner's keys and counts
// all matches.
func (s *Store) QueryKeys(ctx context.Context, q latchkey.KeyQuery) (_ []*latchkey.Key, _ int, err error) {
	defer markUnavailable(&err)
	if q.Limit < 0 || q.Offset < 0 {
		return nil, 0, latchkey.Errorf(latchkey.EINVALID, "limit and offset must not be negative")
	}
	values := 0
	for _, f := range q.Filters {
		values += len(f.Values)
	}
	if values > latchkey.MaxFilterValues {
		return nil, 0, latchkey.Errorf(latchkey.EINVALID, "filters carry %d values; at most %d are allowed", values, latchkey.MaxFilterValues)
	}
	cond, args := ownerCondition(q.Owner)
	if q.Within {
		cond, args = withinCondition(q.Owner)
	}
	for _, f := range q.Filters {
		col, ok := keyColumnOf[f.Field]
		if !ok || len(f.Values) == 0 {
			return nil, 0, latchkey.Errorf(latchkey.EINVALID, "cannot filter on %q", f.Field)
		}
		op := " IN ("
		if f.Negate {
			op = " NOT IN ("
		}
		cond += " AND " + col + op + placeholders(len(f.Values)) + ")"
		for _, v := range f.Values {
			args = append(args, v)
		}
	}
	// The dashboard's search, states and finding narrow the count as
	// much as the page.
	extra, extraArgs, err := dashboardCondition(q)
	if err != nil {
		return nil, 0, err
	}
	if extra != "" {
		cond += " AND " + extra
		args = append(args, extraArgs...)
	}
	// Sorting on a field twice changes nothing, and refusing it bounds the
	// ORDER BY clause by the number of fields.
	order, sorted := "", make(map[latchkey.KeyField]bool, len(keyColumnOf))
	for _, srt := range q.Sort {
		col, ok := keyColumnOf[srt.Field]
		if !ok {
			return nil, 0, latchkey.Errorf(latchkey.EINVALID, "cannot sort on %q", srt.Field)
		}
		if sorted[srt.Field] {
			return nil, 0, latchkey.Errorf(latchkey.EINVALID, "cannot sort on %q twice", srt.Field)
		}
		sorted[srt.Field] = true
		order += col
		if srt.Desc {
			order += " DESC"
		}
		order += ", "
	}
	order += "id"
	if q.After != "" {
		if len(q.Sort) > 0 {
			return nil, 0, latchkey.Errorf(latchkey.EINVALID, "a cursor pages in id order only")
		}
		return s.pageKeys(ctx, cond, args, q)
	}

	var total int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM keys WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if q.Limit == 0 || q.Offset >= total {
		return []*latchkey.Key{}, total, nil
	}
	keys, err := s.queryKeysOrdered(ctx, cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...)
	return keys, total, err
}

// pageKeys is QueryKeys for a page after an id cursor.
func (s *Store) pageKeys(ctx context.Context, cond string, args []any, q latchkey.KeyQuery) ([]*latchkey.Key, int, error) {
	var total int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM keys WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if q.Limit == 0 {
		return []*latchkey.Key{}, total, nil
	}
	keys, err := s.queryKeysOrdered(ctx, cond+` AND id > ? ORDER BY id LIMIT ? OFFSET ?`, append(args, q.After, q.Limit, q.Offset)...)
	if keys == nil && err == nil {
		keys = []*latchkey.Key{}
	}
	return keys, total, err
}

// withinCondition selects the keys of o and of everything under it.
func withinCondition(o latchkey.KeyOwner) (string, []any) {
	switch {
	case o.IntegrationID != "":
		return `integration_id = ?`, []any{o.IntegrationID}
	case o.AppID != "":
		return `app_id = ?`, []any{o.AppID}
	default:
		return `account_id = ?`, []any{o.AccountID}
	}
}

// UpdateKey replaces a key's name and policy.
func (s *Store) UpdateKey(ctx context.Context, k *latchkey.Key) (err error) {
	defer markUnavailable(&err)
	acl, ips, metadata, err := encodePolicy(k.Policy)
	if err != nil {
		return err
	}
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		limit, period := encodeRateLimit(k.Policy.RateLimit)
		res, err := tx.ExecContext(ctx, `UPDATE keys SET name = ?, type = ?, acl = ?, allowed_ips = ?, expires_at = ?,
			metadata = ?, updated_at = ?, disabled = ?, rate_limit = ?, rate_period_ms = ? WHERE id = ?`,
			k.Name, string(k.Policy.Type), acl, ips, formatTimePtr(k.Policy.ExpiresAt), metadata, formatTime(k.UpdatedAt),
			k.Policy.Disabled, limit, period, k.ID)
		if err != nil {
			return err
		}
		return mustAffect(res, "key")
	})
}

// encodePolicy encodes a policy's JSON columns; nil stays SQL NULL.
func encodePolicy(p latchkey.Policy) (acl, ips, metadata any, err error) {
	if acl, err = nullableJSON(p.ACL, p.ACL == nil); err != nil {
		return nil, nil, nil, err
	}
	if ips, err = nullableJSON(p.AllowedIPs, p.AllowedIPs == nil); err != nil {
		return nil, nil, nil, err
	}
	metadata, err = nullableJSON(p.Metadata, p.Metadata == nil)
	return acl, ips, metadata, err
}
