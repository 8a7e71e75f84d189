-- The dashboard's signed-in sessions. The browser holds a random token;
-- hash is its HMAC under the index key, so that a copy of the database
-- opens no session. A session acts as the key that signed in (key_id) and
-- ends with it; secret_hash names the secret that signed in, so that the
-- session lasts only while that secret authenticates. Times are
-- fixed-width text, as everywhere in this schema.
CREATE TABLE sessions (
    hash        BLOB NOT NULL PRIMARY KEY,   -- NOT NULL: SQLite would let a NULL key in
    key_id      TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    secret_hash BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
-- For the cascade when a key is deleted, and for pruning by expiry.
CREATE INDEX sessions_by_key ON sessions (key_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
