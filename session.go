package latchkey

import "time"

// Session is a signed-in dashboard session. The browser holds a random
// token; the store keeps only its hash (HMAC under the index key), so that
// a copy of the database opens no session.
type Session struct {
	// Hash is the token's hash, the session's identity in the store.
	Hash []byte
	// KeyID is the key that signed in. The session acts as that key, with
	// its rights as they are at each request, and ends when it is deleted.
	KeyID string
	// SecretHash is the hash of the secret that signed in (as the key's
	// Secret.Hash): the session lasts only while that secret authenticates,
	// so rolling a key signs its sessions out when the old secret ends.
	SecretHash []byte
	CreatedAt  time.Time
	// ExpiresAt ends the session, however active.
	ExpiresAt time.Time
}

// Audit actions of the dashboard's sessions.
const (
	ActionSessionCreate = "session.create"
	ActionSessionDelete = "session.delete"
)
