-- A master-key rotation (latchkey rotate-master-key) ends by marking the
-- old key retired: a meta row named 'retired_seal_key:' and the hex of the
-- header that begins every value sealed under that key (the format byte and
-- the key's id; see secret.SealHeaderLen). From then on these triggers
-- refuse, inside the writing transaction, a key secret or webhook secret
-- sealed under a retired key: a node that has not yet heard that the
-- rotation finished cannot store a secret no node could open any more.
-- Values sealed before headers existed have none, and their first bytes
-- are random: they match no marker.
--
-- The check reads meta in a statement of its own (a fresh snapshot at READ
-- COMMITTED). The rotation's last transaction locks key_secrets and
-- webhooks (EXCLUSIVE) before it writes the marker, so a writer either
-- committed before it (and its value was re-keyed by it) or inserts after
-- it committed, and then sees the marker (see store/postgres/rekey.go).
CREATE FUNCTION key_secrets_refuse_retired_seal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM meta
               WHERE name = 'retired_seal_key:' || upper(encode(substring(NEW.sealed from 1 for 9), 'hex'))) THEN
        RAISE EXCEPTION 'latchkey: a secret sealed under a retired master key';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER key_secrets_refuse_retired_seal BEFORE INSERT OR UPDATE OF sealed ON key_secrets
    FOR EACH ROW EXECUTE FUNCTION key_secrets_refuse_retired_seal();

CREATE FUNCTION webhooks_refuse_retired_seal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM meta
               WHERE name = 'retired_seal_key:' || upper(encode(substring(NEW.secret_sealed from 1 for 9), 'hex'))) THEN
        RAISE EXCEPTION 'latchkey: a secret sealed under a retired master key';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER webhooks_refuse_retired_seal BEFORE INSERT OR UPDATE OF secret_sealed ON webhooks
    FOR EACH ROW EXECUTE FUNCTION webhooks_refuse_retired_seal();
