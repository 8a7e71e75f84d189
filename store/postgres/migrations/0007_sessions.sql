-- The dashboard's signed-in sessions (store/sqlite/migrations/0007_sessions.sql,
-- in PostgreSQL's types). The browser holds a random token; hash is its
-- HMAC under the index key, so that a copy of the database opens no
-- session. A session acts as the key that signed in (key_id) and ends with
-- it; secret_hash names the secret that signed in, so that the session
-- lasts only while that secret authenticates. Sessions are not keys: they
-- add nothing to the key change log.
CREATE TABLE sessions (
    hash        BYTEA PRIMARY KEY,
    key_id      TEXT COLLATE "C" NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    secret_hash BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
-- For the cascade when a key is deleted, and for pruning by expiry.
CREATE INDEX sessions_by_key ON sessions (key_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
