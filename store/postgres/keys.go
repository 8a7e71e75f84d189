package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

const keyColumns = `id, account_id, app_id, integration_id, name, type, acl, allowed_ips, expires_at, metadata, created_at, updated_at,
	prefix, disabled, rate_limit, rate_period_ms, last_used_at`

// CreateKey stores a key and its secrets, after checking its owner exists and
// has room for it.
//
// The cap holds under concurrent creation, from one node or many, because
// the owner's row is locked (SELECT … FOR NO KEY UPDATE) before the count:
// creators of keys for one owner queue on that lock, and each counts, in a
// statement of its own, the keys of those that went before and committed.
// The lock does not conflict with the FOR KEY SHARE that foreign keys and
// key creation for the owner's children take: it holds up only what writes
// the owner's own row (an update, a delete).
// SERIALIZABLE with retries would do too, but a retry would mean calling
// DeleteApp's check twice; locks keep every method to one attempt.
//
// Without a cap there is nothing to count, and the owner's row is locked
// only FOR KEY SHARE, which creators do not wait for among themselves:
// creating keys for one account from many nodes at once goes at the speed
// of the commits, not one commit at a time. It still waits for a delete of
// the owner, which locks it FOR UPDATE.
func (s *Store) CreateKey(ctx context.Context, k *latchkey.Key, maxPerOwner int) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		owner := latchkey.KeyOwner{AccountID: k.AccountID, AppID: k.AppID, IntegrationID: k.IntegrationID}
		if err := lockOwner(ctx, tx, owner, maxPerOwner > 0); err != nil {
			return err
		}
		if maxPerOwner > 0 {
			cond, args := ownerCondition(owner)
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM keys WHERE `+cond, args...).Scan(&n); err != nil {
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

// CreateKeys implements latchkey.Store. Each owner is locked once, as
// CreateKey locks it without a cap.
func (s *Store) CreateKeys(ctx context.Context, keys []*latchkey.Key, events []*latchkey.AuditEvent) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		locked := map[latchkey.KeyOwner]bool{}
		for i, k := range keys {
			owner := latchkey.KeyOwner{AccountID: k.AccountID, AppID: k.AppID, IntegrationID: k.IntegrationID}
			if !locked[owner] {
				if err := lockOwner(ctx, tx, owner, false); err != nil {
					return err
				}
				locked[owner] = true
			}
			if err := insertKey(ctx, tx, k); err != nil {
				return err
			}
			if err := insertAuditEvents(ctx, tx, events[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// lockOwner returns ENOTFOUND unless the owner exists, its app belongs to
// its account and its integration to its app; it locks the owner's row,
// FOR NO KEY UPDATE if forCount (see CreateKey), else FOR KEY SHARE, and,
// for an integration, its app FOR KEY SHARE first, top-down, so that
// DeleteApp, which locks the app FOR UPDATE, goes wholly before or after.
func lockOwner(ctx context.Context, tx pgx.Tx, o latchkey.KeyOwner, forCount bool) error {
	mode := "FOR KEY SHARE"
	if forCount {
		mode = "FOR NO KEY UPDATE"
	}
	switch {
	case o.IntegrationID != "":
		if err := lockRow(ctx, tx, "integration", `SELECT 1 FROM apps WHERE id = $1 AND account_id = $2 FOR KEY SHARE`,
			textArg(o.AppID), textArg(o.AccountID)); err != nil {
			return err
		}
		return lockRow(ctx, tx, "integration", `SELECT 1 FROM integrations WHERE id = $1 AND app_id = $2 `+mode,
			textArg(o.IntegrationID), o.AppID)
	case o.AppID != "":
		return lockRow(ctx, tx, "app", `SELECT 1 FROM apps WHERE id = $1 AND account_id = $2 `+mode,
			textArg(o.AppID), textArg(o.AccountID))
	default:
		return lockRow(ctx, tx, "account", `SELECT 1 FROM accounts WHERE id = $1 `+mode, textArg(o.AccountID))
	}
}

// ownerCondition selects the keys owned exactly by o, with $1 as its one
// argument.
func ownerCondition(o latchkey.KeyOwner) (string, params) {
	switch {
	case o.IntegrationID != "":
		return `integration_id = $1`, params{textArg(o.IntegrationID)}
	case o.AppID != "":
		return `app_id = $1 AND integration_id IS NULL`, params{textArg(o.AppID)}
	default:
		return `account_id = $1 AND app_id IS NULL`, params{textArg(o.AccountID)}
	}
}

// withinCondition selects the keys of o and of everything under it.
func withinCondition(o latchkey.KeyOwner) (string, params) {
	switch {
	case o.IntegrationID != "":
		return `integration_id = $1`, params{textArg(o.IntegrationID)}
	case o.AppID != "":
		return `app_id = $1`, params{textArg(o.AppID)}
	default:
		return `account_id = $1`, params{textArg(o.AccountID)}
	}
}

func insertKey(ctx context.Context, tx pgx.Tx, k *latchkey.Key) error {
	acl, ips, metadata, err := encodePolicy(k.Policy)
	if err != nil {
		return err
	}
	limit, period := encodeRateLimit(k.Policy.RateLimit)
	if _, err := tx.Exec(ctx, `INSERT INTO keys (`+keyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		k.ID, k.AccountID, nullString(k.AppID), nullString(k.IntegrationID), k.Name, string(k.Policy.Type),
		acl, ips, k.Policy.ExpiresAt, metadata, k.CreatedAt, k.UpdatedAt,
		nullString(k.Prefix), k.Policy.Disabled, limit, period, k.LastUsedAt); err != nil {
		return mapError(err, "key")
	}
	for _, sec := range k.Secrets {
		if err := insertSecret(ctx, tx, k.ID, sec); err != nil {
			return err
		}
	}
	if imp := k.Imported; imp != nil {
		if _, err := tx.Exec(ctx, `INSERT INTO imported_secrets (key_id, algorithm, digest, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			k.ID, string(imp.Algorithm), imp.Digest, imp.CreatedAt, imp.ExpiresAt); err != nil {
			return mapError(err, "secret")
		}
	}
	// A node may remember this id as one that matched no key.
	return logKeyChanges(ctx, tx, k.ID)
}

