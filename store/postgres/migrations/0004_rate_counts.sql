-- The rate-limit counts the nodes of a fleet share when they have no Redis
-- (package ratelimit/sharedlimit; see ratecounts.go).
-- store/sqlite/migrations/0004_rate_counts.sql is empty: one server owns a
-- SQLite file and counts every call itself.
--
-- One row per key, sub-window and node: the node's whole count in that
-- sub-window [slot·width, (slot+1)·width) ns since the epoch. expires_at
-- (ns since the epoch) is when the sub-window leaves every ring: rows past
-- it are deleted. UNLOGGED: the counts last seconds to an hour, so they are
-- not worth a WAL record; a crash of the server empties the table, which
-- only forgets the counts of the current window (see the package doc).
CREATE UNLOGGED TABLE rate_counts (
    key_id     TEXT COLLATE "C" NOT NULL,
    width      BIGINT NOT NULL,
    slot       BIGINT NOT NULL,
    node       TEXT COLLATE "C" NOT NULL,
    units      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, width, slot, node)
);
CREATE INDEX rate_counts_by_expiry ON rate_counts (expires_at);
