-- The key change log, by which the nodes of a fleet learn of each other's
-- key changes (see changes.go). store/sqlite/migrations/0003_key_changes.sql
-- is empty: one server owns a SQLite file and hears of every change itself.
--
-- One row per key created, changed or deleted; key_id NULL: every key.
-- xid is the writing transaction's id: readers take the rows of every
-- transaction that had not committed when they last read.
CREATE TABLE key_changes (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid        XID8 NOT NULL DEFAULT pg_current_xact_id(),
    key_id     TEXT COLLATE "C",
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX key_changes_by_xid ON key_changes (xid);
CREATE INDEX key_changes_by_time ON key_changes (changed_at);