func insertSecret(ctx context.Context, tx pgx.Tx, keyID string, sec latchkey.Secret) error {
	if _, err := tx.Exec(ctx, `INSERT INTO key_secrets (hash, key_id, sealed, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		sec.Hash, keyID, sec.Sealed, sec.CreatedAt, sec.ExpiresAt); err != nil {
		return mapError(err, "secret")
	}
	return nil
}

// encodeRateLimit returns the rate_limit and rate_period_ms columns.
func encodeRateLimit(rl *latchkey.RateLimit) (limit, periodMS *int64) {
	if rl == nil {
		return nil, nil
	}
	l, p := int64(rl.Limit), rl.Period.Milliseconds()
	return &l, &p
}

// Key returns one key with its secrets.
func (s *Store) Key(ctx context.Context, id string) (_ *latchkey.Key, err error) {
	defer markUnavailable(&err)
	keys, err := s.queryKeys(ctx, `id = $1`, textArg(id))
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, latchkey.NotFound("key")
	}
	return keys[0], nil
}

// KeyBySecretHash returns the key holding a secret with this hash.
func (s *Store) KeyBySecretHash(ctx context.Context, hash []byte) (_ *latchkey.Key, err error) {
	defer markUnavailable(&err)
	keys, err := s.queryKeys(ctx, `id = (SELECT key_id FROM key_secrets WHERE hash = $1)`, hash)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, latchkey.NotFound("key")
	}
	return keys[0], nil
}

// KeyByImportedDigest implements latchkey.Store.
func (s *Store) KeyByImportedDigest(ctx context.Context, digest []byte) (_ *latchkey.Key, err error) {
	defer markUnavailable(&err)
	keys, err := s.queryKeys(ctx, `id = (SELECT key_id FROM imported_secrets WHERE algorithm = 'sha256' AND digest = $1)`, digest)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, latchkey.NotFound("key")
	}
	return keys[0], nil
}

// AdoptSecret implements latchkey.Store. Deleting the imported row first
// decides which of two adopters, on any nodes, wins: the row lock makes
// the second wait, then delete nothing and get ENOTFOUND, inside a
// transaction that then stores nothing.
func (s *Store) AdoptSecret(ctx context.Context, keyID string, sec latchkey.Secret) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `DELETE FROM imported_secrets WHERE key_id = $1 RETURNING expires_at`, textArg(keyID)).Scan(&sec.ExpiresAt)
		if err != nil {
			return mapError(err, "secret")
		}
		sec.ExpiresAt = utcPtr(sec.ExpiresAt)
		if err := insertSecret(ctx, tx, keyID, sec); err != nil {
			return err
		}
		return logKeyChanges(ctx, tx, keyID)
	})
}

// ListKeys lists the keys owned exactly by owner.
func (s *Store) ListKeys(ctx context.Context, owner latchkey.KeyOwner) (_ []*latchkey.Key, err error) {
	defer markUnavailable(&err)
	cond, args := ownerCondition(owner)
	return s.queryKeys(ctx, cond, args...)
}

// RollKey implements latchkey.Store. Its first statement locks the key's
// row, so two rolls of one key go one after the other.
func (s *Store) RollKey(ctx context.Context, keyID string, next latchkey.Secret, oldUntil *time.Time) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE keys SET updated_at = $1 WHERE id = $2`, next.CreatedAt, textArg(keyID))
		if err != nil {
			return err
		}
		if err := mustAffect(tag, "key"); err != nil {
			return err
		}
		for _, table := range []string{"key_secrets", "imported_secrets"} {
			if oldUntil == nil {
				_, err = tx.Exec(ctx, `DELETE FROM `+table+` WHERE key_id = $1`, keyID)
			} else {
				// LEAST ignores NULL: a secret that never expired gets oldUntil.
				_, err = tx.Exec(ctx, `UPDATE `+table+` SET expires_at = LEAST(expires_at, $1) WHERE key_id = $2`, *oldUntil, keyID)
			}
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE key_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2`,
				keyID, next.CreatedAt); err != nil {
				return err
			}
		}
		if err := insertSecret(ctx, tx, keyID, next); err != nil {
			return err
		}
		return logKeyChanges(ctx, tx, keyID)
	})
}

// DeleteKey deletes a key; the cascade takes its secrets.
func (s *Store) DeleteKey(ctx context.Context, id string) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM keys WHERE id = $1`, textArg(id))
		if err != nil {
			return err
		}
		if err := mustAffect(tag, "key"); err != nil {
			return err
		}
		return logKeyChanges(ctx, tx, id)
	})
}

