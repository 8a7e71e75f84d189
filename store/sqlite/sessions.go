package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latchkey/latchkey"
)

// CreateSession stores a dashboard session, with the audit event its
// context carries. The write transaction begins IMMEDIATE, so the key
// found is still there when the session is inserted.
func (s *Store) CreateSession(ctx context.Context, sess *latchkey.Session) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, "key", `SELECT COUNT(*) FROM keys WHERE id = ?`, sess.KeyID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (hash, key_id, secret_hash, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?)`,
			sess.Hash, sess.KeyID, sess.SecretHash, formatTime(sess.CreatedAt), formatTime(sess.ExpiresAt))
		return mapError(err, "session")
	})
}

// Session returns the session with this token hash, expired or not.
func (s *Store) Session(ctx context.Context, hash []byte) (_ *latchkey.Session, err error) {
	defer markUnavailable(&err)
	var (
		sess                 latchkey.Session
		createdAt, expiresAt string
	)
	err = s.read.QueryRowContext(ctx, `SELECT hash, key_id, secret_hash, created_at, expires_at FROM sessions WHERE hash = ?`,
		hash).Scan(&sess.Hash, &sess.KeyID, &sess.SecretHash, &createdAt, &expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.NotFound("session")
	}
	if err != nil {
		return nil, err
	}
	if sess.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	}
	if sess.ExpiresAt, err = parseTime(expiresAt); err != nil {
		return nil, err
	}
	return &sess, nil
}

// DeleteSession deletes a session, with the audit event its context
// carries.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) (err error) {
	defer markUnavailable(&err)
	return s.inWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash)
		if err != nil {
			return err
		}
		return mustAffect(res, "session")
	})
}

// PruneSessions deletes the sessions that expired before before. It is
// housekeeping, not a change anyone made: it writes no audit event, even
// if its context carries one.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (n int64, err error) {
	defer markUnavailable(&err)
	ctx = latchkey.WithAuditEvent(ctx, nil)
	err = s.inWriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, formatTime(ceilMicrosecond(before)))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
