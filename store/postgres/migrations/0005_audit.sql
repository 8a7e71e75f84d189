-- The audit log: append-only. Events outlive what they name (a deleted
-- key's events stay), so nothing here references another table. Ids are
-- ULIDs, so id order is time order (within a node's clock).
CREATE TABLE audit_events (
    id          TEXT COLLATE "C" PRIMARY KEY,
    time        TIMESTAMPTZ NOT NULL,
    account_id  TEXT COLLATE "C" NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    client_ip   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    surface     TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      JSONB
);
CREATE INDEX audit_events_by_account ON audit_events (account_id, id);
CREATE INDEX audit_events_by_time ON audit_events (time);

-- Append-only: no statement may change an event. Retention deletes whole
-- events by age; nothing else deletes them.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
