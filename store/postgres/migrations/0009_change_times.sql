-- When each change in the key change log committed, on PostgreSQL's own
-- clock, so that a node reading the log can tell how long each change took
-- to reach it, free of any skew between the nodes' clocks (see changes.go
-- and latchkey_fleet_change_lag_seconds).
--
-- committed_at is first the time the row is inserted (clock_timestamp():
-- now() would be the time the transaction began). Then, at COMMIT, a
-- deferred constraint trigger sets it again, once the transaction has run
-- its last statement and just before it commits and becomes visible: each
-- row then holds its transaction's commit time, later statements of the
-- transaction, such as its audit event, included. A row written with
-- triggers off (session_replication_role = replica) keeps the time it was
-- inserted: a little early, which overstates its lag, never understates
-- it. Rows logged before this migration hold NULL: their commit time is
-- unknown.
--
-- The column is added without a default, then given one: adding it with
-- a volatile default would rewrite the table and stamp the rows already
-- there with the time of the migration.
ALTER TABLE key_changes ADD COLUMN committed_at TIMESTAMPTZ;
ALTER TABLE key_changes ALTER COLUMN committed_at SET DEFAULT clock_timestamp();

-- One row at a time, by primary key: a constraint trigger fires for each
-- row (there are no statement-level ones), and updating only the row it
-- fires for keeps a transaction that logs many keys (a cascade) linear.
CREATE FUNCTION key_changes_set_committed_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE key_changes SET committed_at = clock_timestamp() WHERE seq = NEW.seq;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER key_changes_committed_at
    AFTER INSERT ON key_changes
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION key_changes_set_committed_at();
