package core

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/secret"
)

// Dashboard sessions. A session is made by a key that proved its secret
// (the dashboard's sign-in checks it with the verifier, as every surface
// does), and then acts as that key: at each request the key is read afresh
// from the store, so a session ends at once when its key is deleted,
// disabled or expires, or when the secret that signed in stops working
// (a roll's grace period ends), and a change to the key's rights applies to
// the very next request.

// MaxSessionLifetime bounds how long a session may last.
const MaxSessionLifetime = 7 * 24 * time.Hour

// errNoSession is the answer for any session that cannot act: unknown,
// expired, or whose key or secret no longer authenticates. One answer for
// all, so that a cookie tells nothing of why.
var errNoSession = &latchkey.Error{Code: latchkey.EUNAUTHORIZED, Message: "Your session has ended; sign in again"}

// StartSession signs p in for lifetime, with sec, the secret p proved, and
// returns the session's token, for the browser to hold (the store keeps
// only its hash). Account keys only, secret keys only: the dashboard
// manages the whole account, as only an account key may.
func (s *Service) StartSession(ctx context.Context, p *latchkey.Principal, sec string, lifetime time.Duration) (token string, _ *latchkey.Session, _ error) {
	if err := requireAccountScope(p); err != nil {
		return "", nil, err
	}
	if p.Policy.Type == latchkey.KeyTypePublishable {
		return "", nil, forbidden()
	}
	if lifetime <= 0 || lifetime > MaxSessionLifetime {
		return "", nil, latchkey.Errorf(latchkey.EINVALID, "a session lasts between 0 and %s", MaxSessionLifetime)
	}
	k, err := s.store.Key(ctx, p.KeyID)
	if err != nil {
		return "", nil, err
	}
	signedWith := secretHash(s.keys, k, sec)
	if signedWith == nil {
		// The secret was proven a moment ago; it may have been rolled away
		// since.
		return "", nil, errNoSession
	}
	token = rand.Text() + rand.Text()
	now := s.timestamp()
	sess := &latchkey.Session{Hash: s.keys.Hash(token), KeyID: k.ID, SecretHash: signedWith, CreatedAt: now, ExpiresAt: now.Add(lifetime)}
	ctx = s.audited(ctx, p, latchkey.ActionSessionCreate, "key", k.ID, "expiresAt", sess.ExpiresAt.Format(time.RFC3339))
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return "", nil, err
	}
	// Ended sessions are swept as new ones begin, so the table holds
	// about one lifetime's sign-ins. A failure leaves them for the next
	// sign-in: they are refused either way.
	_, _ = s.store.PruneSessions(context.WithoutCancel(ctx), now)
	return token, sess, nil
}

// secretHash returns the stored hash of k's secret sec, or nil if sec is
// not one of k's secrets. During a master-key rotation a secret's hash may
// be under either index key, so every hash the keyring would look up is
// tried.
func secretHash(keys *secret.Keyring, k *latchkey.Key, sec string) []byte {
	hashes, _ := keys.LookupHashes(sec)
	for _, stored := range k.Secrets {
		for _, h := range hashes {
			if secret.Equal(stored.Hash, h) {
				return stored.Hash
			}
		}
	}
	return nil
}

// Session returns the principal a session token acts as now, with the
// session, or EUNAUTHORIZED if the session cannot act (see errNoSession).
// It does not apply the key's policy to the request (its allowed
// addresses, its ACL): the caller does, with Authorize, per operation.
func (s *Service) Session(ctx context.Context, token string) (*latchkey.Principal, *latchkey.Session, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, errNoSession
	}
	sess, err := s.store.Session(ctx, s.keys.Hash(token))
	if err != nil {
		return nil, nil, noSession(err)
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) {
		return nil, nil, errNoSession
	}
	k, err := s.store.Key(ctx, sess.KeyID)
	if err != nil {
		return nil, nil, noSession(err)
	}
	live := false
	for _, sec := range k.Secrets {
		if secret.Equal(sec.Hash, sess.SecretHash) && (sec.ExpiresAt == nil || now.Before(*sec.ExpiresAt)) {
			live = true
		}
	}
	if !live || k.StateAt(now) == latchkey.KeyDisabled || k.StateAt(now) == latchkey.KeyExpired {
		return nil, nil, errNoSession
	}
	return latchkey.PrincipalOf(k), sess, nil
}

// noSession maps a store's "not found" to errNoSession and passes any
// other error (an unavailable store) through.
func noSession(err error) error {
	if latchkey.ErrorCode(err) == latchkey.ENOTFOUND {
		return errNoSession
	}
	return err
}

// EndSession signs a session out. Ending one that already ended is not an
// error: signing out twice must not fail.
func (s *Service) EndSession(ctx context.Context, p *latchkey.Principal, token string) error {
	ctx = s.audited(ctx, p, latchkey.ActionSessionDelete, "key", p.KeyID)
	err := s.store.DeleteSession(ctx, s.keys.Hash(token))
	if latchkey.ErrorCode(err) == latchkey.ENOTFOUND {
		return nil
	}
	return err
}

// PruneSessions deletes the sessions that ended before before.
func (s *Service) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	return s.store.PruneSessions(ctx, before)
}
