package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"slices"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/secret"
)

// Rekey implements latchkey.Store. Each call is one IMMEDIATE write
// transaction: SQLite has one writer at a time, so a call with Limit 0
// holds off every other writer, of this process or another, from its first
// read to its commit, as the contract asks; a batch does the same for its
// own short length.
//
// Values are read in the order of the tables' primary keys, so that each
// batch reads only its own range: key_secrets by hash (a re-keyed secret
// gets a new hash, which may sort after the cursor; it is then read again
// in this pass, and left out by Except, or skipped by Fn), then webhooks by
// id, then the named meta values.
func (s *Store) Rekey(ctx context.Context, b latchkey.RekeyBatch) (next string, err error) {
	defer markUnavailable(&err)
	if b.Limit < 0 {
		return "", latchkey.Invalid("limit", "a rekey batch's limit must not be negative")
	}
	err = s.inWriteTx(ctx, func(tx *sql.Tx) error {
		if err := rekeyCheckRequired(ctx, tx, b.Require); err != nil {
			return err
		}
		if b.Fn != nil {
			var err error
			if next, err = rekeyValues(ctx, tx, b); err != nil {
				return err
			}
		}
		for _, name := range rekeySortedNames(b.SetMeta) {
			// A value required unset was checked so in this transaction,
			// which no other writer can enter: a plain upsert is right.
			if _, err := tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES (?, ?)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, b.SetMeta[name]); err != nil {
				return err
			}
		}
		for _, name := range b.DeleteMeta {
			if _, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE name = ?`, name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return next, nil
}

func rekeyCheckRequired(ctx context.Context, tx *sql.Tx, require map[string][]byte) error {
	for _, name := range rekeySortedNames(require) {
		var v []byte
		err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&v)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if require[name] == nil {
				continue
			}
		case err != nil:
			return err
		case require[name] != nil && bytes.Equal(v, require[name]):
			continue
		}
		return &latchkey.Error{Code: latchkey.ECONFLICT, Subject: "meta",
			Message: "meta value " + name + " is not as the rekey requires: another process changed it"}
	}
	return nil
}

func rekeySortedNames(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// The cursor is the table's letter, a colon and the last row's key: the
// hash in hex for key_secrets, the id or name for the others.
const (
	rekeyCursorKeys     = "k"
	rekeyCursorWebhooks = "w"
	rekeyCursorMeta     = "m"
)

// rekeyValues passes the batch's values through b.Fn and writes back what
// changed; it returns the cursor of the next batch.
func rekeyValues(ctx context.Context, tx *sql.Tx, b latchkey.RekeyBatch) (string, error) {
	table, after, _ := strings.Cut(b.After, ":")
	if b.After == "" {
		table = rekeyCursorKeys
	}
	remaining := b.Limit // 0: no limit
	limit := func() int {
		if b.Limit == 0 {
			return -1 // SQLite: no LIMIT
		}
		return remaining
	}
	exceptCond := func(column string) (string, []any) {
		if len(b.Except) == 0 {
			return "", nil
		}
		return ` AND substr(` + column + `, 1, ?) <> ?`, []any{len(b.Except), b.Except}
	}
	type row struct {
		v   latchkey.SealedValue
		key any
	}
	// pass runs Fn over rows and writes the changed ones back with update
	// (new sealed, new hash or nil, old key, old sealed).
	pass := func(rows []row, update func(r row) (sql.Result, error)) error {
		for _, r := range rows {
			oldHash, oldSealed := r.v.Hash, r.v.Sealed
			v := r.v
			if err := b.Fn(&v); err != nil {
				return err
			}
			if v.Kind != secret.KindKey {
				v.Hash = oldHash
			}
			if bytes.Equal(v.Hash, oldHash) && bytes.Equal(v.Sealed, oldSealed) {
				continue
			}
			r.v = v
			if _, err := update(r); err != nil {
				return mapError(err, "secret")
			}
		}
		return nil
	}
	for {
		switch table {
		case rekeyCursorKeys:
			last, err := hex.DecodeString(after)
			if err != nil {
				return "", latchkey.Invalid("after", "not a rekey cursor")
			}
			cond, args := exceptCond("sealed")
			if len(last) > 0 {
				// A zero-length blob may be bound as NULL, which nothing follows.
				cond += ` AND hash > ?`
				args = append(args, last)
			}
			rs, err := tx.QueryContext(ctx, `SELECT hash, key_id, sealed FROM key_secrets WHERE 1`+cond+
				` ORDER BY hash LIMIT ?`, append(args, limit())...)
			if err != nil {
				return "", err
			}
			var rows []row
			for rs.Next() {
				r := row{v: latchkey.SealedValue{Kind: secret.KindKey}}
				if err := rs.Scan(&r.v.Hash, &r.v.ID, &r.v.Sealed); err != nil {
					rs.Close()
					return "", err
				}
				r.key = r.v.Hash
				rows = append(rows, r)
			}
			rs.Close()
			if err := rs.Err(); err != nil {
				return "", err
			}
			err = pass(rows, func(r row) (sql.Result, error) {
				return tx.ExecContext(ctx, `UPDATE key_secrets SET hash = ?, sealed = ? WHERE hash = ?`, r.v.Hash, r.v.Sealed, r.key)
			})
			if err != nil {
				return "", err
			}
			if b.Limit > 0 {
				if remaining -= len(rows); remaining == 0 {
					return rekeyCursorKeys + ":" + hex.EncodeToString(rows[len(rows)-1].key.([]byte)), nil
				}
			}
			table, after = rekeyCursorWebhooks, ""
		case rekeyCursorWebhooks:
			cond, args := exceptCond("secret_sealed")
			rs, err := tx.QueryContext(ctx, `SELECT id, secret_sealed FROM webhooks WHERE id > ?`+cond+
				` ORDER BY id LIMIT ?`, append(append([]any{after}, args...), limit())...)
			if err != nil {
				return "", err
			}
			var rows []row
			for rs.Next() {
				r := row{v: latchkey.SealedValue{Kind: secret.KindWebhook}}
				if err := rs.Scan(&r.v.ID, &r.v.Sealed); err != nil {
					rs.Close()
					return "", err
				}
				r.key = r.v.ID
				rows = append(rows, r)
			}
			rs.Close()
			if err := rs.Err(); err != nil {
				return "", err
			}
			err = pass(rows, func(r row) (sql.Result, error) {
				return tx.ExecContext(ctx, `UPDATE webhooks SET secret_sealed = ? WHERE id = ?`, r.v.Sealed, r.key)
			})
			if err != nil {
				return "", err
			}
			if b.Limit > 0 {
				if remaining -= len(rows); remaining == 0 {
					return rekeyCursorWebhooks + ":" + rows[len(rows)-1].v.ID, nil
				}
			}
			table, after = rekeyCursorMeta, ""
		case rekeyCursorMeta:
			names := slices.Clone(b.MetaNames)
			slices.Sort(names)
			var rows []row
			for _, name := range slices.Compact(names) {
				if name <= after {
					continue
				}
				if b.Limit > 0 && len(rows) == remaining {
					break
				}
				r := row{v: latchkey.SealedValue{Kind: secret.KindMeta, ID: name}, key: name}
				err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&r.v.Sealed)
				if errors.Is(err, sql.ErrNoRows) {
					continue
				}
				if err != nil {
					return "", err
				}
				if len(b.Except) > 0 && bytes.HasPrefix(r.v.Sealed, b.Except) {
					continue
				}
				rows = append(rows, r)
			}
			err := pass(rows, func(r row) (sql.Result, error) {
				return tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE name = ?`, r.v.Sealed, r.key)
			})
			if err != nil {
				return "", err
			}
			if b.Limit > 0 && len(rows) == remaining && len(rows) > 0 {
				return rekeyCursorMeta + ":" + rows[len(rows)-1].v.ID, nil
			}
			return "", nil
		default:
			return "", latchkey.Invalid("after", "not a rekey cursor")
		}
	}
}
