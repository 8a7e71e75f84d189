-- Secrets imported from another system as that system's hash of them
-- (POST /v1/keys/import): Latchkey has never seen their plaintext. A key
-- has at most one; the first time a client presents the plaintext, the key
-- adopts it as an ordinary key_secrets row and this row goes. algorithm is
-- sha256, bcrypt or argon2id; digest is SHA-256's 32 bytes, or bcrypt's or
-- Argon2id's encoded hash as text bytes.
CREATE TABLE imported_secrets (
    key_id     TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES keys (id) ON DELETE CASCADE,
    algorithm  TEXT NOT NULL,
    digest     BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ
);
-- An unsalted digest finds its key from the presented secret, and one
-- secret belongs to one key.
CREATE UNIQUE INDEX imported_secrets_by_digest ON imported_secrets (digest) WHERE algorithm = 'sha256';
