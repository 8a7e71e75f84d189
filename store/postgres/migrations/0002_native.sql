-- The native API (store/sqlite/migrations/0002_native.sql): a key's brand
-- prefix, an enabled switch, a rate limit, when it was last used, and
-- per-minute usage counts by outcome.

ALTER TABLE keys ADD COLUMN prefix TEXT;                          -- brand of its secrets, or NULL
ALTER TABLE keys ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE keys ADD COLUMN rate_limit BIGINT;                    -- units per period, or NULL for none
ALTER TABLE keys ADD COLUMN rate_period_ms BIGINT;
ALTER TABLE keys ADD COLUMN last_used_at TIMESTAMPTZ;

-- Counts of verifications of one key ending with one outcome in one
-- minute (its start, UTC). Usage flushes add to them.
CREATE TABLE key_usage (
    key_id TEXT COLLATE "C" NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    minute TIMESTAMPTZ NOT NULL,
    code   TEXT COLLATE "C" NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (key_id, minute, code)
);