// queryKeys returns the keys matching cond in id order, with their secrets.
func (s *Store) queryKeys(ctx context.Context, cond string, args ...any) ([]*latchkey.Key, error) {
	return s.queryKeysOrdered(ctx, cond+` ORDER BY id`, args...)
}

// queryKeysOrdered returns the keys a WHERE tail (condition, order, limit)
// selects, with their secrets.
func (s *Store) queryKeysOrdered(ctx context.Context, tail string, args ...any) ([]*latchkey.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM keys WHERE `+tail, args...)
	if err != nil {
		return nil, err
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*latchkey.Key, error) { return scanKey(row) })
	if err != nil || len(keys) == 0 {
		return nil, err // nil for none, as SQLite's store returns
	}
	return keys, s.loadSecrets(ctx, keys)
}

func scanKey(row scanner) (*latchkey.Key, error) {
	var (
		k                            latchkey.Key
		appID, integrationID, prefix *string
		keyType                      string
		acl, ips, metadata           *string
		limit, periodMS              *int64
		expiresAt, lastUsedAt        *time.Time
	)
	if err := row.Scan(&k.ID, &k.AccountID, &appID, &integrationID, &k.Name, &keyType, &acl, &ips, &expiresAt, &metadata,
		&k.CreatedAt, &k.UpdatedAt, &prefix, &k.Policy.Disabled, &limit, &periodMS, &lastUsedAt); err != nil {
		return nil, err
	}
	if prefix != nil {
		k.Prefix = *prefix
	}
	if limit != nil {
		k.Policy.RateLimit = &latchkey.RateLimit{Limit: int(*limit)}
		if periodMS != nil {
			k.Policy.RateLimit.Period = time.Duration(*periodMS) * time.Millisecond
		}
	}
	if appID != nil {
		k.AppID = *appID
	}
	if integrationID != nil {
		k.IntegrationID = *integrationID
	}
	k.Policy.Type = latchkey.KeyType(keyType)
	if err := scanNullableJSON(acl, &k.Policy.ACL); err != nil {
		return nil, err
	}
	if ips != nil {
		k.Policy.AllowedIPs = []netip.Prefix{}
		if err := json.Unmarshal([]byte(*ips), &k.Policy.AllowedIPs); err != nil {
			return nil, err
		}
	}
	if err := scanNullableJSON(metadata, &k.Policy.Metadata); err != nil {
		return nil, err
	}
	k.Policy.ExpiresAt = utcPtr(expiresAt)
	k.CreatedAt, k.UpdatedAt = utc(k.CreatedAt), utc(k.UpdatedAt)
	k.LastUsedAt = utcPtr(lastUsedAt)
	return &k, nil
}

// loadSecrets fills the secrets of the given keys, oldest first. The ids go
// as one array argument: one query however many keys an owner has.
func (s *Store) loadSecrets(ctx context.Context, keys []*latchkey.Key) error {
	if len(keys) == 0 {
		return nil
	}
	byID := make(map[string]*latchkey.Key, len(keys))
	ids := make([]string, len(keys))
	for i, k := range keys {
		byID[k.ID] = k
		ids[i] = k.ID
	}
	rows, err := s.pool.Query(ctx, `SELECT key_id, hash, sealed, created_at, expires_at FROM key_secrets
		WHERE key_id = ANY($1) ORDER BY key_id, created_at`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			keyID string
			sec   latchkey.Secret
		)
		if err := rows.Scan(&keyID, &sec.Hash, &sec.Sealed, &sec.CreatedAt, &sec.ExpiresAt); err != nil {
			return err
		}
		sec.CreatedAt, sec.ExpiresAt = utc(sec.CreatedAt), utcPtr(sec.ExpiresAt)
		k := byID[keyID]
		k.Secrets = append(k.Secrets, sec)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.pool.Query(ctx, `SELECT key_id, algorithm, digest, created_at, expires_at FROM imported_secrets
		WHERE key_id = ANY($1)`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			keyID, algorithm string
			imp              latchkey.ImportedSecret
		)
		if err := rows.Scan(&keyID, &algorithm, &imp.Digest, &imp.CreatedAt, &imp.ExpiresAt); err != nil {
			return err
		}
		imp.Algorithm = latchkey.HashAlgorithm(algorithm)
		imp.CreatedAt, imp.ExpiresAt = utc(imp.CreatedAt), utcPtr(imp.ExpiresAt)
		byID[keyID].Imported = &imp
	}
	return rows.Err()
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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
		// One array argument per filter; = ANY is IN, <> ALL is NOT IN
		// (the columns are never NULL).
		if f.Negate {
			cond += " AND " + col + " <> ALL(" + args.add(textArray(f.Values)) + ")"
		} else {
			cond += " AND " + col + " = ANY(" + args.add(textArray(f.Values)) + ")"
		}
	}
	// The dashboard's search, states and finding narrow the count as
	// much as the page.
	extra, err := dashboardCondition(q, &args)
	if err != nil {
		return nil, 0, err
	}
	if extra != "" {
		cond += " AND " + extra
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
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM keys WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if q.Limit == 0 || q.Offset >= total {
		return []*latchkey.Key{}, total, nil
	}
	tail := cond + ` ORDER BY ` + order + ` LIMIT ` + args.add(q.Limit) + ` OFFSET ` + args.add(q.Offset)
	keys, err := s.queryKeysOrdered(ctx, tail, args...)
	return keys, total, err
}

// pageKeys is QueryKeys for a page after an id cursor.
func (s *Store) pageKeys(ctx context.Context, cond string, args params, q latchkey.KeyQuery) ([]*latchkey.Key, int, error) {
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM keys WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if q.Limit == 0 {
		return []*latchkey.Key{}, total, nil
	}
	tail := cond + ` AND ` + compareID(&args, ">", q.After) + ` ORDER BY id LIMIT ` + args.add(q.Limit) + ` OFFSET ` + args.add(q.Offset)
	keys, err := s.queryKeysOrdered(ctx, tail, args...)
	if keys == nil && err == nil {
		keys = []*latchkey.Key{}
	}
	return keys, total, err
}

// UpdateKey replaces a key's name and policy.
func (s *Store) UpdateKey(ctx context.Context, k *latchkey.Key) (err error) {
	defer markUnavailable(&err)
	acl, ips, metadata, err := encodePolicy(k.Policy)
	if err != nil {
		return err
	}
	limit, period := encodeRateLimit(k.Policy.RateLimit)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE keys SET name = $1, type = $2, acl = $3, allowed_ips = $4, expires_at = $5,
			metadata = $6, updated_at = $7, disabled = $8, rate_limit = $9, rate_period_ms = $10 WHERE id = $11`,
			k.Name, string(k.Policy.Type), acl, ips, k.Policy.ExpiresAt, metadata, k.UpdatedAt,
			k.Policy.Disabled, limit, period, textArg(k.ID))
		if err != nil {
			return mapError(err, "key")
		}
		if err := mustAffect(tag, "key"); err != nil {
			return err
		}
		return logKeyChanges(ctx, tx, k.ID)
	})
}

// encodePolicy encodes a policy's JSON columns; nil stays SQL NULL.
func encodePolicy(p latchkey.Policy) (acl, ips, metadata *string, err error) {
	if acl, err = nullableJSON(p.ACL, p.ACL == nil); err != nil {
		return nil, nil, nil, err
	}
	if ips, err = nullableJSON(p.AllowedIPs, p.AllowedIPs == nil); err != nil {
		return nil, nil, nil, err
	}
	metadata, err = nullableJSON(p.Metadata, p.Metadata == nil)
	return acl, ips, metadata, err
}
