package postgres

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/secret"
)

// Rekey implements latchkey.Store.
//
// A batch (Limit > 0) locks the rows it reads (FOR UPDATE SKIP LOCKED), so
// that it never waits for a writer and no writer's cascade can deadlock
// with it: a row that a writer holds at that instant is left for later (the
// caller's last call, with Limit 0, reads every value left). Writers of
// other rows go on meanwhile; a writer of one of its rows waits for the
// batch's commit, a few milliseconds.
//
// The last call (Limit 0) first locks key_secrets, webhooks and meta
// against writes (EXCLUSIVE, which lets reads through), all three or none
// (NOWAIT, tried again a moment later, as Reseal does), which waits for
// every transaction that wrote to them to end: every secret committed
// before the lock is read, and none can be added or changed until the
// commit. A meta value it sets (such as the marker of a retired master key,
// which the tables' triggers read) is therefore seen by every writer that
// comes after it.
func (s *Store) Rekey(ctx context.Context, b latchkey.RekeyBatch) (next string, err error) {
	defer markUnavailable(&err)
	if b.Limit < 0 {
		return "", latchkey.Invalid("limit", "a rekey batch's limit must not be negative")
	}
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		next, err = s.rekey(ctx, b)
		if !errors.Is(err, errRekeyTablesBusy) {
			return next, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait/2 + rand.N(wait)):
		}
	}
}

// errRekeyTablesBusy reports that a writer held a table the last call of
// Rekey locks.
var errRekeyTablesBusy = errors.New("postgres: the tables holding sealed values are being written")

// rekey is one attempt at Rekey.
func (s *Store) rekey(ctx context.Context, b latchkey.RekeyBatch) (next string, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if b.Limit == 0 && b.Fn != nil {
			if _, err := tx.Exec(ctx, `LOCK TABLE key_secrets, webhooks, meta IN EXCLUSIVE MODE NOWAIT`); err != nil {
				var e *pgconn.PgError
				if errors.As(err, &e) && e.Code == "55P03" { // lock_not_available
					return errRekeyTablesBusy
				}
				return err
			}
		}
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
			if v, required := b.Require[name]; required && v == nil {
				// Required unset: another process may be setting it at
				// this moment; the insert waits for it, and then fails.
				tag, err := tx.Exec(ctx, `INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
					name, b.SetMeta[name])
				if err != nil {
					return mapError(err, "meta")
				}
				if tag.RowsAffected() == 0 {
					return errRekeyMetaChanged(name)
				}
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO meta (name, value) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, b.SetMeta[name]); err != nil {
				return mapError(err, "meta")
			}
		}
		for _, name := range b.DeleteMeta {
			if _, err := tx.Exec(ctx, `DELETE FROM meta WHERE name = $1`, textArg(name)); err != nil {
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

func rekeyCheckRequired(ctx context.Context, tx pgx.Tx, require map[string][]byte) error {
	for _, name := range rekeySortedNames(require) {
		var v []byte
		// FOR UPDATE: two rotations checking the same value go one after
		// the other, and the second sees what the first wrote.
		err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE name = $1 FOR UPDATE`, textArg(name)).Scan(&v)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if require[name] == nil {
				continue
			}
		case err != nil:
			return err
		case require[name] != nil && bytes.Equal(v, require[name]):
			continue
		}
		return errRekeyMetaChanged(name)
	}
	return nil
}

func errRekeyMetaChanged(name string) error {
	return &latchkey.Error{Code: latchkey.ECONFLICT, Subject: "meta",
		Message: "meta value " + name + " is not as the rekey requires: another process changed it"}
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
// changed; it returns the cursor of the next batch. See store/sqlite's for
// the order.
func rekeyValues(ctx context.Context, tx pgx.Tx, b latchkey.RekeyBatch) (string, error) {
	table, after, _ := strings.Cut(b.After, ":")
	if b.After == "" {
		table = rekeyCursorKeys
	}
	remaining := b.Limit // 0: no limit
	// tail ends a query: the Except filter, the order, the limit and, for
	// a batch, the row locks.
	tail := func(p *params, column, order string) string {
		var sb strings.Builder
		if len(b.Except) > 0 {
			sb.WriteString(` AND substring(` + column + ` from 1 for ` + p.add(len(b.Except)) + `) <> ` + p.add(b.Except))
		}
		sb.WriteString(` ORDER BY ` + order)
		if b.Limit > 0 {
			sb.WriteString(` LIMIT ` + p.add(remaining) + ` FOR UPDATE SKIP LOCKED`)
		}
		return sb.String()
	}
	type row struct {
		v   latchkey.SealedValue
		key any
	}
	pass := func(rows []row, update string) error {
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
			var err error
			if v.Kind == secret.KindKey {
				_, err = tx.Exec(ctx, update, v.Hash, v.Sealed, r.key)
			} else {
				_, err = tx.Exec(ctx, update, v.Sealed, r.key)
			}
			if err != nil {
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
			p, cond := params{}, `TRUE`
			if len(last) > 0 {
				cond = `hash > ` + p.add(last)
			}
			rs, err := tx.Query(ctx, `SELECT hash, key_id, sealed FROM key_secrets WHERE `+cond+tail(&p, "sealed", "hash"), p...)
			if err != nil {
				return "", err
			}
			rows, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (row, error) {
				out := row{v: latchkey.SealedValue{Kind: secret.KindKey}}
				err := r.Scan(&out.v.Hash, &out.v.ID, &out.v.Sealed)
				out.key = out.v.Hash
				return out, err
			})
			if err != nil {
				return "", err
			}
			// The row is found by its old hash: only the rotation changes
			// hashes, and the row is locked (or the tables are).
			if err := pass(rows, `UPDATE key_secrets SET hash = $1, sealed = $2 WHERE hash = $3`); err != nil {
				return "", err
			}
			if b.Limit > 0 {
				if remaining -= len(rows); remaining == 0 {
					return rekeyCursorKeys + ":" + hex.EncodeToString(rows[len(rows)-1].key.([]byte)), nil
				}
			}
			table, after = rekeyCursorWebhooks, ""
		case rekeyCursorWebhooks:
			p := params{after}
			rs, err := tx.Query(ctx, `SELECT id, secret_sealed FROM webhooks WHERE id > $1`+tail(&p, "secret_sealed", "id"), p...)
			if err != nil {
				return "", err
			}
			rows, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (row, error) {
				out := row{v: latchkey.SealedValue{Kind: secret.KindWebhook}}
				err := r.Scan(&out.v.ID, &out.v.Sealed)
				out.key = out.v.ID
				return out, err
			})
			if err != nil {
				return "", err
			}
			if err := pass(rows, `UPDATE webhooks SET secret_sealed = $1 WHERE id = $2`); err != nil {
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
				if name <= after || !representable(name) {
					continue
				}
				if b.Limit > 0 && len(rows) == remaining {
					break
				}
				r := row{v: latchkey.SealedValue{Kind: secret.KindMeta, ID: name}, key: name}
				q := `SELECT value FROM meta WHERE name = $1`
				if b.Limit > 0 {
					q += ` FOR UPDATE`
				}
				err := tx.QueryRow(ctx, q, name).Scan(&r.v.Sealed)
				if errors.Is(err, pgx.ErrNoRows) {
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
			if err := pass(rows, `UPDATE meta SET value = $1 WHERE name = $2`); err != nil {
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
