-- Latchkey's first schema: store/sqlite/migrations/0001_init.sql, in
-- PostgreSQL's types. Times are timestamptz (microseconds, as the SQLite
-- text keeps them). Ids and the other text that is ordered or compared with
-- < and > are COLLATE "C", so that they sort bytewise as in SQLite, whatever
-- the database's default collation. JSON stays TEXT: the store only
-- round-trips it, and jsonb would reorder it and refuse \u0000. Secrets never
-- appear in plaintext: key_secrets keeps an HMAC (hash) and an AES-GCM copy
-- (sealed).

CREATE TABLE meta (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE accounts (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE apps (
    id           TEXT COLLATE "C" PRIMARY KEY,
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    settings     TEXT NOT NULL,   -- JSON object
    metadata     TEXT,            -- JSON object, or NULL for none
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX apps_by_account ON apps (account_id, id);

CREATE TABLE integrations (
    id           TEXT COLLATE "C" PRIMARY KEY,
    app_id       TEXT COLLATE "C" NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    display_name TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX integrations_by_app ON integrations (app_id, id);

CREATE TABLE webhooks (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    integration_id      TEXT COLLATE "C" NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    position            INTEGER NOT NULL,
    version             TEXT NOT NULL,
    target              TEXT NOT NULL,
    triggers            TEXT NOT NULL,   -- JSON array of strings
    include_full_user   BOOLEAN NOT NULL,
    include_full_source BOOLEAN NOT NULL,
    secret_sealed       BYTEA NOT NULL
);
CREATE INDEX webhooks_by_integration ON webhooks (integration_id, position);

-- A key's owner is its account, one of its apps, or one of that app's
-- integrations; deleting the owner deletes the key.
CREATE TABLE keys (
    id             TEXT COLLATE "C" PRIMARY KEY,
    account_id     TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    app_id         TEXT COLLATE "C" REFERENCES apps (id) ON DELETE CASCADE,
    integration_id TEXT COLLATE "C" REFERENCES integrations (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    type           TEXT NOT NULL,
    acl            TEXT,   -- JSON array, or NULL for unrestricted
    allowed_ips    TEXT,   -- JSON array of CIDR prefixes, or NULL for any
    expires_at     TIMESTAMPTZ,
    metadata       TEXT,   -- JSON object, or NULL
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX keys_by_owner ON keys (account_id, app_id, integration_id, id);
CREATE INDEX keys_by_app ON keys (app_id);
CREATE INDEX keys_by_integration ON keys (integration_id);

CREATE TABLE key_secrets (
    hash       BYTEA PRIMARY KEY,   -- HMAC-SHA256 under the index key
    key_id     TEXT COLLATE "C" NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    sealed     BYTEA NOT NULL,      -- AES-256-GCM under the master key
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ
);
CREATE INDEX key_secrets_by_key ON key_secrets (key_id);
