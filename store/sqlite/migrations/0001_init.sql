-- Latchkey's first schema. Timestamps are UTC text in a fixed-width
-- RFC 3339 form, so that text order is time order. Secrets never appear in
-- plaintext: key_secrets keeps an HMAC (hash) and an AES-GCM copy (sealed).

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE apps (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    settings     TEXT NOT NULL,   -- JSON object
    metadata     TEXT,            -- JSON object, or NULL for none
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX apps_by_account ON apps (account_id, id);

CREATE TABLE integrations (
    id           TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    display_name TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX integrations_by_app ON integrations (app_id, id);

CREATE TABLE webhooks (
    id                  TEXT PRIMARY KEY,
    integration_id      TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    position            INTEGER NOT NULL,
    version             TEXT NOT NULL,
    target              TEXT NOT NULL,
    triggers            TEXT NOT NULL,   -- JSON array of strings
    include_full_user   INTEGER NOT NULL,
    include_full_source INTEGER NOT NULL,
    secret_sealed       BLOB NOT NULL
);
CREATE INDEX webhooks_by_integration ON webhooks (integration_id, position);

-- A key's owner is its account, one of its apps, or one of that app's
-- integrations; deleting the owner deletes the key.
CREATE TABLE keys (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    app_id         TEXT REFERENCES apps (id) ON DELETE CASCADE,
    integration_id TEXT REFERENCES integrations (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    type           TEXT NOT NULL,
    acl            TEXT,   -- JSON array, or NULL for unrestricted
    allowed_ips    TEXT,   -- JSON array of CIDR prefixes, or NULL for any
    expires_at     TEXT,
    metadata       TEXT,   -- JSON object, or NULL
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX keys_by_owner ON keys (account_id, app_id, integration_id, id);
CREATE INDEX keys_by_app ON keys (app_id);
CREATE INDEX keys_by_integration ON keys (integration_id);

CREATE TABLE key_secrets (
    hash       BLOB PRIMARY KEY,   -- HMAC-SHA256 under the index key
    key_id     TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    sealed     BLOB NOT NULL,      -- AES-256-GCM under the master key
    created_at TEXT NOT NULL,
    expires_at TEXT
);
CREATE INDEX key_secrets_by_key ON key_secrets (key_id);
