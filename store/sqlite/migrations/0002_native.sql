-- The native API: a key's brand prefix, an enabled switch, a rate limit,
-- when it was last used, and per-minute usage counts by outcome.

ALTER TABLE keys ADD COLUMN prefix TEXT;                          -- brand of its secrets, or NULL
ALTER TABLE keys ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN rate_limit INTEGER;                   -- units per period, or NULL for none
ALTER TABLE keys ADD COLUMN rate_period_ms INTEGER;
ALTER TABLE keys ADD COLUMN last_used_at TEXT;

-- Counts of verifications of one key ending with one outcome in one
-- minute (its start, UTC). Usage flushes add to them.
CREATE TABLE key_usage (
    key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
    minute TEXT NOT NULL,
    code   TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (key_id, minute, code)
) WITHOUT ROWID;
