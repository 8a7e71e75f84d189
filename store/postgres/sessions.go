package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

// CreateSession stores a dashboard session, with the audit event its
// context carries. It locks the key's row FOR KEY SHARE, as the foreign
// key would, so that a DeleteKey waits for it to commit (and then takes
// the session with the key) instead of leaving it a key that is gone.
// Sessions are not keys: nothing goes to the key change log.
func (s *Store) CreateSession(ctx context.Context, sess *latchkey.Session) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockRow(ctx, tx, "key", `SELECT 1 FROM keys WHERE id = $1 FOR KEY SHARE`, textArg(sess.KeyID)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO sessions (hash, key_id, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			sess.Hash, sess.KeyID, sess.SecretHash, sess.CreatedAt, sess.ExpiresAt)
		return mapError(err, "session")
	})
}

// Session returns the session with this token hash, expired or not.
func (s *Store) Session(ctx context.Context, hash []byte) (_ *latchkey.Session, err error) {
	defer markUnavailable(&err)
	var sess latchkey.Session
	err = s.pool.QueryRow(ctx, `SELECT hash, key_id, secret_hash, created_at, expires_at FROM sessions WHERE hash = $1`,
		hash).Scan(&sess.Hash, &sess.KeyID, &sess.SecretHash, &sess.CreatedAt, &sess.ExpiresAt)
	if err != nil {
		return nil, mapError(err, "session")
	}
	sess.CreatedAt, sess.ExpiresAt = utc(sess.CreatedAt), utc(sess.ExpiresAt)
	return &sess, nil
}

// DeleteSession deletes a session, with the audit event its context
// carries.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) (err error) {
	defer markUnavailable(&err)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash)
		if err != nil {
			return err
		}
		return mustAffect(tag, "session")
	})
}

// PruneSessions deletes the sessions that expired before before. It is
// housekeeping, not a change anyone made: it writes no audit event, even
// if its context carries one. The bound is rounded up to the microsecond,
// as the driver would cut it (see ceilMicrosecond).
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (_ int64, err error) {
	defer markUnavailable(&err)
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < $1`, ceilMicrosecond(before))
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
