package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
// rewritten, in one transaction. The tables holding sealed values are locked
// against writes (EXCLUSIVE still lets reads through) for its length, as
// SQLite's single writer does: a secret added meanwhile would otherwise stay
// sealed the old way.
//
// The three locks are taken together or not at all (NOWAIT), and Reseal
// tries again a moment later while a writer holds one: a cascading delete
// takes the tables in its own order, and waiting for one while holding
// another could deadlock with it. Once Reseal has them it waits for no one.
func (s *Store) Reseal(ctx context.Context, metaNames []string, fn func(kind, id string, sealed []byte) ([]byte, error)) (err error) {
	defer markUnavailable(&err)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := s.reseal(ctx, metaNames, fn)
		if !errors.Is(err, errTablesBusy) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait/2 + rand.N(wait)):
		}
	}
}

// errTablesBusy reports that a writer held a table Reseal locks.
var errTablesBusy = errors.New("postgres: the tables holding sealed values are being written")

// reseal is one attempt at Reseal.
func (s *Store) reseal(ctx context.Context, metaNames []string, fn func(kind, id string, sealed []byte) ([]byte, error)) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE key_secrets, webhooks, meta IN EXCLUSIVE MODE NOWAIT`); err != nil {
			var e *pgconn.PgError
			if errors.As(err, &e) && e.Code == lockNotAvailable {
				return errTablesBusy
			}
			return err
		}
		var rows []sealedRow
		collect := func(query, kind, update string, args ...any) error {
			rs, err := tx.Query(ctx, query, args...)
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
			secret.KindKey, `UPDATE key_secrets SET sealed = $1 WHERE hash = $2`); err != nil {
			return err
		}
		if err := collect(`SELECT id, id, secret_sealed FROM webhooks ORDER BY id`,
			secret.KindWebhook, `UPDATE webhooks SET secret_sealed = $1 WHERE id = $2`); err != nil {
			return err
		}
		for _, name := range metaNames {
			if err := collect(`SELECT name, name, value FROM meta WHERE name = $1`,
				secret.KindMeta, `UPDATE meta SET value = $1 WHERE name = $2`, textArg(name)); err != nil {
				return err
			}
		}
		for _, r := range rows {
			sealed, err := fn(r.kind, r.id, r.sealed)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, r.update, sealed, r.key); err != nil {
				return err
			}
		}
		return nil
	})
}
