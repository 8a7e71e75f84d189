-- The audit log: append-only. Events outlive what they name (a deleted
-- key's events stay), so nothing here references another table. Times are
-- fixed-width text, as everywhere in this schema, so text order is time
-- order; ids are ULIDs, so id order is time order too.
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    time        TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    client_ip   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    surface     TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT -- a JSON object of strings, or NULL
) WITHOUT ROWID;
CREATE INDEX audit_events_by_account ON audit_events (account_id, id);
CREATE INDEX audit_events_by_time ON audit_events (time);

-- Append-only: no statement may change an event. Retention deletes whole
-- events by age; nothing else deletes them.
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
